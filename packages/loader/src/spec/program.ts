/**
 * ProgramSpec: one program as the object declares it — its section, type, attach target and the
 * location of its instructions — editable before load (`autoload`, `type`, `attachTarget`, …).
 * The final instruction stream (subprograms appended, relocations applied) is produced at load by
 * `linkProgram()`; nothing here depends on the kernel.
 */
import { Insns } from '../asm/instruction.js';
import { attachTypeName, progTypeName } from '../sys/constants.js';
import type { AttachKind } from './section.js';

/** A function symbol inside a code section. */
export interface FunctionSymbol {
  name: string;
  /** First instruction index inside the section. */
  start: number;
  /** One past the last instruction index. */
  end: number;
  /** Global (a program in a program section) or local. */
  global: boolean;
}

/** A code section of the object with its instructions and functions. */
export interface CodeSection {
  /** ELF section index. */
  index: number;
  name: string;
  /** The section's instructions, a view over the object bytes: never patched. */
  insns: Insns;
  /** Functions it contains, sorted by start. */
  functions: FunctionSymbol[];
}

/** A program, before load. */
export class ProgramSpec {
  /** Function name (also the kernel program name, truncated to 15 characters at load). */
  readonly name: string;
  /** ELF section it came from (`kprobe/cap_capable`). */
  readonly sectionName: string;
  /** `BPF_PROG_TYPE_*`; editable before load. */
  type: number;
  /** `BPF_*` expected attach type; editable before load. */
  expectedAttachType: number;
  /** Function, tracepoint (`category/name`) or hook the program attaches to. */
  attachTarget: string | undefined;
  /** How auto-attach treats it. */
  attachKind: AttachKind;
  /** Load with BPF_F_SLEEPABLE. */
  sleepable: boolean;
  /** The kernel must resolve `attachTarget` to a BTF id at load (tp_btf, fentry, lsm, …). */
  needsBtfTarget: boolean;
  /** Extra `BPF_F_*` program flags. */
  flags: number;
  /** License string of the object. */
  license: string;
  /** `version` section value (only old kprobe loaders use it). */
  kernelVersion: number;
  /** Load this program (like libbpf's `set_autoload`); false excludes it from `Collection.load`. */
  autoload: boolean;
  /** The code section holding it. */
  readonly section: CodeSection;
  /** Its function inside the section. */
  readonly fn: FunctionSymbol;

  constructor(init: {
    name: string;
    sectionName: string;
    type: number;
    expectedAttachType: number;
    attachTarget: string | undefined;
    attachKind: AttachKind;
    sleepable: boolean;
    needsBtfTarget: boolean;
    license: string;
    kernelVersion: number;
    section: CodeSection;
    fn: FunctionSymbol;
  }) {
    this.name = init.name;
    this.sectionName = init.sectionName;
    this.type = init.type;
    this.expectedAttachType = init.expectedAttachType;
    this.attachTarget = init.attachTarget;
    this.attachKind = init.attachKind;
    this.sleepable = init.sleepable;
    this.needsBtfTarget = init.needsBtfTarget;
    this.flags = 0;
    this.license = init.license;
    this.kernelVersion = init.kernelVersion;
    this.autoload = true;
    this.section = init.section;
    this.fn = init.fn;
  }

  /** The program's own instructions (no subprograms), a view. */
  get instructions(): Insns {
    return new Insns(this.section.insns.bytes.subarray(this.fn.start * 8, this.fn.end * 8));
  }

  /** Human name of the program type (`kprobe`, `tracing`, …). */
  get typeName(): string {
    return progTypeName(this.type) ?? `type ${this.type}`;
  }

  /** Human name of the expected attach type, or '' when none. */
  get attachTypeName(): string {
    return this.expectedAttachType ? (attachTypeName(this.expectedAttachType) ?? `attach type ${this.expectedAttachType}`) : "";
  }
}
