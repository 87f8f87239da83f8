/**
 * BTF: the type model, the lazily parsed container, `.BTF.ext`, the kernel/module BTF cache,
 * sanitizing for older kernels and C/JSON formatting. No syscalls.
 */
export * from './types.js';
export * from './error.js';
export * from './btf.js';
export * from './ext.js';
export * from './kernel.js';
export * from './sanitize.js';
export * from './format.js';
