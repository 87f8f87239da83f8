/**
 * JSON rendering of the interaction model: a plain, versioned document for scripts and other tools.
 */
import type { InteractionModel } from './model.js';

/** Version of the document layout; bumped when a field changes meaning or disappears. */
export const INSPECT_JSON_VERSION = 1;

/** The JSON document {@link renderJson} writes. */
export interface InspectDocument {
  /** {@link INSPECT_JSON_VERSION}. */
  version: number;
  /** Whether detailed analysis produced it. */
  detailed: boolean;
  /** Programs sorted by name; `instructions` counts slots after linking. */
  programs: Array<{ name: string; section: string; type?: string; attachTarget?: string; instructions: number }>;
  /** Maps shown, sorted by name. */
  maps: Array<{ name: string; type: string; keySize: number; valueSize: number; maxEntries: number; keyType?: string; valueType?: string }>;
  /** Every interaction found, with the instruction index of each occurrence. */
  interactions: Array<{ program: string; map: string; kind: string; insnIndex: number; helper?: string }>;
  /** One entry per (program, map) with its kinds, as in the flowchart. */
  edges: Array<{ program: string; map: string; kinds: string[]; label: string }>;
  /** One entry per (program, map, kind) in instruction order, as in the sequence diagram. */
  sequence: Array<{ program: string; map: string; kind: string; insnIndex: number }>;
}

/** The model as a JSON-ready object (fresh copies; optional fields omitted when absent). */
export function toInspectDocument(model: InteractionModel): InspectDocument {
  return {
    version: INSPECT_JSON_VERSION,
    detailed: model.detailed,
    programs: model.programs.map((p) => ({
      name: p.name,
      section: p.sectionName,
      ...(p.type !== undefined ? { type: p.type } : {}),
      ...(p.attachTarget !== undefined ? { attachTarget: p.attachTarget } : {}),
      instructions: p.insnCount,
    })),
    maps: model.maps.map((m) => ({
      name: m.name,
      type: m.type,
      keySize: m.keySize,
      valueSize: m.valueSize,
      maxEntries: m.maxEntries,
      ...(m.keyType !== undefined ? { keyType: m.keyType } : {}),
      ...(m.valueType !== undefined ? { valueType: m.valueType } : {}),
    })),
    interactions: model.interactions.map((i) => ({
      program: i.program,
      map: i.map,
      kind: i.kind,
      insnIndex: i.insnIndex,
      ...(i.helper !== undefined ? { helper: i.helper } : {}),
    })),
    edges: model.edges.map((e) => ({ program: e.program, map: e.map, kinds: [...e.kinds], label: e.label })),
    sequence: model.messages.map((m) => ({ program: m.program, map: m.map, kind: m.kind, insnIndex: m.insnIndex })),
  };
}

/** The model as pretty-printed JSON text ending with a newline. */
export function renderJson(model: InteractionModel): string {
  return JSON.stringify(toInspectDocument(model), null, 2) + '\n';
}
