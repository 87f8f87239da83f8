/**
 * Raw tracepoint programs (`SEC("raw_tracepoint/<name>")`, `raw_tp/<name>`): attached by name with
 * `BPF_RAW_TRACEPOINT_OPEN`, which returns a bpf_link.
 */
import { rawTracepointOpen, type Fd } from '../sys/index.js';
import { AttachError } from './errors.js';
import { errnoIs, explainAttachError } from './internal.js';
import { BpfLink } from './link.js';

/** Options of {@link attachRawTracepoint}. */
export interface RawTracepointOptions {
  /** bpf_cookie (kernel 6.10+). */
  readonly cookie?: bigint;
}

/** Attach a `BPF_PROG_TYPE_RAW_TRACEPOINT` program to the tracepoint `name` (e.g. `sys_enter`). */
export function attachRawTracepoint(prog: Fd, name: string, options: RawTracepointOptions = {}): BpfLink {
  try {
    return new BpfLink('raw_tracepoint', rawTracepointOpen(name, prog, options.cookie));
  } catch (err) {
    if (errnoIs(err, 'ENOENT')) throw new AttachError(`raw tracepoint ${name} does not exist in this kernel`, { cause: err });
    throw explainAttachError(err, `attaching raw tracepoint ${name}`);
  }
}
