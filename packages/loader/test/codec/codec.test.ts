import { describe, expect, it } from 'vitest';
import {
  CodecError,
  compileDecoder,
  compileEncoder,
  decodeCString,
  decodeValue,
  encodeCString,
  encodeValue,
  isCharArray,
  isEnumSet,
  typeToTs,
} from '../../src/btf/codec.js';
import { TsbpfError } from '../../src/errors.js';
import { addArray, addComposite, addTypedef, baseBtf } from './helpers.js';

function bytes(...xs: number[]): Uint8Array {
  return Uint8Array.from(xs);
}

function expectCodecError(fn: () => unknown, code: string, path: string): CodecError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(CodecError);
    expect(e).toBeInstanceOf(TsbpfError);
    const ce = e as CodecError;
    expect(ce.code).toBe(code);
    expect(ce.path).toBe(path);
    expect(ce.message).toContain(path);
    return ce;
  }
  throw new Error('expected a CodecError');
}

describe('integers', () => {
  it('decodes every size with the right signedness', () => {
    const t = baseBtf();
    const { b } = t;
    const all = bytes(0xff, 0xfe, 0xff, 0xfd, 0xff, 0xff, 0xff);
    expect(decodeValue(b, t.u8, all)).toBe(255);
    expect(decodeValue(b, t.s8, all)).toBe(-1);
    expect(decodeValue(b, t.char, all)).toBe(-1);
    expect(decodeValue(b, t.u16, all)).toBe(0xfeff);
    expect(decodeValue(b, t.s16, all)).toBe(-257);
    expect(decodeValue(b, t.u32, all, { offset: 1 })).toBe(0xfffdfffe);
    expect(decodeValue(b, t.u32, bytes(0xff, 0xff, 0xff, 0xff))).toBe(0xffffffff);
    expect(decodeValue(b, t.s32, bytes(0xfe, 0xff, 0xff, 0xff))).toBe(-2);
    const u64max = new Uint8Array(8).fill(0xff);
    expect(decodeValue(b, t.u64, u64max)).toBe(0xffffffffffffffffn);
    expect(decodeValue(b, t.s64, u64max)).toBe(-1n);
    expect(decodeValue(b, t.u128, new Uint8Array(16).fill(0xff))).toBe((1n << 128n) - 1n);
    expect(decodeValue(b, t.s128, new Uint8Array(16).fill(0xff))).toBe(-1n);
    expect(decodeValue(b, t.bool, bytes(2))).toBe(true);
    expect(decodeValue(b, t.bool, bytes(0))).toBe(false);
  });

  it("int64: 'number-if-safe' gives numbers only when exact", () => {
    const t = baseBtf();
    const o = { int64: 'number-if-safe' } as const;
    const enc = (x: bigint, id: number) => encodeValue(t.b, id, x);
    expect(decodeValue(t.b, t.u64, enc(12345678901234n, t.u64), o)).toBe(12345678901234);
    expect(decodeValue(t.b, t.u64, enc(2n ** 53n - 1n, t.u64), o)).toBe(2 ** 53 - 1);
    expect(decodeValue(t.b, t.u64, enc(2n ** 53n, t.u64), o)).toBe(2n ** 53n);
    expect(decodeValue(t.b, t.s64, enc(-5n, t.s64), o)).toBe(-5);
    expect(decodeValue(t.b, t.s64, enc(-(2n ** 53n) + 1n, t.s64), o)).toBe(-(2 ** 53) + 1);
    expect(decodeValue(t.b, t.s64, enc(-(2n ** 53n), t.s64), o)).toBe(-(2n ** 53n));
    expect(decodeValue(t.b, t.s64, enc(-(2n ** 63n), t.s64), o)).toBe(-(2n ** 63n));
  });

  it('encodes with range and type checks', () => {
    const t = baseBtf();
    const { b } = t;
    expect(encodeValue(b, t.s16, -2)).toEqual(bytes(0xfe, 0xff));
    expect(encodeValue(b, t.u32, 0xdeadbeefn)).toEqual(bytes(0xef, 0xbe, 0xad, 0xde));
    expect(encodeValue(b, t.u64, 1)).toEqual(bytes(1, 0, 0, 0, 0, 0, 0, 0));
    expect(encodeValue(b, t.bool, true)).toEqual(bytes(1));
    expect(encodeValue(b, t.u128, (1n << 64n) + 2n)).toEqual(bytes(2, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0));
    expectCodecError(() => encodeValue(b, t.u8, 256), 'CODEC_OUT_OF_RANGE', 'unsigned char');
    expectCodecError(() => encodeValue(b, t.u8, -1), 'CODEC_OUT_OF_RANGE', 'unsigned char');
    expectCodecError(() => encodeValue(b, t.s32, 1.5), 'CODEC_OUT_OF_RANGE', 'int');
    expectCodecError(() => encodeValue(b, t.s32, '1'), 'CODEC_WRONG_TYPE', 'int');
    expectCodecError(() => encodeValue(b, t.u64, -1n), 'CODEC_OUT_OF_RANGE', 'long long unsigned int');
    expectCodecError(() => encodeValue(b, t.u64, 2 ** 60), 'CODEC_OUT_OF_RANGE', 'long long unsigned int');
    expectCodecError(() => encodeValue(b, t.s64, 1n << 63n), 'CODEC_OUT_OF_RANGE', 'long long int');
    expectCodecError(() => encodeValue(b, t.bool, 1), 'CODEC_WRONG_TYPE', '_Bool');
  });
});

describe('enums', () => {
  function enums() {
    const t = baseBtf();
    const { b } = t;
    const color = b.add({
      kind: 'enum',
      name: 'color',
      size: 4,
      signed: true,
      values: [
        { name: 'RED', value: 0 },
        { name: 'GREEN', value: 1 },
        { name: 'NEG', value: -3 },
      ],
    });
    const flagsSet = b.add({
      kind: 'enum',
      name: 'open_flags_set',
      size: 4,
      signed: false,
      values: [
        { name: 'F_READ', value: 1 },
        { name: 'F_WRITE', value: 2 },
        { name: 'F_RW', value: 3 },
        { name: 'F_TOP', value: 0x80000000 },
      ],
    });
    const caps = ['CAP_CHOWN', 'CAP_KILL', 'CAP_SYS_ADMIN', 'CAP_BPF'];
    const capBits = [0n, 5n, 21n, 39n];
    const capSet = b.add({
      kind: 'enum64',
      name: 'cap_effective_flags_set',
      size: 8,
      signed: false,
      values: caps.map((name, i) => ({ name: `FLAG_${name}`, value: 1n << capBits[i] })),
    });
    const big = b.add({
      kind: 'enum64',
      name: 'big',
      size: 8,
      signed: false,
      values: [{ name: 'HUGE', value: 0xffff_0000_0000_0000n }],
    });
    return { ...t, color, flagsSet, capSet, big };
  }

  it('decodes names, unknown values as numbers, and raw values on request', () => {
    const t = enums();
    expect(decodeValue(t.b, t.color, encodeValue(t.b, t.s32, 1))).toBe('GREEN');
    expect(decodeValue(t.b, t.color, encodeValue(t.b, t.s32, -3))).toBe('NEG');
    expect(decodeValue(t.b, t.color, encodeValue(t.b, t.s32, 7))).toBe(7);
    expect(decodeValue(t.b, t.color, encodeValue(t.b, t.s32, 1), { enums: 'value' })).toBe(1);
    expect(decodeValue(t.b, t.big, encodeValue(t.b, t.u64, 0xffff_0000_0000_0000n))).toBe('HUGE');
    expect(decodeValue(t.b, t.big, encodeValue(t.b, t.u64, 5n))).toBe(5n);
    expect(decodeValue(t.b, t.big, encodeValue(t.b, t.u64, 5n), { int64: 'number-if-safe' })).toBe(5);
    expect(encodeValue(t.b, t.color, 'NEG')).toEqual(encodeValue(t.b, t.s32, -3));
    expect(encodeValue(t.b, t.color, 9)).toEqual(encodeValue(t.b, t.s32, 9));
    const e = expectCodecError(() => encodeValue(t.b, t.color, 'BLUE'), 'CODEC_OUT_OF_RANGE', 'color');
    expect(e.message).toContain('RED, GREEN, NEG');
  });

  it('decodes *_set enums to the names of the set bits, leftovers in hex', () => {
    const t = enums();
    expect(isEnumSet(t.b, t.flagsSet)).toBe(true);
    expect(isEnumSet(t.b, t.color)).toBe(false);
    const d = (x: number) => decodeValue(t.b, t.flagsSet, encodeValue(t.b, t.u32, x));
    expect(d(0)).toEqual([]);
    expect(d(1)).toEqual(['F_READ']);
    expect(d(3)).toEqual(['F_READ', 'F_WRITE', 'F_RW']);
    expect(d(0x80000001)).toEqual(['F_READ', 'F_TOP']);
    expect(d(0x14)).toEqual(['0x14']);
    const mask = (1n << 0n) | (1n << 21n) | (1n << 39n) | (1n << 63n);
    expect(decodeValue(t.b, t.capSet, encodeValue(t.b, t.u64, mask))).toEqual([
      'FLAG_CAP_CHOWN',
      'FLAG_CAP_SYS_ADMIN',
      'FLAG_CAP_BPF',
      '0x8000000000000000',
    ]);
    // Round trip, including the leftover bits.
    const back = encodeValue(t.b, t.capSet, ['FLAG_CAP_CHOWN', 'FLAG_CAP_SYS_ADMIN', 'FLAG_CAP_BPF', '0x8000000000000000']);
    expect(back).toEqual(encodeValue(t.b, t.u64, mask));
    expect(encodeValue(t.b, t.capSet, 1n << 5n)).toEqual(encodeValue(t.b, t.u64, 32n));
    expectCodecError(() => encodeValue(t.b, t.capSet, ['FLAG_CAP_CHOWN', 'NOPE']), 'CODEC_OUT_OF_RANGE', 'cap_effective_flags_set[1]');
    expect(decodeValue(t.b, t.capSet, encodeValue(t.b, t.u64, 33n), { enums: 'value' })).toBe(33n);
  });
});

describe('char arrays', () => {
  function strings() {
    const t = baseBtf();
    const comm = addArray(t.b, t.char, 16, t.u32);
    const raw = addArray(t.b, t.u8, 4, t.u32);
    const gadgetComm = addTypedef(t.b, 'gadget_comm', t.char);
    const comm2 = addArray(t.b, gadgetComm, 8, t.u32);
    return { ...t, comm, raw, comm2 };
  }

  it('stops at NUL and decodes UTF-8', () => {
    const t = strings();
    expect(isCharArray(t.b, t.comm)).toBe(true);
    expect(isCharArray(t.b, t.comm2)).toBe(true);
    expect(isCharArray(t.b, t.raw)).toBe(false);
    const buf = new Uint8Array(16);
    buf.set(new TextEncoder().encode('héllo'));
    buf.set([0x41, 0x42], 10); // garbage after the NUL is ignored
    expect(decodeValue(t.b, t.comm, buf)).toBe('héllo');
    expect(decodeValue(t.b, t.comm, new Uint8Array(16).fill(0x61))).toBe('a'.repeat(16));
    expect(decodeValue(t.b, t.comm2, new TextEncoder().encode('gadget\0x'))).toBe('gadget');
    expect(decodeValue(t.b, t.raw, bytes(1, 2, 3, 4))).toEqual([1, 2, 3, 4]);
  });

  it('keeps invalid UTF-8 bytes visible and recoverable as U+DC80..U+DCFF', () => {
    const t = strings();
    // lone continuation, overlong '/', truncated 3-byte seq, a surrogate encoded in UTF-8, 0xff, valid 😀
    const garbage = bytes(0x80, 0xc0, 0xaf, 0xe2, 0x82, 0x41, 0xed, 0xa0, 0x80, 0xff, 0xf0, 0x9f, 0x98, 0x80);
    const buf = new Uint8Array(16);
    buf.set(garbage);
    const s = decodeValue(t.b, t.comm, buf) as string;
    expect(s).toBe('\udc80\udcc0\udcaf\udce2\udc82A\udced\udca0\udc80\udcff😀');
    // Encoding the decoded string restores the exact bytes.
    expect(encodeValue(t.b, t.comm, s).subarray(0, garbage.length)).toEqual(garbage);
    expect(encodeCString(s)).toEqual(garbage);
    expect(decodeCString(garbage)).toBe(s);
    // latin1 maps bytes 1:1.
    expect(decodeValue(t.b, t.comm, buf, { charEncoding: 'latin1' })).toBe(String.fromCharCode(...garbage));
    // raw bytes on request: the whole array, copied.
    const raw = decodeValue(t.b, t.comm, buf, { charArrays: 'bytes' }) as Uint8Array;
    expect(raw).toEqual(buf);
    buf[0] = 0x7a;
    expect(raw[0]).toBe(0x80);
  });

  it('encodes strings and byte arrays with length checks', () => {
    const t = strings();
    const out = encodeValue(t.b, t.comm, 'bash');
    expect(Array.from(out.subarray(0, 6))).toEqual([0x62, 0x61, 0x73, 0x68, 0, 0]);
    expect(encodeValue(t.b, t.comm, 'x'.repeat(16))).toEqual(new Uint8Array(16).fill(0x78));
    expect(encodeValue(t.b, t.comm, bytes(1, 2)).subarray(0, 3)).toEqual(bytes(1, 2, 0));
    expectCodecError(() => encodeValue(t.b, t.comm, 'x'.repeat(17)), 'CODEC_OUT_OF_RANGE', 'value');
    expectCodecError(() => encodeValue(t.b, t.comm, 'ok\ud800'), 'CODEC_OUT_OF_RANGE', 'value');
    expectCodecError(() => encodeValue(t.b, t.comm, 42), 'CODEC_WRONG_TYPE', 'value');
    expectCodecError(() => encodeValue(t.b, t.comm, 'Ā', { charEncoding: 'latin1' }), 'CODEC_OUT_OF_RANGE', 'value');
  });
});

describe('fast paths', () => {
  it('reads every 64-bit value at any alignment and offset, with and without code generation', () => {
    const t = baseBtf();
    const args = addArray(t.b, t.u64, 3, t.u32);
    const st = addComposite(t.b, 'struct', 'ev', [
      ['ts', t.u64],
      ['delta', t.s64],
      ['args', args],
    ]);
    const want = { ts: 0xfedcba9876543210n, delta: -5n, args: [1n, 0xffffffffffffffffn, 1n << 63n] };
    const enc = encodeValue(t.b, st, want);
    // Shift the record by 0..7 bytes inside a larger buffer: perf samples start 4 bytes off.
    for (let shift = 0; shift < 8; shift++) {
      const buf = new Uint8Array(64);
      buf.set(enc, 8 + shift);
      for (const codegen of [true, false]) {
        const d = compileDecoder(t.b, st, { codegen });
        expect(d(new DataView(buf.buffer), 8 + shift)).toEqual(want);
        // The same bytes through a view that starts elsewhere in the buffer.
        expect(d(new DataView(buf.buffer, shift + 1), 7)).toEqual(want);
      }
    }
  });

  it('reads 64-bit members at offsets that are not multiples of 8 inside a packed record, and pointers', () => {
    const t = baseBtf();
    const ptr = t.b.add({ kind: 'ptr', name: '', type: t.u32 });
    const inner = addComposite(t.b, 'struct', 'inner', [['v', t.u64]]);
    // __attribute__((packed)): the 64-bit members sit 4 bytes off an 8-byte boundary.
    const st = t.b.add({
      kind: 'struct',
      name: 'packed_ev',
      size: 36,
      kindFlag: false,
      members: [
        { name: 'tag', type: t.u32, bitOffset: 0, bitfieldSize: 0 },
        { name: 'a', type: t.u64, bitOffset: 32, bitfieldSize: 0 },
        { name: 'b', type: t.s64, bitOffset: 96, bitfieldSize: 0 },
        { name: 'p', type: ptr, bitOffset: 160, bitfieldSize: 0 },
        { name: 'in', type: inner, bitOffset: 224, bitfieldSize: 0 },
      ],
    });
    const want = { tag: 7, a: 0x0102030405060708n, b: -2n, p: 0xffff888012345678n, in: { v: 0x8000000000000001n } };
    const enc = encodeValue(t.b, st, want);
    for (let shift = 0; shift < 8; shift++) {
      const buf = new Uint8Array(64);
      buf.set(enc, 16 + shift);
      for (const codegen of [true, false]) {
        expect(compileDecoder(t.b, st, { codegen })(new DataView(buf.buffer), 16 + shift)).toEqual(want);
      }
    }
  });

  it('gives fresh text after the bytes change (short strings are cached by content, not by place)', () => {
    const t = baseBtf();
    const comm = addArray(t.b, t.char, 16, t.u32);
    const d = compileDecoder(t.b, comm);
    const buf = new Uint8Array(16);
    const view = new DataView(buf.buffer);
    buf.set(new TextEncoder().encode('bash'));
    expect(d(view)).toBe('bash');
    expect(d(view)).toBe('bash');
    buf.set(new TextEncoder().encode('dash'));
    expect(d(view)).toBe('dash');
    buf[1] = 0xc3; // not ASCII any more: a lone lead byte is surrogate-escaped
    expect(d(view)).toBe('d\udcc3sh');
    buf.fill(0x7a);
    expect(d(view)).toBe('z'.repeat(16));
    // A long ASCII string (past the cache) and an empty one.
    const path = addArray(t.b, t.char, 64, t.u32);
    const long = new Uint8Array(64).fill(0x2f, 0, 40);
    expect(compileDecoder(t.b, path)(new DataView(long.buffer))).toBe('/'.repeat(40));
    expect(compileDecoder(t.b, path)(new DataView(new ArrayBuffer(64)))).toBe('');
  });

  it('gives exactly the decoded text from the char-array text cache: collisions, NUL in any byte, no NUL, past its reach, non-ASCII', () => {
    const t = baseBtf();
    const enc = new TextEncoder();
    for (const charEncoding of ['utf8', 'latin1'] as const) {
      for (const n of [912, 13, 38, 16, 32]) {
        const d = compileDecoder(t.b, addArray(t.b, t.char, n, t.u32), { charEncoding });
        const contents: Uint8Array[] = [];
        // Lengths 0..n: the NUL in every byte of a word, in the tail of an array that is not whole
        // words, past the cache's 256 bytes, or absent (length n); then many distinct texts, long
        // ones included, for 64 slots.
        for (let len = 0; len <= n; len++) {
          const b = new Uint8Array(n).fill(0x61, 0, len);
          if (len + 1 < n) b[len + 1] = 0x7a; // garbage after the NUL
          contents.push(b);
          // The same length ending in a byte above 0x7f, in whichever byte of the NUL's word.
          if (len > 0) contents.push(Uint8Array.from(b, (x, j) => (j === len - 1 ? 0xc3 : x)));
          // 0x01 and 0xff right after the NUL: the zero-byte test's borrow flags them too.
          contents.push(Uint8Array.from(b, (x, j) => (j === len + 1 ? 0x01 : j === len + 2 ? 0xff : x)));
        }
        for (let i = 0; i < 600; i++) {
          const b = new Uint8Array(n);
          b.set(enc.encode(`/usr/lib/é${i}/${'x'.repeat(i % 300)}`).subarray(0, n));
          if (i % 7 === 0) b[3] = 0xff; // invalid UTF-8: surrogate-escaped
          contents.push(b);
        }
        const want = contents.map((b) => decodeCString(b, charEncoding));
        const buf = new Uint8Array(n + 8);
        const view = new DataView(buf.buffer);
        // Each content twice in a row (a miss, then a hit whatever its length), in two orders, at an
        // offset: hits, misses and evictions all return the decoded text.
        for (const order of [contents.map((_, i) => i), contents.map((_, i) => (i * 7919) % contents.length)]) {
          for (const i of order) {
            buf.set(contents[i], 8);
            expect(d(view, 8)).toBe(want[i]);
            expect(d(view, 8)).toBe(want[i]);
          }
        }
        expect(want).toContain('a'.repeat(n)); // the no-NUL case was among them
      }
    }
  });
});

describe('composites', () => {
  function event() {
    const t = baseBtf();
    const { b } = t;
    const comm = addArray(b, t.char, 16, t.u32);
    const kind = b.add({ kind: 'enum', name: 'kind', size: 4, signed: false, values: [{ name: 'K_A', value: 0 }, { name: 'K_B', value: 1 }, { name: 'K_C', value: 2 }] });
    const creds = addComposite(b, 'struct', 'creds', [
      ['uid', t.u32],
      ['gid', t.u32],
    ]);
    const addr = addComposite(b, 'union', 'addr', [
      ['v6', addArray(b, t.u8, 16, t.u32)],
      ['v4', t.u32],
    ]);
    const constU16 = b.add({ kind: 'const', name: '', type: t.u16 });
    const volU16 = b.add({ kind: 'volatile', name: '', type: constU16 });
    const pid = addTypedef(b, 'gadget_pid', t.u32);
    const ptr = b.add({ kind: 'ptr', name: '', type: creds });
    const f32 = b.add({ kind: 'float', name: 'float', size: 4 });
    const f64 = b.add({ kind: 'float', name: 'double', size: 8 });
    const matrix = addArray(b, addArray(b, t.s16, 3, t.u32), 2, t.u32);
    const credsArr = addArray(b, creds, 2, t.u32);
    const anonUnion = addComposite(b, 'union', '', [
      ['as_u32', t.u32],
      ['as_s32', t.s32],
    ]);
    const ev = addComposite(b, 'struct', 'event', [
      ['ts', t.u64],
      ['pid', pid],
      ['comm', comm],
      ['creds', creds],
      ['addr', addr],
      ['port', volU16],
      ['small', t.s8],
      ['enabled', t.bool],
      ['kind', kind],
      ['task', ptr],
      ['ratio', f32],
      ['avg', f64],
      ['matrix', matrix],
      ['history', credsArr],
      ['', anonUnion],
      ['tail', t.u8],
    ]);
    return { ...t, ev, creds };
  }

  const sample = {
    ts: 123456789012345678n,
    pid: 4242,
    comm: 'nice',
    creds: { uid: 1000, gid: 100 },
    addr: { v6: [1, 0, 0, 127, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], v4: 0x7f000001 },
    port: 8080,
    small: -7,
    enabled: true,
    kind: 'K_C',
    task: 0xffff888012345678n,
    ratio: 0.5,
    avg: Math.PI,
    matrix: [
      [1, -2, 3],
      [-4, 5, -6],
    ],
    history: [
      { uid: 1, gid: 2 },
      { uid: 3, gid: 4 },
    ],
    as_u32: 0xffffffff,
    as_s32: -1,
    tail: 9,
  };

  it('round-trips a nested struct with unions, arrays, pointers, floats and qualifiers', () => {
    const t = event();
    const enc = encodeValue(t.b, t.ev, sample);
    expect(enc.length).toBe(t.b.sizeof(t.ev));
    const dec = decodeValue(t.b, t.ev, enc);
    expect(dec).toEqual(sample);
    // The union decodes every member over the same bytes.
    const ev = t.b.type(t.ev);
    const addrOff = ev.kind === 'struct' ? (ev.members.find((m) => m.name === 'addr')?.bitOffset ?? 0) / 8 : -1;
    const addrBytes = enc.subarray(addrOff, addrOff + 16);
    expect(Array.from(addrBytes.subarray(0, 4))).toEqual([1, 0, 0, 127]);
    // Re-encoding the decoded value is byte-identical.
    expect(encodeValue(t.b, t.ev, dec)).toEqual(enc);
  });

  it('decodes the same values without code generation', () => {
    const t = event();
    const enc = encodeValue(t.b, t.ev, sample);
    const plain = compileDecoder(t.b, t.ev, { codegen: false });
    expect(plain).not.toBe(compileDecoder(t.b, t.ev));
    expect(plain(new DataView(enc.buffer))).toEqual(sample);
    for (const options of [{ int64: 'number-if-safe' }, { enums: 'value' }, { charArrays: 'bytes' }] as const) {
      expect(decodeValue(t.b, t.ev, enc, { ...options, codegen: false })).toEqual(decodeValue(t.b, t.ev, enc, options));
    }
  });

  it('zero-fills members left out and rejects unknown ones, naming the path', () => {
    const t = event();
    const dec = decodeValue(t.b, t.ev, encodeValue(t.b, t.ev, { pid: 5 })) as Record<string, unknown>;
    expect(dec.pid).toBe(5);
    expect(dec.comm).toBe('');
    expect(dec.ts).toBe(0n);
    expect(dec.kind).toBe('K_A');
    expectCodecError(() => encodeValue(t.b, t.ev, { creds: { uid: 1, typo: 2 } }), 'CODEC_UNKNOWN_FIELD', 'event.creds.typo');
    expectCodecError(() => encodeValue(t.b, t.ev, { creds: { uid: -1 } }), 'CODEC_OUT_OF_RANGE', 'event.creds.uid');
    expectCodecError(() => encodeValue(t.b, t.ev, { history: [{ uid: 1 }, { gid: 'x' }] }), 'CODEC_WRONG_TYPE', 'event.history[1].gid');
    expectCodecError(() => encodeValue(t.b, t.ev, { matrix: [[1], [2, 3, 70000]] }), 'CODEC_OUT_OF_RANGE', 'event.matrix[1][2]');
    expectCodecError(() => encodeValue(t.b, t.ev, { matrix: [[1, 2, 3, 4]] }), 'CODEC_OUT_OF_RANGE', 'event.matrix[0]');
    expectCodecError(() => encodeValue(t.b, t.ev, { task: 'x' }), 'CODEC_WRONG_TYPE', 'event.task');
    expectCodecError(() => encodeValue(t.b, t.ev, { ratio: 1n }), 'CODEC_WRONG_TYPE', 'event.ratio');
    expectCodecError(() => encodeValue(t.b, t.ev, [1]), 'CODEC_WRONG_TYPE', 'event');
    expectCodecError(() => encodeValue(t.b, t.ev, { enabled: 'yes' }), 'CODEC_WRONG_TYPE', 'event.enabled');
  });

  it('bounds-checks the buffer once and honours offsets', () => {
    const t = event();
    const size = t.b.sizeof(t.ev);
    const d = compileDecoder(t.b, t.ev);
    expectCodecError(() => d(new DataView(new ArrayBuffer(size - 1))), 'CODEC_SHORT_BUFFER', 'event');
    expectCodecError(() => d(new DataView(new ArrayBuffer(size)), 1), 'CODEC_SHORT_BUFFER', 'event');
    expectCodecError(() => d(new DataView(new ArrayBuffer(size)), -1), 'CODEC_SHORT_BUFFER', 'event');
    const buf = new Uint8Array(size + 8);
    const e = compileEncoder(t.b, t.ev);
    buf.fill(0xaa);
    e(sample, new DataView(buf.buffer), 8);
    expect(Array.from(buf.subarray(0, 8))).toEqual(new Array(8).fill(0xaa));
    expect(d(new DataView(buf.buffer), 8)).toEqual(sample);
    // Encoders zero the target first: a reused buffer leaves no stale bytes.
    e({ pid: 1 }, new DataView(buf.buffer), 8);
    expect((d(new DataView(buf.buffer), 8) as { comm: string }).comm).toBe('');
  });

  // Generated decoders embed nested structs and scalar arrays in their parent, with one body for
  // records that start 8-byte aligned (64-bit views) and one for any other start (perf samples start
  // 4 bytes off), where nested values are decoded by calls: every start must read the same values.
  it('reads nested structs and arrays with 64-bit members the same at every alignment', () => {
    const t = baseBtf();
    const { b } = t;
    const comm = addArray(b, t.char, 16, t.u32);
    const inner = addComposite(b, 'struct', 'inner', [
      ['when', t.u64],
      ['delta', t.s64],
      ['name', comm],
    ]);
    const hdr = addComposite(b, 'struct', 'hdr', [
      ['ts', t.u64],
      ['pid', t.u32],
      ['tid', t.u32],
      ['inner', inner],
      ['pair', addArray(b, inner, 2, t.u32)],
    ]);
    // Packed (alignment 1): placed right after the s64 array, at a multiple of 8, so its 64-bit
    // member sits 4 bytes off one: read through s64b even in the aligned body.
    const packed = b.add({
      kind: 'struct',
      name: 'packed',
      size: 12,
      kindFlag: false,
      members: [
        { name: 'a', type: t.u32, bitOffset: 0, bitfieldSize: 0 },
        { name: 'b', type: t.s64, bitOffset: 32, bitfieldSize: 0 },
      ],
    });
    const either = addComposite(b, 'union', 'either', [
      ['wide', t.u64],
      ['halves', addArray(b, t.u32, 2, t.u32)],
    ]);
    const odd = addComposite(b, 'struct', 'odd', [
      ['__proto__', t.u32],
      ['either', either],
    ]);
    const rec = addComposite(b, 'struct', 'rec', [
      ['hdr', hdr],
      ['args', addArray(b, t.u64, 4, t.u32)],
      ['signed', addArray(b, t.s64, 2, t.u32)],
      ['packed', packed],
      ['small', addArray(b, t.u16, 3, t.u32)],
      ['tail', t.u32],
      ['odd', odd],
    ]);
    const one = (k: bigint): Record<string, unknown> => ({ when: 2n ** 64n - k, delta: -(2n ** 62n) - k, name: `n${k}` });
    const value = {
      hdr: { ts: 2n ** 63n + 5n, pid: 7, tid: 8, inner: one(1n), pair: [one(2n), one(3n)] },
      args: [1n, 2n ** 40n, 2n ** 64n - 1n, 0n],
      signed: [-1n, -(2n ** 63n)],
      small: [1, 2, 65535],
      tail: 0xdeadbeef,
      packed: { a: 3, b: -(2n ** 40n) },
      odd: { ['__proto__']: 9, either: { wide: 2n ** 32n + 1n, halves: [1, 1] } },
    };
    const size = b.sizeof(rec);
    const enc = encodeValue(b, rec, value);
    // The generated sources, to check that code generation ran and embedded the nested structs.
    const sources: string[] = [];
    const RealFunction = globalThis.Function;
    globalThis.Function = new Proxy(RealFunction, {
      construct(target, args: string[]) {
        sources.push(args[args.length - 1]);
        return Reflect.construct(target, args) as object;
      },
    });
    let d: ReturnType<typeof compileDecoder>;
    try {
      d = compileDecoder(b, rec);
    } finally {
      globalThis.Function = RealFunction;
    }
    const root = sources[sources.length - 1];
    expect(root).toContain('function aligned(');
    expect(root).toContain('function split(');
    // hdr embedded (with inner and the pair's calls) in the aligned body: its members read by name there.
    expect(root).toContain('"ts": w64.u[a + 0]');
    expect(root).toMatch(/"b": s64b\(v, o \+ \d+\)/);
    expect(root).toContain('["__proto__"]');
    const plain = compileDecoder(b, rec, { codegen: false });
    const buf = new Uint8Array(size + 16);
    for (let at = 0; at < 16; at++) {
      buf.fill(0x5a);
      buf.set(enc, at);
      const view = new DataView(buf.buffer);
      expect(d(view, at)).toEqual(value);
      expect(plain(view, at)).toEqual(value);
      // Through a view that starts elsewhere in the buffer as well.
      expect(d(new DataView(buf.buffer, at), 0)).toEqual(value);
    }
    expect(compileDecoder(b, rec, { int64: 'number-if-safe' })(new DataView(enc.buffer))).toEqual({
      ...value,
      args: [1, 2 ** 40, 2n ** 64n - 1n, 0],
      signed: [-1, -(2n ** 63n)],
      packed: { a: 3, b: -(2 ** 40) },
      odd: { ...value.odd, either: { wide: 2 ** 32 + 1, halves: [1, 1] } },
    });
  });

  it('caches compiled codecs per BTF, type and options', () => {
    const t = event();
    expect(compileDecoder(t.b, t.ev)).toBe(compileDecoder(t.b, t.ev));
    expect(compileDecoder(t.b, t.ev, { int64: 'number-if-safe' })).not.toBe(compileDecoder(t.b, t.ev));
    expect(compileEncoder(t.b, t.ev)).toBe(compileEncoder(t.b, t.ev));
  });

  it('decodes a DATASEC as an object of its variables', () => {
    const t = baseBtf();
    const { b } = t;
    const v1 = b.add({ kind: 'var', name: 'audit_only', type: t.bool, linkage: 1 });
    const v2 = b.add({ kind: 'var', name: 'max', type: t.u32, linkage: 1 });
    const sec = b.add({ kind: 'datasec', name: '.rodata', size: 8, vars: [{ type: v1, offset: 0, size: 1 }, { type: v2, offset: 4, size: 4 }] });
    const enc = encodeValue(b, sec, { audit_only: true, max: 77 });
    expect(Array.from(enc)).toEqual([1, 0, 0, 0, 77, 0, 0, 0]);
    expect(decodeValue(b, sec, enc)).toEqual({ audit_only: true, max: 77 });
  });

  it('decodes half, single and double floats', () => {
    const t = baseBtf();
    const f16 = t.b.add({ kind: 'float', name: '_Float16', size: 2 });
    for (const x of [0, 1, -2, 0.5, 65504, 6.103515625e-5, 5.960464477539063e-8, Infinity]) {
      expect(decodeValue(t.b, f16, encodeValue(t.b, f16, x))).toBe(x);
    }
    expect(Number.isNaN(decodeValue(t.b, f16, encodeValue(t.b, f16, NaN)))).toBe(true);
    const ld = t.b.add({ kind: 'float', name: 'long double', size: 16 });
    expectCodecError(() => compileDecoder(t.b, ld), 'CODEC_UNSUPPORTED_TYPE', 'long double');
  });

  it('refuses types with no value form', () => {
    const t = baseBtf();
    const { b } = t;
    const proto = b.add({ kind: 'func_proto', name: '', returnType: t.s32, params: [] });
    const fwd = b.add({ kind: 'fwd', name: 'task_struct', union: false });
    const s = addComposite(b, 'struct', 'holder', [['x', t.u32]]);
    // A struct member that is a forward declaration cannot be laid out: build it by hand.
    const bad = b.add({ kind: 'struct', name: 'bad', size: 8, kindFlag: false, members: [{ name: 'f', type: fwd, bitOffset: 0, bitfieldSize: 0 }] });
    expectCodecError(() => compileDecoder(b, proto), 'CODEC_UNSUPPORTED_TYPE', 'value');
    expectCodecError(() => compileDecoder(b, bad), 'CODEC_UNSUPPORTED_TYPE', 'bad.f');
    expectCodecError(() => compileEncoder(b, bad), 'CODEC_UNSUPPORTED_TYPE', 'bad.f');
    expect(() => compileDecoder(b, s)).not.toThrow();
  });

  it('refuses members that overrun their struct at compile time', () => {
    const t = baseBtf();
    const { b } = t;
    const s = b.add({ kind: 'struct', name: 'short', size: 4, kindFlag: false, members: [{ name: 'x', type: t.u64, bitOffset: 0, bitfieldSize: 0 }] });
    const e = expectCodecError(() => compileDecoder(b, s), 'CODEC_UNSUPPORTED_TYPE', 'short.x');
    expect(e.message).toContain('past the 4 bytes of struct short');
    expectCodecError(() => compileEncoder(b, s), 'CODEC_UNSUPPORTED_TYPE', 'short.x');
    const bf = b.add({ kind: 'struct', name: 'bits', size: 1, kindFlag: true, members: [{ name: 'y', type: t.u32, bitOffset: 6, bitfieldSize: 3 }] });
    expectCodecError(() => compileDecoder(b, bf), 'CODEC_UNSUPPORTED_TYPE', 'bits.y');
  });

  it('refuses a malformed self-containing struct instead of recursing forever', () => {
    const t = baseBtf();
    const { b } = t;
    // A struct whose member is the struct itself, by value.
    const id = b.add({ kind: 'struct', name: 'loop', size: 4, kindFlag: false, members: [] });
    b.replace(id, { kind: 'struct', name: 'loop', size: 4, kindFlag: false, members: [{ name: 'me', type: id, bitOffset: 0, bitfieldSize: 0 }] });
    expect(() => compileDecoder(b, id)).toThrow(TsbpfError);
  });
});

describe('hostile member names', () => {
  it('keeps names that look like code or __proto__ as plain own keys', () => {
    const t = baseBtf();
    const { b } = t;
    const evil = 'x"]: 1 }; globalThis.pwned = 1; ({ "';
    const s = addComposite(b, 'struct', 'weird', [
      ['__proto__', t.u32],
      [evil, t.u8],
      ['constructor', t.u16],
      ['toString', addArray(b, t.char, 4, t.u32)],
    ]);
    const value = { ['__proto__']: 7, [evil]: 3, constructor: 9, toString: 'ab' };
    Object.defineProperty(value, '__proto__', { value: 7, enumerable: true });
    const enc = encodeValue(b, s, value);
    const dec = decodeValue(b, s, enc) as Record<string, unknown>;
    expect(decodeValue(b, s, enc, { codegen: false })).toEqual(dec);
    expect(Object.getOwnPropertyDescriptor(decodeValue(b, s, enc, { codegen: false }), '__proto__')?.value).toBe(7);
    expect(Object.getPrototypeOf(dec)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(dec, '__proto__')?.value).toBe(7);
    expect(dec[evil]).toBe(3);
    expect(dec.constructor).toBe(9);
    expect(dec.toString).toBe('ab');
    expect((globalThis as Record<string, unknown>).pwned).toBeUndefined();
    // A plain object without the key encodes a zero, never the prototype.
    expect(decodeValue(b, s, encodeValue(b, s, {}))).toMatchObject({ constructor: 0, toString: '' });
  });
});

describe('bitfields', () => {
  function flags() {
    const t = baseBtf();
    const { b } = t;
    const mode = b.add({ kind: 'enum', name: 'mode', size: 4, signed: false, values: [{ name: 'M_OFF', value: 0 }, { name: 'M_ON', value: 1 }, { name: 'M_AUTO', value: 2 }] });
    const s = addComposite(b, 'struct', 'flags', [
      ['a', t.u32, 3],
      ['b', t.s32, 5],
      ['c', t.u32, 12], // straddles bytes 1..2
      ['on', t.bool, 1],
      ['mode', mode, 2],
      ['neg', t.s32, 4],
      ['big', t.u64, 40],
      ['sbig', t.s64, 20],
      ['after', t.u16],
    ]);
    return { ...t, s };
  }

  it('round-trips signed, unsigned, bool, enum and 64-bit bitfields', () => {
    const t = flags();
    const value = { a: 5, b: -9, c: 0xabc, on: true, mode: 'M_AUTO', neg: -8, big: 0xab_cdef_0123n, sbig: -123456n, after: 0xbeef };
    const enc = encodeValue(t.b, t.s, value);
    expect(decodeValue(t.b, t.s, enc)).toEqual(value);
    expect(decodeValue(t.b, t.s, enc, { codegen: false })).toEqual(value);
    // a=5 in bits 0..2, b=-9 (0b10111) in bits 3..7 → first byte 0b10111_101.
    expect(enc[0]).toBe(0b10111101);
    // Setting one field leaves its neighbours alone.
    const only = decodeValue(t.b, t.s, encodeValue(t.b, t.s, { c: 0xfff })) as Record<string, unknown>;
    expect(only).toMatchObject({ a: 0, b: 0, c: 0xfff, on: false, mode: 'M_OFF', neg: 0 });
    expect(decodeValue(t.b, t.s, enc, { int64: 'number-if-safe' })).toMatchObject({ big: 0xab_cdef_0123, sbig: -123456 });
  });

  it('checks bitfield ranges', () => {
    const t = flags();
    expectCodecError(() => encodeValue(t.b, t.s, { a: 8 }), 'CODEC_OUT_OF_RANGE', 'flags.a');
    expectCodecError(() => encodeValue(t.b, t.s, { b: -17 }), 'CODEC_OUT_OF_RANGE', 'flags.b');
    expectCodecError(() => encodeValue(t.b, t.s, { mode: 7 }), 'CODEC_OUT_OF_RANGE', 'flags.mode');
    expectCodecError(() => encodeValue(t.b, t.s, { on: 1 }), 'CODEC_WRONG_TYPE', 'flags.on');
  });

  it('reads legacy int-encoded bitfields (no kind_flag, bits/offset on the int)', () => {
    const t = baseBtf();
    const { b } = t;
    const u4at2 = b.add({ kind: 'int', name: 'unsigned int', size: 4, encoding: { signed: false, char: false, bool: false }, offset: 2, bits: 4 });
    const s = b.add({ kind: 'struct', name: 'legacy', size: 4, kindFlag: false, members: [{ name: 'x', type: u4at2, bitOffset: 8, bitfieldSize: 0 }] });
    const buf = bytes(0, 0b00110100, 0, 0); // bits 10..13 = 0b1101
    expect(decodeValue(b, s, buf)).toEqual({ x: 0b1101 });
    expect(encodeValue(b, s, { x: 0b1101 })).toEqual(buf);
  });
});

describe('anonymous members', () => {
  it('flattens anonymous structs and unions the way C exposes them', () => {
    const t = baseBtf();
    const { b } = t;
    const inner = addComposite(b, 'struct', '', [
      ['x', t.u16],
      ['y', t.u16],
    ]);
    const u = addComposite(b, 'union', '', [
      ['word', t.u32],
      ['', inner],
    ]);
    const s = addComposite(b, 'struct', 'outer', [
      ['tag', t.u8],
      ['', u],
    ]);
    const enc = encodeValue(b, s, { tag: 1, word: 0x00020001 });
    expect(decodeValue(b, s, enc)).toEqual({ tag: 1, word: 0x00020001, x: 1, y: 2 });
    expect(typeToTs(b, s)).toBe('{\n  tag: number;\n  word: number;\n  x: number;\n  y: number;\n}');
  });
});

describe('typeToTs', () => {
  it('renders the TypeScript type of decoded values', () => {
    const t = baseBtf();
    const { b } = t;
    const comm = addArray(b, t.char, 16, t.u32);
    const set = b.add({ kind: 'enum', name: 'x_set', size: 4, signed: false, values: [{ name: 'A', value: 1 }, { name: 'B', value: 2 }] });
    const en = b.add({ kind: 'enum', name: 'e', size: 4, signed: false, values: [{ name: "it's", value: 1 }] });
    const s = addComposite(b, 'struct', 'ev', [
      ['ts', t.u64],
      ['pid', t.u32],
      ['comm', comm],
      ['ok', t.bool],
      ['flags', set],
      ['e', en],
      ['ids', addArray(b, t.u16, 2, t.u32)],
      ['nested', addArray(b, addArray(b, t.u8, 2, t.u32), 2, t.u32)],
      ['p', b.add({ kind: 'ptr', name: '', type: 0 })],
    ]);
    expect(typeToTs(b, s)).toBe(
      [
        '{',
        '  ts: bigint;',
        '  pid: number;',
        '  comm: string;',
        '  ok: boolean;',
        "  flags: Array<'A' | 'B' | `0x${string}`>;",
        "  e: 'it\\'s' | number;",
        '  ids: number[];',
        '  nested: Array<number[]>;',
        '  p: bigint;',
        '}',
      ].join('\n'),
    );
    expect(typeToTs(b, t.u64, { int64: 'number-if-safe' })).toBe('number | bigint');
    expect(typeToTs(b, comm, { charArrays: 'bytes' })).toBe('Uint8Array');
    expect(typeToTs(b, set, { enums: 'value' })).toBe('number');
    expect(typeToTs(b, b.add({ kind: 'func_proto', name: '', returnType: 0, params: [] }))).toBe('never');
  });
});

describe('decoder speed (informational)', () => {
  it('prints ns per decode of a ~100-byte event struct', () => {
    const t = baseBtf();
    const { b } = t;
    const comm = addArray(b, t.char, 16, t.u32);
    const capSet = b.add({ kind: 'enum64', name: 'caps_set', size: 8, signed: false, values: Array.from({ length: 41 }, (_, i) => ({ name: `FLAG_CAP_${i}`, value: 1n << BigInt(i) })) });
    const cap = b.add({ kind: 'enum', name: 'capability', size: 4, signed: false, values: Array.from({ length: 41 }, (_, i) => ({ name: `CAP_${i}`, value: i })) });
    const ev = addComposite(b, 'struct', 'cap_event', [
      ['timestamp_raw', t.u64],
      ['mntns_id', t.u64],
      ['comm', comm],
      ['pid', t.u32],
      ['tid', t.u32],
      ['uid', t.u32],
      ['gid', t.u32],
      ['current_userns', t.u64],
      ['target_userns', t.u64],
      ['cap_effective_raw', capSet],
      ['cap_raw', cap],
      ['capable', t.bool],
      ['audit', t.s32],
      ['insetid', t.s32],
      ['syscall_raw', t.u64],
      ['kstack_raw', t.u32],
    ]);
    const size = b.sizeof(ev);
    const buf = encodeValue(b, ev, {
      timestamp_raw: 123n,
      mntns_id: 4026531840n,
      comm: 'nice',
      pid: 1,
      tid: 1,
      uid: 0,
      gid: 0,
      cap_effective_raw: 0x1ffffffffffn,
      cap_raw: 'CAP_23',
      capable: true,
      syscall_raw: 141n,
    });
    const view = new DataView(buf.buffer);
    for (const options of [{}, { int64: 'number-if-safe', enums: 'value' }, { codegen: false }] as const) {
      const decode = compileDecoder(b, ev, options);
      let sink: unknown;
      for (let i = 0; i < 20000; i++) sink = decode(view, 0);
      const n = 200000;
      const start = process.hrtime.bigint();
      for (let i = 0; i < n; i++) sink = decode(view, 0);
      const ns = Number(process.hrtime.bigint() - start) / n;
      console.log(`codec: ${ns.toFixed(0)} ns per decode of a ${size}-byte struct (${JSON.stringify(options)})`);
      expect((sink as { comm: string }).comm).toBe('nice');
    }
  });
});
