/**
 * BTF-typed programs (`tp_btf/`, `fentry/`, `fexit/`, `fmod_ret/`, `lsm/`, `iter/` excluded): the target
 * was fixed at load time by `attach_btf_id`, so attaching names nothing. `BPF_LINK_CREATE` with the
 * program's expected attach type is used, falling back to `BPF_RAW_TRACEPOINT_OPEN(NULL)` on kernels
 * whose LINK_CREATE does not take tracing programs (< 5.11).
 */
import { BPF_ATTACH_TYPE, attachTypeName, linkCreate, rawTracepointOpen, type Fd } from '../sys/index.js';
import { AttachError } from './errors.js';
import { errnoIs, explainAttachError } from './internal.js';
import { BpfLink } from './link.js';

/** Options of {@link attachTracing}. */
export interface TracingOptions {
  /** bpf_cookie (fentry/fexit/lsm, kernel 5.19+). */
  readonly cookie?: bigint;
}

const KIND_BY_ATTACH: Record<number, string> = {
  [BPF_ATTACH_TYPE.TRACE_RAW_TP]: 'tp_btf',
  [BPF_ATTACH_TYPE.TRACE_FENTRY]: 'fentry',
  [BPF_ATTACH_TYPE.TRACE_FEXIT]: 'fexit',
  [BPF_ATTACH_TYPE.MODIFY_RETURN]: 'fmod_ret',
  [BPF_ATTACH_TYPE.LSM_MAC]: 'lsm',
};

/**
 * Attach a program loaded with `expected_attach_type` = `attachType` and an `attach_btf_id`
 * (tp_btf: BPF_TRACE_RAW_TP, fentry: BPF_TRACE_FENTRY, fexit, fmod_ret: BPF_MODIFY_RETURN, lsm: BPF_LSM_MAC).
 */
export function attachTracing(prog: Fd, attachType: number, options: TracingOptions = {}): BpfLink {
  const kind = KIND_BY_ATTACH[attachType] ?? attachTypeName(attachType) ?? `attach type ${attachType}`;
  try {
    return new BpfLink(kind, linkCreate({ progFd: prog, attachType, tracingCookie: options.cookie }));
  } catch (err) {
    if (!errnoIs(err, 'EINVAL') || options.cookie !== undefined) throw explainTracing(err, kind);
  }
  try {
    return new BpfLink(kind, rawTracepointOpen(null, prog));
  } catch (err) {
    throw explainTracing(err, kind);
  }
}

function explainTracing(err: unknown, kind: string): unknown {
  if (errnoIs(err, 'EPERM') && kind !== 'tp_btf') {
    return new AttachError(
      `attaching ${kind}: EPERM: BPF trampolines are refused; as root this is kernel lockdown (integrity/confidentiality) or an LSM, otherwise it needs CAP_BPF+CAP_PERFMON`,
      { cause: err },
    );
  }
  return explainAttachError(err, `attaching ${kind}`);
}

/** Attach a `tp_btf/<name>` program (loaded with BPF_TRACE_RAW_TP and the `btf_trace_<name>` id). */
export function attachTpBtf(prog: Fd, options: TracingOptions = {}): BpfLink {
  return attachTracing(prog, BPF_ATTACH_TYPE.TRACE_RAW_TP, options);
}

/** Attach an `fentry/` program. */
export function attachFentry(prog: Fd, options: TracingOptions = {}): BpfLink {
  return attachTracing(prog, BPF_ATTACH_TYPE.TRACE_FENTRY, options);
}

/** Attach an `fexit/` program. */
export function attachFexit(prog: Fd, options: TracingOptions = {}): BpfLink {
  return attachTracing(prog, BPF_ATTACH_TYPE.TRACE_FEXIT, options);
}

/** Attach an `lsm/` program (needs `bpf` in the active LSM list). */
export function attachLsm(prog: Fd, options: TracingOptions = {}): BpfLink {
  return attachTracing(prog, BPF_ATTACH_TYPE.LSM_MAC, options);
}

/** Guard for callers that only have a number: throws when it is not a tracing attach type. */
export function assertTracingAttachType(attachType: number): void {
  if (!(attachType in KIND_BY_ATTACH)) throw new AttachError(`attach type ${attachTypeName(attachType) ?? attachType} is not a BTF tracing attach type`);
}
