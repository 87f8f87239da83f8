export * from './reader.js';
export * from './open.js';
