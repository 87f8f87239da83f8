/**
 * `perf`: the perf event array reader ({@link PerfReader}: per-CPU rings, lost-sample accounting) and
 * {@link openEventReader}, which opens the right reader for a RINGBUF or PERF_EVENT_ARRAY map.
 */
export * from './reader.js';
export * from './open.js';
