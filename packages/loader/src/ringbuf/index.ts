export * from './event_reader.js';
export * from './reader.js';
