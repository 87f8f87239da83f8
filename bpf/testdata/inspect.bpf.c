// SPDX-License-Identifier: GPL-2.0
// Test object for the program–map interaction analysis (packages/loader/src/inspect).
// Each program exercises one way a map reaches a helper; the expected interactions are listed in
// packages/loader/test/inspect/object.test.ts. The object is only analysed, never loaded.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 128);
	__type(key, u32);
	__type(value, u64);
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 128);
	__type(key, u32);
	__type(value, u64);
} pending SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(u32));
	__uint(value_size, sizeof(u32));
} perf_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} ring SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(key_size, sizeof(u32));
	__uint(value_size, 127 * sizeof(u64));
	__uint(max_entries, 64);
} stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__type(key, u32);
	__type(value, u32);
} jump_table SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 16);
	__type(value, u64);
} queue SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} untouched SEC(".maps");

const volatile u32 target_tgid = 0; // .rodata
u64 hits = 0;                        // .bss

struct inspect_sample {
	u32 pid;
	u64 ts;
};

// A subprogram that receives the map as an argument. It is called with two different maps, so the
// compiler cannot fold the argument into a constant: the analysis must follow r1 into the callee.
static __noinline int bump(void *map, u32 key)
{
	u64 one = 1;
	u64 *v = bpf_map_lookup_elem(map, &key);

	if (v) {
		__sync_fetch_and_add(v, 1);
		return 0;
	}
	bpf_map_update_elem(map, &key, &one, BPF_ANY);
	return 1;
}

SEC("tracepoint/raw_syscalls/sys_enter")
int via_subprog(void *ctx)
{
	struct inspect_sample s = { .pid = (u32)bpf_get_current_pid_tgid(), .ts = bpf_ktime_get_ns() };

	bump(&counts, s.pid);
	bpf_perf_event_output(ctx, &perf_events, BPF_F_CURRENT_CPU, &s, sizeof(s));
	return 0;
}

SEC("tracepoint/raw_syscalls/sys_exit")
int other_caller(void *ctx)
{
	u32 key = (u32)bpf_get_current_pid_tgid();
	struct inspect_sample *s;

	bump(&pending, key);
	s = bpf_ringbuf_reserve(&ring, sizeof(*s), 0);
	if (!s)
		return 0;
	s->pid = key;
	s->ts = bpf_get_stackid(ctx, &stacks, 0);
	bpf_ringbuf_submit(s, 0);
	return 0;
}

// The map pointer lives in a volatile local: the compiler must store it to the stack and load it back
// at the use. In between, r1 holds another map for a lookup and a helper call clobbers r1-r5, so only
// tracking the stack slot gives the right answer (the delete is on `pending`, not `counts`).
SEC("tracepoint/syscalls/sys_enter_close")
int spill_reload(void *ctx)
{
	void *volatile saved = &pending;
	u32 key = (u32)bpf_get_current_pid_tgid();
	u64 *c = bpf_map_lookup_elem(&counts, &key);

	if (c)
		bpf_map_delete_elem(saved, &key);
	return 0;
}

// Global data (read of .rodata, read-modify-write of .bss), a queue push and a tail call.
SEC("raw_tp/sched_switch")
int tail_and_globals(void *ctx)
{
	u64 tgid = bpf_get_current_pid_tgid() >> 32;

	if (target_tgid && tgid != target_tgid)
		return 0;
	hits++;
	bpf_map_push_elem(&queue, &tgid, BPF_ANY);
	bpf_tail_call(ctx, &jump_table, 0);
	return 0;
}

static long drop_entry(struct bpf_map *map, u32 *key, u64 *value, void *ctx)
{
	bpf_map_delete_elem(map, key);
	return 0;
}

// A callback handed to bpf_for_each_map_elem receives the map in r1.
SEC("raw_tp/sched_process_exit")
int callback_user(void *ctx)
{
	bpf_for_each_map_elem(&counts, drop_entry, NULL, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
