// SPDX-License-Identifier: GPL-2.0
//
// vmtest testdata: kprobe_multi links (BPF_TRACE_KPROBE_MULTI, 5.18+ with CONFIG_FPROBE). Both
// programs count only the thread whose id is `target_tid` (const volatile, set before load): the
// guest check runs in a worker thread and makes a known number of system calls from it.
//
//   on_kprobe_multi     entry of every function matching __x64_sys_?etpriority (getpriority and
//                       setpriority), counted in total and per bpf_cookie, so one link to several
//                       functions with a cookie each shows which function each hit came from
//   on_kretprobe_multi  return of __x64_sys_getpriority: counts and sums the return values
//                       (20 - nice), which the check compares with the nice value it knows
//
// Syscalls with arguments on purpose: a SYSCALL_DEFINE0 wrapper (__x64_sys_getuid, getppid) is an
// alias of __do_sys_* on newer kernels, and ftrace's available_filter_functions — which globs and
// kprobe_multi resolve against — lists only the __do_sys_* name there.
//
// Plain increments, no atomics: the guests have one CPU.

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#define COOKIES 4

const volatile __u32 target_tid = 0;

__u64 multi_hits = 0;
__u64 cookie_hits[COOKIES] = {};
__u64 ret_hits = 0;
__u64 ret_sum = 0;

static __always_inline int mine(void)
{
	return (__u32)bpf_get_current_pid_tgid() == target_tid;
}

SEC("kprobe.multi/__x64_sys_?etpriority")
int on_kprobe_multi(struct pt_regs *ctx)
{
	__u64 cookie;

	if (!mine())
		return 0;
	multi_hits++;
	cookie = bpf_get_attach_cookie(ctx);
	if (cookie < COOKIES)
		cookie_hits[cookie]++;
	return 0;
}

SEC("kretprobe.multi/__x64_sys_getpriority")
int on_kretprobe_multi(struct pt_regs *ctx)
{
	if (!mine())
		return 0;
	ret_hits++;
	ret_sum += PT_REGS_RC(ctx);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
