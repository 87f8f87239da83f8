/**
 * A complete DEVELOPER_NOTES.md for a gadget: short prose around the two interaction diagrams.
 */
import { renderFlowchart, renderSequence } from './mermaid.js';
import { orderKinds, type InteractionModel } from './model.js';

/** What each interaction kind means, in one phrase. */
const KIND_MEANINGS: Readonly<Record<string, string>> = {
  Lookup: 'reads an element (`bpf_map_lookup_elem`)',
  Update: 'creates or replaces an element (`bpf_map_update_elem`)',
  Delete: 'removes an element (`bpf_map_delete_elem`)',
  Push: 'pushes onto a queue or stack map (`bpf_map_push_elem`)',
  Pop: 'takes from a queue or stack map (`bpf_map_pop_elem`)',
  Peek: 'looks at the head of a queue or stack map (`bpf_map_peek_elem`)',
  LookupPercpu: "reads another CPU's element (`bpf_map_lookup_percpu_elem`)",
  EventOutput: 'sends a record to user space through a perf event array (`bpf_perf_event_output`)',
  RingbufOutput: 'copies a record into a ring buffer (`bpf_ringbuf_output`)',
  RingbufReserve: 'reserves room for a record in a ring buffer (`bpf_ringbuf_reserve`)',
  RingbufReserveDynptr: 'reserves a ring buffer record as a dynptr (`bpf_ringbuf_reserve_dynptr`)',
  RingbufQuery: 'asks a ring buffer for its state (`bpf_ringbuf_query`)',
  GetStackid: 'records the current stack trace in a stack map (`bpf_get_stackid`)',
  TailCall: 'jumps to a program stored in a program array (`bpf_tail_call`)',
  ForEachElem: 'walks every element with a callback (`bpf_for_each_map_elem`)',
  Read: 'reads a global variable directly',
  Write: 'writes a global variable directly',
};

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
  const kinds = orderKinds(model.messages.map((m) => m.kind));
  if (kinds.length > 0) {
    lines.push('### Labels', '', 'What the words on the arrows stand for:', '');
    for (const k of kinds) {
      const helper = model.interactions.find((i) => i.kind === k && i.helper !== undefined)?.helper;
      lines.push(`- **${k}**: ${KIND_MEANINGS[k] ?? (helper ? `passes the map to \`bpf_${helper}\`` : 'uses the map')}`);
    }
    lines.push('');
  }
  return lines.join('\n');
}
