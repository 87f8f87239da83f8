/**
 * Render BTF as C (a `vmlinux.h`) or JSON.
 *
 * The C emitter walks every named type in id order and, before writing a definition, makes sure
 * what it depends on is already there: by-value uses need a complete definition, uses through a
 * pointer only need a declaration (a `struct foo;` line is written when one is missing). Cycles
 * are therefore broken through pointers. Anonymous structs, unions and enums are written inline.
 *
 * Layout is reproduced exactly: gaps the compiler would not create on its own are filled with
 * unnamed bitfields (`long: 64;`), and a record whose offsets cannot be reached with natural
 * alignment is marked `__attribute__((packed))`. Alignment follows clang's BPF target
 * (`__int128` aligns to 16), not libbpf's 8-byte cap, because clang compiles the output.
 *
 * Names that clash (two different `struct foo`, an enumerator reused by two enums, a typedef
 * and an enumerator) keep their first use and become `name___2`, `name___3`… afterwards.
 */
import type { Btf } from './btf.js';
import { BtfError } from './error.js';
import type { BtfComposite, BtfEnum, BtfEnum64, BtfMember, BtfType } from './types.js';

/** Options of {@link formatC}. */
export interface FormatCOptions {
  /** Wrap records in `#pragma clang attribute push(__attribute__((preserve_access_index)))` (default true). */
  preserveAccessIndex?: boolean;
  /** Text placed verbatim at the very top (e.g. a comment naming the source). */
  header?: string;
  /** Include-guard macro (default `__VMLINUX_H__`). */
  guard?: string;
}

type Composite = BtfComposite<'struct'> | BtfComposite<'union'>;

/** How a record is laid out in the emitted C. */
interface RecordLayout {
  /** Needs `__attribute__((packed))`. */
  packed: boolean;
  /** Needs `__attribute__((aligned(n)))` to reach its size (unions only), else 0. */
  alignedAttr: number;
  /** Alignment of the emitted C type, in bytes. */
  align: number;
}

const PAD_TYPES: readonly { name: string; bits: number }[] = [
  { name: 'long', bits: 64 },
  { name: 'int', bits: 32 },
  { name: 'short', bits: 16 },
  { name: 'char', bits: 8 },
];

/** Largest gap filled with unnamed bitfields; bigger ones become a named byte array. */
const MAX_BITFIELD_PAD_BYTES = 64 * 1024;

const C_KEYWORDS = new Set(
  (
    'auto break case char const continue default do double else enum extern float for goto if inline int long register ' +
    'restrict return short signed sizeof static struct switch typedef union unsigned void volatile while _Alignas ' +
    '_Alignof _Atomic _Bool _Complex _Generic _Imaginary _Noreturn _Static_assert _Thread_local asm typeof __int128'
  ).split(' '),
);

/** Make `name` a usable C identifier (BTF from odd producers may carry dots or dashes). */
function cIdent(name: string): string {
  let s = name.replace(/[^A-Za-z0-9_]/g, '_');
  if (/^[0-9]/.test(s)) s = `_${s}`;
  if (C_KEYWORDS.has(s) || s.startsWith('__builtin_')) s = `${s}__`;
  return s;
}

function roundUp(v: number, a: number): number {
  return a <= 1 ? v : Math.ceil(v / a) * a;
}

/** The C emitter for one Btf. */
class CWriter {
  private readonly out: string[] = [];
  /** Resolved tag (struct/union/enum/fwd) and identifier (typedef) names by type id. */
  private readonly typeNames = new Map<number, string>();
  /** Resolved enumerator names by `${enumId}:${index}`. */
  private readonly valueNames = new Map<string, string>();
  /** Emission state of tags (by resolved name) and typedefs (by id). */
  private readonly tagState = new Map<string, 'declared' | 'defining' | 'defined'>();
  private readonly typedefState = new Map<number, 'defining' | 'defined'>();
  /** Counter for the rare named padding arrays. */
  private padCount = 0;
  /** Tags for which a forward declaration is in the output. */
  private readonly fwdEmitted = new Set<string>();
  /** Anonymous composites currently being walked (guards malformed self-containing input). */
  private readonly walkingAnon = new Set<number>();
  /** Types on the current walk path. */
  private readonly walkActive = new Set<number>();
  private readonly layouts = new Map<number, RecordLayout | 'busy'>();
  /** Types referenced by other emitted types (anonymous enums not in this set are top-level). */
  private readonly referenced = new Set<number>();

  constructor(private readonly btf: Btf) {}

  run(): string {
    this.assignNames();
    this.collectReferences();
    const n = this.btf.typeCount;
    for (let id = 1; id < n; id++) {
      const t = this.btf.type(id);
      switch (t.kind) {
        case 'struct':
        case 'union':
          if (t.name !== '') this.ensureDefined(id);
          break;
        case 'enum':
        case 'enum64':
          if (t.name !== '') this.ensureDefined(id);
          else if (!this.referenced.has(id) && t.values.length > 0) this.out.push(`${this.renderEnum(id, t, 0)};\n\n`);
          break;
        case 'fwd':
          this.ensureDeclared(id);
          break;
        case 'typedef':
          this.ensureTypedef(id);
          break;
        default:
          break;
      }
    }
    return this.out.join('');
  }

  // ------------------------------------------------------------ names

  private assignNames(): void {
    const tagCount = new Map<string, number>();
    const identCount = new Map<string, number>();
    const unique = (counts: Map<string, number>, base: string): string => {
      const c = (counts.get(base) ?? 0) + 1;
      counts.set(base, c);
      return c === 1 ? base : `${base}___${c}`;
    };
    const n = this.btf.typeCount;
    const fwds: number[] = [];
    /** First struct/union definition of each name, to let forward declarations share it. */
    const firstDef = new Map<string, number>();
    for (let id = 1; id < n; id++) {
      const kind = this.btf.kind(id);
      if (kind === 'struct' || kind === 'union' || kind === 'enum' || kind === 'enum64') {
        const name = this.btf.name(id);
        if (name !== '') {
          const resolved = unique(tagCount, cIdent(name));
          this.typeNames.set(id, resolved);
          if ((kind === 'struct' || kind === 'union') && !firstDef.has(`${kind}:${name}`)) firstDef.set(`${kind}:${name}`, id);
        }
        if (kind === 'enum' || kind === 'enum64') {
          const t = this.btf.type(id) as BtfEnum | BtfEnum64;
          t.values.forEach((v, i) => this.valueNames.set(`${id}:${i}`, unique(identCount, cIdent(v.name))));
        }
      } else if (kind === 'typedef') {
        // `__builtin_va_list` is renamed like any reserved name: clang's own is `void *` on BPF,
        // while the kernel's (x86) is `struct __va_list_tag[1]`, and layouts must stay exact.
        this.typeNames.set(id, unique(identCount, cIdent(this.btf.name(id))));
      } else if (kind === 'fwd') {
        fwds.push(id);
      }
    }
    // A forward declaration of a type that is defined somewhere names that definition.
    for (const id of fwds) {
      const t = this.btf.type(id);
      if (t.kind !== 'fwd') continue;
      const def = firstDef.get(`${t.union ? 'union' : 'struct'}:${t.name}`);
      const shared = def === undefined ? undefined : this.typeNames.get(def);
      this.typeNames.set(id, shared ?? unique(tagCount, cIdent(t.name || `__anon_fwd_${id}`)));
    }
  }

  private nameOf(id: number): string {
    return this.typeNames.get(id) ?? `__anon_${id}`;
  }

  private collectReferences(): void {
    const n = this.btf.typeCount;
    for (let id = 1; id < n; id++) {
      const t = this.btf.type(id);
      switch (t.kind) {
        case 'ptr':
        case 'typedef':
        case 'const':
        case 'volatile':
        case 'restrict':
        case 'type_tag':
          this.referenced.add(t.type);
          break;
        case 'array':
          this.referenced.add(t.elemType);
          break;
        case 'struct':
        case 'union':
          for (const m of t.members) this.referenced.add(m.type);
          break;
        case 'func_proto':
          this.referenced.add(t.returnType);
          for (const p of t.params) this.referenced.add(p.type);
          break;
        default:
          break;
      }
    }
  }

  // ------------------------------------------------------------ ordering

  /** Make sure everything the type `id` needs at this point is emitted. */
  private walk(id: number, needComplete: boolean): void {
    // Pointers, arrays, qualifiers and prototypes that lead back to themselves (only malformed BTF
    // does that) would recurse forever; named records and typedefs carry their own state.
    const kind = this.btf.kind(id);
    const stateful = kind === 'struct' || kind === 'union' || kind === 'typedef' || kind === 'enum' || kind === 'enum64' || kind === 'fwd';
    if (stateful) {
      this.walkStep(id, needComplete);
      return;
    }
    if (this.walkActive.has(id)) throw this.cycle(id, 'type refers to itself without a named record in between');
    this.walkActive.add(id);
    try {
      this.walkStep(id, needComplete);
    } finally {
      this.walkActive.delete(id);
    }
  }

  private walkStep(id: number, needComplete: boolean): void {
    const t = this.btf.type(id);
    switch (t.kind) {
      case 'ptr':
        this.walk(t.type, false);
        return;
      case 'array':
        this.walk(t.elemType, true);
        return;
      case 'const':
      case 'volatile':
      case 'restrict':
      case 'type_tag':
        this.walk(t.type, needComplete);
        return;
      case 'func_proto':
        this.walk(t.returnType, false);
        for (const p of t.params) if (p.type !== 0) this.walk(p.type, false);
        return;
      case 'struct':
      case 'union':
        if (t.name === '') {
          if (this.walkingAnon.has(id)) throw this.cycle(id, 'anonymous record contains itself');
          this.walkingAnon.add(id);
          for (const m of t.members) this.walk(m.type, true);
          this.walkingAnon.delete(id);
        } else if (needComplete) {
          this.ensureDefined(id);
        } else {
          this.ensureDeclared(id);
        }
        return;
      case 'enum':
      case 'enum64':
        if (t.name !== '') this.ensureDefined(id);
        return;
      case 'fwd':
        this.ensureDeclared(id);
        return;
      case 'typedef':
        this.ensureTypedef(id);
        if (needComplete) this.walk(t.type, true);
        return;
      default:
        return;
    }
  }

  private cycle(id: number, what: string): BtfError {
    return new BtfError('BTF_CYCLE', `cannot format as C: ${what}`, { source: this.btf.source, typeId: id });
  }

  /**
   * Emit `struct foo;` unless foo is already defined or declared in the output. A record being
   * defined is not yet in the output (its dependencies are written first), so it still needs one.
   */
  private ensureDeclared(id: number): void {
    const name = this.nameOf(id);
    const state = this.tagState.get(name);
    if (state === 'defined' || state === 'declared' || this.fwdEmitted.has(name)) return;
    const t = this.btf.type(id);
    const tag = t.kind === 'union' || (t.kind === 'fwd' && t.union) ? 'union' : t.kind === 'enum' || t.kind === 'enum64' ? 'enum' : 'struct';
    if (state === undefined) this.tagState.set(name, 'declared');
    this.fwdEmitted.add(name);
    this.out.push(`${tag} ${name};\n\n`);
  }

  private ensureDefined(id: number): void {
    const name = this.nameOf(id);
    const state = this.tagState.get(name);
    if (state === 'defined') return;
    if (state === 'defining') throw this.cycle(id, `${name} contains itself by value`);
    const t = this.btf.type(id);
    if (t.kind === 'enum' || t.kind === 'enum64') {
      this.tagState.set(name, 'defined');
      this.out.push(`${this.renderEnum(id, t, 0)};\n\n`);
      return;
    }
    if (t.kind !== 'struct' && t.kind !== 'union') {
      this.ensureDeclared(id);
      return;
    }
    const prev = state;
    this.tagState.set(name, 'defining');
    try {
      for (const m of t.members) this.walk(m.type, true);
    } catch (e) {
      if (prev === undefined) this.tagState.delete(name);
      else this.tagState.set(name, prev);
      throw e;
    }
    this.tagState.set(name, 'defined');
    this.out.push(`${this.renderComposite(id, t, 0)};\n\n`);
  }

  private ensureTypedef(id: number): void {
    const state = this.typedefState.get(id);
    if (state === 'defined') return;
    if (state === 'defining') throw this.cycle(id, `typedef ${this.nameOf(id)} refers to itself`);
    const t = this.btf.type(id);
    if (t.kind !== 'typedef') return;
    this.typedefState.set(id, 'defining');
    try {
      this.walk(t.type, false);
    } catch (e) {
      this.typedefState.delete(id);
      throw e;
    }
    this.typedefState.set(id, 'defined');
    this.out.push(`typedef ${this.declare(t.type, this.nameOf(id), 0)};\n\n`);
  }

  // ------------------------------------------------------------ layout

  /** Alignment of a type as clang's BPF target will see our output. */
  private cAlign(id: number): number {
    let cur = id;
    for (let steps = 0; steps <= this.btf.typeCount; steps++) {
      const t = this.btf.type(cur);
      switch (t.kind) {
        case 'int':
        case 'float':
        case 'enum':
        case 'enum64': {
          let a = 1;
          while (a < t.size && a < 16) a *= 2;
          return a;
        }
        case 'ptr':
          return 8;
        case 'array':
          cur = t.elemType;
          break;
        case 'typedef':
        case 'const':
        case 'volatile':
        case 'restrict':
        case 'type_tag':
          cur = t.type;
          break;
        case 'struct':
        case 'union':
          return this.layout(cur, t).align;
        default:
          return 1;
      }
    }
    throw this.cycle(id, 'alignment loops');
  }

  /** Size in bytes, 0 for unsized kinds (so malformed input degrades instead of throwing). */
  private cSize(id: number): number {
    try {
      return this.btf.sizeof(id);
    } catch (e) {
      if (e instanceof BtfError && e.code === 'BTF_NO_SIZE') return 0;
      throw e;
    }
  }

  private layout(id: number, t: Composite): RecordLayout {
    const memo = this.layouts.get(id);
    if (memo === 'busy') throw this.cycle(id, 'record contains itself by value');
    if (memo) return memo;
    this.layouts.set(id, 'busy');
    let maxAlign = 1;
    let packed = false;
    let maxBytes = 0;
    for (const m of t.members) {
      const a = this.cAlign(m.type);
      maxAlign = Math.max(maxAlign, a);
      if (m.bitfieldSize === 0) {
        if (t.kind === 'struct' && m.bitOffset % (8 * a) !== 0) packed = true;
        maxBytes = Math.max(maxBytes, this.cSize(m.type));
      } else {
        const unit = 8 * Math.max(1, this.cSize(m.type));
        if ((m.bitOffset % unit) + m.bitfieldSize > unit) packed = true;
        maxBytes = Math.max(maxBytes, Math.ceil(m.bitfieldSize / 8));
      }
    }
    if (t.size % maxAlign !== 0) packed = true;
    let align = packed ? 1 : maxAlign;
    let alignedAttr = 0;
    if (t.kind === 'union' && roundUp(maxBytes, align) !== t.size) {
      // A union padded out by an alignment attribute: find the alignment that reproduces its size.
      for (let x = align * 2; x <= 4096; x *= 2) {
        if (roundUp(maxBytes, x) === t.size) {
          alignedAttr = x;
          align = x;
          break;
        }
      }
    }
    const result: RecordLayout = { packed, alignedAttr, align };
    this.layouts.set(id, result);
    return result;
  }

  /**
   * Unnamed bitfields that move the layout cursor from `cur` to `next` (bits). Two placement
   * rules of clang make this short: `T: w` sits exactly at the cursor when it fits in the current
   * T-sized unit (always, in a packed record), and a full-width `T: bits(T)` that does not fit
   * starts at the next T boundary — so one `long: 64;` can absorb a misaligned hole.
   */
  private padding(cur: number, next: number, indent: string, packed: boolean): string {
    let s = '';
    let pos = cur;
    // A huge gap (only malformed or exotic BTF has one) as one byte array, not thousands of lines.
    if (next - pos > 8 * MAX_BITFIELD_PAD_BYTES) {
      if (pos % 8 !== 0) {
        s += `${indent}char: ${8 - (pos % 8)};\n`;
        pos += 8 - (pos % 8);
      }
      const bytes = Math.floor((next - pos) / 8);
      this.padCount++;
      s += `${indent}unsigned char __pad${this.padCount}[${bytes}];\n`;
      pos += 8 * bytes;
    }
    while (pos < next) {
      const gap = next - pos;
      // The rest of the hole in one bitfield placed right at the cursor.
      const whole = PAD_TYPES.find((p) => gap <= p.bits && (packed || (pos % p.bits) + gap <= p.bits));
      if (whole) {
        s += `${indent}${whole.name}: ${gap};\n`;
        break;
      }
      if (packed) {
        s += `${indent}long: 64;\n`;
        pos += 64;
        continue;
      }
      // A full unit, landing at the end of the next T-aligned unit.
      const unit = PAD_TYPES.find((p) => roundUp(pos, p.bits) + p.bits <= next);
      if (unit) {
        s += `${indent}${unit.name}: ${unit.bits};\n`;
        pos = roundUp(pos, unit.bits) + unit.bits;
        continue;
      }
      // Only a sub-byte remainder straddling a boundary is left: finish the current byte.
      const bits = 8 - (pos % 8);
      s += `${indent}char: ${bits};\n`;
      pos += bits;
    }
    return s;
  }

  // ------------------------------------------------------------ rendering

  private isAnonRecord(id: number): boolean {
    const t = this.btf.type(id);
    return (t.kind === 'struct' || t.kind === 'union') && t.name === '';
  }

  private renderComposite(id: number, t: Composite, lvl: number): string {
    if (lvl > 64) throw this.cycle(id, 'anonymous records nest too deeply');
    const lay = this.layout(id, t);
    const head = t.name === '' ? t.kind : `${t.kind} ${this.nameOf(id)}`;
    const indent = '\t'.repeat(lvl + 1);
    let body = '';
    let cur = 0;
    for (const m of t.members) {
      if (m.name === '' && !this.isAnonRecord(m.type)) continue; // unnamed padding: the gap logic fills it
      if (t.kind === 'struct') {
        const target = m.bitOffset;
        const natural = this.naturalOffset(cur, m, lay.packed);
        if (natural !== target && target > cur) body += this.padding(cur, target, indent, lay.packed);
        cur = target + (m.bitfieldSize > 0 ? m.bitfieldSize : 8 * this.cSize(m.type));
      }
      body += `${indent}${this.member(m, lvl + 1)};\n`;
    }
    if (t.kind === 'struct' && roundUp(cur, 8 * lay.align) !== 8 * t.size && cur < 8 * t.size) {
      body += this.padding(cur, 8 * t.size, indent, lay.packed);
    }
    let attrs = '';
    if (lay.packed) attrs += ' __attribute__((packed))';
    if (lay.alignedAttr > 0) attrs += ` __attribute__((aligned(${lay.alignedAttr})))`;
    return `${head} {\n${body}${'\t'.repeat(lvl)}}${attrs}`;
  }

  /** Where clang would put member `m` after `cur` bits without explicit padding. */
  private naturalOffset(cur: number, m: BtfMember, packed: boolean): number {
    if (packed) return cur;
    if (m.bitfieldSize === 0) return roundUp(cur, 8 * this.cAlign(m.type));
    const unit = 8 * Math.max(1, this.cSize(m.type));
    return (cur % unit) + m.bitfieldSize <= unit ? cur : roundUp(cur, unit);
  }

  private member(m: BtfMember, lvl: number): string {
    const decl = this.declare(m.type, m.name === '' ? '' : cIdentMember(m.name), lvl);
    return m.bitfieldSize > 0 ? `${decl}: ${m.bitfieldSize}` : decl;
  }

  private renderEnum(id: number, t: BtfEnum | BtfEnum64, lvl: number): string {
    const head = t.name === '' ? 'enum' : `enum ${this.nameOf(id)}`;
    if (t.values.length === 0) return head; // an enum declaration without enumerators
    const indent = '\t'.repeat(lvl + 1);
    const lines = t.values.map((v, i) => `${indent}${this.valueNames.get(`${id}:${i}`) ?? cIdent(v.name)} = ${enumLiteral(t, v.value)},\n`);
    const packed = t.size < 4 ? ' __attribute__((packed))' : '';
    return `${head} {\n${lines.join('')}${'\t'.repeat(lvl)}}${packed}`;
  }

  /**
   * `<specifiers> <declarator>` for type `id` declaring `decl` ('' for an abstract declarator).
   * `quals` are qualifiers met on the way that apply to the next pointer or to the specifiers
   * (a qualified array qualifies its elements), written once each.
   */
  private declare(id: number, decl: string, lvl: number, depth = 0, quals: readonly string[] = []): string {
    if (depth > 256) throw this.cycle(id, 'declarator nests too deeply');
    const t = this.btf.type(id);
    const join = (spec: string, d: string): string => {
      const q = quals.filter((x) => x !== 'restrict');
      const full = q.length > 0 ? `${q.join(' ')} ${spec}` : spec;
      return d === '' ? full : `${full} ${d}`;
    };
    switch (t.kind) {
      case 'void':
        return join('void', decl);
      case 'int':
        return join(intName(t), decl);
      case 'float':
        return join(t.name || (t.size === 4 ? 'float' : 'double'), decl);
      case 'ptr': {
        const target = this.skipMods(t.type);
        const k = this.btf.kind(target);
        const star = quals.length > 0 ? (decl === '' ? `*${quals.join(' ')}` : `*${quals.join(' ')} ${decl}`) : `*${decl}`;
        const d = k === 'array' || k === 'func_proto' ? `(${star})` : star;
        return this.declare(t.type, d, lvl, depth + 1);
      }
      case 'array':
        return this.declare(t.elemType, `${decl}[${t.nelems}]`, lvl, depth + 1, quals);
      case 'const':
      case 'volatile':
      case 'restrict': {
        const k = this.btf.kind(this.skipMods(t.type));
        // A qualified function type means nothing in C; drop it.
        const next = k === 'func_proto' || quals.includes(t.kind) ? quals : [...quals, t.kind];
        return this.declare(t.type, decl, lvl, depth + 1, next);
      }
      case 'type_tag':
        return this.declare(t.type, decl, lvl, depth + 1, quals);
      case 'func_proto': {
        const params = t.params.map((p) => (p.type === 0 && p.name === '' ? '...' : this.declare(p.type, '', lvl, depth + 1)));
        const list = params.length === 0 ? 'void' : params.join(', ');
        return this.declare(t.returnType, `${decl}(${list})`, lvl, depth + 1);
      }
      case 'struct':
      case 'union':
        if (t.name === '') return join(this.renderComposite(id, t, lvl), decl);
        return join(`${t.kind} ${this.nameOf(id)}`, decl);
      case 'enum':
      case 'enum64':
        if (t.name === '') return join(this.renderEnum(id, t, lvl), decl);
        return join(`enum ${this.nameOf(id)}`, decl);
      case 'fwd':
        return join(`${t.union ? 'union' : 'struct'} ${this.nameOf(id)}`, decl);
      case 'typedef':
        return join(this.nameOf(id), decl);
      default:
        // func, var, datasec, decl_tag never appear inside a C type.
        return join('void', decl);
    }
  }

  /** Skip qualifiers and type tags (not typedefs: a typedef name ends a declarator). */
  private skipMods(id: number): number {
    let cur = id;
    for (let steps = 0; steps <= this.btf.typeCount; steps++) {
      const t = this.btf.type(cur);
      if (t.kind !== 'const' && t.kind !== 'volatile' && t.kind !== 'restrict' && t.kind !== 'type_tag') return cur;
      cur = t.type;
    }
    throw this.cycle(id, 'qualifier chain loops');
  }
}

/** Member names only need to be identifiers (they live in their record's own namespace). */
function cIdentMember(name: string): string {
  return cIdent(name);
}

function intName(t: Extract<BtfType, { kind: 'int' }>): string {
  if (t.name !== '' && /^[A-Za-z_][A-Za-z0-9_ ]*$/.test(t.name)) return t.name;
  if (t.encoding.bool) return '_Bool';
  const u = t.encoding.signed ? '' : 'unsigned ';
  switch (t.size) {
    case 1:
      return t.encoding.signed ? 'signed char' : 'unsigned char';
    case 2:
      return `${u}short`;
    case 4:
      return `${u}int`;
    case 16:
      return `${u}__int128`;
    default:
      return `${u}long long`;
  }
}

function enumLiteral(t: BtfEnum | BtfEnum64, v: number | bigint): string {
  if (typeof v === 'number') return String(v);
  if (t.signed && v < 0n) return v === -(2n ** 63n) ? '(-9223372036854775807LL - 1)' : `${v}LL`;
  return t.signed ? `${v}LL` : `${v}ULL`;
}

/**
 * Render every type of `btf` (base included for split BTF) as a self-contained C header that
 * clang compiles for `-target bpf` — the usual `vmlinux.h`.
 * @throws BtfError BTF_CYCLE when the graph cannot be expressed in C (a record containing itself by value)
 */
export function formatC(btf: Btf, options?: FormatCOptions): string {
  const guard = options?.guard ?? '__VMLINUX_H__';
  const pai = options?.preserveAccessIndex ?? true;
  const parts: string[] = [];
  if (options?.header) parts.push(options.header.endsWith('\n') ? options.header : `${options.header}\n`);
  parts.push(`#ifndef ${guard}\n#define ${guard}\n\n`);
  if (pai) {
    parts.push('#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)\n#endif\n\n');
  }
  parts.push(new CWriter(btf).run());
  if (pai) parts.push('#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n#pragma clang attribute pop\n#endif\n\n');
  parts.push(`#endif /* ${guard} */\n`);
  return parts.join('');
}

/**
 * Render every type as JSON: `{"types":[{"id":1,"kind":"int",...},...]}` with 64-bit enum values
 * as decimal strings.
 */
export function formatJson(btf: Btf, options?: { space?: number }): string {
  const types: unknown[] = [];
  for (let id = 1; id < btf.typeCount; id++) types.push({ id, ...btf.type(id) });
  return JSON.stringify({ source: btf.source, typeCount: btf.typeCount, types }, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), options?.space);
}
