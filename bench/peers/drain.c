// SPDX-License-Identifier: Apache-2.0
// Ring/perf buffer drain peer.
//   drain <object> ring|perf <size 64|128|1024> <burst> <bursts> <warmup> raw|decoded [every|watermark] [min-warmup-ms]
// Each burst: BPF_PROG_TEST_RUN of the producer (<kind><size>) writes <burst> records, then the
// consumer drains them with ring_buffer__consume / perf_buffer__consume; only the drain is timed
// (CPU time from getrusage, wall time from CLOCK_MONOTONIC), on CPU 0. raw/decoded: see consume.h.
// Perf wakeups: "every" (default) is perf_buffer__new's wakeup_events = 1; "watermark" opens the
// same events through perf_buffer__new_raw with a 4 MiB wakeup watermark, so the producer raises no
// wakeup per record (nothing waits in this benchmark), as the tsbpf side's watermarkBytes does.
// Warm-up: <warmup> bursts, and on until <min-warmup-ms> have passed (as the tsbpf worker).
#define _GNU_SOURCE
#include "common.h"
#include "consume.h"
#include <bpf/bpf.h>
#include <errno.h>
#include <linux/perf_event.h>
#include <unistd.h>

/* A PERF_RECORD_SAMPLE of PERF_SAMPLE_RAW: the header, the raw size, the raw bytes. */
struct raw_sample {
	struct perf_event_header header;
	__u32 size;
	char data[];
};

static enum bpf_perf_event_ret perf_raw_cb(void *ctx, int cpu, struct perf_event_header *event)
{
	if (event->type == PERF_RECORD_SAMPLE) {
		struct raw_sample *s = (struct raw_sample *)event;
		perf_cb(ctx, cpu, s->data, s->size);
	}
	return LIBBPF_PERF_EVENT_CONT;
}

int main(int argc, char **argv)
{
	if (argc < 8) {
		fprintf(stderr, "usage: drain <object> ring|perf <size> <burst> <bursts> <warmup> raw|decoded [every|watermark] [min-warmup-ms]\n");
		return 2;
	}
	const char *path = argv[1];
	int perf = strcmp(argv[2], "perf") == 0;
	int size = atoi(argv[3]);
	int burst = atoi(argv[4]);
	int bursts = atoi(argv[5]);
	int warmup = atoi(argv[6]);
	decoded = strcmp(argv[7], "decoded") == 0;
	int watermark = argc > 8 && strcmp(argv[8], "watermark") == 0;
	double min_warmup_ms = argc > 9 ? atof(argv[9]) : 0;
	peer_init();
	pin_to_cpu0();
	char name[32];
	snprintf(name, sizeof(name), "%s%d", perf ? "perf" : "ring", size);
	struct bpf_object *obj = load_only(path, name);
	if (!obj)
		return 1;
	struct bpf_program *prog = bpf_object__find_program_by_name(obj, name);
	if (!prog)
		return 1;
	struct ring_buffer *rb = NULL;
	struct perf_buffer *pb = NULL;
	if (perf) {
		/* Room for one burst of 1024-byte samples on one CPU. */
		int map_fd = bpf_map__fd(bpf_object__find_map_by_name(obj, "events"));
		if (watermark) {
			struct perf_event_attr attr = {
				.type = PERF_TYPE_SOFTWARE,
				.size = sizeof(attr),
				.config = PERF_COUNT_SW_BPF_OUTPUT,
				.sample_period = 1,
				.sample_type = PERF_SAMPLE_RAW,
				.watermark = 1,
				.wakeup_watermark = 4 << 20,
			};
			pb = perf_buffer__new_raw(map_fd, 2048, &attr, perf_raw_cb, NULL, NULL);
		} else {
			pb = perf_buffer__new(map_fd, 2048, perf_cb, NULL, NULL, NULL);
		}
		if (!pb) {
			fprintf(stderr, "%s: %s\n", watermark ? "perf_buffer__new_raw" : "perf_buffer__new", strerror(errno));
			return 1;
		}
	} else {
		rb = ring_buffer__new(bpf_map__fd(bpf_object__find_map_by_name(obj, "rb")), ring_cb, NULL, NULL);
		if (!rb)
			return 1;
	}
	__u64 args[2] = { (__u64)burst, 0 };
	LIBBPF_OPTS(bpf_test_run_opts, topts, .ctx_in = args, .ctx_size_in = perf ? sizeof(args) : 8);
	double cpu_total = 0, wall_total = 0;
	unsigned long long events = 0;
	double warm_start = now_ms();
	int timed = 0;
	for (int i = 0; timed < bursts; i++) {
		int warming = i < warmup || now_ms() - warm_start < min_warmup_ms;
		int err = bpf_prog_test_run_opts(bpf_program__fd(prog), &topts);
		if (err || topts.retval != (unsigned)burst) {
			fprintf(stderr, "test run: err %d retval %u\n", err, topts.retval);
			return 1;
		}
		count = 0;
		double c0 = cpu_ns(), w0 = now_ms();
		int n = perf ? perf_buffer__consume(pb) : ring_buffer__consume(rb);
		double w1 = now_ms(), c1 = cpu_ns();
		if (n < 0) {
			fprintf(stderr, "consume: %d\n", n);
			return 1;
		}
		if (!warming) {
			timed++;
			cpu_total += c1 - c0;
			wall_total += (w1 - w0) * 1e6;
			events += count;
		}
	}
	printf("{\"libbpf\":\"%s\",\"events\":%llu,\"cpuNs\":%.0f,\"wallNs\":%.0f,\"sink\":%llu}\n", peer_libbpf_version(), events,
	       cpu_total, wall_total, sink & 1);
	perf_buffer__free(pb);
	ring_buffer__free(rb);
	bpf_object__close(obj);
	return 0;
}
