/**
 * Assertions on the results of committed objects (globals, kconfig, CO-RE, BTF sanitization and
 * verifier source lines, the kernel-BTF memo), run in the worker; see `tasks/objects.ts`.
 *
 * @packageDocumentation
 */
import { taskChecks } from './pool.js';
import type { Check } from './types.js';

/** Object result checks. */
export const checks: readonly Check[] = [
  ...taskChecks('objects/globals', ['objects/globals']),
  ...taskChecks('objects/kconfig', ['objects/kconfig']),
  ...taskChecks('objects/core', ['objects/core']),
  ...taskChecks('objects/btf_memo', ['objects/btf_memo']),
  ...taskChecks('objects/sanitize', ['objects/btf_sanitize', 'objects/verifier_source_line']),
  ...taskChecks('features/attach_type_fentry', ['features/attach_type_fentry']),
];
