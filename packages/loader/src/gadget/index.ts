export * from './metadata.js';
export * from './params.js';
export * from './decode.js';
export * from './runtime.js';
export * from './fields.js';
export * from './format/index.js';
export * from './tables/index.js';
