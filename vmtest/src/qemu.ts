/**
 * Starting qemu: the command line (TCG unless /dev/kvm is usable, host root over read-only 9p, a
 * writable results share, serial console on stdio), a per-VM timeout, and output streamed line by
 * line with a per-kernel prefix.
 *
 * @packageDocumentation
 */
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { SerialLineSplitter } from './result.js';

/** How to start one VM. */
export interface QemuOptions {
  readonly kernel: string;
  readonly initrd: string;
  readonly cmdline: string;
  readonly memory: string;
  readonly cpus?: number;
  /** `kvm` when /dev/kvm is usable, else `tcg` (see {@link detectAccel}). */
  readonly accel: 'kvm' | 'tcg';
  /** Host folder shared read-only as `hostroot` (normally `/`). */
  readonly hostRoot: string;
  /** Host folder shared writable as `results`. */
  readonly resultsDir?: string;
  readonly qemuBinary?: string;
}

/**
 * `tcg` unless `VMTEST_ACCEL=kvm` (or `auto` and /dev/kvm opens read-write). KVM is opt-in: on this
 * project's machines /dev/kvm exists but guests stall after decompression (nested virtualisation),
 * while TCG always works.
 */
export function detectAccel(): 'kvm' | 'tcg' {
  const forced = process.env.VMTEST_ACCEL;
  if (forced === 'kvm') return 'kvm';
  if (forced !== 'auto') return 'tcg';
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
    return 'kvm';
  } catch {
    return 'tcg';
  }
}

function virtfsPath(p: string): string {
  // qemu's option parser treats ',' as a separator; ',,' is a literal comma.
  return p.replaceAll(',', ',,');
}

/** The qemu-system-x86_64 argument vector for `o`. */
export function qemuArgs(o: QemuOptions): string[] {
  const args = [
    '-nodefaults',
    '-no-user-config',
    '-nographic',
    '-no-reboot',
    '-machine',
    o.accel === 'kvm' ? 'pc,accel=kvm' : 'pc,accel=tcg',
    '-cpu',
    o.accel === 'kvm' ? 'host,-arch-capabilities' : 'max',
    '-smp',
    String(o.cpus ?? 1),
    '-m',
    o.memory,
    '-kernel',
    o.kernel,
    '-initrd',
    o.initrd,
    '-append',
    o.cmdline,
    '-serial',
    'stdio',
    '-monitor',
    'none',
    '-virtfs',
    `local,path=${virtfsPath(o.hostRoot)},mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap`,
  ];
  if (o.resultsDir !== undefined) {
    args.push('-virtfs', `local,path=${virtfsPath(o.resultsDir)},mount_tag=results,security_model=none,multidevs=remap`);
  }
  return args;
}

/** How a VM run ended, as seen from the host. */
export interface QemuExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly timedOut: boolean;
  /** Cleaned console lines. */
  readonly lines: readonly string[];
  /** Wall time from spawn to exit. */
  readonly ms: number;
  /** Wall time from spawn to the first line matching `firstMarker`, and to `VMTEST-DONE`. */
  readonly msToFirstMarker: number | null;
  readonly msToDone: number | null;
  /** qemu's own stderr (command-line errors, 9p complaints). */
  readonly stderr: string;
}

/** qemu processes running now; killed when vmtest itself is interrupted, so no VM outlives it. */
const running = new Set<import('node:child_process').ChildProcess>();
let signalsHooked = false;

function hookSignals(): void {
  if (signalsHooked) return;
  signalsHooked = true;
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      for (const c of running) c.kill('SIGKILL');
      process.kill(process.pid, sig);
    });
  }
}

/**
 * Runs qemu until it exits or `timeoutMs` passes (then SIGKILL); calls `onLine` for every console
 * line. An interrupted vmtest (SIGINT/SIGTERM/SIGHUP) kills its VMs first.
 */
export function runQemu(
  args: readonly string[],
  opts: { timeoutMs: number; onLine?: (line: string) => void; qemuBinary?: string; firstMarker?: string },
): Promise<QemuExit> {
  const t0 = performance.now();
  const child = spawn(opts.qemuBinary ?? 'qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  hookSignals();
  running.add(child);
  const splitter = new SerialLineSplitter();
  const lines: string[] = [];
  let stderr = '';
  let timedOut = false;
  let msToFirstMarker: number | null = null;
  let msToDone: number | null = null;
  const take = (ls: string[]): void => {
    for (const l of ls) {
      if (msToFirstMarker === null && opts.firstMarker !== undefined && l.includes(opts.firstMarker)) {
        msToFirstMarker = performance.now() - t0;
      }
      if (msToDone === null && l.includes('VMTEST-DONE')) msToDone = performance.now() - t0;
      lines.push(l);
      opts.onLine?.(l);
    }
  };
  child.stdout.on('data', (c: Buffer) => take(splitter.push(c)));
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, opts.timeoutMs);
  return new Promise((resolve, reject) => {
    child.on('error', (e) => {
      clearTimeout(timer);
      running.delete(child);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      running.delete(child);
      take(splitter.flush());
      resolve({ code, signal, timedOut, lines, ms: performance.now() - t0, msToFirstMarker, msToDone, stderr });
    });
  });
}
