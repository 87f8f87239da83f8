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
