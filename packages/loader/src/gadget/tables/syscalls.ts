/**
 * System call number → name, for the architectures tsbpf runs gadgets on. Names are rendered the
 * way Inspektor Gadget's syscall formatter prints them: `SYS_` + the upper-cased kernel name
 * (`SYS_SETPRIORITY`), and `SYS_UNKNOWN` for a number the table does not know (including the -1 a
 * gadget stores when no syscall was in progress).
 */
import { ARM64_SYSCALLS, X86_64_SYSCALLS } from './syscalls.generated.js';

/** Architectures with a syscall table, named as `process.arch` names them. */
export type SyscallArch = 'x64' | 'arm64';

/** The name IG prints for a number it cannot resolve. */
export const UNKNOWN_SYSCALL = 'SYS_UNKNOWN';

function tableFor(arch: string): readonly string[] | undefined {
  switch (arch) {
    case 'x64':
    case 'x86_64':
      return X86_64_SYSCALLS;
    case 'arm64':
    case 'aarch64':
      return ARM64_SYSCALLS;
    default:
      return undefined;
  }
}

function index(nr: number | bigint): number {
  if (typeof nr === 'bigint') return nr >= 0n && nr < 0x7fffffffn ? Number(nr) : -1;
  return Number.isInteger(nr) && nr >= 0 ? nr : -1;
}

/**
 * The kernel's own name of syscall `nr` on `arch` (`'setpriority'`), or `undefined` when unknown.
 * `arch` accepts `process.arch` values and the kernel's names (`x86_64`, `aarch64`).
 */
export function syscallKernelName(nr: number | bigint, arch: string = process.arch): string | undefined {
  const table = tableFor(arch);
  const i = index(nr);
  if (!table || i < 0 || i >= table.length) return undefined;
  return table[i] || undefined;
}

/** `SYS_SETPRIORITY`-style name of syscall `nr` on `arch`, or {@link UNKNOWN_SYSCALL}. */
export function syscallName(nr: number | bigint, arch: string = process.arch): string {
  const name = syscallKernelName(nr, arch);
  return name === undefined ? UNKNOWN_SYSCALL : `SYS_${name.toUpperCase()}`;
}

/**
 * The number of syscall `name` on `arch`: accepts `openat`, `OPENAT` and `SYS_OPENAT`.
 * Returns `undefined` when the architecture has no such syscall.
 */
export function syscallNumber(name: string, arch: string = process.arch): number | undefined {
  const table = tableFor(arch);
  if (!table) return undefined;
  const want = name.replace(/^SYS_/i, '').toLowerCase();
  const i = table.indexOf(want);
  return i < 0 || want === '' ? undefined : i;
}

/** True when a syscall table exists for `arch`. */
export function hasSyscallTable(arch: string = process.arch): boolean {
  return tableFor(arch) !== undefined;
}
