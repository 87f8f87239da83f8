/**
 * Byte-array helpers shared by layers that build messages or batches from parts (netlink requests in
 * `sys/netlink.ts`, batch results in `maps/map.ts`).
 */

/** One new array holding `parts` back to back. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.byteLength;
  }
  return out;
}

/**
 * `bytes` as a plain `Uint8Array` over the same memory. A Node `Buffer` (what `readFileSync`
 * returns) routes `indexOf`, `subarray` and `slice` through JavaScript wrappers that are slow
 * before the JIT warms up, and its `slice` does not copy; parsers that scan strings keep this view.
 */
export function plainBytes(bytes: Uint8Array): Uint8Array {
  return Object.getPrototypeOf(bytes) === Uint8Array.prototype ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
