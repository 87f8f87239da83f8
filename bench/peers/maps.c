// SPDX-License-Identifier: Apache-2.0
// Map operation peer: per-op cost of libbpf's bpf_map_* wrappers.
//   maps <hash|array> <n> <rounds> <warmup> [threaded]
// Creates a map with 4-byte keys and 64-byte values (max_entries n), then per round (after `warmup`
// untimed rounds of the same work, as the tsbpf side runs until its JIT has compiled the loop) times:
// update (all n keys), lookup (all n), delete (all n, hash only), update_batch, lookup_batch,
// delete_batch (hash only), getpid() n times (the syscall floor the tsbpf side's FFI is measured
// against), and getpid through syscall(2) with four arguments n times (the shape of a bpf(2) call). One JSON line: nanoseconds per element for each op, median over rounds.
// With "threaded", one idle thread runs beside the timed loop for the whole process: the kernel
// then takes a counted file reference on every bpf(2) (it borrows the fd without atomics only in a
// single-threaded process), as it does for every call from Node, which always runs several threads.
#include "common.h"
#include <bpf/bpf.h>
#include <errno.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#define VALUE_SIZE 64

/* The idle thread of a "threaded" run: blocks until the process exits. */
static void *idle_thread(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

static int cmpd(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(double), cmpd);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
	if (argc < 5)
		return 2;
	int hash = strcmp(argv[1], "hash") == 0;
	int n = atoi(argv[2]);
	int rounds = atoi(argv[3]);
	int warmup = atoi(argv[4]);
	int threaded = argc > 5 && strcmp(argv[5], "threaded") == 0;
	peer_init();
	pin_to_cpu0();
	pthread_t idle;
	if (threaded && pthread_create(&idle, NULL, idle_thread, NULL)) {
		fprintf(stderr, "pthread_create failed\n");
		return 1;
	}
	int fd = bpf_map_create(hash ? BPF_MAP_TYPE_HASH : BPF_MAP_TYPE_ARRAY, "bench", 4, VALUE_SIZE, n, NULL);
	if (fd < 0) {
		fprintf(stderr, "bpf_map_create: %s\n", strerror(errno));
		return 1;
	}
	unsigned char value[VALUE_SIZE];
	memset(value, 7, sizeof(value));
	unsigned int *keys = calloc(n, 4);
	unsigned char *values = calloc(n, VALUE_SIZE);
	for (int i = 0; i < n; i++)
		keys[i] = i;
	const char *ops[] = { "update", "lookup", "delete", "update_batch", "lookup_batch", "delete_batch", "getpid", "syscall4" };
	double *samples[8];
	for (int o = 0; o < 8; o++)
		samples[o] = calloc(rounds, sizeof(double));
	unsigned long long sink = 0;
	for (int pass = 0; pass < warmup + rounds; pass++) {
		double t0 = now_ms();
		for (int i = 0; i < n; i++) {
			unsigned int k = i;
			value[0] = (unsigned char)i;
			if (bpf_map_update_elem(fd, &k, value, BPF_ANY))
				return 1;
		}
		double t1 = now_ms();
		for (int i = 0; i < n; i++) {
			unsigned int k = i;
			if (bpf_map_lookup_elem(fd, &k, value))
				return 1;
			sink += value[0];
		}
		double t2 = now_ms();
		if (hash) {
			for (int i = 0; i < n; i++) {
				unsigned int k = i;
				if (bpf_map_delete_elem(fd, &k))
					return 1;
			}
		}
		double t3 = now_ms();
		LIBBPF_OPTS(bpf_map_batch_opts, bopts);
		__u32 cnt = n;
		if (bpf_map_update_batch(fd, keys, values, &cnt, &bopts) || cnt != (unsigned)n) {
			fprintf(stderr, "update_batch: %s\n", strerror(errno));
			return 1;
		}
		double t4 = now_ms();
		__u32 out_batch = 0;
		cnt = n;
		int e = bpf_map_lookup_batch(fd, NULL, &out_batch, keys, values, &cnt, &bopts);
		if ((e && errno != ENOENT) || cnt != (unsigned)n) {
			fprintf(stderr, "lookup_batch: %s (%u)\n", strerror(errno), cnt);
			return 1;
		}
		double t5 = now_ms();
		if (hash) {
			cnt = n;
			if (bpf_map_delete_batch(fd, keys, &cnt, &bopts) || cnt != (unsigned)n) {
				fprintf(stderr, "delete_batch: %s\n", strerror(errno));
				return 1;
			}
		}
		double t6 = now_ms();
		for (int i = 0; i < n; i++)
			sink += getpid();
		double t7 = now_ms();
		/* The arguments of an element call's bpf(2): a command, an address, a size (getpid ignores them). */
		for (int i = 0; i < n; i++)
			sink += syscall(SYS_getpid, i, (unsigned long)value, 32);
		double t8 = now_ms();
		if (pass < warmup)
			continue;
		int r = pass - warmup;
		samples[0][r] = (t1 - t0) * 1e6 / n;
		samples[1][r] = (t2 - t1) * 1e6 / n;
		samples[2][r] = (t3 - t2) * 1e6 / n;
		samples[3][r] = (t4 - t3) * 1e6 / n;
		samples[4][r] = (t5 - t4) * 1e6 / n;
		samples[5][r] = (t6 - t5) * 1e6 / n;
		samples[6][r] = (t7 - t6) * 1e6 / n;
		samples[7][r] = (t8 - t7) * 1e6 / n;
	}
	printf("{\"libbpf\":\"%s\",\"threads\":%d,\"nsPerOp\":{", peer_libbpf_version(), threaded ? 2 : 1);
	int first = 1;
	for (int o = 0; o < 8; o++) {
		if (!hash && (o == 2 || o == 5))
			continue;
		printf("%s\"%s\":%.2f", first ? "" : ",", ops[o], median(samples[o], rounds));
		first = 0;
	}
	printf("},\"sink\":%llu}\n", sink & 1);
	return 0;
}
