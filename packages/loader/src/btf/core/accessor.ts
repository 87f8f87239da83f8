/**
 * Access strings: the compiler records every CO-RE access as a root type id plus a string of
 * indices, `"0:1:2"`: first an array index on the root (the `&p[0]` of `p->x`), then member
 * indices into structs/unions and element indices into arrays. Parsing one against the local BTF
 * yields a {@link CoreSpec}: the raw (low-level) indices, the high-level accessors that matter for
 * matching (named members and array indices; anonymous struct/union hops are kept only in `raw`),
 * and the bit offset the compiler assumed.
 */
import type { Btf } from '../btf.js';
import { CoreError } from './error.js';
import { coreRelocationKindName, isEnumValueBasedKind, isFieldBasedKind, isTypeBasedKind } from './kinds.js';
import { describeType, isAnyEnum, isComposite, resolveSize, skipModsAndTypedefs } from './names.js';

/** Longest access string accepted (libbpf's `BPF_CORE_SPEC_MAX_LEN`). */
export const CORE_SPEC_MAX_LEN = 64;

/** One high-level step of an access. */
export interface CoreAccessor {
  /**
   * For a named member or enumerator: the id of the struct/union/enum that holds it (modifiers and
   * typedefs skipped). For an array index: the id of the element type (or of the root type for
   * the first accessor).
   */
  typeId: number;
  /** Member, enumerator or array index. */
  index: number;
  /** The member or enumerator name; undefined for array indices. */
  name: string | undefined;
}

/** An access resolved against one BTF (local or a candidate target). */
export interface CoreSpec {
  /** The BTF the ids below refer to. */
  btf: Btf;
  /** The relocation's root type id in `btf`. */
  rootTypeId: number;
  /** The relocation kind (`BPF_CORE.*`). */
  kind: number;
  /** High-level accessors: array indices and named members (empty for type-based kinds). */
  accessors: CoreAccessor[];
  /** Low-level indices, one per step including anonymous struct/union hops. */
  raw: number[];
  /** Bit offset of the accessed field from the start of the root object. */
  bitOffset: number;
}

function badSpec(btf: Btf, typeId: number, accessString: string, kind: number, problem: string): CoreError {
  let root = `type [${typeId}]`;
  try {
    root = `${describeType(btf, typeId)} [${typeId}]`;
  } catch {
    // the id itself is bad: keep the bare number
  }
  return new CoreError('CORE_BAD_SPEC', `${coreRelocationKindName(kind)} relocation on ${root} with access "${accessString}": ${problem}`);
}

/** Split `"0:1:2"` into numbers, rejecting empty parts, signs and junk. */
export function parseAccessString(accessString: string): number[] {
  if (!/^\d+(:\d+)*$/.test(accessString)) throw new CoreError('CORE_BAD_SPEC', `malformed CO-RE access string "${accessString}"`);
  const out = accessString.split(':').map(Number);
  if (out.length > CORE_SPEC_MAX_LEN) throw new CoreError('CORE_BAD_SPEC', `CO-RE access string "${accessString}" is deeper than ${CORE_SPEC_MAX_LEN}`);
  for (const n of out) if (!Number.isSafeInteger(n) || n > 0x7fffffff) throw new CoreError('CORE_BAD_SPEC', `index ${n} in access string "${accessString}" is out of range`);
  return out;
}

/**
 * A zero-length array that is the last member of its struct (`char data[]`): indices past its
 * declared length are allowed. `prev` is the accessor that named the array member.
 */
export function isFlexibleArray(btf: Btf, prev: CoreAccessor | undefined, nelems: number): boolean {
  if (prev === undefined || prev.name === undefined || nelems > 0) return false;
  const holder = btf.type(prev.typeId);
  return isComposite(holder) && prev.index === holder.members.length - 1;
}

/** Bitfield width of member `index` of a composite, 0 when it is a plain member (libbpf semantics: only with kind_flag). */
export function memberBitfieldSize(t: { kindFlag: boolean; members: { bitfieldSize: number }[] }, index: number): number {
  return t.kindFlag ? (t.members[index]?.bitfieldSize ?? 0) : 0;
}

/** Parsed specs per local BTF, valid while its revision is unchanged. */
const specCache = new WeakMap<Btf, { revision: number; specs: Map<string, CoreSpec> }>();

/**
 * Parse a relocation's access string against `btf` (the local BTF of the object), validating
 * every index and computing the bit offset the compiler assumed. Results are cached per (type id,
 * access string, kind): objects repeat the same accesses across programs. The returned spec is
 * shared; treat it as read-only.
 */
export function parseCoreSpec(btf: Btf, typeId: number, accessString: string, kind: number): CoreSpec {
  let cache = specCache.get(btf);
  if (cache === undefined || cache.revision !== btf.revision) {
    cache = { revision: btf.revision, specs: new Map() };
    specCache.set(btf, cache);
  }
  const key = `${typeId}:${kind}:${accessString}`;
  const hit = cache.specs.get(key);
  if (hit !== undefined) return hit;
  const spec = parseCoreSpecUncached(btf, typeId, accessString, kind);
  cache.specs.set(key, spec);
  return spec;
}

function parseCoreSpecUncached(btf: Btf, typeId: number, accessString: string, kind: number): CoreSpec {
  const spec: CoreSpec = { btf, rootTypeId: typeId, kind, accessors: [], raw: [], bitOffset: 0 };
  const fail = (problem: string): CoreError => badSpec(btf, typeId, accessString, kind, problem);

  let indices: number[];
  try {
    indices = parseAccessString(accessString);
  } catch (e) {
    throw fail(e instanceof Error ? e.message : String(e));
  }

  if (isTypeBasedKind(kind)) {
    if (accessString !== '0') throw fail('type-based relocations take the access string "0"');
    return spec;
  }
  spec.raw = indices;

  let root: ReturnType<typeof skipModsAndTypedefs>;
  try {
    root = skipModsAndTypedefs(btf, typeId);
  } catch (e) {
    throw fail(e instanceof Error ? e.message : String(e));
  }
  const first = indices[0];

  if (isEnumValueBasedKind(kind)) {
    const t = root.type;
    if (!isAnyEnum(t)) throw fail(`the root type is a ${t.kind}, not an enum`);
    if (indices.length > 1) throw fail('enumerator relocations take a single index');
    const value = t.values[first];
    if (value === undefined) throw fail(`enum has ${t.values.length} values, index ${first} is out of range`);
    spec.accessors.push({ typeId: root.id, index: first, name: value.name });
    return spec;
  }
  if (!isFieldBasedKind(kind)) throw new CoreError('CORE_UNSUPPORTED', `unknown CO-RE relocation kind ${kind} on type [${typeId}]`);

  try {
    spec.accessors.push({ typeId: root.id, index: first, name: undefined });
    spec.bitOffset = first * resolveSize(btf, root.id) * 8;

    let id = root.id;
    for (let i = 1; i < indices.length; i++) {
      const cur = skipModsAndTypedefs(btf, id);
      id = cur.id;
      const t = cur.type;
      const idx = indices[i];
      if (isComposite(t)) {
        const m = t.members[idx];
        if (m === undefined) throw fail(`${describeType(btf, id)} has ${t.members.length} members, index ${idx} is out of range`);
        spec.bitOffset += m.bitOffset;
        // Anonymous members are hops the target may lay out differently: keep them in `raw` only.
        if (m.name !== '') spec.accessors.push({ typeId: id, index: idx, name: m.name });
        id = m.type;
      } else if (t.kind === 'array') {
        const elem = skipModsAndTypedefs(btf, t.elemType);
        const flexible = isFlexibleArray(btf, spec.accessors[spec.accessors.length - 1], t.nelems);
        if (!flexible && idx >= t.nelems) throw fail(`index ${idx} is past the end of a ${t.nelems}-element array`);
        spec.accessors.push({ typeId: elem.id, index: idx, name: undefined });
        spec.bitOffset += idx * resolveSize(btf, elem.id) * 8;
        id = elem.id;
      } else {
        throw fail(`step ${i} reaches a ${t.kind} (type [${id}]), which has no members or elements`);
      }
    }
  } catch (e) {
    if (e instanceof CoreError && e.code === 'CORE_BAD_SPEC') throw e;
    throw fail(e instanceof Error ? e.message : String(e));
  }
  return spec;
}

/**
 * The C-like path of a spec, rooted at the root type's name: `task_struct.real_cred.uid`,
 * `sample.a[3]`, `bpf_func_id::BPF_FUNC_ringbuf_reserve`, or just `task_struct` for type kinds.
 */
export function formatSpecPath(spec: CoreSpec): string {
  const rootName = spec.btf.type(spec.rootTypeId).name || '<anon>';
  if (isEnumValueBasedKind(spec.kind)) {
    const acc = spec.accessors[0];
    return acc === undefined ? rootName : `${rootName}::${acc.name ?? acc.index}`;
  }
  let out = rootName;
  spec.accessors.forEach((acc, i) => {
    if (acc.name !== undefined) out += `.${acc.name}`;
    else if (i > 0 || acc.index > 0) out += `[${acc.index}]`;
  });
  return out;
}

/** Human description of a spec for reports and errors: `struct task_struct.pid`, `enum bpf_func_id::BPF_FUNC_map_lookup_elem`. */
export function describeSpec(spec: CoreSpec): string {
  let kindWord: string;
  try {
    kindWord = describeType(spec.btf, spec.rootTypeId).split(' ')[0] ?? '';
  } catch {
    kindWord = 'type';
  }
  return `${kindWord} ${formatSpecPath(spec)}`;
}
