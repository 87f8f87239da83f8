import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BPF_MAP_TYPE, Fd, MappedRegion, mapCreate, numPossibleCpus, onlineCpus, pageSize, setCpuAffinity } from '../../src/sys/index.js';
import { PerfReader, openEventReader } from '../../src/perf/index.js';
import type { EventReader } from '../../src/ringbuf/index.js';
import { attachTracepoint } from '../../src/link/index.js';
import { openFdCount } from '../testdata.js';
import { Child, havePython } from '../link/progs.js';
import { Producer, decode, producerSupport } from '../ringbuf/producers.js';

function perfArray(): Fd {
  return mapCreate({ mapType: BPF_MAP_TYPE.PERF_EVENT_ARRAY, keySize: 4, valueSize: 4, maxEntries: numPossibleCpus(), mapName: 'events' });
}

let fds = 0;
let owned = 0;
let regions = 0;
beforeAll(async () => {
  if (havePython) {
    const warm = new Child('pass');
    await warm.pid;
    await warm.run();
  }
  fds = openFdCount();
  owned = Fd.openCount;
  regions = MappedRegion.liveCount;
});
afterAll(() => {
  expect(Fd.openCount).toBe(owned);
  expect(MappedRegion.liveCount).toBe(regions);
  expect(openFdCount()).toBe(fds);
});

describe.skipIf(!producerSupport.ok)('PerfReader', () => {
  it('opens one ring per online CPU and delivers exactly N intact samples', () => {
    using map = perfArray();
    using reader = new PerfReader({ fd: map });
    expect(reader.cpus).toEqual(onlineCpus());
    using p = new Producer('perf', map);
    const N = 300;
    p.produce(N);
    expect(p.state.dropped).toBe(0n);
    const seqs: bigint[] = [];
    const n = reader.readAvailable((view, cpu) => {
      expect(onlineCpus()).toContain(cpu);
      // 16 bytes of payload; perf pads the raw area so {u32 size; data} is 8-byte aligned.
      expect(view.byteLength).toBe(20);
      // Delivered where decoders read 64-bit members as aligned elements (CpuRing.samples).
      expect(view.byteOffset % 8).toBe(0);
      const r = decode(new DataView(view.buffer, view.byteOffset, 16));
      expect(r.magic).toBe(0x7473627066n);
      seqs.push(r.seq);
    });
    expect(n).toBe(N);
    expect(seqs).toEqual(Array.from({ length: N }, (_, i) => BigInt(i)));
    expect(reader.lost).toBe(0);
  });

  it('copies records that wrap around the ring end and keeps them intact', () => {
    using map = perfArray();
    using reader = new PerfReader({ fd: map }, { pageCount: 1 });
    // 40-byte payload: 8 (header) + 4 (raw size) + 40, padded to 56 bytes, which does not divide 4096.
    using p = new Producer('perf', map, 40);
    let received = 0;
    // 20 rounds of 50 × 56 bytes go round a 4 KiB page more than ten times; larger pages get more rounds.
    for (let round = 0; round < 20 * Math.max(1, pageSize() / 4096); round++) {
      p.produce(50);
      let next = received;
      received += reader.readAvailable((view) => {
        // Payloads are 8-byte aligned in their buffer, wrapped ones too (56 does not divide the page).
        expect(view.byteOffset % 8).toBe(0);
        const r = decode(new DataView(view.buffer, view.byteOffset, 40));
        expect(r.intact).toBe(true);
        expect(r.seq).toBe(BigInt(next++));
      });
    }
    expect(p.state.dropped).toBe(0n);
    expect(BigInt(received)).toBe(p.state.produced);
  });

  it('accounts lost samples exactly: lost == produced - received == failed outputs', async () => {
    using map = perfArray();
    const lostEvents: [number, number][] = [];
    using reader = new PerfReader({ fd: map }, { pageCount: 1, onLost: (count, cpu) => lostEvents.push([count, cpu]) });
    using p = new Producer('perf', map);
    let received = 0;
    const count = (): void => {
      received += reader.readAvailable(() => {});
    };
    // Keep every output on one CPU's ring: the kernel writes the LOST record only at the next
    // successful output on the ring that dropped, and a test run may migrate between repetitions on
    // a busy machine. Pinned, one more output after the drain lands on that ring.
    expect(setCpuAffinity([onlineCpus()[0]])).toBe(0);
    try {
      p.produce(1000); // a 4 KiB ring holds ~128 of these 32-byte records
      count();
      for (let tries = 0; tries < 400 && reader.lost < Number(p.state.dropped); tries++) {
        if (tries > 0) await new Promise((r) => setTimeout(r, 5));
        p.produce(1);
        count();
      }
    } finally {
      setCpuAffinity(onlineCpus());
    }
    const produced = Number(p.state.produced);
    const dropped = Number(p.state.dropped);
    expect(dropped).toBeGreaterThan(0);
    expect(received).toBe(produced - dropped);
    expect(reader.lost).toBe(dropped);
    expect(lostEvents.reduce((a, [c]) => a + c, 0)).toBe(dropped);
    expect(reader.lostPerCpu.reduce((a, b) => a + b, 0)).toBe(dropped);
  });

  it.runIf(havePython)('never stalls under a sustained concurrent producer, and behaves like a RingBufReader', async () => {
    using map = perfArray();
    using p = new Producer('perf', map, 16, 'tracepoint');
    using link = attachTracepoint(p.prog, 'syscalls', 'sys_enter_getppid');
    const reader: EventReader = new PerfReader({ fd: map }, { pageCount: 64, pollTimeoutMs: -1 }); // only wake-ups end a wait
    let received = 0;
    let notify: (() => void) | undefined;
    const loop = reader.start((view) => {
      if (decode(new DataView(view.buffer, view.byteOffset, 16)).magic !== 0x7473627066n) throw new Error('bad record');
      received++;
      notify?.();
    });
    const child = new Child(`import time\nend = time.monotonic() + 2\nwhile time.monotonic() < end:\n    for _ in range(200): os.getppid()\n    time.sleep(0.0005)`);
    try {
      p.state.setPid(await child.pid);
      expect(await child.run()).toBe(0);
    } finally {
      child.kill();
    }
    const produced = p.state.produced;
    const dropped = p.state.dropped;
    expect(produced).toBeGreaterThan(10_000n);
    await new Promise<void>((resolve) => {
      notify = () => {
        if (BigInt(received) >= produced - dropped) resolve();
      };
      notify();
    });
    expect(BigInt(received)).toBe(produced - dropped);
    reader.close();
    await loop;
    if (dropped > 0n) console.warn(`sustained perf test: ${dropped} of ${produced} samples lost (counted exactly)`);
  });

  it('async iterator hands out wrapped samples intact, 8-byte aligned as the drains do', async () => {
    using map = perfArray();
    using reader = new PerfReader({ fd: map }, { pageCount: 1 });
    using p = new Producer('perf', map, 40);
    const records = reader[Symbol.asyncIterator]();
    let next = 0;
    for (let round = 0; round < 20 * Math.max(1, pageSize() / 4096); round++) {
      p.produce(50);
      for (let k = 0; k < 50; k++) {
        const { value: view, done } = await records.next();
        if (done) throw new Error('iterator ended early');
        expect(view.byteOffset % 8).toBe(0);
        const r = decode(new DataView(view.buffer, view.byteOffset, 40));
        expect(r.intact).toBe(true);
        expect(r.seq).toBe(BigInt(next++));
      }
    }
    await records.return(undefined);
    expect(p.state.dropped).toBe(0n);
  });

  it('async iterator ends on close', async () => {
    using map = perfArray();
    using p = new Producer('perf', map);
    const reader = new PerfReader({ fd: map });
    const seen: bigint[] = [];
    const consume = (async () => {
      for await (const view of reader) {
        expect(view.byteOffset % 8).toBe(0);
        seen.push(view.getBigUint64(0, true));
        if (seen.length === 5) setImmediate(() => reader.close());
      }
    })();
    await new Promise((r) => setTimeout(r, 20));
    p.produce(5);
    await consume;
    expect(seen.sort()).toEqual([0n, 1n, 2n, 3n, 4n]);
    reader.close();
  });

  it('with a watermark, wakes once enough bytes are pending and still delivers everything', async () => {
    using map = perfArray();
    using p = new Producer('perf', map);
    const reader = new PerfReader({ fd: map }, { watermarkBytes: 32 * 50, pollTimeoutMs: -1 });
    let received = 0;
    const loop = reader.start(() => void received++);
    p.produce(200);
    while (received < 200) await new Promise((r) => setTimeout(r, 5));
    expect(received).toBe(200);
    reader.close();
    await loop;
  });

  it('start() lets timers run during a long backlog, and readAvailable honours maxRecords', async () => {
    using map = perfArray();
    using p = new Producer('perf', map);
    const reader = new PerfReader({ fd: map }, { pageCount: 512, batchSize: 100 });
    const total = 20_000;
    p.produce(total);
    expect(p.state.dropped).toBe(0n);
    expect(reader.readAvailable(() => {}, 7)).toBe(7);
    let received = 7;
    let seenByTimer = -1;
    setTimeout(() => (seenByTimer = received), 0);
    await reader.start(() => {
      received++;
      if (received === total) setImmediate(() => reader.close());
    });
    expect(received).toBe(total);
    expect(seenByTimer).toBeGreaterThanOrEqual(0);
    expect(seenByTimer).toBeLessThan(total);
  });

  it('openEventReader picks the reader from the map type', () => {
    using perfMap = perfArray();
    using rbMap = mapCreate({ mapType: BPF_MAP_TYPE.RINGBUF, keySize: 0, valueSize: 0, maxEntries: 4096, mapName: 'rb' });
    using hash = mapCreate({ mapType: BPF_MAP_TYPE.HASH, keySize: 4, valueSize: 4, maxEntries: 1, mapName: 'h' });
    using a = openEventReader({ fd: perfMap, type: BPF_MAP_TYPE.PERF_EVENT_ARRAY, maxEntries: numPossibleCpus() });
    using b = openEventReader({ fd: rbMap, type: BPF_MAP_TYPE.RINGBUF, maxEntries: 4096 });
    expect(a.kind).toBe('perf');
    expect(b.kind).toBe('ringbuf');
    expect(() => openEventReader({ fd: hash, type: BPF_MAP_TYPE.HASH, maxEntries: 1, name: 'h' })).toThrow(/map h is a .*HASH.*not a RINGBUF or PERF_EVENT_ARRAY/);
  });

  it('rejects bad options', () => {
    using map = perfArray();
    expect(() => new PerfReader({ fd: map }, { pageCount: 3 })).toThrow(/power of two/);
    expect(() => new PerfReader({ fd: map }, { wakeupEvents: 1, watermarkBytes: 10 })).toThrow(/not both/);
  });
});

describe('PerfReader closed from its onLost callback', () => {
  it('ends the async iterator instead of reading the unmapped ring', async () => {
    using map = perfArray();
    let closedFromLost = false;
    const reader: PerfReader = new PerfReader(
      { fd: map },
      {
        pageCount: 1,
        onLost: () => {
          closedFromLost = true;
          reader.close();
        },
      },
    );
    using p = new Producer('perf', map);
    // One ring, as in the accounting test: overfill it, drain it, then one more output writes the
    // LOST record (and that sample) for the iterator to find.
    let drained = 0;
    expect(setCpuAffinity([onlineCpus()[0]])).toBe(0);
    try {
      p.produce(1000);
      drained = reader.readAvailable(() => {});
      p.produce(1);
    } finally {
      setCpuAffinity(onlineCpus());
    }
    expect(drained).toBeGreaterThan(0);
    expect(p.state.dropped).toBeGreaterThan(0n);
    let afterClose = 0;
    for await (const _ of reader) if (closedFromLost) afterClose++;
    expect(closedFromLost).toBe(true);
    expect(afterClose).toBe(0);
  });
});
