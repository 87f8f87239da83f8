// SPDX-License-Identifier: Apache-2.0
// End-to-end peer: a live consumer of a syscall-driven producer.
//   e2e <object> ring|perf <ms> raw|decoded <hammer> <hammer cpu>
// Loads and attaches ring_e2e or perf_e2e (tracepoint syscalls/sys_enter_getppid), starts the
// hammer (bench/peers/hammer.c), points the producer at its pid, then consumes with
// ring_buffer__poll / perf_buffer__poll (blocking in epoll, as a real tool does) until the hammer
// exits, and drains what is left. Prints events received, events the producer wrote and the ones
// the kernel refused, perf LOST counts (the same drops, seen from user space), the hammer's calls
// and run time, and this process's CPU time over the run.
#define _GNU_SOURCE
#include "common.h"
#include "consume.h"
#include <bpf/bpf.h>
#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static unsigned long long lost;

static void perf_lost(void *ctx, int cpu, __u64 n)
{
	lost += n;
}

int main(int argc, char **argv)
{
	if (argc < 7) {
		fprintf(stderr, "usage: e2e <object> ring|perf <ms> raw|decoded <hammer> <hammer cpu>\n");
		return 2;
	}
	int perf = strcmp(argv[2], "perf") == 0;
	decoded = strcmp(argv[4], "decoded") == 0;
	const char *name = perf ? "perf_e2e" : "ring_e2e";
	peer_init();
	/* The consumer on CPU 0, the hammer on its own CPU (as the tsbpf worker does). */
	pin_to_cpu0();
	struct bpf_object *obj = load_only(argv[1], name);
	if (!obj)
		return 1;
	struct bpf_link *link = bpf_program__attach(bpf_object__find_program_by_name(obj, name));
	if (!link) {
		fprintf(stderr, "attach: %s\n", strerror(errno));
		return 1;
	}
	struct ring_buffer *rb = NULL;
	struct perf_buffer *pb = NULL;
	if (perf)
		pb = perf_buffer__new(bpf_map__fd(bpf_object__find_map_by_name(obj, "events")), 64, perf_cb, perf_lost, NULL, NULL);
	else
		rb = ring_buffer__new(bpf_map__fd(bpf_object__find_map_by_name(obj, "rb_e2e")), ring_cb, NULL, NULL);
	if (!rb && !pb) {
		fprintf(stderr, "buffer: %s\n", strerror(errno));
		return 1;
	}
	int go[2], out[2];
	if (pipe(go) || pipe(out))
		return 1;
	pid_t child = fork();
	if (child == 0) {
		dup2(go[0], 0);
		dup2(out[1], 1);
		close(go[1]);
		close(out[0]);
		execl(argv[5], argv[5], argv[3], argv[6], (char *)NULL);
		_exit(127);
	}
	close(go[0]);
	close(out[1]);
	__u32 zero = 0, target = (__u32)child;
	bpf_map_update_elem(bpf_map__fd(bpf_object__find_map_by_name(obj, "e2e_target")), &zero, &target, 0);
	double c0 = cpu_ns(), w0 = now_ms();
	if (write(go[1], "go\n", 3) != 3)
		return 1;
	int status = 0;
	for (;;) {
		int n = perf ? perf_buffer__poll(pb, 100) : ring_buffer__poll(rb, 100);
		if (n < 0 && n != -EINTR) {
			fprintf(stderr, "poll: %d\n", n);
			return 1;
		}
		if (waitpid(child, &status, WNOHANG) == child)
			break;
	}
	if (perf)
		perf_buffer__consume(pb);
	else
		ring_buffer__consume(rb);
	double w1 = now_ms(), c1 = cpu_ns();
	char line[128] = { 0 };
	ssize_t got = read(out[0], line, sizeof(line) - 1);
	unsigned long long calls = 0;
	double hammer_ns = 0;
	if (got > 0)
		sscanf(line, "{\"calls\":%llu,\"ns\":%lf", &calls, &hammer_ns);
	__u64 stats[2] = { 0, 0 };
	int sfd = bpf_map__fd(bpf_object__find_map_by_name(obj, "e2e_stats"));
	for (__u32 i = 0; i < 2; i++)
		bpf_map_lookup_elem(sfd, &i, &stats[i]);
	printf("{\"libbpf\":\"%s\",\"received\":%llu,\"written\":%llu,\"refused\":%llu,\"lost\":%llu,\"calls\":%llu,"
	       "\"hammerNs\":%.0f,\"cpuNs\":%.0f,\"wallNs\":%.0f,\"sink\":%llu}\n",
	       peer_libbpf_version(), count, (unsigned long long)stats[0], (unsigned long long)stats[1], lost, calls,
	       hammer_ns, c1 - c0, (w1 - w0) * 1e6, sink & 1);
	perf_buffer__free(pb);
	ring_buffer__free(rb);
	bpf_link__destroy(link);
	bpf_object__close(obj);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
