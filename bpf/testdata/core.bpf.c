// SPDX-License-Identifier: GPL-2.0
/*
 * CO-RE test object for tsbpf: every relocation kind clang emits, against local "flavoured"
 * types whose layout deliberately differs from the kernel's, with results written to .bss so the
 * test can compare them with values it computes from the running kernel's BTF.
 *
 * Run with BPF_PROG_TEST_RUN: the ctx is 4 u64 "args" holding the bytes of a struct tcphdr.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

/* Fields reordered against the kernel's task_struct, plus one that no kernel has. */
struct task_struct___mine {
	int tgid;
	int pid;
	int tsbpf_no_such_field;
} __attribute__((preserve_access_index));

/* task_struct.state was renamed to __state in 5.14. */
struct task_struct___old {
	long state;
} __attribute__((preserve_access_index));

struct task_struct___new {
	unsigned int __state;
} __attribute__((preserve_access_index));

/* TYPE_MATCHES: the first agrees with the kernel on names, kinds, sizes and signedness; the second not. */
struct task_struct___matches {
	int pid;
	int tgid;
} __attribute__((preserve_access_index));

struct task_struct___nomatch {
	long pid;
} __attribute__((preserve_access_index));

struct tsbpf_not_in_kernel {
	int x;
} __attribute__((preserve_access_index));

/* Bitfields at other places than in the kernel's struct tcphdr (doff sits at bit 100 there). */
struct tcphdr___mine {
	__u32 pad;
	__u16 doff : 4;
	__u16 syn : 1;
} __attribute__((preserve_access_index));

/* A local copy of enum bpf_func_id with made-up values and a helper no kernel has. */
enum bpf_func_id___mine {
	BPF_FUNC_ringbuf_reserve___mine = 7,
	BPF_FUNC_tsbpf_not_a_helper___mine = 9,
};

__u64 out_ran;
__s64 out_pid;
__s64 out_tgid;
__s64 out_missing;
__u64 out_missing_exists;
__u64 out_state_old_exists;
__u64 out_state_new_exists;
__u64 out_doff_probed;
__u64 out_syn_probed;
__u64 out_doff_direct;
__u64 out_syn_direct;
__u64 out_task_exists;
__u64 out_fake_exists;
__u64 out_task_size;
__u64 out_task_type_id;
__u64 out_pid_offset;
__u64 out_pid_size;
__u64 out_pid_signed;
__u64 out_rb_exists;
__u64 out_rb_value;
__u64 out_rb_value_mine;
__u64 out_fake_helper_exists;
__u64 out_matches;
__u64 out_nomatch;

SEC("raw_tp/sys_enter")
int core_probe(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct___mine *t = (void *)bpf_get_current_task();
	union {
		__u64 raw[4];
		struct tcphdr___mine th;
	} hdr;
	/* Access through a pointer so the CO-RE root is tcphdr___mine, not the anonymous union. */
	struct tcphdr___mine *th = &hdr.th;

	/* moved fields, read through bpf_probe_read_kernel */
	out_pid = BPF_CORE_READ(t, pid);
	out_tgid = BPF_CORE_READ(t, tgid);

	/* a missing field: the guarded read is poisoned but never reached */
	out_missing_exists = bpf_core_field_exists(t->tsbpf_no_such_field);
	if (bpf_core_field_exists(t->tsbpf_no_such_field))
		out_missing = BPF_CORE_READ(t, tsbpf_no_such_field);
	else
		out_missing = -1;

	/* a renamed field */
	out_state_old_exists = bpf_core_field_exists(((struct task_struct___old *)t)->state);
	out_state_new_exists = bpf_core_field_exists(((struct task_struct___new *)t)->__state);

	/* bitfields, from a stack copy of the ctx bytes */
	hdr.raw[0] = ctx->args[0];
	hdr.raw[1] = ctx->args[1];
	hdr.raw[2] = ctx->args[2];
	hdr.raw[3] = ctx->args[3];
	out_doff_probed = BPF_CORE_READ_BITFIELD_PROBED(th, doff);
	out_syn_probed = BPF_CORE_READ_BITFIELD_PROBED(th, syn);
	out_doff_direct = BPF_CORE_READ_BITFIELD(th, doff);
	out_syn_direct = BPF_CORE_READ_BITFIELD(th, syn);

	/* type relocations */
	out_task_exists = bpf_core_type_exists(struct task_struct___mine);
	out_fake_exists = bpf_core_type_exists(struct tsbpf_not_in_kernel);
	out_task_size = bpf_core_type_size(struct task_struct___mine);
	out_task_type_id = bpf_core_type_id_kernel(struct task_struct___mine);
	out_matches = bpf_core_type_matches(struct task_struct___matches);
	out_nomatch = bpf_core_type_matches(struct task_struct___nomatch);

	/* field information */
	out_pid_offset = bpf_core_field_offset(t->pid);
	out_pid_size = bpf_core_field_size(t->pid);
	out_pid_signed = __builtin_preserve_field_info(t->pid, BPF_FIELD_SIGNED);

	/* enumerators */
	out_rb_exists = bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_ringbuf_reserve);
	out_rb_value = bpf_core_enum_value(enum bpf_func_id, BPF_FUNC_ringbuf_reserve);
	out_rb_value_mine = bpf_core_enum_value(enum bpf_func_id___mine, BPF_FUNC_ringbuf_reserve___mine);
	out_fake_helper_exists = bpf_core_enum_value_exists(enum bpf_func_id___mine, BPF_FUNC_tsbpf_not_a_helper___mine);

	out_ran = 1;
	return 0;
}

/* Reads the missing field unguarded: its poisoned instruction is reachable, so the verifier
 * rejects the program and the loader must explain which relocation failed. Not autoloaded by
 * the tests that run core_probe. */
SEC("raw_tp/sys_exit")
int core_poison_reached(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct___mine *t = (void *)bpf_get_current_task();

	out_missing = BPF_CORE_READ(t, tsbpf_no_such_field);
	return 0;
}
