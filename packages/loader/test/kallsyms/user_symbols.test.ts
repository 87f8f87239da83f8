import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { NativeSymbolTable, ProcessSymbolizer, parseProcMaps } from '../../src/symbolize/index.js';

const LIBC = '/usr/lib/x86_64-linux-gnu/libc.so.6';
const haveReadelf = (() => {
  try {
    execFileSync('readelf', ['--version']);
    return true;
  } catch {
    return false;
  }
})();

/** readelf's view of one symbol and the PT_LOAD segments, as an independent oracle. */
function readelfSymbol(path: string, name: string): { value: number; segments: { off: number; vaddr: number; filesz: number }[] } | undefined {
  const syms = execFileSync('readelf', ['-W', '--dyn-syms', path], { maxBuffer: 1 << 28 }).toString();
  const m = new RegExp(`^\\s*\\d+:\\s+([0-9a-f]+)\\s+\\d+\\s+FUNC\\s+\\S+\\s+\\S+\\s+\\d+\\s+${name}(@\\S*)?$`, 'm').exec(syms);
  if (!m) return undefined;
  const segs = execFileSync('readelf', ['-lW', path]).toString();
  const segments = [...segs.matchAll(/LOAD\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x[0-9a-f]+\s+0x([0-9a-f]+)/g)].map((s) => ({ off: parseInt(s[1], 16), vaddr: parseInt(s[2], 16), filesz: parseInt(s[3], 16) }));
  return { value: parseInt(m[1], 16), segments };
}

describe('NativeSymbolTable', () => {
  it.skipIf(!existsSync(LIBC))('finds libc functions by plain and versioned name', () => {
    const t = NativeSymbolTable.forPath(LIBC);
    expect(NativeSymbolTable.forPath(LIBC)).toBe(t);
    const getpid = t.get('getpid');
    expect(t.find('getpid@@GLIBC_2.2.5')).toBe(getpid);
    expect(getpid.size).toBeGreaterThan(0);
    expect(t.symbolize(getpid.address + 1)?.symbol.name).toBeDefined();
    expect(() => t.get('no_such_function_xyz')).toThrow(/no_such_function_xyz not found in .*libc\.so\.6/);
  });

  it.skipIf(!haveReadelf || !existsSync(LIBC))('reads the GNU build id like readelf -n', () => {
    const notes = execFileSync('readelf', ['-n', LIBC]).toString();
    const m = /Build ID: ([0-9a-f]+)/.exec(notes);
    expect(NativeSymbolTable.forPath(LIBC).buildId).toBe(m ? m[1] : undefined);
  });

  // A non-PIE executable has vaddr != file offset: the system python if there is one (small), else node.
  const binary = existsSync('/usr/bin/python3') ? realpathSync('/usr/bin/python3') : realpathSync(process.execPath);
  it.skipIf(!haveReadelf)(`computes file offsets from the containing segment (${binary})`, { timeout: 90_000 }, () => {
    const t = NativeSymbolTable.forPath(binary);
    const name = ['Py_GetVersion', 'PyList_New', 'uv_os_getpid', 'uv_loop_init', 'main'].find((n) => t.find(n));
    expect(name).toBeDefined();
    if (!name) return;
    const oracle = readelfSymbol(binary, name);
    expect(oracle).toBeDefined();
    if (!oracle) return;
    const seg = oracle.segments.find((s) => oracle.value >= s.vaddr && oracle.value < s.vaddr + s.filesz);
    expect(seg).toBeDefined();
    if (!seg) return;
    const sym = t.get(name);
    expect(sym.address).toBe(oracle.value);
    expect(sym.fileOffset).toBe(oracle.value - seg.vaddr + seg.off);
    if (seg.vaddr === seg.off) console.warn(`${binary} has vaddr == offset; the segment arithmetic is not exercised`);
  });
});

describe('ProcessSymbolizer', () => {
  it('parses /proc/<pid>/maps lines', () => {
    const maps = parseProcMaps('7f59d2349000-7f59d249f000 r-xp 00026000 fe:00 339380    /usr/lib/libc.so.6\n7ffd1000-7ffd2000 r-xp 00000000 00:00 0 [vdso]\n55550000-55551000 rw-p 00000000 00:00 0\n');
    expect(maps).toHaveLength(2);
    expect(maps[0]).toMatchObject({ start: 0x7f59d2349000n, offset: 0x26000n, inode: 339380, path: '/usr/lib/libc.so.6' });
    expect(maps[1].path).toBe('[vdso]');
  });

  it.skipIf(!existsSync(LIBC))('names an address of this process inside libc', () => {
    const libcMaps = parseProcMaps(readFileSync('/proc/self/maps', 'latin1')).filter((m) => realpathSync(m.path.startsWith('/') ? m.path : '/') === realpathSync(LIBC));
    expect(libcMaps.length).toBeGreaterThan(0);
    const getpid = NativeSymbolTable.forPath(LIBC).get('getpid');
    const m = libcMaps.find((x) => BigInt(getpid.fileOffset) >= x.offset && BigInt(getpid.fileOffset) < x.offset + (x.end - x.start));
    expect(m).toBeDefined();
    if (!m) return;
    const addr = m.start + BigInt(getpid.fileOffset) - m.offset + 3n;
    const s = new ProcessSymbolizer(process.pid).symbolize(addr);
    expect(s?.offset).toBe(3);
    // getpid may share its address with an alias (__getpid); both start at the same place.
    expect(NativeSymbolTable.forPath(LIBC).get(s?.name ?? '').address).toBe(getpid.address);
    expect(new ProcessSymbolizer(process.pid).format(addr)).toMatch(/\+0x3 \(.*libc\.so\.6\)$/);
  });
});
