import { describe, expect, it } from 'vitest';
import { asm } from '../../src/asm/index.js';
import type { AnalyzedMap, AnalyzedProgram } from '../../src/inspect/analyze.js';
import { renderJson, toInspectDocument } from '../../src/inspect/json.js';
import { mermaidIds, renderFlowchart, renderMermaidMarkdown, renderSequence } from '../../src/inspect/mermaid.js';
import { buildModel, orderKinds } from '../../src/inspect/model.js';
import { renderDeveloperNotes } from '../../src/inspect/notes.js';
import { renderSummary } from '../../src/inspect/summary.js';
import type { BPF_FUNC } from '../../src/sys/constants.js';
import { call, ldMap, ldValue, program, type Part } from './asm.js';
import { SEED_FLOWCHART, SEED_SEQUENCE } from './seed.js';

type Access = [map: string, helper: keyof typeof BPF_FUNC];

/** A program performing `accesses` in order, each as `r1/r2 = &map; call helper`. */
function accessProgram(name: string, accesses: Access[], extra: Part[] = []): AnalyzedProgram {
  const parts: Part[] = [...extra];
  for (const [map, helper] of accesses) parts.push(ldMap(helper === 'perf_event_output' || helper === 'get_stackid' ? 2 : 1, map), call(helper));
  parts.push(asm.movImm(0, 0), asm.exit());
  return program(name, parts);
}

const hash = (name: string): AnalyzedMap => ({ name, type: 'hash', keySize: 8, valueSize: 8, maxEntries: 1024 });

/** Programs with the interactions of Inspektor Gadget's trace_capabilities developer notes. */
function traceCapabilitiesLike(): { programs: AnalyzedProgram[]; maps: AnalyzedMap[] } {
  const programs = [
    accessProgram('ig_trace_cap_x', [
      ['start', 'map_lookup_elem'],
      ['gadget_heap', 'map_lookup_elem'],
      ['current_syscall', 'map_lookup_elem'],
      ['ig_kstack', 'get_stackid'],
      ['events', 'perf_event_output'],
      ['start', 'map_delete_elem'],
    ]),
    accessProgram('ig_cap_sys_enter', [
      ['gadget_mntns_filter_map', 'map_lookup_elem'],
      ['current_syscall', 'map_update_elem'],
    ]),
    accessProgram('ig_trace_cap_e', [
      ['gadget_mntns_filter_map', 'map_lookup_elem'],
      ['seen', 'map_lookup_elem'],
      ['seen', 'map_update_elem'],
      ['start', 'map_update_elem'],
      ['seen', 'map_lookup_elem'],
    ], [ldValue(3, '.rodata'), asm.ldxMem(4, 3, 3, 0)]),
    accessProgram('ig_cap_sched_exec', [['current_syscall', 'map_delete_elem']]),
    accessProgram('ig_cap_sys_exit', [['current_syscall', 'map_delete_elem']]),
    accessProgram('ig_cap_sched_exit', [['current_syscall', 'map_delete_elem']]),
  ];
  const maps = ['start', 'seen', 'current_syscall', 'gadget_heap', 'gadget_mntns_filter_map', 'events', 'ig_kstack', 'ig_ustack', '.rodata', '.bss'].map(hash);
  return { programs, maps };
}

describe('model', () => {
  it('orders kinds Lookup, Update, Delete, then the rest as first seen', () => {
    expect(orderKinds(['Delete', 'Lookup'])).toEqual(['Lookup', 'Delete']);
    expect(orderKinds(['Push', 'Delete', 'EventOutput', 'Update', 'Lookup', 'Push'])).toEqual(['Lookup', 'Update', 'Delete', 'Push', 'EventOutput']);
  });

  it('combines one edge per program and map, and one message per kind in instruction order', () => {
    const m = buildModel(traceCapabilitiesLike(), { detailed: false });
    expect(m.programs.map((p) => p.name)).toEqual(['ig_cap_sched_exec', 'ig_cap_sched_exit', 'ig_cap_sys_enter', 'ig_cap_sys_exit', 'ig_trace_cap_e', 'ig_trace_cap_x']);
    expect(m.edges.filter((e) => e.program === 'ig_trace_cap_e').map((e) => `${e.map}:${e.label}`)).toEqual([
      'gadget_mntns_filter_map:Lookup',
      'seen:Lookup+Update',
      'start:Update',
    ]);
    expect(m.messages.filter((e) => e.program === 'ig_trace_cap_x').map((e) => `${e.map}:${e.kind}`)).toEqual([
      'start:Lookup',
      'gadget_heap:Lookup',
      'current_syscall:Lookup',
      'events:EventOutput',
      'start:Delete',
    ]);
    expect(m.mapParticipants).toEqual(['current_syscall', 'gadget_mntns_filter_map', 'seen', 'start', 'gadget_heap', 'events']);
    expect(m.maps.map((x) => x.name)).not.toContain('.rodata');
  });

  it('shows global data and every map helper in detailed mode', () => {
    const m = buildModel(traceCapabilitiesLike(), { detailed: true });
    expect(m.mapNames).toContain('.rodata');
    expect(m.edges.map((e) => `${e.program}:${e.map}:${e.label}`)).toEqual(
      expect.arrayContaining(['ig_trace_cap_x:ig_kstack:GetStackid', 'ig_trace_cap_e:.rodata:Read']),
    );
  });
});

describe('mermaid', () => {
  it('renders the flowchart byte for byte like the trace_capabilities notes', () => {
    expect(renderFlowchart(buildModel(traceCapabilitiesLike(), { detailed: false }))).toBe(SEED_FLOWCHART);
  });

  it('renders the sequence diagram byte for byte like the trace_capabilities notes', () => {
    expect(renderSequence(buildModel(traceCapabilitiesLike(), { detailed: false }))).toBe(SEED_SEQUENCE);
  });

  it('renders a small case exactly', () => {
    const model = buildModel(
      {
        programs: [accessProgram('b_prog', [['m1', 'map_update_elem']]), accessProgram('a_prog', [['m2', 'map_delete_elem'], ['m1', 'map_lookup_elem'], ['m2', 'map_lookup_elem']])],
        maps: [hash('m2'), hash('m1'), hash('unused')],
      },
      { detailed: false },
    );
    expect(renderFlowchart(model)).toBe(
      [
        'flowchart LR',
        'm1[("m1")]',
        'm2[("m2")]',
        'unused[("unused")]',
        'a_prog -- "Lookup+Delete" --> m2',
        'a_prog -- "Lookup" --> m1',
        'a_prog["a_prog"]',
        'b_prog -- "Update" --> m1',
        'b_prog["b_prog"]',
        '',
      ].join('\n'),
    );
    expect(renderSequence(model)).toBe(
      [
        'sequenceDiagram',
        'box eBPF Programs',
        'participant a_prog',
        'participant b_prog',
        'end',
        'box eBPF Maps',
        'participant m2',
        'participant m1',
        'end',
        'a_prog->>m2: Delete',
        'a_prog->>m1: Lookup',
        'a_prog->>m2: Lookup',
        'b_prog->>m1: Update',
        '',
      ].join('\n'),
    );
    expect(renderMermaidMarkdown(model)).toBe(`### Flowchart\n\n\`\`\`mermaid\n${renderFlowchart(model)}\`\`\`\n\n### Sequence Diagram\n\n\`\`\`mermaid\n${renderSequence(model)}\`\`\`\n`);
  });

  it('sanitizes ids that are not plain identifiers, are keywords, or clash', () => {
    const ids = mermaidIds(['end', 'events', 'x'], ['.data', 'events', 'my-map', '1st', 'x']);
    expect(Object.fromEntries(ids.maps)).toEqual({ '.data': '_data', events: 'events', 'my-map': 'my_map', '1st': 'n_1st', x: 'x' });
    expect(Object.fromEntries(ids.programs)).toEqual({ end: 'end_', events: 'events_2', x: 'x_2' });

    const model = buildModel({ programs: [accessProgram('end', [['events', 'perf_event_output']]), accessProgram('events', [], [ldValue(1, '.data'), asm.ldxMem(4, 2, 1, 0)])], maps: [hash('events')] }, { detailed: true });
    expect(renderFlowchart(model)).toBe(
      ['flowchart LR', '_data[(".data")]', 'events[("events")]', 'end_ -- "EventOutput" --> events', 'end_["end"]', 'events_2 -- "Read" --> _data', 'events_2["events"]', ''].join('\n'),
    );
    expect(renderSequence(model)).toBe(
      ['sequenceDiagram', 'box eBPF Programs', 'participant end_ as end', 'participant events_2 as events', 'end', 'box eBPF Maps', 'participant events', 'participant _data as .data', 'end', 'end_->>events: EventOutput', 'events_2->>_data: Read', ''].join(
        '\n',
      ),
    );
  });

  it('keeps large objects readable: stable order, one edge per pair, unique ids', () => {
    const programs: AnalyzedProgram[] = [];
    const maps: AnalyzedMap[] = [];
    for (let i = 0; i < 25; i++) maps.push(hash(`map_${String(i).padStart(2, '0')}`));
    for (let p = 0; p < 24; p++) {
      const accesses: Access[] = [];
      for (let k = 0; k < 6; k++) {
        const map = `map_${String((p * 7 + k * 3) % 25).padStart(2, '0')}`;
        accesses.push([map, 'map_lookup_elem'], [map, k % 2 ? 'map_update_elem' : 'map_delete_elem'], [map, 'map_lookup_elem']);
      }
      programs.push(accessProgram(`prog_${23 - p}`, accesses));
    }
    const a = renderFlowchart(buildModel({ programs, maps }, { detailed: false }));
    const b = renderFlowchart(buildModel({ programs: [...programs].reverse(), maps: [...maps].reverse() }, { detailed: false }));
    expect(a).toBe(b);
    const edgeLines = a.split('\n').filter((l) => l.includes('-->'));
    expect(new Set(edgeLines.map((l) => l.replace(/ -- ".*" --> /, '|'))).size).toBe(edgeLines.length);
    expect(edgeLines.length).toBe(24 * 6);
    expect(edgeLines.every((l) => /^prog_\d+ -- "(Lookup\+Update|Lookup\+Delete)" --> map_\d\d$/.test(l))).toBe(true);
    const seq = renderSequence(buildModel({ programs, maps }, { detailed: false }));
    expect(seq.split('\n').filter((l) => l.includes('->>')).length).toBe(24 * 12);
  });
});

describe('json, summary, notes', () => {
  const model = buildModel(traceCapabilitiesLike(), { detailed: false });

  it('writes a versioned JSON document that round-trips', () => {
    const doc = JSON.parse(renderJson(model)) as ReturnType<typeof toInspectDocument>;
    expect(doc).toEqual(toInspectDocument(model));
    expect(doc.version).toBe(1);
    expect(doc.edges).toContainEqual({ program: 'ig_trace_cap_x', map: 'start', kinds: ['Lookup', 'Delete'], label: 'Lookup+Delete' });
    expect(doc.interactions).toContainEqual({ program: 'ig_trace_cap_x', map: 'events', kind: 'EventOutput', insnIndex: 14, helper: 'perf_event_output' });
    expect(doc.maps.map((m) => m.name)).toEqual(['current_syscall', 'events', 'gadget_heap', 'gadget_mntns_filter_map', 'ig_kstack', 'ig_ustack', 'seen', 'start']);
  });

  it('summarises programs, maps, interactions, parameters and tracers', () => {
    const text = renderSummary(model, {
      objectPath: 'x.bpf.o',
      parameters: [{ name: 'unique', type: 'bool', defaultValue: 'false', description: 'dedupe' }],
      tracers: [{ name: 'capabilities', map: 'events', structName: 'cap_event' }],
    });
    expect(text).toContain('Object: x.bpf.o\n');
    expect(text).toContain('Programs (6):\n  NAME               SECTION                 TYPE  ATTACH TARGET  INSNS\n');
    expect(text).toMatch(/\n {2}ig_trace_cap_x +test\/ig_trace_cap_x +- +- +\d+\n/);
    expect(text).toMatch(/\n {2}start +hash +8 +8 +1024\n/);
    expect(text).toMatch(/\n {2}ig_trace_cap_x +start +Lookup\+Delete\n/);
    expect(text).toContain('maps with no interaction found (detailed analysis may find more): ig_kstack, ig_ustack');
    expect(text).toMatch(/Parameters \(1\):\n {2}NAME +TYPE +DEFAULT +DESCRIPTION\n {2}unique +bool +false +dedupe\n/);
    expect(text).toMatch(/Tracers \(1\):\n {2}NAME +MAP +EVENT STRUCT\n {2}capabilities +events +cap_event\n$/);
    expect(renderSummary(model)).not.toContain('Parameters');
  });

  it('writes developer notes with both diagrams fenced', () => {
    const notes = renderDeveloperNotes(model, { gadgetName: 'trace_capabilities' });
    expect(notes.startsWith('# Developer Notes\n')).toBe(true);
    expect(notes).toContain('## Program-Map interactions\n');
    expect(notes).toContain(`### Flowchart\n\nOne arrow per program and map; its label lists everything the program does to that map.\n\n\`\`\`mermaid\n${SEED_FLOWCHART}\`\`\`\n`);
    expect(notes).toContain(`\`\`\`mermaid\n${SEED_SEQUENCE}\`\`\`\n`);
    expect(notes).toContain('`trace_capabilities`');
    expect(notes).toMatch(/\n### Labels\n\nWhat the words on the arrows stand for:\n\n- \*\*Lookup\*\*: reads an element \(`bpf_map_lookup_elem`\)\n- \*\*Update\*\*: .*\n- \*\*Delete\*\*: removes an element \(`bpf_map_delete_elem`\)\n/);
    expect(notes).toContain('- **EventOutput**: sends a record to user space');
    expect(notes.endsWith('\n')).toBe(true);
    expect(notes).not.toContain('GetStackid');
    expect(renderDeveloperNotes(buildModel(traceCapabilitiesLike(), { detailed: true }))).toContain('- **GetStackid**: records the current stack trace');
  });
});
