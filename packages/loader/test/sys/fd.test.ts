import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { asm } from '../../src/asm/index.js';
import { assemble } from '../../src/asm/instruction.js';
import {
  BPF_PROG_TYPE,
  Epoll,
  EventFd,
  Fd,
  MAP,
  MappedRegion,
  PERF_COUNT_SW,
  PERF_TYPE,
  PROT,
  SyscallError,
  mapInfo,
  mmap,
  pageSize,
  perfEventOpen,
  progLoadWithLog,
} from '../../src/sys/index.js';
import { openFdCount } from '../testdata.js';
import { arrayMap, returnProgram } from './helpers.js';

// Exposing gc() at run time keeps the safety-net test independent of how vitest starts workers.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as (() => void) | undefined;
if (typeof gc !== 'function') console.warn('sys/fd.test: gc() cannot be exposed; the FinalizationRegistry test is skipped');

describe('Fd', () => {
  it('owns one descriptor: raw, closed, idempotent close, dispose', () => {
    const before = Fd.openCount;
    const m = arrayMap(1, 'owned');
    expect(Fd.openCount).toBe(before + 1);
    expect(m.closed).toBe(false);
    expect(m.raw).toBeGreaterThan(2);
    expect(m.label).toBe('map "owned"');
    expect(String(m)).toMatch(/^Fd\(\d+, map "owned"\)$/);
    m[Symbol.dispose]();
    expect(m.closed).toBe(true);
    m.close();
    expect(Fd.openCount).toBe(before);
    expect(() => m.raw).toThrow(expect.objectContaining({ code: 'FD_CLOSED', message: expect.stringMatching(/map "owned" is already closed/) }));
    expect(() => new Fd(-1)).toThrow(expect.objectContaining({ code: 'FD_INVALID' }));
  });

  it('dup() gives an independent descriptor for the same object', () => {
    const m = arrayMap(1);
    const d = m.dup();
    expect(d.raw).not.toBe(m.raw);
    const id = mapInfo(m).id;
    m.close();
    expect(mapInfo(d).id).toBe(id);
    d.close();
  });

  it('keeps the process fd count flat over 200 create/close cycles of every kind', () => {
    const fdsBefore = openFdCount();
    const ownedBefore = Fd.openCount;
    const regionsBefore = MappedRegion.liveCount;
    const bad = assemble([asm.exit()]).bytes;
    for (let i = 0; i < 200; i++) {
      const m = arrayMap(2);
      const p = returnProgram(i);
      const ev = perfEventOpen({ type: PERF_TYPE.SOFTWARE, config: PERF_COUNT_SW.DUMMY, flags: { disabled: true } }, 0, -1);
      const ring = mmap(ev, 2 * pageSize(), PROT.READ | PROT.WRITE, MAP.SHARED, 0);
      const ep = new Epoll();
      const efd = new EventFd();
      ep.add(efd.fd, 1);
      const dup = m.dup();
      // Failing calls must not leak either.
      expect(() => progLoadWithLog({ progType: BPF_PROG_TYPE.SOCKET_FILTER, insns: bad, license: 'GPL' })).toThrow(SyscallError);
      ring.unmap();
      for (const x of [m, p, ev, dup]) x.close();
      ep.close();
      efd.close();
    }
    expect(Fd.openCount).toBe(ownedBefore);
    expect(MappedRegion.liveCount).toBe(regionsBefore);
    expect(openFdCount()).toBe(fdsBefore);
  });

  it.skipIf(typeof gc !== 'function')('closes a forgotten descriptor from the FinalizationRegistry and counts it', async () => {
    if (typeof gc !== 'function') return;
    const leakedBefore = Fd.leakedCount;
    const fdsBefore = openFdCount();
    (() => {
      arrayMap(1, 'forgotten'); // never closed, unreachable after this line
    })();
    expect(openFdCount()).toBe(fdsBefore + 1);
    for (let i = 0; i < 100 && Fd.leakedCount === leakedBefore; i++) {
      gc();
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(Fd.leakedCount).toBe(leakedBefore + 1);
    expect(openFdCount()).toBe(fdsBefore);
  });


  /** Calls its held function once its target is collected (kept for the whole file: a collected registry calls nothing). */
  const onCollected = new FinalizationRegistry<() => void>((then) => then());

  /**
   * A mapping forgotten by its owner, reached only through the view `forget` returns (its first
   * byte 42): it stays mapped while the view lives, and the safety net unmaps it after. `collected`
   * says when what else the mapping had (its own buffer) is gone: only then is the view all that
   * keeps it.
   */
  async function checkSafetyNet(forget: () => Uint8Array, collected?: () => boolean): Promise<void> {
    if (typeof gc !== 'function') return;
    const collect = async (until: () => boolean, rounds: number): Promise<void> => {
      for (let i = 0; i < rounds && !until(); i++) {
        gc();
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    const before = MappedRegion.liveCount;
    let view: Uint8Array | undefined = forget();
    if (collected) {
      await collect(collected, 100);
      expect(collected()).toBe(true);
    }
    await collect(() => false, 5);
    expect(MappedRegion.liveCount).toBe(before + 1);
    expect(view[0]).toBe(42); // still mapped: reading does not crash
    view = undefined;
    await collect(() => MappedRegion.liveCount === before, 100);
    expect(MappedRegion.liveCount).toBe(before);
  }

  it.skipIf(typeof gc !== 'function')('keeps a forgotten mapping while a view needs it, and unmaps it after', async () => {
    await checkSafetyNet(() => {
      const r = mmap(null, pageSize(), PROT.READ | PROT.WRITE, MAP.PRIVATE);
      const view = new Uint8Array(r.buffer); // the region itself becomes unreachable here
      view[0] = 42;
      return view;
    });
  });

  it.skipIf(typeof gc !== 'function')('keeps a forgotten mapping while only a view of an alias needs it', async () => {
    // The test's own registry tells when the region's buffer is gone (a WeakRef was seen to keep
    // its target across these awaits).
    let ownGone = false;
    await checkSafetyNet(() => {
      const r = mmap(null, pageSize(), PROT.READ | PROT.WRITE, MAP.PRIVATE);
      new Uint8Array(r.buffer)[4] = 42;
      onCollected.register(r.buffer, () => (ownGone = true));
      return new Uint8Array(r.alias(4, 8)); // the region and its own buffer become unreachable here
    }, () => ownGone);
  });

  it.skipIf(typeof gc !== 'function')('counts a region once when it was unmapped before its alias was collected', async () => {
    if (typeof gc !== 'function') return;
    const before = MappedRegion.liveCount;
    let alias: ArrayBuffer | undefined;
    {
      using r = mmap(null, pageSize(), PROT.READ | PROT.WRITE, MAP.PRIVATE);
      alias = r.alias(0, 8);
      expect(MappedRegion.liveCount).toBe(before + 1);
    }
    expect(MappedRegion.liveCount).toBe(before);
    // Never formatted by a failing expect: its memory is unmapped.
    let gone = false;
    onCollected.register(alias, () => (gone = true));
    alias = undefined;
    for (let i = 0; i < 100 && !gone; i++) {
      gc();
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(gone).toBe(true);
    // The loader's own cleanup may run after ours: a few more rounds.
    for (let i = 0; i < 5; i++) {
      gc();
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(MappedRegion.liveCount).toBe(before);
  });
});
