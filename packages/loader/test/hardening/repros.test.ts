/**
 * Minimized repros of what `npm run fuzz` found: each input must end in a TsbpfError (or a
 * result) without leaking anything. Red until the owner fixes it, then kept as a regression test.
 * Replay a seed in brackets with `npm run fuzz -w @tsbpf/loader -- --target <t> --replay <seed>`.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { TsbpfError } from '../../src/errors.js';
import { loadObject } from '../../src/fuzz/corpus.js';
import { Collection } from '../../src/collection.js';
import { CollectionSpec } from '../../src/spec/collection.js';
import { gadgetObjectPath, testdataPath } from '../testdata.js';

/** Targets of this process's BPF descriptors (maps, programs, BTF, links). */
function bpfFds(): string[] {
  const out: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const t = readlinkSync(`/proc/self/fd/${fd}`);
      if (t.includes('bpf')) out.push(`${fd} → ${t}`);
    } catch {
      // the listing's own descriptor, already closed
    }
  }
  return out;
}

/** What `fn` threw (undefined if it returned). */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
    return undefined;
  } catch (e) {
    return e;
  }
}

function expectTypedOrResult(fn: () => unknown): void {
  const e = thrown(fn);
  if (e !== undefined && !(e instanceof TsbpfError)) {
    throw new Error(`untyped ${(e as Error).constructor.name}: ${(e as Error).message}\n${(e as Error).stack ?? ''}`);
  }
}

describe('fuzz findings', () => {
  it('ELF: e_shstrndx = SHN_XINDEX with the section header table cut short is a typed error (elf seed 1284758570)', () => {
    // elf/reader.ts ElfFile constructor reads section 0's sh_link for SHN_XINDEX before checking
    // that section header 0 lies inside the file: DataView RangeError.
    const bytes = new Uint8Array(readFileSync(gadgetObjectPath('trace_capabilities_tp.bpf.o')));
    const dv = new DataView(bytes.buffer);
    const shoff = Number(dv.getBigUint64(0x28, true));
    dv.setUint16(0x3e, 0xffff, true);
    const cut = bytes.slice(0, shoff + 16);
    expectTypedOrResult(() => CollectionSpec.fromBuffer(cut, 'shstrndx-xindex'));
  });

  it('spec: a .kconfig extern whose BTF array has 2^32-1 elements is a typed error, not a 4 GiB allocation (btf seed 1084234273)', () => {
    // spec/collection.ts ObjectParser.readExterns sums btf.sizeof() of every kconfig variable and
    // allocates `new Uint8Array(kconfigSize)` unchecked: RangeError "Invalid typed array length".
    const obj = loadObject(testdataPath('kconfig_typed.bpf.o'));
    const info = obj.btf;
    if (!info) throw new Error('kconfig_typed.bpf.o has no .BTF');
    const dv = new DataView(obj.bytes.buffer, obj.bytes.byteOffset, obj.bytes.byteLength);
    let arrays = 0;
    for (const off of info.records) {
      const kind = (dv.getUint32(off + 4, true) >>> 24) & 0x1f;
      if (kind !== 3) continue;
      arrays++;
      const bytes = new Uint8Array(obj.bytes);
      new DataView(bytes.buffer).setUint32(off + 20, 0xffffffff, true);
      const before = process.memoryUsage().rss;
      expectTypedOrResult(() => CollectionSpec.fromBuffer(bytes, `nelems@${off}`));
      // Bounded allocation: no attempt to materialise the huge count.
      expect(process.memoryUsage().rss - before).toBeLessThan(512 * 1024 * 1024);
    }
    expect(arrays).toBeGreaterThan(0);
  });

  it('spec: a .bss section header claiming 2^47 bytes is a typed error, not a RangeError from the allocation (elf seed 3404522108)', () => {
    // spec/collection.ts ObjectParser.readDataSections allocated `new Uint8Array(sh_size)` for a
    // NOBITS section, whose size no file bytes bound: RangeError "Invalid typed array length".
    const bytes = new Uint8Array(readFileSync(testdataPath('globals.bpf.o')));
    const dv = new DataView(bytes.buffer);
    const shoff = Number(dv.getBigUint64(0x28, true));
    const shentsize = dv.getUint16(0x3a, true);
    const shnum = dv.getUint16(0x3c, true);
    const strtab = shoff + dv.getUint16(0x3e, true) * shentsize;
    const strOff = Number(dv.getBigUint64(strtab + 24, true));
    let patched = 0;
    for (let i = 0; i < shnum; i++) {
      const h = shoff + i * shentsize;
      const nameAt = strOff + dv.getUint32(h, true);
      const name = new TextDecoder().decode(bytes.subarray(nameAt, bytes.indexOf(0, nameAt)));
      if (name !== '.bss') continue;
      dv.setBigUint64(h + 32, 2n ** 47n, true);
      patched++;
    }
    expect(patched).toBe(1);
    const err = thrown(() => CollectionSpec.fromBuffer(bytes, 'bss-2^47'));
    expect(err).toBeInstanceOf(TsbpfError);
    expect((err as TsbpfError).code).toBe('BAD_DATASEC');
  });

  it('collection: a map whose BTF value type is broken leaves no descriptor behind, and its typed use is a typed error (load seeds 3610852862, 2357173772, 3147190310)', () => {
    // Found as a leak: Loader.createMap created the map fd, then `new BpfMap(fd, desc)` compiled
    // the codecs and threw outside the try that closes the fd. Fixed in ea660dc (codecs compiled
    // on first typed use; the fd closed if the handle cannot be built). Kept as a regression test.
    const spec = CollectionSpec.fromFile(testdataPath('maps.bpf.o'));
    const map = [...spec.maps.values()].find((m) => m.type === 2 /* ARRAY */ && m.btf !== undefined && m.valueTypeId !== 0 && !m.isGlobalData && m.pinning === 0);
    if (!map) throw new Error('maps.bpf.o has no BTF-typed, unpinned array map');
    // The kernel refuses the bad type id and the loader retries without BTF, which succeeds.
    map.valueTypeId = 0x7fffff;
    const before = bpfFds();
    let used: unknown;
    const err = thrown(() => {
      const coll = Collection.load(spec);
      try {
        used = thrown(() => coll.map(map.name).lookup(0 as never));
      } finally {
        coll.close();
      }
    });
    if (err !== undefined) expect(err).toBeInstanceOf(TsbpfError);
    else expect(used).toBeInstanceOf(TsbpfError);
    expect(bpfFds()).toEqual(before);
  });
});
