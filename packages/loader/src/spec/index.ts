export * from './collection.js';
export * from './error.js';
export * from './linker.js';
export * from './map.js';
export * from './program.js';
export * from './relocation.js';
export * from './section.js';
export * from './variable.js';
