/**
 * formatC output compiled by clang-19 for the BPF target, with the layout checked by static
 * assertions generated from the BTF itself (sizes and member offsets of every uniquely named
 * record), for the running kernel's BTF, a clang-built object and hand-built clashes.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Btf } from '../../src/btf/btf.js';
import { formatC, formatJson } from '../../src/btf/format.js';
import { VMLINUX_BTF_PATH, loadKernelBtf } from '../../src/btf/kernel.js';
import type { BtfType } from '../../src/btf/types.js';
import { ElfFile } from '../../src/elf/index.js';
import { repoRoot } from '../testdata.js';
import { CLANG, allKindsBtf, elfSection, haveClang } from './fixtures.js';

const clangOk = haveClang();
if (!clangOk) console.warn(`skipping formatC compile tests: ${CLANG} is not installed`);
const kernelOk = existsSync(VMLINUX_BTF_PATH);
if (!kernelOk) console.warn(`skipping kernel formatC test: ${VMLINUX_BTF_PATH} is missing`);

let dir = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tsbpf-fmt-'));
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** `_Static_assert`s for the size and plain member offsets of every record whose tag name is unique. */
function layoutAsserts(btf: Btf): { lines: string[]; records: number } {
  const lines: string[] = [];
  let records = 0;
  const tagKinds = new Set(['struct', 'union', 'enum', 'enum64', 'fwd']);
  for (let id = 1; id < btf.typeCount; id++) {
    const t = btf.type(id);
    if ((t.kind !== 'struct' && t.kind !== 'union') || t.name === '') continue;
    if (btf.idsByName(t.name).filter((x) => tagKinds.has(btf.kind(x))).length !== 1) continue;
    records++;
    const ref = `${t.kind} ${t.name}`;
    lines.push(`_Static_assert(sizeof(${ref}) == ${t.size}, "sizeof ${ref}");`);
    for (const m of t.members) {
      if (m.name === '' || m.bitfieldSize > 0) continue;
      lines.push(`_Static_assert(__builtin_offsetof(${ref}, ${m.name}) == ${m.bitOffset / 8}, "offset ${ref}.${m.name}");`);
    }
  }
  return { lines, records };
}

/** Compile `body` after including the generated header; returns clang's diagnostics. */
function compile(name: string, header: string, body: string): string {
  writeFileSync(join(dir, `${name}.h`), header);
  const src = join(dir, `${name}.c`);
  writeFileSync(src, `#include "${name}.h"\n${body}\n`);
  try {
    return execFileSync(CLANG, ['-target', 'bpf', '-O2', '-g', '-Wall', '-c', '-x', 'c', src, '-o', join(dir, `${name}.o`)], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (e) {
    const err = e as { stderr?: string };
    throw new Error(`clang failed on ${name}:\n${(err.stderr ?? '').slice(0, 4000)}`);
  }
}

const TRICKY_C = `#define SEC(n) __attribute__((section(n), used))
typedef _Bool bool;
typedef unsigned long long u64;
typedef unsigned int u32;
struct node;
struct other;
typedef int (*cmp_fn)(const struct node *, const struct node *);
struct bits { unsigned int a: 3; unsigned int b: 13; int c: 16; unsigned long long d: 40; char e; unsigned long long f: 7; };
struct pk { char c; int i; short s; } __attribute__((packed));
struct pkbits { char c; int x: 20; int y: 20; } __attribute__((packed));
enum big { BIG_A = 1, BIG_B = 0x100000000ULL };
enum neg { NEG_A = -1, NEG_B = 5 };
enum small { SMALL_A, SMALL_B } __attribute__((packed));
struct aligned { int a; } __attribute__((aligned(16)));
struct holder { char c; struct aligned al; char d; };
union au { int x; char y[3]; } __attribute__((aligned(8)));
struct cache { int a __attribute__((aligned(64))); int b; };
struct node {
	struct node *next;
	struct other *o;
	cmp_fn cmp;
	int matrix[3][4];
	int (*arrp)[4];
	const char *const name;
	volatile u64 counter;
	bool flag;
	union { u32 w; struct { unsigned short lo, hi; }; };
	struct { int x; } named_anon;
	enum { ANON_X, ANON_Y } anon_enum_field;
	enum big eb;
	enum neg en;
	enum small es;
	struct bits bf;
	struct pk pk;
	void (*varargs)(int, ...);
	struct node *(*(*ret_fp)(int))(void);
	u64 tail[0];
};
struct other { struct node n; __int128 wide; unsigned __int128 uwide; char gap; struct holder h; char gap2; union au u; struct cache c; struct pkbits p; };
SEC("tp/x") int use(struct node *n, struct other *o) { return n->flag + o->n.flag + o->h.d + o->u.x + o->c.b + o->p.c; }
char LICENSE[] SEC("license") = "GPL";
`;

describe.skipIf(!clangOk)('formatC compiles', () => {
  it.skipIf(!kernelOk)("the running kernel's full BTF, with exact layouts", () => {
    const btf = loadKernelBtf();
    const header = formatC(btf, { header: '/* vmlinux.h for the test */' });
    expect(header.startsWith('/* vmlinux.h for the test */\n#ifndef __VMLINUX_H__')).toBe(true);
    expect(header).toContain('#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)');
    const { lines, records } = layoutAsserts(btf);
    expect(records).toBeGreaterThan(1000);
    const body = `${lines.join('\n')}\nSEC_DUMMY int get_pid(struct task_struct *t) { return t->pid + t->tgid; }`.replace(
      'SEC_DUMMY',
      '__attribute__((section("tp/x"), used))',
    );
    const diags = compile('vmlinux', header, body);
    expect(diags).toBe('');
  }, 120_000);

  it.skipIf(!kernelOk)("compiles the project's BPF sources to the same instructions as the committed vmlinux.h", () => {
    const inc = join(dir, 'inc');
    mkdirSync(inc, { recursive: true });
    writeFileSync(join(inc, 'vmlinux.h'), formatC(loadKernelBtf()));
    const bpfDir = join(repoRoot, 'bpf');
    const sources: string[] = [];
    for (const sub of ['gadgets', 'testdata']) {
      if (!existsSync(join(bpfDir, sub))) continue;
      for (const f of readdirSync(join(bpfDir, sub))) if (f.endsWith('.bpf.c')) sources.push(join(bpfDir, sub, f));
    }
    if (sources.length === 0) console.warn('no bpf/**/*.bpf.c sources found; only the header itself was checked');
    const committedHeader = existsSync(join(bpfDir, 'include', 'vmlinux.h'));
    const build = (src: string, includeFirst: string[], out: string): Uint8Array => {
      const args = ['-O2', '-g', '-target', 'bpf', '-D__TARGET_ARCH_x86', ...includeFirst.flatMap((d) => ['-I', d]), '-I', join(bpfDir, 'include'), '-Wall', '-Werror', '-c', src, '-o', out];
      try {
        execFileSync(CLANG, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      } catch (e) {
        throw new Error(`clang failed on ${src} with the generated vmlinux.h:\n${String((e as { stderr?: unknown }).stderr ?? '').slice(0, 3000)}`);
      }
      return readFileSync(out);
    };
    const code = (bytes: Uint8Array, label: string): Map<string, string> => {
      const elf = ElfFile.parse(bytes, label);
      const out = new Map<string, string>();
      for (const sec of elf.sections) if ((sec.flags & 4n) !== 0n) out.set(sec.name, Buffer.from(elf.data(sec)).toString('hex'));
      return out;
    };
    let compared = 0;
    for (const src of sources) {
      const ours = build(src, [inc], join(dir, 'ours.o'));
      if (!committedHeader) continue;
      const theirs = build(src, [], join(dir, 'theirs.o'));
      // Same layouts ⇒ same field offsets baked into the instructions.
      expect(code(ours, src)).toEqual(code(theirs, src));
      compared++;
    }
    if (committedHeader) expect(compared).toBe(sources.length);
  }, 180_000);

  it('a clang-built object with bitfields, packing, enums, function pointers and anonymous members', () => {
    const src = join(dir, 'tricky.bpf.c');
    const obj = join(dir, 'tricky.bpf.o');
    writeFileSync(src, TRICKY_C);
    execFileSync(CLANG, ['-O2', '-g', '-target', 'bpf', '-c', src, '-o', obj]);
    const bytes = elfSection(readFileSync(obj), '.BTF', obj);
    if (!bytes) throw new Error('no .BTF');
    const btf = Btf.parse(bytes, { source: obj });
    // The object really contains the tricky kinds.
    expect(btf.find('big', 'enum64')).toBeDefined();
    const header = formatC(btf, { preserveAccessIndex: false });
    expect(header).not.toContain('preserve_access_index');
    expect(header).toMatch(/struct pk \{[^}]*\} __attribute__\(\(packed\)\)/);
    expect(header).toContain('BIG_B = 4294967296ULL');
    expect(header).toContain('NEG_A = -1');
    expect(header).toContain('int (*arrp)[4];');
    expect(header).toContain('int matrix[3][4];');
    expect(header).toContain('const char *const name;');
    expect(header).toContain('void (*varargs)(int, ...);');
    expect(header).toContain('unsigned int a: 3;');
    expect(header).toContain('struct node *(*(*ret_fp)(int))(void);');
    const { lines, records } = layoutAsserts(btf);
    expect(records).toBeGreaterThanOrEqual(8);
    const diags = compile('tricky', header, lines.join('\n'));
    expect(diags).toBe('');
  });

  it('hand-built BTF with clashing names, duplicate typedefs and a cycle through pointers', () => {
    const btf = Btf.empty({ source: 'clash' });
    const int = btf.add({ kind: 'int', name: 'int', size: 4, encoding: { signed: true, char: false, bool: false }, offset: 0, bits: 32 });
    const long = btf.add({ kind: 'int', name: 'long', size: 8, encoding: { signed: true, char: false, bool: false }, offset: 0, bits: 64 });
    const m = (name: string, type: number, bitOffset: number): { name: string; type: number; bitOffset: number; bitfieldSize: number } => ({ name, type, bitOffset, bitfieldSize: 0 });
    const foo1 = btf.add({ kind: 'struct', name: 'foo', size: 4, kindFlag: false, members: [m('a', int, 0)] });
    const foo2 = btf.add({ kind: 'struct', name: 'foo', size: 16, kindFlag: false, members: [m('a', long, 0), m('b', long, 64)] });
    btf.add({ kind: 'typedef', name: 'foo_t', type: foo1 });
    btf.add({ kind: 'typedef', name: 'foo_t', type: foo2 });
    btf.add({ kind: 'enum', name: 'e1', size: 4, signed: false, values: [{ name: 'SAME', value: 1 }] });
    btf.add({ kind: 'enum', name: 'e2', size: 4, signed: false, values: [{ name: 'SAME', value: 2 }] });
    btf.add({ kind: 'typedef', name: 'SAME', type: int }); // identifier clash with an enumerator
    // a ↔ b through pointers, and a forward declaration of a defined struct.
    const a = btf.add({ kind: 'struct', name: 'a', size: 8, kindFlag: false, members: [m('b', 0, 0)] });
    const b = btf.add({ kind: 'struct', name: 'b', size: 8, kindFlag: false, members: [m('a', 0, 0)] });
    const pa = btf.add({ kind: 'ptr', name: '', type: a });
    const pb = btf.add({ kind: 'ptr', name: '', type: b });
    btf.replace(a, { kind: 'struct', name: 'a', size: 8, kindFlag: false, members: [m('b', pb, 0)] });
    btf.replace(b, { kind: 'struct', name: 'b', size: 8, kindFlag: false, members: [m('a', pa, 0)] });
    btf.add({ kind: 'fwd', name: 'a', union: false });
    btf.add({ kind: 'fwd', name: 'opaque', union: true });
    const char = btf.add({ kind: 'int', name: 'char', size: 1, encoding: { signed: true, char: true, bool: false }, offset: 0, bits: 8 });
    // A struct with a 6-byte hole after a char and tail padding: explicit padding keeps offsets.
    btf.add({ kind: 'struct', name: 'gappy', size: 24, kindFlag: false, members: [m('c', char, 0), m('x', int, 64)] });
    const header = formatC(btf);
    expect(header).toContain('struct foo___2 {');
    expect(header).toContain('typedef struct foo___2 foo_t___2;');
    expect(header).toContain('SAME___2 = 2');
    expect(header).toContain('typedef int SAME___3;');
    expect(header).toContain('union opaque;');
    expect(header).not.toContain('a___2');
    const asserts = [
      '_Static_assert(sizeof(struct foo) == 4, "foo");',
      '_Static_assert(sizeof(struct foo___2) == 16, "foo2");',
      '_Static_assert(sizeof(foo_t___2) == 16, "foo_t2");',
      '_Static_assert(SAME == 1 && SAME___2 == 2, "enumerators");',
      '_Static_assert(sizeof(struct gappy) == 24 && __builtin_offsetof(struct gappy, x) == 8, "gappy");',
      'int f(struct a *x) { return x->b->a == x; }',
    ];
    expect(compile('clash', header, asserts.join('\n'))).toBe('');
  });
});

describe('formatJson', () => {
  it('lists every type with its id, 64-bit values as strings', () => {
    const btf = allKindsBtf();
    const json = JSON.parse(formatJson(btf)) as { typeCount: number; types: (BtfType & { id: number })[] };
    expect(json.typeCount).toBe(btf.typeCount);
    expect(json.types).toHaveLength(btf.typeCount - 1);
    expect(json.types[3]).toMatchObject({ id: 4, kind: 'struct', name: 's' });
    const e64 = json.types.find((t) => t.kind === 'enum64');
    expect(e64).toMatchObject({ name: 'e64', values: [{ name: 'BIG', value: String(1n << 40n) }, { name: 'MAXU', value: '18446744073709551615' }] });
  });
});
