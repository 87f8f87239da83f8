/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tsbpf gadget conventions: sending records to user space.
 *
 * Output maps are declared with GADGET_TRACER_MAP (macros.h) as ring buffers.
 * Each helper below asks the *kernel's* BTF, through a CO-RE enum relocation,
 * whether the ring buffer helpers exist:
 *   yes: bpf_ringbuf_reserve / _submit / _discard / _output on the map;
 *   no:  the loader has turned the map into a PERF_EVENT_ARRAY, records are
 *        built in the per-CPU gadget_heap slot and sent with
 *        bpf_perf_event_output(BPF_F_CURRENT_CPU).
 * The relocation makes the unused branch dead code, so the verifier never
 * sees a ring buffer helper on a perf map or the reverse.
 *
 * Failures (ring full, perf output error) increment gadget_drops_<map> in
 * .bss, which the runtime reads through the mmapped .bss and reports as lost
 * records.
 *
 * Usage (map passed by *name*, not by address):
 *   struct ev *e = gadget_reserve_buf(events, sizeof(*e));
 *   if (!e) return 0;
 *   ... fill every field ...
 *   gadget_submit_buf(ctx, events, e, sizeof(*e));
 */
#ifndef __TSBPF_GADGET_BUFFER_H
#define __TSBPF_GADGET_BUFFER_H

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <gadget/macros.h>

/* Size of the per-CPU scratch record used on perf-buffer kernels. */
#ifndef GADGET_MAX_EVENT_SIZE
#define GADGET_MAX_EVENT_SIZE 8192
#endif

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, GADGET_MAX_EVENT_SIZE);
} gadget_heap SEC(".maps");

/*
 * Set by the loader (before load) to send records through the perf buffer even on
 * kernels that have the ring buffer, e.g. to test the fallback. .rodata is frozen and
 * read-only for programs, so the verifier prunes the path not taken.
 */
const volatile bool gadget_output_perf = false;

#define gadget_has_ringbuf() \
	(bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_ringbuf_reserve) && !gadget_output_perf)

static __always_inline void gadget_count_drop(__u64 *drops)
{
	__sync_fetch_and_add(drops, 1);
}

static __always_inline void *__gadget_reserve_buf(void *map, __u64 *drops,
						  __u64 size)
{
	__u32 zero = 0;

	if (gadget_has_ringbuf()) {
		void *rec = bpf_ringbuf_reserve(map, size, 0);

		if (!rec)
			gadget_count_drop(drops);
		return rec;
	}
	if (size > GADGET_MAX_EVENT_SIZE)
		return NULL;
	return bpf_map_lookup_elem(&gadget_heap, &zero);
}

static __always_inline long __gadget_submit_buf(void *ctx, void *map,
						__u64 *drops, void *buf,
						__u64 size)
{
	long err;

	if (gadget_has_ringbuf()) {
		bpf_ringbuf_submit(buf, 0);
		return 0;
	}
	err = bpf_perf_event_output(ctx, map, BPF_F_CURRENT_CPU, buf, size);
	if (err)
		gadget_count_drop(drops);
	return err;
}

/* Gives back a record from gadget_reserve_buf() without sending it. */
static __always_inline void gadget_discard_buf(void *buf)
{
	if (gadget_has_ringbuf())
		bpf_ringbuf_discard(buf, 0);
}

/* Copies an already built record (e.g. on the stack) into the output. */
static __always_inline long __gadget_output_buf(void *ctx, void *map,
						__u64 *drops, void *buf,
						__u64 size)
{
	long err;

	if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_ringbuf_output))
		err = bpf_ringbuf_output(map, buf, size, 0);
	else
		err = bpf_perf_event_output(ctx, map, BPF_F_CURRENT_CPU, buf, size);
	if (err)
		gadget_count_drop(drops);
	return err;
}

#define gadget_reserve_buf(map, size) \
	__gadget_reserve_buf(&map, &gadget_drops_##map, size)
#define gadget_submit_buf(ctx, map, buf, size) \
	__gadget_submit_buf(ctx, &map, &gadget_drops_##map, buf, size)
#define gadget_output_buf(ctx, map, buf, size) \
	__gadget_output_buf(ctx, &map, &gadget_drops_##map, buf, size)

#endif /* __TSBPF_GADGET_BUFFER_H */
