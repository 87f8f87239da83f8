// SPDX-License-Identifier: Apache-2.0
// Gadget cold-start peer: the libbpf way to bring up trace_capabilities_tp.bpf.o.
//   gadget <object> [hold-seconds]
// open → (the CLI's default map sizes) → load → attach every program → ring_buffer__new on "events" → print the readiness
// marker on stderr ("READY") and a JSON line of phase times on stdout. With hold-seconds > 0 it
// then consumes events (copying each record, as a tool printing them would) for that long and
// reports its peak RSS.
#include "common.h"
#include <bpf/bpf.h>
#include <errno.h>
#include <unistd.h>

static unsigned long long nevents;
static unsigned long long sink;

static int on_event(void *ctx, void *data, size_t size)
{
	unsigned char copy[512];
	size_t n = size < sizeof(copy) ? size : sizeof(copy);
	memcpy(copy, data, n);
	sink += copy[0] + n;
	nevents++;
	return 0;
}

int main(int argc, char **argv)
{
	double t0 = now_ms();
	if (argc < 2) {
		fprintf(stderr, "usage: gadget <object> [hold-seconds]\n");
		return 2;
	}
	double hold = argc > 2 ? atof(argv[2]) : 0;
	peer_init();
	struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
	if (!obj) {
		fprintf(stderr, "open %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	// The maps tsbpf creates with one entry at the gadget's defaults (`seen` without unique:
	// packages/gadget-cap/src/trace.ts; the user-stack map with collect_ustack off: the gadget
	// runtime), so that both starts ask the kernel for the same maps.
	static const char *const unused[] = { "seen", "ig_ustack" };
	for (size_t i = 0; i < sizeof(unused) / sizeof(unused[0]); i++) {
		struct bpf_map *m = bpf_object__find_map_by_name(obj, unused[i]);
		if (m && bpf_map__set_max_entries(m, 1)) {
			fprintf(stderr, "set_max_entries %s: %s\n", unused[i], strerror(errno));
			return 1;
		}
	}
	double t1 = now_ms();
	int err = bpf_object__load(obj);
	if (err) {
		fprintf(stderr, "load: %s\n", strerror(-err));
		return 1;
	}
	double t2 = now_ms();
	struct bpf_program *prog;
	int links = 0;
	bpf_object__for_each_program(prog, obj) {
		struct bpf_link *l = bpf_program__attach(prog);
		if (!l) {
			fprintf(stderr, "attach %s: %s\n", bpf_program__name(prog), strerror(errno));
			return 1;
		}
		links++;
	}
	double t3 = now_ms();
	struct bpf_map *events = bpf_object__find_map_by_name(obj, "events");
	if (!events)
		return 1;
	struct ring_buffer *rb = ring_buffer__new(bpf_map__fd(events), on_event, NULL, NULL);
	if (!rb) {
		fprintf(stderr, "ring_buffer__new: %s\n", strerror(errno));
		return 1;
	}
	double t4 = now_ms();
	fprintf(stderr, "READY\n");
	fflush(stderr);
	if (hold > 0) {
		double end = now_ms() + hold * 1e3;
		while (now_ms() < end)
			ring_buffer__poll(rb, 100);
	}
	printf("{\"libbpf\":\"%s\",\"openMs\":%.4f,\"loadMs\":%.4f,\"attachMs\":%.4f,\"ringbufMs\":%.4f,\"totalMs\":%.4f,"
	       "\"programs\":%d,\"events\":%llu,\"vmhwmKb\":%ld}\n",
	       peer_libbpf_version(), t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0, links, nevents, status_kb("VmHWM"));
	fflush(stdout);
	ring_buffer__free(rb);
	bpf_object__close(obj);
	return 0;
}
