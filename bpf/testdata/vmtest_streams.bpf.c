// SPDX-License-Identifier: GPL-2.0
//
// vmtest testdata: ring buffer and perf buffer producers that load on 5.10 (no bpf_loop, no
// atomics, no syscall programs). For the process whose tgid is `target_tgid`, every getppid()
// makes one record, sent by `to_ringbuf` to the ring buffer `rb` and by `to_perf` to the perf
// event array `events`:
//   seq = 0, 1, 2, … (per producer), magic = RECORD_MAGIC, payload[i] = (u8)(seq * 7 + i).
// `rb_failed` / `perf_failed` count outputs the kernel refused (buffer full).

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#define NR_GETPPID 110 /* x86-64 */
#define RECORD_MAGIC 0x766d74657374ULL /* ASCII "vmtest" as a number */
#define PAYLOAD 40

struct record {
	__u64 seq;
	__u64 magic;
	__u32 tgid;
	__u32 pad;
	__u8 payload[PAYLOAD];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 * 4096);
} rb SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} events SEC(".maps");

const volatile __u32 target_tgid = 0;

__u64 rb_seq = 0;
__u64 rb_failed = 0;
__u64 perf_seq = 0;
__u64 perf_failed = 0;

static __always_inline void fill(struct record *r, __u64 seq, __u32 tgid)
{
	r->seq = seq;
	r->magic = RECORD_MAGIC;
	r->tgid = tgid;
	r->pad = 0;
#pragma unroll
	for (int i = 0; i < PAYLOAD; i++)
		r->payload[i] = (__u8)(seq * 7 + i);
}

SEC("raw_tp/sys_enter")
int to_ringbuf(struct bpf_raw_tracepoint_args *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct record *r;

	if (ctx->args[1] != NR_GETPPID || tgid != target_tgid)
		return 0;
	r = bpf_ringbuf_reserve(&rb, sizeof(*r), 0);
	if (!r) {
		rb_failed++;
		return 0;
	}
	fill(r, rb_seq, tgid);
	rb_seq++;
	bpf_ringbuf_submit(r, 0);
	return 0;
}

SEC("raw_tp/sys_enter")
int to_perf(struct bpf_raw_tracepoint_args *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct record r;

	if (ctx->args[1] != NR_GETPPID || tgid != target_tgid)
		return 0;
	fill(&r, perf_seq, tgid);
	perf_seq++;
	if (bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, &r, sizeof(r)))
		perf_failed++;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
