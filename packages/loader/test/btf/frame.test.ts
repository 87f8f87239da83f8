/**
 * The two framing walks of a BTF type section (frame.ts): the WebAssembly one must give exactly
 * the JavaScript one's columns on the running kernel's BTF and on handcrafted sections (records
 * across window boundaries, a record larger than a window), and both must give up on the same
 * malformed input, after which Btf.parse reports the same typed error whichever walk ran.
 */
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Btf } from '../../src/btf/btf.js';
import { BtfError } from '../../src/btf/error.js';
import { FRAME_MODULE_HEX, type Framing, type KindWords, WASM_MIN_BYTES, chainKindsJs, frameJs, frameModuleBytes, frameWasm } from '../../src/btf/frame.js';
import { VMLINUX_BTF_PATH } from '../../src/btf/kernel.js';
import type { BtfMember } from '../../src/btf/types.js';

/** The per-kind word counts of the BTF format (independent of btf.ts's own table). */
const WORDS: KindWords = (() => {
  const fixed = new Int32Array(32).fill(-1);
  const perVlen = new Int32Array(32);
  // kind: [fixed words after btf_type, words per vlen entry]
  const table: Record<number, [number, number]> = {
    1: [1, 0], 2: [0, 0], 3: [3, 0], 4: [0, 3], 5: [0, 3], 6: [0, 2], 7: [0, 0], 8: [0, 0], 9: [0, 0], 10: [0, 0],
    11: [0, 0], 12: [0, 0], 13: [0, 2], 14: [1, 0], 15: [0, 3], 16: [0, 0], 17: [1, 0], 18: [0, 0], 19: [0, 3],
  };
  for (const [k, [f, v]] of Object.entries(table)) {
    fixed[Number(k)] = f;
    perVlen[Number(k)] = v;
  }
  return { fixed, perVlen };
})();

/**
 * The meaningful part of a framing of `section`, as plain arrays, with every record's offset: sparse
 * offsets are completed by walking from the stored ones (which must land on the next stored one).
 */
function columns(f: Framing | undefined, section: Uint8Array): { count: number; offsets: number[]; kinds: number[]; names: number[] } | undefined {
  if (f === undefined) return undefined;
  const dv = new DataView(section.buffer, section.byteOffset, section.byteLength);
  const offsets: number[] = [];
  const stride = 1 << f.offsetShift;
  let off = 0;
  for (let i = 0; i <= f.count; i++) {
    if (i % stride === 0) {
      expect(f.offsets[i / stride]).toBe(off);
    }
    offsets.push(off);
    if (i < f.count) {
      const info = dv.getUint32(off + 4, true);
      const kind = (info >>> 24) & 31;
      off += 12 + 4 * (WORDS.fixed[kind] + WORDS.perVlen[kind] * (info & 0xffff));
    }
  }
  return {
    count: f.count,
    offsets,
    kinds: Array.from(f.kinds.subarray(0, f.count)),
    names: Array.from(f.names.subarray(0, f.count)),
  };
}

/** The type section of a BTF blob (header fields at 4..24). */
function typeSection(blob: Uint8Array): Uint8Array {
  const dv = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  const hdr = dv.getUint32(4, true);
  return blob.subarray(hdr + dv.getUint32(8, true), hdr + dv.getUint32(8, true) + dv.getUint32(12, true));
}

/** A BTF of `n` structs of `members` int members each, plus the int: a section of any size. */
function structsBtf(n: number, members: number): Btf {
  const b = Btf.empty();
  const int = b.add({ kind: 'int', name: 'int', size: 4, encoding: { signed: true, char: false, bool: false }, offset: 0, bits: 32 });
  const ms: BtfMember[] = Array.from({ length: members }, (_, i) => ({ name: `m${i % 7}`, type: int, bitOffset: 32 * i, bitfieldSize: 0 }));
  for (let i = 0; i < n; i++) {
    b.add({ kind: 'struct', name: `s${i}`, size: 4 * members, kindFlag: false, members: ms });
    b.add({ kind: 'ptr', name: '', type: int });
    b.add({ kind: 'func_proto', name: '', returnType: int, params: [{ name: 'a', type: int }] });
  }
  return b;
}

/** The error Btf.parse throws for `blob`. */
function parseError(blob: Uint8Array): BtfError {
  try {
    Btf.parse(blob, { source: 'blob' });
  } catch (e) {
    if (e instanceof BtfError) return e;
    throw e;
  }
  throw new Error('parsed');
}

describe('BTF framing walks', () => {
  it('the embedded module is what the emitter produces, and it compiles', () => {
    expect(Buffer.from(frameModuleBytes()).toString('hex')).toBe(FRAME_MODULE_HEX);
    const w = frameWasm(new Uint8Array(0), WORDS);
    expect(w?.count).toBe(0);
  });

  it.skipIf(!existsSync(VMLINUX_BTF_PATH))('agree on the running kernel BTF, record by record', () => {
    const section = typeSection(readFileSync(VMLINUX_BTF_PATH));
    const js = columns(frameJs(section, WORDS), section);
    const wasm = columns(frameWasm(section, WORDS), section);
    expect(js).toBeDefined();
    expect(js!.count).toBeGreaterThan(10000);
    expect(wasm).toEqual(js);
    // The per-kind chains built in wasm are the JS ones, and every record is on its kind's chain.
    const framed = frameWasm(section, WORDS)!;
    const chains = framed.chainKinds!();
    const ref = chainKindsJs(framed.kinds, framed.count);
    expect(Array.from(chains.head)).toEqual(Array.from(ref.head));
    expect(Array.from(chains.tail)).toEqual(Array.from(ref.tail));
    expect(Array.from(chains.next)).toEqual(Array.from(ref.next));
    let onChains = 0;
    for (let k = 0; k < 32; k++) {
      for (let i = chains.head[k]; i >= 0; i = chains.next[i]) {
        expect(framed.kinds[i]).toBe(k);
        onChains++;
      }
    }
    expect(onChains).toBe(framed.count);
    // And the parse, which uses the wasm walk for a section this large, matches both.
    expect(section.length).toBeGreaterThanOrEqual(WASM_MIN_BYTES);
    const btf = Btf.parse(readFileSync(VMLINUX_BTF_PATH));
    expect(btf.typeCount).toBe(js!.count + 1);
    expect(btf.kind(js!.count)).toBe(btf.type(js!.count).kind);
  });

  it('agree on handcrafted sections: many windows, a record larger than a window, an unaligned copy', () => {
    // ~600 KB: records straddle several 128 KB windows.
    const many = typeSection(structsBtf(2500, 16).encode());
    const js = columns(frameJs(many, WORDS), many);
    expect(js?.count).toBe(7501);
    expect(columns(frameWasm(many, WORDS), many)).toEqual(js);
    // One struct of 20000 members (240 KB): the wasm walk gives up, the JS walk frames it.
    const big = structsBtf(3, 20000).encode();
    const bigSection = typeSection(big);
    expect(frameWasm(bigSection, WORDS)).toBeUndefined();
    expect(columns(frameJs(bigSection, WORDS), bigSection)?.count).toBe(10);
    const parsed = Btf.parse(big);
    expect(parsed.typeCount).toBe(11);
    expect(parsed.find('s2', 'struct')).toBe(8);
    // The wasm walk copies, so a section at an odd address is fine; the JS one needs alignment.
    const odd = new Uint8Array(many.length + 1);
    odd.set(many, 1);
    expect(columns(frameWasm(odd.subarray(1), WORDS), odd.subarray(1))).toEqual(js);
    expect(frameJs(odd.subarray(1), WORDS)).toBeUndefined();
  });

  it('give up on the same malformed sections, and parse reports the same typed error either way', () => {
    const blob = structsBtf(2500, 16).encode();
    // Large enough that Btf.parse tries the wasm walk first.
    expect(typeSection(blob).length).toBeGreaterThanOrEqual(WASM_MIN_BYTES);
    const hdr = 24;
    const section = typeSection(blob);
    const framing = frameJs(section, WORDS)!;
    // A bad kind deep inside (record 5000), one in the last record, and a vlen that runs off the end.
    const cases: { at: number; mutate: (dv: DataView, off: number) => void; code: string }[] = [
      { at: 5000, mutate: (dv, off) => dv.setUint8(off + 7, 25), code: 'BTF_BAD_KIND' },
      { at: framing.count - 1, mutate: (dv, off) => dv.setUint8(off + 7, 0), code: 'BTF_BAD_KIND' },
      { at: framing.count - 1, mutate: (dv, off) => dv.setUint16(off + 4, 0xffff, true), code: 'BTF_TRUNCATED' },
      { at: 1234, mutate: (dv, off) => dv.setUint16(off + 4, 0xffff, true), code: 'BTF_TRUNCATED' },
    ];
    for (const c of cases) {
      const bad = blob.slice();
      const off = framing.offsets[c.at];
      c.mutate(new DataView(bad.buffer, hdr), off);
      const sec = typeSection(bad);
      expect(frameJs(sec, WORDS)).toBeUndefined();
      expect(frameWasm(sec, WORDS)).toBeUndefined();
      const e = parseError(bad);
      expect(e.code).toBe(c.code);
      if (c.code === 'BTF_BAD_KIND') {
        expect(e.typeId).toBe(c.at + 1);
        expect(e.offset).toBe(hdr + off);
      }
    }
    // A section cut in the middle of a record header (the type length shortened, strings intact).
    const cut = blob.slice();
    const dv = new DataView(cut.buffer);
    dv.setUint32(12, framing.offsets[3000] + 8, true);
    expect(frameWasm(typeSection(cut), WORDS)).toBeUndefined();
    expect(frameJs(typeSection(cut), WORDS)).toBeUndefined();
    const e = parseError(cut);
    expect(e.code).toBe('BTF_TRUNCATED');
    expect(e.typeId).toBe(3001);
  });

  it('chains built in one wasm pass keep lookups exact through re-kinds and adds', () => {
    const blob = structsBtf(2500, 16).encode();
    expect(typeSection(blob).length).toBeGreaterThanOrEqual(WASM_MIN_BYTES);
    for (const chainFirst of [false, true]) {
      const btf = Btf.parse(blob, { source: 'big' });
      // s5 is id 2 + 3 * 5; its ptr and func_proto follow.
      const s5 = 2 + 3 * 5;
      expect(btf.name(s5)).toBe('s5');
      if (chainFirst) expect(btf.ownIdsByEssentialName('s7___x', 'struct')).toEqual([2 + 3 * 7]);
      btf.replace(s5, { kind: 'union', name: 's5', size: 4, kindFlag: false, members: [] });
      const late = btf.add({ kind: 'struct', name: 's5___late', size: 0, kindFlag: false, members: [] });
      expect(btf.find('s5', 'struct')).toBeUndefined();
      expect(btf.find('s5', 'union')).toBe(s5);
      expect(btf.ownIdsByEssentialName('s5', 'struct')).toEqual([late]);
      expect(btf.ownIdsByEssentialName('s5', 'union')).toEqual([s5]);
      expect(btf.ownIdsByEssentialName('s2499', 'struct')).toEqual([2 + 3 * 2499]);
      expect(btf.idsByName('s6')).toEqual([2 + 3 * 6]);
    }
  });
});
