export * from './kconfig.js';
export * from './ksym.js';
