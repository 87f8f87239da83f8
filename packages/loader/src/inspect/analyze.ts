/**
 * Program–map interaction analysis: which maps a program touches, and how.
 *
 * A forward abstract interpretation over the control-flow graph of one linked program. The abstract
 * value of a register or 8-byte stack slot is the *set* of things it may hold among: a map pointer
 * (from an ld_imm64 map reference), a pointer into a global-data map value (`.data`/`.bss`/`.rodata`),
 * a pointer into some frame's stack, or a subprogram address (callbacks). Everything else is "unknown"
 * (the empty set). Paths meet by set union, loops iterate to a fixed point; the lattice is finite
 * (map names, bounded stack offsets, at most eight frames), and a step budget guards against surprises.
 *
 * Subprogram calls are followed with their call chain as context, so each call site sees its own
 * arguments: r1-r5 pass into the callee, r6-r9 are restored on return, and every frame has its own
 * r10-relative stack. Callbacks handed to helpers (`bpf_loop`, `bpf_for_each_map_elem`, timers) are
 * analysed as frames entered from the helper call.
 *
 * The analysis needs no kernel and no loader: it reads raw instructions and the reference tables the
 * ELF linker produced.
 */
import type { Insns } from '../asm/instruction.js';
import { BPF_ALU_OP, BPF_CLASS, BPF_JMP_OP, BPF_MODE, BPF_PSEUDO, BPF_PSEUDO_CALL, BPF_PSEUDO_KFUNC_CALL, BPF_SRC, LD_IMM64, sizeBytes } from '../asm/opcodes.js';
import { BPF_FUNC } from '../sys/constants.js';
import { InspectError } from './errors.js';

/** One program as the analysis sees it: linked instructions plus where its map references are. */
export interface AnalyzedProgram {
  /** Program (function) name. */
  name: string;
  /** ELF section the program came from, e.g. `tracepoint/raw_syscalls/sys_enter`. */
  sectionName: string;
  /** Program type, as a readable name (`tracepoint`, `kprobe`, …), when known. */
  type?: string;
  /** Attach target derived from the section name, when there is one. */
  attachTarget?: string;
  /** The program after bpf-to-bpf linking: its subprograms appended and call offsets fixed. */
  insns: Insns;
  /** ld_imm64 instruction index → name of the map it loads (a map pointer, or a global-data map value). */
  mapReferences: ReadonlyMap<number, string>;
  /** ld_imm64 instruction index → global-data map (`.data`, `.bss`, `.rodata`, …) whose value it points into. */
  mapValueReferences?: ReadonlyMap<number, string>;
}

/** One map as the analysis and its renderers see it. */
export interface AnalyzedMap {
  /** Map name. */
  name: string;
  /** Map type as a readable name (`hash`, `ringbuf`, …). */
  type: string;
  /** Key size in bytes. */
  keySize: number;
  /** Value size in bytes. */
  valueSize: number;
  /** Maximum number of entries. */
  maxEntries: number;
  /** C name of the key type, when BTF names one. */
  keyType?: string;
  /** C name of the value type, when BTF names one. */
  valueType?: string;
}

/** One place where a program touches a map. */
export interface Interaction {
  /** Program name. */
  program: string;
  /** Map name. */
  map: string;
  /** What the program does with the map: `Lookup`, `Update`, `EventOutput`, `Read`, … */
  kind: string;
  /** Index of the helper call (or of the load/store, for global data) in the linked program. */
  insnIndex: number;
  /** The helper called (`map_lookup_elem`, …); absent for direct global-data accesses. */
  helper?: string;
}

/** Options of {@link analyzeProgram}. */
export interface AnalyzeOptions {
  /**
   * False: only what Inspektor Gadget's `ig image inspect` recognises (the `map_*_elem` helpers and
   * `perf_event_output`). True: every map-taking helper, plus loads and stores through global-data pointers.
   */
  detailed: boolean;
  /** Upper bound on abstract instruction visits before giving up with `INSPECT_BUDGET` (default 2,000,000). */
  maxSteps?: number;
}

/** A helper that takes a map, and what calling it means for the map. */
export interface MapHelper {
  /** Helper name without `bpf_`, as in `BPF_FUNC`. */
  helper: string;
  /** Helper id. */
  id: number;
  /** Interaction kind recorded for a call. */
  kind: string;
  /** Argument register (1-5) holding the map. */
  mapArg: number;
  /** True when only `detailed` analysis records it. */
  detailedOnly: boolean;
}

/** [helper, kind, map argument register, detailed only] */
const HELPER_TABLE: ReadonlyArray<readonly [string, string, number, boolean]> = [
  // What `ig image inspect` knows: the map_*_elem family (map in R1) and perf_event_output (map in R2).
  ['map_lookup_elem', 'Lookup', 1, false],
  ['map_update_elem', 'Update', 1, false],
  ['map_delete_elem', 'Delete', 1, false],
  ['map_push_elem', 'Push', 1, false],
  ['map_pop_elem', 'Pop', 1, false],
  ['map_peek_elem', 'Peek', 1, false],
  ['map_lookup_percpu_elem', 'LookupPercpu', 1, false],
  ['perf_event_output', 'EventOutput', 2, false],
  // Everything else that takes a map argument.
  ['ringbuf_output', 'RingbufOutput', 1, true],
  ['ringbuf_reserve', 'RingbufReserve', 1, true],
  ['ringbuf_reserve_dynptr', 'RingbufReserveDynptr', 1, true],
  ['ringbuf_query', 'RingbufQuery', 1, true],
  ['user_ringbuf_drain', 'UserRingbufDrain', 1, true],
  ['get_stackid', 'GetStackid', 2, true],
  ['tail_call', 'TailCall', 2, true],
  ['for_each_map_elem', 'ForEachElem', 1, true],
  ['redirect_map', 'RedirectMap', 1, true],
  ['sk_redirect_map', 'SkRedirectMap', 2, true],
  ['sk_redirect_hash', 'SkRedirectHash', 2, true],
  ['msg_redirect_map', 'MsgRedirectMap', 2, true],
  ['msg_redirect_hash', 'MsgRedirectHash', 2, true],
  ['sock_map_update', 'SockMapUpdate', 2, true],
  ['sock_hash_update', 'SockHashUpdate', 2, true],
  ['sk_select_reuseport', 'SkSelectReuseport', 2, true],
  ['skb_output', 'SkbOutput', 2, true],
  ['xdp_output', 'XdpOutput', 2, true],
  ['perf_event_read', 'PerfEventRead', 1, true],
  ['perf_event_read_value', 'PerfEventReadValue', 1, true],
  ['current_task_under_cgroup', 'CurrentTaskUnderCgroup', 1, true],
  ['skb_under_cgroup', 'SkbUnderCgroup', 2, true],
  ['get_local_storage', 'GetLocalStorage', 1, true],
  ['sk_storage_get', 'SkStorageGet', 1, true],
  ['sk_storage_delete', 'SkStorageDelete', 1, true],
  ['inode_storage_get', 'InodeStorageGet', 1, true],
  ['inode_storage_delete', 'InodeStorageDelete', 1, true],
  ['task_storage_get', 'TaskStorageGet', 1, true],
  ['task_storage_delete', 'TaskStorageDelete', 1, true],
  ['cgrp_storage_get', 'CgrpStorageGet', 1, true],
  ['cgrp_storage_delete', 'CgrpStorageDelete', 1, true],
  ['timer_init', 'TimerInit', 2, true],
];

const helperIds: Readonly<Record<string, number>> = BPF_FUNC;

/** Every helper the analysis knows to take a map, by helper id. */
export const MAP_HELPERS: ReadonlyMap<number, MapHelper> = new Map(
  HELPER_TABLE.flatMap(([helper, kind, mapArg, detailedOnly]) => {
    const id = helperIds[helper];
    return id === undefined ? [] : [[id, { helper, id, kind, mapArg, detailedOnly }] as const];
  }),
);

/** Kinds recorded for direct accesses to global data in detailed mode. */
export const GLOBAL_DATA_KINDS = { read: 'Read', write: 'Write' } as const;

/** True for the names of the maps the ELF loader makes of global-data sections (`.data`, `.bss`, `.rodata*`, `.kconfig`). */
export function isGlobalDataMapName(name: string): boolean {
  return name.startsWith('.');
}

// ---------------------------------------------------------------------------------------------------
// Abstract values: sorted, duplicate-free arrays of atoms. The empty array means "nothing we track".
//   m<name>        pointer to map <name>
//   v<name>        pointer into the value of global-data map <name>
//   s<frame>:<off> pointer to the stack of call frame <frame> (0 = the program's own) at r10+<off>
//   f<index>       address of the subprogram starting at instruction <index>

type AbsVal = readonly string[];
const UNKNOWN: AbsVal = [];

/** Kernel limit on nested bpf-to-bpf frames (MAX_CALL_FRAMES). */
const MAX_FRAMES = 8;
/** Stack pointers further than this below r10 cannot be valid; dropping them keeps the lattice finite. */
const STACK_FLOOR = -MAX_FRAMES * 512;
const DEFAULT_MAX_STEPS = 2_000_000;

function union(a: AbsVal, b: AbsVal): AbsVal {
  if (a.length === 0) return b;
  if (b.length === 0 || a === b) return a;
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) {
      out.push(a[i]);
      i++;
      j++;
    } else if (a[i] < b[j]) out.push(a[i++]);
    else out.push(b[j++]);
  }
  while (i < a.length) out.push(a[i++]);
  while (j < b.length) out.push(b[j++]);
  return out.length === a.length ? a : out;
}

function sameVal(a: AbsVal, b: AbsVal): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function fromAtoms(atoms: Iterable<string>): AbsVal {
  return [...new Set(atoms)].sort();
}

function stackAtom(frame: number, off: number): string {
  return `s${frame}:${off}`;
}

/** Stack locations `(frame, offset)` a value may point at. */
function stackTargets(v: AbsVal, delta: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const a of v) {
    if (a[0] !== 's') continue;
    const colon = a.indexOf(':');
    out.push([Number(a.slice(1, colon)), Number(a.slice(colon + 1)) + delta]);
  }
  return out;
}

/** The value after adding a constant: stack offsets move, value pointers stay, map/function pointers end. */
function shifted(v: AbsVal, delta: number): AbsVal {
  if (v.length === 0) return v;
  const out: string[] = [];
  for (const a of v) {
    if (a[0] === 'v') out.push(a);
    else if (a[0] === 's') {
      const colon = a.indexOf(':');
      const off = Number(a.slice(colon + 1)) + delta;
      if (off >= STACK_FLOOR && off <= 0) out.push(`${a.slice(0, colon)}:${off}`);
    }
  }
  return fromAtoms(out);
}

function onlyKind(v: AbsVal, kind: string): AbsVal {
  return v.every((a) => a[0] === kind) ? v : v.filter((a) => a[0] === kind);
}

// ---------------------------------------------------------------------------------------------------
// Abstract machine state at one instruction, for one call chain.

interface State {
  /** r0..r9 of the current frame (r10 is implicit: the current frame's stack at offset 0). */
  regs: AbsVal[];
  /** r6..r9 of every caller frame, outermost first; its length is the current frame's depth. */
  saved: AbsVal[][];
  /** `${frame}:${offset}` → what the 8-byte slot starting there holds. */
  stack: Map<string, AbsVal>;
}

function joinInto(into: State, from: State): boolean {
  let changed = false;
  for (let r = 0; r < 10; r++) {
    const u = union(into.regs[r], from.regs[r]);
    if (u !== into.regs[r] && !sameVal(u, into.regs[r])) {
      into.regs[r] = u;
      changed = true;
    }
  }
  for (let f = 0; f < into.saved.length; f++) {
    for (let r = 0; r < 4; r++) {
      const u = union(into.saved[f][r], from.saved[f][r]);
      if (!sameVal(u, into.saved[f][r])) {
        into.saved[f] = into.saved[f].slice();
        into.saved[f][r] = u;
        changed = true;
      }
    }
  }
  for (const [k, v] of from.stack) {
    const old = into.stack.get(k) ?? UNKNOWN;
    const u = union(old, v);
    if (!sameVal(u, old)) {
      into.stack.set(k, u);
      changed = true;
    }
  }
  return changed;
}

function cloneState(s: State): State {
  return { regs: s.regs.slice(), saved: s.saved.map((f) => f.slice()), stack: new Map(s.stack) };
}

/** A frame entry on the call chain: a bpf-to-bpf call (returns to `site + 1`) or a helper callback (does not). */
interface FrameEntry {
  site: number;
  callback: boolean;
}

interface Node {
  chain: readonly FrameEntry[];
  pc: number;
  state: State;
}

function chainKey(chain: readonly FrameEntry[]): string {
  return chain.map((e) => (e.callback ? `k${e.site}` : `c${e.site}`)).join(',');
}

// ---------------------------------------------------------------------------------------------------

/**
 * Find every map interaction of one program.
 *
 * Returns one entry per (map, kind, instruction), sorted by instruction index, then map name.
 * Throws {@link InspectError} for malformed instruction streams: jumps or calls out of range, truncated
 * ld_imm64, execution falling off the end, subprogram calls nested past the kernel's limit.
 */
export function analyzeProgram(p: AnalyzedProgram, options: AnalyzeOptions): Interaction[] {
  return new Analyzer(p, options).run();
}

class Analyzer {
  private readonly insns: Insns;
  private readonly len: number;
  /** 1 where the slot is the second half of an ld_imm64. */
  private readonly secondSlot: Uint8Array;
  private readonly nodes = new Map<string, Node>();
  /** Pending nodes, lowest instruction index first: forward flow then settles in few passes. */
  private readonly work = new MinHeap();
  private readonly queued = new Set<string>();
  private readonly found = new Map<string, Interaction>();
  private readonly maxSteps: number;

  constructor(
    private readonly p: AnalyzedProgram,
    private readonly options: AnalyzeOptions,
  ) {
    this.insns = p.insns;
    this.len = p.insns.length;
    this.secondSlot = new Uint8Array(this.len);
    this.maxSteps = options.maxSteps ?? DEFAULT_MAX_STEPS;
  }

  private fail(code: ConstructorParameters<typeof InspectError>[0], pc: number | undefined, detail: string): never {
    throw new InspectError(code, this.p.name, pc, detail);
  }

  run(): Interaction[] {
    this.validate();
    if (this.len > 0) {
      const entry: State = { regs: Array.from({ length: 10 }, () => UNKNOWN), saved: [], stack: new Map() };
      this.propagate([], 0, entry);
      let steps = 0;
      while (this.work.length > 0) {
        if (++steps > this.maxSteps) this.fail('INSPECT_BUDGET', undefined, `analysis did not settle within ${this.maxSteps} steps`);
        const key = this.work.pop();
        this.queued.delete(key);
        const node = this.nodes.get(key);
        if (node) this.step(node);
      }
    }
    return [...this.found.values()].sort((a, b) => a.insnIndex - b.insnIndex || cmp(a.map, b.map) || cmp(a.kind, b.kind));
  }

  /** Structural checks over every slot, reachable or not, as the kernel does before verifying. */
  private validate(): void {
    const { insns, len } = this;
    for (let i = 0; i < len; i++) {
      if (insns.opcode(i) !== LD_IMM64) continue;
      if (i + 1 >= len) this.fail('INSPECT_TRUNCATED_LD_IMM64', i, 'ld_imm64 is missing its second slot');
      if (insns.opcode(i + 1) !== 0) this.fail('INSPECT_TRUNCATED_LD_IMM64', i, `ld_imm64 second slot has opcode 0x${insns.opcode(i + 1).toString(16)}`);
      this.secondSlot[i + 1] = 1;
      if (insns.src(i) === BPF_PSEUDO.FUNC) this.checkTarget(i, i + insns.imm(i) + 1, 'INSPECT_CALL_OUT_OF_RANGE', 'function reference');
      i++;
    }
    for (let i = 0; i < len; i++) {
      if (this.secondSlot[i]) continue;
      const cls = insns.class(i);
      if (cls !== BPF_CLASS.JMP && cls !== BPF_CLASS.JMP32) continue;
      const op = insns.opcode(i) & 0xf0;
      if (op === BPF_JMP_OP.EXIT || (op === BPF_JMP_OP.CALL && cls === BPF_CLASS.JMP)) {
        if (op === BPF_JMP_OP.CALL && insns.src(i) === BPF_PSEUDO_CALL) {
          this.checkTarget(i, i + insns.imm(i) + 1, 'INSPECT_CALL_OUT_OF_RANGE', 'bpf-to-bpf call');
        }
        continue;
      }
      if (op === BPF_JMP_OP.CALL || op === 0xf0 || (op === 0xe0 && cls === BPF_CLASS.JMP32)) {
        this.fail('INSPECT_BAD_OPCODE', i, `undefined jump opcode 0x${insns.opcode(i).toString(16)}`);
      }
      this.checkTarget(i, this.jumpTarget(i), 'INSPECT_JUMP_OUT_OF_RANGE', 'jump');
    }
    for (const refs of [this.p.mapReferences, this.p.mapValueReferences]) {
      for (const [i, name] of refs ?? []) {
        if (!(i >= 0 && i < len && insns.opcode(i) === LD_IMM64 && !this.secondSlot[i])) {
          this.fail('INSPECT_BAD_REFERENCE', i, `reference to map ${name} is not on an ld_imm64`);
        }
      }
    }
  }

  private checkTarget(pc: number, target: number, code: 'INSPECT_JUMP_OUT_OF_RANGE' | 'INSPECT_CALL_OUT_OF_RANGE', what: string): void {
    if (target < 0 || target >= this.len) this.fail(code, pc, `${what} target ${target} is outside the program (${this.len} instructions)`);
    if (this.secondSlot[target]) this.fail(code, pc, `${what} target ${target} is the second slot of an ld_imm64`);
  }

  private jumpTarget(pc: number): number {
    // `gotol` (JMP32 | JA) keeps its 32-bit offset in imm.
    if (this.insns.class(pc) === BPF_CLASS.JMP32 && (this.insns.opcode(pc) & 0xf0) === BPF_JMP_OP.JA) return pc + this.insns.imm(pc) + 1;
    return pc + this.insns.offset(pc) + 1;
  }

  private propagate(chain: readonly FrameEntry[], pc: number, state: State): void {
    const key = `${chainKey(chain)}@${pc}`;
    const node = this.nodes.get(key);
    if (!node) {
      this.nodes.set(key, { chain, pc, state });
    } else if (!joinInto(node.state, state)) {
      return;
    }
    if (!this.queued.has(key)) {
      this.queued.add(key);
      this.work.push(pc, key);
    }
  }

  private next(node: Node, state: State, pc = node.pc + 1): void {
    if (pc >= this.len) this.fail('INSPECT_FALLS_OFF_END', node.pc, 'execution continues past the last instruction');
    this.propagate(node.chain, pc, state);
  }

  private record(map: string, kind: string, pc: number, helper?: string): void {
    const key = `${map}\0${kind}\0${pc}`;
    if (this.found.has(key)) return;
    const it: Interaction = { program: this.p.name, map, kind, insnIndex: pc };
    if (helper !== undefined) it.helper = helper;
    this.found.set(key, it);
  }

  private reg(s: State, depth: number, r: number): AbsVal {
    if (r === 10) return [stackAtom(depth, 0)];
    return r < 10 ? s.regs[r] : UNKNOWN; // r11-r15 do not exist; the kernel rejects them, we read nothing
  }

  private recordValueAccess(v: AbsVal, kind: string, pc: number): void {
    if (!this.options.detailed) return;
    for (const a of v) if (a[0] === 'v') this.record(a.slice(1), kind, pc);
  }

  /** Apply a store of `width` bytes of `value` to wherever `base + off` may point. */
  private store(s: State, base: AbsVal, off: number, width: number, value: AbsVal): void {
    const targets = stackTargets(base, off);
    const strong = targets.length === 1;
    for (const [frame, at] of targets) {
      const prefix = `${frame}:`;
      if (strong) {
        for (const k of [...s.stack.keys()]) {
          if (!k.startsWith(prefix)) continue;
          const o = Number(k.slice(prefix.length));
          if (o < at + width && at < o + 8) s.stack.delete(k);
        }
        if (width === 8 && value.length > 0) s.stack.set(`${frame}:${at}`, value);
      } else if (width === 8) {
        // May or may not land here: keep what was there, add what might be.
        const k = `${frame}:${at}`;
        const u = union(s.stack.get(k) ?? UNKNOWN, value);
        if (u.length > 0) s.stack.set(k, u);
      }
    }
  }

  private load(s: State, base: AbsVal, off: number, width: number): AbsVal {
    if (width !== 8) return UNKNOWN;
    let out: AbsVal = UNKNOWN;
    for (const [frame, at] of stackTargets(base, off)) out = union(out, s.stack.get(`${frame}:${at}`) ?? UNKNOWN);
    return out;
  }

  private step(node: Node): void {
    const { insns } = this;
    const pc = node.pc;
    const depth = node.chain.length;
    const s = cloneState(node.state);
    const opcode = insns.opcode(pc);
    const cls = opcode & 0x07;
    const dst = insns.dst(pc);
    const src = insns.src(pc);
    const off = insns.offset(pc);
    const imm = insns.imm(pc);
    const setDst = (v: AbsVal): void => {
      if (dst < 10) s.regs[dst] = v;
    };

    switch (cls) {
      case BPF_CLASS.LD: {
        if (opcode === LD_IMM64) {
          setDst(this.ldImm64(pc, src, imm));
          this.next(node, s, pc + 2);
          return;
        }
        // Legacy packet loads (ABS/IND) return in r0 and clobber the argument registers.
        for (let r = 0; r <= 5; r++) s.regs[r] = UNKNOWN;
        this.next(node, s);
        return;
      }
      case BPF_CLASS.LDX: {
        const base = this.reg(s, depth, src);
        this.recordValueAccess(base, GLOBAL_DATA_KINDS.read, pc);
        const mode = opcode & 0xe0;
        setDst(mode === BPF_MODE.MEM ? this.load(s, base, off, sizeBytes(opcode)) : UNKNOWN);
        this.next(node, s);
        return;
      }
      case BPF_CLASS.ST: {
        const base = this.reg(s, depth, dst);
        this.recordValueAccess(base, GLOBAL_DATA_KINDS.write, pc);
        this.store(s, base, off, sizeBytes(opcode), UNKNOWN);
        this.next(node, s);
        return;
      }
      case BPF_CLASS.STX: {
        const base = this.reg(s, depth, dst);
        const mode = opcode & 0xe0;
        if (mode === BPF_MODE.ATOMIC) {
          const fetch = (imm & 0x01) !== 0;
          if (fetch) this.recordValueAccess(base, GLOBAL_DATA_KINDS.read, pc);
          this.recordValueAccess(base, GLOBAL_DATA_KINDS.write, pc);
          this.store(s, base, off, sizeBytes(opcode), UNKNOWN);
          // Fetching atomics return the old value in src (cmpxchg: in r0).
          if (fetch) {
            if (imm === 0xf1) s.regs[0] = UNKNOWN;
            else if (src < 10) s.regs[src] = UNKNOWN;
          }
        } else {
          this.recordValueAccess(base, GLOBAL_DATA_KINDS.write, pc);
          this.store(s, base, off, sizeBytes(opcode), this.reg(s, depth, src));
        }
        this.next(node, s);
        return;
      }
      case BPF_CLASS.ALU:
        setDst(UNKNOWN); // 32-bit results never hold a pointer
        this.next(node, s);
        return;
      case BPF_CLASS.ALU64: {
        const op = opcode & 0xf0;
        const bySrc = (opcode & 0x08) === BPF_SRC.X;
        const d = this.reg(s, depth, dst);
        if (op === BPF_ALU_OP.MOV) setDst(bySrc && off === 0 ? this.reg(s, depth, src) : UNKNOWN);
        else if (op === BPF_ALU_OP.ADD) setDst(bySrc ? union(onlyKind(d, 'v'), onlyKind(this.reg(s, depth, src), 'v')) : shifted(d, imm));
        else if (op === BPF_ALU_OP.SUB) setDst(bySrc ? onlyKind(d, 'v') : shifted(d, -imm));
        else setDst(UNKNOWN);
        this.next(node, s);
        return;
      }
      default:
        this.jump(node, s, opcode, src, imm);
    }
  }

  private ldImm64(pc: number, src: number, imm: number): AbsVal {
    if (src === BPF_PSEUDO.FUNC) return [`f${pc + imm + 1}`];
    const valueName = this.p.mapValueReferences?.get(pc);
    if (valueName !== undefined) return [`v${valueName}`];
    const name = this.p.mapReferences.get(pc);
    if (name === undefined) return UNKNOWN;
    const isValue = src === BPF_PSEUDO.MAP_VALUE || src === BPF_PSEUDO.MAP_IDX_VALUE || isGlobalDataMapName(name);
    return [isValue ? `v${name}` : `m${name}`];
  }

  private jump(node: Node, s: State, opcode: number, src: number, imm: number): void {
    const pc = node.pc;
    const op = opcode & 0xf0;
    if (op === BPF_JMP_OP.EXIT) {
      this.exit(node, s);
      return;
    }
    if (op === BPF_JMP_OP.CALL) {
      if (src === BPF_PSEUDO_CALL) this.callSubprogram(node, s, pc + imm + 1);
      else {
        if (src !== BPF_PSEUDO_KFUNC_CALL) this.callHelper(node, s, imm);
        for (let r = 0; r <= 5; r++) s.regs[r] = UNKNOWN;
        this.next(node, s);
      }
      return;
    }
    const target = this.jumpTarget(pc);
    if (op === BPF_JMP_OP.JA) {
      this.next(node, s, target);
      return;
    }
    // Conditional (including may_goto): both ways. The branch edge gets its own copy of the state.
    this.next(node, cloneState(s), target);
    this.next(node, s);
  }

  private exit(node: Node, s: State): void {
    const chain = node.chain;
    const top = chain[chain.length - 1];
    if (top === undefined || top.callback) return; // program end, or a callback returning into its helper
    const depth = chain.length;
    const callerSaved = s.saved[s.saved.length - 1];
    const regs = s.regs.slice();
    for (let r = 1; r <= 5; r++) regs[r] = UNKNOWN;
    for (let r = 6; r <= 9; r++) regs[r] = callerSaved[r - 6];
    regs[0] = this.dropFrame(regs[0], depth);
    const stack = new Map<string, AbsVal>();
    for (const [k, v] of s.stack) if (Number(k.slice(0, k.indexOf(':'))) < depth) stack.set(k, this.dropFrame(v, depth));
    const ret: State = { regs, saved: s.saved.slice(0, -1), stack };
    const parent = chain.slice(0, -1);
    const resume = top.site + 1;
    if (resume >= this.len) this.fail('INSPECT_FALLS_OFF_END', top.site, 'execution continues past the last instruction');
    this.propagate(parent, resume, ret);
  }

  /** Pointers into a frame that has returned are dead. */
  private dropFrame(v: AbsVal, depth: number): AbsVal {
    return v.some((a) => a[0] === 's' && Number(a.slice(1, a.indexOf(':'))) >= depth) ? v.filter((a) => !(a[0] === 's' && Number(a.slice(1, a.indexOf(':'))) >= depth)) : v;
  }

  private enterFrame(node: Node, s: State, target: number, args: AbsVal[], callback: boolean): void {
    const depth = node.chain.length;
    if (depth + 1 >= MAX_FRAMES) {
      this.fail('INSPECT_CALL_DEPTH', node.pc, `call to instruction ${target} nests deeper than ${MAX_FRAMES} frames`);
    }
    const regs: AbsVal[] = Array.from({ length: 10 }, () => UNKNOWN);
    for (let r = 1; r <= 5; r++) regs[r] = args[r] ?? UNKNOWN;
    const stack = new Map<string, AbsVal>();
    for (const [k, v] of s.stack) if (Number(k.slice(0, k.indexOf(':'))) <= depth) stack.set(k, v);
    const callee: State = { regs, saved: [...s.saved, s.regs.slice(6, 10)], stack };
    this.propagate([...node.chain, { site: node.pc, callback }], target, callee);
  }

  private callSubprogram(node: Node, s: State, target: number): void {
    this.enterFrame(node, s, target, s.regs, false);
  }

  private callHelper(node: Node, s: State, id: number): void {
    const pc = node.pc;
    const spec = MAP_HELPERS.get(id);
    if (spec && (this.options.detailed || !spec.detailedOnly)) {
      for (const a of s.regs[spec.mapArg]) if (a[0] === 'm') this.record(a.slice(1), spec.kind, pc, spec.helper);
    }
    // Subprograms handed to the helper run as callbacks from here.
    for (let r = 1; r <= 5; r++) {
      for (const a of s.regs[r]) {
        if (a[0] !== 'f') continue;
        const args: AbsVal[] = [];
        if (id === BPF_FUNC.for_each_map_elem) {
          args[1] = onlyKind(s.regs[1], 'm'); // callback(map, key, value, ctx)
          args[4] = s.regs[3];
        } else if (id === BPF_FUNC.loop) {
          args[2] = s.regs[3]; // callback(index, ctx)
        }
        this.enterFrame(node, s, Number(a.slice(1)), args, true);
      }
    }
  }
}

/** A binary min-heap of node keys ordered by instruction index (ties: insertion order is irrelevant). */
class MinHeap {
  private readonly pcs: number[] = [];
  private readonly keys: string[] = [];

  get length(): number {
    return this.keys.length;
  }

  push(pc: number, key: string): void {
    let i = this.keys.length;
    this.pcs.push(pc);
    this.keys.push(key);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.pcs[parent] <= pc) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  pop(): string {
    const top = this.keys[0];
    const lastPc = this.pcs.pop() as number;
    const lastKey = this.keys.pop() as string;
    if (this.keys.length > 0) {
      this.pcs[0] = lastPc;
      this.keys[0] = lastKey;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < this.pcs.length && this.pcs[l] < this.pcs[m]) m = l;
        if (r < this.pcs.length && this.pcs[r] < this.pcs[m]) m = r;
        if (m === i) break;
        this.swap(i, m);
        i = m;
      }
    }
    return top;
  }

  private swap(a: number, b: number): void {
    [this.pcs[a], this.pcs[b]] = [this.pcs[b], this.pcs[a]];
    [this.keys[a], this.keys[b]] = [this.keys[b], this.keys[a]];
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
