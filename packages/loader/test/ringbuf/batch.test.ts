import { describe, expect, it } from 'vitest';
import { BPF_MAP_TYPE, mapCreate, pageSize } from '../../src/sys/index.js';
import { RingBufReader } from '../../src/ringbuf/index.js';
import { hasRingbuf } from '../../src/features/index.js';
import { Producer, decode, producerSupport } from './producers.js';

const supported = hasRingbuf();
if (!supported) console.warn('skipping ring buffer batch tests: BPF_MAP_TYPE_RINGBUF is not supported');

function ringbuf(size: number) {
  return mapCreate({ mapType: BPF_MAP_TYPE.RINGBUF, keySize: 0, valueSize: 0, maxEntries: size, mapName: 'rb' });
}

describe.skipIf(!supported || !producerSupport.ok)('RingBufReader: batched consumer position', () => {
  it('readAvailableRaw hands out (shared view, offset, length) and delivers exactly N intact records', () => {
    const size = 16 * pageSize();
    using map = ringbuf(size);
    using reader = new RingBufReader({ fd: map, maxEntries: size });
    using p = new Producer('ringbuf', map, 32);
    const N = 700;
    p.produce(N);
    const seqs: bigint[] = [];
    let shared: DataView | undefined;
    const n = reader.readAvailableRaw((view, offset, length, cpu) => {
      expect(cpu).toBe(-1);
      expect(length).toBe(32);
      expect(offset % 8).toBe(0);
      shared ??= view;
      expect(view).toBe(shared);
      const r = decode(new DataView(view.buffer, view.byteOffset + offset, length));
      expect(r.intact).toBe(true);
      seqs.push(r.seq);
    });
    expect(n).toBe(N);
    expect(seqs).toEqual(Array.from({ length: N }, (_, i) => BigInt(i)));
    expect(reader.pending).toBe(0);
    expect(reader.readAvailableRaw(() => {})).toBe(0);
  });

  it('records committed during a drain (after its producer snapshot) are delivered by the same drain', () => {
    const size = 64 * pageSize();
    using map = ringbuf(size);
    using reader = new RingBufReader({ fd: map, maxEntries: size });
    using p = new Producer('ringbuf', map);
    p.produce(10);
    let delivered = 0;
    let last = -1n;
    // Each of the first 50 records makes the producer commit 5 more while the drain is under way.
    const n = reader.readAvailable((view) => {
      const r = decode(view);
      expect(r.intact).toBe(true);
      expect(r.seq).toBe(last + 1n);
      last = r.seq;
      if (++delivered <= 50) p.produce(5);
    });
    expect(p.state.dropped).toBe(0n);
    expect(BigInt(n)).toBe(p.state.produced);
    expect(n).toBe(10 + 50 * 5);
    expect(reader.pending).toBe(0);
  });

  it('publishes space back during a long drain: a producer feeding the drain of a full ring keeps going', () => {
    const size = pageSize();
    using map = ringbuf(size);
    using reader = new RingBufReader({ fd: map, maxEntries: size });
    using p = new Producer('ringbuf', map);
    p.produce(1000); // fills the ring: floor(4096 / 24) records fit
    const first = Number(p.state.produced - p.state.dropped);
    let received = 0;
    reader.readAvailable(() => {
      if (++received <= 2000) p.produce(1);
    });
    const accepted = Number(p.state.produced - p.state.dropped);
    // Exactly what the ring accepted arrived, and the consumer position was published during the
    // drain (otherwise every record produced inside it would have been refused).
    expect(received).toBe(accepted);
    expect(accepted - first).toBeGreaterThan(1000);
    expect(reader.pending).toBe(0);
  });

  it('never stalls: a record produced after the drain went idle wakes start() (no poll timeout)', async () => {
    const size = 4 * pageSize();
    using map = ringbuf(size);
    using p = new Producer('ringbuf', map);
    const reader = new RingBufReader({ fd: map, maxEntries: size }, { pollTimeoutMs: -1 });
    p.produce(20);
    let received = 0;
    let done: (() => void) | undefined;
    const finished = new Promise<void>((resolve) => (done = resolve));
    const loop = reader.start((view) => {
      expect(decode(view).intact).toBe(true);
      received++;
      if (received <= 20) p.produce(1); // mid-drain commits: nobody is woken for these
      if (received === 60) done?.();
    });
    // Let the reader drain and block in epoll, then produce from outside: a missed wake-up hangs here.
    for (let i = 0; i < 20; i++) {
      await new Promise((r) => setTimeout(r, 5));
      p.produce(1);
    }
    await finished;
    expect(received).toBe(60);
    reader.close();
    await loop;
  });

  it('startRaw delivers every record through the shared view until close() from a callback stops it', async () => {
    const size = 8 * pageSize();
    using map = ringbuf(size);
    using p = new Producer('ringbuf', map);
    const reader = new RingBufReader({ fd: map, maxEntries: size });
    p.produce(50);
    const seqs: bigint[] = [];
    let shared: DataView | undefined;
    await reader.startRaw((view, offset, length) => {
      shared ??= view;
      expect(view).toBe(shared);
      const r = decode(new DataView(view.buffer, view.byteOffset + offset, length));
      expect(r.intact).toBe(true);
      seqs.push(r.seq);
      // Closing unmaps the ring: the drain must not touch it again after this callback.
      if (seqs.length === 30) reader.close();
    });
    expect(seqs).toEqual(Array.from({ length: 30 }, (_, i) => BigInt(i)));
    expect(reader.closed).toBe(true);
  });

  it('a drain cannot be started from inside its own callback', () => {
    const size = pageSize();
    using map = ringbuf(size);
    using reader = new RingBufReader({ fd: map, maxEntries: size });
    using p = new Producer('ringbuf', map);
    p.produce(3);
    expect(() => reader.readAvailable(() => reader.readAvailableRaw(() => {}))).toThrow(/inside a record callback/);
    // The record whose callback threw was consumed; the rest are still there.
    expect(reader.readAvailable(() => {})).toBe(2);
  });
});
