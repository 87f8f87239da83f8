export * from './program.js';
export * from './verifier.js';
