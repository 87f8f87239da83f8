/**
 * Runs many fuzz cases and keeps score. Cases run in a worker thread so a case that never returns
 * can be killed (watchdog) and one that allocates without bound hits the worker's heap limit
 * instead of the machine; the run then resumes at the next case. Each case is also timed where
 * it runs: over `hangMs` (outside the kernel, for `load` cases) it runs once more and, slow again,
 * counts as a hang. Resident memory is sampled after every case: growth past `rssLimitMb` over the
 * warmed-up baseline is a failure of that case.
 */
import { Worker } from 'node:worker_threads';
import { FUZZ_TARGETS, OUTCOMES, coreTargets, runCase, type CaseResult, type FuzzTarget, type Outcome } from './cases.js';
import { loadCorpus, type Corpus } from './corpus.js';
import { caseSeed } from './rng.js';
import { threadCpuTimes } from '../sys/ffi.js';

/** Options of a fuzz run. */
export interface FuzzOptions {
  cases: number;
  seed: number;
  target: FuzzTarget | 'all';
  /** A case running longer than this outside the kernel counts as a hang (default 1000 ms). */
  hangMs: number;
  /** The watchdog kills the worker when a case runs this long (default 10 s). */
  killMs: number;
  /** RSS growth over the baseline that counts as runaway allocation (default 1024 MiB). */
  rssLimitMb: number;
  /** Repository root holding bpf/ (default: found from the cwd). */
  root?: string;
  /** Heap limit of each worker thread, MiB (default 2048): a runaway JS allocation dies there. */
  heapMb?: number;
  /** Worker threads running slices of the case range side by side (default 1). */
  jobs?: number;
  /** Progress lines on stderr. */
  progress?: (line: string) => void;
}

/** Defaults of {@link FuzzOptions}. */
export const FUZZ_DEFAULTS: FuzzOptions = { cases: 100_000, seed: 1, target: 'all', hangMs: 1000, killMs: 10_000, rssLimitMb: 1024 };

/** The tally of a run. */
export interface FuzzSummary {
  seed: number;
  cases: number;
  /** target → outcome → count. */
  byTarget: Record<string, Record<Outcome, number>>;
  /** typed error code → count. */
  codes: Record<string, number>;
  /** Untyped exceptions, hangs and runaway allocations, with their seeds. */
  failures: CaseResult[];
  slowestMs: number;
  slowest?: { target: FuzzTarget; seed: number; input: string };
  peakRssMb: number;
  baselineRssMb: number;
  elapsedMs: number;
}

/** Which target case `index` of a run feeds. */
export function targetOf(options: Pick<FuzzOptions, 'target'>, index: number): FuzzTarget {
  return options.target === 'all' ? FUZZ_TARGETS[index % FUZZ_TARGETS.length] : options.target;
}

function emptySummary(seed: number): FuzzSummary {
  return { seed, cases: 0, byTarget: {}, codes: {}, failures: [], slowestMs: 0, peakRssMb: 0, baselineRssMb: 0, elapsedMs: 0 };
}

function emptyCounts(): Record<Outcome, number> {
  return Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Record<Outcome, number>;
}

function tally(s: FuzzSummary, r: CaseResult): void {
  s.cases++;
  const t = (s.byTarget[r.target] ??= emptyCounts());
  t[r.outcome]++;
  if (r.outcome === 'typed' && r.code) s.codes[r.code] = (s.codes[r.code] ?? 0) + 1;
  if (r.outcome !== 'ok' && r.outcome !== 'typed') s.failures.push(r);
  if (r.ms > s.slowestMs) {
    s.slowestMs = r.ms;
    s.slowest = { target: r.target, seed: r.seed, input: r.input };
  }
}

const MB = 1024 * 1024;

/** Warm caches a first case would otherwise pay for (kernel BTF, its name index) so timings are per case. */
export function warmUp(corpus: Corpus): number {
  coreTargets();
  for (let i = 0; i < 8; i++) runCase(corpus, FUZZ_TARGETS[i % FUZZ_TARGETS.length], i);
  return process.memoryUsage().rss;
}

/**
 * Run one case; a case over the time limit runs once more and counts as slow only if it is slow
 * again (a GC pause or a busy machine is not a hang of the parser).
 */
export function runTimedCase(corpus: Corpus, target: FuzzTarget, seed: number, hangMs: number): CaseResult {
  const r = runCase(corpus, target, seed);
  if (outsideKernelMs(r) <= hangMs || r.outcome === 'untyped') return r;
  const again = runCase(corpus, target, seed);
  return outsideKernelMs(again) < outsideKernelMs(r) ? { ...r, ms: again.ms, kernelMs: again.kernelMs } : r;
}

/**
 * The time the hang limit applies to: for a `load` case, its time outside the kernel, since the
 * kernel's own work on what the case asks for (a map of a million entries, a long verification)
 * is not a hang of the loader; for the other targets, which make no kernel calls of their own,
 * all of it (their system time is page faults of their own allocations).
 */
export function outsideKernelMs(r: CaseResult): number {
  return r.target === 'load' ? r.ms - (r.kernelMs ?? 0) : r.ms;
}

/** Classify a finished case with the time and memory limits. */
export function judge(r: CaseResult, baselineRss: number, options: Pick<FuzzOptions, 'hangMs' | 'rssLimitMb'>): CaseResult {
  if (r.outcome === 'untyped') return r;
  if (outsideKernelMs(r) > options.hangMs) {
    const limit = r.target === 'load' ? `${options.hangMs} ms outside the kernel` : `${options.hangMs} ms`;
    const kernel = r.target === 'load' && r.kernelMs ? `, ${Math.round(r.kernelMs)} ms of it in the kernel` : '';
    return { ...r, outcome: 'hang', message: `case took ${Math.round(r.ms)} ms${kernel} (limit ${limit}); it ended ${r.outcome}${r.code ? ` ${r.code}` : ''}` };
  }
  const rss = process.memoryUsage().rss;
  if (rss - baselineRss > options.rssLimitMb * MB) {
    return { ...r, outcome: 'memory', message: `resident memory grew by ${Math.round((rss - baselineRss) / MB)} MiB (limit ${options.rssLimitMb} MiB)` };
  }
  return r;
}

/** Run cases [from, to) in this thread (tests; `--in-process`). No watchdog: a real hang blocks. */
export function runInProcess(options: FuzzOptions, from = 0, to = options.cases, corpus = loadCorpus({ root: options.root })): FuzzSummary {
  const t0 = performance.now();
  const s = emptySummary(options.seed);
  const baseline = warmUp(corpus);
  s.baselineRssMb = Math.round(baseline / MB);
  for (let i = from; i < to; i++) {
    const r = judge(runTimedCase(corpus, targetOf(options, i), caseSeed(options.seed, i), options.hangMs), baseline, options);
    tally(s, r);
    s.peakRssMb = Math.max(s.peakRssMb, Math.round(process.memoryUsage().rss / MB));
    if (options.progress && (i + 1) % 5000 === 0) options.progress(`${i + 1}/${to} cases, ${s.failures.length} failures`);
  }
  s.elapsedMs = performance.now() - t0;
  return s;
}

/** Messages from the worker. */
type WorkerMessage =
  | { type: 'ready'; baselineRss: number }
  | { type: 'results'; results: (CaseResult & { index: number })[]; rss: number }
  | { type: 'done' };

/** What the worker is asked to do. */
export interface WorkerTask {
  fuzzWorker: true;
  options: FuzzOptions;
  from: number;
  to: number;
  /** Case indexes not to run again (they killed a previous worker). */
  skip: number[];
  /** [current case index, 1 while a case runs]. */
  progress: SharedArrayBuffer;
}

/** Case index that `TSBPF_FUZZ_SELFTEST` replaces with a deliberate failure. */
const SELFTEST_CASE = 3;

/**
 * The driver's own check (`TSBPF_FUZZ_SELFTEST=throw|hang|slow|oom`): case 3 throws an untyped
 * error, spins forever, spins in JavaScript for twice `hangMs` and returns (as a `load` case, whose
 * kernel time would be exempt: its user time must still count), or allocates until the heap limit,
 * so a test can see each one caught and the run resume at the next case.
 */
function selfTestCase(kind: string, target: FuzzTarget, seed: number, hangMs: number): CaseResult {
  if (kind === 'hang') for (;;);
  if (kind === 'slow') {
    const before = threadCpuTimes();
    const t0 = performance.now();
    while (performance.now() - t0 < 2 * hangMs) {
      // spinning in JavaScript: user time
    }
    const after = threadCpuTimes();
    const kernelMs = before && after ? (after.systemNs - before.systemNs) / 1e6 : undefined;
    return { target: 'load', seed, outcome: 'ok', input: 'self-test', ms: performance.now() - t0, kernelMs };
  }
  if (kind === 'oom') {
    const hoard: number[][] = [];
    for (;;) hoard.push(new Array<number>(1 << 20).fill(hoard.length));
  }
  const err = new TypeError('fuzz self-test: an untyped exception');
  return { target, seed, outcome: 'untyped', code: 'TypeError', input: 'self-test', message: err.message, stack: err.stack, ms: 0 };
}

/** Body of the worker thread. */
export function workerMain(task: WorkerTask, post: (m: WorkerMessage) => void): void {
  const { options } = task;
  const shared = new Int32Array(task.progress);
  const corpus = loadCorpus({ root: options.root });
  const baseline = warmUp(corpus);
  const selftest = process.env.TSBPF_FUZZ_SELFTEST;
  post({ type: 'ready', baselineRss: baseline });
  let batch: (CaseResult & { index: number })[] = [];
  const skip = new Set(task.skip);
  for (let i = task.from; i < task.to; i++) {
    if (skip.has(i)) {
      if (i === task.to - 1 && batch.length > 0) post({ type: 'results', results: batch, rss: process.memoryUsage().rss });
      continue;
    }
    Atomics.store(shared, 0, i);
    Atomics.store(shared, 1, 1);
    const r = judge(
      i === SELFTEST_CASE && selftest ? selfTestCase(selftest, targetOf(options, i), caseSeed(options.seed, i), options.hangMs) : runTimedCase(corpus, targetOf(options, i), caseSeed(options.seed, i), options.hangMs),
      baseline,
      options,
    );
    Atomics.store(shared, 1, 0);
    batch.push(r.outcome === 'ok' || r.outcome === 'typed' ? { index: i, target: r.target, seed: r.seed, outcome: r.outcome, code: r.code, input: r.ms > 200 ? r.input : '', ms: r.ms } : { ...r, index: i });
    if (batch.length >= 250 || i === task.to - 1) {
      post({ type: 'results', results: batch, rss: process.memoryUsage().rss });
      batch = [];
    }
  }
  post({ type: 'done' });
}

/** Run every case in `jobs` worker threads, each over a contiguous slice of the cases. */
export async function runWithWorker(options: FuzzOptions, workerUrl: URL): Promise<FuzzSummary> {
  const t0 = performance.now();
  // Load cases count the process's descriptors: two workers loading at once would blame each other.
  const jobs = options.target === 'load' ? 1 : Math.max(1, Math.min(options.jobs ?? 1, options.cases));
  const per = Math.ceil(options.cases / jobs);
  const parts = await Promise.all(Array.from({ length: jobs }, (_, j) => runSlice(options, workerUrl, j * per, Math.min(options.cases, (j + 1) * per))));
  const s = emptySummary(options.seed);
  for (const p of parts) {
    s.cases += p.cases;
    for (const [t, c] of Object.entries(p.byTarget)) {
      const into = (s.byTarget[t] ??= emptyCounts());
      for (const k of Object.keys(c) as Outcome[]) into[k] += c[k];
    }
    for (const [c, n] of Object.entries(p.codes)) s.codes[c] = (s.codes[c] ?? 0) + n;
    s.failures.push(...p.failures);
    if (p.slowestMs > s.slowestMs) {
      s.slowestMs = p.slowestMs;
      s.slowest = p.slowest;
    }
    s.peakRssMb = Math.max(s.peakRssMb, p.peakRssMb);
    s.baselineRssMb = Math.max(s.baselineRssMb, p.baselineRssMb);
  }
  s.elapsedMs = performance.now() - t0;
  return s;
}

/** Run cases [from, to) in a worker thread with a watchdog; restarts the worker after a kill or crash. */
async function runSlice(options: FuzzOptions, workerUrl: URL, from: number, to: number): Promise<FuzzSummary> {
  const t0 = performance.now();
  const s = emptySummary(options.seed);
  // Results arrive in case order; `reported` is the first case whose result has not arrived.
  let reported = from;
  const skip = new Set<number>();
  let lastReport = 0;
  while (reported < to) {
    const progress = new SharedArrayBuffer(8);
    const shared = new Int32Array(progress);
    Atomics.store(shared, 0, reported);
    const task: WorkerTask = { fuzzWorker: true, options: { ...options, progress: undefined }, from: reported, to, skip: [...skip], progress };
    // The heap cap turns an unbounded JS allocation into ERR_WORKER_OUT_OF_MEMORY for this case.
    const worker = new Worker(workerUrl, { workerData: task, resourceLimits: { maxOldGenerationSizeMb: options.heapMb ?? 2048 } });
    const startedAt = reported;
    await new Promise<void>((resolvePromise) => {
      let settled = false;
      let seen = -1;
      let since = performance.now();
      const finish = (): void => {
        if (settled) return;
        settled = true;
        clearInterval(timer);
        resolvePromise();
      };
      // The case running when the worker was killed or died: tally it, never run it again.
      // Cases after the last posted batch but before it are simply run again by the next worker.
      const failCurrent = (outcomeKind: Outcome, code: string, message: string): void => {
        const i = Atomics.load(shared, 0);
        if (skip.has(i)) return;
        skip.add(i);
        tally(s, { target: targetOf(options, i), seed: caseSeed(options.seed, i), outcome: outcomeKind, code, input: '(see replay)', message, ms: performance.now() - since });
      };
      const timer = setInterval(() => {
        const i = Atomics.load(shared, 0);
        const running = Atomics.load(shared, 1) === 1;
        if (i !== seen) {
          seen = i;
          since = performance.now();
        } else if (running && performance.now() - since > options.killMs) {
          failCurrent('hang', 'WATCHDOG', `case did not finish within ${options.killMs} ms; worker killed`);
          void worker.terminate();
          finish();
        }
      }, 100);
      worker.on('message', (m: WorkerMessage) => {
        if (m.type === 'ready') s.baselineRssMb = Math.max(s.baselineRssMb, Math.round(m.baselineRss / MB));
        else if (m.type === 'results') {
          for (const { index, ...r } of m.results) {
            tally(s, r);
            reported = index + 1;
          }
          s.peakRssMb = Math.max(s.peakRssMb, Math.round(m.rss / MB));
          if (options.progress && s.cases - lastReport >= 10_000) {
            lastReport = s.cases;
            options.progress(`[${from}, ${to}): ${s.cases}/${to - from} cases, ${s.failures.length} failures, ${Math.round((performance.now() - t0) / 1000)} s`);
          }
        } else {
          reported = to;
          finish();
        }
      });
      worker.on('error', (err: Error & { code?: string }) => {
        const oom = err.code === 'ERR_WORKER_OUT_OF_MEMORY';
        failCurrent(oom ? 'memory' : 'untyped', oom ? 'WORKER_OOM' : (err.code ?? err.name), `worker died: ${err.message}`);
        finish();
      });
      worker.on('exit', () => {
        // An exit without "done" and without progress: blame the running case so the run moves on.
        if (!settled && reported === startedAt) failCurrent('untyped', 'WORKER_EXIT', 'worker exited in the middle of this case');
        finish();
      });
    });
    await worker.terminate();
    while (skip.has(reported)) reported++;
  }
  s.elapsedMs = performance.now() - t0;
  return s;
}

/** Human-readable summary. */
export function formatSummary(s: FuzzSummary, options: FuzzOptions): string {
  const lines: string[] = [];
  lines.push(`fuzz: ${s.cases} cases, seed ${s.seed}, target ${options.target}, ${(s.elapsedMs / 1000).toFixed(1)} s`);
  lines.push(`target   ${OUTCOMES.map((o) => o.padEnd(10)).join('')}`.trimEnd());
  for (const [t, c] of Object.entries(s.byTarget)) lines.push(`${t.padEnd(9)}${OUTCOMES.map((o) => String(c[o]).padEnd(10)).join('')}`.trimEnd());
  const codes = Object.entries(s.codes).sort((a, b) => b[1] - a[1]);
  lines.push(`typed error codes (${codes.length}): ${codes.map(([c, n]) => `${c}=${n}`).join(' ')}`);
  lines.push(`slowest case: ${s.slowestMs.toFixed(1)} ms${s.slowest ? ` (${s.slowest.target} seed ${s.slowest.seed}${s.slowest.input ? `: ${s.slowest.input}` : ''})` : ''}`);
  lines.push(`rss: baseline ${s.baselineRssMb} MiB, peak ${s.peakRssMb} MiB`);
  if (s.failures.length === 0) lines.push('no failures');
  else {
    lines.push(`${s.failures.length} FAILURES:`);
    const shown = new Set<string>();
    for (const f of s.failures) {
      // One full report per distinct (outcome, code, first stack frame); the rest by seed only.
      const frame = f.stack?.split('\n').find((l) => l.trim().startsWith('at ')) ?? '';
      const k = `${f.outcome}|${f.code}|${frame}`;
      if (shown.has(k)) {
        lines.push(`  ${f.outcome} ${f.code ?? ''} target=${f.target} seed=${f.seed} (same kind as the ${f.outcome} ${f.code ?? ''} reported above${frame ? ` ${frame.trim()}` : ''})`);
        continue;
      }
      shown.add(k);
      lines.push(`  ${f.outcome} ${f.code ?? ''} target=${f.target} seed=${f.seed}  replay: npm run fuzz -w @tsbpf/loader -- --target ${f.target} --replay ${f.seed}`);
      lines.push(`    input: ${f.input}`);
      if (f.message) lines.push(`    ${f.message.split('\n')[0]}`);
      if (f.stack) lines.push(...f.stack.split('\n').slice(1, 6).map((l) => `    ${l.trim()}`));
    }
  }
  return lines.join('\n');
}
