/**
 * One check per attach kind with real events counted, plus the release check; one load of
 * `vmtest_attach.bpf.o` in the worker serves them all (see `tasks/attach.ts`).
 *
 * @packageDocumentation
 */
import { ATTACH_CHECKS } from '../tasks/attach.js';
import { taskChecks } from './pool.js';
import type { Check } from './types.js';

/** Attach checks. */
export const checks: readonly Check[] = taskChecks('attach', ATTACH_CHECKS);
