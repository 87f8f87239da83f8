/**
 * Traffic-control (SCHED_CLS) programs on an interface's ingress or egress hook, two ways:
 * - tcx: a `BPF_TCX_INGRESS`/`BPF_TCX_EGRESS` bpf_link (kernel 6.6+), ordered with before/after,
 *   pinnable, and gone when its last fd closes ({@link attachTcx});
 * - netlink: a clsact qdisc plus a direct-action cls_bpf filter added over rtnetlink, for older
 *   kernels; ordered by priority, not pinnable, and left in place if the process dies without
 *   closing it ({@link attachTcNetlink}, in tc_netlink.ts).
 * {@link attachTc} is the one entry: it uses tcx when the kernel has it (a feature probe, not a
 * version check) and netlink otherwise, and `mode` forces either.
 */
import { checkTcx } from '../features/index.js';
import { BPF_ATTACH_TYPE, BPF_F_ATTACH, BPF_PROG_TYPE, linkCreate, progInfo, progTypeName, type Fd } from '../sys/index.js';
import { AttachError, AttachNotSupportedError } from './errors.js';
import { errnoIs, explainAttachError } from './internal.js';
import { BpfLink, type Link } from './link.js';
import { attachTcNetlink, type TcDirection, type TcNetlinkOptions } from './tc_netlink.js';
import { resolveInterface } from './xdp.js';

/** Options of {@link attachTcx}. */
export interface TcxOptions {
  /** Run before (`BPF_F_BEFORE`) or after (`BPF_F_AFTER`) the program or link `anchor`. */
  readonly before?: Fd;
  readonly after?: Fd;
}

/** An AttachError naming the program's type when it is not SCHED_CLS; undefined when it is. */
function wrongProgramType(prog: Fd, what: string): AttachError | undefined {
  try {
    const info = progInfo(prog);
    if (info.type === BPF_PROG_TYPE.SCHED_CLS) return undefined;
    return new AttachError(`${what}: program ${info.name || info.id} is of type ${progTypeName(info.type) ?? info.type}; a tc program must be BPF_PROG_TYPE_SCHED_CLS`);
  } catch {
    return undefined; // not a program fd: the original error says more
  }
}

/**
 * Attach a SCHED_CLS program to the ingress or egress hook of `iface` with a tcx link (kernel 6.6+).
 * @throws AttachNotSupportedError when the kernel has no tcx (use {@link attachTc}, which falls back
 *   on netlink); AttachError for a missing interface or a program that is not SCHED_CLS.
 */
export function attachTcx(prog: Fd, iface: number | string, direction: TcDirection, options: TcxOptions = {}): BpfLink {
  const ifindex = resolveInterface(iface);
  const attachType = direction === 'ingress' ? BPF_ATTACH_TYPE.TCX_INGRESS : BPF_ATTACH_TYPE.TCX_EGRESS;
  const anchor = options.before ?? options.after;
  const flags = options.before ? BPF_F_ATTACH.BEFORE : options.after ? BPF_F_ATTACH.AFTER : 0;
  const what = `attaching tcx ${direction} program to ${iface}`;
  try {
    return new BpfLink(`tcx/${direction}`, linkCreate({ progFd: prog, targetIfindex: ifindex, attachType, flags, ...(anchor ? { tcxRelative: { fd: anchor } } : {}) }));
  } catch (err) {
    if (errnoIs(err, 'EINVAL')) {
      const wrong = wrongProgramType(prog, what);
      if (wrong) throw wrong;
      if (!checkTcx().supported) {
        throw new AttachNotSupportedError(`${what}: tcx links (kernel 6.6+) are not available here; attachTc falls back on a clsact qdisc and a cls_bpf filter`, { cause: err });
      }
    }
    if (errnoIs(err, 'ENODEV')) throw new AttachError(`${what}: network interface index ${ifindex} does not exist (ENODEV)`, { cause: err });
    throw explainAttachError(err, what);
  }
}

/** Options of {@link attachTc}. */
export interface TcOptions extends TcxOptions, TcNetlinkOptions {
  /**
   * `auto` (default): tcx when the kernel has it, netlink otherwise. `tcx` or `netlink` force one.
   * `before`/`after` need tcx; `priority`/`handle` apply to the netlink path only (with `auto` on a
   * tcx kernel they are ignored; with `tcx` they are refused).
   */
  readonly mode?: 'auto' | 'tcx' | 'netlink';
}

/**
 * Attach a SCHED_CLS program to the ingress or egress hook of `iface`: a tcx link where the kernel
 * has tcx, a clsact qdisc + cls_bpf filter over netlink otherwise (or as `options.mode` says). Both
 * run the program for every packet on the hook and honour its TC_ACT_* verdict.
 */
export function attachTc(prog: Fd, iface: number | string, direction: TcDirection, options: TcOptions = {}): Link {
  const mode = options.mode ?? 'auto';
  const useTcx = mode === 'tcx' || (mode === 'auto' && checkTcx().supported);
  if (useTcx) {
    if (mode === 'tcx' && (options.priority !== undefined || options.handle !== undefined)) {
      throw new AttachError(`tc priority/handle are cls_bpf filter settings; tcx links are ordered with before/after (use mode 'netlink' for a filter)`);
    }
    return attachTcx(prog, iface, direction, { before: options.before, after: options.after });
  }
  if (options.before || options.after) {
    throw new AttachNotSupportedError(`attaching tc ${direction} program to ${iface}: ordering before/after another program needs tcx links (kernel 6.6+); the netlink path orders by priority`);
  }
  return attachTcNetlink(prog, iface, direction, { priority: options.priority, handle: options.handle });
}
