/**
 * V8 code caches for tsbpf's bundles (`@tsbpf/loader/codecache`): the library entry's and the
 * trace-capabilities CLI's. Internal machinery, published for the gadget packages' entries.
 * @packageDocumentation
 */
export { cacheFileName, checksum, defaultCacheDir, loadBundle, readCacheFile, wasmWords, writeCacheFile, type CodeCacheState, type LoadBundleOptions, type LoadedBundle } from './codecache.js';
export { LIBRARY_LEVEL, reachedLevel } from './level.js';
export { runLibraryBundle } from './library.js';
