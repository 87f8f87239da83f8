import { describe, expect, it } from 'vitest';
import { asm, Insns } from '../../src/asm/index.js';
import { TsbpfError } from '../../src/errors.js';
import { analyzeProgram, MAP_HELPERS } from '../../src/inspect/analyze.js';
import { InspectError } from '../../src/inspect/errors.js';
import { BPF_FUNC } from '../../src/sys/constants.js';
import { brief, call, callRel, jneImm, ldFunc, ldMap, ldValue, mov32Reg, program, type Part } from './asm.js';
import { xorshift32 } from '../support/random.js';

const { movImm, movReg, addImm, exit, stxMem, stMem, ldxMem, jeqImm, ja } = asm;
const ret0 = [movImm(0, 0), exit()];

const run = (parts: Part[], detailed = false): string[] => brief(analyzeProgram(program('p', parts), { detailed }));

function expectInspectError(parts: Part[], code: string, insnIndex: number | undefined): InspectError {
  let caught: unknown;
  try {
    analyzeProgram(program('bad_prog', parts), { detailed: true });
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(InspectError);
  expect(caught).toBeInstanceOf(TsbpfError);
  const err = caught as InspectError;
  expect(err.code).toBe(code);
  expect(err.program).toBe('bad_prog');
  expect(err.insnIndex).toBe(insnIndex);
  expect(err.message).toContain('bad_prog');
  if (insnIndex !== undefined) expect(err.message).toContain(`instruction ${insnIndex}`);
  return err;
}

describe('analyzeProgram: registers', () => {
  it('records the map in r1 at a map_lookup_elem call', () => {
    expect(run([ldMap(1, 'A'), call('map_lookup_elem'), ...ret0])).toEqual(['A:Lookup@2']);
  });

  it('follows register moves', () => {
    expect(run([ldMap(6, 'A'), movReg(1, 6), call('map_update_elem'), ...ret0])).toEqual(['A:Update@3']);
  });

  it('forgets r1-r5 after a helper call but keeps r6-r9', () => {
    const parts = [
      ldMap(1, 'A'), // 0
      ldMap(6, 'B'), // 2
      call('map_lookup_elem'), // 4: A
      call('map_delete_elem'), // 5: r1 clobbered, nothing
      movReg(1, 6), // 6
      call('map_delete_elem'), // 7: B
      ...ret0,
    ];
    expect(run(parts)).toEqual(['A:Lookup@4', 'B:Delete@7']);
  });

  it('forgets a pointer moved through a 32-bit register or combined arithmetically', () => {
    expect(run([ldMap(6, 'A'), mov32Reg(1, 6), call('map_lookup_elem'), ...ret0])).toEqual([]);
    expect(run([ldMap(1, 'A'), addImm(1, 8), call('map_lookup_elem'), ...ret0])).toEqual([]);
    expect(run([ldMap(1, 'A'), movImm(1, 3), call('map_lookup_elem'), ...ret0])).toEqual([]);
  });

  it('takes the map of perf_event_output from r2, not r1', () => {
    expect(run([ldMap(2, 'events'), call('perf_event_output'), ...ret0])).toEqual(['events:EventOutput@2']);
    expect(run([ldMap(1, 'events'), call('perf_event_output'), ...ret0])).toEqual([]);
  });

  it('records every map_*_elem kind Inspektor Gadget knows', () => {
    const names = ['map_lookup_elem', 'map_update_elem', 'map_delete_elem', 'map_push_elem', 'map_pop_elem', 'map_peek_elem', 'map_lookup_percpu_elem'] as const;
    const parts: Part[] = [ldMap(6, 'A')];
    for (const n of names) parts.push(movReg(1, 6), call(n));
    parts.push(...ret0);
    expect(run(parts)).toEqual([
      'A:Lookup@3',
      'A:Update@5',
      'A:Delete@7',
      'A:Push@9',
      'A:Pop@11',
      'A:Peek@13',
      'A:LookupPercpu@15',
    ]);
  });
});

describe('analyzeProgram: stack spills', () => {
  it('follows a spill to r10-8 and a fill after a clobbering call', () => {
    const parts = [
      ldMap(1, 'A'), // 0
      stxMem(8, 10, 1, -8), // 2
      call('ktime_get_ns'), // 3
      ldxMem(8, 1, 10, -8), // 4
      call('map_delete_elem'), // 5
      ...ret0,
    ];
    expect(run(parts)).toEqual(['A:Delete@5']);
  });

  it('follows a spill through a derived stack pointer', () => {
    const parts = [
      ldMap(3, 'A'), // 0
      movReg(2, 10), // 2
      addImm(2, -16), // 3
      stxMem(8, 2, 3, 0), // 4: *(r10-16) = A
      ldxMem(8, 1, 10, -16), // 5
      call('map_lookup_elem'), // 6
      ...ret0,
    ];
    expect(run(parts)).toEqual(['A:Lookup@6']);
  });

  it('loses the slot when a narrower store overwrites part of it', () => {
    const parts = [ldMap(1, 'A'), stxMem(8, 10, 1, -8), stMem(4, 10, -4, 0), ldxMem(8, 1, 10, -8), call('map_lookup_elem'), ...ret0];
    expect(run(parts)).toEqual([]);
  });

  it('keeps the slot when a neighbouring slot is written', () => {
    const parts = [ldMap(1, 'A'), stxMem(8, 10, 1, -8), stMem(8, 10, -16, 0), ldxMem(8, 1, 10, -8), call('map_lookup_elem'), ...ret0];
    expect(run(parts)).toEqual(['A:Lookup@5']);
  });

  it('reads nothing from a slot loaded with a narrower width', () => {
    expect(run([ldMap(1, 'A'), stxMem(8, 10, 1, -8), ldxMem(4, 1, 10, -8), call('map_lookup_elem'), ...ret0])).toEqual([]);
  });
});

describe('analyzeProgram: control flow', () => {
  it('joins the maps of both branches as a set', () => {
    const parts = [
      call('get_current_pid_tgid'), // 0
      jeqImm(0, 0, 3), // 1 -> 5
      ldMap(1, 'A'), // 2
      ja(2), // 4 -> 7
      ldMap(1, 'B'), // 5
      call('map_lookup_elem'), // 7
      ...ret0,
    ];
    expect(run(parts)).toEqual(['A:Lookup@7', 'B:Lookup@7']);
  });

  it('iterates loops to a fixed point (a map arriving over the back edge)', () => {
    const parts = [
      ldMap(6, 'A'), // 0
      movReg(1, 6), // 2  <- loop head
      call('map_lookup_elem'), // 3
      ldMap(6, 'B'), // 4
      jneImm(0, 0, -5), // 6 -> 2
      ...ret0,
    ];
    expect(run(parts)).toEqual(['A:Lookup@3', 'B:Lookup@3']);
  });

  it('ignores unreachable code', () => {
    expect(run([movImm(0, 0), exit(), ldMap(1, 'A'), call('map_lookup_elem'), ...ret0])).toEqual([]);
  });
});

describe('analyzeProgram: subprograms', () => {
  it('follows a helper call inside a subprogram, with the map passed in r1', () => {
    const parts = [
      ldMap(1, 'A'), // 0
      callRel(2), // 2 -> 5
      movImm(0, 0), // 3
      exit(), // 4
      call('map_delete_elem'), // 5 (subprogram)
      exit(), // 6
    ];
    expect(run(parts)).toEqual(['A:Delete@5']);
  });

  it('keeps call sites apart and restores r6-r9 on return', () => {
    const parts = [
      ldMap(6, 'A'), // 0
      ldMap(1, 'B'), // 2
      callRel(7), // 4 -> 12
      ldMap(1, 'C'), // 5
      callRel(4), // 7 -> 12
      movReg(1, 6), // 8
      call('map_update_elem'), // 9: A (r6 survived both calls)
      ...ret0, // 10, 11
      ldMap(6, 'D'), // 12 (subprogram): clobbers its own r6
      call('map_delete_elem'), // 14: whatever r1 the call site passed
      ...ret0,
    ];
    expect(run(parts)).toEqual(['A:Update@9', 'B:Delete@14', 'C:Delete@14']);
  });

  it('follows execution falling through into a subprogram body like any other code', () => {
    expect(run([ldMap(1, 'A'), call('map_lookup_elem'), movImm(0, 0), ldMap(1, 'B'), call('map_delete_elem'), exit()])).toEqual([
      'A:Lookup@2',
      'B:Delete@6',
    ]);
  });

  it('separates the stacks of caller and callee frames', () => {
    const parts = [
      ldMap(1, 'A'), // 0
      stxMem(8, 10, 1, -8), // 2: caller r10-8 = A
      callRel(5), // 3 -> 9
      ldxMem(8, 1, 10, -8), // 4
      call('map_lookup_elem'), // 5: A only
      ...ret0, // 6, 7
      exit(), // 8 (padding, unreachable)
      ldMap(2, 'B'), // 9 (subprogram)
      stxMem(8, 10, 2, -8), // 11: callee r10-8 = B
      ldxMem(8, 1, 10, -8), // 12
      call('map_delete_elem'), // 13: B only
      ...ret0, // 14, 15
    ];
    expect(run(parts)).toEqual(['A:Lookup@5', 'B:Delete@13']);
  });

  it('follows a pointer to the caller stack passed as an argument', () => {
    const parts = [
      ldMap(2, 'A'), // 0
      stxMem(8, 10, 2, -8), // 2
      movReg(1, 10), // 3
      addImm(1, -8), // 4
      callRel(2), // 5 -> 8
      ...ret0, // 6, 7
      ldxMem(8, 1, 1, 0), // 8 (subprogram): r1 = *(u64 *)(r1 + 0)
      call('map_lookup_elem'), // 9
      ...ret0,
    ];
    expect(run(parts)).toEqual(['A:Lookup@9']);
  });

  it('follows nested subprogram calls', () => {
    const parts = [
      ldMap(1, 'A'), // 0
      callRel(2), // 2 -> 5
      movImm(0, 0), // 3
      exit(), // 4
      callRel(1), // 5 (sub1) -> 7
      exit(), // 6
      call('map_peek_elem'), // 7 (sub2)
      exit(), // 8
    ];
    expect(run(parts)).toEqual(['A:Peek@7']);
  });

  it('sees a map pointer a callee stored into the stack of its caller', () => {
    const parts = [
      movReg(1, 10), // 0
      addImm(1, -8), // 1: r1 = &caller slot
      callRel(4), // 2 -> 7
      ldxMem(8, 1, 10, -8), // 3
      call('map_pop_elem'), // 4
      ...ret0, // 5, 6
      ldMap(2, 'Q'), // 7 (subprogram)
      stxMem(8, 1, 2, 0), // 9: *(u64 *)(r1 + 0) = &Q
      ...ret0, // 10, 11
    ];
    expect(run(parts)).toEqual(['Q:Pop@4']);
  });

  it('drops what the callee kept on its own stack once it returns', () => {
    const parts = [
      callRel(4), // 0 -> 5
      movReg(1, 0), // 1: r0 = pointer into the dead callee frame
      ldxMem(8, 1, 1, 0), // 2
      call('map_lookup_elem'), // 3
      exit(), // 4
      ldMap(2, 'A'), // 5 (subprogram)
      stxMem(8, 10, 2, -8), // 7
      movReg(0, 10), // 8
      addImm(0, -8), // 9
      exit(), // 10
    ];
    expect(run(parts)).toEqual([]);
  });

  it('analyses a for_each_map_elem callback with the map in its r1', () => {
    const parts = [
      ldMap(1, 'A'), // 0
      ldFunc(2, 5), // 2 -> 8
      movImm(3, 0), // 4
      movImm(4, 0), // 5
      call('for_each_map_elem'), // 6
      exit(), // 7
      call('map_delete_elem'), // 8 (callback): deletes from r1 = the iterated map
      ...ret0,
    ];
    expect(run(parts)).toEqual(['A:Delete@8']);
    expect(run(parts, true)).toEqual(['A:ForEachElem@6', 'A:Delete@8']);
  });
});

describe('analyzeProgram: detailed mode', () => {
  it('adds every other map-taking helper only when detailed', () => {
    const parts = [
      ldMap(1, 'rb'), // 0
      call('ringbuf_reserve'), // 2
      ldMap(2, 'stacks'), // 3
      call('get_stackid'), // 5
      ldMap(2, 'progs'), // 6
      call('tail_call'), // 8
      ldMap(1, 'rb'), // 9
      call('ringbuf_output'), // 11
      ...ret0,
    ];
    expect(run(parts)).toEqual([]);
    expect(run(parts, true)).toEqual(['rb:RingbufReserve@2', 'stacks:GetStackid@5', 'progs:TailCall@8', 'rb:RingbufOutput@11']);
  });

  it('records reads and writes through global-data pointers', () => {
    const parts = [
      ldValue(1, '.bss'), // 0
      ldxMem(4, 2, 1, 4), // 2: read
      ldValue(3, '.data'), // 3
      addImm(3, 16), // 5
      stxMem(8, 10, 3, -8), // 6: spill the pointer
      ldxMem(8, 4, 10, -8), // 7
      stMem(4, 4, 0, 1), // 8: write through the reloaded pointer
      ldMap(5, '.rodata'), // 9: a plain reference to a data section is a value pointer too
      ldxMem(1, 0, 5, 0), // 11: read
      ...ret0,
    ];
    expect(run(parts)).toEqual([]);
    expect(run(parts, true)).toEqual(['.bss:Read@2', '.data:Write@8', '.rodata:Read@11']);
  });

  it('exposes a table of map helpers keyed by id', () => {
    expect(MAP_HELPERS.get(BPF_FUNC.map_lookup_elem)).toMatchObject({ kind: 'Lookup', mapArg: 1, detailedOnly: false });
    expect(MAP_HELPERS.get(BPF_FUNC.perf_event_output)).toMatchObject({ kind: 'EventOutput', mapArg: 2, detailedOnly: false });
    expect(MAP_HELPERS.get(BPF_FUNC.get_stackid)).toMatchObject({ kind: 'GetStackid', mapArg: 2, detailedOnly: true });
    expect(MAP_HELPERS.get(BPF_FUNC.ktime_get_ns)).toBeUndefined();
  });
});

describe('analyzeProgram: malformed streams', () => {
  it('rejects a jump out of range', () => {
    expectInspectError([movImm(0, 0), ja(5), exit()], 'INSPECT_JUMP_OUT_OF_RANGE', 1);
    expectInspectError([movImm(0, 0), jeqImm(0, 0, -3), exit()], 'INSPECT_JUMP_OUT_OF_RANGE', 1);
  });

  it('rejects a jump into the middle of an ld_imm64', () => {
    expectInspectError([ja(1), ldMap(1, 'A'), ...ret0], 'INSPECT_JUMP_OUT_OF_RANGE', 0);
  });

  it('rejects a truncated ld_imm64', () => {
    const [first] = asm.ldMapFd(1, 0);
    expectInspectError([movImm(0, 0), exit(), first], 'INSPECT_TRUNCATED_LD_IMM64', 2);
    expectInspectError([first, movImm(0, 0), exit()], 'INSPECT_TRUNCATED_LD_IMM64', 0);
  });

  it('rejects a call into nowhere', () => {
    expectInspectError([callRel(10), ...ret0], 'INSPECT_CALL_OUT_OF_RANGE', 0);
    expectInspectError([callRel(-2), ...ret0], 'INSPECT_CALL_OUT_OF_RANGE', 0);
    expectInspectError([ldFunc(2, 40), ...ret0], 'INSPECT_CALL_OUT_OF_RANGE', 0);
  });

  it('rejects execution falling off the end', () => {
    expectInspectError([movImm(0, 0), movImm(1, 0)], 'INSPECT_FALLS_OFF_END', 1);
  });

  it('rejects recursion past the frame limit', () => {
    expectInspectError([callRel(-1), exit()], 'INSPECT_CALL_DEPTH', 0);
  });

  it('rejects an undefined jump opcode', () => {
    expectInspectError([{ opcode: 0x05 | 0xf0, dst: 0, src: 0, offset: 0, imm: 0 }, exit()], 'INSPECT_BAD_OPCODE', 0);
  });

  it('rejects a map reference that is not on an ld_imm64', () => {
    const p = program('bad_prog', [movImm(0, 0), exit()]);
    const bad = { ...p, mapReferences: new Map([[1, 'A']]) };
    expect(() => analyzeProgram(bad, { detailed: false })).toThrow(/bad_prog, instruction 1: reference to map A/);
  });

  it('gives up with a typed error when the step budget runs out', () => {
    expect(() => analyzeProgram(program('p', [ldMap(1, 'A'), call('map_lookup_elem'), ...ret0]), { detailed: false, maxSteps: 2 })).toThrow(
      expect.objectContaining({ code: 'INSPECT_BUDGET' }),
    );
  });

  it('accepts an empty program', () => {
    expect(run([])).toEqual([]);
  });
});

describe('analyzeProgram: arbitrary input', () => {
  const rng = xorshift32;

  it('either returns interactions or throws InspectError, never anything else', () => {
    const ops = [0x18, 0x00, 0x61, 0x79, 0x7b, 0x62, 0x7a, 0xdb, 0xbf, 0xb7, 0x07, 0x0f, 0x1f, 0xbc, 0x05, 0x15, 0x55, 0x06, 0x85, 0x95, 0xe5, 0xf5, 0x16];
    let returned = 0;
    let rejected = 0;
    for (let seed = 1; seed <= 400; seed++) {
      const next = rng(seed);
      const len = 1 + (next() % 40);
      const bytes = new Uint8Array(len * 8);
      const view = new DataView(bytes.buffer);
      const mapReferences = new Map<number, string>();
      for (let i = 0; i < len; i++) {
        const opcode = seed % 5 === 0 ? next() & 0xff : ops[next() % ops.length];
        view.setUint8(i * 8, opcode);
        view.setUint8(i * 8 + 1, next() & 0xff);
        view.setInt16(i * 8 + 2, (next() % 24) - 12, true);
        view.setInt32(i * 8 + 4, opcode === 0x85 ? next() % 8 : (next() % 24) - 12, true);
        if (opcode === 0x18 && next() % 2 === 0) mapReferences.set(i, `m${next() % 3}`);
      }
      if (seed % 2 === 1) view.setUint8((len - 1) * 8, 0x95); // end most streams with exit
      const p = { ...program('fuzz', []), insns: new Insns(bytes), mapReferences };
      try {
        analyzeProgram(p, { detailed: seed % 2 === 0, maxSteps: 200_000 });
        returned++;
      } catch (e) {
        if (!(e instanceof InspectError)) throw new Error(`seed ${seed}: ${String(e)}`);
        rejected++;
      }
    }
    // Both outcomes occur, so the generator exercises the analysis and the validation.
    expect(returned).toBeGreaterThan(10);
    expect(rejected).toBeGreaterThan(10);
  });
});

describe('analyzeProgram: cost', () => {
  it('settles a long chain of branches in a few visits per instruction', () => {
    // 1500 diamonds, each joining two maps and shuffling them through the stack. Visiting nodes in
    // instruction order keeps this linear; depth-first order would revisit the tail at every join.
    const parts: Part[] = [];
    for (let i = 0; i < 1500; i++) {
      parts.push(jeqImm(0, i, 3), ldMap(1, `m${i % 40}`), ja(2), ldMap(1, `m${(i + 1) % 40}`));
      parts.push(stxMem(8, 10, 1, -8 * (1 + (i % 60))), ldxMem(8, 1, 10, -8 * (1 + ((i + 7) % 60))), call('map_lookup_elem'));
    }
    parts.push(...ret0);
    const p = program('long', parts);
    const found = analyzeProgram(p, { detailed: false, maxSteps: 2 * p.insns.length });
    expect(found.length).toBeGreaterThan(1500);
  });
});
