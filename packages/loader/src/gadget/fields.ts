/**
 * Inspektor Gadget's field conventions, as facts the gadget runtime builds columns and enrichers from.
 *
 * What IG does with a gadget's event struct (pkg/operators/formatters, pkg/operators/ebpf, and
 * include/gadget/types.h):
 * - members whose type goes through a `gadget_*` typedef (or is one of the `gadget_*` structs) are
 *   tagged with that type, which selects an enricher or formatter (see {@link GADGET_TYPE_NAMES});
 * - a formatter (timestamp, syscall, signal, errno, bytes, duration, kernel stack, enum) adds a
 *   string field named after the member with its `_raw` suffix removed — `timestamp_raw` →
 *   `timestamp`, `syscall_raw` → `syscall`, `cap_raw` → `cap`, `kstack_raw` → `kstack` — and hides
 *   the raw member in columns (JSON keeps both). A member without the suffix is not formatted;
 * - an enum whose type name ends in `_set` is a bit set, printed as the names of the set bits joined
 *   with `|` (`CAP_CHOWN|CAP_KILL`); any other enum prints its enumerator name;
 * - syscall numbers print as `SYS_` + upper-cased name (`SYS_SETPRIORITY`);
 * - nested structs stay nested (JSON objects; column headers join the path with dots);
 * - `gadget_l3endpoint_t`/`gadget_l4endpoint_t` members print as one address string.
 *
 * tsbpf's own gadget headers (bpf/include/gadget/types.h, bpf/README.md) add `gadget_capability`
 * (a capability number shown by name) and prefixed set enumerators (`CAP_SET__CAP_KILL` shown as
 * `CAP_KILL`, see {@link stripEnumeratorPrefix}).
 */
import type { Btf } from '../btf/btf.js';
import { BtfError } from '../btf/error.js';
import type { BtfType } from '../btf/types.js';

export { stripEnumeratorPrefix } from '../btf/codec.js';

/** The enrichment kinds selected by `gadget_*` type names. */
export const EnrichmentKind = {
  Timestamp: 'timestamp',
  MntnsId: 'mntns_id',
  NetnsId: 'netns_id',
  Signal: 'signal',
  Errno: 'errno',
  Uid: 'uid',
  Gid: 'gid',
  Syscall: 'syscall',
  KernelStack: 'kernel_stack',
  UserStack: 'user_stack',
  Pid: 'pid',
  Ppid: 'ppid',
  Tid: 'tid',
  Comm: 'comm',
  Pcomm: 'pcomm',
  Bytes: 'bytes',
  Duration: 'duration',
  IpAddr: 'ip_addr',
  L3Endpoint: 'l3endpoint',
  L4Endpoint: 'l4endpoint',
  Process: 'process',
  Creds: 'creds',
  Parent: 'parent',
  Counter: 'counter',
  Gauge: 'gauge',
  HistogramSlot: 'histogram_slot',
  Capability: 'capability',
} as const;

/** One of {@link EnrichmentKind}'s values. */
export type EnrichmentKind = (typeof EnrichmentKind)[keyof typeof EnrichmentKind];

/** BTF type names (typedefs, structs, unions from `gadget/types.h`) → enrichment kind. */
export const GADGET_TYPE_NAMES: ReadonlyMap<string, EnrichmentKind> = new Map<string, EnrichmentKind>([
  ['gadget_timestamp', 'timestamp'],
  ['gadget_mntns_id', 'mntns_id'],
  ['gadget_netns_id', 'netns_id'],
  ['gadget_signal', 'signal'],
  ['gadget_errno', 'errno'],
  ['gadget_uid', 'uid'],
  ['gadget_gid', 'gid'],
  ['gadget_syscall', 'syscall'],
  ['gadget_kernel_stack', 'kernel_stack'],
  ['gadget_user_stack', 'user_stack'],
  ['gadget_pid', 'pid'],
  ['gadget_ppid', 'ppid'],
  ['gadget_tid', 'tid'],
  ['gadget_comm', 'comm'],
  ['gadget_pcomm', 'pcomm'],
  ['gadget_bytes', 'bytes'],
  ['gadget_duration', 'duration'],
  ['gadget_ip_addr_t', 'ip_addr'],
  ['gadget_l3endpoint_t', 'l3endpoint'],
  ['gadget_l4endpoint_t', 'l4endpoint'],
  ['gadget_process', 'process'],
  ['gadget_creds', 'creds'],
  ['gadget_parent', 'parent'],
  ['gadget_counter__u32', 'counter'],
  ['gadget_counter__u64', 'counter'],
  ['gadget_gauge__u32', 'gauge'],
  ['gadget_gauge__u64', 'gauge'],
  ['gadget_histogram_slot__u32', 'histogram_slot'],
  ['gadget_histogram_slot__u64', 'histogram_slot'],
  // tsbpf's gadget/types.h: a capability number shown with its name.
  ['gadget_capability', 'capability'],
]);

/**
 * Formatters that derive a display field from a member: the enrichment-driven ones IG's formatters
 * operator applies, plus enum names, enum bit sets and endpoint strings.
 */
export type FormatterKind =
  | 'timestamp'
  | 'syscall'
  | 'signal'
  | 'errno'
  | 'bytes'
  | 'duration'
  | 'kernel_stack'
  | 'user_stack'
  | 'capability'
  | 'enum'
  | 'enum_set'
  | 'l3endpoint'
  | 'l4endpoint';

/** Enrichment kinds whose formatter needs the `_raw` naming to know where to put its output. */
const RAW_FORMATTERS: ReadonlySet<EnrichmentKind> = new Set<EnrichmentKind>([
  'timestamp',
  'syscall',
  'signal',
  'errno',
  'bytes',
  'duration',
  'kernel_stack',
  'user_stack',
  'capability',
]);

/** The suffix marking a member whose formatted form is shown under the shorter name. */
export const RAW_SUFFIX = '_raw';

/** `x_raw` → `x`; other names unchanged. */
export function stripRawSuffix(name: string): string {
  return name.length > RAW_SUFFIX.length && name.endsWith(RAW_SUFFIX) ? name.slice(0, -RAW_SUFFIX.length) : name;
}

/** The separator IG puts between the names of an enum bit set. */
export const ENUM_SET_SEPARATOR = '|';

/** Renders decoded enum-set names (`['CAP_A', 'CAP_B']`) the way IG prints them: `CAP_A|CAP_B`. */
export function formatEnumSet(names: readonly unknown[], separator: string = ENUM_SET_SEPARATOR): string {
  return names.map(String).join(separator);
}

/** Column header for a display path: upper case, dots kept (`proc.creds.uid` → `PROC.CREDS.UID`). */
export function fieldHeader(displayPath: string): string {
  return displayPath.toUpperCase();
}

/** Shape of a field's value as the codec decodes it. */
export type FieldKind = 'int' | 'bool' | 'float' | 'string' | 'enum' | 'enum_set' | 'pointer' | 'array' | 'struct' | 'union';

/** One field of a gadget event struct, flattened: containers first, then their members. */
export interface FieldDescriptor {
  /** Dotted path of C member names from the event struct (`proc.creds.uid`, `cap_raw`). */
  readonly path: string;
  /** The C member name (`cap_raw`). */
  readonly name: string;
  /** The name IG shows: `_raw` removed when a formatter derives the shown value (`cap`). */
  readonly displayName: string;
  /** Dotted path of display names (`proc.creds.uid`, `cap`). */
  readonly displayPath: string;
  /** `path` of the containing struct/union field, undefined at the top level. */
  readonly parentPath: string | undefined;
  /** 0 for top-level members. */
  readonly depth: number;
  /** Shape of the decoded value. */
  readonly kind: FieldKind;
  /** Enrichment selected by a `gadget_*` type name on the member's type, if any. */
  readonly enrichment: EnrichmentKind | undefined;
  /** Formatter that derives the shown value, if any (see the module notes for when IG applies one). */
  readonly formatter: FormatterKind | undefined;
  /** True when IG hides the field in columns by default (raw members of formatted fields, endpoint parts). */
  readonly hidden: boolean;
  /** BTF id of the member's declared type. */
  readonly typeId: number;
  /** C spelling of the declared type (`gadget_comm[16]`, `enum capability`, `__u32`). */
  readonly typeName: string;
  /** Byte offset from the start of the event (of the first byte holding a bitfield). */
  readonly offset: number;
  /** Size in bytes of the member's type. */
  readonly size: number;
  /** Bit offset from the start of the event and width, for bitfields only. */
  readonly bitfield: { readonly bitOffset: number; readonly bits: number } | undefined;
  /** True for signed integers and signed enums. */
  readonly signed: boolean;
}

const QUALIFIERS = new Set(['volatile', 'const', 'restrict', 'type_tag']);

/**
 * The enrichment kind a type carries: the first `gadget_*` name found walking typedefs and
 * qualifiers from `typeId` down (struct/union names included), looking through arrays at their
 * element type (`gadget_comm comm[16]` → `comm`).
 */
export function enrichmentOf(btf: Btf, typeId: number): EnrichmentKind | undefined {
  let cur = typeId;
  for (let steps = 0; steps <= btf.typeCount + 1; steps++) {
    const t = btf.type(cur);
    if (t.name) {
      const k = GADGET_TYPE_NAMES.get(t.name);
      if (k) return k;
    }
    if (t.kind === 'typedef' || QUALIFIERS.has(t.kind)) cur = (t as { type: number }).type;
    else if (t.kind === 'array') cur = t.elemType;
    else return undefined;
  }
  return undefined;
}

/**
 * C spelling of a type as a declaration would write it without the declarator name:
 * `int`, `struct task_struct *`, `const char[16]`, `enum capability`, `gadget_comm[16]`.
 */
export function cTypeName(btf: Btf, typeId: number): string {
  const walk = (id: number, depth: number): string => {
    if (depth > 32) return '…';
    const t: BtfType = btf.type(id);
    switch (t.kind) {
      case 'void':
        return 'void';
      case 'int':
      case 'float':
      case 'typedef':
        return t.name;
      case 'struct':
      case 'union':
      case 'enum':
        return `${t.kind} ${t.name || '(anon)'}`;
      case 'enum64':
        return `enum ${t.name || '(anon)'}`;
      case 'fwd':
        return `${t.union ? 'union' : 'struct'} ${t.name}`;
      case 'ptr': {
        const inner = walk(t.type, depth + 1);
        return inner.endsWith('*') ? `${inner}*` : `${inner} *`;
      }
      case 'array': {
        const inner = walk(t.elemType, depth + 1);
        const bracket = inner.indexOf('[');
        // char[2][16] for an array of arrays: outer dimension first.
        return bracket < 0 ? `${inner}[${t.nelems}]` : `${inner.slice(0, bracket)}[${t.nelems}]${inner.slice(bracket)}`;
      }
      case 'const':
      case 'volatile':
      case 'restrict':
        return `${t.kind} ${walk(t.type, depth + 1)}`;
      case 'type_tag':
        return walk(t.type, depth + 1);
      case 'func_proto':
        return 'function';
      default:
        return t.name || t.kind;
    }
  };
  return walk(typeId, 0);
}

/** Follows typedefs and qualifiers (bounded). */
function resolveType(btf: Btf, id: number): BtfType {
  let cur = id;
  for (let steps = 0; steps <= btf.typeCount + 1; steps++) {
    const t = btf.type(cur);
    if (t.kind !== 'typedef' && !QUALIFIERS.has(t.kind)) return t;
    cur = (t as { type: number }).type;
  }
  return btf.type(0);
}

function isCharType(t: BtfType): boolean {
  return t.kind === 'int' && t.size === 1 && !t.encoding.bool && (t.encoding.char || t.name === 'char');
}

function kindOf(btf: Btf, t: BtfType): FieldKind {
  switch (t.kind) {
    case 'int':
      return t.encoding.bool ? 'bool' : 'int';
    case 'float':
      return 'float';
    case 'enum':
    case 'enum64':
      return t.name.endsWith('_set') ? 'enum_set' : 'enum';
    case 'ptr':
      return 'pointer';
    case 'array':
      return isCharType(resolveType(btf, t.elemType)) ? 'string' : 'array';
    case 'struct':
      return 'struct';
    case 'union':
      return 'union';
    default:
      return 'int';
  }
}

function signedOf(t: BtfType): boolean {
  if (t.kind === 'int') return t.encoding.signed;
  if (t.kind === 'enum' || t.kind === 'enum64') return t.signed;
  return false;
}

/** Options of {@link describeEventType}. */
export interface DescribeOptions {
  /**
   * Custom output names per member path, like IG's `formatters.*.target`/`ebpf.formatter.*`
   * annotations: a member listed here is formatted even without the `_raw` suffix.
   */
  targets?: Readonly<Record<string, string>>;
}

/**
 * Flattens event struct `structId` into field descriptors, in member order, each container before
 * its members. Anonymous struct/union members are flattened into their parent, as C exposes them.
 * @throws BtfError BTF_BAD_KIND when `structId` is not a struct/union; BTF_BAD_TYPE_ID for a bad id
 */
export function describeEventType(btf: Btf, structId: number, options: DescribeOptions = {}): FieldDescriptor[] {
  const top = resolveType(btf, structId);
  if (top.kind !== 'struct' && top.kind !== 'union') {
    throw new BtfError('BTF_BAD_KIND', `event type is ${top.kind}, not a struct or union`, { typeId: structId });
  }
  const out: FieldDescriptor[] = [];
  const targets = options.targets ?? {};

  const visit = (
    t: BtfType & { kind: 'struct' | 'union' },
    baseBits: number,
    parentPath: string | undefined,
    parentDisplay: string | undefined,
    depth: number,
    hiddenParent: boolean,
    seen: ReadonlySet<BtfType>,
  ): void => {
    if (depth > 32 || seen.has(t)) return;
    const nextSeen = new Set(seen).add(t);
    for (const m of t.members) {
      const bitOffset = baseBits + m.bitOffset;
      const rt = resolveType(btf, m.type);
      if (m.name === '') {
        if ((rt.kind === 'struct' || rt.kind === 'union') && m.bitfieldSize === 0) {
          visit(rt, bitOffset, parentPath, parentDisplay, depth, hiddenParent, nextSeen);
        }
        continue;
      }
      const path = parentPath === undefined ? m.name : `${parentPath}.${m.name}`;
      const kind = kindOf(btf, rt);
      const enrichment = enrichmentOf(btf, m.type);
      const target = targets[path];
      const isRaw = m.name.endsWith(RAW_SUFFIX) && m.name.length > RAW_SUFFIX.length;
      let formatter: FormatterKind | undefined;
      if (enrichment === 'l3endpoint' || enrichment === 'l4endpoint') formatter = enrichment;
      else if (enrichment !== undefined && RAW_FORMATTERS.has(enrichment) && (isRaw || target !== undefined)) {
        formatter = enrichment as FormatterKind;
      } else if ((kind === 'enum' || kind === 'enum_set') && (isRaw || target !== undefined)) formatter = kind;
      const derivesName = formatter !== undefined && formatter !== 'l3endpoint' && formatter !== 'l4endpoint';
      const displayName = target ?? (derivesName ? stripRawSuffix(m.name) : m.name);
      const displayPath = parentDisplay === undefined ? displayName : `${parentDisplay}.${displayName}`;
      const bitfield =
        m.bitfieldSize > 0 || bitOffset % 8 !== 0
          ? { bitOffset: bitOffset + (rt.kind === 'int' ? rt.offset : 0), bits: m.bitfieldSize > 0 ? m.bitfieldSize : rt.kind === 'int' ? rt.bits : 0 }
          : undefined;
      let size = 0;
      try {
        size = btf.sizeof(m.type);
      } catch {
        size = 0;
      }
      out.push({
        path,
        name: m.name,
        displayName,
        displayPath,
        parentPath,
        depth,
        kind,
        enrichment,
        formatter,
        hidden: hiddenParent || derivesName,
        typeId: m.type,
        typeName: cTypeName(btf, m.type),
        offset: Math.floor((bitfield ? bitfield.bitOffset : bitOffset) / 8),
        size,
        bitfield,
        signed: signedOf(rt),
      });
      if (rt.kind === 'struct' || rt.kind === 'union') {
        // Endpoint structs show as one string; their parts are hidden, as IG hides them.
        const hideParts = hiddenParent || formatter === 'l3endpoint' || formatter === 'l4endpoint';
        visit(rt, bitOffset, path, displayPath, depth + 1, hideParts, nextSeen);
      }
    }
  };

  visit(top, 0, undefined, undefined, 0, false, new Set());
  return out;
}

/**
 * The fields that become columns: every non-container field, plus containers a formatter turns
 * into one string (endpoints, IG's `struct gadget_user_stack`); other struct/union containers are
 * not columns, their members are.
 */
export function leafFields(fields: readonly FieldDescriptor[]): FieldDescriptor[] {
  return fields.filter((f) => (f.kind !== 'struct' && f.kind !== 'union') || f.formatter !== undefined);
}
