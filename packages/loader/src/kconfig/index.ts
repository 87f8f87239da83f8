export * from './kconfig.js';
export * from './ksym.js';
export * from './memlock.js';
