/**
 * MapSpec: a map as the object declares it, editable before load (resize, replace by an existing
 * map, pin). Parsed from BTF-defined `.maps` (`__uint`/`__type`/`__array` members), the legacy
 * `maps` section, or synthesised for global data sections.
 */
import type { Btf } from '../btf/btf.js';
import { BPF_MAP_TYPE, mapTypeName } from '../sys/constants.js';
import type { Fd } from '../sys/fd.js';
import { SpecError } from './error.js';

/** `LIBBPF_PIN_*` values of the `pinning` map attribute. */
export const PIN = { NONE: 0, BY_NAME: 1 } as const;

/** Where a map came from. */
export type MapOrigin = 'btf' | 'legacy' | 'data' | 'kconfig' | 'inner';

/** A map definition, before load. All fields are editable until `Collection.load`. */
export class MapSpec {
  /** Name as in the object: the variable name, or the section name for global data (`.rodata`). */
  name: string;
  /** `BPF_MAP_TYPE_*`. */
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  /** `BPF_F_*` map flags. */
  flags: number;
  /** `PIN.NONE` or `PIN.BY_NAME`. */
  pinning: number;
  numaNode: number;
  mapExtra: bigint;
  /** BTF the key/value type ids refer to. */
  btf: Btf | undefined;
  /** BTF type id of the key, 0 when unknown. */
  keyTypeId: number;
  /** BTF type id of the value, 0 when unknown. */
  valueTypeId: number;
  /** Inner map template for map-in-map types. */
  innerMap: MapSpec | undefined;
  /** Initial contents: for data sections the section bytes (one element at key 0). */
  contents: Uint8Array | undefined;
  /** Freeze after writing contents (read-only data). */
  freeze: boolean;
  /** Where the definition came from. */
  readonly origin: MapOrigin;
  /** ELF section that defined it. */
  readonly sectionName: string;
  /**
   * Static initialisation of map-in-map and prog-array slots (`.values = { [1] = &inner }`):
   * slot index → name of the map (or program, for prog arrays) stored there after load.
   */
  slots: Map<number, string>;
  /**
   * Use this already-created map instead of creating one (e.g. a filter map shared between gadget
   * instances). The collection borrows the fd: it dups it and never closes the caller's.
   */
  replacement: Fd | undefined;

  constructor(init: {
    name: string;
    type: number;
    keySize: number;
    valueSize: number;
    maxEntries: number;
    flags?: number;
    pinning?: number;
    numaNode?: number;
    mapExtra?: bigint;
    btf?: Btf;
    keyTypeId?: number;
    valueTypeId?: number;
    innerMap?: MapSpec;
    contents?: Uint8Array;
    freeze?: boolean;
    origin: MapOrigin;
    sectionName: string;
  }) {
    this.name = init.name;
    this.type = init.type;
    this.keySize = init.keySize;
    this.valueSize = init.valueSize;
    this.maxEntries = init.maxEntries;
    this.flags = init.flags ?? 0;
    this.pinning = init.pinning ?? PIN.NONE;
    this.numaNode = init.numaNode ?? 0;
    this.mapExtra = init.mapExtra ?? 0n;
    this.btf = init.btf;
    this.keyTypeId = init.keyTypeId ?? 0;
    this.valueTypeId = init.valueTypeId ?? 0;
    this.innerMap = init.innerMap;
    this.contents = init.contents;
    this.freeze = init.freeze ?? false;
    this.origin = init.origin;
    this.sectionName = init.sectionName;
    this.replacement = undefined;
    this.slots = new Map();
  }

  /** Human name of the map type (`hash`, `ringbuf`, …). */
  get typeName(): string {
    return mapTypeName(this.type) ?? `type ${this.type}`;
  }

  /** True for the global-data maps (`.data`, `.bss`, `.rodata*`, `.kconfig`). */
  get isGlobalData(): boolean {
    return this.origin === 'data' || this.origin === 'kconfig';
  }

  /** Deep copy (contents copied, replacement dropped). */
  copy(): MapSpec {
    const m = new MapSpec({ ...this, innerMap: this.innerMap?.copy(), contents: this.contents?.slice(), origin: this.origin, sectionName: this.sectionName });
    m.slots = new Map(this.slots);
    return m;
  }
}

/** Map types whose key must be 0 bytes (the kernel rejects a key size). */
const KEYLESS = new Set<number>([BPF_MAP_TYPE.RINGBUF, BPF_MAP_TYPE.USER_RINGBUF, BPF_MAP_TYPE.QUEUE, BPF_MAP_TYPE.STACK, BPF_MAP_TYPE.BLOOM_FILTER]);

/** True when the kernel wants key_size 0 for this map type. */
export function isKeyless(type: number): boolean {
  return KEYLESS.has(type);
}

/**
 * Read a BTF-defined map: `struct { __uint(type, X); __type(key, K); … } name SEC(".maps");`.
 * `__uint(n, v)` is `int (*n)[v]`, `__type(n, T)` is `T *n`, `__array(values, struct inner)` is
 * `struct inner *values[]`.
 */
export function parseBtfMapDefinition(btf: Btf, varName: string, typeId: number, source: string): MapSpec {
  const defId = btf.underlying(typeId);
  const def = btf.type(defId);
  if (def.kind !== 'struct') {
    throw new SpecError('MAP_BAD_DEFINITION', `${source}: map ${varName} in .maps is a ${def.kind}, not a struct definition`);
  }
  const spec = new MapSpec({ name: varName, type: 0, keySize: 0, valueSize: 0, maxEntries: 0, btf, origin: 'btf', sectionName: '.maps' });
  const uintOf = (member: string, id: number): number => {
    const ptr = btf.type(btf.skipQualifiers(id));
    if (ptr.kind !== 'ptr') throw new SpecError('MAP_BAD_DEFINITION', `${source}: map ${varName}: member ${member} is not __uint() (a ${ptr.kind})`);
    const arr = btf.type(btf.skipQualifiers(ptr.type));
    if (arr.kind !== 'array') throw new SpecError('MAP_BAD_DEFINITION', `${source}: map ${varName}: member ${member} is not __uint() (pointer to ${arr.kind})`);
    return arr.nelems;
  };
  const typeOf = (member: string, id: number): number => {
    const ptr = btf.type(btf.skipQualifiers(id));
    if (ptr.kind !== 'ptr') throw new SpecError('MAP_BAD_DEFINITION', `${source}: map ${varName}: member ${member} is not __type() (a ${ptr.kind})`);
    return ptr.type;
  };
  for (const m of def.members) {
    switch (m.name) {
      case 'type':
        spec.type = uintOf(m.name, m.type);
        break;
      case 'max_entries':
        spec.maxEntries = uintOf(m.name, m.type);
        break;
      case 'map_flags':
        spec.flags = uintOf(m.name, m.type);
        break;
      case 'numa_node':
        spec.numaNode = uintOf(m.name, m.type);
        break;
      case 'pinning':
        spec.pinning = uintOf(m.name, m.type);
        if (spec.pinning !== PIN.NONE && spec.pinning !== PIN.BY_NAME) {
          throw new SpecError('MAP_BAD_DEFINITION', `${source}: map ${varName}: unknown pinning ${spec.pinning}`);
        }
        break;
      case 'map_extra':
        spec.mapExtra = BigInt(uintOf(m.name, m.type));
        break;
      case 'key_size':
        spec.keySize = uintOf(m.name, m.type);
        break;
      case 'value_size':
        spec.valueSize = uintOf(m.name, m.type);
        break;
      case 'key': {
        spec.keyTypeId = typeOf(m.name, m.type);
        spec.keySize = btf.sizeof(spec.keyTypeId);
        break;
      }
      case 'value': {
        spec.valueTypeId = typeOf(m.name, m.type);
        spec.valueSize = btf.sizeof(spec.valueTypeId);
        break;
      }
      case 'values': {
        // `struct inner *values[]`: an array of pointers to the inner definition (or prog array).
        const arr = btf.type(btf.skipQualifiers(m.type));
        if (arr.kind !== 'array') throw new SpecError('MAP_BAD_DEFINITION', `${source}: map ${varName}: values is not __array()`);
        const ptr = btf.type(btf.skipQualifiers(arr.elemType));
        if (ptr.kind !== 'ptr') throw new SpecError('MAP_BAD_DEFINITION', `${source}: map ${varName}: values is not an array of pointers`);
        const inner = btf.type(btf.underlying(ptr.type));
        if (inner.kind === 'struct' && inner.members.length > 0) {
          spec.innerMap = parseBtfMapDefinition(btf, `${varName}.inner`, ptr.type, source);
          (spec.innerMap as { origin: MapOrigin }).origin = 'inner';
        }
        spec.valueSize = 4;
        break;
      }
      default:
        throw new SpecError('MAP_BAD_DEFINITION', `${source}: map ${varName}: unknown map attribute "${m.name}"`);
    }
  }
  if (spec.type === 0) throw new SpecError('MAP_BAD_DEFINITION', `${source}: map ${varName} has no type`);
  if (isKeyless(spec.type)) {
    spec.keySize = 0;
    spec.keyTypeId = 0;
  }
  if (spec.type === BPF_MAP_TYPE.RINGBUF || spec.type === BPF_MAP_TYPE.USER_RINGBUF) {
    spec.valueSize = 0;
    spec.valueTypeId = 0;
  }
  if (spec.type === BPF_MAP_TYPE.PERF_EVENT_ARRAY || spec.type === BPF_MAP_TYPE.PROG_ARRAY || spec.type === BPF_MAP_TYPE.ARRAY_OF_MAPS || spec.type === BPF_MAP_TYPE.HASH_OF_MAPS) {
    if (spec.keySize === 0) spec.keySize = 4;
    if (spec.valueSize === 0) spec.valueSize = 4;
  }
  return spec;
}

/** Size of the legacy `struct bpf_map_def` (type, key_size, value_size, max_entries, map_flags). */
export const LEGACY_MAP_DEF_SIZE = 20;

/** Read one legacy `SEC("maps")` definition from its bytes. */
export function parseLegacyMapDefinition(name: string, bytes: Uint8Array, source: string): MapSpec {
  if (bytes.byteLength < 16) {
    throw new SpecError('MAP_BAD_DEFINITION', `${source}: legacy map ${name} is ${bytes.byteLength} bytes, smaller than struct bpf_map_def`);
  }
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // Fields past map_flags (inner_map_idx, numa_node) are accepted only when zero.
  for (let o = LEGACY_MAP_DEF_SIZE; o + 4 <= bytes.byteLength; o += 4) {
    if (v.getUint32(o, true) !== 0) throw new SpecError('MAP_BAD_DEFINITION', `${source}: legacy map ${name} sets an unsupported attribute at byte ${o}`);
  }
  return new MapSpec({
    name,
    type: v.getUint32(0, true),
    keySize: v.getUint32(4, true),
    valueSize: v.getUint32(8, true),
    maxEntries: v.getUint32(12, true),
    flags: bytes.byteLength >= 20 ? v.getUint32(16, true) : 0,
    origin: 'legacy',
    sectionName: 'maps',
  });
}
