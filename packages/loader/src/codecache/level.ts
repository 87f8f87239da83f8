/**
 * How far a program using the loader got, for the library entry's code cache (library.ts). No
 * imports: the loader's core calls {@link reachedLevel}, and must not pull the cache's file
 * handling into bundles that do not use it.
 */
/** Levels of the library's cache: how much of a start the cached code covers. */
export const LIBRARY_LEVEL = {
  /** The bundle's top level ran (the import). */
  imported: 0,
  /** A collection was loaded into the kernel. */
  loaded: 1,
  /** A gadget started: loaded, attached, its reader open. */
  started: 2,
} as const;

/**
 * Where the library entry registers its hook, on the global object: the entry's copy of this module
 * and the bundle's are two.
 * @internal
 */
export const HOOK = Symbol.for('tsbpf.codecache.reached');
/** @internal */
export type Hook = (level: number) => void;

/**
 * Called by the loader when the program reaches `level` ({@link LIBRARY_LEVEL}); a no-op unless the
 * library entry runs the loader with a code cache. The cache is then written after the current
 * task (once for the levels reached in it, and only above the cached level): the calling operation
 * returns first, and the write (a few milliseconds, once per bundle version) delays what the
 * program does next. With two copies of the loader in one process, the last one imported gets the
 * levels of both.
 */
export function reachedLevel(level: number): void {
  const hook = (globalThis as Record<symbol, unknown>)[HOOK];
  if (typeof hook === 'function') (hook as Hook)(level);
}
