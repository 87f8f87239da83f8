// Random bytes through decode → columns → JSON: whatever the kernel (or an attacker) puts in an
// event, decoding succeeds, rows are single inert lines and JSON parses.
import { describe, expect, it } from 'vitest';
import { compileDecoder, compileEncoder } from '../../src/btf/codec.js';
import { describeEventType } from '../../src/gadget/fields.js';
import { ColumnsRenderer, columnsFromDescriptors, formatJson } from '../../src/gadget/format/index.js';
import { capEventBtf } from './helpers.js';
import { xorshift32 } from '../support/random.js';

const rng = xorshift32;

describe('random event bytes', () => {
  it('decode, render and re-encode 1000 random events safely', () => {
    const { b, ev } = capEventBtf();
    const size = b.sizeof(ev);
    const defs = columnsFromDescriptors(describeEventType(b, ev));
    const all = defs.map((d) => d.id);
    const renderer = new ColumnsRenderer(defs, { fields: all });
    const decoders = [compileDecoder(b, ev), compileDecoder(b, ev, { int64: 'number-if-safe', enums: 'value', charEncoding: 'latin1' })];
    const encode = compileEncoder(b, ev);
    const next = rng(0x5eed);
    const buf = new Uint8Array(size);
    const view = new DataView(buf.buffer);
    const out = new DataView(new ArrayBuffer(size));
    for (let n = 0; n < 1000; n++) {
      for (let i = 0; i < size; i++) buf[i] = next() & 0xff;
      // Bias some events toward ASCII controls and high bytes in the strings.
      if (n % 3 === 0) for (let i = 8; i < 24; i++) buf[i] = [0x1b, 0x07, 0x9b, 0xc2, 0x0a, 0x7f, 0xff][next() % 7];
      for (const decode of decoders) {
        const value = decode(view);
        const line = renderer.row(value);
        expect(line).not.toMatch(/[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]|[\ud800-\udfff]/u);
        const json = formatJson(value);
        expect(json).not.toMatch(/[\x00-\x1f\x7f-\x9f]/);
        expect(() => JSON.parse(json)).not.toThrow();
      }
      // Names decode back to the same bytes except what text cannot carry (bytes after a NUL,
      // padding): encode → decode is a fixed point.
      const value = decoders[0](view);
      encode(value, out);
      expect(decoders[0](out)).toEqual(value);
    }
  });
});
