/**
 * Matching a local access or type against one candidate target type, with libbpf's semantics:
 *
 * - field relocations walk the local high-level accessors and look each named member up in the
 *   target by name, descending into anonymous structs/unions, then check the two members' types
 *   are "field compatible" ({@link fieldsAreCompatible}); array indices must be in bounds unless
 *   the target array is flexible;
 * - TYPE_EXISTS / TYPE_SIZE / TYPE_ID_TARGET need "compatible" types ({@link typesAreCompatible});
 * - TYPE_MATCHES needs the stricter {@link typesMatch} relation;
 * - enumerator relocations look the enumerator up by essential name in an ENUM or ENUM64.
 *
 * Every walk is depth-limited so malformed or cyclic BTF ends in a {@link CoreError}, not a hang.
 */
import type { Btf } from '../btf.js';
import type { BtfType } from '../types.js';
import { CORE_SPEC_MAX_LEN, isFlexibleArray, type CoreAccessor, type CoreSpec } from './accessor.js';
import { CoreError } from './error.js';
import { BPF_CORE, isEnumValueBasedKind, isFieldBasedKind, isTypeBasedKind } from './kinds.js';
import { essentialName, isAnyEnum, isComposite, kindsCoreCompatible, resolveSize, skipModsAndTypedefs } from './names.js';

/** Recursion budget of the type walks (libbpf uses 32 as well). */
const MAX_DEPTH = 32;

function tooDeep(localId: number, targetId: number): CoreError {
  return new CoreError('CORE_BAD_BTF', `type nesting too deep comparing local [${localId}] with target [${targetId}]`);
}

/** Essential names equal, or either side anonymous (the rule for enums and forward declarations inside fields). */
function namesCompatibleOrAnonymous(a: string, b: string): boolean {
  const ea = essentialName(a);
  const eb = essentialName(b);
  return ea === '' || eb === '' || ea === eb;
}

/** Integers whose value does not start at bit 0 are deprecated bitfield encodings CO-RE refuses. */
function intOffsetZero(t: BtfType): boolean {
  return t.kind !== 'int' || t.offset === 0;
}

/**
 * Whether a local member type and a target member type can stand for each other in a field
 * access (libbpf `bpf_core_fields_are_compat`): any two structs/unions; pointers; floats; ints of
 * any size and signedness; enums (ENUM/ENUM64 mixed) and forward declarations whose essential
 * names agree or one is anonymous; arrays whose element types are compatible.
 */
export function fieldsAreCompatible(localBtf: Btf, localId: number, targetBtf: Btf, targetId: number): boolean {
  let lid = localId;
  let tid = targetId;
  for (let depth = 0; depth < MAX_DEPTH; depth++) {
    const l = skipModsAndTypedefs(localBtf, lid);
    const t = skipModsAndTypedefs(targetBtf, tid);
    if (isComposite(l.type) && isComposite(t.type)) return true;
    if (!kindsCoreCompatible(l.type, t.type)) return false;
    switch (l.type.kind) {
      case 'ptr':
      case 'float':
        return true;
      case 'fwd':
      case 'enum':
      case 'enum64':
        return namesCompatibleOrAnonymous(l.type.name, t.type.name);
      case 'int':
        return intOffsetZero(l.type) && intOffsetZero(t.type);
      case 'array':
        if (t.type.kind !== 'array') return false;
        lid = l.type.elemType;
        tid = t.type.elemType;
        continue;
      default:
        return false;
    }
  }
  throw tooDeep(localId, targetId);
}

/**
 * Type compatibility for TYPE_EXISTS, TYPE_SIZE and TYPE_ID_TARGET (libbpf
 * `bpf_core_types_are_compat`); the caller has matched root names. Modifiers and typedefs are
 * skipped; structs, unions, enums and forwards of the same kind are compatible (ENUM/ENUM64
 * mixed); ints unless they are legacy bitfields; pointers and arrays recurse into their targets
 * (array length ignored); function prototypes need the same arity and compatible argument and
 * return types.
 */
export function typesAreCompatible(localBtf: Btf, localId: number, targetBtf: Btf, targetId: number, level = MAX_DEPTH): boolean {
  if (!kindsCoreCompatible(localBtf.type(localId), targetBtf.type(targetId))) return false;
  let lid = localId;
  let tid = targetId;
  for (let depth = 0; depth < MAX_DEPTH; depth++) {
    const l = skipModsAndTypedefs(localBtf, lid);
    const t = skipModsAndTypedefs(targetBtf, tid);
    if (!kindsCoreCompatible(l.type, t.type)) return false;
    const lt = l.type;
    const tt = t.type;
    switch (lt.kind) {
      case 'void':
      case 'struct':
      case 'union':
      case 'enum':
      case 'enum64':
      case 'fwd':
        return true;
      case 'int':
        return intOffsetZero(lt) && intOffsetZero(tt);
      case 'ptr':
        if (tt.kind !== 'ptr') return false;
        lid = lt.type;
        tid = tt.type;
        continue;
      case 'array':
        if (tt.kind !== 'array') return false;
        lid = lt.elemType;
        tid = tt.elemType;
        continue;
      case 'func_proto': {
        if (tt.kind !== 'func_proto') return false;
        if (lt.params.length !== tt.params.length) return false;
        for (let i = 0; i < lt.params.length; i++) {
          if (level <= 0) throw tooDeep(localId, targetId);
          const lp = skipModsAndTypedefs(localBtf, lt.params[i].type).id;
          const tp = skipModsAndTypedefs(targetBtf, tt.params[i].type).id;
          if (!typesAreCompatible(localBtf, lp, targetBtf, tp, level - 1)) return false;
        }
        lid = lt.returnType;
        tid = tt.returnType;
        continue;
      }
      default:
        return false;
    }
  }
  throw tooDeep(localId, targetId);
}

/** libbpf `bpf_core_names_match`: an anonymous target matches only an anonymous local; otherwise essential names must be equal. */
function namesMatch(localName: string, targetName: string): boolean {
  if (targetName === '') return localName === '';
  return essentialName(localName) === essentialName(targetName);
}

function enumsMatch(l: Extract<BtfType, { kind: 'enum' | 'enum64' }>, t: Extract<BtfType, { kind: 'enum' | 'enum64' }>): boolean {
  if (l.size !== t.size) return false;
  if (l.values.length > t.values.length) return false;
  // Every local enumerator must exist by name; values are free to differ.
  return l.values.every((lv) => t.values.some((tv) => namesMatch(lv.name, tv.name)));
}

function compositesMatch(
  localBtf: Btf,
  l: Extract<BtfType, { kind: 'struct' | 'union' }>,
  targetBtf: Btf,
  t: Extract<BtfType, { kind: 'struct' | 'union' }>,
  behindPointer: boolean,
  level: number,
): boolean {
  if (l.members.length > t.members.length) return false;
  for (const lm of l.members) {
    let matched = false;
    for (const tm of t.members) {
      if (!namesMatch(lm.name, tm.name)) continue;
      if (typesMatchAt(localBtf, lm.type, targetBtf, tm.type, behindPointer, level - 1)) {
        matched = true;
        break;
      }
    }
    if (!matched) return false;
  }
  return true;
}

function typesMatchAt(localBtf: Btf, localId: number, targetBtf: Btf, targetId: number, behindPointer: boolean, level: number): boolean {
  if (level <= 0) throw tooDeep(localId, targetId);
  let lid = localId;
  let tid = targetId;
  let behind = behindPointer;
  for (let depth = 0; depth < MAX_DEPTH; depth++) {
    const l = skipModsAndTypedefs(localBtf, lid);
    const t = skipModsAndTypedefs(targetBtf, tid);
    const lt = l.type;
    const tt = t.type;
    if (!namesMatch(lt.name, tt.name)) return false;
    switch (lt.kind) {
      case 'void':
        return tt.kind === 'void';
      case 'fwd':
        if (tt.kind === 'fwd') return lt.union === tt.union;
        // Behind a pointer a declaration may stand for the definition of the same kind.
        return behind && ((tt.kind === 'struct' && !lt.union) || (tt.kind === 'union' && lt.union));
      case 'enum':
      case 'enum64':
        return isAnyEnum(tt) && enumsMatch(lt, tt);
      case 'struct':
      case 'union':
        if (behind) {
          if (tt.kind === lt.kind) return true;
          return tt.kind === 'fwd' && tt.union === (lt.kind === 'union');
        }
        if (tt.kind !== lt.kind) return false;
        return compositesMatch(localBtf, lt, targetBtf, tt as typeof lt, behind, level);
      case 'int':
        return tt.kind === 'int' && lt.size === tt.size && lt.encoding.signed === tt.encoding.signed;
      case 'ptr':
        if (tt.kind !== 'ptr') return false;
        behind = true;
        lid = lt.type;
        tid = tt.type;
        continue;
      case 'array':
        if (tt.kind !== 'array' || lt.nelems !== tt.nelems) return false;
        lid = lt.elemType;
        tid = tt.elemType;
        continue;
      case 'func_proto':
        if (tt.kind !== 'func_proto' || lt.params.length !== tt.params.length) return false;
        for (let i = 0; i < lt.params.length; i++) {
          if (!typesMatchAt(localBtf, lt.params[i].type, targetBtf, tt.params[i].type, behind, level - 1)) return false;
        }
        lid = lt.returnType;
        tid = tt.returnType;
        continue;
      default:
        return false;
    }
  }
  throw tooDeep(localId, targetId);
}

/**
 * The TYPE_MATCHES relation (libbpf `bpf_core_types_match`), stricter than compatibility: after
 * skipping modifiers and typedefs names must match at every level and kinds must be equal (except
 * that behind a pointer a struct/union and its forward declaration match, and ENUM matches ENUM64);
 * ints need equal size and signedness; arrays equal length; struct/union members must each exist
 * in the target by name with a matching type (only name and kind once behind a pointer); enums
 * need equal size and every local enumerator name present; function prototypes need matching
 * parameters and return type.
 */
export function typesMatch(localBtf: Btf, localId: number, targetBtf: Btf, targetId: number): boolean {
  return typesMatchAt(localBtf, localId, targetBtf, targetId, false, MAX_DEPTH);
}

/**
 * Find the target member matching local named accessor `acc` inside target type `targetId`,
 * descending into anonymous members. On success the target spec is extended (raw indices, bit
 * offset, one named accessor) and the member's type id is returned; undefined when no compatible
 * member exists.
 */
function matchMember(localBtf: Btf, acc: CoreAccessor, targetBtf: Btf, targetId: number, spec: CoreSpec, depth: number): number | undefined {
  const target = skipModsAndTypedefs(targetBtf, targetId);
  if (!isComposite(target.type)) return undefined;
  const holder = localBtf.type(acc.typeId);
  if (!isComposite(holder)) throw new CoreError('CORE_BAD_SPEC', `local accessor type [${acc.typeId}] is not a struct or union`);
  const localMember = holder.members[acc.index];
  if (localMember === undefined || acc.name === undefined) throw new CoreError('CORE_BAD_SPEC', `local accessor [${acc.typeId}]#${acc.index} names no member`);

  const members = target.type.members;
  for (let i = 0; i < members.length; i++) {
    const m = members[i];
    if (spec.raw.length >= CORE_SPEC_MAX_LEN) throw new CoreError('CORE_BAD_SPEC', `target type [${targetId}] nests deeper than ${CORE_SPEC_MAX_LEN}`);
    // Speculatively step into this member; undo when it is not the one.
    spec.bitOffset += m.bitOffset;
    spec.raw.push(i);
    if (m.name === '') {
      if (depth >= CORE_SPEC_MAX_LEN) throw new CoreError('CORE_BAD_SPEC', `anonymous members of target type [${targetId}] nest too deep`);
      const found = matchMember(localBtf, acc, targetBtf, m.type, spec, depth + 1);
      if (found !== undefined) return found;
    } else if (m.name === acc.name) {
      // Names are unique within a struct: a same-named member either fits or nothing does.
      if (!fieldsAreCompatible(localBtf, localMember.type, targetBtf, m.type)) {
        spec.bitOffset -= m.bitOffset;
        spec.raw.pop();
        return undefined;
      }
      spec.accessors.push({ typeId: target.id, index: i, name: m.name });
      return m.type;
    }
    spec.bitOffset -= m.bitOffset;
    spec.raw.pop();
  }
  return undefined;
}

/**
 * Match a parsed local spec against candidate `targetId` in `targetBtf`. Returns the target spec
 * when the candidate fits the relocation, undefined when it does not.
 */
export function matchSpec(local: CoreSpec, targetBtf: Btf, targetId: number): CoreSpec | undefined {
  const spec: CoreSpec = { btf: targetBtf, rootTypeId: targetId, kind: local.kind, accessors: [], raw: [], bitOffset: 0 };

  if (isTypeBasedKind(local.kind)) {
    const ok =
      local.kind === BPF_CORE.TYPE_MATCHES
        ? typesMatch(local.btf, local.rootTypeId, targetBtf, targetId)
        : typesAreCompatible(local.btf, local.rootTypeId, targetBtf, targetId);
    return ok ? spec : undefined;
  }

  const first = local.accessors[0];
  if (first === undefined) throw new CoreError('CORE_BAD_SPEC', `local spec of type [${local.rootTypeId}] has no accessors`);

  if (isEnumValueBasedKind(local.kind)) {
    const target = skipModsAndTypedefs(targetBtf, targetId);
    const t = target.type;
    if (!isAnyEnum(t)) return undefined;
    const wanted = essentialName(first.name ?? '');
    const i = t.values.findIndex((v) => essentialName(v.name) === wanted);
    if (i < 0) return undefined;
    spec.accessors.push({ typeId: target.id, index: i, name: t.values[i].name });
    spec.raw.push(i);
    return spec;
  }

  if (!isFieldBasedKind(local.kind)) throw new CoreError('CORE_UNSUPPORTED', `unknown CO-RE relocation kind ${local.kind}`);

  let tid = targetId;
  for (let i = 0; i < local.accessors.length; i++) {
    const acc = local.accessors[i];
    const cur = skipModsAndTypedefs(targetBtf, tid);
    tid = cur.id;
    if (acc.name !== undefined) {
      const next = matchMember(local.btf, acc, targetBtf, tid, spec, 0);
      if (next === undefined) return undefined;
      tid = next;
      continue;
    }
    // Array index. The first accessor indexes the root object itself (pointer arithmetic).
    if (i > 0) {
      const t = cur.type;
      if (t.kind !== 'array') return undefined;
      const flexible = isFlexibleArray(targetBtf, spec.accessors[spec.accessors.length - 1], t.nelems);
      if (!flexible && acc.index >= t.nelems) return undefined;
      tid = skipModsAndTypedefs(targetBtf, t.elemType).id;
    }
    if (spec.raw.length >= CORE_SPEC_MAX_LEN) throw new CoreError('CORE_BAD_SPEC', `target type [${targetId}] nests deeper than ${CORE_SPEC_MAX_LEN}`);
    spec.accessors.push({ typeId: tid, index: acc.index, name: undefined });
    spec.raw.push(acc.index);
    spec.bitOffset += acc.index * resolveSize(targetBtf, tid) * 8;
  }
  return spec;
}
