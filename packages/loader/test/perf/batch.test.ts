import { describe, expect, it } from 'vitest';
import { BPF_MAP_TYPE, mapCreate, numPossibleCpus, onlineCpus, pageSize } from '../../src/sys/index.js';
import { PerfReader } from '../../src/perf/index.js';
import { Producer, decode, producerSupport } from '../ringbuf/producers.js';

function perfArray() {
  return mapCreate({ mapType: BPF_MAP_TYPE.PERF_EVENT_ARRAY, keySize: 4, valueSize: 4, maxEntries: numPossibleCpus(), mapName: 'events' });
}

describe.skipIf(!producerSupport.ok)('PerfReader: batched data_tail', () => {
  it('readAvailableRaw hands out (ring view, offset, length, cpu) and delivers exactly N intact samples', () => {
    using map = perfArray();
    using reader = new PerfReader({ fd: map });
    using p = new Producer('perf', map);
    const N = 400;
    p.produce(N);
    const seqs: bigint[] = [];
    const n = reader.readAvailableRaw((view, offset, length, cpu) => {
      expect(onlineCpus()).toContain(cpu);
      expect(length).toBe(20);
      const r = decode(new DataView(view.buffer, view.byteOffset + offset, 16));
      expect(r.intact).toBe(true);
      seqs.push(r.seq);
    });
    expect(n).toBe(N);
    expect(seqs.sort((a, b) => (a < b ? -1 : 1))).toEqual(Array.from({ length: N }, (_, i) => BigInt(i)));
    expect(reader.readAvailableRaw(() => {})).toBe(0);
  });

  it('startRaw delivers samples as (view, offset, length, cpu) until close() from a callback stops it', async () => {
    using map = perfArray();
    using p = new Producer('perf', map);
    const reader = new PerfReader({ fd: map });
    p.produce(50);
    const seqs = new Set<bigint>();
    await reader.startRaw((view, offset, length, cpu) => {
      expect(onlineCpus()).toContain(cpu);
      expect(length).toBe(20);
      const r = decode(new DataView(view.buffer, view.byteOffset + offset, 16));
      expect(r.intact).toBe(true);
      seqs.add(r.seq);
      // Closing unmaps the rings: the drain must not touch them again after this callback.
      if (seqs.size === 30) reader.close();
    });
    expect(seqs.size).toBe(30);
    expect(reader.closed).toBe(true);
  });

  // The drain's hot loop leaves wrapped records to a slow path (see PerfReader#drainSamples): the
  // same promises hold there. A one-page ring is one page of data; a wrapped sample is handed out from
  // a scratch copy, a view of another size. The rounds scale with the page size, so the ring wraps.
  it('a callback that throws on a wrapped sample consumes it; the next drain goes on after it', () => {
    using map = perfArray();
    using reader = new PerfReader({ fd: map }, { pageCount: 1 });
    using p = new Producer('perf', map, 40);
    const seqs: bigint[] = [];
    let threwAt: bigint | undefined;
    for (let round = 0; round < 20 * Math.max(1, pageSize() / 4096); round++) {
      p.produce(50);
      for (;;) {
        try {
          reader.readAvailableRaw((view, offset) => {
            const r = decode(new DataView(view.buffer, view.byteOffset + offset, 40));
            expect(r.intact).toBe(true);
            seqs.push(r.seq);
            if (threwAt === undefined && view.byteLength !== pageSize()) {
              threwAt = r.seq;
              throw new Error('callback failed');
            }
          });
          break;
        } catch (err) {
          expect((err as Error).message).toBe('callback failed');
        }
      }
    }
    expect(threwAt).toBeDefined();
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(BigInt(seqs.length)).toBe(p.state.produced - p.state.dropped);
  });

  it('close() from the callback of a wrapped sample stops the drain there', () => {
    using map = perfArray();
    using reader = new PerfReader({ fd: map }, { pageCount: 1 });
    using p = new Producer('perf', map, 40);
    let after = 0;
    for (let round = 0; round < 20 * Math.max(1, pageSize() / 4096) && !reader.closed; round++) {
      p.produce(50);
      reader.readAvailableRaw((view) => {
        if (reader.closed) after++;
        // Closing unmaps the rings: neither the slow path nor the loop may touch them again.
        if (view.byteLength !== pageSize()) reader.close();
      });
    }
    expect(reader.closed).toBe(true);
    expect(after).toBe(0);
  });

  it('wrapped samples and samples committed during a drain all arrive, exactly once', () => {
    using map = perfArray();
    using reader = new PerfReader({ fd: map }, { pageCount: 1 });
    using p = new Producer('perf', map, 56);
    const seen = new Set<bigint>();
    let total = 0;
    // 20 rounds of 30-40 samples of 72 bytes go round a 4 KiB page more than ten times.
    for (let round = 0; round < 20 * Math.max(1, pageSize() / 4096); round++) {
      p.produce(30);
      let k = 0;
      for (;;) {
        const n = reader.readAvailable((view) => {
          const r = decode(new DataView(view.buffer, view.byteOffset, 56));
          expect(r.intact).toBe(true);
          expect(seen.has(r.seq)).toBe(false);
          seen.add(r.seq);
          if (++k <= 10) p.produce(1);
        });
        total += n;
        if (n === 0) break;
      }
    }
    expect(BigInt(total) + BigInt(reader.lost)).toBe(p.state.produced);
    expect(BigInt(total)).toBe(p.state.produced - p.state.dropped);
  });
});
