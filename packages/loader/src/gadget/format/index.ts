/** Output renderers for gadget events: aligned columns, JSON, and the sanitizers both rely on. */
export * from './sanitize.js';
export * from './paths.js';
export * from './json.js';
export * from './columns.js';
export * from './values.js';
