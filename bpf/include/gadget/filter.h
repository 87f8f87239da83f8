/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tsbpf gadget conventions: event filters evaluated in the kernel.
 *
 * All filters are off by default. The runtime switches them on by rewriting
 * .rodata (GADGET_PARAM) and, for mount namespaces, by filling
 * gadget_mntns_filter_map before attaching.
 */
#ifndef __TSBPF_GADGET_FILTER_H
#define __TSBPF_GADGET_FILTER_H

#include <bpf/bpf_helpers.h>
#include <gadget/macros.h>
#include <gadget/types.h>
#include <gadget/common.h>

/* "no filter" value of the uid and gid filters (uid 0 is a real user). */
#define GADGET_INVALID_ID ((__u32)-1)

/*
 * Mount namespace filter: when gadget_filter_by_mntns is true, only tasks
 * whose mntns id is a key of gadget_mntns_filter_map pass. The value is
 * unused (write 0). Not a GADGET_PARAM: the runtime sets the flag itself
 * whenever it fills the map (e.g. from a container selection).
 */
const volatile bool gadget_filter_by_mntns = false;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, gadget_mntns_id);
	__type(value, __u32);
} gadget_mntns_filter_map SEC(".maps");

/* Process filters, in user-space terms. 0 / GADGET_INVALID_ID / "" = off. */
const volatile gadget_pid targ_pid = 0;
GADGET_PARAM(targ_pid);
const volatile gadget_tid targ_tid = 0;
GADGET_PARAM(targ_tid);
const volatile gadget_uid targ_uid = GADGET_INVALID_ID;
GADGET_PARAM(targ_uid);
const volatile gadget_gid targ_gid = GADGET_INVALID_ID;
GADGET_PARAM(targ_gid);
const volatile gadget_comm targ_comm[TASK_COMM_LEN] = {};
GADGET_PARAM(targ_comm);

static __always_inline bool gadget_should_discard_mntns_id(gadget_mntns_id id)
{
	if (!gadget_filter_by_mntns)
		return false;
	return bpf_map_lookup_elem(&gadget_mntns_filter_map, &id) == NULL;
}

static __always_inline bool gadget_should_discard_pid(gadget_pid pid)
{
	return targ_pid != 0 && targ_pid != pid;
}

static __always_inline bool gadget_should_discard_tid(gadget_tid tid)
{
	return targ_tid != 0 && targ_tid != tid;
}

static __always_inline bool gadget_should_discard_uid(gadget_uid uid)
{
	return targ_uid != GADGET_INVALID_ID && targ_uid != uid;
}

static __always_inline bool gadget_should_discard_gid(gadget_gid gid)
{
	return targ_gid != GADGET_INVALID_ID && targ_gid != gid;
}

/* Exact match on the whole TASK_COMM_LEN buffer (both NUL padded). */
static __always_inline bool gadget_should_discard_comm(const char *comm)
{
	if (targ_comm[0] == '\0')
		return false;
	for (int i = 0; i < TASK_COMM_LEN; i++) {
		if (comm[i] != targ_comm[i])
			return true;
		if (comm[i] == '\0')
			break;
	}
	return false;
}

/*
 * True when the current task fails any enabled filter. Cheap checks first;
 * helpers are only called for filters that are on.
 */
static __always_inline bool gadget_should_discard_current(void)
{
	if (gadget_should_discard_mntns_id(gadget_current_mntns_id()))
		return true;

	if (targ_pid != 0 || targ_tid != 0) {
		__u64 pid_tgid = bpf_get_current_pid_tgid();

		if (gadget_should_discard_pid(pid_tgid >> 32) ||
		    gadget_should_discard_tid((__u32)pid_tgid))
			return true;
	}

	if (targ_uid != GADGET_INVALID_ID || targ_gid != GADGET_INVALID_ID) {
		__u64 uid_gid = bpf_get_current_uid_gid();

		if (gadget_should_discard_uid((__u32)uid_gid) ||
		    gadget_should_discard_gid(uid_gid >> 32))
			return true;
	}

	if (targ_comm[0] != '\0') {
		char comm[TASK_COMM_LEN] = {};

		bpf_get_current_comm(comm, sizeof(comm));
		if (gadget_should_discard_comm(comm))
			return true;
	}

	return false;
}

#endif /* __TSBPF_GADGET_FILTER_H */
