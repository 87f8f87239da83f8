/**
 * Program section names → program type, expected attach type and attach target, following the
 * conventions clang users write (`SEC("kprobe/do_sys_open")`, `SEC("tp_btf/sched_switch")`, …).
 * The table is data: one row per prefix, longest prefix wins.
 */
import { BPF_ATTACH_TYPE, BPF_PROG_TYPE } from '../sys/constants.js';

/** How a program of a section is attached; drives auto-attach in `link/`. */
export type AttachKind =
  | 'kprobe'
  | 'kretprobe'
  | 'kprobe_multi'
  | 'kretprobe_multi'
  | 'uprobe'
  | 'uretprobe'
  | 'tracepoint'
  | 'raw_tracepoint'
  | 'tracing'
  | 'lsm'
  | 'perf_event'
  | 'xdp'
  | 'tc'
  | 'cgroup'
  | 'socket'
  | 'iter'
  | 'syscall'
  | 'none';

/** What a section name says about its programs. */
export interface SectionDefinition {
  /** `BPF_PROG_TYPE_*`. */
  type: number;
  /** `BPF_*` attach type passed as expected_attach_type, 0 if none. */
  expectedAttachType: number;
  /** The part after the prefix (function, tracepoint `category/name`, …), if any. */
  attachTarget: string | undefined;
  /** How to attach it. */
  attachKind: AttachKind;
  /** Loaded with BPF_F_SLEEPABLE (`.s` suffix). */
  sleepable: boolean;
  /** Needs `attach_btf_id` resolved against kernel BTF at load. */
  needsBtfTarget: boolean;
}

interface Row {
  prefix: string;
  type: number;
  attach?: number;
  kind: AttachKind;
  btf?: boolean;
  /** Prefix must be followed by '/' (or be the whole name). */
  exact?: boolean;
}

const P = BPF_PROG_TYPE;
const A = BPF_ATTACH_TYPE;

const ROWS: readonly Row[] = [
  { prefix: 'kprobe.multi', type: P.KPROBE, attach: A.TRACE_KPROBE_MULTI, kind: 'kprobe_multi' },
  { prefix: 'kretprobe.multi', type: P.KPROBE, attach: A.TRACE_KPROBE_MULTI, kind: 'kretprobe_multi' },
  { prefix: 'kprobe', type: P.KPROBE, kind: 'kprobe' },
  { prefix: 'kretprobe', type: P.KPROBE, kind: 'kretprobe' },
  { prefix: 'ksyscall', type: P.KPROBE, kind: 'kprobe' },
  { prefix: 'kretsyscall', type: P.KPROBE, kind: 'kretprobe' },
  { prefix: 'uprobe', type: P.KPROBE, kind: 'uprobe' },
  { prefix: 'uretprobe', type: P.KPROBE, kind: 'uretprobe' },
  { prefix: 'tracepoint', type: P.TRACEPOINT, kind: 'tracepoint' },
  { prefix: 'tp', type: P.TRACEPOINT, kind: 'tracepoint', exact: true },
  { prefix: 'raw_tracepoint.w', type: P.RAW_TRACEPOINT_WRITABLE, kind: 'raw_tracepoint' },
  { prefix: 'raw_tp.w', type: P.RAW_TRACEPOINT_WRITABLE, kind: 'raw_tracepoint' },
  { prefix: 'raw_tracepoint', type: P.RAW_TRACEPOINT, kind: 'raw_tracepoint' },
  { prefix: 'raw_tp', type: P.RAW_TRACEPOINT, kind: 'raw_tracepoint' },
  { prefix: 'tp_btf', type: P.TRACING, attach: A.TRACE_RAW_TP, kind: 'tracing', btf: true },
  { prefix: 'fentry', type: P.TRACING, attach: A.TRACE_FENTRY, kind: 'tracing', btf: true },
  { prefix: 'fexit', type: P.TRACING, attach: A.TRACE_FEXIT, kind: 'tracing', btf: true },
  { prefix: 'fmod_ret', type: P.TRACING, attach: A.MODIFY_RETURN, kind: 'tracing', btf: true },
  { prefix: 'iter', type: P.TRACING, attach: A.TRACE_ITER, kind: 'iter', btf: true },
  { prefix: 'lsm', type: P.LSM, attach: A.LSM_MAC, kind: 'lsm', btf: true },
  { prefix: 'lsm_cgroup', type: P.LSM, attach: A.LSM_CGROUP, kind: 'lsm', btf: true },
  { prefix: 'perf_event', type: P.PERF_EVENT, kind: 'perf_event' },
  { prefix: 'xdp.frags', type: P.XDP, attach: A.XDP, kind: 'xdp' },
  { prefix: 'xdp', type: P.XDP, attach: A.XDP, kind: 'xdp' },
  { prefix: 'tcx/ingress', type: P.SCHED_CLS, attach: A.TCX_INGRESS, kind: 'tc' },
  { prefix: 'tcx/egress', type: P.SCHED_CLS, attach: A.TCX_EGRESS, kind: 'tc' },
  { prefix: 'tc/ingress', type: P.SCHED_CLS, attach: A.TCX_INGRESS, kind: 'tc' },
  { prefix: 'tc/egress', type: P.SCHED_CLS, attach: A.TCX_EGRESS, kind: 'tc' },
  { prefix: 'tc', type: P.SCHED_CLS, kind: 'tc' },
  { prefix: 'classifier', type: P.SCHED_CLS, kind: 'tc' },
  { prefix: 'action', type: P.SCHED_ACT, kind: 'tc' },
  { prefix: 'socket', type: P.SOCKET_FILTER, kind: 'socket' },
  { prefix: 'sk_skb', type: P.SK_SKB, kind: 'none' },
  { prefix: 'sk_msg', type: P.SK_MSG, attach: A.SK_MSG_VERDICT, kind: 'none' },
  { prefix: 'cgroup_skb/ingress', type: P.CGROUP_SKB, attach: A.CGROUP_INET_INGRESS, kind: 'cgroup' },
  { prefix: 'cgroup_skb/egress', type: P.CGROUP_SKB, attach: A.CGROUP_INET_EGRESS, kind: 'cgroup' },
  { prefix: 'cgroup/skb', type: P.CGROUP_SKB, kind: 'cgroup' },
  { prefix: 'cgroup/sock_create', type: P.CGROUP_SOCK, attach: A.CGROUP_INET_SOCK_CREATE, kind: 'cgroup' },
  { prefix: 'cgroup/sock_release', type: P.CGROUP_SOCK, attach: A.CGROUP_INET_SOCK_RELEASE, kind: 'cgroup' },
  { prefix: 'cgroup/sock', type: P.CGROUP_SOCK, attach: A.CGROUP_INET_SOCK_CREATE, kind: 'cgroup' },
  { prefix: 'cgroup/connect4', type: P.CGROUP_SOCK_ADDR, attach: A.CGROUP_INET4_CONNECT, kind: 'cgroup' },
  { prefix: 'cgroup/connect6', type: P.CGROUP_SOCK_ADDR, attach: A.CGROUP_INET6_CONNECT, kind: 'cgroup' },
  { prefix: 'cgroup/sysctl', type: P.CGROUP_SYSCTL, attach: A.CGROUP_SYSCTL, kind: 'cgroup' },
  { prefix: 'cgroup/dev', type: P.CGROUP_DEVICE, attach: A.CGROUP_DEVICE, kind: 'cgroup' },
  { prefix: 'sockops', type: P.SOCK_OPS, attach: A.CGROUP_SOCK_OPS, kind: 'cgroup' },
  { prefix: 'syscall', type: P.SYSCALL, kind: 'syscall' },
];

/**
 * Interpret a program section name. Returns undefined for names no row matches (the caller
 * reports it with the section name).
 */
export function parseSectionName(section: string): SectionDefinition | undefined {
  let best: Row | undefined;
  for (const row of ROWS) {
    const matches = section === row.prefix || section.startsWith(row.prefix + '/') || (!row.exact && section.startsWith(row.prefix + '.s') && row.kind !== 'kprobe_multi' && (section === row.prefix + '.s' || section.startsWith(row.prefix + '.s/')));
    if (matches && (!best || row.prefix.length > best.prefix.length)) best = row;
  }
  if (!best) return undefined;
  let rest = section.slice(best.prefix.length);
  // Syscall programs are always sleepable (the kernel refuses them otherwise).
  const sleepable = rest.startsWith('.s') || best.kind === 'syscall';
  if (rest.startsWith('.s')) rest = rest.slice(2);
  const attachTarget = rest.startsWith('/') && rest.length > 1 ? rest.slice(1) : undefined;
  return {
    type: best.type,
    expectedAttachType: best.attach ?? 0,
    attachTarget,
    attachKind: best.kind,
    sleepable,
    needsBtfTarget: best.btf ?? false,
  };
}
