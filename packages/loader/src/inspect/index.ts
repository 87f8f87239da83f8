/**
 * Program–map interaction analysis and its renderers (Mermaid, JSON, text summary, developer notes).
 */
export * from './errors.js';
export * from './analyze.js';
export * from './model.js';
export * from './mermaid.js';
export * from './json.js';
export * from './summary.js';
export * from './notes.js';
export * from './spec.js';
