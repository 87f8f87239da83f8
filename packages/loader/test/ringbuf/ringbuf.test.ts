import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BPF_MAP_TYPE, Fd, MappedRegion, mapCreate, pageSize } from '../../src/sys/index.js';
import { RingBufReader } from '../../src/ringbuf/index.js';
import { hasRingbuf } from '../../src/features/index.js';
import { openFdCount } from '../testdata.js';
import { attachTracepoint } from '../../src/link/index.js';
import { Child, havePython } from '../link/progs.js';
import { Producer, decode, producerSupport } from './producers.js';

/** Python: bursts of 200 getppid() calls with short pauses, for about two seconds. */
const SUSTAINED_PRODUCER = `import time\nend = time.monotonic() + 2\nwhile time.monotonic() < end:\n    for _ in range(200): os.getppid()\n    time.sleep(0.0005)`;

const supported = hasRingbuf();
if (!supported) console.warn('skipping ring buffer tests: BPF_MAP_TYPE_RINGBUF is not supported');

function ringbuf(size: number): Fd {
  return mapCreate({ mapType: BPF_MAP_TYPE.RINGBUF, keySize: 0, valueSize: 0, maxEntries: size, mapName: 'rb' });
}

let fds = 0;
let owned = 0;
let regions = 0;
beforeAll(() => {
  fds = openFdCount();
  owned = Fd.openCount;
  regions = MappedRegion.liveCount;
});
afterAll(() => {
  expect(Fd.openCount).toBe(owned);
  expect(MappedRegion.liveCount).toBe(regions);
  expect(openFdCount()).toBe(fds);
});

describe.skipIf(!supported || !producerSupport.ok)('RingBufReader', () => {
  it('delivers exactly N intact records in order (sync drain)', () => {
    using map = ringbuf(16 * pageSize());
    using reader = new RingBufReader({ fd: map, maxEntries: 16 * pageSize() });
    using p = new Producer('ringbuf', map);
    const N = 500;
    p.produce(N);
    expect(p.state.produced).toBe(BigInt(N));
    expect(p.state.dropped).toBe(0n);
    expect(reader.pending).toBeGreaterThan(0);
    const seqs: bigint[] = [];
    const n = reader.readAvailable((view, cpu) => {
      expect(cpu).toBe(-1);
      expect(view.byteLength).toBe(16);
      const r = decode(view);
      expect(r.intact).toBe(true);
      seqs.push(r.seq);
    });
    expect(n).toBe(N);
    expect(seqs).toEqual(Array.from({ length: N }, (_, i) => BigInt(i)));
    expect(reader.readAvailable(() => {})).toBe(0);
    expect(reader.pending).toBe(0);
  });

  it('reads records that wrap around the end of the ring as one contiguous view', () => {
    const size = pageSize();
    using map = ringbuf(size);
    using reader = new RingBufReader({ fd: map, maxEntries: size });
    // 40-byte records + 8-byte headers: 48 does not divide the page, so records straddle the end.
    using p = new Producer('ringbuf', map, 40);
    let received = 0;
    for (let round = 0; round < 20; round++) {
      p.produce(50);
      let next = received;
      received += reader.readAvailable((view) => {
        const r = decode(view);
        expect(r.intact).toBe(true);
        expect(r.seq).toBe(BigInt(next++));
      });
    }
    expect(p.state.dropped).toBe(0n);
    expect(BigInt(received)).toBe(p.state.produced);
  });

  it('reports the exact number of drops of an overfilled ring', () => {
    const size = pageSize();
    using map = ringbuf(size);
    using reader = new RingBufReader({ fd: map, maxEntries: size });
    using p = new Producer('ringbuf', map);
    const N = 1000;
    p.produce(N);
    let received = 0;
    let last = -1n;
    reader.readAvailable((view) => {
      const r = decode(view);
      expect(r.intact).toBe(true);
      expect(r.seq).toBeGreaterThan(last);
      last = r.seq;
      received++;
    });
    const dropped = p.state.dropped;
    // 24 bytes per record: floor(4096 / 24) fit, the rest were refused to the producer.
    expect(received).toBe(Math.floor(size / 24));
    expect(dropped).toBe(BigInt(N - received));
  });

  it.runIf(havePython)('never stalls under a sustained concurrent producer (no poll timeout): everything produced is consumed', async () => {
    const size = 64 * pageSize();
    using map = ringbuf(size);
    using p = new Producer('ringbuf', map, 16, 'tracepoint');
    using link = attachTracepoint(p.prog, 'syscalls', 'sys_enter_getppid');
    const reader = new RingBufReader({ fd: map, maxEntries: size }, { pollTimeoutMs: -1 }); // only wake-ups end a wait
    let received = 0;
    let lastSeq = -1n;
    let notify: (() => void) | undefined;
    const loop = reader.start((view) => {
      const r = decode(view);
      if (!r.intact || r.seq <= lastSeq) throw new Error(`record ${received}: seq ${r.seq} after ${lastSeq}, intact ${r.intact}`);
      lastSeq = r.seq;
      received++;
      notify?.();
    });
    // Another process produces bursts on another CPU for ~2 s while this thread consumes.
    const child = new Child(SUSTAINED_PRODUCER);
    try {
      p.state.setPid(await child.pid);
      expect(await child.run()).toBe(0);
    } finally {
      child.kill();
    }
    const produced = p.state.produced;
    const dropped = p.state.dropped;
    expect(produced).toBeGreaterThan(10_000n);
    // Everything the ring accepted must arrive without any further event: a missed wake-up hangs here.
    await new Promise<void>((resolve) => {
      notify = () => {
        if (BigInt(received) >= produced - dropped) resolve();
      };
      notify();
    });
    expect(BigInt(received)).toBe(produced - dropped);
    reader.close();
    await loop;
    if (dropped > 0n) console.warn(`sustained ring buffer test: ${dropped} of ${produced} records dropped by a full ring (counted exactly)`);
  });

  it('start() and the iterator let timers run during a long backlog (batchSize)', async () => {
    const size = 256 * pageSize();
    using map = ringbuf(size);
    using p = new Producer('ringbuf', map);
    const total = 20_000;
    p.produce(total);
    expect(p.state.dropped).toBe(0n);
    const reader = new RingBufReader({ fd: map, maxEntries: size }, { batchSize: 100 });
    let received = 0;
    let seenByTimer = -1;
    setTimeout(() => (seenByTimer = received), 0);
    const loop = reader.start(() => {
      received++;
      if (received === total) setImmediate(() => reader.close());
    });
    await loop;
    expect(received).toBe(total);
    // The timer ran while the backlog was being drained, not after it.
    expect(seenByTimer).toBeGreaterThanOrEqual(0);
    expect(seenByTimer).toBeLessThan(total);

    p.produce(1000);
    const iter = new RingBufReader({ fd: map, maxEntries: size }, { batchSize: 50 });
    let iterated = 0;
    let timerAt = -1;
    setTimeout(() => (timerAt = iterated), 0);
    for await (const _view of iter) {
      if (++iterated === 1000) break;
    }
    iter.close();
    expect(timerAt).toBeGreaterThanOrEqual(0);
    expect(timerAt).toBeLessThan(1000);
  });

  it('async iterator yields views and ends on close; close wakes a pending wait', async () => {
    const size = 4 * pageSize();
    using map = ringbuf(size);
    using p = new Producer('ringbuf', map);
    const reader = new RingBufReader({ fd: map, maxEntries: size });
    const seen: bigint[] = [];
    const consume = (async () => {
      for await (const view of reader) {
        seen.push(decode(view).seq);
        if (seen.length === 10) setImmediate(() => reader.close());
      }
    })();
    await new Promise((r) => setTimeout(r, 20)); // the iterator is now blocked in epoll
    p.produce(10);
    await consume;
    expect(seen).toEqual(Array.from({ length: 10 }, (_, i) => BigInt(i)));
    // A reader closed while waiting and with nothing to read ends its loop.
    const idle = new RingBufReader({ fd: map, maxEntries: size });
    const idleLoop = idle.start(() => {});
    await new Promise((r) => setTimeout(r, 20));
    idle.close();
    await idleLoop;
    idle.close();
    expect(idle.readAvailable(() => {})).toBe(0);
  });

  it('refuses readAvailable while an iterator holds a record, and releases it on break', async () => {
    const size = pageSize();
    using map = ringbuf(size);
    using reader = new RingBufReader({ fd: map, maxEntries: size });
    using p = new Producer('ringbuf', map);
    p.produce(3);
    for await (const view of reader) {
      expect(decode(view).seq).toBe(0n);
      expect(() => reader.readAvailable(() => {})).toThrow(/async iterator holds a record/);
      break;
    }
    const rest: bigint[] = [];
    expect(reader.readAvailable((v) => void rest.push(decode(v).seq))).toBe(2);
    expect(rest).toEqual([1n, 2n]);
  });

  it('one start() or iterator at a time; the claim ends with the loop, however it ends', async () => {
    const size = pageSize();
    using map = ringbuf(size);
    using reader = new RingBufReader({ fd: map, maxEntries: size });
    using p = new Producer('ringbuf', map);
    p.produce(2);
    for await (const view of reader) {
      expect(decode(view).seq).toBe(0n);
      await expect(reader.start(() => {})).rejects.toThrow(/already being consumed/);
      break;
    }
    // Broken out of: the iterator's claim is gone. A loop ended by a throwing callback lets go too.
    const failed = reader.start(() => {
      throw new Error('stop here');
    });
    await expect(failed).rejects.toThrow('stop here');
    const seen: bigint[] = [];
    p.produce(1);
    const loop = reader.start((view) => {
      seen.push(decode(view).seq);
      reader.close();
    });
    await loop;
    expect(seen).toEqual([2n]);
  });

  it('a throwing callback stops the drain after its record and propagates', () => {
    const size = pageSize();
    using map = ringbuf(size);
    using reader = new RingBufReader({ fd: map, maxEntries: size });
    using p = new Producer('ringbuf', map);
    p.produce(5);
    let calls = 0;
    expect(() =>
      reader.readAvailable(() => {
        calls++;
        if (calls === 2) throw new Error('stop');
      }),
    ).toThrow('stop');
    expect(reader.readAvailable(() => calls++, 2)).toBe(2);
    expect(reader.readAvailable(() => calls++)).toBe(1);
    expect(calls).toBe(5);
  });

  it('rejects a size that is not a power-of-two multiple of the page', () => {
    using map = ringbuf(pageSize());
    expect(() => new RingBufReader({ fd: map, maxEntries: 3 * pageSize() })).toThrow(/power-of-two multiple of the page size/);
  });
});
