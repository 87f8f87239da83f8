/**
 * The analysis against real clang output: bpf/testdata/inspect.bpf.o (known interactions) and the
 * trace_capabilities gadget (must reproduce Inspektor Gadget's developer-notes diagrams).
 */
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BPF_CLASS, BPF_MODE, BPF_SIZE } from '../../src/asm/opcodes.js';
import { analyzeProgram } from '../../src/inspect/analyze.js';
import { mermaidIds, renderFlowchart, renderSequence } from '../../src/inspect/mermaid.js';
import { buildModel } from '../../src/inspect/model.js';
import { analysisInput, analyzedProgram, inspectCollection } from '../../src/inspect/spec.js';
import { CollectionSpec } from '../../src/spec/collection.js';
import { BPF_FUNC } from '../../src/sys/constants.js';
import { allObjects, gadgetObjectPath, testdataPath } from '../testdata.js';
import { SEED_FLOWCHART, SEED_SEQUENCE } from './seed.js';

const spec = CollectionSpec.fromFile(testdataPath('inspect.bpf.o'));

function edges(detailed: boolean): string[] {
  return inspectCollection(spec, { detailed }).edges.map((e) => `${e.program} ${e.map} ${e.label}`);
}

describe('inspect.bpf.o', () => {
  it('finds the default (Inspektor Gadget) interactions', () => {
    expect(edges(false)).toEqual([
      'callback_user counts Delete',
      'other_caller pending Lookup+Update',
      'spill_reload counts Lookup',
      'spill_reload pending Delete',
      'tail_and_globals queue Push',
      'via_subprog perf_events EventOutput',
      'via_subprog counts Lookup+Update',
    ]);
  });

  it('finds every map helper and global-data access in detailed mode', () => {
    expect(edges(true)).toEqual([
      'callback_user counts Delete+ForEachElem',
      'other_caller ring RingbufReserve',
      'other_caller stacks GetStackid',
      'other_caller pending Lookup+Update',
      'spill_reload counts Lookup',
      'spill_reload pending Delete',
      'tail_and_globals .rodata Read',
      'tail_and_globals .bss Read+Write',
      'tail_and_globals queue Push',
      'tail_and_globals jump_table TailCall',
      'via_subprog perf_events EventOutput',
      'via_subprog counts Lookup+Update',
    ]);
  });

  it('really passes the map through a subprogram argument (helpers live in the appended subprogram)', () => {
    for (const [name, map] of [['via_subprog', 'counts'], ['other_caller', 'pending']] as const) {
      const p = analyzedProgram(spec, spec.program(name));
      const ownLength = spec.program(name).instructions.length;
      const lookups = analyzeProgram(p, { detailed: false }).filter((i) => i.kind === 'Lookup');
      expect(lookups).toHaveLength(1);
      expect(lookups[0].map).toBe(map);
      expect(lookups[0].insnIndex).toBeGreaterThanOrEqual(ownLength);
      // The subprogram itself never loads a map: only r1 carries it there.
      expect([...p.mapReferences.keys()].every((i) => i < ownLength)).toBe(true);
    }
  });

  it('really spills the map pointer to the stack and reloads it for the delete', () => {
    const p = analyzedProgram(spec, spec.program('spill_reload'));
    const { insns } = p;
    const load = [...p.mapReferences].find(([, m]) => m === 'pending');
    expect(load).toBeDefined();
    const [ldIndex] = load as [number, string];
    const reg = insns.dst(ldIndex);
    const stxDw = BPF_CLASS.STX | BPF_MODE.MEM | BPF_SIZE.DW;
    const ldxDw = BPF_CLASS.LDX | BPF_MODE.MEM | BPF_SIZE.DW;
    let spillOffset: number | undefined;
    for (let i = ldIndex + 2; i < insns.length && spillOffset === undefined; i++) {
      if (insns.opcode(i) === stxDw && insns.dst(i) === 10 && insns.src(i) === reg) spillOffset = insns.offset(i);
    }
    expect(spillOffset).toBeDefined();
    const del = analyzeProgram(p, { detailed: false }).find((i) => i.kind === 'Delete');
    expect(del?.map).toBe('pending');
    const delIndex = del?.insnIndex ?? -1;
    expect(insns.imm(delIndex)).toBe(BPF_FUNC.map_delete_elem);
    // r1 of the delete comes from that stack slot, and another map was in r1 in between.
    const fills = [];
    for (let i = ldIndex; i < delIndex; i++) if (insns.opcode(i) === ldxDw && insns.dst(i) === 1 && insns.src(i) === 10 && insns.offset(i) === spillOffset) fills.push(i);
    expect(fills.length).toBeGreaterThan(0);
    expect([...p.mapReferences].some(([i, m]) => m === 'counts' && i > ldIndex && i < delIndex)).toBe(true);
  });
});

const gadget = gadgetObjectPath('trace_capabilities.bpf.o');

describe.skipIf(!existsSync(gadget))('trace_capabilities gadget', () => {
  it('reproduces the developer-notes diagrams of Inspektor Gadget byte for byte', () => {
    const model = buildModel(analysisInput(CollectionSpec.fromFile(gadget)), { detailed: false });
    expect(renderFlowchart(model)).toBe(SEED_FLOWCHART);
    expect(renderSequence(model)).toBe(SEED_SEQUENCE);
  });

  it('shows the stack maps once detailed analysis records get_stackid', () => {
    const model = buildModel(analysisInput(CollectionSpec.fromFile(gadget)), { detailed: true });
    const stackEdges = model.edges.filter((e) => e.map === 'ig_kstack' || e.map === 'ig_ustack');
    expect(stackEdges.length).toBeGreaterThan(0);
    expect(stackEdges.every((e) => e.kinds.includes('GetStackid'))).toBe(true);
  });
});

describe('every committed object', () => {
  for (const path of allObjects()) {
    it(`analyses ${path.split('/bpf/')[1]} in both modes with readable diagrams`, () => {
      let parsed: CollectionSpec;
      try {
        parsed = CollectionSpec.fromFile(path);
      } catch (e) {
        console.warn(`skipping ${path}: the object does not parse (${String(e)})`);
        return;
      }
      for (const detailed of [false, true]) {
        const model = buildModel(analysisInput(parsed), { detailed });
        const pairs = model.edges.map((e) => `${e.program}\0${e.map}`);
        expect(new Set(pairs).size).toBe(pairs.length);
        expect(model.mapNames).toEqual([...model.mapNames].sort());
        const ids = mermaidIds(model.programs.map((p) => p.name), model.mapNames);
        const all = [...ids.programs.values(), ...ids.maps.values()];
        expect(new Set(all).size).toBe(all.length);
        const flow = renderFlowchart(model);
        for (const p of model.programs) expect(flow).toContain(`${ids.programs.get(p.name)}["${p.name}"]\n`);
        expect(renderSequence(model).split('\n').filter((l) => l.includes('->>'))).toHaveLength(model.messages.length);
      }
    });
  }
});
