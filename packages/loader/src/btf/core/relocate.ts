/**
 * CO-RE resolution and instruction patching.
 *
 * For one relocation: parse the local spec, find candidates by essential name in the target BTFs,
 * match each candidate, compute the value the compiler assumed (local) and the value this kernel
 * needs (target). Every matching candidate must agree, otherwise the relocation is ambiguous and
 * the load stops. When no candidate matches, the instruction is poisoned (turned into a call to the
 * non-existent helper 0xbad2310) so the program fails verification only if that path is reachable;
 * existence checks and the other type-based kinds resolve to 0 instead, as in libbpf.
 */
import type { Btf } from '../btf.js';
import { BPF_CLASS, BPF_SRC, CALL, LD_IMM64, sizeBits, sizeBytes } from '../../asm/opcodes.js';
import type { Insns } from '../../asm/instruction.js';
import { describeSpec, parseCoreSpec, memberBitfieldSize, type CoreSpec } from './accessor.js';
import { type CoreTargets, findCandidates } from './candidates.js';
import { CoreError } from './error.js';
import { BPF_CORE, coreRelocationKindName, isEnumValueBasedKind, isFieldBasedKind, isTypeBasedKind } from './kinds.js';
import { matchSpec } from './match.js';
import { enumValue, isAnyEnum, isComposite, resolveSize, skipModsAndTypedefs } from './names.js';

/** One CO-RE relocation record, as read from `.BTF.ext`. */
export interface CoreRelocation {
  /** Index of the instruction to patch, in the instruction stream passed to {@link applyCoreRelocations}. */
  insnIndex: number;
  /** Root type id in the local (object) BTF. */
  typeId: number;
  /** Access string, e.g. `"0:1:2"`. */
  accessString: string;
  /** `BPF_CORE.*` kind. */
  kind: number;
}

/**
 * What patching an instruction needs of a resolution, in plain values: what an earlier process of
 * the same boot can remember for this one (see `btf/memo.ts`).
 */
export interface CoreOutcome {
  /** The relocation kind (`BPF_CORE.*`). */
  kind: number;
  /** Its name, e.g. `FIELD_BYTE_OFFSET`. */
  kindName: string;
  /** The access in C terms, from the local BTF: `struct task_struct___mine.pid`. */
  description: string;
  /** The value the compiler baked into the instruction (from the local BTF). */
  localValue: bigint;
  /** The value for this kernel; meaningless when {@link poisoned}. */
  targetValue: bigint;
  /** No candidate matched and the kind cannot default to 0: the instruction must be poisoned. */
  poisoned: boolean;
  /** Whether the instruction must currently hold {@link localValue} (false for bitfield offsets and type ids). */
  validate: boolean;
  /** Memory access width the local field implies for a load/store (0 when not a sized field offset). */
  localSize: number;
  /** Memory access width of the target field (0 when not a sized field offset). */
  targetSize: number;
  /**
   * The field size changed in a way a load/store cannot follow (signed ints, non-integer fields):
   * a load/store carrying this relocation is poisoned instead of resized.
   */
  failMemorySizeAdjust: boolean;
  /** The matched target type id. */
  targetTypeId: number | undefined;
  /** How many candidates matched (all agreeing). */
  matchedCandidates: number;
}

/** A resolved relocation: its {@link CoreOutcome} and how it was reached. */
export interface CoreResolution extends CoreOutcome {
  /** The parsed local access. */
  localSpec: CoreSpec;
  /** The chosen target access, when a candidate matched (never for a {@link remembered} outcome). */
  targetSpec: CoreSpec | undefined;
  /**
   * The BTF holding the matched target type. For TYPE_ID_TARGET into a module's BTF the loader
   * must pass that BTF object's fd along with the id. For a remembered outcome, a getter that
   * parses the kernel's BTF when first read (undefined if that fails).
   */
  targetBtf: Btf | undefined;
  /** The outcome came from an earlier process of this boot (see {@link CoreOutcomeMemo}), not from a search. */
  remembered: boolean;
}

interface Computed {
  value: bigint;
  size: number;
  sizeTypeId: number;
  validate: boolean;
}

const POISON = Symbol('poison');

function elementSize(btf: Btf, id: number): { size: number; id: number } {
  let cur = skipModsAndTypedefs(btf, id);
  for (let depth = 0; cur.type.kind === 'array' && depth < 64; depth++) cur = skipModsAndTypedefs(btf, cur.type.elemType);
  return { size: resolveSize(btf, cur.id), id: cur.id };
}

/** libbpf `bpf_core_calc_field_relo`: the value of a field relocation for one spec (undefined spec: nothing matched). */
function computeField(kind: number, spec: CoreSpec | undefined, what: () => string): Computed | typeof POISON {
  if (kind === BPF_CORE.FIELD_EXISTS) return { value: spec ? 1n : 0n, size: 0, sizeTypeId: 0, validate: true };
  if (spec === undefined) return POISON;
  const btf = spec.btf;
  const acc = spec.accessors[spec.accessors.length - 1];
  if (acc === undefined) throw new CoreError('CORE_BAD_SPEC', `${what()}: empty access`);

  if (acc.name === undefined) {
    // The access ends at an array element (`&a[3]` or `&p[1]`).
    if (kind === BPF_CORE.FIELD_BYTE_OFFSET) {
      const el = elementSize(btf, acc.typeId);
      return { value: BigInt(Math.floor(spec.bitOffset / 8)), size: el.size, sizeTypeId: acc.typeId, validate: true };
    }
    if (kind === BPF_CORE.FIELD_BYTE_SIZE) return { value: BigInt(resolveSize(btf, acc.typeId)), size: 0, sizeTypeId: 0, validate: true };
    throw new CoreError('CORE_UNSUPPORTED', `${what()}: ${coreRelocationKindName(kind)} cannot be applied to an array element access`);
  }

  const holder = btf.type(acc.typeId);
  if (!isComposite(holder)) throw new CoreError('CORE_BAD_SPEC', `${what()}: accessor type [${acc.typeId}] is not a struct or union`);
  const member = holder.members[acc.index];
  if (member === undefined) throw new CoreError('CORE_BAD_SPEC', `${what()}: member #${acc.index} missing`);
  const field = skipModsAndTypedefs(btf, member.type);
  const bitOff = spec.bitOffset;
  let bitSize = memberBitfieldSize(holder, acc.index);
  const bitfield = bitSize > 0;
  let byteSize: number;
  let byteOff: number;
  if (bitfield) {
    const t = field.type;
    if (t.kind !== 'int' && !isAnyEnum(t)) throw new CoreError('CORE_BAD_BTF', `${what()}: bitfield of non-integer ${t.kind}`);
    byteSize = t.size;
    if (byteSize <= 0) throw new CoreError('CORE_BAD_BTF', `${what()}: bitfield of zero-sized type`);
    byteOff = Math.floor(bitOff / 8 / byteSize) * byteSize;
    // Widen the load until it covers the whole bitfield.
    while (bitOff + bitSize - byteOff * 8 > byteSize * 8) {
      if (byteSize >= 8) throw new CoreError('CORE_UNSUPPORTED', `${what()}: bitfield cannot be read with one 64-bit load`);
      byteSize *= 2;
      byteOff = Math.floor(bitOff / 8 / byteSize) * byteSize;
    }
  } else {
    byteSize = resolveSize(btf, field.id);
    byteOff = Math.floor(bitOff / 8);
    bitSize = byteSize * 8;
  }

  switch (kind) {
    case BPF_CORE.FIELD_BYTE_OFFSET: {
      if (bitfield) return { value: BigInt(byteOff), size: 0, sizeTypeId: 0, validate: false };
      const el = elementSize(btf, field.id);
      return { value: BigInt(byteOff), size: el.size, sizeTypeId: field.id, validate: true };
    }
    case BPF_CORE.FIELD_BYTE_SIZE:
      return { value: BigInt(byteSize), size: 0, sizeTypeId: 0, validate: !bitfield };
    case BPF_CORE.FIELD_SIGNED: {
      const t = field.type;
      const signed = (isAnyEnum(t) && t.signed) || (t.kind === 'int' && t.encoding.signed);
      return { value: signed ? 1n : 0n, size: 0, sizeTypeId: 0, validate: true };
    }
    case BPF_CORE.FIELD_LSHIFT_U64:
      // Little-endian: shift the field's top bit up to bit 63.
      return { value: BigInt(64 - (bitOff + bitSize - byteOff * 8)), size: 0, sizeTypeId: 0, validate: !bitfield };
    case BPF_CORE.FIELD_RSHIFT_U64:
      return { value: BigInt(64 - bitSize), size: 0, sizeTypeId: 0, validate: true };
    default:
      throw new CoreError('CORE_UNSUPPORTED', `${what()}: unknown field relocation kind ${kind}`);
  }
}

/** libbpf `bpf_core_calc_type_relo`: type-based kinds resolve to 0 when nothing matched. */
function computeType(kind: number, spec: CoreSpec | undefined, what: () => string): Computed {
  if (spec === undefined) return { value: 0n, size: 0, sizeTypeId: 0, validate: true };
  switch (kind) {
    case BPF_CORE.TYPE_ID_TARGET:
      // Ids in the object shift during linking: never validate them.
      return { value: BigInt(spec.rootTypeId), size: 0, sizeTypeId: 0, validate: false };
    case BPF_CORE.TYPE_EXISTS:
    case BPF_CORE.TYPE_MATCHES:
      return { value: 1n, size: 0, sizeTypeId: 0, validate: true };
    case BPF_CORE.TYPE_SIZE:
      return { value: BigInt(resolveSize(spec.btf, spec.rootTypeId)), size: 0, sizeTypeId: 0, validate: true };
    default:
      throw new CoreError('CORE_UNSUPPORTED', `${what()}: unexpected type relocation kind ${kind}`);
  }
}

/** libbpf `bpf_core_calc_enumval_relo`. */
function computeEnumValue(kind: number, spec: CoreSpec | undefined, what: () => string): Computed | typeof POISON {
  if (kind === BPF_CORE.ENUMVAL_EXISTS) return { value: spec ? 1n : 0n, size: 0, sizeTypeId: 0, validate: true };
  if (spec === undefined) return POISON;
  const acc = spec.accessors[0];
  const t = acc === undefined ? undefined : spec.btf.type(acc.typeId);
  if (acc === undefined || t === undefined || !isAnyEnum(t)) throw new CoreError('CORE_BAD_SPEC', `${what()}: enumerator accessor is not an enum`);
  return { value: enumValue(t, acc.index), size: 0, sizeTypeId: 0, validate: true };
}

function compute(kind: number, spec: CoreSpec | undefined, what: () => string): Computed | typeof POISON {
  if (isFieldBasedKind(kind)) return computeField(kind, spec, what);
  if (isTypeBasedKind(kind)) return computeType(kind, spec, what);
  if (isEnumValueBasedKind(kind)) return computeEnumValue(kind, spec, what);
  throw new CoreError('CORE_UNSUPPORTED', `${what()}: unknown CO-RE relocation kind ${kind}`);
}

/** Whether a load/store may simply change width when the field size differs (pointers, unsigned ints). */
function canResizeAccess(local: Btf, localTypeId: number, target: Btf, targetTypeId: number): boolean {
  const l = local.type(localTypeId);
  const t = target.type(targetTypeId);
  if (l.kind === 'ptr' && t.kind === 'ptr') return true;
  return l.kind === 'int' && t.kind === 'int' && !l.encoding.signed && !t.encoding.signed;
}

function resolutionFrom(
  kind: number,
  description: string,
  localSpec: CoreSpec,
  local: Computed,
  target: Computed | typeof POISON,
  targetSpec: CoreSpec | undefined,
  matched: number,
): CoreResolution {
  const poisoned = target === POISON;
  const localSize = local.size;
  const targetSize = poisoned ? 0 : target.size;
  let failMemorySizeAdjust = false;
  if (!poisoned && isFieldBasedKind(kind) && localSize !== targetSize && targetSpec !== undefined) {
    failMemorySizeAdjust = !canResizeAccess(localSpec.btf, local.sizeTypeId, targetSpec.btf, target.sizeTypeId);
  }
  return {
    remembered: false,
    kind,
    kindName: coreRelocationKindName(kind),
    description,
    localValue: local.value,
    targetValue: poisoned ? 0n : target.value,
    poisoned,
    validate: local.validate,
    localSize,
    targetSize,
    failMemorySizeAdjust,
    localSpec,
    targetSpec,
    targetBtf: targetSpec?.btf,
    targetTypeId: targetSpec?.rootTypeId,
    matchedCandidates: matched,
  };
}

/**
 * Resolve one CO-RE relocation of `local` (the object's BTF) against `targets` (vmlinux first,
 * then module BTFs). Pure: no instruction is touched. Throws {@link CoreError} for malformed
 * relocations and for ambiguity (matching candidates that disagree).
 */
export function resolveCoreRelocation(local: Btf, targets: CoreTargets, relo: CoreRelocation): CoreResolution {
  const kind = relo.kind;
  const localSpec = parseCoreSpec(local, relo.typeId, relo.accessString, kind);
  const description = describeSpec(localSpec);
  const what = (): string => `${coreRelocationKindName(kind)} relocation of ${description}`;
  if (kind === BPF_CORE.TYPE_ID_LOCAL) {
    // Needs no kernel: the id of the type in the object's own BTF (not validated: linking moves ids).
    const v: Computed = { value: BigInt(relo.typeId), size: 0, sizeTypeId: 0, validate: false };
    return resolutionFrom(kind, description, localSpec, v, v, undefined, 0);
  }
  const localValue = compute(kind, localSpec, what);
  if (localValue === POISON) throw new CoreError('CORE_BAD_SPEC', `${what()}: cannot be computed from local BTF`);

  let chosen: { spec: CoreSpec; value: Computed | typeof POISON } | undefined;
  let matched = 0;
  for (const cand of findCandidates(local, relo.typeId, targets)) {
    const spec = matchSpec(localSpec, cand.btf, cand.typeId);
    if (spec === undefined) continue;
    const value = compute(kind, spec, what);
    matched++;
    if (chosen === undefined) {
      chosen = { spec, value };
      continue;
    }
    const a = chosen.value;
    const b = value;
    const aText = a === POISON ? 'failure' : `${a.value}`;
    const bText = b === POISON ? 'failure' : `${b.value}`;
    if (spec.bitOffset !== chosen.spec.bitOffset) {
      throw new CoreError(
        'CORE_AMBIGUOUS',
        `${what()} is ambiguous: candidates [${chosen.spec.rootTypeId}] and [${spec.rootTypeId}] place the field at bit ${chosen.spec.bitOffset} and ${spec.bitOffset}`,
      );
    }
    const sameTarget = kind !== BPF_CORE.TYPE_ID_TARGET || chosen.spec.btf === spec.btf;
    if (aText !== bText || !sameTarget) {
      throw new CoreError('CORE_AMBIGUOUS', `${what()} is ambiguous: candidates [${chosen.spec.rootTypeId}] and [${spec.rootTypeId}] resolve to ${aText} and ${bText}`);
    }
  }
  if (chosen === undefined) return resolutionFrom(kind, description, localSpec, localValue, compute(kind, undefined, what), undefined, 0);
  return resolutionFrom(kind, description, localSpec, localValue, chosen.value, chosen.spec, matched);
}

/** The helper id a poisoned instruction calls: `0xbad2310`, "bad relo". The verifier reports `invalid func unknown#195896080`. */
export const CORE_POISON_IMM = 0xbad2310;

/** What happened to one relocated instruction. */
export interface CoreRelocationReport {
  /** Position of the relocation in the list passed to {@link applyCoreRelocations}. */
  index: number;
  /** The patched instruction. */
  insnIndex: number;
  /** Kind name, e.g. `FIELD_BYTE_OFFSET`. */
  kind: string;
  /** Human description: `struct task_struct.pid`. */
  description: string;
  /** The value the compiler assumed. */
  localValue: bigint;
  /** The value written (0 when poisoned). */
  targetValue: bigint;
  /** The instruction was replaced by a call to helper {@link CORE_POISON_IMM}. */
  poisoned: boolean;
  /** The BTF the target type lives in (a module's BTF needs its fd for TYPE_ID_TARGET). */
  targetBtf: Btf | undefined;
  /** The matched target type id. */
  targetTypeId: number | undefined;
  /** Memory access width before and after, when a load/store was resized. */
  accessSize?: { from: number; to: number };
  /** The outcome came from an earlier process of this boot (see {@link CoreOutcomeMemo}), not from a search. */
  remembered: boolean;
}

/**
 * Outcomes of earlier processes of this boot for the relocations of one local BTF against the
 * running kernel (see `btf/memo.ts`): asked before a relocation is resolved, told what a
 * resolution matched in {@link target}. Outcomes matched elsewhere (a module's BTF, which can come
 * and go) or nowhere are never remembered.
 */
export interface CoreOutcomeMemo {
  /** The outcome remembered for relocation `key` (`typeId:kind:accessString` of the local BTF). */
  get(key: string): CoreOutcome | undefined;
  /** Remember the outcome of relocation `key`, which matched in {@link target}. */
  set(key: string, outcome: CoreOutcome): void;
  /** The outcome {@link get} gave for `key` does not fit the relocation: forget it (it is searched instead). */
  refuse?(key: string): void;
  /** The BTF remembered outcomes matched in (the kernel's vmlinux BTF, parsed when first asked for). */
  target(): Btf;
}

/** Options of {@link applyCoreRelocations}. */
export interface CoreApplyOptions {
  /** Program name for error messages. */
  programName?: string;
  /**
   * Resolutions already computed against the same local BTF and targets, filled in as this call
   * resolves more: the programs of one object repeat accesses (`task_struct.nsproxy` in each), so
   * a loader passes one map for all of an object's programs. The BTFs must not change meanwhile.
   */
  resolutions?: Map<string, CoreResolution>;
  /** Outcomes of earlier processes for this local BTF and these targets; the targets are then only made for the rest. */
  memo?: CoreOutcomeMemo;
}

/** Overwrite slot `i` with `call 0xbad2310`. */
function poisonSlot(insns: Insns, i: number): void {
  insns.set(i, { opcode: CALL, dst: 0, src: 0, offset: 0, imm: CORE_POISON_IMM });
}

/** Poison the instruction at `i` (both slots of an ld_imm64, so the verifier does not trip over a bare second half). */
export function poisonInstruction(insns: Insns, i: number): void {
  if (insns.isLdImm64(i) && i + 1 < insns.length) poisonSlot(insns, i + 1);
  poisonSlot(insns, i);
}

const INT32_MIN = -(2n ** 31n);
const INT32_MAX = 2n ** 31n - 1n;
const UINT32_MAX = 2n ** 32n - 1n;
const INT16_MAX = 32767n;

/**
 * Patch one instruction with a resolution (libbpf `bpf_core_patch_insn`). Returns whether the
 * instruction ended up poisoned and, for a resized load/store, the widths.
 */
export function patchCoreInstruction(
  insns: Insns,
  insnIndex: number,
  res: CoreOutcome,
  where: string,
): { poisoned: boolean; accessSize?: { from: number; to: number } } {
  const i = insnIndex;
  if (!Number.isInteger(i) || i < 0 || i >= insns.length) {
    throw new CoreError('CORE_BAD_INSN', `${where}: instruction index ${i} is outside the program (${insns.length} instructions)`);
  }
  if (res.poisoned) {
    poisonInstruction(insns, i);
    return { poisoned: true };
  }
  const opcode = insns.opcode(i);
  const cls = opcode & 0x07;
  const local = res.localValue;
  const target = res.targetValue;

  switch (cls) {
    case BPF_CLASS.ALU:
    case BPF_CLASS.ALU64: {
      if ((opcode & 0x08) !== BPF_SRC.K) throw new CoreError('CORE_BAD_INSN', `${where}: ALU instruction at ${i} takes a register, not an immediate`);
      const imm = insns.imm(i);
      // The immediate holds 32 bits; a local value that needed more cannot be what the compiler wrote.
      const localFits = local >= INT32_MIN && local <= UINT32_MAX;
      if (res.validate && (!localFits || BigInt(imm >>> 0) !== BigInt.asUintN(32, local))) {
        throw new CoreError('CORE_INSN_MISMATCH', `${where}: instruction ${i} holds immediate ${imm}, expected ${local} (from local BTF)`);
      }
      // ALU64 sign-extends its immediate, so it holds [-2^31, 2^31) exactly; a 32-bit ALU keeps
      // 32 bits of either sign. When the compiler already put an unsigned 32-bit value above
      // 2^31 into an ALU64 immediate, keep its (truncating) convention for the new value.
      const in32 = target >= INT32_MIN && target <= UINT32_MAX;
      const fits = cls === BPF_CLASS.ALU64 ? (target >= INT32_MIN && target <= INT32_MAX) || (in32 && local > INT32_MAX) : in32;
      if (!fits) throw new CoreError('CORE_BAD_INSN', `${where}: value ${target} does not fit the 32-bit immediate of instruction ${i}`);
      insns.setImm(i, Number(BigInt.asIntN(32, target)));
      return { poisoned: false };
    }
    case BPF_CLASS.LDX:
    case BPF_CLASS.ST:
    case BPF_CLASS.STX: {
      const off = insns.offset(i);
      if (res.validate && BigInt(off) !== local) {
        throw new CoreError('CORE_INSN_MISMATCH', `${where}: instruction ${i} accesses offset ${off}, expected ${local} (from local BTF)`);
      }
      if (target > INT16_MAX || target < 0n) throw new CoreError('CORE_BAD_INSN', `${where}: offset ${target} does not fit the 16-bit offset of instruction ${i}`);
      if (res.failMemorySizeAdjust) {
        // Resizing a signed or non-integer access would read a wrong value: fail only if reached.
        poisonInstruction(insns, i);
        return { poisoned: true };
      }
      insns.setOffset(i, Number(target));
      if (res.localSize === res.targetSize) return { poisoned: false };
      const width = sizeBytes(opcode);
      if (width !== res.localSize) {
        throw new CoreError('CORE_INSN_MISMATCH', `${where}: instruction ${i} accesses ${width} bytes, expected ${res.localSize}`);
      }
      const bits = sizeBits(res.targetSize);
      if (bits === undefined) throw new CoreError('CORE_BAD_INSN', `${where}: instruction ${i} cannot access ${res.targetSize} bytes at once`);
      // Keep class and mode (MEM or MEMSX), swap only the size bits.
      insns.setOpcode(i, (opcode & ~0x18) | bits);
      return { poisoned: false, accessSize: { from: res.localSize, to: res.targetSize } };
    }
    case BPF_CLASS.LD: {
      if (opcode !== LD_IMM64 || i + 1 >= insns.length) throw new CoreError('CORE_BAD_INSN', `${where}: instruction ${i} (opcode 0x${opcode.toString(16)}) is not an ld_imm64`);
      const second = insns.at(i + 1);
      if (insns.src(i) !== 0 || insns.offset(i) !== 0 || second.opcode !== 0 || second.dst !== 0 || second.src !== 0 || second.offset !== 0) {
        throw new CoreError('CORE_BAD_INSN', `${where}: ld_imm64 at ${i} has an unexpected form`);
      }
      const imm = insns.imm64(i);
      if (res.validate && imm !== BigInt.asUintN(64, local)) {
        throw new CoreError('CORE_INSN_MISMATCH', `${where}: ld_imm64 at ${i} holds ${imm}, expected ${BigInt.asUintN(64, local)} (from local BTF)`);
      }
      insns.setImm64(i, target);
      return { poisoned: false };
    }
    default:
      throw new CoreError('CORE_BAD_INSN', `${where}: instruction ${i} (opcode 0x${opcode.toString(16)}) cannot carry a CO-RE relocation`);
  }
}

/**
 * Resolve every relocation and patch `insns` in place. Returns one report per relocation, in
 * order. Throws {@link CoreError} (naming the relocation, its instruction and access) on ambiguity,
 * on an instruction that does not hold the value the compiler computed, or on an instruction
 * that cannot hold the new value. `targets` may be a function, called once a relocation needs them
 * (with `options.memo`, none may).
 */
export function applyCoreRelocations(
  insns: Insns,
  relos: readonly CoreRelocation[],
  local: Btf,
  targets: CoreTargets | (() => CoreTargets),
  options: CoreApplyOptions = {},
): CoreRelocationReport[] {
  const prefix = options.programName !== undefined ? `program ${options.programName}: ` : '';
  const known = options.resolutions;
  const memo = options.memo;
  let made: CoreTargets | undefined;
  const targetsNow = (): CoreTargets => (made ??= typeof targets === 'function' ? targets() : targets);
  return relos.map((relo, index) => {
    const key = `${relo.typeId}:${relo.kind}:${relo.accessString}`;
    let res = known?.get(key);
    if (res === undefined) {
      const outcome = memo?.get(key);
      const remembered = memo === undefined || outcome === undefined ? undefined : rememberedResolution(local, relo, outcome, memo);
      if (outcome !== undefined && remembered === undefined) memo?.refuse?.(key);
      if (remembered !== undefined) {
        res = remembered;
      } else {
        try {
          res = resolveCoreRelocation(local, targetsNow(), relo);
        } catch (e) {
          const where0 = `${prefix}CO-RE relocation #${index} (${coreRelocationKindName(relo.kind)}) at insn ${relo.insnIndex}`;
          if (e instanceof CoreError) throw new CoreError(e.code, `${where0}: ${e.message}`, { cause: e });
          throw e;
        }
        if (memo !== undefined && res.targetBtf !== undefined && res.targetBtf === memo.target()) memo.set(key, outcomeOf(res));
      }
      known?.set(key, res);
    }
    const where = `${prefix}CO-RE relocation #${index} (${res.kindName} ${res.description}) at insn ${relo.insnIndex}`;
    const patched = patchCoreInstruction(insns, relo.insnIndex, res, where);
    const report: CoreRelocationReport = {
      index,
      insnIndex: relo.insnIndex,
      kind: res.kindName,
      description: res.description,
      localValue: res.localValue,
      targetValue: patched.poisoned ? 0n : res.targetValue,
      poisoned: patched.poisoned,
      targetBtf: undefined,
      targetTypeId: res.targetTypeId,
      remembered: res.remembered,
    };
    // A remembered outcome's target BTF is read (parsed) only when the report's is.
    if (res.remembered) forwardTargetBtf(report, res);
    else report.targetBtf = res.targetBtf;
    if (patched.accessSize !== undefined) report.accessSize = patched.accessSize;
    return report;
  });
}

/** The plain values of a resolution (what a memo keeps). */
function outcomeOf(res: CoreOutcome): CoreOutcome {
  return {
    kind: res.kind,
    kindName: res.kindName,
    description: res.description,
    localValue: res.localValue,
    targetValue: res.targetValue,
    poisoned: res.poisoned,
    validate: res.validate,
    localSize: res.localSize,
    targetSize: res.targetSize,
    failMemorySizeAdjust: res.failMemorySizeAdjust,
    targetTypeId: res.targetTypeId,
    matchedCandidates: res.matchedCandidates,
  };
}

/**
 * A resolution from a remembered outcome, or undefined when there is none or it does not fit this
 * relocation: its kind, the local access's description and the values the compiler assumed are
 * computed again from the local BTF (no kernel BTF needed) and must be the remembered ones. Its
 * target BTF (the memo's) is parsed only when read.
 */
function rememberedResolution(local: Btf, relo: CoreRelocation, outcome: CoreOutcome, memo: CoreOutcomeMemo): CoreResolution | undefined {
  if (outcome.kind !== relo.kind || relo.kind === BPF_CORE.TYPE_ID_LOCAL) return undefined;
  let localSpec: CoreSpec;
  let localValue: Computed | typeof POISON;
  try {
    localSpec = parseCoreSpec(local, relo.typeId, relo.accessString, relo.kind);
    localValue = compute(relo.kind, localSpec, () => 'remembered CO-RE outcome');
  } catch {
    return undefined; // searched again, which reports the error properly
  }
  if (localValue === POISON || localValue.value !== outcome.localValue || localValue.size !== outcome.localSize || localValue.validate !== outcome.validate) return undefined;
  if (describeSpec(localSpec) !== outcome.description) return undefined;
  const res: CoreResolution = { ...outcomeOf(outcome), localSpec, targetSpec: undefined, targetBtf: undefined, remembered: true };
  let target: { btf: Btf | undefined } | undefined;
  lazyTargetBtf(res, () => {
    if (target === undefined) {
      try {
        target = { btf: memo.target() };
      } catch {
        target = { btf: undefined };
      }
    }
    return target.btf;
  });
  return res;
}

/**
 * The report's `targetBtf` reads the resolution's when read. A function of its own: a closure made
 * in {@link applyCoreRelocations} would keep that call's whole scope (the load's targets) alive
 * with the report.
 */
function forwardTargetBtf(report: CoreRelocationReport, res: CoreResolution): void {
  lazyTargetBtf(report, () => res.targetBtf);
}

/**
 * Make `holder.targetBtf` read `get()` when read; an assignment replaces it with a plain value (on
 * `holder` only).
 */
function lazyTargetBtf(holder: { targetBtf: Btf | undefined }, get: () => Btf | undefined): void {
  Object.defineProperty(holder, 'targetBtf', {
    get,
    set(this: { targetBtf: Btf | undefined }, btf: Btf | undefined) {
      Object.defineProperty(this, 'targetBtf', { value: btf, writable: true, enumerable: true, configurable: true });
    },
    enumerable: true,
    configurable: true,
  });
}
/**
 * Explain a verifier failure at `insnIndex` when that instruction was poisoned by CO-RE:
 * "CO-RE relocation N (struct x.field) could not be resolved on this kernel". Undefined when the
 * instruction carries no poisoned relocation.
 */
export function explainPoison(reports: readonly CoreRelocationReport[], insnIndex: number): string | undefined {
  const r = reports.find((x) => x.poisoned && x.insnIndex === insnIndex);
  if (r === undefined) return undefined;
  return `CO-RE relocation ${r.index} (${r.description}) could not be resolved on this kernel`;
}

/**
 * Scan a verifier log for calls to the poison helper (`5: (85) call unknown#195896080`) and
 * explain each with {@link explainPoison}. `insnOffset` is subtracted from the verifier's
 * instruction numbers when the reports index a larger stream than the loaded program.
 */
export function explainVerifierLog(reports: readonly CoreRelocationReport[], log: string, insnOffset = 0): string[] {
  const out: string[] = [];
  const re = new RegExp(`^(\\d+): \\(85\\) call [^\\n]*#${CORE_POISON_IMM}\\b`, 'gm');
  for (const m of log.matchAll(re)) {
    const text = explainPoison(reports, Number(m[1]) + insnOffset);
    if (text !== undefined && !out.includes(text)) out.push(text);
  }
  return out;
}
