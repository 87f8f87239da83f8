import { describe, expect, it } from 'vitest';
import {
  canonicalModuleName,
  elfSection,
  ModuleError,
  moduleInfoFromElf,
  moduleNameFromPath,
  parseModulesBuiltin,
  planModuleLoad,
  type ModuleLookup,
} from '../src/modules.js';

/** A minimal ELF64 LE object with a .modinfo section holding `entries`. */
function fakeKo(entries: string[]): Uint8Array {
  const enc = new TextEncoder();
  const modinfo = enc.encode(entries.map((e) => `${e}\0`).join(''));
  const shstr = enc.encode('\0.modinfo\0.shstrtab\0');
  const dataOff = 64;
  const shstrOff = dataOff + modinfo.length;
  const shoff = (shstrOff + shstr.length + 7) & ~7;
  const buf = new Uint8Array(shoff + 3 * 64);
  const v = new DataView(buf.buffer);
  buf.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  v.setBigUint64(0x28, BigInt(shoff), true);
  v.setUint16(0x3a, 64, true);
  v.setUint16(0x3c, 3, true);
  v.setUint16(0x3e, 2, true);
  buf.set(modinfo, dataOff);
  buf.set(shstr, shstrOff);
  const sh = (i: number, name: number, off: number, size: number): void => {
    const at = shoff + i * 64;
    v.setUint32(at, name, true);
    v.setBigUint64(at + 0x18, BigInt(off), true);
    v.setBigUint64(at + 0x20, BigInt(size), true);
  };
  sh(1, 1, dataOff, modinfo.length);
  sh(2, 10, shstrOff, shstr.length);
  return buf;
}

const graph = (deps: Record<string, string[]>, builtin: string[] = []) => (name: string): ModuleLookup => {
  if (builtin.includes(name)) return 'builtin';
  const d = deps[name];
  return d === undefined ? undefined : { name, depends: d, softPre: [] };
};

describe('modinfo', () => {
  it('reads depends, name and softdep pre from .modinfo', () => {
    const ko = fakeKo(['license=GPL', 'softdep=pre: crc32c post: foo', 'depends=9pnet,netfs', 'name=9p', 'vermagic=6.12']);
    expect(moduleInfoFromElf(ko, 'x')).toEqual({ name: '9p', depends: ['9pnet', 'netfs'], softPre: ['crc32c'] });
  });

  it('an empty depends= means no dependencies', () => {
    expect(moduleInfoFromElf(fakeKo(['depends=', 'name=netfs']), 'x').depends).toEqual([]);
  });

  it('rejects what is not ELF64 and bounds-checks the section table', () => {
    expect(() => elfSection(new Uint8Array(100), '.modinfo')).toThrow(ModuleError);
    const ko = fakeKo(['name=a']);
    new DataView(ko.buffer).setBigUint64(0x28, 1_000_000n, true);
    expect(() => elfSection(ko, '.modinfo')).toThrow(/out of bounds/);
  });

  it('names modules from paths and treats - and _ alike', () => {
    expect(moduleNameFromPath('kernel/net/9p/9pnet_virtio.ko.xz')).toBe('9pnet_virtio');
    expect(moduleNameFromPath('a/virtio-rng.ko')).toBe('virtio_rng');
    expect(canonicalModuleName('nf-conntrack')).toBe('nf_conntrack');
    expect(parseModulesBuiltin('kernel/drivers/virtio/virtio_pci.ko\n\nkernel/fs/netfs/netfs.ko\n')).toEqual(new Set(['virtio_pci', 'netfs']));
  });
});

describe('load order', () => {
  it('puts dependencies first, once each (6.1 layout)', () => {
    const lookup = graph({
      '9p': ['9pnet', 'netfs', 'fscache'],
      '9pnet': [],
      '9pnet_virtio': ['9pnet', 'virtio', 'virtio_ring'],
      virtio: [],
      virtio_ring: [],
      virtio_pci: ['virtio_pci_modern_dev', 'virtio', 'virtio_ring'],
      virtio_pci_modern_dev: [],
      netfs: ['fscache'],
      fscache: [],
    });
    const plan = planModuleLoad(['virtio_pci', '9pnet_virtio', '9p'], lookup);
    const order = plan.order;
    expect(new Set(order).size).toBe(order.length);
    expect(order).toHaveLength(9);
    const before = (a: string, b: string): boolean => order.indexOf(a) < order.indexOf(b);
    expect(before('virtio', 'virtio_pci')).toBe(true);
    expect(before('9pnet', '9pnet_virtio')).toBe(true);
    expect(before('fscache', 'netfs')).toBe(true);
    expect(before('netfs', '9p')).toBe(true);
  });

  it('skips built-in modules (6.12: virtio_pci is built in)', () => {
    const plan = planModuleLoad(['virtio_pci', '9pnet_virtio', '9p'], graph({ '9p': ['9pnet', 'netfs'], '9pnet': ['netfs'], '9pnet_virtio': ['9pnet'], netfs: [] }, ['virtio_pci']));
    expect(plan.order).toEqual(['netfs', '9pnet', '9pnet_virtio', '9p']);
    expect(plan.builtin).toEqual(['virtio_pci']);
  });

  it('names the module that needs a missing dependency', () => {
    expect(() => planModuleLoad(['9p'], graph({ '9p': ['9pnet'] }))).toThrow(/module 9pnet \(needed by 9p\) not found/);
    try {
      planModuleLoad(['nope'], graph({}));
    } catch (e) {
      expect((e as ModuleError).code).toBe('VMTEST_MODULE_MISSING');
    }
  });

  it('reports a cycle with its path', () => {
    const err = (() => {
      try {
        planModuleLoad(['a'], graph({ a: ['b'], b: ['c'], c: ['a'] }));
      } catch (e) {
        return e as ModuleError;
      }
      return undefined;
    })();
    expect(err?.code).toBe('VMTEST_MODULE_CYCLE');
    expect(err?.message).toContain('a -> b -> c -> a');
  });

  it('optional roots and soft dependencies may be absent; a soft loop is dropped', () => {
    const lookup = (name: string): ModuleLookup =>
      name === 'a' ? { name, depends: [], softPre: ['gone', 'b'] } : name === 'b' ? { name, depends: [], softPre: ['a'] } : undefined;
    const plan = planModuleLoad(['a'], lookup, ['overlay']);
    expect(plan.order).toEqual(['b', 'a']);
    expect(plan.skipped).toEqual(['gone', 'overlay']);
  });
});
