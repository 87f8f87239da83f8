/**
 * Mermaid renderers of the interaction model, in the layout `ig image inspect` uses for gadget
 * developer notes: a left-to-right flowchart with maps as cylinders, and a sequence diagram with the
 * programs and the maps in two boxes.
 *
 * Names that are plain identifiers are used as node ids unchanged, so ordinary objects render exactly
 * like Inspektor Gadget's output. Anything else (dots, dashes, Mermaid keywords such as `end`, a program
 * and a map sharing a name) gets a sanitized, unique id, and the real name stays visible as the quoted
 * label (flowchart) or the participant alias (sequence diagram).
 */
import type { InteractionModel } from './model.js';

/** Node ids for every program and map of a diagram. */
export interface MermaidIds {
  /** Program name → node id. */
  programs: Map<string, string>;
  /** Map name → node id. */
  maps: Map<string, string>;
}

/** Words Mermaid's flowchart or sequence grammar gives a meaning to; never usable as bare ids. */
const RESERVED = new Set([
  'end', 'graph', 'flowchart', 'subgraph', 'direction', 'style', 'linkstyle', 'classdef', 'class', 'click', 'call', 'href',
  'default', 'sequencediagram', 'participant', 'actor', 'box', 'loop', 'alt', 'else', 'opt', 'par', 'and', 'rect', 'critical',
  'option', 'break', 'note', 'over', 'left', 'right', 'of', 'activate', 'deactivate', 'autonumber', 'title', 'accTitle',
  'accDescr', 'create', 'destroy', 'link', 'links', 'properties', 'details', 'as',
].map((w) => w.toLowerCase()));

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

function baseId(name: string): string {
  if (IDENTIFIER.test(name) && !RESERVED.has(name.toLowerCase())) return name;
  let id = name.replace(/[^A-Za-z0-9_]/g, '_');
  if (id === '' || /^[0-9]/.test(id)) id = `n_${id}`;
  if (RESERVED.has(id.toLowerCase())) id = `${id}_`;
  return id;
}

/**
 * Assign node ids: maps first (sorted), then programs (sorted); a clash gets `_2`, `_3`, … so no two
 * nodes ever share an id.
 */
export function mermaidIds(programNames: readonly string[], mapNames: readonly string[]): MermaidIds {
  const used = new Set<string>();
  const assign = (names: readonly string[]): Map<string, string> => {
    const out = new Map<string, string>();
    for (const name of [...new Set(names)].sort()) {
      const base = baseId(name);
      let id = base;
      for (let n = 2; used.has(id); n++) id = `${base}_${n}`;
      used.add(id);
      out.set(name, id);
    }
    return out;
  };
  const maps = assign(mapNames);
  const programs = assign(programNames);
  return { programs, maps };
}

/** Text safe inside a double-quoted Mermaid label. */
export function mermaidLabel(text: string): string {
  return text.replace(/&/g, '#amp;').replace(/"/g, '#quot;').replace(/[\r\n]+/g, ' ');
}

function idsOf(model: InteractionModel): MermaidIds {
  return mermaidIds(
    model.programs.map((p) => p.name),
    [...model.mapNames, ...model.mapParticipants],
  );
}

function lookup(ids: Map<string, string>, name: string): string {
  return ids.get(name) ?? name;
}

/**
 * The flowchart: one cylinder per map (sorted by name), then per program (sorted by name) its arrows
 * `prog -- "Kinds" --> map` followed by its own node. Ends with a newline.
 */
export function renderFlowchart(model: InteractionModel): string {
  const ids = idsOf(model);
  const lines = ['flowchart LR'];
  for (const name of model.mapNames) lines.push(`${lookup(ids.maps, name)}[("${mermaidLabel(name)}")]`);
  for (const p of model.programs) {
    const pid = lookup(ids.programs, p.name);
    for (const e of model.edges) {
      if (e.program === p.name) lines.push(`${pid} -- "${mermaidLabel(e.label)}" --> ${lookup(ids.maps, e.map)}`);
    }
    lines.push(`${pid}["${mermaidLabel(p.name)}"]`);
  }
  return lines.join('\n') + '\n';
}

function participant(id: string, name: string): string {
  return id === name ? `participant ${id}` : `participant ${id} as ${name.replace(/[;#\r\n]/g, '_')}`;
}

/**
 * The sequence diagram: every program (sorted by name) in the "eBPF Programs" box, the maps in order of
 * their first message in the "eBPF Maps" box, then one message per (program, map, kind) in instruction
 * order. Ends with a newline.
 */
export function renderSequence(model: InteractionModel): string {
  const ids = idsOf(model);
  const lines = ['sequenceDiagram', 'box eBPF Programs'];
  for (const p of model.programs) lines.push(participant(lookup(ids.programs, p.name), p.name));
  lines.push('end', 'box eBPF Maps');
  for (const m of model.mapParticipants) lines.push(participant(lookup(ids.maps, m), m));
  lines.push('end');
  for (const m of model.messages) lines.push(`${lookup(ids.programs, m.program)}->>${lookup(ids.maps, m.map)}: ${m.kind}`);
  return lines.join('\n') + '\n';
}

/** Both diagrams as fenced Markdown blocks under `### Flowchart` and `### Sequence Diagram` headings. */
export function renderMermaidMarkdown(model: InteractionModel): string {
  return ['### Flowchart', '', '```mermaid', renderFlowchart(model) + '```', '', '### Sequence Diagram', '', '```mermaid', renderSequence(model) + '```', ''].join('\n');
}
