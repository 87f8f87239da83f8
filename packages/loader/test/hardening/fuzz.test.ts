/**
 * A seeded slice of `npm run fuzz`: 2,000 damaged objects, BTF blobs, .BTF.ext sections and
 * instruction streams through the parsers, linker, inspect analysis, CO-RE and gadget decoders.
 * Every case must end in a TsbpfError or a result, within the per-case time limit and without
 * runaway memory. A failure prints the case seed and the replay command.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCase } from '../../src/fuzz/cases.js';
import { loadCorpus } from '../../src/fuzz/corpus.js';
import { FUZZ_DEFAULTS, formatSummary, judge, runInProcess, type FuzzOptions } from '../../src/fuzz/driver.js';
import { Rng, caseSeed } from '../../src/fuzz/rng.js';
import { repoRoot } from '../testdata.js';

const SEED = 20261124;
const CASES = 2000;
const fuzzMain = resolve(repoRoot, 'packages/loader/dist/fuzz/main.js');

describe('fuzz slice', () => {
  it(`${CASES} seeded cases end in a typed error or a result`, () => {
    const options: FuzzOptions = { ...FUZZ_DEFAULTS, cases: CASES, seed: SEED, root: repoRoot };
    const s = runInProcess(options);
    const text = formatSummary(s, options);
    if (s.failures.length > 0) console.error(text);
    expect(s.failures.map((f) => `${f.outcome} ${f.code} target=${f.target} seed=${f.seed}: ${f.message}`)).toEqual([]);
    expect(s.cases).toBe(CASES);
    // Both ends are reached for every target: the mutations are neither all fatal nor all harmless.
    for (const t of ['elf', 'btf', 'btfext', 'insns']) {
      expect(s.byTarget[t]?.ok, `${t} ok`).toBeGreaterThan(0);
      expect(s.byTarget[t]?.typed, `${t} typed`).toBeGreaterThan(0);
    }
    // A spread of distinct error codes: the damage reaches many checks, not one early gate.
    expect(Object.keys(s.codes).length).toBeGreaterThan(15);
  }, 120_000);

  it('200 load cases: damaged objects that still parse go through Collection.load without leaking a descriptor', () => {
    const options: FuzzOptions = { ...FUZZ_DEFAULTS, cases: 200, seed: SEED, target: 'load', root: repoRoot };
    const s = runInProcess(options);
    if (s.failures.length > 0) console.error(formatSummary(s, options));
    expect(s.failures.map((f) => `${f.outcome} ${f.code} seed=${f.seed}: ${f.message}`)).toEqual([]);
    // The kernel was really asked: some loads fail in the verifier, some succeed.
    expect(s.codes.VERIFIER ?? 0).toBeGreaterThan(0);
    expect(s.byTarget.load?.ok).toBeGreaterThan(0);
  }, 120_000);

  it('1,000 hostile event records decode to a typed error or an event that renders safely', () => {
    const options: FuzzOptions = { ...FUZZ_DEFAULTS, cases: 1000, seed: SEED, target: 'events', root: repoRoot };
    const s = runInProcess(options);
    if (s.failures.length > 0) console.error(formatSummary(s, options));
    expect(s.failures.map((f) => `${f.outcome} ${f.code} seed=${f.seed}: ${f.message}`)).toEqual([]);
    // Short records are refused with a typed error; full-size ones decode and render.
    expect(s.codes.CODEC_SHORT_BUFFER ?? 0).toBeGreaterThan(0);
    expect(s.byTarget.events?.ok).toBeGreaterThan(500);
  }, 60_000);

  it('a case is reproducible from its seed alone', () => {
    const corpus = loadCorpus({ root: repoRoot });
    for (const t of ['elf', 'btf', 'btfext', 'insns'] as const) {
      const seed = caseSeed(SEED, 17);
      const a = runCase(corpus, t, seed);
      const b = runCase(corpus, t, seed);
      expect({ ...b, ms: 0, kernelMs: 0 }).toEqual({ ...a, ms: 0, kernelMs: 0 });
    }
    expect(caseSeed(1, 0)).not.toBe(caseSeed(1, 1));
    expect(new Rng(5).u32()).toBe(new Rng(5).u32());
  });

  it('slow cases count as hangs and unbounded growth as memory failures', () => {
    const base = { target: 'elf' as const, seed: 1, input: 'x' };
    expect(judge({ ...base, outcome: 'ok', ms: 1500 }, process.memoryUsage().rss, { hangMs: 1000, rssLimitMb: 1024 }).outcome).toBe('hang');
    expect(judge({ ...base, outcome: 'typed', code: 'X', ms: 5 }, 0, { hangMs: 1000, rssLimitMb: 1 }).outcome).toBe('memory');
    expect(judge({ ...base, outcome: 'typed', code: 'X', ms: 5 }, process.memoryUsage().rss, { hangMs: 1000, rssLimitMb: 1024 }).outcome).toBe('typed');
    expect(judge({ ...base, outcome: 'untyped', ms: 5000 }, 0, { hangMs: 1, rssLimitMb: 1 }).outcome).toBe('untyped');
    // For a load case, the time the kernel spent on what the case asked for is not a hang; the
    // rest of the time is. The other targets make no kernel calls of their own: all of it counts.
    const limits = { hangMs: 1000, rssLimitMb: 1024 };
    const rss = process.memoryUsage().rss;
    expect(judge({ ...base, target: 'load', outcome: 'ok', ms: 4700, kernelMs: 4400 }, rss, limits).outcome).toBe('ok');
    const slow = judge({ ...base, target: 'load', outcome: 'ok', ms: 4700, kernelMs: 3000 }, rss, limits);
    expect(slow.outcome).toBe('hang');
    expect(slow.message).toMatch(/4700 ms, 3000 ms of it in the kernel \(limit 1000 ms outside the kernel\)/);
    expect(judge({ ...base, outcome: 'ok', ms: 4700, kernelMs: 4400 }, rss, limits).outcome).toBe('hang');
  });

  it('a case reports the kernel time of its thread', () => {
    const corpus = loadCorpus({ root: repoRoot, kernelBtfPath: null });
    const r = runCase(corpus, 'elf', caseSeed(SEED, 3));
    expect(r.kernelMs).toBeGreaterThanOrEqual(0);
    // Tick-sampled over a slightly wider window than ms: at most a tick or two over it.
    expect(r.kernelMs).toBeLessThanOrEqual(r.ms + 10);
  });

  it.skipIf(!existsSync(fuzzMain))('the CLI runs in a worker, prints a summary and exits 0; bad usage exits 2', () => {
    const ok = spawnSync(process.execPath, [fuzzMain, '--cases', '120', '--seed', '3', '--json', '--jobs', '1'], { cwd: repoRoot, encoding: 'utf8', timeout: 60_000 });
    expect(ok.status, ok.stderr).toBe(0);
    const summary = JSON.parse(ok.stdout) as { cases: number; failures: unknown[] };
    expect(summary.cases).toBe(120);
    expect(summary.failures).toEqual([]);
    const bad = spawnSync(process.execPath, [fuzzMain, '--target', 'nope'], { cwd: repoRoot, encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--target wants one of/);
  }, 90_000);

  // The driver itself: case 3 is replaced by a deliberate failure; it must be caught, reported with
  // its seed, make the run exit 1, and the run must still finish every other case.
  for (const [kind, outcome, code] of [
    ['throw', 'untyped', 'TypeError'],
    ['hang', 'hang', 'WATCHDOG'],
    // A load case slow in JavaScript: its kernel-time exemption must not hide user time.
    ['slow', 'hang', undefined],
    ['oom', 'memory', 'WORKER_OOM'],
  ] as const) {
    const what = { throw: 'throws untyped', hang: 'never returns', slow: 'runs too long in JavaScript and returns', oom: 'allocates without bound' }[kind];
    it.skipIf(!existsSync(fuzzMain))(`self-test: a case that ${what} is caught and the run goes on`, () => {
      const r = spawnSync(process.execPath, [fuzzMain, '--cases', '12', '--seed', '3', '--json', '--jobs', '1', '--kill-ms', '1500', '--hang-ms', '300', '--heap-mb', '128'], {
        cwd: repoRoot,
        encoding: 'utf8',
        timeout: 60_000,
        env: { ...process.env, TSBPF_FUZZ_SELFTEST: kind },
      });
      expect(r.status, r.stderr).toBe(1);
      const summary = JSON.parse(r.stdout) as { cases: number; failures: { outcome: string; code?: string; seed: number; message?: string }[] };
      expect(summary.cases).toBe(12);
      // (Other failures, if any, are real findings and fail the slice test above.)
      const mine = summary.failures.filter((f) => f.seed === caseSeed(3, 3));
      expect(mine).toEqual([expect.objectContaining(code === undefined ? { outcome } : { outcome, code })]);
      // The slow case is judged by the time limit (not killed by the watchdog), on its user time.
      if (kind === 'slow') expect(mine[0]).toMatchObject({ message: expect.stringMatching(/limit 300 ms outside the kernel/) });
    }, 90_000);
  }
  if (!existsSync(fuzzMain)) console.warn(`skipped: ${fuzzMain} is not built (npm run build); the CLI and driver self-tests need it`);
});
