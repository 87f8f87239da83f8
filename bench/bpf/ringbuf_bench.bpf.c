// SPDX-License-Identifier: GPL-2.0
//
// Benchmark producers for the ring buffer and perf buffer drain benchmarks.
// Built by the bench script (clang-19) into bench/.build/; not committed.
//
//   ring64/ring128/ring1024  SEC("syscall"), run with BPF_PROG_TEST_RUN: bpf_loop() writes
//                            `args->count` records of 64/128/1024 bytes to the ring buffer `rb`.
//   perf64/perf128/perf1024  same, through bpf_perf_event_output() to `events` (current CPU).
//   ring_e2e/perf_e2e        SEC("tracepoint/syscalls/sys_enter_getppid"): one 128-byte event per
//                            getppid() of the process in e2e_target[0], to `rb_e2e` / `events`;
//                            e2e_stats[0] counts events written, e2e_stats[1] events the kernel
//                            refused (ring full). The end-to-end rate benchmark.
//
// The ctx of every program is struct bench_args (ctx_in of the test run). Records carry a
// gadget-like header (timestamp, pid, tid, uid, gid, mntns, comm) so decoding them costs what
// decoding a real gadget event costs. `failed` counts reservations/outputs the kernel refused.

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct bench_args {
	__u32 count;
	__u32 pad;
};

struct ev_hdr {
	__u64 timestamp;
	__u32 pid;
	__u32 tid;
	__u32 uid;
	__u32 gid;
	__u64 mntns_id;
	char comm[16];
};

struct event64 {
	struct ev_hdr hdr;
	__u64 cap;
	__s32 ret;
	__u32 flags;
};

struct event128 {
	struct ev_hdr hdr;
	__u64 args[8];
	char name[16];
};

struct event1024 {
	struct ev_hdr hdr;
	__u64 args[8];
	char path[912];
};

_Static_assert(sizeof(struct event64) == 64, "event64");
_Static_assert(sizeof(struct event128) == 128, "event128");
_Static_assert(sizeof(struct event1024) == 1024, "event1024");

/* Keep the three event types in BTF for the user-space decoders. */
const struct event64 *unused_event64 __attribute__((unused));
const struct event128 *unused_event128 __attribute__((unused));
const struct event1024 *unused_event1024 __attribute__((unused));
struct event64 ev64_keep = {};
struct event128 ev128_keep = {};
struct event1024 ev1024_keep = {};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 * 1024 * 1024);
} rb SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} events SEC(".maps");

/* The end-to-end producers: a 1 MiB ring (small enough that a slow consumer drops), the target tgid, counters. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1024 * 1024);
} rb_e2e SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} e2e_target SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} e2e_stats SEC(".maps");

__u64 seq = 0;
__u64 failed = 0;

static __always_inline void fill_hdr(struct ev_hdr *h, __u64 i)
{
	__u64 id = bpf_get_current_pid_tgid();

	h->timestamp = bpf_ktime_get_ns();
	h->pid = id >> 32;
	h->tid = (__u32)id;
	h->uid = 0;
	h->gid = (__u32)i;
	h->mntns_id = 4026531841ULL;
	__builtin_memcpy(h->comm, "bench-producer\0", 16);
}

static __always_inline void fill64(struct event64 *e, __u64 i)
{
	fill_hdr(&e->hdr, i);
	e->cap = i & 63;
	e->ret = 0;
	e->flags = 1;
}

static __always_inline void fill128(struct event128 *e, __u64 i)
{
	fill_hdr(&e->hdr, i);
	for (int k = 0; k < 8; k++)
		e->args[k] = i + k;
	__builtin_memcpy(e->name, "cap_capable\0\0\0\0\0", 16);
}

static __always_inline void fill1024(struct event1024 *e, __u64 i)
{
	fill_hdr(&e->hdr, i);
	for (int k = 0; k < 8; k++)
		e->args[k] = i + k;
	__builtin_memset(e->path, 0, sizeof(e->path));
	__builtin_memcpy(e->path, "/usr/lib/x86_64-linux-gnu/libc.so.6", 36);
}

#define RING_PRODUCER(N)                                                      \
	static long ring_emit##N(__u64 i, void *data)                         \
	{                                                                     \
		struct event##N *e = bpf_ringbuf_reserve(&rb, sizeof(*e), 0); \
		if (!e) {                                                     \
			__sync_fetch_and_add(&failed, 1);                     \
			return 0;                                             \
		}                                                             \
		fill##N(e, i);                                                \
		bpf_ringbuf_submit(e, 0);                                     \
		return 0;                                                     \
	}                                                                     \
	SEC("syscall")                                                        \
	int ring##N(struct bench_args *args)                                  \
	{                                                                     \
		__sync_fetch_and_add(&seq, 1);                                \
		return bpf_loop(args->count, ring_emit##N, NULL, 0);          \
	}

RING_PRODUCER(64)
RING_PRODUCER(128)
RING_PRODUCER(1024)

/* The perf producers keep one record on the (per-CPU) stack-free scratch map. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct event1024);
} scratch SEC(".maps");

struct perf_ctx {
	void *ctx;
	void *buf;
};

#define PERF_PRODUCER(N)                                                                  \
	static long perf_emit##N(__u64 i, void *data)                                     \
	{                                                                                 \
		struct perf_ctx *p = data;                                                \
		struct event##N *e = p->buf;                                              \
		fill##N(e, i);                                                            \
		if (bpf_perf_event_output(p->ctx, &events, BPF_F_CURRENT_CPU, e, sizeof(*e))) \
			__sync_fetch_and_add(&failed, 1);                                 \
		return 0;                                                                 \
	}                                                                                 \
	SEC("raw_tp")                                                                     \
	int perf##N(struct bpf_raw_tracepoint_args *ctx)                                  \
	{                                                                                 \
		__u32 zero = 0;                                                           \
		struct perf_ctx p = { .ctx = ctx };                                       \
		p.buf = bpf_map_lookup_elem(&scratch, &zero);                             \
		if (!p.buf)                                                               \
			return 0;                                                         \
		__sync_fetch_and_add(&seq, 1);                                            \
		return bpf_loop(ctx->args[0], perf_emit##N, &p, 0);                        \
	}

PERF_PRODUCER(64)
PERF_PRODUCER(128)
PERF_PRODUCER(1024)

static __always_inline int e2e_wanted(void)
{
	__u32 zero = 0;
	__u32 *target = bpf_map_lookup_elem(&e2e_target, &zero);

	return target && *target && (bpf_get_current_pid_tgid() >> 32) == *target;
}

static __always_inline void e2e_count(__u32 which)
{
	__u64 *n = bpf_map_lookup_elem(&e2e_stats, &which);

	if (n)
		__sync_fetch_and_add(n, 1);
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int ring_e2e(void *ctx)
{
	if (!e2e_wanted())
		return 0;
	struct event128 *e = bpf_ringbuf_reserve(&rb_e2e, sizeof(*e), 0);
	if (!e) {
		e2e_count(1);
		return 0;
	}
	fill128(e, __sync_fetch_and_add(&seq, 1));
	bpf_ringbuf_submit(e, 0);
	e2e_count(0);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int perf_e2e(void *ctx)
{
	__u32 zero = 0;

	if (!e2e_wanted())
		return 0;
	struct event128 *e = bpf_map_lookup_elem(&scratch, &zero);
	if (!e)
		return 0;
	fill128(e, __sync_fetch_and_add(&seq, 1));
	if (bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, e, sizeof(*e)))
		e2e_count(1);
	else
		e2e_count(0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
