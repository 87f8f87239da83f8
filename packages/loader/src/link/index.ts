/**
 * `link`: attaching loaded programs. One function per attach kind, each taking the program's fd and
 * returning a {@link Link} (close/dispose detaches): `attachKprobe`, `attachKprobeMulti`, `attachUprobe`,
 * `attachUprobeMulti`, `attachTracepoint`, `attachRawTracepoint`, `attachTracing` (tp_btf, fentry,
 * fexit, fmod_ret, lsm), `attachPerfEvent`, `attachXdp`, `attachTc` (tcx, or a clsact qdisc + cls_bpf
 * filter over netlink: `attachTcx`, `attachTcNetlink`), `attachCgroup`, and
 * `attachProgram`, which picks one from the ELF section name as libbpf's auto-attach does. Failures
 * are `AttachError` or `AttachNotSupportedError` (a `NotSupportedError`) with a message naming the cause.
 */
export * from './link.js';
export * from './errors.js';
export * from './tracefs.js';
export * from './probe.js';
export * from './perf_event.js';
export * from './kprobe.js';
export * from './uprobe.js';
export * from './tracepoint.js';
export * from './raw_tracepoint.js';
export * from './tracing.js';
export * from './xdp.js';
export * from './tc.js';
export * from './tc_netlink.js';
export * from './cgroup.js';
export * from './cgroup_path.js';
export * from './auto.js';
