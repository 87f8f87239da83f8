// SPDX-License-Identifier: GPL-2.0
//
// Loader testdata: a program that re-enters its own hook, so the kernel skips
// the nested run and counts it in bpf_prog_info.recursion_misses.
//
//   nested  raw_tp/bpf_trace_printk: in the process whose tgid is `target_tgid`,
//           calls bpf_printk, which fires the bpf_trace_printk tracepoint again
//           while this program is still active on the CPU: a kernel with the
//           raw tracepoint recursion guard (6.1+) skips that nested run, so every
//           run that passes the filter (counted in `outer_runs`) adds exactly one
//           recursion miss. Without the guard the nested run executes: `depth`
//           makes it return at once (counted in `nested_runs`) instead of
//           calling bpf_printk again, which would recurse, and deadlock where
//           bpf_trace_printk holds its lock around the tracepoint (5.x).
//   kick    SEC("syscall"), run with BPF_PROG_TEST_RUN: one bpf_printk in the
//           calling task, i.e. one outer run of `nested`.
//
// It is also the smallest gadget (a tracer whose ring buffer is never written),
// so the gadget runtime can attach `nested` and report its skipped runs.

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include <gadget/macros.h>
#include <gadget/types.h>

struct nothing_event {
	gadget_timestamp timestamp_raw;
};

GADGET_TRACER_MAP(events, 4096);
GADGET_TRACER(nothing, events, nothing_event);

const volatile __u32 target_tgid = 0;

__u64 outer_runs = 0;
__u64 nested_runs = 0;
__u32 depth = 0;

SEC("raw_tp/bpf_trace_printk")
int nested(void *ctx)
{
	if ((bpf_get_current_pid_tgid() >> 32) != target_tgid)
		return 0;
	if (depth) {
		nested_runs++;
		return 0;
	}
	depth = 1;
	outer_runs++;
	bpf_printk("tsbpf recursion test");
	depth = 0;
	return 0;
}

SEC("syscall")
int kick(void *ctx)
{
	bpf_printk("tsbpf recursion kick");
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
