export * from './constants.js';
export * from './error.js';
export * from './reader.js';
