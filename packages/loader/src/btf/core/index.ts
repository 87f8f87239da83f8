/**
 * CO-RE (compile once, run everywhere): resolve the object's BTF relocations against the kernel
 * and module BTFs and patch instructions. Pure TypeScript, no syscalls.
 */
export * from './kinds.js';
export * from './error.js';
export { essentialName, resolveSize } from './names.js';
export * from './accessor.js';
export * from './candidates.js';
export * from './match.js';
export * from './relocate.js';
