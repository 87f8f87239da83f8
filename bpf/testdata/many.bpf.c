// SPDX-License-Identifier: GPL-2.0
//
// Loader testdata: a large object for program-map diagram tests.
//
// 24 programs and 24 maps with varied interactions: Lookup, Update, Delete,
// Lookup+Update, Lookup+Delete, queue/stack Push/Pop/Peek, ring buffer
// output/reserve, perf event output, stack ids, map-in-map and tail calls.
// The comment above each program lists its interactions in code order, so a
// test can compare an inspector's output with it. Programs use raw_tp,
// tracepoint and kprobe sections; all of them load on this machine (kprobes
// load but cannot attach here). Nothing is meant to run: it is a shape.

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct flow_key {
	__u32 pid;
	__u32 fd;
};

struct flow_val {
	__u64 bytes;
	__u64 ts;
};

struct rec {
	__u32 kind;
	__u32 pid;
	__u64 value;
};

#define HASH_MAP(name, ktype, vtype, n)           \
	struct {                                  \
		__uint(type, BPF_MAP_TYPE_HASH);  \
		__uint(max_entries, n);           \
		__type(key, ktype);               \
		__type(value, vtype);             \
	} name SEC(".maps")

#define ARRAY_MAP(name, vtype, n)                 \
	struct {                                  \
		__uint(type, BPF_MAP_TYPE_ARRAY); \
		__uint(max_entries, n);           \
		__type(key, __u32);               \
		__type(value, vtype);             \
	} name SEC(".maps")

ARRAY_MAP(settings, __u64, 4);			// 1
HASH_MAP(pids, __u32, __u64, 1024);		// 2
HASH_MAP(flows, struct flow_key, struct flow_val, 1024); // 3
HASH_MAP(start_ts, __u32, __u64, 1024);	// 4
ARRAY_MAP(latency_hist, __u64, 32);		// 5
HASH_MAP(allow_list, __u32, __u8, 64);		// 6
HASH_MAP(deny_list, __u32, __u8, 64);		// 7
HASH_MAP(seen_comm, char[16], __u64, 256);	// 8
HASH_MAP(open_files, __u64, __u32, 1024);	// 9
HASH_MAP(exit_codes, __u32, __s32, 1024);	// 10

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");			// 11

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 128);
	__type(key, __u32);
	__type(value, __u64);
} errors SEC(".maps");				// 12

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 512);
	__type(key, __u32);
	__type(value, __u64);
} recent_tids SEC(".maps");			// 13

struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, 512);
	__type(key, __u32);
	__type(value, __u64);
} cpu_cache SEC(".maps");			// 14

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} rb_events SEC(".maps");			// 15

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} perf_events SEC(".maps");			// 16

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 64);
	__type(value, __u64);
} work_queue SEC(".maps");			// 17

struct {
	__uint(type, BPF_MAP_TYPE_STACK);
	__uint(max_entries, 64);
	__type(value, __u64);
} undo_stack SEC(".maps");			// 18

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 256);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, 32 * sizeof(__u64));
} stack_traces SEC(".maps");			// 19

struct inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
};
struct inner shard0 SEC(".maps");		// 20
struct inner shard1 SEC(".maps");		// 21

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct inner);
} shards SEC(".maps") = {
	.values = { &shard0, &shard1 },
};						// 22

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
} jump_table SEC(".maps");			// 23

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rec);
} scratch SEC(".maps");			// 24

static __always_inline __u32 cur_pid(void)
{
	return bpf_get_current_pid_tgid() >> 32;
}

static __always_inline __u32 cur_tid(void)
{
	return (__u32)bpf_get_current_pid_tgid();
}

static __always_inline void count(__u32 slot)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &slot);

	if (c)
		*c += 1;
}

// 1. Lookup settings, Lookup counters, Update start_ts
SEC("raw_tp/sys_enter")
int sys_enter_ts(void *ctx)
{
	__u32 k = 0, tid = cur_tid();
	__u64 *enabled = bpf_map_lookup_elem(&settings, &k);
	__u64 now = bpf_ktime_get_ns();

	if (!enabled || !*enabled)
		return 0;
	count(0);
	bpf_map_update_elem(&start_ts, &tid, &now, BPF_ANY);
	return 0;
}

// 2. Lookup+Delete start_ts, Lookup latency_hist
SEC("raw_tp/sys_exit")
int sys_exit_latency(void *ctx)
{
	__u32 tid = cur_tid(), slot = 0;
	__u64 *ts = bpf_map_lookup_elem(&start_ts, &tid), delta, *bucket;

	if (!ts)
		return 0;
	delta = (bpf_ktime_get_ns() - *ts) >> 10;
	bpf_map_delete_elem(&start_ts, &tid);
	while (delta > 1 && slot < 31) {
		delta >>= 1;
		slot++;
	}
	bucket = bpf_map_lookup_elem(&latency_hist, &slot);
	if (bucket)
		__sync_fetch_and_add(bucket, 1);
	return 0;
}

// 3. Lookup allow_list, Lookup deny_list, Update pids
SEC("tracepoint/sched/sched_process_fork")
int fork_track(void *ctx)
{
	__u32 pid = cur_pid();
	__u64 one = 1;

	if (!bpf_map_lookup_elem(&allow_list, &pid) &&
	    bpf_map_lookup_elem(&deny_list, &pid))
		return 0;
	bpf_map_update_elem(&pids, &pid, &one, BPF_NOEXIST);
	return 0;
}

// 4. Delete pids, Delete recent_tids, Update exit_codes
SEC("tracepoint/sched/sched_process_exit")
int exit_track(void *ctx)
{
	__u32 pid = cur_pid(), tid = cur_tid();
	__s32 code = 0;

	bpf_map_delete_elem(&pids, &pid);
	bpf_map_delete_elem(&recent_tids, &tid);
	bpf_map_update_elem(&exit_codes, &pid, &code, BPF_ANY);
	return 0;
}

// 5. Lookup+Update seen_comm
SEC("tracepoint/sched/sched_process_exec")
int exec_comm(void *ctx)
{
	char comm[16] = {};
	__u64 one = 1, *n;

	bpf_get_current_comm(comm, sizeof(comm));
	n = bpf_map_lookup_elem(&seen_comm, comm);
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(&seen_comm, comm, &one, BPF_NOEXIST);
	return 0;
}

// 6. Lookup pids, Update flows
SEC("kprobe/vfs_write")
int BPF_KPROBE(write_account, struct file *file, const char *buf, size_t count)
{
	__u32 pid = cur_pid();
	struct flow_key key = { .pid = pid, .fd = 0 };
	struct flow_val val = { .bytes = count, .ts = bpf_ktime_get_ns() };

	if (!bpf_map_lookup_elem(&pids, &pid))
		return 0;
	bpf_map_update_elem(&flows, &key, &val, BPF_ANY);
	return 0;
}

// 7. Lookup flows, ringbuf output rb_events
SEC("kretprobe/vfs_write")
int BPF_KRETPROBE(write_done, long ret)
{
	struct flow_key key = { .pid = cur_pid(), .fd = 0 };
	struct flow_val *val = bpf_map_lookup_elem(&flows, &key);
	struct rec r = { .kind = 7, .pid = key.pid };

	if (!val)
		return 0;
	r.value = val->bytes;
	bpf_ringbuf_output(&rb_events, &r, sizeof(r), 0);
	return 0;
}

// 8. Update open_files
SEC("kprobe/do_sys_openat2")
int BPF_KPROBE(open_enter, int dfd, const char *filename)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 zero = 0;

	bpf_map_update_elem(&open_files, &id, &zero, BPF_ANY);
	return 0;
}

// 9. Lookup+Delete open_files, Update errors
SEC("kretprobe/do_sys_openat2")
int BPF_KRETPROBE(open_exit, long ret)
{
	__u64 id = bpf_get_current_pid_tgid(), one = 1;
	__u32 pid = id >> 32;

	if (!bpf_map_lookup_elem(&open_files, &id))
		return 0;
	bpf_map_delete_elem(&open_files, &id);
	if (ret < 0)
		bpf_map_update_elem(&errors, &pid, &one, BPF_ANY);
	return 0;
}

// 10. Lookup scratch, perf event output perf_events
SEC("raw_tp/sched_switch")
int switch_perf(void *ctx)
{
	__u32 zero = 0;
	struct rec *r = bpf_map_lookup_elem(&scratch, &zero);

	if (!r)
		return 0;
	r->kind = 10;
	r->pid = cur_pid();
	r->value = bpf_ktime_get_ns();
	bpf_perf_event_output(ctx, &perf_events, BPF_F_CURRENT_CPU, r, sizeof(*r));
	return 0;
}

// 11. Push work_queue
SEC("raw_tp/sched_wakeup")
int wakeup_enqueue(void *ctx)
{
	__u64 v = bpf_get_current_pid_tgid();

	bpf_map_push_elem(&work_queue, &v, BPF_EXIST);
	return 0;
}

// 12. Pop work_queue, Update recent_tids
SEC("raw_tp/sched_waking")
int waking_dequeue(void *ctx)
{
	__u64 v;
	__u32 tid;

	if (bpf_map_pop_elem(&work_queue, &v))
		return 0;
	tid = (__u32)v;
	bpf_map_update_elem(&recent_tids, &tid, &v, BPF_ANY);
	return 0;
}

// 13. Push undo_stack
SEC("raw_tp/task_rename")
int rename_push(void *ctx)
{
	__u64 v = bpf_ktime_get_ns();

	bpf_map_push_elem(&undo_stack, &v, 0);
	return 0;
}

// 14. Peek undo_stack, Pop undo_stack
SEC("raw_tp/task_newtask")
int newtask_undo(void *ctx)
{
	__u64 v;

	if (bpf_map_peek_elem(&undo_stack, &v))
		return 0;
	if (v & 1)
		bpf_map_pop_elem(&undo_stack, &v);
	return 0;
}

// 15. ringbuf reserve rb_events, stack id stack_traces (then submit)
SEC("raw_tp/softirq_entry")
int softirq_stack(void *ctx)
{
	struct rec *r = bpf_ringbuf_reserve(&rb_events, sizeof(*r), 0);

	if (!r)
		return 0;
	r->kind = 15;
	r->pid = cur_pid();
	r->value = bpf_get_stackid(ctx, &stack_traces, 0);
	bpf_ringbuf_submit(r, 0);
	return 0;
}

// 16. Lookup shards, Lookup inner (shard0/shard1 through shards)
SEC("raw_tp/irq_handler_entry")
int irq_shard(void *ctx)
{
	__u32 idx = bpf_get_smp_processor_id() & 1, k = 0;
	__u64 *v;
	void *inner = bpf_map_lookup_elem(&shards, &idx);

	if (!inner)
		return 0;
	v = bpf_map_lookup_elem(inner, &k);
	if (v)
		__sync_fetch_and_add(v, 1);
	return 0;
}

// 17. Lookup shard0, Lookup shard1 directly
SEC("raw_tp/irq_handler_exit")
int irq_direct(void *ctx)
{
	__u32 k = 1;
	__u64 *a = bpf_map_lookup_elem(&shard0, &k);
	__u64 *b = bpf_map_lookup_elem(&shard1, &k);

	if (a && b)
		*a = *b;
	return 0;
}

// 18. tail call jump_table
SEC("raw_tp/sys_enter")
int dispatcher(void *ctx)
{
	bpf_tail_call(ctx, &jump_table, cur_pid() & 3);
	return 0;
}

// 19. Lookup counters (meant for jump_table slot 0, filled by user space)
SEC("raw_tp/sys_enter")
int tail_count(void *ctx)
{
	count(1);
	return 0;
}

// 20. Lookup+Update cpu_cache (meant for jump_table slot 1)
SEC("raw_tp/sys_enter")
int tail_cache(void *ctx)
{
	__u32 cpu = bpf_get_smp_processor_id();
	__u64 one = 1, *v = bpf_map_lookup_elem(&cpu_cache, &cpu);

	if (v)
		*v += 1;
	else
		bpf_map_update_elem(&cpu_cache, &cpu, &one, BPF_ANY);
	return 0;
}

// 21. Lookup errors, Delete errors
SEC("tracepoint/syscalls/sys_exit_close")
int close_clear_errors(void *ctx)
{
	__u32 pid = cur_pid();

	if (bpf_map_lookup_elem(&errors, &pid))
		bpf_map_delete_elem(&errors, &pid);
	return 0;
}

// 22. Update allow_list, Delete deny_list
SEC("tracepoint/syscalls/sys_enter_setuid")
int setuid_allow(void *ctx)
{
	__u32 pid = cur_pid();
	__u8 one = 1;

	bpf_map_update_elem(&allow_list, &pid, &one, BPF_ANY);
	bpf_map_delete_elem(&deny_list, &pid);
	return 0;
}

// 23. Lookup exit_codes, Update settings
SEC("tracepoint/syscalls/sys_enter_kill")
int kill_config(void *ctx)
{
	__u32 pid = cur_pid(), k = 1;
	__s32 *code = bpf_map_lookup_elem(&exit_codes, &pid);
	__u64 v;

	if (!code)
		return 0;
	v = (__u64)*code;
	bpf_map_update_elem(&settings, &k, &v, BPF_ANY);
	return 0;
}

// 24. no map interaction at all
SEC("raw_tp/sys_exit")
int no_maps(void *ctx)
{
	bpf_get_smp_processor_id();
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
