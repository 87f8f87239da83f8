// SPDX-License-Identifier: Apache-2.0
// Map operation peer: per-op cost of libbpf's bpf_map_* wrappers.
//   maps <hash|array> <n> <rounds>
// Creates a map with 4-byte keys and 64-byte values (max_entries n), then per round times:
// update (all n keys), lookup (all n), delete (all n, hash only), update_batch, lookup_batch,
// delete_batch (hash only), and getpid() n times (the syscall floor the tsbpf side's FFI is measured
// against). One JSON line: nanoseconds per element for each op, median over rounds; and for the
// single-element ops, the user and kernel CPU time summed over all rounds (getrusage, whose split
// is sampled at the scheduler tick: meaningful over many operations only).
#include "common.h"
#include <bpf/bpf.h>
#include <errno.h>
#include <unistd.h>

#define VALUE_SIZE 64

/* User and system CPU time of this process in ns. */
static void cpu_split(double *user, double *sys)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	*user = ru.ru_utime.tv_sec * 1e9 + ru.ru_utime.tv_usec * 1e3;
	*sys = ru.ru_stime.tv_sec * 1e9 + ru.ru_stime.tv_usec * 1e3;
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
	if (argc < 4)
		return 2;
	int hash = strcmp(argv[1], "hash") == 0;
	int n = atoi(argv[2]);
	int rounds = atoi(argv[3]);
	peer_init();
	pin_to_cpu0();
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
	const char *ops[] = { "update", "lookup", "delete", "update_batch", "lookup_batch", "delete_batch", "getpid" };
	double *samples[7];
	for (int o = 0; o < 7; o++)
		samples[o] = calloc(rounds, sizeof(double));
	unsigned long long sink = 0;
	/* Summed user/kernel ns of update, lookup, delete over all rounds. */
	double split_user[3] = { 0 }, split_sys[3] = { 0 }, u0, s0, u1, s1;
	for (int r = 0; r < rounds; r++) {
		cpu_split(&u0, &s0);
		double t0 = now_ms();
		for (int i = 0; i < n; i++) {
			unsigned int k = i;
			value[0] = (unsigned char)i;
			if (bpf_map_update_elem(fd, &k, value, BPF_ANY))
				return 1;
		}
		double t1 = now_ms();
		cpu_split(&u1, &s1);
		split_user[0] += u1 - u0;
		split_sys[0] += s1 - s0;
		u0 = u1;
		s0 = s1;
		for (int i = 0; i < n; i++) {
			unsigned int k = i;
			if (bpf_map_lookup_elem(fd, &k, value))
				return 1;
			sink += value[0];
		}
		double t2 = now_ms();
		cpu_split(&u1, &s1);
		split_user[1] += u1 - u0;
		split_sys[1] += s1 - s0;
		u0 = u1;
		s0 = s1;
		if (hash) {
			for (int i = 0; i < n; i++) {
				unsigned int k = i;
				if (bpf_map_delete_elem(fd, &k))
					return 1;
			}
		}
		double t3 = now_ms();
		cpu_split(&u1, &s1);
		split_user[2] += u1 - u0;
		split_sys[2] += s1 - s0;
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
		samples[0][r] = (t1 - t0) * 1e6 / n;
		samples[1][r] = (t2 - t1) * 1e6 / n;
		samples[2][r] = (t3 - t2) * 1e6 / n;
		samples[3][r] = (t4 - t3) * 1e6 / n;
		samples[4][r] = (t5 - t4) * 1e6 / n;
		samples[5][r] = (t6 - t5) * 1e6 / n;
		samples[6][r] = (t7 - t6) * 1e6 / n;
	}
	printf("{\"libbpf\":\"%s\",\"nsPerOp\":{", peer_libbpf_version());
	int first = 1;
	for (int o = 0; o < 7; o++) {
		if (!hash && (o == 2 || o == 5))
			continue;
		printf("%s\"%s\":%.2f", first ? "" : ",", ops[o], median(samples[o], rounds));
		first = 0;
	}
	printf("},\"split\":{");
	first = 1;
	for (int o = 0; o < 3; o++) {
		if (!hash && o == 2)
			continue;
		printf("%s\"%s\":{\"userNs\":%.0f,\"sysNs\":%.0f,\"ops\":%d}", first ? "" : ",", ops[o], split_user[o], split_sys[o], rounds * n);
		first = 0;
	}
	printf("},\"sink\":%llu}\n", sink & 1);
	return 0;
}
