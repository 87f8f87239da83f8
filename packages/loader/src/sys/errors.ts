/**
 * The error thrown when a system call fails: the errno by number and name, the call, and a message
 * that says what the errno usually means for that call.
 */
import { TsbpfError } from '../errors.js';
import { ERRNO, errnoInfo } from './errno.js';
import { capgetEffective } from './ffi.js';

/** Extra details for a {@link SyscallError}. */
export interface SyscallErrorOptions {
  /** What the caller was doing, appended to the message (`map "events"`, `program "handle_exec"`). */
  readonly context?: string;
  /** The verifier or BTF log, when the call wrote one. */
  readonly log?: string;
  /** Underlying cause. */
  readonly cause?: unknown;
}

function uid(): number | undefined {
  return typeof process.getuid === 'function' ? process.getuid() : undefined;
}

/** Capabilities BPF work needs, by bit number in the capability mask. */
const BPF_CAPABILITIES: readonly [string, number][] = [
  ['CAP_BPF', 39],
  ['CAP_PERFMON', 38],
  ['CAP_SYS_ADMIN', 21],
  ['CAP_NET_ADMIN', 12],
];

/** Which of {@link BPF_CAPABILITIES} this process lacks (undefined if its capabilities cannot be read). */
function missingCapabilities(): string[] | undefined {
  const eff = capgetEffective();
  if (eff === undefined) return undefined;
  return BPF_CAPABILITIES.filter(([, bit]) => ((eff >> BigInt(bit)) & 1n) === 0n).map(([name]) => name);
}

/** The capability a syscall needs, named after the call (`bpf(...)` → CAP_BPF, perf → CAP_PERFMON). */
function capabilityFor(syscall: string): string {
  if (syscall.startsWith('perf_event_open') || syscall.includes('PERF_EVENT_IOC')) return 'CAP_PERFMON (or CAP_SYS_ADMIN)';
  if (syscall.startsWith('bpf(')) return 'CAP_BPF (plus CAP_PERFMON/CAP_NET_ADMIN for some program types)';
  return 'CAP_SYS_ADMIN';
}

/** The words this library puts after the errno name, for the errnos bpf(2) and perf use for something specific. */
function explain(errno: number, syscall: string): string | undefined {
  switch (errno) {
    case ERRNO.EPERM: {
      const u = uid();
      const missing = missingCapabilities();
      if (missing && missing.length > 0) return `needs ${capabilityFor(syscall)}; this process lacks ${missing.join(', ')} (uid ${u ?? 'unknown'})`;
      if (missing) return `denied although this process holds CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN and CAP_NET_ADMIN (uid ${u ?? 'unknown'}): kernel lockdown or an LSM forbids it`;
      if (u === 0) return `denied even as root (uid 0): kernel lockdown, an LSM, or a missing ${capabilityFor(syscall)} in this namespace`;
      return `needs ${capabilityFor(syscall)} (running as uid ${u ?? 'unknown'})`;
    }
    case ERRNO.EACCES:
      return 'refused by the verifier or by permissions on the object';
    case ERRNO.E2BIG:
      // The verifier's own E2BIG: a program over its instruction or complexity limit.
      if (syscall === 'bpf(BPF_PROG_LOAD)') return 'program too large or too complex for the verifier (see its log), or a field this kernel does not know';
      return syscall.startsWith('bpf(')
        ? 'kernel does not know a field of this command (too new for this kernel)'
        : 'attribute structure too large for this kernel';
    case ERRNO.EINVAL:
      return 'the kernel rejected an attribute (unknown type or flag, bad size, or a field this command does not take)';
    case ERRNO.ENOENT:
      return 'no such element, object or attach point';
    case ERRNO.ENOSPC:
      return 'no space left: the map is full, or the log buffer is too small';
    case ERRNO.ENOMEM:
      return 'the kernel could not allocate memory (map too large, or memlock/memcg limit reached)';
    case ERRNO.EBADF:
      return 'the file descriptor is closed or not of the expected kind';
    case ERRNO.EEXIST:
      return 'the element or pin path already exists';
    case ERRNO.EBUSY:
      return 'the target is busy (something else is already attached)';
    case ERRNO.ENOTSUPP:
    case ERRNO.EOPNOTSUPP:
      return 'not supported by this kernel or for this object type';
    case ERRNO.EFAULT:
      return 'the kernel could not read or write a buffer passed by address';
    case ERRNO.EAGAIN:
      return syscall.includes('PROG_LOAD')
        ? 'verification was interrupted by signals on every attempt (SIGINT, SIGTERM, SIGHUP or SIGQUIT, or a stream of signals): nothing was found wrong with the program; try again'
        : undefined;
    default:
      return undefined;
  }
}

/** Keeps messages readable when a verifier log is attached: only its last lines go into the message. */
function logTail(log: string, lines = 6): string {
  const all = log.replace(/\0+$/, '').trimEnd().split('\n');
  return all.slice(-lines).join('\n');
}

/**
 * A failed system call. `errno`/`errnoName` say how it failed, `syscall` which call (`bpf(BPF_MAP_CREATE)`,
 * `perf_event_open`, `ioctl(PERF_EVENT_IOC_SET_BPF)`), and `log` carries the verifier/BTF log when one
 * was requested.
 */
export class SyscallError extends TsbpfError {
  /** The errno number. */
  readonly errno: number;
  /** The errno's symbolic name, e.g. `EPERM`. */
  readonly errnoName: string;
  /** Which call failed, e.g. `bpf(BPF_PROG_LOAD)`. */
  readonly syscall: string;
  /** What the caller was doing, if it said. */
  readonly context: string | undefined;
  /** The verifier or BTF log written by the failed call, if any. */
  readonly log: string | undefined;

  constructor(syscall: string, errno: number, options: SyscallErrorOptions = {}) {
    const info = errnoInfo(errno);
    const why = explain(errno, syscall) ?? info.description;
    let message = `${syscall} failed: ${info.name}: ${why}`;
    if (options.context) message += ` (${options.context})`;
    if (options.log && options.log.trim() !== '') message += `\nverifier log (tail):\n${logTail(options.log)}`;
    super('SYSCALL_ERROR', message, options.cause === undefined ? undefined : { cause: options.cause });
    this.errno = errno;
    this.errnoName = info.name;
    this.syscall = syscall;
    this.context = options.context;
    this.log = options.log;
  }

  /** The same error with `context` added to its message (callers add the object name they were working on). */
  withContext(context: string): SyscallError {
    const joined = this.context ? `${this.context}; ${context}` : context;
    return new SyscallError(this.syscall, this.errno, { context: joined, log: this.log, cause: this.cause });
  }
}

/** True when `err` is a {@link SyscallError} with errno `errno`. */
export function isErrno(err: unknown, errno: number): err is SyscallError {
  return err instanceof SyscallError && err.errno === errno;
}
