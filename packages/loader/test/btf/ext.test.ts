/**
 * `.BTF.ext` on a clang-built object (func_info, line_info, CO-RE relocations), on hand-built
 * blobs (larger record sizes, truncation), and the PROG_LOAD encoders.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Btf } from '../../src/btf/btf.js';
import { BtfError } from '../../src/btf/error.js';
import { type BtfExt, encodeFuncInfo, encodeLineInfo, parseBtfExt } from '../../src/btf/ext.js';
import { CLANG, elfSection, haveClang } from './fixtures.js';

const SOURCE = `#define SEC(n) __attribute__((section(n), used))
struct task { int pid; int tgid; } __attribute__((preserve_access_index));
static __attribute__((noinline)) int helper(int x) { return x * 3; }
SEC("tp/test") int prog(struct task *t)
{
	int v = t->tgid;
	return helper(v) + __builtin_preserve_field_info(t->pid, 1);
}
SEC("xdp") int other(void *ctx) { return 2; }
char LICENSE[] SEC("license") = "GPL";
`;

const clangOk = haveClang();
if (!clangOk) console.warn(`skipping .BTF.ext object tests: ${CLANG} is not installed`);

/** Build a .BTF.ext with one func_info block whose records are `recSize` bytes. */
function buildExt(secNameOff: number, records: [number, number][], recSize: number, withCore = true): Uint8Array {
  const hdr = withCore ? 32 : 24;
  const funcLen = 4 + 8 + records.length * recSize;
  const out = new Uint8Array(hdr + funcLen);
  const dv = new DataView(out.buffer);
  dv.setUint16(0, 0xeb9f, true);
  dv.setUint8(2, 1);
  dv.setUint32(4, hdr, true);
  dv.setUint32(8, 0, true);
  dv.setUint32(12, funcLen, true);
  dv.setUint32(16, funcLen, true);
  dv.setUint32(20, 0, true);
  let p = hdr;
  dv.setUint32(p, recSize, true);
  dv.setUint32(p + 4, secNameOff, true);
  dv.setUint32(p + 8, records.length, true);
  p += 12;
  for (const [off, type] of records) {
    dv.setUint32(p, off, true);
    dv.setUint32(p + 4, type, true);
    out.fill(0xee, p + 8, p + recSize); // unknown trailing fields
    p += recSize;
  }
  return out;
}

describe.skipIf(!clangOk)('.BTF.ext of a clang-built object', () => {
  let dir = '';
  let btf: Btf;
  let ext: BtfExt;
  let srcPath = '';

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tsbpf-ext-'));
    srcPath = join(dir, 'prog.bpf.c');
    writeFileSync(srcPath, SOURCE);
    const obj = join(dir, 'prog.bpf.o');
    execFileSync(CLANG, ['-O2', '-g', '-target', 'bpf', '-c', srcPath, '-o', obj]);
    const bytes = readFileSync(obj);
    const btfBytes = elfSection(bytes, '.BTF', obj);
    const extBytes = elfSection(bytes, '.BTF.ext', obj);
    if (!btfBytes || !extBytes) throw new Error('clang emitted no .BTF/.BTF.ext');
    btf = Btf.parse(btfBytes, { source: `${obj}:.BTF` });
    ext = parseBtfExt(extBytes, btf, `${obj}:.BTF.ext`);
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('maps func_info per ELF section to FUNC types, in instructions', () => {
    expect([...ext.funcInfo.keys()].sort()).toEqual(['.text', 'tp/test', 'xdp']);
    const fi = (sec: string): { insnIndex: number; typeId: number }[] => ext.funcInfo.get(sec) ?? [];
    expect(fi('tp/test')).toHaveLength(1);
    expect(fi('tp/test')[0].insnIndex).toBe(0);
    expect(btf.type(fi('tp/test')[0].typeId)).toMatchObject({ kind: 'func', name: 'prog' });
    expect(btf.name(fi('xdp')[0].typeId)).toBe('other');
    expect(btf.name(fi('.text')[0].typeId)).toBe('helper');
  });

  it('resolves line_info to file, text, line and column', () => {
    const lines = ext.lineInfo.get('tp/test') ?? [];
    expect(lines.length).toBeGreaterThan(1);
    expect((ext.lineInfo.get('xdp') ?? []).map((l) => l.lineNumber)).toContain(9);
    const srcLines = SOURCE.split('\n');
    for (const l of lines) {
      expect(l.fileName).toBe(srcPath);
      expect(l.line).toBe(srcLines[l.lineNumber - 1]);
      expect(l.column).toBeGreaterThan(0);
    }
    expect(lines.map((l) => l.insnIndex)).toEqual([...lines.map((l) => l.insnIndex)].sort((a, b) => a - b));
    expect(lines.some((l) => l.line.includes('helper(v)'))).toBe(true);
    expect(lines[0].insnIndex).toBe(0);
  });

  it('decodes CO-RE relocations with access strings', () => {
    const relos = ext.coreRelos.get('tp/test') ?? [];
    const task = btf.find('task', 'struct');
    expect(task).toBeDefined();
    // t->tgid: field byte offset (0) of member 1; t->pid byte size (1) of member 0.
    expect(relos).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ typeId: task, accessString: '0:1', kind: 0 }),
        expect.objectContaining({ typeId: task, accessString: '0:0', kind: 1 }),
      ]),
    );
    for (const r of relos) expect(Number.isInteger(r.insnIndex)).toBe(true);
  });

  it('re-encodes func_info and line_info for PROG_LOAD', () => {
    const fi = ext.funcInfo.get('tp/test') ?? [];
    const enc = encodeFuncInfo(fi);
    expect(enc.length).toBe(8 * fi.length);
    const dv = new DataView(enc.buffer);
    expect(dv.getUint32(0, true)).toBe(fi[0].insnIndex);
    expect(dv.getUint32(4, true)).toBe(fi[0].typeId);
    const li = ext.lineInfo.get('tp/test') ?? [];
    const lenc = encodeLineInfo(li);
    expect(lenc.length).toBe(16 * li.length);
    const lv = new DataView(lenc.buffer);
    const last = li.length - 1;
    expect(lv.getUint32(16 * last, true)).toBe(li[last].insnIndex);
    expect(btf.string(lv.getUint32(16 * last + 4, true))).toBe(li[last].fileName);
    expect(btf.string(lv.getUint32(16 * last + 8, true))).toBe(li[last].line);
    const lc = lv.getUint32(16 * last + 12, true);
    expect([lc >>> 10, lc & 0x3ff]).toEqual([li[last].lineNumber, li[last].column]);
  });
});

describe('.BTF.ext framing', () => {
  const btf = Btf.empty();
  const sec = btf.intern('sec');
  btf.add({ kind: 'int', name: 'int', size: 4, encoding: { signed: true, char: false, bool: false }, offset: 0, bits: 32 });

  it('honours record sizes larger than known', () => {
    const ext = parseBtfExt(buildExt(sec, [[0, 1], [80, 1]], 12), btf);
    expect(ext.funcInfo.get('sec')).toEqual([
      { insnIndex: 0, typeId: 1 },
      { insnIndex: 10, typeId: 1 },
    ]);
    expect(ext.lineInfo.size).toBe(0);
    expect(ext.coreRelos.size).toBe(0);
    // The original 24-byte header has no CO-RE fields.
    expect(parseBtfExt(buildExt(sec, [[8, 1]], 8, false), btf).funcInfo.get('sec')).toEqual([{ insnIndex: 1, typeId: 1 }]);
  });

  it('rejects short records, odd offsets, bad magic and every truncation with BtfError', () => {
    const code = (fn: () => unknown): string => {
      try {
        fn();
      } catch (e) {
        expect(e).toBeInstanceOf(BtfError);
        return (e as BtfError).code;
      }
      return 'none';
    };
    const short = buildExt(sec, [[0, 1]], 8);
    new DataView(short.buffer).setUint32(32, 4, true); // rec_size 4 < sizeof(bpf_func_info)
    expect(code(() => parseBtfExt(short, btf))).toBe('BTF_BAD_EXT');
    expect(code(() => parseBtfExt(buildExt(sec, [[3, 1]], 8), btf))).toBe('BTF_BAD_EXT');
    expect(code(() => parseBtfExt(buildExt(9999, [[0, 1]], 8), btf))).toBe('BTF_BAD_STRING');
    const bad = buildExt(sec, [[0, 1]], 8);
    bad[0] = 0;
    expect(code(() => parseBtfExt(bad, btf, 'x.o:.BTF.ext'))).toBe('BTF_BAD_MAGIC');
    const good = buildExt(sec, [[0, 1], [8, 1]], 8);
    for (let n = 0; n < good.length; n++) expect(code(() => parseBtfExt(good.subarray(0, n), btf))).toBe('BTF_TRUNCATED');
  });
});
