/**
 * Hand-assembled XDP producers run with BPF_PROG_TEST_RUN (`repeat` = how many records): each run
 * takes a sequence number from a state map (atomic fetch-add) and emits {u64 seq; u64 magic} to a ring
 * buffer (bpf_ringbuf_output) or a perf buffer (bpf_perf_event_output, BPF_F_CURRENT_CPU); failed
 * outputs are counted in the state map, so a test knows exactly what was produced and what was dropped.
 */
import { asm, assemble } from '../../src/asm/index.js';

const XDP_PASS = 2;
import { BPF_FUNC, BPF_MAP_TYPE, BPF_PROG_TYPE, mapCreate, mapLookupElem, mapUpdateElem, progTestRun, type Fd } from '../../src/sys/index.js';
import { atomicAdd64, atomicFetchAdd64, jneReg, load, rshImm } from '../link/progs.js';

/** Magic in every record's second word. */
export const MAGIC = 0x7473627066n; // "tsbpf"

/** A throwaway array map for {@link producerSupport}. */
class ProducerStateProbe implements Disposable {
  readonly map: Fd = mapCreate({ mapType: BPF_MAP_TYPE.ARRAY, keySize: 4, valueSize: 8, maxEntries: 1 });
  [Symbol.dispose](): void {
    this.map.close();
  }
}

/**
 * Whether the producers can load here: they number records with an atomic fetch-and-add (BPF_FETCH,
 * kernel 5.12+). Tests that use them skip with this reason otherwise.
 */
export const producerSupport: { ok: boolean; reason?: string } = (() => {
  try {
    using state = new ProducerStateProbe();
    load({ progType: BPF_PROG_TYPE.XDP, insns: assemble([...asm.ldMapValue(6, state.map.raw, 0), asm.movImm(1, 1), atomicFetchAdd64(6, 1, 0), asm.movImm(0, XDP_PASS), asm.exit()]).bytes }).close();
    return { ok: true };
  } catch (err) {
    return { ok: false, reason: `the test producers need BPF atomic fetch-and-add (kernel 5.12+): ${(err as Error).message.split('\n')[0]}` };
  }
})();
if (!producerSupport.ok) console.warn(`skipping ring/perf buffer producer tests: ${producerSupport.reason}`);

/** State map value: {u64 next seq; u64 failed outputs}. */
export class ProducerState implements Disposable {
  readonly map: Fd = mapCreate({ mapType: BPF_MAP_TYPE.ARRAY, keySize: 4, valueSize: 24, maxEntries: 1, mapName: 'state' });
  /** Only this process triggers the tracepoint variant. */
  setPid(pid: number): void {
    const v = new Uint8Array(24);
    new DataView(v.buffer).setUint32(16, pid, true);
    mapUpdateElem(this.map, new Uint8Array(4), v);
  }
  #read(off: number): bigint {
    const v = new Uint8Array(24);
    mapLookupElem(this.map, new Uint8Array(4), v);
    return new DataView(v.buffer).getBigUint64(off, true);
  }
  /** Records attempted so far. */
  get produced(): bigint {
    return this.#read(0);
  }
  /** Outputs that failed (ring full). */
  get dropped(): bigint {
    return this.#read(8);
  }
  [Symbol.dispose](): void {
    this.map.close();
  }
}

/** A loaded producer: call {@link Producer.produce} to emit `n` records. */
export class Producer implements Disposable {
  readonly prog: Fd;
  readonly state = new ProducerState();
  readonly #packet = new Uint8Array(64);

  /**
   * `trigger` 'test_run': an XDP program run by {@link produce}; 'tracepoint': a program for
   * syscalls/sys_enter_getppid that emits one record per getppid() of the process set with
   * `state.setPid()` (so another process produces concurrently with the reader).
   */
  constructor(kind: 'ringbuf' | 'perf', outMap: Fd, recordBytes = 16, trigger: 'test_run' | 'tracepoint' = 'test_run') {
    if (recordBytes < 16 || recordBytes % 8 !== 0 || recordBytes > 256) throw new RangeError('recordBytes must be a multiple of 8 in [16, 256]');
    const stack = -recordBytes;
    const head = [
      asm.movReg(7, 1), // ctx, for perf_event_output
      ...asm.ldMapValue(6, this.state.map.raw, 0),
    ];
    const body = [
      asm.movImm(1, 1),
      atomicFetchAdd64(6, 1, 0), // r1 = seq++
      asm.stxMem(8, 10, 1, stack),
      ...asm.ldImm64(2, MAGIC),
      asm.stxMem(8, 10, 2, stack + 8),
    ];
    // Fill the rest with the sequence number so a torn record is visible.
    for (let off = stack + 16; off < 0; off += 8) body.push(asm.stxMem(8, 10, 1, off));
    if (kind === 'ringbuf') {
      body.push(...asm.ldMapFd(1, outMap.raw), asm.movReg(2, 10), asm.addImm(2, stack), asm.movImm(3, recordBytes), asm.movImm(4, 0), asm.callHelper(BPF_FUNC.ringbuf_output));
    } else {
      body.push(
        asm.movReg(1, 7),
        ...asm.ldMapFd(2, outMap.raw),
        ...asm.ldImm64(3, 0xffffffffn), // BPF_F_CURRENT_CPU, no packet bytes appended
        asm.movReg(4, 10),
        asm.addImm(4, stack),
        asm.movImm(5, recordBytes),
        asm.callHelper(BPF_FUNC.perf_event_output),
      );
    }
    body.push(asm.jeqImm(0, 0, 2), asm.movImm(1, 1), atomicAdd64(6, 1, 8));
    if (trigger === 'tracepoint') {
      // if (current tgid != state.pid) skip everything
      head.push(asm.callHelper(BPF_FUNC.get_current_pid_tgid), rshImm(0, 32), asm.ldxMem(4, 2, 6, 16), jneReg(0, 2, body.length));
    }
    const tail = [asm.movImm(0, trigger === 'test_run' ? XDP_PASS : 0), asm.exit()];
    this.prog = load({
      progType: trigger === 'test_run' ? BPF_PROG_TYPE.XDP : BPF_PROG_TYPE.TRACEPOINT,
      insns: assemble([...head, ...body, ...tail]).bytes,
      progName: `${kind}_producer`,
    });
  }

  /** Run the program `n` times (n records attempted). */
  produce(n: number): void {
    if (n <= 0) return;
    progTestRun({ progFd: this.prog, dataIn: this.#packet, repeat: n });
  }

  [Symbol.dispose](): void {
    this.prog.close();
    this.state[Symbol.dispose]();
  }
}

/** Decoded record. */
export function decode(view: DataView): { seq: bigint; magic: bigint; intact: boolean } {
  const seq = view.getBigUint64(0, true);
  const magic = view.getBigUint64(8, true);
  let intact = magic === MAGIC;
  for (let off = 16; off + 8 <= view.byteLength; off += 8) if (view.getBigUint64(off, true) !== seq) intact = false;
  return { seq, magic, intact };
}
