// SPDX-License-Identifier: Apache-2.0
// Load generator of the end-to-end benchmark: calls getppid() as fast as it can for <ms>
// milliseconds, pinned to CPU <cpu> (-1: not pinned). It waits for one line on stdin first, so the
// consumer can point the producer at this pid before the first call. Prints {"calls":N,"ns":T}.
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: hammer <ms> <cpu>\n");
		return 2;
	}
	double ms = atof(argv[1]);
	int cpu = atoi(argv[2]);
	if (cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set))
			perror("sched_setaffinity");
	}
	char line[16];
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	unsigned long long calls = 0;
	double t0 = now_ns(), end = t0 + ms * 1e6, t;
	do {
		/* The raw syscall: glibc does not cache getppid, but keep it explicit. */
		for (int i = 0; i < 256; i++)
			syscall(SYS_getppid);
		calls += 256;
		t = now_ns();
	} while (t < end);
	printf("{\"calls\":%llu,\"ns\":%.0f}\n", calls, t - t0);
	return 0;
}
