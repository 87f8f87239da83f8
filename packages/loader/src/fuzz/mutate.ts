/**
 * Mutators: generic byte damage plus structure-aware edits aimed at the fields parsers trust —
 * ELF headers, section headers, symbols and relocations; BTF headers, type records (cycles,
 * self-containing structs, huge counts, bad string offsets); `.BTF.ext` sub-sections; and
 * instruction streams (bad jumps, truncated ld_imm64, bogus calls). Each mutator edits a copy in
 * place and returns a short label of what it did, so a failure report says which damage hit.
 */
import type { BtfInfo, ObjectInput, Range, SectionInfo } from './corpus.js';
import type { Rng } from './rng.js';

const INTERESTING_U32 = [0, 1, 2, 7, 8, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];
const INTERESTING_U64 = [0n, 1n, 8n, 0xffffffffn, 0x100000000n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n];

function dv(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** An "interesting" 32-bit value, sometimes relative to the input's size. */
export function interestingU32(rng: Rng, len: number): number {
  switch (rng.below(4)) {
    case 0:
      return rng.u32();
    case 1:
      return Math.max(0, Math.min(0xffffffff, len + rng.between(-2, 2)));
    default:
      return rng.pick(INTERESTING_U32);
  }
}

function interestingU64(rng: Rng, len: number): bigint {
  if (rng.chance(0.5)) return BigInt(interestingU32(rng, len));
  return rng.pick(INTERESTING_U64);
}

function inBounds(bytes: Uint8Array, off: number, size: number): boolean {
  return off >= 0 && off + size <= bytes.length;
}

function setU32(bytes: Uint8Array, off: number, v: number): boolean {
  if (!inBounds(bytes, off, 4)) return false;
  dv(bytes).setUint32(off, v >>> 0, true);
  return true;
}

function setU16(bytes: Uint8Array, off: number, v: number): boolean {
  if (!inBounds(bytes, off, 2)) return false;
  dv(bytes).setUint16(off, v & 0xffff, true);
  return true;
}

function setU64(bytes: Uint8Array, off: number, v: bigint): boolean {
  if (!inBounds(bytes, off, 8)) return false;
  dv(bytes).setBigUint64(off, BigInt.asUintN(64, v), true);
  return true;
}

// --- generic ---------------------------------------------------------------------------------------

/** Random damage anywhere in `range` (the whole input by default). Never changes the length. */
export function damageBytes(bytes: Uint8Array, rng: Rng, range: Range = { start: 0, size: bytes.length }): string {
  if (range.size <= 0) return 'none';
  const at = (): number => range.start + rng.below(range.size);
  switch (rng.below(5)) {
    case 0: {
      const n = rng.between(1, 8);
      for (let i = 0; i < n; i++) bytes[at()] ^= 1 << rng.below(8);
      return `flip${n}`;
    }
    case 1: {
      const n = rng.between(1, 4);
      for (let i = 0; i < n; i++) bytes[at()] = rng.pick([0, 0xff, 0x7f, 0x80, 0x01]);
      return `byte${n}`;
    }
    case 2: {
      const off = at() & ~3;
      setU32(bytes, off, interestingU32(rng, bytes.length));
      return 'u32';
    }
    case 3: {
      // Copy one chunk over another: plausible-looking garbage.
      const size = rng.between(1, Math.min(64, range.size));
      const from = range.start + rng.below(Math.max(1, range.size - size));
      const to = range.start + rng.below(Math.max(1, range.size - size));
      bytes.copyWithin(to, from, from + size);
      return 'copy';
    }
    default: {
      const size = rng.between(1, Math.min(32, range.size));
      const to = range.start + rng.below(Math.max(1, range.size - size));
      bytes.fill(rng.pick([0, 0xff]), to, to + size);
      return 'fill';
    }
  }
}

/** Cut the input at a random point (biased towards structure boundaries when given). */
export function truncate(bytes: Uint8Array, rng: Rng, boundaries: readonly number[] = []): Uint8Array {
  let len: number;
  if (boundaries.length > 0 && rng.chance(0.6)) len = Math.max(0, Math.min(bytes.length - 1, rng.pick(boundaries) + rng.between(-3, 3)));
  else len = rng.below(bytes.length);
  return bytes.slice(0, len);
}

// --- ELF ---------------------------------------------------------------------------------------------

const SHDR_FIELDS: { off: number; size: 4 | 8; name: string }[] = [
  { off: 0x00, size: 4, name: 'sh_name' },
  { off: 0x04, size: 4, name: 'sh_type' },
  { off: 0x08, size: 8, name: 'sh_flags' },
  { off: 0x18, size: 8, name: 'sh_offset' },
  { off: 0x20, size: 8, name: 'sh_size' },
  { off: 0x28, size: 4, name: 'sh_link' },
  { off: 0x2c, size: 4, name: 'sh_info' },
  { off: 0x30, size: 8, name: 'sh_addralign' },
  { off: 0x38, size: 8, name: 'sh_entsize' },
];

/** Structure-aware damage to an ELF object: headers, section headers, symbols, relocations. */
export function mutateElf(bytes: Uint8Array, rng: Rng, obj: ObjectInput): string {
  switch (rng.below(6)) {
    case 0: {
      const field = rng.pick([
        { off: 0x04, size: 1, name: 'ei_class' },
        { off: 0x05, size: 1, name: 'ei_data' },
        { off: 0x12, size: 2, name: 'e_machine' },
        { off: 0x28, size: 8, name: 'e_shoff' },
        { off: 0x3a, size: 2, name: 'e_shentsize' },
        { off: 0x3c, size: 2, name: 'e_shnum' },
        { off: 0x3e, size: 2, name: 'e_shstrndx' },
      ]);
      if (field.size === 1) bytes[field.off] = rng.below(256);
      else if (field.size === 2) setU16(bytes, field.off, rng.chance(0.5) ? rng.pick([0, 1, 0xffff, 0xff00, obj.sections.length, obj.sections.length + 1]) : rng.u32());
      else setU64(bytes, field.off, interestingU64(rng, bytes.length));
      return `elf:${field.name}`;
    }
    case 1:
    case 2: {
      const s = rng.pick(obj.sections);
      const f = rng.pick(SHDR_FIELDS);
      if (f.size === 4) {
        const v = f.name === 'sh_link' || f.name === 'sh_info' ? rng.pick([0, obj.sections.length, obj.sections.length - 1, 0xffff, 0xffffffff, rng.below(obj.sections.length)]) : interestingU32(rng, bytes.length);
        setU32(bytes, s.headerOffset + f.off, v);
      } else {
        setU64(bytes, s.headerOffset + f.off, interestingU64(rng, bytes.length));
      }
      return `shdr:${s.name}.${f.name}`;
    }
    case 3: {
      const sym = obj.symtab;
      if (!sym || sym.size < 24) return damageBytes(bytes, rng);
      const n = Math.floor(sym.size / 24);
      const at = sym.start + rng.below(n) * 24;
      const which = rng.below(5);
      if (which === 0) setU32(bytes, at, interestingU32(rng, bytes.length));
      else if (which === 1) bytes[at + 4] = rng.below(256);
      else if (which === 2) setU16(bytes, at + 6, rng.pick([0, 0xfff1, 0xfff2, 0xffff, obj.sections.length, rng.below(obj.sections.length)]));
      else if (which === 3) setU64(bytes, at + 8, rng.chance(0.5) ? BigInt(rng.below(4096)) : interestingU64(rng, bytes.length));
      else setU64(bytes, at + 16, rng.chance(0.5) ? BigInt(rng.below(4096)) : interestingU64(rng, bytes.length));
      return `sym:${['st_name', 'st_info', 'st_shndx', 'st_value', 'st_size'][which]}`;
    }
    case 4: {
      if (obj.rels.length === 0) return damageBytes(bytes, rng);
      const rel = rng.pick(obj.rels);
      const n = Math.floor(rel.size / 16);
      if (n === 0) return damageBytes(bytes, rng);
      const at = rel.start + rng.below(n) * 16;
      if (rng.chance(0.5)) {
        // r_offset: unaligned, past the end, or onto the second half of an ld_imm64.
        setU64(bytes, at, rng.chance(0.5) ? BigInt(rng.below(1 << 16)) : interestingU64(rng, bytes.length));
        return `rel:${rel.name}.r_offset`;
      }
      const symIndex = rng.pick([0, 0xffffffff, 0x7fffffff, rng.below(1 << 12)]);
      const type = rng.pick([1, 2, 10, 0, 0xff, rng.below(256)]);
      setU64(bytes, at + 8, (BigInt(symIndex) << 32n) | BigInt(type));
      return `rel:${rel.name}.r_info`;
    }
    default: {
      const s = rng.pick(obj.sections.filter((x) => x.size > 0 && x.type !== 8));
      return `data:${s.name}:${damageBytes(bytes, rng, s)}`;
    }
  }
}

// --- BTF ---------------------------------------------------------------------------------------------

const REF_KINDS = new Set([2, 8, 9, 10, 11, 12, 18]); // ptr typedef volatile const restrict func type_tag

/** Structure-aware damage to the BTF framed by `info` (inside `bytes`). */
export function mutateBtf(bytes: Uint8Array, rng: Rng, info: BtfInfo): string {
  const d = dv(bytes);
  const nTypes = info.records.length;
  const anyId = (): number => rng.pick([0, nTypes, nTypes + 1, nTypes + 100, 0x7fffffff, 0xffffffff, rng.between(1, Math.max(1, nTypes))]);
  const recordOf = (pred: (kind: number, vlen: number) => boolean): { id: number; off: number; kind: number; vlen: number } | undefined => {
    for (let tries = 0; tries < 64; tries++) {
      const id = rng.between(1, Math.max(1, nTypes));
      const off = info.records[id - 1];
      if (off === undefined || !inBounds(bytes, off, 12)) continue;
      const infoWord = d.getUint32(off + 4, true);
      const kind = (infoWord >>> 24) & 0x1f;
      const vlen = infoWord & 0xffff;
      if (pred(kind, vlen)) return { id, off, kind, vlen };
    }
    return undefined;
  };
  switch (rng.below(10)) {
    case 0: {
      const f = rng.pick([
        { off: 2, name: 'version' },
        { off: 3, name: 'flags' },
        { off: 4, name: 'hdr_len' },
        { off: 8, name: 'type_off' },
        { off: 12, name: 'type_len' },
        { off: 16, name: 'str_off' },
        { off: 20, name: 'str_len' },
      ]);
      if (f.off < 4) bytes[info.base + f.off] = rng.below(256);
      else setU32(bytes, info.base + f.off, f.name === 'type_len' || f.name === 'str_len' ? rng.pick([0, 1, 3, 0xffffffff, info.typeLen + 12, info.strLen + 1, interestingU32(rng, bytes.length)]) : interestingU32(rng, bytes.length));
      return `btf:hdr.${f.name}`;
    }
    case 1: {
      // Cycle through a reference kind: typedef → itself, or a two-step loop.
      const r = recordOf((k) => REF_KINDS.has(k));
      if (!r) return damageBytes(bytes, rng, { start: info.typeStart, size: info.typeLen });
      if (rng.chance(0.5)) {
        setU32(bytes, r.off + 8, r.id);
        return `btf:cycle-self(${r.id})`;
      }
      const other = recordOf((k) => REF_KINDS.has(k));
      if (!other) return 'none';
      setU32(bytes, r.off + 8, other.id);
      setU32(bytes, other.off + 8, r.id);
      return `btf:cycle-pair(${r.id},${other.id})`;
    }
    case 2: {
      // A struct containing itself by value (or via an array of itself).
      const r = recordOf((k, vlen) => (k === 4 || k === 5) && vlen > 0);
      if (!r) return 'none';
      const m = rng.below(r.vlen);
      setU32(bytes, r.off + 12 + m * 12 + 4, r.id);
      return `btf:struct-self(${r.id}.${m})`;
    }
    case 3: {
      const r = recordOf((k) => k === 3);
      if (!r) return 'none';
      const which = rng.below(3);
      if (which === 0) setU32(bytes, r.off + 12, rng.chance(0.5) ? r.id : anyId());
      else if (which === 1) setU32(bytes, r.off + 16, anyId());
      else setU32(bytes, r.off + 20, rng.pick([0, 0xffffffff, 0x80000000, 0x10000000, rng.u32()]));
      return `btf:array.${['elem', 'index', 'nelems'][which]}`;
    }
    case 4: {
      // name_off out of range, into the middle of a string, or at the unterminated tail.
      const id = rng.between(1, Math.max(1, nTypes));
      const off = info.records[id - 1];
      if (off === undefined) return 'none';
      setU32(bytes, off, rng.pick([info.strLen, info.strLen - 1, info.strLen + 1, 0xffffffff, rng.below(Math.max(1, info.strLen))]));
      return `btf:name_off(${id})`;
    }
    case 5: {
      // Huge vlen / odd kind / kind_flag: the framing and every loop over members.
      const id = rng.between(1, Math.max(1, nTypes));
      const off = info.records[id - 1];
      if (off === undefined || !inBounds(bytes, off, 12)) return 'none';
      const word = d.getUint32(off + 4, true);
      const which = rng.below(3);
      if (which === 0) d.setUint32(off + 4, (word & ~0xffff) | rng.pick([0xffff, 0x8000, 0x1000, rng.below(0x10000)]), true);
      else if (which === 1) d.setUint32(off + 4, (word & ~(0x1f << 24)) | (rng.below(32) << 24), true);
      else d.setUint32(off + 4, word ^ 0x80000000, true);
      return `btf:info.${['vlen', 'kind', 'kind_flag'][which]}(${id})`;
    }
    case 6: {
      // size/type field of any record: self, past the end, or a huge size.
      const id = rng.between(1, Math.max(1, nTypes));
      const off = info.records[id - 1];
      if (off === undefined) return 'none';
      setU32(bytes, off + 8, rng.chance(0.3) ? id : rng.chance(0.5) ? anyId() : interestingU32(rng, bytes.length));
      return `btf:size_type(${id})`;
    }
    case 7: {
      // Member / param / var / enum fields of a record with a tail.
      const r = recordOf((k, vlen) => [4, 5, 6, 13, 15, 19].includes(k) && vlen > 0);
      if (!r) return 'none';
      const stride = r.kind === 6 || r.kind === 13 ? 8 : 12;
      const m = rng.below(r.vlen);
      const field = rng.below(stride / 4);
      setU32(bytes, r.off + 12 + m * stride + field * 4, rng.chance(0.5) ? anyId() : interestingU32(rng, bytes.length));
      return `btf:member(${r.id}.${m}.${field})`;
    }
    case 8: {
      // Strings: unterminated tail, non-empty first string, non-UTF-8.
      const start = info.strStart;
      const end = info.strStart + info.strLen;
      if (!inBounds(bytes, start, Math.max(1, info.strLen))) return 'none';
      const which = rng.below(3);
      if (which === 0) bytes[end - 1] = 0x41;
      else if (which === 1) bytes[start] = 0x41;
      else for (let i = 0; i < 4; i++) bytes[start + rng.below(info.strLen)] = rng.pick([0xff, 0xc3, 0x80, 0x1b]);
      return `btf:str.${['tail', 'first', 'utf8'][which]}`;
    }
    default:
      return `btf:${damageBytes(bytes, rng, { start: info.base, size: Math.min(bytes.length - info.base, info.hdrLen + info.typeLen + info.strLen) })}`;
  }
}

// --- .BTF.ext ------------------------------------------------------------------------------------------

/** Structure-aware damage to a `.BTF.ext` section occupying `sec` inside `bytes`. */
export function mutateBtfExt(bytes: Uint8Array, rng: Rng, sec: Range): string {
  const d = dv(bytes);
  const base = sec.start;
  if (!inBounds(bytes, base, 32)) return damageBytes(bytes, rng, sec);
  const hdrLen = d.getUint32(base + 4, true);
  const subs: { name: string; offField: number; minRec: number }[] = [
    { name: 'func_info', offField: 8, minRec: 8 },
    { name: 'line_info', offField: 16, minRec: 16 },
    { name: 'core_relo', offField: 24, minRec: 16 },
  ];
  const choice = rng.below(5);
  if (choice === 0) {
    const f = rng.pick([2, 4, 8, 12, 16, 20, 24, 28]);
    if (f === 2) bytes[base + 2] = rng.below(256);
    else setU32(bytes, base + f, interestingU32(rng, sec.size));
    return `ext:hdr@${f}`;
  }
  if (choice === 4) return `ext:${damageBytes(bytes, rng, sec)}`;
  const sub = rng.pick(subs);
  const off = d.getUint32(base + sub.offField, true);
  const len = d.getUint32(base + sub.offField + 4, true);
  const start = base + hdrLen + off;
  if (len < 4 || !inBounds(bytes, start, len)) return `ext:${damageBytes(bytes, rng, sec)}`;
  const recSize = d.getUint32(start, true);
  if (choice === 1) {
    setU32(bytes, start, rng.pick([0, 1, 4, sub.minRec - 1, sub.minRec + 1, 0xffffffff, 0x10000]));
    return `ext:${sub.name}.rec_size`;
  }
  // Walk the per-section blocks: sec_name_off, num_info, records.
  const blocks: { at: number; n: number }[] = [];
  let p = start + 4;
  while (p + 8 <= start + len && recSize > 0) {
    const n = d.getUint32(p + 4, true);
    blocks.push({ at: p, n });
    p += 8 + n * recSize;
    if (blocks.length > 256) break;
  }
  if (blocks.length === 0) return 'none';
  const b = rng.pick(blocks);
  if (choice === 2) {
    if (rng.chance(0.5)) setU32(bytes, b.at + 4, rng.pick([0xffffffff, 0x7fffffff, 0x100000, b.n + 1, 0]));
    else setU32(bytes, b.at, rng.pick([0xffffffff, 0x7fffffff, 0, 1, rng.u32()]));
    return `ext:${sub.name}.${rng.chance(0.5) ? 'num_info' : 'sec_name_off'}`;
  }
  if (b.n === 0 || recSize === 0) return 'none';
  const r = b.at + 8 + rng.below(b.n) * recSize;
  const field = rng.below(Math.max(1, Math.floor(Math.min(recSize, 16) / 4)));
  const v =
    field === 0
      ? rng.pick([1, 3, 4, 0xfffffff8, 0x7ffffff8, rng.u32()]) // insn_off: unaligned, huge
      : rng.pick([0, 0xffffffff, 0x7fffffff, rng.below(64), rng.u32(), rng.below(32)]);
  setU32(bytes, r + field * 4, v);
  return `ext:${sub.name}.record.f${field}`;
}

// --- instructions -----------------------------------------------------------------------------------

/** Opcodes worth planting. */
const JMP_OPS = [0x05, 0x15, 0x1d, 0x25, 0x55, 0xa5, 0x06, 0x16, 0x5d];

/** Damage the instruction stream of one code section: bad jumps, truncated ld_imm64, bogus calls. */
export function mutateInsns(bytes: Uint8Array, rng: Rng, sec: SectionInfo): string {
  const n = Math.floor(sec.size / 8);
  if (n === 0) return 'none';
  const d = dv(bytes);
  const slot = (i: number): number => sec.start + i * 8;
  const i = rng.below(n);
  const at = slot(i);
  if (!inBounds(bytes, at, 8)) return 'none';
  switch (rng.below(8)) {
    case 0: {
      // Jump offset: out of range, into itself, onto an ld_imm64's second half.
      if (!JMP_OPS.includes(bytes[at]) && rng.chance(0.5)) bytes[at] = rng.pick(JMP_OPS);
      const off = rng.pick([-1, -i - 2, n - i, n - i - 1, 0x7fff, -0x8000, rng.between(-n, n)]);
      d.setInt16(at + 2, off, true);
      if (bytes[at] === 0x06) d.setInt32(at + 4, rng.pick([-1, n, 0x7fffffff, -0x80000000]), true);
      return `insn:jump@${i}:${off}`;
    }
    case 1: {
      // ld_imm64 with no second half: at the very end of the section (or before a function's end).
      const j = rng.chance(0.5) ? n - 1 : i;
      bytes[slot(j)] = 0x18;
      return `insn:ld_imm64-trunc@${j}`;
    }
    case 2: {
      // bpf-to-bpf call with a bogus target.
      bytes[at] = 0x85;
      bytes[at + 1] = (bytes[at + 1] & 0x0f) | (rng.pick([1, 1, 2, 0]) << 4);
      d.setInt32(at + 4, rng.pick([-1, -i - 1, n, n - i, 0x7fffffff, -0x80000000, rng.between(-n, n)]), true);
      return `insn:call@${i}`;
    }
    case 3: {
      bytes[at] = rng.below(256);
      return `insn:opcode@${i}`;
    }
    case 4: {
      // Registers past r10.
      bytes[at + 1] = rng.below(256);
      return `insn:regs@${i}`;
    }
    case 5: {
      // Remove an exit: execution may fall off the end.
      for (let k = n - 1; k >= 0; k--) {
        if (bytes[slot(k)] === 0x95) {
          bytes[slot(k)] = 0xb7;
          return `insn:no-exit@${k}`;
        }
      }
      return 'none';
    }
    case 6: {
      // Second half of an ld_imm64 made into a real opcode.
      for (let k = 0; k + 1 < n; k++) {
        if (bytes[slot(k)] === 0x18 && rng.chance(0.3)) {
          bytes[slot(k + 1)] = rng.pick([0x18, 0x05, 0x95, 0x85]);
          return `insn:ld_imm64-second@${k + 1}`;
        }
      }
      return 'none';
    }
    default: {
      // Self loop / memory access with a huge offset.
      if (rng.chance(0.5)) {
        bytes[at] = 0x05;
        d.setInt16(at + 2, -1, true);
        return `insn:self-loop@${i}`;
      }
      bytes[at] = rng.pick([0x61, 0x79, 0x63, 0x7b, 0x72, 0xdb]);
      d.setInt16(at + 2, rng.pick([0x7fff, -0x8000, -512, 512]), true);
      return `insn:mem@${i}`;
    }
  }
}

/** A random instruction stream (for the analysis alone): mostly plausible opcodes, some garbage. */
export function randomInsns(rng: Rng, n: number): Uint8Array {
  const out = new Uint8Array(n * 8);
  const d = dv(out);
  const ops = [0xb7, 0xbf, 0x07, 0x0f, 0x18, 0x85, 0x95, 0x61, 0x79, 0x63, 0x7b, 0x05, 0x15, 0x1d, 0x55, 0x06, 0xc3, 0xdb];
  for (let i = 0; i < n; i++) {
    const at = i * 8;
    out[at] = rng.chance(0.9) ? rng.pick(ops) : rng.below(256);
    out[at + 1] = rng.chance(0.9) ? (rng.below(11) | (rng.below(11) << 4)) : rng.below(256);
    d.setInt16(at + 2, rng.chance(0.8) ? rng.between(-n, n) : rng.between(-0x8000, 0x7fff), true);
    d.setInt32(at + 4, rng.chance(0.8) ? rng.between(-16, 256) : rng.u32() | 0, true);
    if (out[at] === 0x18 && i + 1 < n && rng.chance(0.8)) {
      i++;
      d.setInt32(i * 8 + 4, rng.u32() | 0, true);
    }
  }
  return out;
}
