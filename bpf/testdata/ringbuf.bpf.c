// SPDX-License-Identifier: GPL-2.0
//
// Loader testdata: producers for the ring buffer and perf buffer readers.
//
//   produce        SEC("syscall"), run with BPF_PROG_TEST_RUN: bpf_loop() writes `records`
//                  records to the ring buffer `rb`; each is a struct record with
//                  seq = 0, 1, 2, … (continuing across runs), magic = RECORD_MAGIC and
//                  payload[i] = (u8)(seq + i). Failed reservations (ring full) are
//                  counted in `failed` (.bss); `next_seq` is the number attempted.
//                  With `discard_every` = k > 0, records whose loop index is a multiple
//                  of k are reserved and then discarded (BPF_RINGBUF_DISCARD_BIT): the
//                  reader must skip them.
//   produce_perf   SEC("tracepoint/syscalls/sys_enter_getppid"): for the process whose
//                  tgid is `target_pid`, one record per getppid() to the perf event
//                  array `events` (BPF_F_CURRENT_CPU); `perf_sent` counts attempts and
//                  `perf_failed` the outputs the kernel refused (ring full).
//
// `records` and `target_pid` are `const volatile`: set them on the spec before load
// (`target_pid` can also be written to the live .bss copy `live_target_pid`).

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#define RECORD_MAGIC 0x7473627066ULL /* ASCII "tsbpf" as a number */
#define PAYLOAD 44

struct record {
	__u64 seq;
	__u64 magic;
	__u32 index;
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

const volatile __u32 records = 100;
const volatile __u32 target_pid = 0;
const volatile __u32 discard_every = 0;

__u32 live_target_pid = 0;
__u64 next_seq = 0;
__u64 failed = 0;
__u64 perf_sent = 0;
__u64 perf_failed = 0;

static void fill(struct record *r, __u64 seq, __u32 index)
{
	r->seq = seq;
	r->magic = RECORD_MAGIC;
	r->index = index;
	for (int i = 0; i < PAYLOAD; i++)
		r->payload[i] = (__u8)(seq + i);
}

static long emit(__u64 index, void *ctx)
{
	__u64 seq = __sync_fetch_and_add(&next_seq, 1);
	struct record *r = bpf_ringbuf_reserve(&rb, sizeof(*r), 0);

	if (!r) {
		__sync_fetch_and_add(&failed, 1);
		return 0;
	}
	fill(r, seq, (__u32)index);
	if (discard_every && index % discard_every == 0) {
		bpf_ringbuf_discard(r, 0);
		return 0;
	}
	bpf_ringbuf_submit(r, 0);
	return 0;
}

SEC("syscall")
int produce(void *ctx)
{
	return bpf_loop(records, emit, NULL, 0);
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int produce_perf(void *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u32 want = live_target_pid ? live_target_pid : target_pid;
	struct record r = {};

	if (tgid != want)
		return 0;
	fill(&r, __sync_fetch_and_add(&perf_sent, 1), 0);
	if (bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, &r, sizeof(r)))
		__sync_fetch_and_add(&perf_failed, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
