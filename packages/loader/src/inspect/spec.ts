/**
 * From a parsed object (CollectionSpec) to the analysis input: each program linked with its
 * subprograms, its map and global-data references by linked instruction index, and a readable
 * description of every map. No kernel involved.
 */
import type { Btf } from '../btf/btf.js';
import type { CollectionSpec } from '../spec/collection.js';
import { linkProgram } from '../spec/linker.js';
import type { MapSpec } from '../spec/map.js';
import type { ProgramSpec } from '../spec/program.js';
import type { AnalyzedMap, AnalyzedProgram } from './analyze.js';
import { buildModel, type InteractionModel, type ModelOptions } from './model.js';

/** `BPF_MAP_TYPE_HASH` → `hash`, `BPF_PROG_TYPE_RAW_TRACEPOINT` → `raw_tracepoint`; other text unchanged. */
export function readableTypeName(name: string): string {
  const m = /^BPF_(?:MAP|PROG)_TYPE_(.+)$/.exec(name);
  return m ? m[1].toLowerCase() : name;
}

/** The program as the analysis needs it: linked, with its references split into maps and global data. */
export function analyzedProgram(spec: CollectionSpec, program: ProgramSpec): AnalyzedProgram {
  const linked = linkProgram(spec, program);
  const mapReferences = new Map<number, string>();
  const mapValueReferences = new Map<number, string>();
  for (const [index, ref] of linked.references) {
    if (ref.kind === 'map') mapReferences.set(index, ref.map);
    else if (ref.kind === 'data') mapValueReferences.set(index, ref.map);
    else if (ref.kind === 'kconfig') mapValueReferences.set(index, '.kconfig');
  }
  const out: AnalyzedProgram = {
    name: program.name,
    sectionName: program.sectionName,
    type: readableTypeName(program.typeName),
    insns: linked.insns,
    mapReferences,
    mapValueReferences,
  };
  if (program.attachTarget !== undefined) out.attachTarget = program.attachTarget;
  return out;
}

/** C-like name of a BTF type (`u32`, `struct event`, `char[16]`), or undefined for id 0. */
export function btfTypeName(btf: Btf, id: number, depth = 0): string | undefined {
  if (id === 0 || depth > 16) return undefined;
  const t = btf.type(id);
  switch (t.kind) {
    case 'struct':
    case 'union':
    case 'enum':
    case 'enum64':
      return t.name ? `${t.kind === 'enum64' ? 'enum' : t.kind} ${t.name}` : `${t.kind === 'enum64' ? 'enum' : t.kind} (anonymous)`;
    case 'fwd':
      return t.name ? `struct ${t.name}` : undefined;
    case 'int':
    case 'float':
    case 'typedef':
      return t.name || undefined;
    case 'ptr': {
      const inner = btfTypeName(btf, t.type, depth + 1);
      return `${inner ?? 'void'} *`;
    }
    case 'const':
    case 'volatile':
    case 'restrict':
    case 'type_tag':
      return btfTypeName(btf, t.type, depth + 1);
    case 'array': {
      const inner = btfTypeName(btf, t.elemType, depth + 1);
      return inner === undefined ? undefined : `${inner}[${t.nelems}]`;
    }
    default:
      return undefined;
  }
}

/** The map as the renderers describe it. */
export function analyzedMap(map: MapSpec): AnalyzedMap {
  const out: AnalyzedMap = { name: map.name, type: readableTypeName(map.typeName), keySize: map.keySize, valueSize: map.valueSize, maxEntries: map.maxEntries };
  if (map.btf) {
    const keyType = btfTypeName(map.btf, map.keyTypeId);
    const valueType = btfTypeName(map.btf, map.valueTypeId);
    if (keyType !== undefined) out.keyType = keyType;
    if (valueType !== undefined) out.valueType = valueType;
  }
  return out;
}

/** Every program and map of an object, ready for {@link buildModel}. */
export function analysisInput(spec: CollectionSpec): { programs: AnalyzedProgram[]; maps: AnalyzedMap[] } {
  return {
    programs: [...spec.programs.values()].map((p) => analyzedProgram(spec, p)),
    maps: [...spec.maps.values()].map(analyzedMap),
  };
}

/** Analyse every program of an object and combine the results. */
export function inspectCollection(spec: CollectionSpec, options: ModelOptions): InteractionModel {
  return buildModel(analysisInput(spec), options);
}
