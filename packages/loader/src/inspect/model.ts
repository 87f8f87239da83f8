/**
 * The interaction model: per-program analysis results combined into what the renderers draw — one
 * edge per (program, map) with its kinds joined, and one sequence message per (program, map, kind)
 * in instruction order. Everything is sorted so the output is stable from run to run.
 */
import { analyzeProgram, isGlobalDataMapName, type AnalyzedMap, type AnalyzedProgram, type Interaction } from './analyze.js';

/** A program node. */
export interface ModelProgram {
  /** Program name. */
  name: string;
  /** ELF section. */
  sectionName: string;
  /** Program type name, when known. */
  type?: string;
  /** Attach target, when known. */
  attachTarget?: string;
  /** Number of instruction slots after linking (ld_imm64 counts twice). */
  insnCount: number;
}

/** One arrow of the flowchart: everything a program does with a map. */
export interface ModelEdge {
  /** Program name. */
  program: string;
  /** Map name. */
  map: string;
  /** Kinds: Lookup, Update, Delete first (those present), then the others in first-seen order. */
  kinds: string[];
  /** The kinds joined with `+`, e.g. `Lookup+Delete`. */
  label: string;
}

/** One message of the sequence diagram: the first place a program does one kind of thing to a map. */
export interface ModelMessage {
  /** Program name. */
  program: string;
  /** Map name. */
  map: string;
  /** Interaction kind. */
  kind: string;
  /** Instruction index of the first occurrence. */
  insnIndex: number;
}

/** What the renderers draw. */
export interface InteractionModel {
  /** Whether detailed analysis produced it. */
  detailed: boolean;
  /** Programs, sorted by name. */
  programs: ModelProgram[];
  /** Maps shown, sorted by name (global-data sections only in detailed mode). */
  maps: AnalyzedMap[];
  /**
   * Names of every map node, sorted: the shown maps plus any map an interaction names that the input did
   * not describe.
   */
  mapNames: string[];
  /** Every interaction, grouped by program in name order, each group in instruction order. */
  interactions: Interaction[];
  /** Flowchart arrows, grouped by program in name order; within a program, maps in first-use order. */
  edges: ModelEdge[];
  /** Sequence messages, grouped by program in name order; within a program, in instruction order. */
  messages: ModelMessage[];
  /** Maps in the order of their first message: the sequence diagram's map participants. */
  mapParticipants: string[];
}

/** Input of {@link buildModel}. */
export interface ModelInput {
  /** Every program of the object, linked. */
  programs: readonly AnalyzedProgram[];
  /** Every map of the object (global-data maps included; the model decides what to show). */
  maps: readonly AnalyzedMap[];
}

/** Options of {@link buildModel}. */
export interface ModelOptions {
  /** Record every map-taking helper and global-data access, not just what `ig image inspect` shows. */
  detailed: boolean;
}

/** The kinds that merge into one label in this order before every other kind. */
const LEADING_KINDS = ['Lookup', 'Update', 'Delete'];

/** Plain code-unit order, the same for every locale. */
export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Order a program–map pair's kinds for a label: Lookup, Update, Delete (those present), then the rest in
 * the order given (first seen).
 */
export function orderKinds(kindsInFirstSeenOrder: readonly string[]): string[] {
  const unique = [...new Set(kindsInFirstSeenOrder)];
  return [...LEADING_KINDS.filter((k) => unique.includes(k)), ...unique.filter((k) => !LEADING_KINDS.includes(k))];
}

/** One message per (program, map, kind): its first instruction, ordered by instruction index. */
export function sequenceMessages(interactions: readonly Interaction[]): ModelMessage[] {
  const sorted = [...interactions].sort(
    (a, b) => compareNames(a.program, b.program) || a.insnIndex - b.insnIndex || compareNames(a.map, b.map) || compareNames(a.kind, b.kind),
  );
  const seen = new Set<string>();
  const out: ModelMessage[] = [];
  for (const i of sorted) {
    const key = `${i.program}\0${i.map}\0${i.kind}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ program: i.program, map: i.map, kind: i.kind, insnIndex: i.insnIndex });
  }
  return out;
}

/** Flowchart edges from sequence messages: one per (program, map), maps in first-message order. */
export function combineEdges(messages: readonly ModelMessage[]): ModelEdge[] {
  const byPair = new Map<string, { program: string; map: string; kinds: string[] }>();
  for (const m of messages) {
    const key = `${m.program}\0${m.map}`;
    let e = byPair.get(key);
    if (!e) {
      e = { program: m.program, map: m.map, kinds: [] };
      byPair.set(key, e);
    }
    e.kinds.push(m.kind);
  }
  return [...byPair.values()].map((e) => {
    const kinds = orderKinds(e.kinds);
    return { program: e.program, map: e.map, kinds, label: kinds.join('+') };
  });
}

/**
 * Analyse every program and combine the results. Global-data maps (`.data`, `.bss`, `.rodata*`,
 * `.kconfig`) appear only in detailed mode; in the default mode they are hidden, as `ig image inspect`
 * hides `.rodata` and `.bss`.
 */
export function buildModel(input: ModelInput, options: ModelOptions): InteractionModel {
  const visible = (name: string): boolean => options.detailed || !isGlobalDataMapName(name);
  const programs = [...input.programs].sort((a, b) => compareNames(a.name, b.name));
  const interactions = programs.flatMap((p) => analyzeProgram(p, { detailed: options.detailed })).filter((i) => visible(i.map));
  const messages = sequenceMessages(interactions);
  const maps = input.maps.filter((m) => visible(m.name)).sort((a, b) => compareNames(a.name, b.name));
  const mapNames = [...new Set([...maps.map((m) => m.name), ...interactions.map((i) => i.map)])].sort(compareNames);
  return {
    detailed: options.detailed,
    programs: programs.map((p) => {
      const out: ModelProgram = { name: p.name, sectionName: p.sectionName, insnCount: p.insns.length };
      if (p.type !== undefined) out.type = p.type;
      if (p.attachTarget !== undefined) out.attachTarget = p.attachTarget;
      return out;
    }),
    maps,
    mapNames,
    interactions,
    edges: combineEdges(messages),
    messages,
    mapParticipants: [...new Set(messages.map((m) => m.map))],
  };
}
