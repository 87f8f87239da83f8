/**
 * Tracepoint programs (`SEC("tracepoint/<category>/<name>")`): a perf event of PERF_TYPE_TRACEPOINT
 * whose config is the tracepoint id from tracefs, with the program attached to it.
 */
import { PERF_TYPE, perfEventOpen, type Fd } from '../sys/index.js';
import { explainAttachError } from './internal.js';
import { type Link } from './link.js';
import { attachPerfEventFd, type PerfAttachOptions } from './perf_event.js';
import { tracepointId } from './tracefs.js';

/** Options of {@link attachTracepoint}. */
export type TracepointOptions = PerfAttachOptions;

/** Attach a `BPF_PROG_TYPE_TRACEPOINT` program to `category:name` (e.g. `syscalls`, `sys_enter_openat`). */
export function attachTracepoint(prog: Fd, category: string, name: string, options: TracepointOptions = {}): Link {
  const id = tracepointId(category, name);
  let perf: Fd;
  try {
    // cpu 0, pid -1: trace events run the program on every CPU; the cpu only picks where perf samples would go.
    perf = perfEventOpen({ type: PERF_TYPE.TRACEPOINT, config: id, samplePeriod: 1, wakeupEvents: 1, flags: { disabled: true } }, -1, 0, -1, 0);
  } catch (err) {
    throw explainAttachError(err, `perf_event_open of tracepoint ${category}/${name} (id ${id})`);
  }
  return attachPerfEventFd('tracepoint', prog, perf, options);
}
