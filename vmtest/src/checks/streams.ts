/**
 * Ring buffer and perf buffer streams: N records in, exactly N intact out (see `tasks/streams.ts`).
 *
 * @packageDocumentation
 */
import { taskChecks } from './pool.js';
import type { Check } from './types.js';

/** Stream checks. */
export const checks: readonly Check[] = [
  ...taskChecks('streams', ['streams/ringbuf', 'streams/perf', 'streams/ringbuf_bpf_loop']),
  // start()/close() as gadgets use them; a close() that never returns costs this limit, not 90 s.
  ...taskChecks('streams/async', ['streams/ringbuf_async', 'streams/perf_async'], 45_000),
];
