/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tsbpf gadget conventions: kernel and user stack traces.
 *
 * Events carry a stack *id* (gadget_kernel_stack / gadget_user_stack, see
 * types.h); the frames stay in the STACK_TRACE maps ig_kstack and ig_ustack,
 * where the runtime looks them up (value: gadget_stack_max_depth u64
 * instruction pointers, zero padded) and symbolises them with kallsyms or
 * the process' mappings.
 *
 * Two parameters switch collection: collect_kstack (default from
 * GADGET_COLLECT_KSTACK_DEFAULT, on unless the gadget says otherwise) and
 * collect_ustack (default off).
 */
#ifndef __TSBPF_GADGET_STACK_H
#define __TSBPF_GADGET_STACK_H

#include <bpf/bpf_helpers.h>
#include <gadget/macros.h>
#include <gadget/types.h>

/*
 * Frames per stack. 127 is the kernel's default perf_event_max_stack sysctl,
 * the largest depth a STACK_TRACE map accepts by default.
 */
#ifndef GADGET_STACK_MAX_DEPTH
#define GADGET_STACK_MAX_DEPTH 127
#endif
#ifndef GADGET_STACK_MAP_ENTRIES
#define GADGET_STACK_MAP_ENTRIES 10000
#endif
#ifndef GADGET_COLLECT_KSTACK_DEFAULT
#define GADGET_COLLECT_KSTACK_DEFAULT true
#endif

/*
 * Depth the stack maps were built for. Not a parameter: the runtime reads it
 * to decode map values, and may lower it together with the maps' value_size
 * (depth * 8) before load to save memory; the kernel fills at most
 * value_size / 8 frames.
 */
const volatile __u32 gadget_stack_max_depth = GADGET_STACK_MAX_DEPTH;

const volatile bool collect_kstack = GADGET_COLLECT_KSTACK_DEFAULT;
GADGET_PARAM(collect_kstack);
const volatile bool collect_ustack = false;
GADGET_PARAM(collect_ustack);

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, GADGET_STACK_MAP_ENTRIES);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, GADGET_STACK_MAX_DEPTH * sizeof(__u64));
} ig_kstack SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, GADGET_STACK_MAP_ENTRIES);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, GADGET_STACK_MAX_DEPTH * sizeof(__u64));
} ig_ustack SEC(".maps");

/* Kernel stack id of the current context, or GADGET_STACK_DISABLED / -errno. */
static __always_inline gadget_kernel_stack gadget_get_kernel_stack(void *ctx)
{
	if (!collect_kstack)
		return GADGET_STACK_DISABLED;
	return bpf_get_stackid(ctx, &ig_kstack, BPF_F_FAST_STACK_CMP);
}

/* User stack id of the current task, or GADGET_STACK_DISABLED / -errno. */
static __always_inline gadget_user_stack gadget_get_user_stack(void *ctx)
{
	if (!collect_ustack)
		return GADGET_STACK_DISABLED;
	return bpf_get_stackid(ctx, &ig_ustack,
			       BPF_F_USER_STACK | BPF_F_FAST_STACK_CMP);
}

#endif /* __TSBPF_GADGET_STACK_H */
