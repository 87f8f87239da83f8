/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tsbpf gadget conventions: semantic field types.
 *
 * The runtime recognises these typedef *names* in the BTF of an event struct
 * and formats or enriches the field accordingly (bpf/README.md lists what it
 * does with each). The underlying C type is what is stored; never change a
 * width here without changing the runtime.
 */
#ifndef __TSBPF_GADGET_TYPES_H
#define __TSBPF_GADGET_TYPES_H

#ifndef TASK_COMM_LEN
#define TASK_COMM_LEN 16
#endif

/* Nanoseconds since boot, from bpf_ktime_get_boot_ns(); shown as wall time. */
typedef __u64 gadget_timestamp;

/* Inode number of a mount namespace (task->nsproxy->mnt_ns->ns.inum). */
typedef __u64 gadget_mntns_id;

/* Inode number of a network namespace. */
typedef __u32 gadget_netns_id;

/* User-space terms: pid = thread group id, tid = thread id. */
typedef __u32 gadget_pid;
typedef __u32 gadget_ppid;
typedef __u32 gadget_tid;

/* Numeric ids; the runtime may add the user/group name. */
typedef __u32 gadget_uid;
typedef __u32 gadget_gid;

/* Element types of task names: declare as gadget_comm comm[TASK_COMM_LEN]. */
typedef char gadget_comm;
typedef char gadget_pcomm;

/* Syscall number of the running architecture; (gadget_syscall)-1 = unknown. */
typedef __u64 gadget_syscall;

/*
 * Stack ids returned by bpf_get_stackid() into ig_kstack / ig_ustack
 * (stack.h). A value >= 0 is an id; a negative value means "no stack":
 * GADGET_STACK_DISABLED when collection is off, otherwise the -errno the
 * helper returned.
 */
typedef __s32 gadget_kernel_stack;
typedef __s32 gadget_user_stack;
#define GADGET_STACK_DISABLED (-1)

/* Positive errno value; the runtime adds the symbolic name (EPERM, ...). */
typedef __u32 gadget_errno;

/* Signal number; the runtime adds the name (SIGKILL, ...). */
typedef __u32 gadget_signal;

/* Linux capability number (CAP_CHOWN = 0, ...); the runtime adds the name. */
typedef __s32 gadget_capability;

struct gadget_creds {
	gadget_uid uid;
	gadget_gid gid;
};

struct gadget_parent {
	gadget_pcomm comm[TASK_COMM_LEN];
	gadget_ppid pid;
};

/*
 * The process an event happened in, filled by gadget_process_populate()
 * (common.h). The runtime flattens it to comm, pid, tid, uid, gid, mntns_id,
 * pcomm, ppid.
 */
struct gadget_process {
	gadget_comm comm[TASK_COMM_LEN];
	gadget_pid pid;
	gadget_tid tid;
	gadget_mntns_id mntns_id;
	struct gadget_creds creds;
	struct gadget_parent parent;
};

#endif /* __TSBPF_GADGET_TYPES_H */
