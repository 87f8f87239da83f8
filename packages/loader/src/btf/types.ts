/**
 * The BTF type model: one plain object per wire record, faithful to `struct btf_type` and its
 * trailing data (see /usr/include/linux/btf.h), so that parse → encode round-trips exactly.
 *
 * Types reference each other by numeric type id (0 is `void`), never by object: that keeps lazily
 * decoded kernel BTF cheap, lets split BTF (modules) continue the id space of its base, and makes
 * cyclic graphs (a struct pointing to itself) trivial. The container that owns ids is `Btf` (btf.ts).
 */

/** BTF kinds by their uapi numbers (`BTF_KIND_*`). */
export const BTF_KIND = {
  UNKN: 0,
  INT: 1,
  PTR: 2,
  ARRAY: 3,
  STRUCT: 4,
  UNION: 5,
  ENUM: 6,
  FWD: 7,
  TYPEDEF: 8,
  VOLATILE: 9,
  CONST: 10,
  RESTRICT: 11,
  FUNC: 12,
  FUNC_PROTO: 13,
  VAR: 14,
  DATASEC: 15,
  FLOAT: 16,
  DECL_TAG: 17,
  TYPE_TAG: 18,
  ENUM64: 19,
} as const;

/** Lower-case kind names used as the discriminant of {@link BtfType}. */
export type BtfKindName =
  | 'void'
  | 'int'
  | 'ptr'
  | 'array'
  | 'struct'
  | 'union'
  | 'enum'
  | 'fwd'
  | 'typedef'
  | 'volatile'
  | 'const'
  | 'restrict'
  | 'func'
  | 'func_proto'
  | 'var'
  | 'datasec'
  | 'float'
  | 'decl_tag'
  | 'type_tag'
  | 'enum64';

/** `BTF_INT_*` encoding bits. */
export interface BtfIntEncoding {
  signed: boolean;
  char: boolean;
  bool: boolean;
}

/** Type id 0: `void`. Never stored on the wire. */
export interface BtfVoid {
  kind: 'void';
  name: '';
}

/** BTF_KIND_INT. `bits`/`offset` describe the value inside `size` bytes (almost always 8*size and 0). */
export interface BtfInt {
  kind: 'int';
  name: string;
  size: number;
  encoding: BtfIntEncoding;
  offset: number;
  bits: number;
}

/** BTF_KIND_PTR, VOLATILE, CONST, RESTRICT, TYPEDEF, TYPE_TAG: a name (typedef/type_tag only) and a target. */
export interface BtfRef<K extends 'ptr' | 'typedef' | 'volatile' | 'const' | 'restrict' | 'type_tag'> {
  kind: K;
  name: string;
  type: number;
}

/** BTF_KIND_ARRAY. */
export interface BtfArray {
  kind: 'array';
  name: '';
  elemType: number;
  indexType: number;
  nelems: number;
}

/** One member of a struct or union. `bitfieldSize` is 0 for a plain member. */
export interface BtfMember {
  name: string;
  type: number;
  bitOffset: number;
  bitfieldSize: number;
}

/** BTF_KIND_STRUCT / BTF_KIND_UNION. `kindFlag` set means members carry bitfield sizes. */
export interface BtfComposite<K extends 'struct' | 'union'> {
  kind: K;
  name: string;
  size: number;
  kindFlag: boolean;
  members: BtfMember[];
}

/** One enumerator. 32-bit enums store a number, ENUM64 a bigint. */
export interface BtfEnumValue<V extends number | bigint> {
  name: string;
  value: V;
}

/** BTF_KIND_ENUM (values interpreted per `signed`). */
export interface BtfEnum {
  kind: 'enum';
  name: string;
  size: number;
  signed: boolean;
  values: BtfEnumValue<number>[];
}

/** BTF_KIND_ENUM64. */
export interface BtfEnum64 {
  kind: 'enum64';
  name: string;
  size: number;
  signed: boolean;
  values: BtfEnumValue<bigint>[];
}

/** BTF_KIND_FWD: a declared, undefined struct (or union when `union` is set). */
export interface BtfFwd {
  kind: 'fwd';
  name: string;
  union: boolean;
}

/** `BTF_FUNC_*` linkage / `BTF_VAR_*` linkage numbers. */
export type BtfLinkage = number;

/** BTF_KIND_FUNC: `type` is a FUNC_PROTO. */
export interface BtfFunc {
  kind: 'func';
  name: string;
  type: number;
  linkage: BtfLinkage;
}

/** One parameter of a function prototype; a trailing `{name:'', type:0}` means varargs. */
export interface BtfParam {
  name: string;
  type: number;
}

/** BTF_KIND_FUNC_PROTO. */
export interface BtfFuncProto {
  kind: 'func_proto';
  name: '';
  returnType: number;
  params: BtfParam[];
}

/** BTF_KIND_VAR. */
export interface BtfVar {
  kind: 'var';
  name: string;
  type: number;
  linkage: BtfLinkage;
}

/** One variable placed in a data section. */
export interface BtfVarSecinfo {
  type: number;
  offset: number;
  size: number;
}

/** BTF_KIND_DATASEC. */
export interface BtfDatasec {
  kind: 'datasec';
  name: string;
  size: number;
  vars: BtfVarSecinfo[];
}

/** BTF_KIND_FLOAT. */
export interface BtfFloat {
  kind: 'float';
  name: string;
  size: number;
}

/** BTF_KIND_DECL_TAG: `componentIdx` -1 tags the type itself, otherwise a member/param index. */
export interface BtfDeclTag {
  kind: 'decl_tag';
  name: string;
  type: number;
  componentIdx: number;
  /** kind_flag set: the tag is a C `__attribute__` (kernel 6.14+); absent when clear. */
  attribute?: boolean;
}

/** BTF_KIND_TYPE_TAG, a {@link BtfRef} whose kind_flag may mark a C `__attribute__` (6.14+). */
export interface BtfTypeTag extends BtfRef<'type_tag'> {
  /** kind_flag set: the tag is a C `__attribute__`; absent when clear. */
  attribute?: boolean;
}

/** Every BTF type. Discriminate on `kind`. */
export type BtfType =
  | BtfVoid
  | BtfInt
  | BtfRef<'ptr'>
  | BtfRef<'typedef'>
  | BtfRef<'volatile'>
  | BtfRef<'const'>
  | BtfRef<'restrict'>
  | BtfTypeTag
  | BtfArray
  | BtfComposite<'struct'>
  | BtfComposite<'union'>
  | BtfEnum
  | BtfEnum64
  | BtfFwd
  | BtfFunc
  | BtfFuncProto
  | BtfVar
  | BtfDatasec
  | BtfFloat
  | BtfDeclTag;

/** Kinds that only qualify another type: skipped when resolving to the underlying type. */
export const QUALIFIER_KINDS: ReadonlySet<BtfKindName> = new Set(['volatile', 'const', 'restrict', 'type_tag']);
