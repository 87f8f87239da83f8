/**
 * CO-RE relocation kinds, numbered as `enum bpf_core_relo_kind` in the kernel uapi
 * (/usr/include/linux/bpf.h), and the three families the resolution algorithm treats differently.
 */

/** `BPF_CORE_*` relocation kinds by their uapi numbers. */
export const BPF_CORE = {
  FIELD_BYTE_OFFSET: 0,
  FIELD_BYTE_SIZE: 1,
  FIELD_EXISTS: 2,
  FIELD_SIGNED: 3,
  FIELD_LSHIFT_U64: 4,
  FIELD_RSHIFT_U64: 5,
  TYPE_ID_LOCAL: 6,
  TYPE_ID_TARGET: 7,
  TYPE_EXISTS: 8,
  TYPE_SIZE: 9,
  ENUMVAL_EXISTS: 10,
  ENUMVAL_VALUE: 11,
  TYPE_MATCHES: 12,
} as const;

/** Name of a CO-RE relocation kind (`FIELD_BYTE_OFFSET`, …). */
export type CoreRelocationKindName = keyof typeof BPF_CORE;

/** Numeric CO-RE relocation kind. */
export type CoreRelocationKind = (typeof BPF_CORE)[CoreRelocationKindName];

const NAMES: readonly CoreRelocationKindName[] = (Object.keys(BPF_CORE) as CoreRelocationKindName[]).sort(
  (a, b) => BPF_CORE[a] - BPF_CORE[b],
);

/** True when `kind` is one of the kinds this engine knows. */
export function isCoreRelocationKind(kind: number): kind is CoreRelocationKind {
  return Number.isInteger(kind) && kind >= 0 && kind < NAMES.length;
}

/** The uapi-style name of `kind` (`FIELD_BYTE_OFFSET`), or `UNKNOWN(n)` for numbers outside the enum. */
export function coreRelocationKindName(kind: number): string {
  return isCoreRelocationKind(kind) ? NAMES[kind] : `UNKNOWN(${kind})`;
}

/** Field-based kinds: the access string walks members and array elements. */
export function isFieldBasedKind(kind: number): boolean {
  return kind >= BPF_CORE.FIELD_BYTE_OFFSET && kind <= BPF_CORE.FIELD_RSHIFT_U64;
}

/** Type-based kinds: the access string is always `0`, only the root type matters. */
export function isTypeBasedKind(kind: number): boolean {
  return (
    kind === BPF_CORE.TYPE_ID_LOCAL ||
    kind === BPF_CORE.TYPE_ID_TARGET ||
    kind === BPF_CORE.TYPE_EXISTS ||
    kind === BPF_CORE.TYPE_SIZE ||
    kind === BPF_CORE.TYPE_MATCHES
  );
}

/** Enumerator-based kinds: the access string is the index of one enumerator. */
export function isEnumValueBasedKind(kind: number): boolean {
  return kind === BPF_CORE.ENUMVAL_EXISTS || kind === BPF_CORE.ENUMVAL_VALUE;
}

/**
 * Kinds that answer "is it there?" (0 or 1). When no candidate matches they resolve to 0 instead
 * of poisoning the instruction, because the program is expected to branch on the answer. (As in
 * libbpf, the other type-based kinds, TYPE_SIZE and TYPE_ID_TARGET, also resolve to 0 then.)
 */
export function isExistenceKind(kind: number): boolean {
  return (
    kind === BPF_CORE.FIELD_EXISTS ||
    kind === BPF_CORE.TYPE_EXISTS ||
    kind === BPF_CORE.ENUMVAL_EXISTS ||
    kind === BPF_CORE.TYPE_MATCHES
  );
}
