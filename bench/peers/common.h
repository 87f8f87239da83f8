// SPDX-License-Identifier: Apache-2.0
// Shared helpers of the libbpf peers: clocks, rusage, peak RSS, loading one program of an object,
// pinning to CPU 0.
#ifndef BENCH_PEER_COMMON_H
#define BENCH_PEER_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* sched_setaffinity */
#endif
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>
#include <time.h>
#include <sys/resource.h>
#include <bpf/libbpf.h>

static inline double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Time since this process started (CLOCK_MONOTONIC vs /proc/self/stat starttime is jiffy-coarse,
 * so the orchestrator measures process start itself; this is only for in-process phases). */
static inline double cpu_ns(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e9 + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e3;
}

/* A field of /proc/self/status in kB (VmHWM, VmRSS), or -1. */
static inline long status_kb(const char *field)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;
	size_t n = strlen(field);
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, field, n) == 0 && line[n] == ':') {
			v = strtol(line + n + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

static int quiet_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_WARN && getenv("BENCH_PEER_VERBOSE"))
		return vfprintf(stderr, fmt, ap);
	return 0;
}

/*
 * Runs the measuring thread on CPU 0, as the tsbpf worker does for the same benchmarks: the vCPUs
 * of a VM can differ by half in speed, so both sides must time on the same one.
 */
static inline void pin_to_cpu0(void)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(0, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static inline void peer_init(void)
{
	libbpf_set_print(quiet_print);
}

/* Open the object at `path` and load only its program `name`; NULL (after a message) on failure. */
static inline struct bpf_object *load_only(const char *path, const char *name)
{
	struct bpf_object *obj = bpf_object__open_file(path, NULL);
	if (!obj)
		return NULL;
	struct bpf_program *p;
	bpf_object__for_each_program(p, obj) bpf_program__set_autoload(p, strcmp(bpf_program__name(p), name) == 0);
	int err = bpf_object__load(obj);
	if (err) {
		fprintf(stderr, "load: %s\n", strerror(-err));
		bpf_object__close(obj);
		return NULL;
	}
	return obj;
}

static inline const char *peer_libbpf_version(void)
{
	return libbpf_version_string();
}

#endif
