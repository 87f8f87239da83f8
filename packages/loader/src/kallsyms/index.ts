export * from './kallsyms.js';
