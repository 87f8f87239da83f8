/**
 * Gadget metadata read from the object itself, by the conventions of `bpf/include/gadget/`
 * (documented in bpf/README.md): tracer markers, parameter markers, output maps and drop
 * counters. No side files: symbols and BTF say everything.
 */
import { TsbpfError } from '../errors.js';
import type { CollectionSpec } from '../spec/collection.js';
import type { VariableSpec } from '../spec/variable.js';

/** One tracer: a stream of `struct <structName>` records through map `mapName`. */
export interface TracerMetadata {
  name: string;
  mapName: string;
  structName: string;
  /** BTF id of the event struct in the object's BTF. */
  structTypeId: number;
  /** `.bss` variable counting records the BPF side failed to emit, if declared. */
  dropsVariable: string | undefined;
}

/** One user-settable parameter: a `const volatile` variable in `.rodata`. */
export interface ParamMetadata {
  /** Variable name (the stable key), e.g. `collect_kstack`, `targ_pid`. */
  variable: string;
  /** Name shown to users: `targ_` dropped and `_` → `-` (`pid`, `collect-kstack`). */
  name: string;
  /** The variable in the spec. */
  spec: VariableSpec;
}

/** Everything the runtime needs to know about a gadget object. */
export interface GadgetMetadata {
  tracers: TracerMetadata[];
  params: ParamMetadata[];
  /** Name of the mount-namespace filter map, when the gadget has one. */
  mntnsFilterMap: string | undefined;
}

const TRACER = /^gadget_tracer_(.+?)___(.+?)___(.+)$/;
const PARAM = /^gadget_param_(.+)$/;

/** The user-facing name of a parameter variable. */
export function paramDisplayName(variable: string): string {
  return variable.replace(/^targ_/, '').replace(/_/g, '-');
}

/** Collation weight of one identifier character, ignoring case: `_` < digits < letters. */
function identifierWeight(code: number): number {
  if (code === 0x5f) return 0;
  if (code >= 0x30 && code <= 0x39) return code - 0x30 + 1;
  if (code >= 0x61 && code <= 0x7a) return code - 0x61 + 11;
  if (code >= 0x41 && code <= 0x5a) return code - 0x41 + 11;
  return code + 64;
}

/**
 * Orders C identifiers as `localeCompare` does (letters before case, lowercase first on a tie),
 * without it: the first `localeCompare` of a process initialises ICU collation, about 10 ms.
 */
export function compareIdentifiers(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = identifierWeight(a.charCodeAt(i)) - identifierWeight(b.charCodeAt(i));
    if (d !== 0) return d;
  }
  if (a.length !== b.length) return a.length - b.length;
  for (let i = 0; i < n; i++) {
    const ca = a.charCodeAt(i);
    const cb = b.charCodeAt(i);
    // Same letter in another case: lowercase sorts first.
    if (ca !== cb) return ca > cb ? -1 : 1;
  }
  return 0;
}

/** Read tracers and parameters from a spec. Throws when a marker names something that is not there. */
export function readGadgetMetadata(spec: CollectionSpec): GadgetMetadata {
  const btf = spec.btf;
  const tracers: TracerMetadata[] = [];
  const params: ParamMetadata[] = [];
  for (const sym of spec.symbolNames) {
    const t = TRACER.exec(sym);
    if (t) {
      const [, name, mapName, structName] = t;
      if (!spec.maps.has(mapName)) throw new TsbpfError('GADGET_METADATA', `${spec.source}: tracer ${name} names map ${mapName}, which the object does not define`);
      const structTypeId = btf?.find(structName, 'struct');
      if (structTypeId === undefined) throw new TsbpfError('GADGET_METADATA', `${spec.source}: tracer ${name} names struct ${structName}, which is not in the object's BTF`);
      const drops = `gadget_drops_${mapName}`;
      tracers.push({ name, mapName, structName, structTypeId, dropsVariable: spec.variables.has(drops) ? drops : undefined });
      continue;
    }
    const p = PARAM.exec(sym);
    if (p) {
      const variable = p[1];
      const v = spec.variables.get(variable);
      if (!v) throw new TsbpfError('GADGET_METADATA', `${spec.source}: parameter marker ${sym} names variable ${variable}, which is not a global of the object`);
      params.push({ variable, name: paramDisplayName(variable), spec: v });
    }
  }
  params.sort((a, b) => compareIdentifiers(a.variable, b.variable));
  return { tracers, params, mntnsFilterMap: spec.maps.has('gadget_mntns_filter_map') ? 'gadget_mntns_filter_map' : undefined };
}
