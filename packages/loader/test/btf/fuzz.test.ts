/**
 * Corrupted and truncated BTF must end in a BtfError or a usable parse — never another exception
 * or a hang — through parsing, every accessor, formatting and re-encoding.
 */
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Btf } from '../../src/btf/btf.js';
import { BtfError } from '../../src/btf/error.js';
import { formatC, formatJson } from '../../src/btf/format.js';
import { VMLINUX_BTF_PATH } from '../../src/btf/kernel.js';
import { sanitizeBtf } from '../../src/btf/sanitize.js';
import { testdataPath } from '../testdata.js';
import { allKindsBtf, elfSection, prng } from './fixtures.js';

/** Run `fn`; a BtfError is an acceptable outcome, anything else fails the test. */
function guard(fn: () => unknown): boolean {
  try {
    fn();
    return true;
  } catch (e) {
    if (e instanceof BtfError) return false;
    throw e;
  }
}

/** Parse and use every API on the result. Returns whether the parse succeeded. */
function exercise(bytes: Uint8Array): boolean {
  let btf: Btf;
  try {
    btf = Btf.parse(bytes, { source: 'fuzz' });
  } catch (e) {
    if (e instanceof BtfError) return false;
    throw e;
  }
  const n = Math.min(btf.typeCount, 4000);
  for (let id = 0; id < n; id++) {
    guard(() => btf.type(id));
    guard(() => btf.kind(id));
    guard(() => btf.sizeof(id));
    guard(() => btf.alignof(id));
    guard(() => btf.underlying(id));
    guard(() => btf.skipQualifiers(id));
    guard(() => {
      const name = btf.name(id);
      // A name that is not valid UTF-8 decodes lossily and cannot be looked up by string.
      if (name.includes('\uFFFD')) return;
      if (id > 0 && !btf.idsByName(name).includes(id)) throw new Error(`idsByName(${JSON.stringify(name)}) misses ${id}`);
      const kind = btf.kind(id);
      const found = btf.find(name, kind);
      if (id > 0 && (found === undefined || found > id)) throw new Error(`find(${name}, ${kind}) gave ${found} for ${id}`);
    });
  }
  guard(() => formatC(btf));
  guard(() => formatJson(btf));
  guard(() => sanitizeBtf(btf, { datasec: false, float: false, declTag: false, typeTag: false, enum64: false, func: false }));
  const again = btf.encode();
  const re = Btf.parse(again, { source: 'fuzz-re' });
  expect(re.typeCount).toBe(btf.typeCount);
  return true;
}

const blobs: { name: string; bytes: Uint8Array }[] = [{ name: 'all-kinds', bytes: allKindsBtf().encode() }];
for (const obj of ['globals.bpf.o', 'core.bpf.o']) {
  const path = testdataPath(obj);
  if (!existsSync(path)) continue;
  const sec = elfSection(readFileSync(path), '.BTF', path);
  if (sec) blobs.push({ name: obj, bytes: sec.slice() });
}

/** Truncate to `len` bytes, shrinking the header's section lengths so the framing code is reached. */
function truncateWithHeader(bytes: Uint8Array, len: number): Uint8Array {
  const out = bytes.slice(0, len);
  if (len < 24) return out;
  const dv = new DataView(out.buffer);
  const hdr = dv.getUint32(4, true);
  const room = Math.max(0, len - hdr);
  const typeOff = dv.getUint32(8, true);
  const typeLen = Math.min(dv.getUint32(12, true), Math.max(0, room - typeOff));
  dv.setUint32(12, typeLen, true);
  const strOff = dv.getUint32(16, true);
  dv.setUint32(20, Math.min(dv.getUint32(20, true), Math.max(0, room - strOff)), true);
  return out;
}

describe('corrupted BTF', () => {
  it('has real blobs to corrupt', () => {
    expect(blobs.length).toBeGreaterThanOrEqual(2);
    for (const b of blobs) expect(exercise(b.bytes)).toBe(true);
  });

  it('survives truncation at every 97th byte (raw and with a consistent header)', () => {
    let parsed = 0;
    let rejected = 0;
    for (const { bytes } of blobs) {
      for (let len = 0; len < bytes.length; len += 97) {
        for (const cut of [bytes.slice(0, len), truncateWithHeader(bytes, len)]) {
          if (exercise(cut)) parsed++;
          else rejected++;
        }
      }
    }
    expect(rejected).toBeGreaterThan(0);
    expect(parsed + rejected).toBeGreaterThan(20);
  });

  it.skipIf(!existsSync(VMLINUX_BTF_PATH))('rejects the kernel BTF truncated at every 97th byte with BTF_TRUNCATED', () => {
    const bytes = readFileSync(VMLINUX_BTF_PATH);
    const codes = new Set<string>();
    for (let len = 0; len < bytes.length; len += 97) {
      try {
        Btf.parse(bytes.subarray(0, len));
        throw new Error(`truncated kernel BTF of ${len} bytes parsed`);
      } catch (e) {
        if (!(e instanceof BtfError)) throw e;
        codes.add(e.code);
      }
    }
    expect([...codes].sort()).toEqual(['BTF_TRUNCATED']);
  });

  it('survives 500 random byte flips (seeded)', () => {
    // TSBPF_FUZZ_ITERATIONS / TSBPF_FUZZ_SEED widen the search locally; CI runs the fixed 500.
    const rand = prng(Number(process.env.TSBPF_FUZZ_SEED ?? 0x5eed));
    const iterations = Number(process.env.TSBPF_FUZZ_ITERATIONS ?? 500);
    let parsed = 0;
    let rejected = 0;
    for (let i = 0; i < iterations; i++) {
      const { bytes } = blobs[i % blobs.length];
      const copy = bytes.slice();
      const flips = 1 + Math.floor(rand() * 3);
      for (let f = 0; f < flips; f++) {
        const at = Math.floor(rand() * copy.length);
        copy[at] ^= 1 << Math.floor(rand() * 8);
      }
      if (exercise(copy)) parsed++;
      else rejected++;
    }
    // Both outcomes occur: the corpus reaches past the header checks.
    expect(parsed).toBeGreaterThan(0);
    expect(rejected).toBeGreaterThan(0);
  });
});
