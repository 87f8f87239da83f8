export * from './elf_symbols.js';
export * from './user.js';
export * from './stack.js';
