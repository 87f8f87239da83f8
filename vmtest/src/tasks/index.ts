/**
 * Every task the worker can run, by name.
 *
 * @packageDocumentation
 */
import { attachTasks } from './attach.js';
import { gadgetTasks } from './gadget.js';
import { kprobeMultiTasks } from './kprobe_multi.js';
import { objectTasks } from './objects.js';
import { streamTasks } from './streams.js';
import { tcTasks } from './tc.js';
import type { Task } from './types.js';

/** Tasks by name. */
export const TASKS: Readonly<Record<string, Task>> = { ...objectTasks, ...attachTasks, ...kprobeMultiTasks, ...tcTasks, ...streamTasks, ...gadgetTasks };

export * from './types.js';
export { ATTACH_CHECKS } from './attach.js';
export { KPROBE_MULTI_CHECKS } from './kprobe_multi.js';
export { TC_CHECKS } from './tc.js';
