/**
 * Kernel-BTF lookups remembered across processes (btf/memo.ts): answers written by one BTF object
 * are used by the next one of the same boot, each remembered id is checked against the BTF, and a
 * file of another boot, another BTF, another user or no format at all is never used.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Btf } from '../../src/btf/btf.js';
import { checksum } from '../../src/cachedir.js';
import { VMLINUX_BTF_PATH, clearKernelBtfCache, findKernelType, kernelBtfMemoStats, kernelBtfParsed, loadKernelBtf, runningKernelMemo } from '../../src/btf/kernel.js';
import { progInfo } from '../../src/sys/info.js';
import { KernelBtfLookupMemo, LOOKUP_MEMO_FILE, MAX_MEMO_ENTRIES } from '../../src/btf/memo.js';
import { Collection } from '../../src/collection.js';
import { LOADER_VERSION } from '../../src/version.js';
import { CollectionSpec } from '../../src/spec/collection.js';
import { repoRoot, testdataPath } from '../testdata.js';

const haveKernelBtf = existsSync(VMLINUX_BTF_PATH);
if (!haveKernelBtf) console.warn(`skipping kernel-BTF memo tests: ${VMLINUX_BTF_PATH} is missing (kernel without CONFIG_DEBUG_INFO_BTF)`);

const BOOT = '00000000-1111-2222-3333-444444444444';
const root = mkdtempSync(join(tmpdir(), 'tsbpf-memo-'));
let dirs = 0;
const freshDir = (): string => join(root, `d${dirs++}`);
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** The kernel's BTF parsed anew (not the process-wide one, which carries the default memo). */
const kernelBytes: Buffer = haveKernelBtf ? readFileSync(VMLINUX_BTF_PATH) : Buffer.alloc(0);
function freshKernelBtf(): Btf {
  return Btf.parse(kernelBytes, { source: VMLINUX_BTF_PATH });
}

/** The sizes in the kernel BTF's header the memo is keyed by. */
const kernelShape = haveKernelBtf
  ? { bytes: kernelBytes.length, typeBytes: kernelBytes.readUInt32LE(12), strings: kernelBytes.readUInt32LE(20) }
  : { bytes: 0, typeBytes: 0, strings: 0 };

function memoFor(btf: Btf, dir: string, bootId = BOOT): KernelBtfLookupMemo {
  const memo = new KernelBtfLookupMemo(join(dir, LOOKUP_MEMO_FILE), kernelShape, { bootId, autoFlush: false });
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
  taskAsEnum: number | undefined;
}
function ask(btf: Btf): Answers {
  return {
    task: btf.find('task_struct', 'struct'),
    vfsRead: btf.find('vfs_read', 'func'),
    missing: btf.find('no_such_type_in_any_kernel', 'struct'),
    credCandidates: btf.ownIdsByEssentialName('cred___mine', 'struct'),
    pidType: btf.find('pid_type', 'enum'),
    taskAsEnum: btf.find('task_struct', 'enum'),
  };
}
const truth: Answers | undefined = haveKernelBtf ? ask(freshKernelBtf()) : undefined;

/** The lookups of each {@link seededDir} directory's file as seeded. */
const seeds = new Map<string, Record<string, number[]>>();

/** A fresh directory whose memo file holds the answers of {@link ask}. */
function seededDir(): { dir: string; path: string } {
  const dir = freshDir();
  const seed = freshKernelBtf();
  memoFor(seed, dir);
  ask(seed);
  (seed.lookupMemo as KernelBtfLookupMemo).flush();
  const path = join(dir, LOOKUP_MEMO_FILE);
  seeds.set(dir, readMemo(path).lookups);
  return { dir, path };
}

/** A memo file's content, as written: a header line, a checksum line, then JSON. */
interface MemoFileContent {
  format: number;
  identity: Record<string, string | number>;
  lookups: Record<string, number[]>;
  at: Record<string, number[]>;
  /** CO-RE outcomes by key, as stored (bigints as decimal strings). */
  core: Record<string, { l: string; d: string }>;
}
function readMemo(path: string): MemoFileContent {
  const text = readFileSync(path, 'utf8');
  const lines = text.split('\n');
  expect(lines[0]).toBe('tsbpf-btf-lookups');
  const payload = lines.slice(2).join('\n');
  expect(lines[1]).toBe(checksum(Buffer.from(payload, 'utf8')).toString('hex'));
  return JSON.parse(payload) as MemoFileContent;
}
/** Writes `content` as a sound memo file (its checksum right). */
function writeMemo(path: string, content: unknown): void {
  const payload = Buffer.from(JSON.stringify(content), 'utf8');
  writeFileSync(path, `tsbpf-btf-lookups\n${checksum(payload).toString('hex')}\n${payload.toString('utf8')}`, { mode: 0o600 });
}

describe.skipIf(!haveKernelBtf)('kernel-BTF lookup memo', () => {
  it('has plausible answers to compare against', () => {
    expect(truth?.task).toBeGreaterThan(0);
    expect(truth?.vfsRead).toBeGreaterThan(0);
    expect(truth?.missing).toBeUndefined();
    expect(truth?.credCandidates.length).toBeGreaterThan(0);
    expect(truth?.taskAsEnum).toBeUndefined();
  });

  it('answers a second BTF of the same boot from the file, with the same ids', () => {
    const dir = freshDir();
    const first = freshKernelBtf();
    const m1 = memoFor(first, dir);
    expect(ask(first)).toEqual(truth);
    expect(m1.stats).toMatchObject({ state: 'missing', hits: 0, misses: 6 });
    expect(m1.flush()).toBe(true);
    expect(m1.flush()).toBe(false); // nothing new since
    const onDisk = readMemo(join(dir, LOOKUP_MEMO_FILE));
    expect(onDisk.identity).toMatchObject({ boot: BOOT, bytes: kernelBytes.length, loader: LOADER_VERSION });
    expect(Object.keys(onDisk.lookups)).toHaveLength(6);

    const second = freshKernelBtf();
    const m2 = memoFor(second, dir);
    expect(ask(second)).toEqual(truth);
    expect(m2.stats).toMatchObject({ state: 'loaded', hits: 6, misses: 0, refused: 0 });
    // Asked again in this process: answered, but not counted as remembered from the file.
    expect(ask(second)).toEqual(truth);
    expect(second.ownIdsByEssentialName('cred', 'struct')).toEqual(truth?.credCandidates);
    expect(m2.stats).toMatchObject({ hits: 6, misses: 0 });
    expect(m2.flush()).toBe(false);
  });

  it('checks every remembered id against the BTF and replaces answers it refuses', () => {
    const { dir, path } = seededDir();
    const file = readMemo(path);
    const keys = Object.keys(file.lookups);
    const taskKey = keys.find((k) => k.startsWith('f') && k.endsWith(':task_struct'));
    const vfsKey = keys.find((k) => k.endsWith(':vfs_read'));
    const credKey = keys.find((k) => k.startsWith('e') && k.endsWith(':cred'));
    const enumKey = keys.find((k) => k.endsWith(':pid_type'));
    const asEnumKey = keys.find((k) => k.startsWith('f') && k !== taskKey && k.endsWith(':task_struct'));
    expect([taskKey, vfsKey, credKey, enumKey, asEnumKey].every((k) => k !== undefined)).toBe(true);
    if (!taskKey || !vfsKey || !credKey || !enumKey || !asEnumKey || !truth?.task || !truth.vfsRead || truth.pidType === undefined) return;
    file.lookups[taskKey] = [truth.vfsRead]; // a real id, of another kind and name
    file.lookups[vfsKey] = [1 << 30]; // out of range
    file.lookups[credKey] = [truth.task]; // right kind, wrong name
    file.lookups[enumKey] = [truth.pidType - 1, truth.pidType]; // a find answers at most one id
    file.lookups[asEnumKey] = [truth.task]; // right name, wrong kind
    writeMemo(path, file);

    const btf = freshKernelBtf();
    const memo = memoFor(btf, dir);
    expect(ask(btf)).toEqual(truth);
    expect(memo.stats).toMatchObject({ state: 'loaded', hits: 1, misses: 5, refused: 5 });
    expect(memo.flush()).toBe(true);
    const again = freshKernelBtf();
    const memo2 = memoFor(again, dir);
    expect(ask(again)).toEqual(truth);
    expect(memo2.stats).toMatchObject({ hits: 6, refused: 0 });
  });

  it('discards a file of another boot, BTF or loader version (the key is what vouches that a list is complete)', () => {
    const { dir, path } = seededDir();
    const file = readMemo(path);
    // An empty answer cannot be checked against the BTF: only the key protects it.
    for (const k of Object.keys(file.lookups)) file.lookups[k] = [];
    writeMemo(path, file);

    const trusting = freshKernelBtf();
    memoFor(trusting, dir);
    expect(trusting.find('task_struct', 'struct')).toBeUndefined();

    const otherBoot = freshKernelBtf();
    const m1 = memoFor(otherBoot, dir, 'ffffffff-1111-2222-3333-444444444444');
    expect(otherBoot.find('task_struct', 'struct')).toBe(truth?.task);
    expect(m1.stats.state).toBe('stale');

    for (const change of ['bytes', 'typeBytes', 'strings', 'loader', 'format']) {
      const f = JSON.parse(JSON.stringify(file)) as MemoFileContent;
      if (change === 'format') f.format += 1;
      else if (change === 'loader') f.identity.loader = '0.0.9';
      else f.identity[change] = Number(f.identity[change]) + 1;
      writeMemo(path, f);
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

    const content = readMemo(path);
    const withLookups = (lookups: Record<string, unknown>): unknown => ({ ...content, lookups: { ...content.lookups, ...lookups } });
    const cases: [string, () => void][] = [
      ['cut short', () => writeFileSync(path, good.slice(0, good.length / 2), { mode: 0o600 })],
      ['a payload byte changed (checksum)', () => writeFileSync(path, good.replace(/"format":(\d+)/, (_, n: string) => `"format":${Number(n) + 1}`), { mode: 0o600 })],
      ['no header', () => writeFileSync(path, JSON.stringify(content), { mode: 0o600 })],
      ['JSON that is an array', () => writeMemo(path, [content])],
      ['a header without its newline', () => writeFileSync(path, good.replace(/^(tsbpf-btf-lookups\n[0-9a-f]{16})\n/, '$1 '), { mode: 0o600 })],
      ['a list longer than any kind', () => writeMemo(path, withLookups({ 'e4:cred': Array.from({ length: 65537 }, (_, i) => i + 1) }))],
      ['larger than 1 MiB', () => writeMemo(path, withLookups({ [`f4:${'x'.repeat(1 << 20)}`]: [] }))],
      ['ids that are not ids', () => writeMemo(path, withLookups({ 'f4:task_struct': [String(truth?.task)] }))],
      ['a list not strictly ascending', () => writeMemo(path, withLookups({ 'e4:cred': [...(truth?.credCandidates ?? []), ...(truth?.credCandidates ?? [])] }))],
      ['a negative id', () => writeMemo(path, withLookups({ 'f4:task_struct': [-1] }))],
      ['a record offset past the type section', () => writeMemo(path, { ...content, at: { ...content.at, 'f4:task_struct': [kernelShape.typeBytes] } })],
      ['a record offset not on a record boundary', () => writeMemo(path, { ...content, at: { ...content.at, 'f4:task_struct': [6] } })],
      ['a CO-RE outcome of another shape', () => writeMemo(path, { ...content, core: { 'ab/1:0:0:1': { k: 0, n: 'FIELD_BYTE_OFFSET', d: 'x', l: '8', t: 'sixteen' } } })],
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

  it('drops a refused answer or outcome from the file even when nothing replaces it', () => {
    const { dir, path } = seededDir();
    const outcome = { kind: 0, kindName: 'FIELD_BYTE_OFFSET', description: 'struct x.y', localValue: 8n, targetValue: 16n, poisoned: false, validate: true, localSize: 4, targetSize: 4, failMemorySizeAdjust: false, targetTypeId: 5, matchedCandidates: 1 };
    const writer = memoFor(freshKernelBtf(), dir);
    writer.rememberOutcome('d/1:0:0:1', outcome);
    expect(writer.flush()).toBe(true);
    const memo = memoFor(freshKernelBtf(), dir);
    expect(memo.rememberedAt('f4:task_struct')?.ids).toEqual([truth?.task]);
    memo.refuse('f4:task_struct');
    expect(memo.stats).toMatchObject({ hits: 0, refused: 1 });
    expect(memo.flush()).toBe(true);
    expect(readMemo(path).lookups['f4:task_struct']).toBeUndefined();
    const again = memoFor(freshKernelBtf(), dir);
    expect(again.outcome('d/1:0:0:1')).toEqual(outcome);
    again.refuseOutcome('d/1:0:0:1');
    expect(again.stats).toMatchObject({ refused: 1, outcomeHits: 0, outcomeMisses: 1 });
    expect(again.flush()).toBe(true);
    const file = readMemo(path);
    expect(file.core['d/1:0:0:1']).toBeUndefined();
    expect(Object.keys(file.lookups).length).toBeGreaterThan(0); // the others stay
  });

  it('is not consulted once the BTF has been changed', () => {
    const { dir } = seededDir();
    const btf = freshKernelBtf();
    const memo = memoFor(btf, dir);
    btf.add({ kind: 'struct', name: 'task_struct', size: 0, kindFlag: false, members: [] });
    expect(btf.find('task_struct', 'struct')).toBe(truth?.task);
    expect(btf.ownIdsByEssentialName('task_struct', 'struct')).toEqual([truth?.task, btf.typeCount - 1]);
    expect(memo.stats).toMatchObject({ state: 'unread', hits: 0, misses: 0 });
  });

  it(`keeps at most ${MAX_MEMO_ENTRIES} answers, those already in the file first`, () => {
    const { dir, path } = seededDir();
    const btf = freshKernelBtf();
    const memo = memoFor(btf, dir);
    expect(btf.find('task_struct', 'struct')).toBe(truth?.task); // from the file, used
    for (let i = 0; i < MAX_MEMO_ENTRIES + 10; i++) btf.find(`no_such_type_${i}`, 'struct');
    expect(memo.flush()).toBe(true);
    const keys = Object.keys(readMemo(path).lookups);
    expect(keys).toHaveLength(MAX_MEMO_ENTRIES);
    // Every answer the file had, used here or not, then new ones until the cap.
    expect(keys.slice(0, 6).sort()).toEqual(Object.keys(seeds.get(dir) ?? {}).sort());
    expect(keys).toContain('f12:vfs_read');
    expect(keys[6]).toBe('f4:no_such_type_0');
    expect(keys.at(-1)).toBe(`f4:no_such_type_${MAX_MEMO_ENTRIES - 7}`);
  });

  it('counts a refusal only for an answer it handed out, and removes abandoned temporary files when it writes', () => {
    const { dir, path } = seededDir();
    const btf = freshKernelBtf();
    const memo = memoFor(btf, dir);
    memo.set('f4:task_struct', [truth?.task ?? 0]); // not asked for first: not a refusal
    expect(memo.stats).toMatchObject({ state: 'loaded', hits: 0, misses: 0, refused: 0 });
    const old = `${path}.123.abc.tmp`;
    const fresh = `${path}.456.def.tmp`;
    writeFileSync(old, 'x');
    writeFileSync(fresh, 'x');
    const twoHoursAgo = new Date(Date.now() - 2 * 3600 * 1000);
    utimesSync(old, twoHoursAgo, twoHoursAgo);
    expect(memo.flush()).toBe(true);
    expect(existsSync(old)).toBe(false);
    expect(existsSync(fresh)).toBe(true); // may be a writer between write and rename
  });

  it('writes without the caller flushing, also when the program exits before its next task (two processes)', () => {
    const entry = resolve(repoRoot, 'packages/loader/dist/index.js');
    const dir = freshDir();
    const run = (code: string): string => {
      const r = spawnSync(process.execPath, ['--input-type=module', '-'], {
        input: `import * as L from ${JSON.stringify(entry)};\n${code}`,
        encoding: 'utf8',
        env: { ...process.env, TSBPF_CACHE_DIR: dir },
        timeout: 30_000,
      });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      return r.stdout;
    };
    // Exits in the same task as the lookup: only the exit listener can write.
    run(`L.loadKernelBtf().find('task_struct', 'struct'); process.exit(0);`);
    expect(readMemo(join(dir, LOOKUP_MEMO_FILE)).lookups).toEqual({ 'f4:task_struct': [truth?.task] });
    // Lets the event loop run: the immediate writes (the exit listener finds nothing new).
    // Written by the immediate, before the exit listener could run.
    expect(run(`L.loadKernelBtf().find('cred', 'struct'); await new Promise((r) => setTimeout(r, 50)); console.log(L.kernelBtfMemoStats().written);`).trim()).toBe('true');
    expect(readMemo(join(dir, LOOKUP_MEMO_FILE)).lookups).toMatchObject({ 'f4:task_struct': [truth?.task], 'f4:cred': expect.any(Array) });
    const out = run(`console.log(L.loadKernelBtf().find('task_struct', 'struct'), JSON.stringify(L.kernelBtfMemoStats()));`);
    expect(out).toContain(`${truth?.task} {"state":"loaded","hits":1,"misses":0,"refused":0,"outcomeHits":0,"outcomeMisses":0}`);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('does not block on a FIFO planted where the file should be', () => {
    const dir = freshDir();
    expect(spawnSync('mkdir', ['-p', dir]).status).toBe(0);
    expect(spawnSync('mkfifo', [join(dir, LOOKUP_MEMO_FILE)]).status).toBe(0);
    const entry = resolve(repoRoot, 'packages/loader/dist/index.js');
    const r = spawnSync(process.execPath, ['--input-type=module', '-'], {
      input: `import * as L from ${JSON.stringify(entry)};\nconsole.log(L.loadKernelBtf().find('task_struct', 'struct'), L.kernelBtfMemoStats().state);`,
      encoding: 'utf8',
      env: { ...process.env, TSBPF_CACHE_DIR: dir },
      timeout: 20_000,
    });
    expect(r.signal, 'blocked opening the FIFO').toBeNull();
    expect(r.stdout.trim()).toBe(`${truth?.task} invalid`);
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

    /** A fresh cache directory whose memo file holds the answers of these finds, written through loadKernelBtf. */
    function seedRunningKernel(finds: readonly [string, 'struct' | 'func' | 'typedef'][]): string {
      const dir = freshDir();
      process.env.TSBPF_CACHE_DIR = dir;
      clearKernelBtfCache();
      const btf = loadKernelBtf();
      for (const [name, kind] of finds) btf.find(name, kind);
      expect((btf.lookupMemo as KernelBtfLookupMemo).flush()).toBe(true);
      clearKernelBtfCache();
      return join(dir, LOOKUP_MEMO_FILE);
    }

    it('findKernelType answers remembered ids without parsing the BTF, each checked on its record in the file', () => {
      const path = seedRunningKernel([
        ['task_struct', 'struct'],
        ['vfs_read', 'func'],
        ['no_such_type_in_any_kernel', 'struct'],
      ]);
      const file = readMemo(path);
      expect(Object.keys(file.at).sort()).toEqual(['f12:vfs_read', 'f4:task_struct']);
      expect(findKernelType('task_struct', 'struct')).toBe(truth?.task);
      expect(findKernelType('vfs_read', 'func')).toBe(truth?.vfsRead);
      expect(findKernelType('no_such_type_in_any_kernel', 'struct')).toBeUndefined();
      expect(kernelBtfParsed()).toBe(false);
      expect(kernelBtfMemoStats()).toMatchObject({ state: 'loaded', hits: 3, misses: 0, refused: 0 });
      // Not remembered: parsed and searched, with the same memo.
      expect(findKernelType('pid_type', 'enum')).toBe(truth?.pidType);
      expect(kernelBtfParsed()).toBe(true);
      expect(kernelBtfMemoStats()).toMatchObject({ hits: 3, misses: 1 });
      // Once parsed, the BTF answers (a remembered id handed out before is not a file hit again).
      expect(findKernelType('task_struct', 'struct')).toBe(truth?.task);
      expect(kernelBtfMemoStats()).toMatchObject({ hits: 3, misses: 1, refused: 0 });
    });

    it('findKernelType refuses a remembered record of another kind or name and parses instead', () => {
      const path = seedRunningKernel([
        ['task_struct', 'struct'],
        ['vfs_read', 'func'],
        ['cred', 'struct'],
      ]);
      const file = readMemo(path);
      const taskAt = file.at['f4:task_struct'];
      file.at['f4:cred'] = taskAt; // a struct, named otherwise
      file.at['f4:task_struct'] = file.at['f12:vfs_read']; // named otherwise, of another kind
      writeMemo(path, file);
      for (const [name, kind, want] of [
        ['cred', 'struct', file.lookups['f4:cred'][0]],
        ['task_struct', 'struct', truth?.task],
      ] as const) {
        clearKernelBtfCache();
        expect(findKernelType(name, kind)).toBe(want);
        expect(kernelBtfParsed(), name).toBe(true);
        // Refused before the parse, searched after it.
        expect(kernelBtfMemoStats()).toMatchObject({ hits: 0, misses: 1, refused: 1 });
        // And remembered again with its record's right offset: the next process needs no parse.
        expect(runningKernelMemo()?.flush()).toBe(true);
        clearKernelBtfCache();
        expect(findKernelType(name, kind)).toBe(want);
        expect(kernelBtfParsed(), name).toBe(false);
        writeMemo(path, file); // spoiled again for the next case
      }
      // A remembered id that is wrong too: refused by the parsed BTF, and the file's answer replaced.
      file.lookups['f4:task_struct'] = [truth?.vfsRead ?? 0];
      writeMemo(path, file);
      clearKernelBtfCache();
      expect(findKernelType('task_struct', 'struct')).toBe(truth?.task);
      expect(kernelBtfMemoStats()).toMatchObject({ hits: 0, misses: 1, refused: 1 });
      (loadKernelBtf().lookupMemo as KernelBtfLookupMemo).flush();
      expect(readMemo(path).at['f4:task_struct']).toEqual(taskAt);
      clearKernelBtfCache();
      expect(findKernelType('task_struct', 'struct')).toBe(truth?.task);
      expect(kernelBtfParsed()).toBe(false);
    });

    /** One load of `object` against the running kernel: its CO-RE reports (target BTF by name) and program tags; the memo written. */
    function loadRunning(object: string, skip: readonly string[] = []): { reports: unknown; tags: Record<string, string> } {
      const spec = CollectionSpec.fromFile(testdataPath(object));
      for (const name of skip) spec.program(name).autoload = false;
      using coll = Collection.load(spec);
      runningKernelMemo()?.flush();
      const tags: Record<string, string> = {};
      for (const [name, prog] of coll.programs) tags[name] = progInfo(prog.fd).tag;
      // Report fields but `remembered`, and the target BTF by name (reading it parses a remembered one's).
      const reports = [...coll.coreReports].map(([prog, rs]) => [prog, rs.map(({ remembered: _, targetBtf, ...r }) => ({ ...r, target: targetBtf === undefined ? undefined : targetBtf === loadKernelBtf() ? 'vmlinux' : targetBtf.source }))]);
      return { reports, tags };
    }

    it('remembers CO-RE outcomes matched in vmlinux: the next load never parses the kernel BTF, and loads the same instructions', () => {
      process.env.TSBPF_CACHE_DIR = freshDir();
      clearKernelBtfCache();
      {
        using coll = Collection.load(CollectionSpec.fromFile(testdataPath('many.bpf.o')));
        expect(kernelBtfParsed()).toBe(true);
        const relos = [...coll.coreReports.values()].flat();
        expect(relos.length).toBeGreaterThan(0);
        expect(relos.every((r) => !r.remembered && r.targetBtf === loadKernelBtf())).toBe(true);
      }
      runningKernelMemo()?.flush();
      clearKernelBtfCache();
      {
        using coll = Collection.load(CollectionSpec.fromFile(testdataPath('many.bpf.o')));
        const relos = [...coll.coreReports.values()].flat();
        expect(relos.every((r) => r.remembered)).toBe(true);
        expect(kernelBtfParsed(), 'a remembered load parsed the kernel BTF').toBe(false);
        expect(kernelBtfMemoStats()).toMatchObject({ outcomeMisses: 0 });
        expect(kernelBtfMemoStats()?.outcomeHits).toBeGreaterThan(0);
        // Its target BTF is the kernel's, parsed when read.
        expect(relos[0].targetBtf).toBe(loadKernelBtf());
      }
      // The same instructions reached the kernel (a program's tag is a digest of them), with the same reports.
      clearKernelBtfCache();
      const remembered = loadRunning('many.bpf.o');
      process.env.TSBPF_CACHE_DIR = freshDir();
      clearKernelBtfCache();
      const searched = loadRunning('many.bpf.o');
      expect(remembered).toEqual(searched);
    });

    it('remembers only what matched in vmlinux, per object BTF (core.bpf.o: misses are searched again, an edited BTF is another object)', () => {
      process.env.TSBPF_CACHE_DIR = freshDir();
      clearKernelBtfCache();
      const skip = ['core_poison_reached']; // poisoned on purpose: refused by the verifier
      const searched = loadRunning('core.bpf.o', skip);
      const searchedStats = kernelBtfMemoStats();
      expect(searchedStats?.outcomeHits).toBe(0);
      clearKernelBtfCache();
      const remembered = loadRunning('core.bpf.o', skip);
      expect(remembered).toEqual(searched);
      const stats = kernelBtfMemoStats();
      // Every resolution the first load searched, but those that matched nowhere (their answer depends on modules).
      expect(stats?.outcomeHits).toBeGreaterThan(0);
      expect(stats?.outcomeMisses).toBeGreaterThan(0);
      expect((stats?.outcomeHits ?? 0) + (stats?.outcomeMisses ?? 0)).toBe(searchedStats?.outcomeMisses);
      // The unmatched ones made this load parse the kernel BTF.
      expect(kernelBtfParsed()).toBe(true);

      // Another object BTF (a string appended): nothing of the first is used.
      clearKernelBtfCache();
      const spec = CollectionSpec.fromFile(testdataPath('core.bpf.o'));
      for (const name of skip) spec.program(name).autoload = false;
      spec.btf?.add({ kind: 'int', name: 'tsbpf_memo_test_int', size: 4, encoding: { signed: true, char: false, bool: false }, offset: 0, bits: 32 });
      using coll = Collection.load(spec);
      expect(kernelBtfMemoStats()).toMatchObject({ outcomeHits: 0 });
      expect([...coll.coreReports.values()].flat().some((r) => r.remembered)).toBe(false);
    });

    it('searches again a remembered CO-RE outcome that does not fit its relocation, and replaces it', () => {
      process.env.TSBPF_CACHE_DIR = freshDir();
      clearKernelBtfCache();
      const searched = loadRunning('many.bpf.o');
      const path = join(process.env.TSBPF_CACHE_DIR, LOOKUP_MEMO_FILE);
      const file = readMemo(path);
      const keys = Object.keys(file.core);
      expect(keys.length).toBeGreaterThan(1);
      file.core[keys[0]].l = String(BigInt(file.core[keys[0]].l) + 8n); // another value than the compiler's
      file.core[keys[1]].d = 'struct not_the_access.x';
      writeMemo(path, file);
      clearKernelBtfCache();
      expect(loadRunning('many.bpf.o')).toEqual(searched);
      expect(kernelBtfMemoStats()).toMatchObject({ outcomeHits: keys.length - 2, outcomeMisses: 2, refused: 2 });
      expect(readMemo(path).core[keys[0]].l).not.toBe(file.core[keys[0]].l);
      clearKernelBtfCache();
      expect(loadRunning('many.bpf.o')).toEqual(searched);
      expect(kernelBtfMemoStats()).toMatchObject({ outcomeHits: keys.length, outcomeMisses: 0, refused: 0 });
    });

    it('remembers nothing for a process whose first kernel-BTF load said remember: false', () => {
      process.env.TSBPF_CACHE_DIR = freshDir();
      clearKernelBtfCache();
      expect(loadKernelBtf({ remember: false }).lookupMemo).toBeUndefined();
      expect(findKernelType('task_struct', 'struct')).toBe(truth?.task);
      using coll = Collection.load(CollectionSpec.fromFile(testdataPath('many.bpf.o')));
      expect([...coll.coreReports.values()].flat().some((r) => r.remembered)).toBe(false);
      expect(runningKernelMemo()).toBeUndefined();
      expect(kernelBtfMemoStats()).toBeUndefined();
      expect(existsSync(join(process.env.TSBPF_CACHE_DIR, LOOKUP_MEMO_FILE))).toBe(false);
    });

    it('keeps out a process whose kernel BTF is parsed with remember: false after it used the memo', () => {
      const path = seedRunningKernel([['task_struct', 'struct']]);
      expect(findKernelType('task_struct', 'struct')).toBe(truth?.task); // the memo is in use
      expect(runningKernelMemo()).toBeDefined();
      expect(loadKernelBtf({ remember: false }).lookupMemo).toBeUndefined();
      expect(runningKernelMemo()).toBeUndefined();
      using coll = Collection.load(CollectionSpec.fromFile(testdataPath('many.bpf.o')));
      expect([...coll.coreReports.values()].flat().some((r) => r.remembered)).toBe(false);
      expect(readMemo(path).core).toEqual({});
    });

    it('replaces a refused record offset also in a full file', () => {
      process.env.TSBPF_CACHE_DIR = freshDir();
      clearKernelBtfCache();
      const btf = loadKernelBtf();
      for (let i = 0; i < MAX_MEMO_ENTRIES - 1; i++) btf.find(`no_such_type_${i}`, 'struct');
      btf.find('task_struct', 'struct');
      runningKernelMemo()?.flush();
      const path = join(process.env.TSBPF_CACHE_DIR, LOOKUP_MEMO_FILE);
      const file = readMemo(path);
      expect(Object.keys(file.lookups)).toHaveLength(MAX_MEMO_ENTRIES);
      const right = file.at['f4:task_struct'];
      file.at['f4:task_struct'] = [0]; // the first record: not struct task_struct
      writeMemo(path, file);
      clearKernelBtfCache();
      expect(findKernelType('task_struct', 'struct')).toBe(truth?.task);
      expect(kernelBtfMemoStats()).toMatchObject({ hits: 0, misses: 1, refused: 1 });
      expect(runningKernelMemo()?.flush()).toBe(true);
      const after = readMemo(path);
      expect(after.at['f4:task_struct']).toEqual(right);
      expect(Object.keys(after.lookups)).toHaveLength(MAX_MEMO_ENTRIES);
    });

    it('does not rewrite a full file for an answer it has no room for', () => {
      const dir = freshDir();
      const btf = freshKernelBtf();
      const memo = memoFor(btf, dir);
      for (let i = 0; i < MAX_MEMO_ENTRIES; i++) btf.find(`no_such_type_${i}`, 'struct');
      expect(memo.flush()).toBe(true);
      const again = freshKernelBtf();
      const full = memoFor(again, dir);
      expect(again.find('task_struct', 'struct')).toBe(truth?.task); // answered, not kept
      expect(full.flush()).toBe(false);
      expect(Object.keys(readMemo(join(dir, LOOKUP_MEMO_FILE)).lookups)).not.toContain('f4:task_struct');
    });

    it('does not remember CO-RE outcomes for an explicit kernel BTF', () => {
      process.env.TSBPF_CACHE_DIR = freshDir();
      clearKernelBtfCache();
      const kernelBtf = loadKernelBtf();
      for (let i = 0; i < 2; i++) {
        using coll = Collection.load(CollectionSpec.fromFile(testdataPath('many.bpf.o')), { kernelBtf });
        expect([...coll.coreReports.values()].flat().some((r) => r.remembered)).toBe(false);
        runningKernelMemo()?.flush();
      }
      expect(kernelBtfMemoStats()).toMatchObject({ outcomeHits: 0, outcomeMisses: 0 });
    });

    it('remembers nothing with TSBPF_CACHE_DIR= (empty)', () => {
      process.env.TSBPF_CACHE_DIR = '';
      clearKernelBtfCache();
      expect(loadKernelBtf().find('task_struct', 'struct')).toBe(truth?.task);
      expect(loadKernelBtf().lookupMemo).toBeUndefined();
      expect(kernelBtfMemoStats()).toBeUndefined();
      clearKernelBtfCache();
      expect(findKernelType('task_struct', 'struct')).toBe(truth?.task);
      expect(kernelBtfParsed()).toBe(true);
      expect(kernelBtfMemoStats()).toBeUndefined();
    });
  });
});
