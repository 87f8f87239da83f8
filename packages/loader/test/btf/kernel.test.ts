/**
 * The running kernel's BTF: lazy parse, lookups, layouts derived from the data, and a faithful
 * re-encode (both the raw-copy path and the encode-from-objects path).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Btf } from '../../src/btf/btf.js';
import { BtfError } from '../../src/btf/error.js';
import { KernelBtfTargets, VMLINUX_BTF_PATH, listModuleBtf, loadKernelBtf, loadModuleBtf } from '../../src/btf/kernel.js';
import { findCandidates } from '../../src/btf/core/index.js';
import type { BtfComposite } from '../../src/btf/types.js';
import { testdataPath } from '../testdata.js';

const haveKernelBtf = existsSync(VMLINUX_BTF_PATH);
if (!haveKernelBtf) console.warn(`skipping kernel BTF tests: ${VMLINUX_BTF_PATH} is missing (kernel without CONFIG_DEBUG_INFO_BTF)`);

describe.skipIf(!haveKernelBtf)('kernel BTF', () => {
  it('is parsed once per process and shared', () => {
    const a = loadKernelBtf();
    expect(loadKernelBtf()).toBe(a);
    expect(a.firstTypeId).toBe(1);
    expect(a.typeCount).toBeGreaterThan(1000);
    expect(a.source).toBe(VMLINUX_BTF_PATH);
  });

  it('finds struct task_struct with a plausible layout', () => {
    const btf = loadKernelBtf();
    const id = btf.find('task_struct', 'struct');
    expect(id).toBeDefined();
    if (id === undefined) return;
    const t = btf.type(id) as BtfComposite<'struct'>;
    expect(t.kind).toBe('struct');
    expect(btf.sizeof(id)).toBe(t.size);
    expect(t.size).toBeGreaterThan(1000);
    expect(btf.alignof(id)).toBeGreaterThanOrEqual(8);
    const pid = t.members.find((m) => m.name === 'pid');
    expect(pid).toBeDefined();
    if (pid) {
      expect(btf.name(btf.underlying(pid.type))).toBe('int');
      expect(btf.sizeof(pid.type)).toBe(4);
    }
    expect(btf.idsByName('task_struct')).toContain(id);
    for (const x of btf.idsByName('task_struct')) expect(btf.name(x)).toBe('task_struct');
  });

  it('has the well-known sizes of a 64-bit kernel', () => {
    const btf = loadKernelBtf();
    const sizeOf = (name: string, kind: 'struct' | 'typedef' | 'int' | 'union'): number => {
      const id = btf.find(name, kind);
      if (id === undefined) throw new Error(`${kind} ${name} missing`);
      return btf.sizeof(id);
    };
    expect(sizeOf('list_head', 'struct')).toBe(16);
    expect(sizeOf('hlist_node', 'struct')).toBe(16);
    expect(sizeOf('callback_head', 'struct')).toBe(16);
    expect(sizeOf('u64', 'typedef')).toBe(8);
    expect(sizeOf('u32', 'typedef')).toBe(4);
    expect(sizeOf('long int', 'int')).toBe(8);
    expect(sizeOf('char', 'int')).toBe(1);
    const lh = btf.find('list_head', 'struct');
    if (lh === undefined) throw new Error('list_head');
    expect(btf.alignof(lh)).toBe(8);
    // struct list_head { struct list_head *next, *prev; }
    const t = btf.type(lh) as BtfComposite<'struct'>;
    expect(t.members.map((m) => [m.name, m.bitOffset])).toEqual([
      ['next', 0],
      ['prev', 64],
    ]);
    expect(btf.type(btf.skipQualifiers(t.members[0].type))).toMatchObject({ kind: 'ptr', type: lh });
  });

  it('lays out every struct consistently: offsets ascend, members fit, size respects alignment', () => {
    const btf = loadKernelBtf();
    let structs = 0;
    let members = 0;
    // Collect violations and assert once: hundreds of thousands of expect() calls are slow.
    const bad: string[] = [];
    for (let id = 1; id < btf.typeCount; id++) {
      if (btf.kind(id) !== 'struct') continue;
      const t = btf.type(id) as BtfComposite<'struct'>;
      structs++;
      let prev = -1;
      for (const m of t.members) {
        members++;
        if (m.bitOffset < prev) bad.push(`${id} ${t.name}.${m.name}: offset ${m.bitOffset} < ${prev}`);
        prev = m.bitOffset;
        const bits = m.bitfieldSize > 0 ? m.bitfieldSize : 8 * btf.sizeof(m.type);
        // Flexible arrays have size 0; everything else ends inside the struct.
        if (m.bitOffset + bits > 8 * t.size) bad.push(`${id} ${t.name}.${m.name}: ends at bit ${m.bitOffset + bits} past ${8 * t.size}`);
      }
      if (t.size % btf.alignof(id) !== 0) bad.push(`${id} ${t.name}: size ${t.size} not a multiple of its alignment`);
    }
    expect(bad).toEqual([]);
    expect(structs).toBeGreaterThan(1000);
    expect(members).toBeGreaterThan(10 * structs > 0 ? structs : 1);
  });

  it('agrees between idsByName, find and a linear scan', () => {
    const btf = Btf.parse(loadKernelBtf().encode(), { source: 'copy' });
    const names = ['task_struct', 'list_head', 'pid_t', 'int', 'sk_buff', 'bpf_prog', 'this_name_does_not_exist'];
    // find() before any index exists (scan path) …
    const scanned = names.map((n) => btf.find(n, 'struct'));
    const linear = new Map<string, number[]>(names.map((n) => [n, []]));
    for (let id = 1; id < btf.typeCount; id++) {
      const n = btf.name(id);
      linear.get(n)?.push(id);
    }
    for (const n of names) expect(btf.idsByName(n)).toEqual(linear.get(n));
    // … and after (index path).
    expect(names.map((n) => btf.find(n, 'struct'))).toEqual(scanned);
    expect(scanned[0]).toBeDefined();
  });

  it('re-encodes byte-identically, also when every type is re-encoded from its object', () => {
    const original = loadKernelBtf().encode();
    const copy = Btf.parse(original, { source: 'copy' });
    // Buffer.equals: a deep toEqual over 5 MB of bytes is very slow.
    expect(Buffer.from(copy.encode()).equals(Buffer.from(original))).toBe(true);
    expect(Buffer.from(original).equals(readFileSync(VMLINUX_BTF_PATH))).toBe(true);
    for (let id = 1; id < copy.typeCount; id++) copy.replace(id, { ...copy.type(id) });
    const again = copy.encode();
    expect(again.length).toBe(original.length);
    expect(Buffer.compare(Buffer.from(again), Buffer.from(original))).toBe(0);
  }, 120_000);

  it('loads an explicit BTF file path and caches it under that path', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsbpf-btf-'));
    try {
      const path = join(dir, 'vmlinux.btf');
      writeFileSync(path, loadKernelBtf().encode());
      const ext = loadKernelBtf({ path });
      expect(ext).not.toBe(loadKernelBtf());
      expect(loadKernelBtf({ path })).toBe(ext);
      expect(ext.find('task_struct', 'struct')).toBe(loadKernelBtf().find('task_struct', 'struct'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads the .BTF section when the explicit path is an ELF file', () => {
    const obj = testdataPath('globals.bpf.o');
    const btf = loadKernelBtf({ path: obj });
    expect(btf.source).toBe(`${obj}:.BTF`);
    expect(btf.typeCount).toBeGreaterThan(1);
    expect(btf.idsByName('int').length).toBeGreaterThan(0);
    // An ELF without .BTF is a BTF_NOT_FOUND, not a parse of garbage.
    expect(() => loadKernelBtf({ path: existsSync('/bin/true') ? '/bin/true' : process.execPath })).toThrow(/no \.BTF section/);
  });

  it('reports missing kernel and module BTF as BTF_NOT_FOUND', () => {
    expect(() => loadKernelBtf({ path: '/nonexistent/vmlinux' })).toThrow(BtfError);
    let caught: unknown;
    try {
      loadModuleBtf('no_such_module_xyz');
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(BtfError);
    expect((caught as BtfError).code).toBe('BTF_NOT_FOUND');
    expect((caught as BtfError).message).toContain('/sys/kernel/btf/no_such_module_xyz');
    expect(() => loadModuleBtf('../vmlinux')).toThrow(BtfError);
  });

  it('KernelBtfTargets reads module BTF only when a lookup gets past vmlinux, once per module', () => {
    const vmlinux = loadKernelBtf();
    const errors: string[] = [];
    // A module that is not loaded stands for one whose BTF cannot be read: reported once, skipped.
    const targets = new KernelBtfTargets(vmlinux, ['no_such_module_xyz'], { onError: (name, err) => errors.push(`${name}: ${(err as BtfError).code}`) });
    const local = Btf.empty();
    const ts = local.add({ kind: 'struct', name: 'task_struct___mine', size: 0, kindFlag: false, members: [] });
    const missing = local.add({ kind: 'struct', name: 'no_such_struct_xyz', size: 0, kindFlag: false, members: [] });
    expect(findCandidates(local, ts, targets)).toEqual([{ btf: vmlinux, typeId: vmlinux.find('task_struct', 'struct') }]);
    expect(targets.modulesRead).toBe(0);
    expect(findCandidates(local, missing, targets)).toEqual([]);
    expect(targets.modulesRead).toBe(1);
    expect(findCandidates(local, missing, targets)).toEqual([]);
    expect(errors).toEqual(['no_such_module_xyz: BTF_NOT_FOUND']);
    expect([...targets]).toEqual([vmlinux]);
    expect(targets.moduleName(vmlinux)).toBeUndefined();
  });

  const modules = listModuleBtf();
  if (modules.length === 0) console.warn('skipping module split-BTF test: no loaded module exposes BTF under /sys/kernel/btf');
  it.skipIf(modules.length === 0)('loads module split BTF over vmlinux', () => {
    const name = modules[0];
    const mod = loadModuleBtf(name);
    expect(loadModuleBtf(name)).toBe(mod);
    expect(mod.base).toBe(loadKernelBtf());
    expect(mod.firstTypeId).toBe(loadKernelBtf().typeCount);
    for (let id = mod.firstTypeId; id < mod.typeCount; id++) mod.type(id);
    const targets = new KernelBtfTargets(loadKernelBtf(), [name]);
    expect([...targets.modules()]).toEqual([mod]);
    expect(targets.moduleName(mod)).toBe(name);
    expect(Buffer.compare(Buffer.from(mod.encode()), Buffer.from(Btf.parse(mod.encode(), { base: mod.base }).encode()))).toBe(0);
  });
});
