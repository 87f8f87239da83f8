/**
 * A complete DEVELOPER_NOTES.md for a gadget: short prose around the two interaction diagrams.
 */
import { renderFlowchart, renderSequence } from './mermaid.js';
import type { InteractionModel } from './model.js';

/** Options of {@link renderDeveloperNotes}. */
export interface NotesOptions {
  /** Gadget (or object) name, mentioned in the introduction when given. */
  gadgetName?: string;
}

/** The developer notes as Markdown, ending with a newline. */
export function renderDeveloperNotes(model: InteractionModel, options: NotesOptions = {}): string {
  const subject = options.gadgetName ? `the \`${options.gadgetName}\` gadget` : 'this gadget';
  const scope = model.detailed
    ? 'They include every helper that takes a map (ring buffers, stack maps, tail calls, …) and direct reads and writes of global variables.'
    : 'They cover the map element helpers (lookup, update, delete, push, pop, peek) and perf event output; other map uses, such as ring buffer reservations or stack id collection, are left out.';
  const lines = [
    '# Developer Notes',
    '',
    `The README explains what ${subject} reports and how to run it; these notes are for people changing its code. ` +
      'The diagrams below show which eBPF programs use which eBPF maps, and for what, so the flow of data through the gadget can be followed without reading every program first.',
    '',
    '## Program-Map interactions',
    '',
    'Both diagrams are produced from the compiled object by `tsbpf inspect --notes`, which reads the instructions of every program ' +
      '(including the functions it calls) and records the helper calls that receive a map. ' +
      'The reading is static: a call counts as soon as some path through the code reaches it, even if the conditions around it rarely or never hold at run time. ' +
      scope,
    '',
    '### Flowchart',
    '',
    'One arrow per program and map; its label lists everything the program does to that map.',
    '',
    '```mermaid',
    renderFlowchart(model) + '```',
    '',
    '### Sequence Diagram',
    '',
    'One message per program, map and kind of access, in the order the accesses first appear in each program.',
    '',
    '```mermaid',
    renderSequence(model) + '```',
    '',
  ];
  return lines.join('\n');
}
