/**
 * One check per attach kind with real events counted, plus the release check; one load of
 * `vmtest_attach.bpf.o` in the worker serves them all (see `tasks/attach.ts`). kprobe_multi links
 * and tc (tcx or netlink, with real datagrams over lo) have their own objects and loads
 * (`tasks/kprobe_multi.ts`, `tasks/tc.ts`).
 *
 * @packageDocumentation
 */
import { ATTACH_CHECKS } from '../tasks/attach.js';
import { KPROBE_MULTI_CHECKS } from '../tasks/kprobe_multi.js';
import { TC_CHECKS } from '../tasks/tc.js';
import { taskChecks } from './pool.js';
import type { Check } from './types.js';

/** Attach checks. */
export const checks: readonly Check[] = [...taskChecks('attach', ATTACH_CHECKS), ...taskChecks('kprobe_multi', KPROBE_MULTI_CHECKS), ...taskChecks('tc', TC_CHECKS)];
