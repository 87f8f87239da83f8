// SPDX-License-Identifier: Apache-2.0
// The record callbacks of the drain and end-to-end peers. "raw" reads one field per record;
// "decoded" copies the record into its C struct and reads every header field, the C counterpart of
// turning it into an object. `count` counts the records seen, `sink` keeps the reads alive.
#ifndef BENCH_PEER_CONSUME_H
#define BENCH_PEER_CONSUME_H

#include <string.h>
#include <linux/types.h>

struct ev_hdr {
	unsigned long long timestamp;
	unsigned int pid, tid, uid, gid;
	unsigned long long mntns_id;
	char comm[16];
};

static unsigned long long sink;
static unsigned long long count;
static int decoded;

static void consume(void *data, size_t size)
{
	if (!decoded) {
		sink += ((struct ev_hdr *)data)->pid;
	} else {
		unsigned char copy[1024];
		size_t n = size < sizeof(copy) ? size : sizeof(copy);
		memcpy(copy, data, n);
		struct ev_hdr *h = (struct ev_hdr *)copy;
		sink += h->timestamp + h->pid + h->tid + h->uid + h->gid + h->mntns_id + (unsigned char)h->comm[0] + n;
		__asm__ volatile("" : : "r"(copy) : "memory");
	}
	count++;
}

static int ring_cb(void *ctx, void *data, size_t size)
{
	consume(data, size);
	return 0;
}

static void perf_cb(void *ctx, int cpu, void *data, __u32 size)
{
	consume(data, size);
}

#endif
