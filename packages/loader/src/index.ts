/**
 * @tsbpf/loader — a pure-TypeScript eBPF loader.
 *
 * Read an object with {@link CollectionSpec.fromFile}, edit it (variables, maps, autoload), load it
 * with {@link Collection.load}, attach its programs (`link/`), and read events from ring or perf
 * buffers (`ringbuf/`, `perf/`). The generic gadget runtime (`gadget/`) builds tracers on top.
 */
export { TsbpfError, NotSupportedError } from './errors.js';
export { nowMs } from './clock.js';
export { LOADER_VERSION } from './version.js';
export * from './sys/index.js';
export * from './elf/index.js';
// btf barrel: added when btf/index.ts lands
export * from './btf/btf.js';
export * from './btf/types.js';
export * from './btf/error.js';
export * from './btf/ext.js';
export * from './btf/kernel.js';
export * from './btf/memo.js';
export * from './btf/sanitize.js';
export * from './btf/codec.js';
export * from './btf/core/index.js';
export * from './asm/index.js';
export * from './spec/index.js';
export * from './maps/index.js';
export * from './programs/index.js';
export * from './kconfig/index.js';
export { Collection, kernelObjectName, type AsyncLoadOptions, type CollectionOptions, type LoadTimings } from './collection.js';
export * from './features/index.js';
export * from './kallsyms/index.js';
export * from './symbolize/index.js';
export * from './inspect/index.js';
export * from './gadget/index.js';
export * from './link/index.js';
export * from './ringbuf/index.js';
export * from './perf/index.js';
