/**
 * The readers keep 64-bit buffer positions as doubles and, inside their drain loops, as int32
 * offsets from the position at the last re-base. The first test pushes more than 2^32 bytes through
 * a real ring buffer (records of about 1 MB that do not divide the ring, so records straddle its
 * end, with discarded ones in between), so the position crosses 2^32 and the ring wraps a thousand
 * times: a position kept or published wrongly makes the kernel see a full ring (a failed reserve) or
 * the reader a torn record. The perf reader's loop does the same arithmetic; a perf buffer cannot be
 * pushed past 2^32 in a test here (perf_event_output from BPF_PROG_TEST_RUN took ~16 ms a call on
 * the development machine, and a record is at most 64 KiB).
 */
import { describe, expect, it } from 'vitest';
import { asm, assemble } from '../../src/asm/index.js';
import { PerfReader } from '../../src/perf/reader.js';
import { RingBufReader } from '../../src/ringbuf/reader.js';
import { BPF_FUNC, BPF_MAP_TYPE, BPF_PROG_TYPE, mapCreate, numPossibleCpus, progTestRun, type Fd } from '../../src/sys/index.js';
import { load } from '../link/progs.js';
import { openFdCount } from '../testdata.js';

const XDP_PASS = 2;
const FAILED = 1;
const HEAD = 0x7473627066n;
const TAIL = 0x6c696174n;
const packet = new Uint8Array(64);

/**
 * An XDP program that reserves `size` bytes of `ring`, writes HEAD in the first and TAIL in the last
 * 8 bytes, then submits (or discards) the record; it returns FAILED when the ring had no room.
 */
function producer(ring: Fd, size: number, discard: boolean): Fd {
  const emit = [
    asm.movReg(6, 0),
    ...asm.ldImm64(1, HEAD),
    asm.stxMem(8, 6, 1, 0),
    ...asm.ldImm64(1, TAIL),
    // Store offsets are 16-bit: point a register at the last 8 bytes instead.
    asm.movReg(7, 6),
    asm.addImm(7, size - 8),
    asm.stxMem(8, 7, 1, 0),
    asm.movReg(1, 6),
    asm.movImm(2, 0),
    asm.callHelper(discard ? BPF_FUNC.ringbuf_discard : BPF_FUNC.ringbuf_submit),
    asm.movImm(0, XDP_PASS),
    asm.exit(),
  ];
  return load({
    progType: BPF_PROG_TYPE.XDP,
    insns: assemble([...asm.ldMapFd(1, ring.raw), asm.movImm(2, size), asm.movImm(3, 0), asm.callHelper(BPF_FUNC.ringbuf_reserve), asm.jeqImm(0, 0, emit.length), ...emit, asm.movImm(0, FAILED), asm.exit()]).bytes,
  });
}

function run(prog: Fd): void {
  expect(progTestRun({ progFd: prog, dataIn: packet }).retval).toBe(XDP_PASS);
}

describe('ring buffer positions past 2^32 bytes', () => {
  it('every record intact and no reserve failing after more than 4 GiB', () => {
    const ringSize = 4 * 2 ** 20;
    const record = 1_000_000; // 1 000 008 bytes with its header: records straddle the end of the ring
    using ring = mapCreate({ mapType: BPF_MAP_TYPE.RINGBUF, keySize: 0, valueSize: 0, maxEntries: ringSize });
    using submit = producer(ring, record, false);
    using discard = producer(ring, record, true);
    using reader = new RingBufReader({ fd: ring, maxEntries: ringSize });
    let received = 0;
    let bad = 0;
    const rounds = Math.ceil((2 ** 32 + 64 * 2 ** 20) / (3 * (record + 8)));
    for (let i = 0; i < rounds; i++) {
      // Three records fit the ring's 4 MiB; the discarded one sits between two delivered ones.
      run(submit);
      run(discard);
      run(submit);
      const n = reader.readAvailableRaw((view, offset, length) => {
        received++;
        if (length !== record || view.getBigUint64(offset, true) !== HEAD || view.getBigUint64(offset + record - 8, true) !== TAIL) bad++;
      });
      if (n !== 2) throw new Error(`round ${i}: drained ${n} records, wanted 2`);
    }
    expect(bad).toBe(0);
    expect(received).toBe(2 * rounds);
    expect(reader.pending).toBe(0);
  });

  it('record limits: 0 and NaN read nothing, a fraction rounds up', () => {
    using ring = mapCreate({ mapType: BPF_MAP_TYPE.RINGBUF, keySize: 0, valueSize: 0, maxEntries: 4096 * 4 });
    using submit = producer(ring, 64, false);
    using reader = new RingBufReader({ fd: ring, maxEntries: 4096 * 4 });
    for (let i = 0; i < 4; i++) run(submit);
    const none = (): void => {};
    expect(reader.readAvailableRaw(none, 0)).toBe(0);
    expect(reader.readAvailableRaw(none, Number.NaN)).toBe(0);
    expect(reader.readAvailableRaw(none, -3)).toBe(0);
    expect(reader.readAvailableRaw(none, 1.5)).toBe(2);
    expect(reader.readAvailableRaw(none)).toBe(2);
    expect(reader.pending).toBe(0);
  });
});

describe('ring sizes above 1 GiB', () => {
  it('are refused by both readers before anything is opened', () => {
    using ring = mapCreate({ mapType: BPF_MAP_TYPE.RINGBUF, keySize: 0, valueSize: 0, maxEntries: 4096 });
    using events = mapCreate({ mapType: BPF_MAP_TYPE.PERF_EVENT_ARRAY, keySize: 4, valueSize: 4, maxEntries: numPossibleCpus() });
    const before = openFdCount();
    expect(() => new RingBufReader({ fd: ring, maxEntries: 2 ** 31 })).toThrow(/ring buffer size 2147483648 is above the 1073741824 bytes/);
    expect(() => new PerfReader({ fd: events }, { pageCount: 2 ** 20 })).toThrow(/above the 1073741824 bytes this reader supports/);
    expect(openFdCount()).toBe(before);
  });
});
