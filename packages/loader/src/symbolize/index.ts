/**
 * `symbolize`: native ELF function symbols (uprobe placement, user stack frames), `/proc/<pid>/maps`
 * symbolization, and reading STACK_TRACE map entries.
 */
export * from './elf_symbols.js';
export * from './user.js';
export * from './stack.js';
