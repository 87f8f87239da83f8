/**
 * Name and layout helpers shared by the CO-RE modules. They use only `Btf.type()`, so they work the
 * same on a lazily decoded kernel BTF, a module's split BTF and a hand-built test BTF.
 */
import { BtfError } from '../error.js';
import type { Btf } from '../btf.js';
import type { BtfType } from '../types.js';
import { QUALIFIER_KINDS } from '../types.js';
import { CoreError } from './error.js';

/** Longest qualifier/typedef chain followed before the BTF is declared cyclic. */
const MAX_CHAIN = 64;

/**
 * The "essential" name of a type, field or enumerator: everything before the last `___` flavour
 * separator (`task_struct___v2` → `task_struct`). As in libbpf the separator must sit between two
 * characters that are not underscores, so `__u32` or `a____b` keep their names.
 */
export function essentialName(name: string): string {
  // Most names have no `___` at all: one native search instead of a character loop.
  if (name.indexOf('___') < 0) return name;
  for (let i = name.length - 5; i >= 0; i--) {
    if (name[i] !== '_' && name[i + 1] === '_' && name[i + 2] === '_' && name[i + 3] === '_' && name[i + 4] !== '_') {
      return name.slice(0, i + 1);
    }
  }
  return name;
}

/** Result of skipping modifiers: the id reached and its type. */
export interface ResolvedType {
  id: number;
  type: BtfType;
}

/** Follow const/volatile/restrict/type_tag (and typedefs unless `keepTypedefs`) to the real type. */
export function skipModsAndTypedefs(btf: Btf, id: number, keepTypedefs = false): ResolvedType {
  let cur = id;
  for (let depth = 0; depth < MAX_CHAIN; depth++) {
    const t = btf.type(cur);
    if (QUALIFIER_KINDS.has(t.kind) || (!keepTypedefs && t.kind === 'typedef')) {
      cur = (t as { type: number }).type;
      continue;
    }
    return { id: cur, type: t };
  }
  throw new CoreError('CORE_BAD_BTF', `type ${id}: qualifier/typedef chain longer than ${MAX_CHAIN} (cycle?)`);
}

/** True for struct and union. */
export function isComposite(t: BtfType): t is Extract<BtfType, { kind: 'struct' | 'union' }> {
  return t.kind === 'struct' || t.kind === 'union';
}

/** True for enum and enum64. */
export function isAnyEnum(t: BtfType): t is Extract<BtfType, { kind: 'enum' | 'enum64' }> {
  return t.kind === 'enum' || t.kind === 'enum64';
}

/** libbpf's `btf_kind_core_compat`: same kind, or both enums (ENUM and ENUM64 mix). */
export function kindsCoreCompatible(a: BtfType, b: BtfType): boolean {
  return a.kind === b.kind || (isAnyEnum(a) && isAnyEnum(b));
}

/**
 * Size in bytes of type `id` as the compiler lays it out (libbpf `btf__resolve_size`), from
 * {@link Btf.sizeof}, with BTF errors reported as CO-RE errors and absurd sizes refused.
 */
export function resolveSize(btf: Btf, id: number): number {
  let size: number;
  try {
    size = btf.sizeof(id);
  } catch (err) {
    if (err instanceof BtfError) throw new CoreError('CORE_BAD_BTF', `type ${id}: ${err.message}`, { cause: err });
    throw err;
  }
  return checkedSize(id, size);
}

function checkedSize(id: number, size: number): number {
  if (!Number.isSafeInteger(size) || size > 0xffffffff) throw new CoreError('CORE_BAD_BTF', `type ${id}: size ${size} overflows`);
  return size;
}

/** A BTF enum's values as exact integers: ENUM values are read per the `signed` flag, ENUM64 are already bigint. */
export function enumValue(t: Extract<BtfType, { kind: 'enum' | 'enum64' }>, index: number): bigint {
  const v = t.values[index];
  if (v === undefined) throw new CoreError('CORE_BAD_BTF', `enum ${t.name || '<anon>'} has no value #${index}`);
  if (t.kind === 'enum64') {
    const b = v.value as bigint;
    return t.signed ? BigInt.asIntN(64, b) : BigInt.asUintN(64, b);
  }
  const n = v.value as number;
  return BigInt(t.signed ? n | 0 : n >>> 0);
}

/** The C spelling of a type's kind and name for messages: `struct task_struct`, `enum x`, `typedef u32`. */
export function describeType(btf: Btf, id: number): string {
  if (id === 0) return 'void';
  const t = btf.type(id);
  const name = t.name === '' ? '<anon>' : t.name;
  switch (t.kind) {
    case 'struct':
    case 'union':
    case 'enum':
    case 'typedef':
      return `${t.kind} ${name}`;
    case 'enum64':
      return `enum ${name}`;
    case 'fwd':
      return `${t.union ? 'union' : 'struct'} ${name}`;
    default:
      return t.name === '' ? `${t.kind} [${id}]` : `${t.kind} ${name}`;
  }
}
