/**
 * Traffic-control programs via tcx (`BPF_TCX_INGRESS`/`BPF_TCX_EGRESS` links, kernel 6.6+). Kernels
 * without tcx would need a netlink clsact qdisc and a cls_bpf filter, which this library does not
 * implement: they get a NotSupportedError.
 */
import { BPF_ATTACH_TYPE, BPF_F_ATTACH, linkCreate, type Fd } from '../sys/index.js';
import { AttachNotSupportedError } from './errors.js';
import { errnoIs, explainAttachError } from './internal.js';
import { BpfLink } from './link.js';
import { resolveInterface } from './xdp.js';

/** Options of {@link attachTcx}. */
export interface TcxOptions {
  /** Run before (`BPF_F_BEFORE`) or after (`BPF_F_AFTER`) the program or link `anchor`. */
  readonly before?: Fd;
  readonly after?: Fd;
}

/** Attach a SCHED_CLS program to the ingress or egress hook of `iface`. */
export function attachTcx(prog: Fd, iface: number | string, direction: 'ingress' | 'egress', options: TcxOptions = {}): BpfLink {
  const ifindex = resolveInterface(iface);
  const attachType = direction === 'ingress' ? BPF_ATTACH_TYPE.TCX_INGRESS : BPF_ATTACH_TYPE.TCX_EGRESS;
  const anchor = options.before ?? options.after;
  const flags = options.before ? BPF_F_ATTACH.BEFORE : options.after ? BPF_F_ATTACH.AFTER : 0;
  try {
    return new BpfLink(`tcx/${direction}`, linkCreate({ progFd: prog, targetIfindex: ifindex, attachType, flags, ...(anchor ? { tcxRelative: { fd: anchor } } : {}) }));
  } catch (err) {
    if (errnoIs(err, 'EINVAL') && !anchor) {
      throw new AttachNotSupportedError(`tcx links (kernel 6.6+) are not available here, and attaching through a netlink clsact qdisc is not implemented`, { cause: err });
    }
    throw explainAttachError(err, `attaching tcx ${direction} program to ${iface}`);
  }
}
