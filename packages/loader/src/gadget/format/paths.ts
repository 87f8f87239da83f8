/**
 * Dotted-path access into decoded events (`proc.creds.uid`), shared by the column and JSON
 * renderers and by `--fields` selection. Only own properties are followed, so a path can never
 * reach `Object.prototype` (`__proto__.x` reads nothing).
 */

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v);
}

/** The value at dotted `path` in `record`, or `undefined` when any step is missing. */
export function getPath(record: unknown, path: string): unknown {
  let cur: unknown = record;
  for (const key of path.split('.')) {
    if (!isRecord(cur) || !Object.hasOwn(cur, key)) return undefined;
    cur = cur[key];
  }
  return cur;
}

/**
 * A copy of `record` holding only the subtrees at `paths`, nesting preserved and in the order the
 * paths are given; missing paths are skipped.
 */
export function selectPaths(record: unknown, paths: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const path of paths) {
    const value = getPath(record, path);
    if (value === undefined) continue;
    const keys = path.split('.');
    let dst = out;
    for (let i = 0; i < keys.length - 1; i++) {
      const k = keys[i];
      const next = Object.hasOwn(dst, k) ? dst[k] : undefined;
      if (isRecord(next)) dst = next;
      else {
        const fresh: Record<string, unknown> = {};
        Object.defineProperty(dst, k, { value: fresh, enumerable: true, writable: true, configurable: true });
        dst = fresh;
      }
    }
    Object.defineProperty(dst, keys[keys.length - 1], { value, enumerable: true, writable: true, configurable: true });
  }
  return out;
}
