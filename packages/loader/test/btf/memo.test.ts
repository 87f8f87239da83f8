/**
 * Kernel-BTF lookups remembered across processes (btf/memo.ts): answers written by one BTF object
 * are used by the next one of the same boot, each remembered id is checked against the BTF, and a
 * file of another boot, another BTF, another user or no format at all is never used.
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Btf } from '../../src/btf/btf.js';
import { VMLINUX_BTF_PATH, clearKernelBtfCache, kernelBtfMemoStats, loadKernelBtf } from '../../src/btf/kernel.js';
import { KernelBtfLookupMemo, LOOKUP_MEMO_FILE } from '../../src/btf/memo.js';
import { Collection } from '../../src/collection.js';
import { CollectionSpec } from '../../src/spec/collection.js';
import { testdataPath } from '../testdata.js';

const haveKernelBtf = existsSync(VMLINUX_BTF_PATH);
if (!haveKernelBtf) console.warn(`skipping kernel-BTF memo tests: ${VMLINUX_BTF_PATH} is missing (kernel without CONFIG_DEBUG_INFO_BTF)`);

const BOOT = '00000000-1111-2222-3333-444444444444';
const root = mkdtempSync(join(tmpdir(), 'tsbpf-memo-'));
let dirs = 0;
const freshDir = (): string => join(root, `d${dirs++}`);
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** The kernel's BTF parsed anew (not the process-wide one, which carries the default memo). */
const kernelBytes = haveKernelBtf ? readFileSync(VMLINUX_BTF_PATH) : new Uint8Array(0);
function freshKernelBtf(): Btf {
  return Btf.parse(kernelBytes, { source: VMLINUX_BTF_PATH });
}

function memoFor(btf: Btf, dir: string, bootId = BOOT): KernelBtfLookupMemo {
  const memo = new KernelBtfLookupMemo(join(dir, LOOKUP_MEMO_FILE), { bytes: kernelBytes.length, types: btf.typeCount, strings: btf.stringsLength }, { bootId, autoFlush: false });
  btf.useLookupMemo(memo);
  return memo;
}

/** The questions a tracer's load asks, answered by a BTF without memo. */
interface Answers {
  task: number | undefined;
  vfsRead: number | undefined;
  missing: number | undefined;
  credCandidates: readonly number[];
  pidType: number | undefined;
}
function ask(btf: Btf): Answers {
  return {
    task: btf.find('task_struct', 'struct'),
    vfsRead: btf.find('vfs_read', 'func'),
    missing: btf.find('no_such_type_in_any_kernel', 'struct'),
    credCandidates: btf.ownIdsByEssentialName('cred___mine', 'struct'),
    pidType: btf.find('pid_type', 'enum'),
  };
}
const truth: Answers | undefined = haveKernelBtf ? ask(freshKernelBtf()) : undefined;

/** A fresh directory whose memo file holds the answers of {@link ask}. */
function seededDir(): { dir: string; path: string } {
  const dir = freshDir();
  const seed = freshKernelBtf();
  memoFor(seed, dir);
  ask(seed);
  (seed.lookupMemo as KernelBtfLookupMemo).flush();
  return { dir, path: join(dir, LOOKUP_MEMO_FILE) };
}

describe.skipIf(!haveKernelBtf)('kernel-BTF lookup memo', () => {
  it('has plausible answers to compare against', () => {
    expect(truth?.task).toBeGreaterThan(0);
    expect(truth?.vfsRead).toBeGreaterThan(0);
    expect(truth?.missing).toBeUndefined();
    expect(truth?.credCandidates.length).toBeGreaterThan(0);
  });

  it('answers a second BTF of the same boot from the file, with the same ids', () => {
    const dir = freshDir();
    const first = freshKernelBtf();
    const m1 = memoFor(first, dir);
    expect(ask(first)).toEqual(truth);
    expect(m1.stats).toMatchObject({ state: 'missing', hits: 0, misses: 5 });
    expect(m1.flush()).toBe(true);
    expect(m1.flush()).toBe(false); // nothing new since
    const onDisk = JSON.parse(readFileSync(join(dir, LOOKUP_MEMO_FILE), 'utf8')) as { identity: { boot: string }; lookups: Record<string, number[]> };
    expect(onDisk.identity.boot).toBe(BOOT);
    expect(Object.keys(onDisk.lookups)).toHaveLength(5);

    const second = freshKernelBtf();
    const m2 = memoFor(second, dir);
    expect(ask(second)).toEqual(truth);
    expect(m2.stats).toMatchObject({ state: 'loaded', hits: 5, misses: 0, refused: 0 });
    expect(m2.flush()).toBe(false);
  });

  it('checks every remembered id against the BTF and replaces answers it refuses', () => {
    const { dir, path } = seededDir();
    const file = JSON.parse(readFileSync(path, 'utf8')) as { lookups: Record<string, number[]> };
    const keys = Object.keys(file.lookups);
    const taskKey = keys.find((k) => k.startsWith('f') && k.endsWith(':task_struct'));
    const vfsKey = keys.find((k) => k.endsWith(':vfs_read'));
    const credKey = keys.find((k) => k.startsWith('e') && k.endsWith(':cred'));
    const enumKey = keys.find((k) => k.endsWith(':pid_type'));
    expect([taskKey, vfsKey, credKey, enumKey].every((k) => k !== undefined)).toBe(true);
    if (!taskKey || !vfsKey || !credKey || !enumKey || !truth?.task || !truth.vfsRead || truth.pidType === undefined) return;
    file.lookups[taskKey] = [truth.vfsRead]; // a real id, of another kind and name
    file.lookups[vfsKey] = [1 << 30]; // out of range
    file.lookups[credKey] = [truth.task]; // right kind, wrong name
    file.lookups[enumKey] = [truth.pidType, truth.pidType]; // a find answers at most one id
    writeFileSync(path, JSON.stringify(file), { mode: 0o600 });

    const btf = freshKernelBtf();
    const memo = memoFor(btf, dir);
    expect(ask(btf)).toEqual(truth);
    expect(memo.stats).toMatchObject({ state: 'loaded', hits: 1, misses: 4, refused: 4 });
    expect(memo.flush()).toBe(true);
    const again = freshKernelBtf();
    const memo2 = memoFor(again, dir);
    expect(ask(again)).toEqual(truth);
    expect(memo2.stats).toMatchObject({ hits: 5, refused: 0 });
  });

  it('discards a file of another boot or another BTF (the key is what vouches that a list is complete)', () => {
    const { dir, path } = seededDir();
    const file = JSON.parse(readFileSync(path, 'utf8')) as { identity: Record<string, unknown>; lookups: Record<string, number[]> };
    // An empty answer cannot be checked against the BTF: only the key protects it.
    for (const k of Object.keys(file.lookups)) file.lookups[k] = [];
    writeFileSync(path, JSON.stringify(file), { mode: 0o600 });

    const trusting = freshKernelBtf();
    memoFor(trusting, dir);
    expect(trusting.find('task_struct', 'struct')).toBeUndefined();

    const otherBoot = freshKernelBtf();
    const m1 = memoFor(otherBoot, dir, 'ffffffff-1111-2222-3333-444444444444');
    expect(otherBoot.find('task_struct', 'struct')).toBe(truth?.task);
    expect(m1.stats.state).toBe('stale');

    for (const change of ['bytes', 'types', 'strings', 'format']) {
      const f = JSON.parse(JSON.stringify(file)) as { format: number; identity: Record<string, number> };
      if (change === 'format') f.format += 1;
      else f.identity[change] += 1;
      writeFileSync(path, JSON.stringify(f), { mode: 0o600 });
      const btf = freshKernelBtf();
      const m = memoFor(btf, dir);
      expect(btf.find('task_struct', 'struct'), JSON.stringify(change)).toBe(truth?.task);
      expect(m.stats.state).toBe('stale');
      // Replaced by this BTF's answers when written.
      expect(m.flush()).toBe(true);
      expect(memoFor(freshKernelBtf(), dir).get(`f4:task_struct`)).toEqual([truth?.task]);
    }
  });

  it('ignores a file that is not a memo or that others could have written', () => {
    const { dir, path } = seededDir();
    const good = readFileSync(path, 'utf8');

    const cases: [string, () => void][] = [
      ['not JSON', () => writeFileSync(path, good.slice(0, good.length / 2), { mode: 0o600 })],
      ['ids that are not ids', () => writeFileSync(path, good.replace(/\[(\d+)\]/, '["$1"]'), { mode: 0o600 })],
      ['writable by others', () => {
        writeFileSync(path, good, { mode: 0o600 });
        chmodSync(path, 0o666);
      }],
    ];
    for (const [what, spoil] of cases) {
      spoil();
      const btf = freshKernelBtf();
      const memo = memoFor(btf, dir);
      expect(ask(btf), what).toEqual(truth);
      expect(memo.stats, what).toMatchObject({ state: 'invalid', hits: 0 });
    }
  });

  it('is not consulted once the BTF has been changed', () => {
    const dir = freshDir();
    const seed = freshKernelBtf();
    memoFor(seed, dir);
    ask(seed);
    (seed.lookupMemo as KernelBtfLookupMemo).flush();
    const btf = freshKernelBtf();
    const memo = memoFor(btf, dir);
    btf.add({ kind: 'struct', name: 'task_struct', size: 0, kindFlag: false, members: [] });
    expect(btf.find('task_struct', 'struct')).toBe(truth?.task);
    expect(btf.ownIdsByEssentialName('task_struct', 'struct')).toEqual([truth?.task, btf.typeCount - 1]);
    expect(memo.stats).toMatchObject({ state: 'unread', hits: 0, misses: 0 });
  });

  describe('loadKernelBtf', () => {
    const saved = process.env.TSBPF_CACHE_DIR;
    afterEach(() => {
      if (saved === undefined) delete process.env.TSBPF_CACHE_DIR;
      else process.env.TSBPF_CACHE_DIR = saved;
      clearKernelBtfCache();
    });

    it('remembers the running kernel’s lookups in the cache directory for the next process', () => {
      const dir = freshDir();
      process.env.TSBPF_CACHE_DIR = dir;
      clearKernelBtfCache();
      const a = loadKernelBtf();
      expect(a.find('task_struct', 'struct')).toBe(truth?.task);
      expect(kernelBtfMemoStats()).toMatchObject({ state: 'missing', misses: 1 });
      (a.lookupMemo as KernelBtfLookupMemo).flush();
      expect(existsSync(join(dir, LOOKUP_MEMO_FILE))).toBe(true);
      clearKernelBtfCache();
      const b = loadKernelBtf();
      expect(b).not.toBe(a);
      expect(b.find('task_struct', 'struct')).toBe(truth?.task);
      expect(kernelBtfMemoStats()).toMatchObject({ state: 'loaded', hits: 1, misses: 0 });
    });

    it('gives CO-RE the same targets when its candidates come from the file (core.bpf.o loaded twice)', () => {
      process.env.TSBPF_CACHE_DIR = freshDir();
      const load = (): unknown => {
        clearKernelBtfCache();
        const kernelBtf = loadKernelBtf();
        const spec = CollectionSpec.fromFile(testdataPath('core.bpf.o'));
        spec.program('core_poison_reached').autoload = false; // poisoned on purpose: refused by the verifier
        using coll = Collection.load(spec, { kernelBtf });
        (kernelBtf.lookupMemo as KernelBtfLookupMemo).flush();
        return [...coll.coreReports].map(([prog, reports]) => [prog, reports.map((r) => ({ ...r, targetBtf: r.targetBtf === kernelBtf ? 'vmlinux' : r.targetBtf?.source }))]);
      };
      const walked = load();
      const walkedStats = kernelBtfMemoStats();
      expect(walkedStats).toMatchObject({ state: 'missing', hits: 0 });
      expect(walkedStats?.misses).toBeGreaterThan(3);
      const remembered = load();
      expect(kernelBtfMemoStats()).toMatchObject({ state: 'loaded', hits: walkedStats?.misses, misses: 0, refused: 0 });
      expect(remembered).toEqual(walked);
    });

    it('remembers nothing with TSBPF_CACHE_DIR= (empty)', () => {
      process.env.TSBPF_CACHE_DIR = '';
      clearKernelBtfCache();
      expect(loadKernelBtf().find('task_struct', 'struct')).toBe(truth?.task);
      expect(loadKernelBtf().lookupMemo).toBeUndefined();
      expect(kernelBtfMemoStats()).toBeUndefined();
    });
  });
});
