/**
 * `features`: cached probes of what the running kernel supports, decided by asking it (map creation,
 * tiny program loads, link attempts), never by version numbers. `check…` functions return the reason.
 */
export * from './probes.js';
