/**
 * V8 code caches for tsbpf's bundles: the library entry's (dist/index.js imports dist/codecache.js,
 * also `@tsbpf/loader/codecache`) and the trace-capabilities CLI's (its bin bundles this module from
 * the loader's sources). Internal machinery: published because the package's own entry uses it.
 * @packageDocumentation
 */
export { cacheFileName, checksum, defaultCacheDir, loadBundle, readCacheFile, wasmWords, writeCacheFile, type CodeCacheState, type LoadBundleOptions, type LoadedBundle } from './codecache.js';
export { LIBRARY_LEVEL, reachedLevel } from './level.js';
export { runLibraryBundle } from './library.js';
