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

/** Node's native UTF-8 slice of a byte range (what `Buffer#toString` uses), where it exists. */
const nativeUtf8Slice = (Buffer.prototype as unknown as { utf8Slice?: (this: Uint8Array, start: number, end: number) => string }).utf8Slice;
const utf8Decoder = new TextDecoder('utf-8', { fatal: false });

/**
 * `bytes[start, end)` decoded as UTF-8 (invalid sequences become U+FFFD, as `TextDecoder` does).
 * One native call: decoding names byte by byte in JavaScript costs ~3 µs each before the JIT warms
 * up, and a load decodes a thousand of them. Text with a U+FFFD, or starting with a byte-order mark
 * (which `TextDecoder` drops and the native slice keeps), is decoded by `TextDecoder`, so every input
 * reads exactly as before.
 */
export function utf8Text(bytes: Uint8Array, start: number, end: number): string {
  const bom = end - start >= 3 && bytes[start] === 0xef && bytes[start + 1] === 0xbb && bytes[start + 2] === 0xbf;
  if (nativeUtf8Slice !== undefined && !bom) {
    const s = nativeUtf8Slice.call(bytes, start, end);
    if (s.indexOf('\uFFFD') < 0) return s;
  }
  return utf8Decoder.decode(bytes.subarray(start, end));
}
