/**
 * Time spent in bpf(2) per command, measured in the kernel: the orchestrator loads
 * bench/bpf/syscall_time.bpf.c with tsbpf, which follows the orchestrator's child processes (run
 * one at a time), and reads how many bpf(2) calls of each command the child made and how long they
 * took inside the kernel (see the C file for what the span covers). Precise where getrusage's
 * user/system split is not: Linux samples that split at the scheduler tick.
 *
 * The tracer slows every syscall of the machine while attached, so it is attached only around
 * runs made for it ({@link SyscallTimer.attached}), never around timed runs.
 */
import { pathToFileURL } from 'node:url';
import { SYSCALL_TIMER_OBJECT, LOADER_ENV } from './build.js';
import type { BenchContext } from './context.js';

type Loader = typeof import('@tsbpf/loader');

/** Commands of bpf(2) the benchmarks report (uapi `enum bpf_cmd`). */
export const BPF_CMD_NUMBER = { lookup: 1, update: 2, delete: 3, progLoad: 5 } as const;

/** `struct total` of the tracer's `totals` map. */
interface Total {
  ns: bigint;
  calls: bigint;
}

/** What one child process spent in the kernel, per bpf(2) command number. */
export type KernelTimes = Map<number, { ns: number; calls: number }>;

/** The loaded tracer: attached only while {@link SyscallTimer.attached} runs its callback. */
export class SyscallTimer {
  readonly #L: Loader;
  readonly #collection: InstanceType<Loader['Collection']>;
  /** `totals`: per bpf(2) command, `struct total` (decoded from the object's BTF). */
  readonly #totals: InstanceType<typeof import('@tsbpf/loader').BpfMap<number, Total>>;

  private constructor(L: Loader, collection: InstanceType<Loader['Collection']>) {
    this.#L = L;
    this.#collection = collection;
    this.#totals = collection.map<number, Total>('totals');
  }

  /**
   * Loads the tracer and checks that it attaches (then detaches it again). Resolves to a string
   * saying why it cannot: `failed: …` when the object does not load or attach (a defect the smoke
   * test reports), a plain reason when this process lacks the privilege for it.
   */
  static async open(): Promise<SyscallTimer | string> {
    let L: Loader;
    try {
      const snapshot = process.env[LOADER_ENV];
      L = (snapshot ? await import(pathToFileURL(snapshot).href) : await import('@tsbpf/loader')) as Loader;
    } catch (err) {
      return `failed: cannot import the loader: ${(err as Error).message}`;
    }
    let collection: InstanceType<Loader['Collection']> | undefined;
    try {
      collection = L.Collection.load(L.CollectionSpec.fromFile(SYSCALL_TIMER_OBJECT));
      const timer = new SyscallTimer(L, collection);
      await timer.attached(() => Promise.resolve());
      return timer;
    } catch (err) {
      collection?.close();
      const message = (err as Error).message.split('\n')[0];
      const privilege = L.isErrno(err, L.ERRNO.EPERM) || L.isErrno(err, L.ERRNO.EACCES);
      return `${privilege ? '' : 'failed: '}the bpf(2) tracer did not load or attach: ${message}`;
    }
  }

  /**
   * Runs `body` with the tracer attached and following this process's children, detaching it
   * afterwards: it slows every syscall of the machine, so no timed run may happen meanwhile.
   * `body` starts one child at a time, each through {@link measure}.
   */
  async attached<T>(body: () => Promise<T>): Promise<T> {
    const links: { close(): void }[] = [];
    this.#take();
    this.#collection.writeVariable('parent_tgid', process.pid);
    try {
      for (const name of ['bpf_enter', 'bpf_exit']) links.push(this.#L.attachProgram(this.#collection.program(name)));
      return await body();
    } finally {
      for (const l of links) l.close();
      this.#collection.writeVariable('parent_tgid', 0);
    }
  }

  /**
   * Runs one child (started by `run`, inside {@link attached}) and returns what its bpf(2) calls
   * cost in the kernel: up to the moment `run` calls `mark` (e.g. at a readiness line), else to its
   * end. What the child does after that is dropped, also when `run` throws, so that it cannot
   * count for the next one.
   */
  async measure<T>(run: (mark: () => void) => Promise<T>): Promise<{ result: T; times: KernelTimes }> {
    let marked: KernelTimes | undefined;
    try {
      const result = await run(() => {
        marked ??= this.#take();
      });
      return { result, times: marked ?? this.#take() };
    } finally {
      this.#take();
    }
  }

  /** The totals since the last call, per command; they restart from zero. */
  #take(): KernelTimes {
    const out: KernelTimes = new Map();
    for (let cmd = 0; cmd < this.#totals.maxEntries; cmd++) {
      // An array map, not per-CPU: one value.
      const t = this.#totals.lookup(cmd) as Total | undefined;
      if (!t || t.calls === 0n) continue;
      out.set(cmd, { ns: Number(t.ns), calls: Number(t.calls) });
      this.#totals.update(cmd, { ns: 0n, calls: 0n });
    }
    return out;
  }

  /** Close the tracer's programs and maps. */
  close(): void {
    this.#collection.close();
  }
}

/** Kernel nanoseconds per call of `cmd`, or undefined when the process made none. */
export function nsPerCall(times: KernelTimes, cmd: number): number | undefined {
  const t = times.get(cmd);
  return t && t.calls > 0 ? t.ns / t.calls : undefined;
}

/** Total kernel nanoseconds over every command. */
export function totalNs(times: KernelTimes): number {
  let ns = 0;
  for (const t of times.values()) ns += t.ns;
  return ns;
}

/**
 * The tracer for one benchmark, or undefined with the reason recorded as a skip of
 * `<bench> kernel time` (`failed: …` for a tracer that should have worked). The caller closes it.
 */
export async function openSyscallTimer(ctx: BenchContext, bench: string): Promise<SyscallTimer | undefined> {
  const why = ctx.peerSkip ? 'no libbpf peer to compare with' : ctx.timerSkip;
  const timer = why ?? (await SyscallTimer.open());
  if (typeof timer === 'string') {
    ctx.skipped.push({ bench: `${bench} kernel time`, reason: timer });
    return undefined;
  }
  return timer;
}
