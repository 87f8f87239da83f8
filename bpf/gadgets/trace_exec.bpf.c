// SPDX-License-Identifier: GPL-2.0
//
// trace_exec: one event per successful execve()/execveat(), from the
// sched/sched_process_exec tracepoint (present on every supported kernel, so
// one object and no variants). A small second gadget: it uses nothing but the
// conventions of bpf/include/gadget/ (tracer, params, filters, struct
// gadget_process), so the generic TypeScript runtime drives it without knowing
// anything about exec.
//
// The tracepoint fires after the new image is in place: comm is already the
// new program's name, and pid is the thread group id the program runs as.
// `old_pid` is the thread that called execve (differs from pid when a
// non-leader thread execs).

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#include <gadget/macros.h>
#include <gadget/types.h>
#include <gadget/common.h>
#include <gadget/filter.h>
#include <gadget/buffer.h>

// Bytes kept of the executed file name (the path as passed to execve).
#define EXEC_FILENAME_LEN 256

struct exec_event {
	gadget_timestamp timestamp_raw;
	struct gadget_process proc;
	__u32 old_pid;			// thread that called execve
	bool filename_truncated;	// 1 when filename filled the buffer (it may have been cut)
	char filename[EXEC_FILENAME_LEN];
};

GADGET_TRACER_MAP(events, 256 * 1024);
GADGET_TRACER(exec, events, exec_event);

// Report only execs whose parent is still the process that forked: 0 = all.
const volatile gadget_ppid targ_ppid = 0;
GADGET_PARAM(targ_ppid);

SEC("tracepoint/sched/sched_process_exec")
int ig_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	struct exec_event *event;
	__u32 off;
	long n;

	if (gadget_should_discard_current())
		return 0;

	event = gadget_reserve_buf(events, sizeof(*event));
	if (!event)
		return 0;
	__builtin_memset(event, 0, sizeof(*event));

	gadget_process_populate(&event->proc);
	if (targ_ppid && event->proc.parent.pid != targ_ppid) {
		gadget_discard_buf(event);
		return 0;
	}
	event->old_pid = ctx->old_pid;

	// __data_loc: low 16 bits = offset of the string from the start of the
	// record, high 16 bits = its length.
	off = ctx->__data_loc_filename & 0xffff;
	n = bpf_probe_read_kernel_str(event->filename, sizeof(event->filename),
				      (void *)ctx + off);
	event->filename_truncated = n == sizeof(event->filename);
	event->timestamp_raw = bpf_ktime_get_boot_ns();

	gadget_submit_buf(ctx, events, event, sizeof(*event));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
