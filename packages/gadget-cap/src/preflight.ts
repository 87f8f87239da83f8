/**
 * Checks made before touching the kernel, so the common failures get a message that says what to
 * do instead of an errno from deep inside a load.
 */
import { SyscallError, TsbpfError, capgetEffective } from '@tsbpf/loader';

const CAP_SYS_ADMIN = 21;
const CAP_PERFMON = 38;
const CAP_BPF = 39;

/** The process lacks the privileges to load and attach tracing programs. */
export class InsufficientPrivilegesError extends TsbpfError {
  constructor(detail: string, options?: { cause?: unknown }) {
    super(
      'INSUFFICIENT_PRIVILEGES',
      `${detail}. trace-capabilities loads BPF tracing programs: run it as root (sudo), or grant CAP_BPF and CAP_PERFMON (plus CAP_SYS_ADMIN on kernels before 5.8), e.g. sudo setcap cap_bpf,cap_perfmon+ep "$(command -v node)"`,
      options,
    );
  }
}

/** The effective capability mask of this process (capget(2)), undefined if it cannot be read. */
export function effectiveCapabilityMask(): bigint | undefined {
  return capgetEffective();
}

/**
 * Throws {@link InsufficientPrivilegesError} when the effective set has neither CAP_SYS_ADMIN nor
 * CAP_BPF with CAP_PERFMON. Does nothing when the mask cannot be read (the load will tell).
 */
export function checkPrivileges(): void {
  const mask = effectiveCapabilityMask();
  if (mask === undefined) return;
  const has = (cap: number): boolean => ((mask >> BigInt(cap)) & 1n) === 1n;
  if (has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON))) return;
  const missing = [!has(CAP_BPF) && 'CAP_BPF', !has(CAP_PERFMON) && 'CAP_PERFMON'].filter(Boolean).join(' and ');
  const who = typeof process.getuid === 'function' && process.getuid() !== 0 ? 'not running as root' : 'running as root without the needed capabilities';
  throw new InsufficientPrivilegesError(`${who}: missing ${missing} (effective set 0x${mask.toString(16)})`);
}

/** A load/attach failure with EPERM/EACCES turned into {@link InsufficientPrivilegesError}, others unchanged. */
export function explainLoadError(err: unknown): unknown {
  if (err instanceof SyscallError && (err.errnoName === 'EPERM' || err.errnoName === 'EACCES') && !err.log) {
    const mask = effectiveCapabilityMask();
    const privileged = mask !== undefined && ((mask >> BigInt(CAP_SYS_ADMIN)) & 1n) === 1n;
    if (!privileged) return new InsufficientPrivilegesError(`the kernel refused: ${err.message}`, { cause: err });
  }
  return err;
}
