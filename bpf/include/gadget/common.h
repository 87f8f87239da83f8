/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tsbpf gadget conventions: facts about the current task, read with CO-RE so
 * one object works on every kernel with BTF.
 */
#ifndef __TSBPF_GADGET_COMMON_H
#define __TSBPF_GADGET_COMMON_H

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <gadget/types.h>

/* Mount namespace inode of the current task; 0 while it is exiting. */
static __always_inline gadget_mntns_id gadget_current_mntns_id(void)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	return BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
}

/*
 * Fills *p from the current task. Every field is written, so *p may be
 * uninitialised memory (a reserved ring buffer record, the per-CPU heap).
 */
static __always_inline void gadget_process_populate(struct gadget_process *p)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct task_struct *parent;
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 uid_gid = bpf_get_current_uid_gid();

	p->pid = pid_tgid >> 32;
	p->tid = (__u32)pid_tgid;
	p->creds.uid = (__u32)uid_gid;
	p->creds.gid = uid_gid >> 32;
	if (bpf_get_current_comm(p->comm, sizeof(p->comm)))
		p->comm[0] = '\0';
	p->mntns_id = BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);

	parent = BPF_CORE_READ(task, real_parent);
	if (!parent ||
	    bpf_core_read(p->parent.comm, sizeof(p->parent.comm), &parent->comm))
		__builtin_memset(p->parent.comm, 0, sizeof(p->parent.comm));
	p->parent.pid = parent ? BPF_CORE_READ(parent, tgid) : 0;
}

#endif /* __TSBPF_GADGET_COMMON_H */
