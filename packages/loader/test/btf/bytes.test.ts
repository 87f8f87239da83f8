/**
 * The byte helpers the parsers decode names with: `utf8Text` must read exactly as `TextDecoder`
 * (replacement characters included), and `plainBytes` must share memory with a Buffer.
 */
import { describe, expect, it } from 'vitest';
import { plainBytes, utf8Text } from '../../src/bytes.js';

const reference = new TextDecoder('utf-8', { fatal: false });

describe('utf8Text', () => {
  it('decodes ASCII, multi-byte and malformed UTF-8 exactly as TextDecoder does', () => {
    const cases: number[][] = [
      [...Buffer.from('task_struct')],
      [...Buffer.from('größe_ünïcode_名前')],
      [0xff, 0x61],
      [0x61, 0xc3],
      [0xe2, 0x82, 0x61],
      [0xed, 0xa0, 0x80, 0x62],
      [0xf0, 0x9f, 0x98, 0x80, 0xf0, 0x9f],
      [0xef, 0xbf, 0xbd],
      [0xc0, 0xaf, 0x80],
      // A byte-order mark: TextDecoder drops it, alone or before invalid bytes.
      [0xef, 0xbb, 0xbf, 0x61],
      [0xef, 0xbb, 0xbf, 0xff],
      [0xef, 0xbb],
      [],
    ];
    for (const c of cases) {
      // Surrounded by other bytes: only [start, end) may be read.
      const bytes = Uint8Array.from([0x7a, ...c, 0x00, 0x7a]);
      expect(utf8Text(bytes, 1, 1 + c.length), JSON.stringify(c)).toBe(reference.decode(Uint8Array.from(c)));
    }
  });
});

describe('plainBytes', () => {
  it('views a Buffer as a plain Uint8Array over the same memory, and leaves plain arrays alone', () => {
    const buf = Buffer.from('abcdef');
    const view = plainBytes(buf.subarray(1, 4));
    expect(Object.getPrototypeOf(view)).toBe(Uint8Array.prototype);
    expect([...view]).toEqual([0x62, 0x63, 0x64]);
    buf[2] = 0x58;
    expect(view[1]).toBe(0x58);
    const plain = new Uint8Array(3);
    expect(plainBytes(plain)).toBe(plain);
  });
});
