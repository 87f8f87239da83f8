// SPDX-License-Identifier: GPL-2.0
//
// vmtest testdata: one counting program per attach kind. Each program counts the events of the
// process whose tgid is `target_tgid` (const volatile, set on the spec before load) into its own
// .bss counter; the guest check triggers them with a known number of system calls:
//
//   getppid()        on_kprobe, on_kretprobe (kprobe/kretprobe on the syscall entry point
//                    __x64_sys_getppid), on_tp_btf and on_raw_tp (sys_enter with id 110),
//                    on_tracepoint (syscalls/sys_enter_getppid)
//   setpriority()    on_fentry, on_fexit (security_task_setnice: __x64_sys_getppid is in kallsyms
//                    but not in the BTF of the 5.10 and 6.1 kernels, SYSCALL_DEFINE0 wrappers have
//                    no BTF there), on_lsm (lsm/task_setnice)
//   a libc symbol    on_uprobe (attached by the check; counts per tgid in the hash `uprobe_hits`,
//                    so a child's hits can be told apart from anyone else's)
//
// Plain increments, no atomics: the guests have one CPU, and atomic instructions other than
// BPF_XADD need 5.12 (this object must load on 5.10).

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#define NR_GETPPID 110 /* x86-64 */

const volatile __u32 target_tgid = 0;

__u64 hits_kprobe = 0;
__u64 hits_kretprobe = 0;
__u64 hits_fentry = 0;
__u64 hits_fexit = 0;
__u64 hits_tp_btf = 0;
__u64 hits_raw_tp = 0;
__u64 hits_tracepoint = 0;
__u64 hits_lsm = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u64);
} uprobe_hits SEC(".maps");

static __always_inline int mine(void)
{
	return (bpf_get_current_pid_tgid() >> 32) == target_tgid;
}

SEC("kprobe/__x64_sys_getppid")
int on_kprobe(struct pt_regs *ctx)
{
	if (mine())
		hits_kprobe++;
	return 0;
}

SEC("kretprobe/__x64_sys_getppid")
int on_kretprobe(struct pt_regs *ctx)
{
	if (mine())
		hits_kretprobe++;
	return 0;
}

SEC("fentry/security_task_setnice")
int BPF_PROG(on_fentry, struct task_struct *p, int nice)
{
	if (mine())
		hits_fentry++;
	return 0;
}

SEC("fexit/security_task_setnice")
int BPF_PROG(on_fexit, struct task_struct *p, int nice, int ret)
{
	if (mine())
		hits_fexit++;
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(on_tp_btf, struct pt_regs *regs, long id)
{
	if (id == NR_GETPPID && mine())
		hits_tp_btf++;
	return 0;
}

SEC("raw_tp/sys_enter")
int on_raw_tp(struct bpf_raw_tracepoint_args *ctx)
{
	if (ctx->args[1] == NR_GETPPID && mine())
		hits_raw_tp++;
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int on_tracepoint(void *ctx)
{
	if (mine())
		hits_tracepoint++;
	return 0;
}

SEC("lsm/task_setnice")
int BPF_PROG(on_lsm, struct task_struct *p, int nice)
{
	if (mine())
		hits_lsm++;
	return 0;
}

SEC("uprobe")
int on_uprobe(struct pt_regs *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u64 one = 1, *n = bpf_map_lookup_elem(&uprobe_hits, &tgid);

	if (n)
		*n += 1;
	else
		bpf_map_update_elem(&uprobe_hits, &tgid, &one, BPF_NOEXIST);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
