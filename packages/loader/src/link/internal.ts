/** Helpers shared by the attach functions; not part of the public API (the barrel does not export them). */
import { SyscallError } from '../sys/errors.js';
import { AttachError, AttachNotSupportedError } from './errors.js';

/** Runs every step even when one throws, then rethrows the first error. */
export function runAll(steps: readonly (() => void)[]): void {
  let first: unknown;
  let failed = false;
  for (const step of steps) {
    try {
      step();
    } catch (err) {
      if (!failed) {
        failed = true;
        first = err;
      }
    }
  }
  if (failed) throw first;
}

/** True for an errno-carrying failure with one of `names`. */
export function errnoIs(err: unknown, ...names: string[]): err is SyscallError {
  return err instanceof SyscallError && names.includes(err.errnoName);
}

/**
 * Rewrites a syscall failure of an attach into a message naming the target and the likely cause:
 * EPERM → capabilities or lockdown, ENOENT/EINVAL on a named function → not traceable.
 */
export function explainAttachError(err: unknown, what: string): unknown {
  if (!(err instanceof SyscallError)) return err;
  switch (err.errnoName) {
    case 'EPERM':
    case 'EACCES':
      return new AttachError(`${what}: ${err.errnoName}: needs CAP_PERFMON/CAP_BPF (or CAP_SYS_ADMIN); as root this means kernel lockdown or an LSM refused it`, { cause: err });
    case 'EOPNOTSUPP':
    case 'ENOTSUPP':
      return new AttachNotSupportedError(`${what}: the kernel does not support this attachment (${err.errnoName})`, { cause: err });
    default:
      return new AttachError(`${what}: ${err.message}`, { cause: err });
  }
}
