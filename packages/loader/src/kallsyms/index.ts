/** `kallsyms`: the kernel symbol table from /proc/kallsyms, for naming kernel addresses. */
export * from './kallsyms.js';
