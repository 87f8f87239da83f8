// SPDX-License-Identifier: GPL-2.0
//
// Time spent in bpf(2), for the benchmarks' user/kernel split. Built by the bench script (clang-19)
// into bench/.build/; not committed. x86_64 only (the syscall number and the register of the first
// argument below).
//
//   bpf_enter  SEC("tp_btf/sys_enter"): a bpf(2) call of a child process of `parent_tgid` (the
//              bench orchestrator, set before it starts any traced child; it runs one at a time)
//              records its command and, last of all, the time, keyed by thread.
//   bpf_exit   SEC("tp_btf/sys_exit"): the same thread's next exit ends the span (a thread makes
//              one syscall at a time); its length and one call are added to `totals[cmd]`.
//
// The span is the command's time in the kernel, from the end of the entry tracepoint to the start
// of the exit one: the syscall entry and exit paths themselves, and the two programs, are outside
// it; time the thread spends preempted inside the call is in it. Both sides of a comparison are
// measured the same way, in runs of their own (the programs slow every syscall of the machine
// while attached, so timed runs are never traced).

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#define NR_BPF 321 /* __NR_bpf on x86_64 */
#define MAX_CMD 64

struct pending {
	__u64 start_ns;
	__u32 cmd;
	__u32 tgid; /* a thread id reused by a later process must not end an old span */
};

struct total {
	__u64 ns;
	__u64 calls;
};

/* The process whose children are followed (0: none). */
__u32 parent_tgid;

/* LRU: an entry left by a thread that never came back (killed inside the call) is evicted. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32); /* thread id */
	__type(value, struct pending);
} pending SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_CMD);
	__type(key, __u32); /* bpf(2) command */
	__type(value, struct total);
} totals SEC(".maps");

SEC("tp_btf/sys_enter")
int BPF_PROG(bpf_enter, struct pt_regs *regs, long id)
{
	if (id != NR_BPF || parent_tgid == 0)
		return 0;
	struct task_struct *task = bpf_get_current_task_btf();
	if (task->real_parent->tgid != parent_tgid)
		return 0;
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid;
	struct pending p = { .cmd = (__u32)regs->di, .tgid = pid_tgid >> 32 };
	if (p.cmd >= MAX_CMD)
		return 0;
	bpf_map_update_elem(&pending, &tid, &p, BPF_ANY);
	/* The clock is read last, so the map update above is not part of the span. */
	struct pending *q = bpf_map_lookup_elem(&pending, &tid);
	if (q)
		q->start_ns = bpf_ktime_get_ns();
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(bpf_exit, struct pt_regs *regs, long ret)
{
	/* The clock is read first, so the lookups below are not part of the span. */
	__u64 now = bpf_ktime_get_ns();
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid;
	struct pending *p = bpf_map_lookup_elem(&pending, &tid);
	if (!p)
		return 0;
	__u32 cmd = p->cmd;
	__u64 start = p->start_ns;
	__u32 owner = p->tgid;
	bpf_map_delete_elem(&pending, &tid);
	struct total *t = bpf_map_lookup_elem(&totals, &cmd);
	if (!t || owner != (__u32)(pid_tgid >> 32) || start == 0 || now < start)
		return 0;
	__sync_fetch_and_add(&t->ns, now - start);
	__sync_fetch_and_add(&t->calls, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
