/**
 * The kernel matrix: kernels run one after another (parallel TCG VMs gain nothing on two cores),
 * then a summary of kernel × check with pass/fail/skip and the time each kernel took.
 *
 * @packageDocumentation
 */
import { loadKernels, selectKernels, type KernelEntry } from './config.js';
import { ensureKernel, hasCachedKernel, privateAptHasLists, refreshIndexes } from './kernels.js';
import type { GuestReport, TestStatus } from './result.js';
import { runInVm, type RunInVmOptions, type VmRunResult } from './vm.js';

/** Options of {@link runMatrix}. */
export interface MatrixOptions extends Omit<RunInVmOptions, 'kernel' | 'onLine'> {
  /** Labels to run; empty or absent = every kernel in kernels.json. */
  readonly kernels?: readonly string[];
  /** Receives each console line with its kernel label. */
  readonly onLine?: (label: string, line: string) => void;
}

/** A kernel that could not even be booted (download, extraction, qemu start). */
export interface MatrixSetupFailure {
  readonly label: string;
  readonly error: string;
}

/** All runs of a matrix and whether every one passed. */
export interface MatrixResult {
  readonly runs: readonly VmRunResult[];
  readonly setupFailures: readonly MatrixSetupFailure[];
  readonly ok: boolean;
}

/** Resolves and prepares every kernel first (one apt update), so download time stays out of boot timings. */
export async function fetchKernels(
  entries: readonly KernelEntry[],
  opts: { refresh?: boolean; log?: (s: string) => void } = {},
): Promise<void> {
  if (opts.refresh === true) await refreshIndexes(entries, opts.log);
  // One apt update for every suite that has no index yet, instead of one per kernel.
  const missing = entries.filter((e) => !hasCachedKernel(e) && !privateAptHasLists(e.suite));
  if (opts.refresh !== true && missing.length > 0) await refreshIndexes(missing, opts.log);
  for (const e of entries) await ensureKernel(e, opts);
}

/** Runs `opts.command` in each selected kernel in turn. */
export async function runMatrix(opts: MatrixOptions): Promise<MatrixResult> {
  const entries = selectKernels(loadKernels(), opts.kernels ?? []);
  const runs: VmRunResult[] = [];
  const setupFailures: MatrixSetupFailure[] = [];
  for (const entry of entries) {
    try {
      runs.push(
        await runInVm({
          ...opts,
          kernel: entry,
          onLine: (line) => opts.onLine?.(entry.label, line),
        }),
      );
    } catch (e) {
      const error = e instanceof Error ? e.message : String(e);
      opts.log?.(`vmtest: [${entry.label}] setup failed: ${error}`);
      setupFailures.push({ label: entry.label, error });
    }
  }
  const ok = setupFailures.length === 0 && runs.every((r) => r.report.status === 'pass');
  return { runs, setupFailures, ok };
}

/** The status a whole run shows in the summary: its checks, or the command's exit code when none. */
function cell(report: GuestReport, name: string): { status: TestStatus | 'missing'; ms?: number } {
  const t = report.tests.find((x) => x.name === name);
  if (t === undefined) return { status: 'missing' };
  return { status: t.status, ...(t.ms !== undefined ? { ms: t.ms } : {}) };
}

const secs = (ms: number | null): string => (ms === null ? '-' : `${(ms / 1000).toFixed(1)}s`);

function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd()).join('\n');
}

/**
 * The summary printed after a matrix: one row per kernel (verdict, exit code, boot, setup, command
 * and boot-to-result seconds), then check × kernel cells, then failure details.
 */
export function formatMatrixSummary(result: MatrixResult): string {
  const out: string[] = [];
  const head = ['kernel', 'release', 'verdict', 'exit', 'pass', 'fail', 'skip', 'boot', 'setup', 'command', 'boot→result', 'download'];
  const rows: string[][] = [head];
  for (const r of result.runs) {
    const t = r.report.tests;
    rows.push([
      r.label,
      r.release,
      r.report.status.toUpperCase(),
      r.report.exitCode === null ? '-' : String(r.report.exitCode),
      String(t.filter((x) => x.status === 'pass').length),
      String(t.filter((x) => x.status === 'fail').length),
      String(t.filter((x) => x.status === 'skip').length),
      secs(r.timings.bootMs),
      secs(r.timings.setupMs),
      secs(r.timings.commandMs),
      secs(r.timings.toResultMs),
      r.fetch === undefined ? 'cached' : `${(r.fetch.bytes / 1e6).toFixed(0)} MB ${secs(r.fetch.ms)}`,
    ]);
  }
  for (const f of result.setupFailures) rows.push([f.label, '-', 'SETUP-FAILED', '-', '-', '-', '-', '-', '-', '-', '-', '-']);
  out.push(table(rows));

  const names: string[] = [];
  for (const r of result.runs) for (const t of r.report.tests) if (!names.includes(t.name)) names.push(t.name);
  if (names.length > 0) {
    const grid: string[][] = [['check', ...result.runs.map((r) => r.label)]];
    for (const n of names) {
      grid.push([
        n,
        ...result.runs.map((r) => {
          const c = cell(r.report, n);
          const mark = c.status === 'fail' ? 'FAIL' : c.status === 'missing' ? '-' : c.status;
          return c.ms !== undefined && c.status !== 'skip' ? `${mark} ${(c.ms / 1000).toFixed(2)}s` : mark;
        }),
      ]);
    }
    out.push('', table(grid));
  }

  const details: string[] = [];
  for (const r of result.runs) {
    for (const t of r.report.tests) {
      if (t.status === 'fail') details.push(`[${r.label}] FAIL ${t.name}: ${t.detail ?? ''}`);
    }
    if (r.report.panic !== null) details.push(`[${r.label}] ${r.report.panic}`);
    if (r.report.status === 'timeout') details.push(`[${r.label}] timed out after ${secs(r.timings.totalMs)}`);
    if (r.report.status === 'no-result') {
      details.push(`[${r.label}] no VMTEST-DONE line (guest died?)${r.qemuStderr.trim() !== '' ? `; qemu: ${r.qemuStderr.trim()}` : ''}`);
    }
    for (const p of r.report.problems) details.push(`[${r.label}] ${p}`);
  }
  for (const f of result.setupFailures) details.push(`[${f.label}] setup failed: ${f.error}`);
  if (details.length > 0) out.push('', ...details);
  const passed = result.runs.filter((r) => r.report.status === 'pass').length;
  const failed = result.runs.length - passed + result.setupFailures.length;
  out.push('', `vmtest: ${passed} passed, ${failed} failed`);
  return out.join('\n');
}

/** One check of one kernel in a {@link MatrixReport}. */
export interface MatrixReportCheck {
  readonly name: string;
  readonly status: TestStatus;
  /** Seconds the check took, or null when the guest did not say. */
  readonly seconds: number | null;
  readonly detail: string;
}

/** One kernel in a {@link MatrixReport}. */
export interface MatrixReportKernel {
  readonly kernel: string;
  /** `pass`, `fail`, `panic`, `timeout`, `no-result` or `setup-failed`. */
  readonly verdict: string;
  /** qemu start → exit, seconds (0 when it never started). */
  readonly seconds: number;
  readonly release: string;
  readonly checks: readonly MatrixReportCheck[];
}

/**
 * The machine-readable matrix (`vmtest run --report FILE`): `passed`/`failed`/`skipped` count checks
 * over every kernel; a kernel that failed without a failing check of its own (panic, timeout, no
 * result, non-zero exit, setup failure) adds one failure, so `failed === 0` exactly when the matrix
 * passed.
 */
export interface MatrixReport {
  readonly passed: number;
  readonly failed: number;
  readonly skipped: number;
  readonly ok: boolean;
  readonly kernels: readonly MatrixReportKernel[];
}

/** Builds the {@link MatrixReport} of a matrix run. */
export function buildMatrixReport(result: MatrixResult): MatrixReport {
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  const kernels: MatrixReportKernel[] = [];
  for (const r of result.runs) {
    const checks = r.report.tests.map((t) => ({ name: t.name, status: t.status, seconds: t.ms === undefined ? null : Math.round(t.ms) / 1000, detail: t.detail ?? '' }));
    const f = checks.filter((c) => c.status === 'fail').length;
    passed += checks.filter((c) => c.status === 'pass').length;
    skipped += checks.filter((c) => c.status === 'skip').length;
    failed += f;
    if (r.report.status !== 'pass' && f === 0) failed += 1;
    kernels.push({ kernel: r.label, verdict: r.report.status, seconds: Math.round(r.timings.totalMs / 100) / 10, release: r.release, checks });
  }
  for (const s of result.setupFailures) {
    failed += 1;
    kernels.push({ kernel: s.label, verdict: 'setup-failed', seconds: 0, release: '', checks: [{ name: 'setup', status: 'fail', seconds: null, detail: s.error }] });
  }
  return { passed, failed, skipped, ok: result.ok, kernels };
}
