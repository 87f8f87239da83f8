/** Name tables gadgets print: syscalls per architecture and capabilities. */
export * from './syscalls.js';
export * from './capabilities.js';
export * from './signals.js';
