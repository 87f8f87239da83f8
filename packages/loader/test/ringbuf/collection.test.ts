/**
 * The readers over maps of a real object (bpf/testdata/ringbuf.bpf.o) loaded by Collection:
 * a syscall program fills the ring buffer with bpf_loop(), a tracepoint program fills the perf buffer.
 */
import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { Collection } from '../../src/collection.js';
import { CollectionSpec } from '../../src/spec/collection.js';
import { RingBufReader, type EventReader } from '../../src/ringbuf/index.js';
import { PerfReader } from '../../src/perf/index.js';
import { attachProgram } from '../../src/link/index.js';
import { hasBpfLoop, probeProgType } from '../../src/features/index.js';
import { BPF_PROG_TYPE } from '../../src/sys/index.js';
import { testdataPath } from '../testdata.js';
import { Child, havePython } from '../link/progs.js';

const OBJ = testdataPath('ringbuf.bpf.o');
const MAGIC = 0x7473627066n;
const PAYLOAD = 44;
const RECORD = 8 + 8 + 4 + PAYLOAD; // 64

/** Checks one struct record; returns its seq. */
function check(view: DataView): bigint {
  expect(view.byteLength).toBeGreaterThanOrEqual(RECORD);
  const seq = view.getBigUint64(0, true);
  expect(view.getBigUint64(8, true)).toBe(MAGIC);
  for (let i = 0; i < PAYLOAD; i++) if (view.getUint8(20 + i) !== Number((seq + BigInt(i)) & 0xffn)) throw new Error(`record ${seq}: payload byte ${i} is wrong`);
  return seq;
}

const runnable = existsSync(OBJ) && probeProgType(BPF_PROG_TYPE.SYSCALL) && hasBpfLoop();
if (!runnable) console.warn('skipping ringbuf.bpf.o tests: needs BPF_PROG_TYPE_SYSCALL and bpf_loop (5.17+)');

describe.skipIf(!runnable)('ringbuf.bpf.o', () => {
  it('bpf_loop producer: exactly N intact records, then exact drops when overfilled', () => {
    const spec = CollectionSpec.fromFile(OBJ);
    spec.variable('records').set(300);
    using coll = Collection.load(spec);
    using reader = new RingBufReader(coll.maps.get('rb') ?? expect.fail('no rb map'));
    expect(coll.program('produce').testRun().retval).toBe(300);
    const seqs: bigint[] = [];
    expect(reader.readAvailable((v) => void seqs.push(check(v)))).toBe(300);
    expect(seqs).toEqual(Array.from({ length: 300 }, (_, i) => BigInt(i)));
    expect(coll.readVariable('failed')).toBe(0n);

    // 16 pages hold 65536 / (64 + 8) = 910 records; 4 runs of 300 overflow by exactly 290.
    for (let i = 0; i < 4; i++) coll.program('produce').testRun();
    let got = 0;
    reader.readAvailable((v) => {
      check(v);
      got++;
    });
    expect(got).toBe(Math.floor((16 * 4096) / (RECORD + 8)));
    expect(coll.readVariable('failed')).toBe(BigInt(1200 - got));
  });

  it('skips discarded records', () => {
    const spec = CollectionSpec.fromFile(OBJ);
    spec.variable('records').set(300);
    spec.variable('discard_every').set(3);
    using coll = Collection.load(spec);
    using reader = new RingBufReader(coll.maps.get('rb') ?? expect.fail('no rb map'));
    coll.program('produce').testRun();
    const indexes: number[] = [];
    reader.readAvailable((v) => {
      check(v);
      indexes.push(v.getUint32(16, true));
    });
    expect(indexes).toEqual(Array.from({ length: 300 }, (_, i) => i).filter((i) => i % 3 !== 0));
    expect(reader.pending).toBe(0);
  });

  it.runIf(havePython)('perf producer through attachProgram: an EventReader over either buffer sees every record', async () => {
    const spec = CollectionSpec.fromFile(OBJ);
    using coll = Collection.load(spec);
    const perfMap = coll.maps.get('events') ?? expect.fail('no events map');
    const reader: EventReader = new PerfReader(perfMap);
    const prog = coll.program('produce_perf');
    using link = attachProgram(prog);
    expect(link.kind).toBe('tracepoint');
    let received = 0;
    const loop = reader.start((v) => {
      check(v);
      received++;
    });
    const child = new Child('for _ in range(500): os.getppid()');
    try {
      coll.writeVariable('live_target_pid', await child.pid);
      expect(await child.run()).toBe(0);
    } finally {
      child.kill();
    }
    const sent = coll.readVariable('perf_sent') as bigint;
    const refused = coll.readVariable('perf_failed') as bigint;
    expect(sent).toBe(500n);
    while (BigInt(received) < sent - refused) await new Promise((r) => setTimeout(r, 5));
    expect(BigInt(received)).toBe(sent - refused);
    reader.close();
    await loop;
  });
});
