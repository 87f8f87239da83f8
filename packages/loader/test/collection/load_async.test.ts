import { mkdtempSync, rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { Collection } from '../../src/collection.js';
import { VerifierError } from '../../src/programs/verifier.js';
import { CollectionSpec } from '../../src/spec/collection.js';
import { TsbpfError } from '../../src/errors.js';
import { Epoll, EventFd } from '../../src/sys/epoll.js';
import { mapInfo } from '../../src/sys/info.js';
import { openFdCount, testdataPath } from '../testdata.js';

// Collection.loadAsync: the same collection as load(), with maps created and programs loaded on
// libuv's worker threads. Objects with SEC("syscall") programs need 5.14; this host has them.
const GLOBALS = testdataPath('globals.bpf.o');
const MAPS = testdataPath('maps.bpf.o');
// maps.bpf.o pins `pinned_counter`: into a directory of this run's own.
const pinPath = mkdtempSync('/sys/fs/bpf/tsbpf-test-');
afterAll(() => rmSync(pinPath, { recursive: true, force: true }));

describe('Collection.loadAsync', () => {
  it('gives the collection load() gives: programs and maps in object order, working', async () => {
    using sync = Collection.load(CollectionSpec.fromFile(MAPS), { pinPath });
    await using_(Collection.loadAsync(CollectionSpec.fromFile(MAPS), { pinPath }), (coll) => {
      expect([...coll.programs.keys()]).toEqual([...sync.programs.keys()]);
      expect([...coll.maps.keys()]).toEqual([...sync.maps.keys()]);
      for (const [name, m] of coll.maps) expect([m.type, m.keySize, m.valueSize, m.maxEntries], name).toEqual([sync.map(name).type, sync.map(name).keySize, sync.map(name).valueSize, sync.map(name).maxEntries]);
      expect(coll.program('maps_update').testRun().retval).toBe(13);
    });
    await using_(Collection.loadAsync(CollectionSpec.fromFile(GLOBALS)), (coll) => {
      expect(coll.program('globals_main').testRun().retval).toBe(167);
      expect(coll.readVariable('bss_result')).toBe(167n);
    });
  });

  it('a map the kernel refuses on the worker is made again synchronously, stepping down as load() does', async () => {
    const spec = CollectionSpec.fromFile(MAPS);
    // A BTF value type of the wrong size: the kernel refuses the attempt with BTF (EINVAL), and
    // the synchronous path's next attempt, without BTF, succeeds.
    const victim = [...spec.maps.values()].find((m) => !m.isGlobalData && m.innerMap === undefined && m.keyTypeId !== 0 && m.valueTypeId !== 0 && m.keySize !== m.valueSize);
    expect(victim).toBeDefined();
    if (!victim) return;
    victim.valueTypeId = victim.keyTypeId;
    await using_(Collection.loadAsync(spec, { pinPath }), (coll) => {
      const m = coll.map(victim.name);
      expect(m.valueSize).toBe(victim.valueSize);
      expect(mapInfo(m.fd).btfValueTypeId).toBe(0);
      expect(coll.program('maps_update').testRun().retval).toBe(13);
    });
  });

  it('loads on this thread while the reader waits of this process hold the worker pool, instead of queueing behind them', async () => {
    // Four waits that never end on their own fill libuv's default pool of four threads.
    const epolls = [0, 1, 2, 3].map(() => {
      const ep = new Epoll();
      const ev = new EventFd();
      ep.add(ev.fd, 0);
      return { ep, ev, wait: ep.waitAsync(1, -1) };
    });
    try {
      // Queued behind the waits it would never settle: fail in 5 s instead of at the test timeout.
      let timer: NodeJS.Timeout | undefined;
      const stuck = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('loadAsync queued behind the reader waits')), 5000)));
      try {
        await using_(Promise.race([Collection.loadAsync(CollectionSpec.fromFile(GLOBALS)), stuck]), (coll) => {
          expect(coll.program('globals_main').testRun().retval).toBe(167);
        });
      } finally {
        clearTimeout(timer);
      }
    } finally {
      for (const { ep, ev, wait } of epolls) {
        ep.close();
        await wait;
        ev.close();
      }
    }
  });

  it('reports a refused program as load() does, with its verifier log, and leaks nothing', async () => {
    const before = openFdCount();
    const err = await Collection.loadAsync(CollectionSpec.fromFile(testdataPath('verifier_fail.bpf.o'))).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(VerifierError);
    expect((err as VerifierError).program).toBe('bad_prog');
    expect((err as VerifierError).log.length).toBeGreaterThan(0);
    expect(openFdCount()).toBe(before);
  });

  it('reports a map the kernel refuses as load() does, closing the maps created meanwhile', async () => {
    const spec = CollectionSpec.fromFile(MAPS);
    const victim = [...spec.maps.values()].find((m) => !m.isGlobalData && m.innerMap === undefined && m.pinning === 0);
    expect(victim).toBeDefined();
    if (!victim) return;
    victim.keySize = 0; // EINVAL on every attempt
    const before = openFdCount();
    const err = await Collection.loadAsync(spec, { pinPath }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TsbpfError);
    expect((err as TsbpfError).code).toBe('MAP_CREATE');
    expect((err as Error).message).toContain(`creating map ${victim.name}`);
    expect(openFdCount()).toBe(before);
  });

  it('stops on an aborted signal with its reason, leaving no descriptor behind', async () => {
    const before = openFdCount();
    const ac = new AbortController();
    ac.abort(new Error('stop here'));
    await expect(Collection.loadAsync(CollectionSpec.fromFile(MAPS), { pinPath, signal: ac.signal })).rejects.toThrow('stop here');
    // Aborted while the maps are being created: they are closed once they exist.
    const ac2 = new AbortController();
    const pending = Collection.loadAsync(CollectionSpec.fromFile(MAPS), { pinPath, signal: ac2.signal });
    ac2.abort();
    const err = await pending.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((err as DOMException).name).toBe('AbortError');
    expect(openFdCount()).toBe(before);
  });
});

/** Await a collection, run `check` on it, and close it whatever happens. */
async function using_(pending: Promise<Collection>, check: (c: Collection) => void): Promise<void> {
  const coll = await pending;
  try {
    check(coll);
  } finally {
    coll.close();
  }
}
