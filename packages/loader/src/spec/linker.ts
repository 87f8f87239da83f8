/**
 * bpf-to-bpf linking: build one program's final instruction stream by appending every subprogram
 * it reaches (from `.text` or its own section), fixing call offsets, and carrying each code
 * section's relocations, func_info, line_info and CO-RE records over to the new instruction indexes.
 * Pure and kernel-independent: `Collection.load` then resolves the references, and `inspect` reads
 * the same result.
 */
import { Insns } from '../asm/instruction.js';
import type { BtfCoreRelo, BtfFuncInfo, BtfLineInfo } from '../btf/ext.js';
import { BPF_PSEUDO, BPF_PSEUDO_CALL, CALL, INSN_SIZE, LD_IMM64 } from '../asm/opcodes.js';
import type { CollectionSpec } from './collection.js';
import { SpecError } from './error.js';
import type { CodeSection, FunctionSymbol, ProgramSpec } from './program.js';
import type { Reference, SectionRelocation } from './relocation.js';

/** A function copied into the linked stream. */
export interface LinkedFunction {
  name: string;
  section: CodeSection;
  fn: FunctionSymbol;
  /** Index of its first instruction in the linked stream. */
  start: number;
}

/** func_info record, its instruction index rebased to the linked stream. */
export type LinkedFuncInfo = BtfFuncInfo;
/** line_info record, its instruction index rebased to the linked stream. */
export type LinkedLineInfo = BtfLineInfo;
/** CO-RE relocation record, its instruction index rebased to the linked stream. */
export type LinkedCoreRelo = BtfCoreRelo;

/** The result of linking one program. */
export interface LinkedProgram {
  program: ProgramSpec;
  /** A fresh, mutable copy of the final instruction stream. */
  insns: Insns;
  /** Functions in stream order; the program itself first. */
  functions: LinkedFunction[];
  /** Unresolved references (maps, data, kconfig, ksyms, kfuncs) by linked instruction index. */
  references: Map<number, Reference>;
  funcInfo: LinkedFuncInfo[];
  lineInfo: LinkedLineInfo[];
  coreRelos: LinkedCoreRelo[];
}

/** Link `program` with the subprograms it calls. */
export function linkProgram(spec: CollectionSpec, program: ProgramSpec): LinkedProgram {
  const functions: LinkedFunction[] = [{ name: program.name, section: program.section, fn: program.fn, start: 0 }];
  const placed = new Map<string, LinkedFunction>([[key(program.section, program.fn), functions[0]]]);
  let length = program.fn.end - program.fn.start;
  const where = (section: CodeSection, i: number): string => `${spec.source}: program ${program.name}, section ${section.name}, instruction ${i}`;

  const place = (section: CodeSection, target: number, at: string): { fn: LinkedFunction; offset: number } => {
    const fn = section.functions.find((f) => target >= f.start && target < f.end);
    if (!fn) throw new SpecError('BAD_CALL', `${at}: call target ${target} of ${section.name} is not inside a function`);
    const k = key(section, fn);
    let linked = placed.get(k);
    if (!linked) {
      linked = { name: fn.name, section, fn, start: length };
      placed.set(k, linked);
      functions.push(linked);
      length += fn.end - fn.start;
    }
    return { fn: linked, offset: target - fn.start };
  };

  // Discover subprograms breadth-first: each placed function's calls may place more. The scan reads
  // opcode bytes directly and consults the relocations only at calls and ld_imm64 (the only
  // instructions a call relocation can sit on): it runs once per instruction, cold.
  const callTargets = new Map<number, Map<number, { fn: LinkedFunction; offset: number }>>();
  for (let f = 0; f < functions.length; f++) {
    const { section, fn } = functions[f];
    const relocs = spec.relocations.get(section.index);
    const code = section.insns.bytes;
    let targets = callTargets.get(section.index);
    for (let i = fn.start; i < fn.end; i++) {
      const op = code[i * INSN_SIZE];
      if (op !== CALL && op !== LD_IMM64) continue;
      const rel = relocs?.get(i);
      if (rel?.ref.kind === 'call') {
        const targetSection = spec.codeSections.get(rel.ref.section);
        if (!targetSection) throw new SpecError('BAD_CALL', `${where(section, i)}: call into section ${rel.ref.section}, which holds no code`);
        if (!targets) callTargets.set(section.index, (targets = new Map()));
        targets.set(i, place(targetSection, rel.ref.target, where(section, i)));
      } else if (!rel && op === CALL && code[i * INSN_SIZE + 1] >> 4 === BPF_PSEUDO_CALL) {
        // A call clang resolved itself: relative to this section.
        const target = i + section.insns.imm(i) + 1;
        if (target < 0 || target >= section.insns.length) throw new SpecError('BAD_CALL', `${where(section, i)}: call target ${target} is outside ${section.name}`);
        if (!targets) callTargets.set(section.index, (targets = new Map()));
        targets.set(i, place(section, target, where(section, i)));
      }
      if (op === LD_IMM64) i++;
    }
  }

  const bytes = new Uint8Array(length * INSN_SIZE);
  for (const f of functions) bytes.set(f.section.insns.bytes.subarray(f.fn.start * INSN_SIZE, f.fn.end * INSN_SIZE), f.start * INSN_SIZE);
  const insns = new Insns(bytes);
  const references = new Map<number, Reference>();
  const funcInfo: LinkedFuncInfo[] = [];
  const lineInfo: LinkedLineInfo[] = [];
  const coreRelos: LinkedCoreRelo[] = [];
  const ext = spec.btfExt;

  for (const f of functions) {
    const { section, fn } = f;
    const delta = f.start - fn.start;
    const targets = callTargets.get(section.index);
    if (targets) {
      for (const [i, target] of targets) {
        if (i < fn.start || i >= fn.end) continue;
        const at = i + delta;
        insns.setImm(at, target.fn.start + target.offset - (at + 1));
        if (insns.isLdImm64(at)) {
          insns.setSrc(at, BPF_PSEUDO.FUNC);
          insns.setImm(at + 1, 0);
        }
      }
    }
    // References in instruction order, as the loader reports the first unresolvable one.
    const relocs = spec.relocations.get(section.index);
    if (relocs) {
      const inFn: number[] = [];
      for (const [i, rel] of relocs) if (i >= fn.start && i < fn.end && rel.ref.kind !== 'call') inFn.push(i);
      inFn.sort((a, b) => a - b);
      for (const i of inFn) references.set(i + delta, (relocs.get(i) as SectionRelocation).ref);
    }
    if (ext) {
      for (const r of ext.funcInfo.get(section.name) ?? []) {
        if (r.insnIndex >= fn.start && r.insnIndex < fn.end) funcInfo.push({ insnIndex: r.insnIndex + delta, typeId: r.typeId });
      }
      for (const r of ext.lineInfo.get(section.name) ?? []) {
        if (r.insnIndex >= fn.start && r.insnIndex < fn.end) lineInfo.push({ ...r, insnIndex: r.insnIndex + delta });
      }
      for (const r of ext.coreRelos.get(section.name) ?? []) {
        if (r.insnIndex >= fn.start && r.insnIndex < fn.end) coreRelos.push({ ...r, insnIndex: r.insnIndex + delta });
      }
    }
  }
  funcInfo.sort((a, b) => a.insnIndex - b.insnIndex);
  lineInfo.sort((a, b) => a.insnIndex - b.insnIndex);
  return { program, insns, functions, references, funcInfo, lineInfo, coreRelos };
}

function key(section: CodeSection, fn: FunctionSymbol): string {
  return `${section.index}:${fn.start}`;
}
