/**
 * Hand-assembled test programs (no ELF, no Collection): counters filtered by process and syscall, and
 * ring/perf buffer producers run with BPF_PROG_TEST_RUN.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { asm, assemble, type RawInstruction } from '../../src/asm/index.js';
import { BPF_FUNC, BPF_MAP_TYPE, linkGetNextId, mapCreate, mapLookupElem, mapUpdateElem, progLoadWithLog, type Fd, type ProgLoadAttr } from '../../src/sys/index.js';

const insn = (opcode: number, dst = 0, src = 0, offset = 0, imm = 0): RawInstruction => ({ opcode, dst, src, offset, imm });
/** `dst >>= imm` (64-bit). */
export const rshImm = (dst: number, imm: number): RawInstruction => insn(0x77, dst, 0, 0, imm);
/** `if dst != src goto +off`. */
export const jneReg = (dst: number, src: number, off: number): RawInstruction => insn(0x5d, dst, src, off);
/** `if dst != imm goto +off`. */
export const jneImm = (dst: number, imm: number, off: number): RawInstruction => insn(0x55, dst, 0, off, imm);
/** `lock *(u64 *)(dst + off) += src`. */
export const atomicAdd64 = (dst: number, src: number, off: number): RawInstruction => insn(0xdb, dst, src, off, 0x00);
/** `src = atomic_fetch_add((u64 *)(dst + off), src)`. */
export const atomicFetchAdd64 = (dst: number, src: number, off: number): RawInstruction => insn(0xdb, dst, src, off, 0x01);

/** A one-element array map whose 16-byte value is {u32 pid filter; u32 pad; u64 count}. */
export class Counter implements Disposable {
  readonly map: Fd;
  constructor(pid = 0) {
    this.map = mapCreate({ mapType: BPF_MAP_TYPE.ARRAY, keySize: 4, valueSize: 16, maxEntries: 1, mapName: 'counter' });
    this.setPid(pid);
  }
  setPid(pid: number): void {
    const v = new Uint8Array(16);
    new DataView(v.buffer).setUint32(0, pid, true);
    mapUpdateElem(this.map, new Uint8Array(4), v);
  }
  get count(): bigint {
    const v = new Uint8Array(16);
    mapLookupElem(this.map, new Uint8Array(4), v);
    return new DataView(v.buffer).getBigUint64(8, true);
  }
  [Symbol.dispose](): void {
    this.map.close();
  }
}

/** Options of {@link counterProgram}. */
export interface CounterProgram {
  /** Count only the process whose tgid is in the map (0 there: everybody). Needs bpf_get_current_pid_tgid. */
  filterPid?: boolean;
  /** Count only when the u64 at ctx+8 (raw_tp/tp_btf sys_enter: the syscall id) equals this. */
  ctxArg1Equals?: number;
  /** The program's return value. */
  ret?: number;
}

/** Instructions that add 1 to the counter of `counter`. */
export function counterInsns(counter: Counter, o: CounterProgram = {}): Uint8Array {
  // r1 = &value; r2 = 1; lock *(u64 *)(r1 + 8) += r2  (4 slots)
  const count = [...asm.ldMapValue(1, counter.map.raw, 0), asm.movImm(2, 1), atomicAdd64(1, 2, 8)];
  const p: RawInstruction[] = [asm.movReg(6, 1)];
  // The syscall id goes into callee-saved r7 so the helper call below does not clobber it.
  if (o.ctxArg1Equals !== undefined) p.push(asm.ldxMem(8, 7, 6, 8));
  if (o.filterPid) {
    p.push(asm.callHelper(BPF_FUNC.get_current_pid_tgid), rshImm(0, 32), ...asm.ldMapValue(1, counter.map.raw, 0), asm.ldxMem(4, 2, 1, 0));
    // filter 0: count everybody; otherwise skip to the exit unless tgid matches.
    p.push(asm.jeqImm(2, 0, 1), jneReg(0, 2, count.length + (o.ctxArg1Equals !== undefined ? 1 : 0)));
  }
  if (o.ctxArg1Equals !== undefined) p.push(jneImm(7, o.ctxArg1Equals, count.length));
  return assemble([...p, ...count, asm.movImm(0, o.ret ?? 0), asm.exit()]).bytes;
}

/** Load a program, throwing with the verifier log on failure. */
export function load(attrs: Omit<ProgLoadAttr, 'license'> & { license?: string }): Fd {
  return progLoadWithLog({ license: 'GPL', ...attrs }).fd;
}

/** Ids of every bpf_link in the system. */
export function allLinkIds(): number[] {
  const ids: number[] = [];
  let id = 0;
  for (;;) {
    const next = linkGetNextId(id);
    if (next === undefined) return ids;
    ids.push(next);
    id = next;
  }
}

/** The Python interpreter used to drive syscalls/libc calls from a child process. */
export const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

/** True when {@link PYTHON} runs; tests that drive a child skip (with a warning) otherwise. */
export const havePython = spawnSync(PYTHON, ['-c', 'pass']).status === 0;
if (!havePython) console.warn(`tests driven by a child process are skipped: ${PYTHON} is not runnable`);

/**
 * A child that prints its pid, waits for a line on stdin, runs `code` (Python), prints "done" and exits.
 * Lets a test attach (or configure a pid filter) between the child's start and its work.
 */
export class Child {
  readonly proc: ChildProcessWithoutNullStreams;
  readonly pid: Promise<number>;
  readonly #done: Promise<number | null>;
  #out = '';

  constructor(code: string) {
    const script = `import os, sys\nprint(os.getpid(), flush=True)\nsys.stdin.readline()\n${code}\nprint("done", flush=True)\n`;
    this.proc = spawn(PYTHON, ['-c', script], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.pid = new Promise((resolve, reject) => {
      this.proc.stdout.on('data', (d: Buffer) => {
        this.#out += d.toString();
        const first = this.#out.split('\n')[0];
        if (this.#out.includes('\n')) resolve(Number(first));
      });
      this.proc.on('error', reject);
    });
    this.#done = new Promise((resolve) => this.proc.on('exit', (code) => resolve(code)));
  }

  /** Let the child run its code without waiting for it. */
  start(): void {
    this.proc.stdin.write('go\n');
    this.proc.stdin.end();
  }

  /** Let the child run its code and wait for it to exit; resolves to the exit code. */
  async run(): Promise<number | null> {
    this.proc.stdin.write('go\n');
    this.proc.stdin.end();
    return this.#done;
  }

  kill(): void {
    if (this.proc.exitCode === null) this.proc.kill('SIGKILL');
  }
}

/** Resolve once `cond()` holds, polling; rejects after `limitMs` (a bound, not a timing assertion). */
export async function until(cond: () => boolean, what: string, limitMs = 10_000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > limitMs) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
