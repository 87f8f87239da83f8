import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { TsbpfError } from '../../src/errors.js';
import { linkProgram } from '../../src/spec/linker.js';
import { CollectionSpec } from '../../src/spec/collection.js';
import { allObjects } from '../testdata.js';
import { prng } from '../support/random.js';


/** Parse fully (specs, every program linked): must end in a spec or a TsbpfError. */
function parseAll(bytes: Uint8Array): 'ok' | 'typed-error' {
  try {
    const spec = CollectionSpec.fromBuffer(bytes, 'corrupt.o');
    for (const p of spec.programs.values()) linkProgram(spec, p);
    for (const v of spec.variables.values()) v.get();
    return 'ok';
  } catch (err) {
    if (err instanceof TsbpfError) return 'typed-error';
    throw err;
  }
}

describe('parsing committed objects', () => {
  it('parses and links every committed object', () => {
    for (const path of allObjects()) {
      const spec = CollectionSpec.fromFile(path);
      expect(spec.programs.size, path).toBeGreaterThan(0);
      for (const p of spec.programs.values()) expect(linkProgram(spec, p).insns.length).toBeGreaterThan(0);
    }
  });

  it('names the file when it is not an ELF object or not BPF', () => {
    expect(() => CollectionSpec.fromBuffer(new Uint8Array(10), 'tiny.o')).toThrow(/tiny\.o: file is 10 bytes/);
    expect(() => CollectionSpec.fromFile('/proc/self/exe')).toThrow(/not EM_BPF|not a BPF object/);
    expect(() => CollectionSpec.fromFile('/nonexistent.o')).toThrow(/cannot read BPF object \/nonexistent\.o/);
  });
});

describe('corrupted objects end in a typed error or a valid parse', () => {
  const objects = allObjects().filter((p) => /globals|maps|inspect|trace_capabilities\.bpf/.test(p));
  for (const path of objects) {
    const name = path.split('/').pop() ?? path;
    it(`${name}: truncations`, () => {
      const bytes = readFileSync(path);
      const step = Math.max(1, Math.floor(bytes.length / 150));
      for (let len = 0; len < bytes.length; len += step) expect(['ok', 'typed-error']).toContain(parseAll(bytes.subarray(0, len)));
    });
    it(`${name}: random byte flips`, () => {
      const original = readFileSync(path);
      const rand = prng(name.length * 7919);
      for (let round = 0; round < 150; round++) {
        const bytes = Uint8Array.from(original);
        const flips = 1 + Math.floor(rand() * 8);
        for (let f = 0; f < flips; f++) bytes[Math.floor(rand() * bytes.length)] = Math.floor(rand() * 256);
        expect(['ok', 'typed-error']).toContain(parseAll(bytes));
      }
    });
  }
});
