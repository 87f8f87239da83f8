/**
 * One command in one kernel: prepare the kernel, build the initramfs around the command, boot qemu,
 * stream its console with a `[label] ` prefix and read the verdict from the guest's result lines.
 *
 * @packageDocumentation
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { cacheRoot, loadKernels, repoRoot, selectKernels, type KernelEntry } from './config.js';
import { buildInitramfs, findStaticBusybox, initScript, INIT_MARKER } from './initramfs.js';
import { ensureKernel, fetchCost } from './kernels.js';
import { PrerequisiteError } from './prereq.js';
import { detectAccel, qemuArgs, runQemu } from './qemu.js';
import { parseGuestOutput, testsFromVitestJson, withExtraTests, type GuestReport } from './result.js';

/** Options of {@link runInVm}. */
export interface RunInVmOptions {
  /** A label from kernels.json (`6.1`) or an entry. */
  readonly kernel: string | KernelEntry;
  /** argv of the command, run in the host root inside the guest. */
  readonly command: readonly string[];
  /** Kill the VM after this long (default 600 s). */
  readonly timeoutMs?: number;
  /** Working directory of the command (default: this process's cwd). */
  readonly cwd?: string;
  /** Extra environment for the guest command. */
  readonly env?: Readonly<Record<string, string>>;
  /** Called with every cleaned console line (without prefix). */
  readonly onLine?: (line: string) => void;
  /** Progress messages (downloads, boot). */
  readonly log?: (s: string) => void;
  /** Choose the newest kernel again even if one is cached (indexes must be fresh). */
  readonly refresh?: boolean;
  /** Guest memory, overriding kernels.json. */
  readonly memory?: string;
  /**
   * Host folders the guest may write to, changes discarded (overlay on tmpfs). Default: the
   * repository root, so tools that write caches into the tree work; `[]` keeps all read-only.
   */
  readonly writable?: readonly string[];
}

/** What one VM run produced. */
export interface VmRunResult {
  readonly label: string;
  readonly release: string;
  readonly report: GuestReport;
  /** Host folder the guest could write (`$VMTEST_RESULTS` inside the guest). */
  readonly resultsDir: string;
  readonly accel: 'kvm' | 'tcg';
  readonly timings: {
    /** qemu spawn → init's first line (firmware + kernel boot). */
    readonly bootMs: number | null;
    /** Guest uptime from init start to the command's start (modules, mounts). */
    readonly setupMs: number | null;
    /** Guest uptime spent in the command. */
    readonly commandMs: number | null;
    /** qemu spawn → `VMTEST-DONE` (boot-to-result). */
    readonly toResultMs: number | null;
    /** qemu spawn → exit. */
    readonly totalMs: number;
  };
  readonly qemuStderr: string;
  /** Download size and download+extract time when this process fetched the kernel. */
  readonly fetch?: { readonly bytes: number; readonly ms: number };
}

/** Environment every guest command gets; colours off so output parses. */
export function guestEnv(label: string, release: string, resultsDir: string, extra: Readonly<Record<string, string>> = {}): Record<string, string> {
  const passthrough: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && (k.startsWith('TSBPF_') || k === 'CI' || k.startsWith('VMTEST_CHECK'))) passthrough[k] = v;
  }
  return {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin',
    HOME: '/tmp',
    TERM: 'dumb',
    LANG: 'C.UTF-8',
    NO_COLOR: '1',
    FORCE_COLOR: '0',
    ...passthrough,
    VMTEST: '1',
    VMTEST_KERNEL: label,
    VMTEST_RELEASE: release,
    VMTEST_RESULTS: resultsDir,
    TSBPF_REPORT: resultsDir,
    ...extra,
  };
}

/** Boots `opts.kernel` and runs `opts.command` in it; never throws for guest failures, only for setup. */
export async function runInVm(opts: RunInVmOptions): Promise<VmRunResult> {
  const entry = typeof opts.kernel === 'string' ? selectKernels(loadKernels(), [opts.kernel])[0] : opts.kernel;
  if (entry === undefined) throw new Error(`unknown kernel ${String(opts.kernel)}`);
  const prepared = await ensureKernel(entry, { refresh: opts.refresh, log: opts.log });
  const busybox = findStaticBusybox();
  if (busybox === undefined) throw new PrerequisiteError('no static busybox (apt-get install busybox-static)');

  const runDir = join(cacheRoot(), 'run', entry.label);
  const resultsDir = join(cacheRoot(), 'results', entry.label);
  rmSync(resultsDir, { recursive: true, force: true });
  mkdirSync(resultsDir, { recursive: true });
  mkdirSync(runDir, { recursive: true });
  const m = prepared.manifest;
  const required = new Set(m.modules.filter((n) => !entry.optionalModules.includes(n)));
  const init = initScript({
    modules: m.modules.filter((n) => required.has(n)),
    optionalModules: m.modules.filter((n) => !required.has(n)),
    command: opts.command,
    cwd: opts.cwd ?? process.cwd(),
    env: guestEnv(entry.label, m.release, resultsDir, opts.env),
    resultsDir,
    overlays: (opts.writable ?? [repoRoot()]).map((d) => resolve(d)),
  });
  const initrd = join(runDir, 'initrd.cpio');
  writeFileSync(
    initrd,
    buildInitramfs({
      busybox: readFileSync(busybox),
      modules: m.modules.map((name) => ({ name, data: readFileSync(join(prepared.dir, 'modules', `${name}.ko`)) })),
      init,
      ...(existsSync(join(prepared.dir, 'config')) ? { kconfig: readFileSync(join(prepared.dir, 'config')) } : {}),
    }),
  );
  const accel = detectAccel();
  const args = qemuArgs({
    // The PVH ELF skips in-guest decompression; VMTEST_BZIMAGE=1 boots the packaged image instead.
    kernel: join(prepared.dir, m.vmlinux !== undefined && process.env.VMTEST_BZIMAGE !== '1' ? m.vmlinux : m.vmlinuz),
    initrd,
    cmdline: entry.cmdline,
    memory: opts.memory ?? entry.memory,
    accel,
    hostRoot: '/',
    resultsDir,
  });
  writeFileSync(join(runDir, 'qemu.args.json'), `${JSON.stringify(args, null, 2)}\n`);
  opts.log?.(`vmtest: [${entry.label}] booting ${m.release} (${accel})`);
  const exit = await runQemu(args, {
    timeoutMs: opts.timeoutMs ?? 600_000,
    onLine: opts.onLine,
    firstMarker: INIT_MARKER,
  });
  let report = parseGuestOutput(exit.lines, { timedOut: exit.timedOut });
  // vitest JSON reports the guest wrote (TSBPF_REPORT) become rows of the matrix too.
  for (const name of readdirSync(resultsDir).filter((n) => n.endsWith('.json')).sort()) {
    report = withExtraTests(report, testsFromVitestJson(readFileSync(join(resultsDir, name), 'utf8'), repoRoot()));
  }
  writeFileSync(join(runDir, 'console.log'), `${exit.lines.join('\n')}\n`);
  const span = (a: number | null, b: number | null): number | null => (a !== null && b !== null ? Math.round((b - a) * 1000) : null);
  return {
    label: entry.label,
    release: report.release ?? m.release,
    report,
    resultsDir,
    accel,
    timings: {
      bootMs: exit.msToFirstMarker === null ? null : Math.round(exit.msToFirstMarker),
      setupMs: span(report.initUptime, report.startUptime),
      commandMs: span(report.startUptime, report.endUptime),
      toResultMs: exit.msToDone === null ? null : Math.round(exit.msToDone),
      totalMs: Math.round(exit.ms),
    },
    qemuStderr: exit.stderr,
    ...(fetchCost(m.release) !== undefined ? { fetch: fetchCost(m.release) } : {}),
  };
}
