// SPDX-License-Identifier: GPL-2.0
//
// trace_capabilities: reports every capability check the kernel makes
// (cap_capable()), with the capability, whether the task had it, whether the
// check is audited, the syscall that caused it and optional stacks.
//
// One source, three attach strategies (bpf/README.md, "trace_capabilities"):
//   trace_capabilities.bpf.o         kprobe + kretprobe on cap_capable
//   trace_capabilities_fentry.bpf.o  fentry + fexit on cap_capable
//   trace_capabilities_tp.bpf.o      tp_btf/cap_capable (kernel >= 6.14)
// All three have the same programs, maps and program-map interactions: the
// entry half (ig_trace_cap_e) filters and remembers the arguments in `start`,
// the exit half (ig_trace_cap_x) adds the result and emits the event.
//
// tsbpf-variant lines (read by scripts/build-bpf.mjs):
// tsbpf-variant: fentry -DTRACE_CAP_FENTRY
// tsbpf-variant: tp -DTRACE_CAP_TP_BTF

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#include <gadget/macros.h>
#include <gadget/types.h>
#include <gadget/common.h>
#include <gadget/filter.h>
#include <gadget/buffer.h>
#include <gadget/stack.h>

// cap_capable()'s `opts` bits, include/linux/security.h (kernel >= 5.1).
#define CAP_OPT_NOAUDIT (1U << 1)
#define CAP_OPT_INSETID (1U << 2)

// Value of `audit`, `insetid` and the remembered opts when the attach point
// does not expose cap_capable()'s opts (the tp_btf variant).
#define CAP_UNKNOWN (-1)

#define FOR_EACH_CAPABILITY(X)                                              \
	X(CAP_CHOWN) X(CAP_DAC_OVERRIDE) X(CAP_DAC_READ_SEARCH) X(CAP_FOWNER) \
	X(CAP_FSETID) X(CAP_KILL) X(CAP_SETGID) X(CAP_SETUID) X(CAP_SETPCAP)  \
	X(CAP_LINUX_IMMUTABLE) X(CAP_NET_BIND_SERVICE) X(CAP_NET_BROADCAST)   \
	X(CAP_NET_ADMIN) X(CAP_NET_RAW) X(CAP_IPC_LOCK) X(CAP_IPC_OWNER)      \
	X(CAP_SYS_MODULE) X(CAP_SYS_RAWIO) X(CAP_SYS_CHROOT)                  \
	X(CAP_SYS_PTRACE) X(CAP_SYS_PACCT) X(CAP_SYS_ADMIN) X(CAP_SYS_BOOT)   \
	X(CAP_SYS_NICE) X(CAP_SYS_RESOURCE) X(CAP_SYS_TIME)                   \
	X(CAP_SYS_TTY_CONFIG) X(CAP_MKNOD) X(CAP_LEASE) X(CAP_AUDIT_WRITE)    \
	X(CAP_AUDIT_CONTROL) X(CAP_SETFCAP) X(CAP_MAC_OVERRIDE)               \
	X(CAP_MAC_ADMIN) X(CAP_SYSLOG) X(CAP_WAKE_ALARM)                      \
	X(CAP_BLOCK_SUSPEND) X(CAP_AUDIT_READ) X(CAP_PERFMON) X(CAP_BPF)      \
	X(CAP_CHECKPOINT_RESTORE)

// Capability numbers, in uapi order (CAP_CHOWN = 0 ... CAP_CHECKPOINT_RESTORE
// = 40). The runtime prints the enumerator name of cap_raw.
enum capability {
#define CAP_ENUMERATOR(c) c,
	FOR_EACH_CAPABILITY(CAP_ENUMERATOR)
#undef CAP_ENUMERATOR
};

// One bit per capability: an enum whose name ends in "_set" is printed as
// the names of its set bits joined by '|'. Enumerators carry a "CAP_SET__"
// prefix (C forbids reusing the names of enum capability); the runtime drops
// everything up to the first "__", so bit CAP_SYS_ADMIN prints "CAP_SYS_ADMIN".
// No ": __u64" here: clang-19 then emits a 32-bit-style BTF enum that loses the
// bits from 32 up; with 1ULL values and no fixed type it emits a proper ENUM64.
enum cap_set {
#define CAP_SET_ENUMERATOR(c) CAP_SET__##c = 1ULL << c,
	FOR_EACH_CAPABILITY(CAP_SET_ENUMERATOR)
#undef CAP_SET_ENUMERATOR
};

struct cap_event {
	gadget_timestamp timestamp_raw;
	struct gadget_process proc;

	__u64 current_userns;	// user ns inode of the task's real credentials
	__u64 target_userns;	// user ns inode the capability is checked in
	enum cap_set cap_effective; // the task's effective set at the check
	enum capability cap_raw;	// the capability checked
	bool capable;		// true when the check succeeded (ret == 0)
	int audit;		// 1 audited, 0 CAP_OPT_NOAUDIT, -1 unknown (tp variant)
	int insetid;		// 1 CAP_OPT_INSETID, 0 not, -1 unknown (tp variant)
	gadget_syscall syscall_raw; // syscall in progress, (u64)-1 if none/unknown
	gadget_kernel_stack kstack_raw;
	gadget_user_stack ustack_raw;
};

GADGET_TRACER_MAP(events, 256 * 1024);
GADGET_TRACER(capabilities, events, cap_event);

// Only checks the kernel would audit (not CAP_OPT_NOAUDIT). Has no effect in
// the tp variant, which cannot see the opts.
const volatile bool audit_only = false;
GADGET_PARAM(audit_only);

// Report a capability once per mount namespace.
const volatile bool unique = false;
GADGET_PARAM(unique);

// Arguments remembered between the two halves of one check, keyed by
// pid_tgid (a thread makes one capability check at a time).
struct cap_args {
	__u64 current_userns;
	__u64 target_userns;
	__u64 cap_effective;
	int cap;
	int cap_opt; // CAP_UNKNOWN in the tp variant
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u64);
	__type(value, struct cap_args);
} start SEC(".maps");

struct unique_key {
	int cap;
	gadget_mntns_id mntns_id;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, struct unique_key);
	__type(value, __u64);
} seen SEC(".maps");

struct syscall_context {
	__u64 nr; // syscall number from raw_tracepoint/sys_enter
};

// Syscall in progress per thread (key: tid). Filled on sys_enter, removed on
// sys_exit, and on exec/exit where sys_exit is skipped or runs on another tid.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32);
	__type(value, struct syscall_context);
} current_syscall SEC(".maps");

// Entry half, shared by the three variants. cap_opt is CAP_UNKNOWN when the
// attach point does not provide it.
static __always_inline int on_cap_entry(const struct cred *cred,
					struct user_namespace *targ_ns,
					int cap, int cap_opt)
{
	struct task_struct *task;
	struct cap_args args = {};
	__u64 pid_tgid;

	if (gadget_should_discard_current())
		return 0;

	task = (struct task_struct *)bpf_get_current_task();
	// A check against overridden credentials (override_creds(), e.g.
	// overlayfs copy-up or nfsd) is the kernel acting for itself, not the
	// task exercising its own capabilities: skip it.
	if (cred != BPF_CORE_READ(task, real_cred))
		return 0;

	if (audit_only && cap_opt != CAP_UNKNOWN && (cap_opt & CAP_OPT_NOAUDIT))
		return 0;

	if (unique) {
		struct unique_key key = {
			.cap = cap,
			.mntns_id = gadget_current_mntns_id(),
		};
		__u64 one = 1;

		if (bpf_map_lookup_elem(&seen, &key))
			return 0;
		bpf_map_update_elem(&seen, &key, &one, BPF_ANY);
	}

	args.current_userns = BPF_CORE_READ(task, real_cred, user_ns, ns.inum);
	args.target_userns = BPF_CORE_READ(targ_ns, ns.inum);
	// kernel_cap_t is { u64 val } since 6.3 and { u32 cap[2] } before:
	// both are 8 bytes with bit n = capability n on little endian, so an
	// 8-byte read of the field is right on every kernel.
	BPF_CORE_READ_INTO(&args.cap_effective, task, real_cred, cap_effective);
	args.cap = cap;
	args.cap_opt = cap_opt;

	pid_tgid = bpf_get_current_pid_tgid();
	bpf_map_update_elem(&start, &pid_tgid, &args, BPF_ANY);
	return 0;
}

// The syscall the current thread is in, or (u64)-1 when unknown. The entry
// sys_enter left in current_syscall is trusted only when it still matches the
// syscall number the task's user registers hold (orig_ax on x86-64, the only
// target these objects are built for; set at syscall entry):
// where the kernel skips program runs (7.x runs syscall tracepoint programs
// preemptibly and skips a run while another task's run is preempted on the same
// CPU), a missed sys_exit followed by a missed sys_enter leaves the previous
// syscall's entry behind, which would name the wrong syscall. Kernels without
// bpf_task_pt_regs (before 5.15) cannot check and take the entry as it is.
static __always_inline __u64 current_syscall_nr(__u32 tid)
{
	struct syscall_context *sc;

	sc = bpf_map_lookup_elem(&current_syscall, &tid);
	if (!sc)
		return (__u64)-1;
	if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_task_pt_regs)) {
		struct pt_regs *regs;

		regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
		if (BPF_CORE_READ(regs, orig_ax) != sc->nr)
			return (__u64)-1;
	}
	return sc->nr;
}

// Exit half: ret is cap_capable()'s return value (0 or -EPERM). cap is the
// checked capability when the hook sees it (fexit, tp variant), else -1
// (kretprobe, which has only the return value).
static __always_inline int on_cap_exit(void *ctx, long ret, int cap)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid;
	struct cap_event *event;
	struct cap_args *ap;

	ap = bpf_map_lookup_elem(&start, &pid_tgid);
	if (!ap)
		return 0; // entry filtered out or missed

	// An entry for another capability is a leftover: its exit half was missed
	// (a skipped run), or in the tp variant the halves ran out of order. This
	// check's own entry half was missed too, so it cannot be reported: drop
	// the leftover rather than report its capability with this result.
	if (cap >= 0 && ap->cap != cap)
		goto cleanup;

	event = gadget_reserve_buf(events, sizeof(*event));
	if (!event)
		goto cleanup;
	__builtin_memset(event, 0, sizeof(*event));

	gadget_process_populate(&event->proc);
	event->current_userns = ap->current_userns;
	event->target_userns = ap->target_userns;
	event->cap_effective = ap->cap_effective;
	event->cap_raw = ap->cap;
	event->capable = ret == 0;
	if (ap->cap_opt == CAP_UNKNOWN) {
		event->audit = CAP_UNKNOWN;
		event->insetid = CAP_UNKNOWN;
	} else {
		event->audit = (ap->cap_opt & CAP_OPT_NOAUDIT) == 0;
		event->insetid = (ap->cap_opt & CAP_OPT_INSETID) != 0;
	}
	event->kstack_raw = gadget_get_kernel_stack(ctx);
	event->ustack_raw = gadget_get_user_stack(ctx);
	event->timestamp_raw = bpf_ktime_get_boot_ns();

	event->syscall_raw = current_syscall_nr(tid);

	gadget_submit_buf(ctx, events, event, sizeof(*event));

cleanup:
	bpf_map_delete_elem(&start, &pid_tgid);
	return 0;
}

#if defined(TRACE_CAP_FENTRY)

// int cap_capable(const struct cred *cred, struct user_namespace *ns,
//                 int cap, unsigned int opts)
SEC("fentry/cap_capable")
int BPF_PROG(ig_trace_cap_e, const struct cred *cred,
	     struct user_namespace *targ_ns, int cap, unsigned int opts)
{
	return on_cap_entry(cred, targ_ns, cap, (int)opts);
}

SEC("fexit/cap_capable")
int BPF_PROG(ig_trace_cap_x, const struct cred *cred,
	     struct user_namespace *targ_ns, int cap, unsigned int opts, int ret)
{
	return on_cap_exit(ctx, ret, cap);
}

#elif defined(TRACE_CAP_TP_BTF)

// trace_cap_capable(cred, target_ns, capable_ns, cap, ret) fires once per
// check, after the decision (kernel >= 6.14). Both halves attach to it; the
// runtime must attach ig_trace_cap_e first: probes of one tracepoint run in
// attach order, so the entry half has filled `start` when the exit half runs.
SEC("tp_btf/cap_capable")
int BPF_PROG(ig_trace_cap_e, const struct cred *cred,
	     struct user_namespace *target_ns,
	     const struct user_namespace *capable_ns, int cap, int ret)
{
	return on_cap_entry(cred, target_ns, cap, CAP_UNKNOWN);
}

SEC("tp_btf/cap_capable")
int BPF_PROG(ig_trace_cap_x, const struct cred *cred,
	     struct user_namespace *target_ns,
	     const struct user_namespace *capable_ns, int cap, int ret)
{
	return on_cap_exit(ctx, ret, cap);
}

#else

SEC("kprobe/cap_capable")
int BPF_KPROBE(ig_trace_cap_e, const struct cred *cred,
	       struct user_namespace *targ_ns, int cap, unsigned int opts)
{
	return on_cap_entry(cred, targ_ns, cap, (int)opts);
}

SEC("kretprobe/cap_capable")
int BPF_KRETPROBE(ig_trace_cap_x, int ret)
{
	return on_cap_exit(ctx, ret, -1);
}

#endif

// raw_tracepoint/sys_enter: args = (struct pt_regs *regs, long id).
SEC("raw_tracepoint/sys_enter")
int ig_cap_sys_enter(struct bpf_raw_tracepoint_args *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct syscall_context sc = {};

	if (gadget_should_discard_current())
		return 0;

	sc.nr = ctx->args[1];
	bpf_map_update_elem(&current_syscall, &tid, &sc, BPF_ANY);
	return 0;
}

SEC("raw_tracepoint/sys_exit")
int ig_cap_sys_exit(struct bpf_raw_tracepoint_args *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	bpf_map_delete_elem(&current_syscall, &tid);
	return 0;
}

// A successful execve from a non-leader thread finishes as the leader, so
// sys_exit sees another tid: clean up under the thread id that entered.
SEC("tracepoint/sched/sched_process_exec")
int ig_cap_sched_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	__u32 tid = ctx->old_pid;

	bpf_map_delete_elem(&current_syscall, &tid);
	return 0;
}

// exit() and exit_group() never reach sys_exit.
SEC("tracepoint/sched/sched_process_exit")
int ig_cap_sched_exit(void *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	bpf_map_delete_elem(&current_syscall, &tid);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
