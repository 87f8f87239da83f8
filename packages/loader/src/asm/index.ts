export * from './opcodes.js';
export * from './instruction.js';
export * as asm from './builders.js';
