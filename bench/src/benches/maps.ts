/**
 * Benchmark 6: map operations. Per-element cost of update/lookup/delete, single and batched, on a
 * hash and an array map (4-byte keys, 64-byte values): tsbpf's BpfMap (typed: number keys, value
 * copies), BpfMap's byte API with reused buffers, and the raw sys/bpf.ts calls, against libbpf's
 * bpf_map_* wrappers.
 *
 * Where a single-element op's time goes, in two more comparisons of the raw calls:
 * - against the libbpf peer with a second, idle thread (the kernel takes a counted file reference
 *   on every call of a multithreaded process; Node always runs several threads);
 * - in runs of their own with the bpf(2) kernel-time tracer attached (../ktime.ts): the kernel's
 *   time per call on each side, and the rest of the op in those runs (wall time per op minus the
 *   kernel's): user space, the FFI crossing, the syscall's entry and exit (and the tracer's work,
 *   the same on both sides).
 */
import { peerPath, type Libbpf } from '../build.js';
import { alternate, libLabel, primaryLib, WORKER, type BenchContext } from '../context.js';
import { BPF_CMD_NUMBER, nsPerCall, openSyscallTimer, type KernelTimes, type SyscallTimer } from '../ktime.js';
import { runChild } from '../proc.js';
import { ratioTarget, row } from '../result.js';
import { stat } from '../stats.js';

interface MapsResult {
  nsPerOp: Record<string, number>;
  libbpf?: string;
}

const FLAVOURS = [
  ['bpfmap', 'BpfMap typed'],
  ['bytes', 'BpfMap bytes'],
  ['sys', 'sys/bpf.ts raw'],
] as const;

const SINGLE_OPS = ['update', 'lookup', 'delete'] as const;

/** The FFI floor rows (timed by the raw flavour's processes, no target). */
const FLOOR_OPS: Record<string, string> = {
  getpid: 'getpid() (FFI floor, koffi vs C)',
  syscall4: 'syscall(SYS_getpid) with the four integer arguments of a bpf(2) element call (FFI floor of that shape, koffi vs C)',
};

/** The label of the libbpf peer run with a second thread. */
function threadedLabel(lib: Libbpf): string {
  return `${libLabel(lib)}, 2 threads`;
}

export async function benchMaps(ctx: BenchContext): Promise<void> {
  if (ctx.peerSkip) ctx.skipped.push({ bench: 'maps', reason: `libbpf peer skipped: ${ctx.peerSkip}` });
  const libs = ctx.peerSkip ? [] : ctx.compareLibs;
  const primary = primaryLib(ctx);
  const n = ctx.quick ? 256 : 10_000;
  const inner = ctx.quick ? 1 : 5;
  // Untimed passes on both sides before the timed ones: the tsbpf side's loops run interpreted,
  // then baseline, and reach optimized code within 20–30 thousand calls (three passes of 10 000).
  const warmup = ctx.quick ? 0 : 3;
  const timer = await openSyscallTimer(ctx, 'maps');
  try {
    for (const type of ['hash', 'array'] as const) {
      const ts = new Map<string, MapsResult[]>();
      const peers = new Map<string, MapsResult[]>();
      const threaded: MapsResult[] = [];
      const peerArgs = [type, String(n), String(inner), String(warmup)];
      const tsArgs = (flavour: string): string[] => [WORKER, 'maps', flavour, ...peerArgs];
      await alternate(
        ctx.rounds,
        async () => {
          for (const [f] of FLAVOURS) {
            const r = (await runChild<MapsResult>(process.execPath, tsArgs(f))).json;
            ts.set(f, [...(ts.get(f) ?? []), r]);
          }
        },
        async () => {
          for (const lib of libs) {
            const r = (await runChild<MapsResult>(peerPath(lib, 'maps'), peerArgs)).json;
            lib.reported = r.libbpf;
            peers.set(lib.id, [...(peers.get(lib.id) ?? []), r]);
          }
          if (primary && libs.includes(primary)) threaded.push((await runChild<MapsResult>(peerPath(primary, 'maps'), [...peerArgs, 'threaded'])).json);
        },
      );
      const ops = ['update', 'lookup', 'delete', 'update_batch', 'lookup_batch', 'delete_batch', 'getpid', 'syscall4'];
      for (const op of ops) {
        for (const [f, fname] of FLAVOURS) {
          // The FFI floors (getpid, syscall4) are timed by the raw flavour only; they have no target.
          const floor = FLOOR_OPS[op];
          const label = floor ? `${type} run: ${floor}` : `${type} ${op} (${fname})`;
          const mine = opSamples(ts.get(f), op);
          if (mine.length === 0) continue;
          const tsStat = stat(mine);
          if (libs.length === 0) {
            ctx.rows.push(row({ bench: 'maps', case: label, unit: 'ns/elem', tsbpf: tsStat }));
            continue;
          }
          for (const lib of libs) {
            const theirs = opSamples(peers.get(lib.id), op);
            if (theirs.length === 0) continue;
            const r = row({ bench: 'maps', case: label, unit: 'ns/elem', tsbpf: tsStat, peer: stat(theirs), peerLabel: libLabel(lib) });
            if (lib === primary && !floor) r.target = ratioTarget(r.ratio, 1.3);
            ctx.rows.push(r);
          }
        }
      }
      // The raw calls against the multithreaded peer: the same kernel path on both sides.
      const raw = ts.get('sys') ?? [];
      for (const op of SINGLE_OPS) {
        const mine = opSamples(raw, op);
        const theirs = opSamples(threaded, op);
        if (primary && mine.length && theirs.length) {
          ctx.rows.push(row({ bench: 'maps', case: `${type} ${op} (sys/bpf.ts raw), libbpf with a second thread`, unit: 'ns/elem', tsbpf: stat(mine), peer: stat(theirs), peerLabel: threadedLabel(primary) }));
        }
      }
      if (timer && primary && libs.includes(primary)) await kernelSplit(ctx, timer, type, primary, tsArgs('sys'), peerArgs, n * (warmup + inner));
    }
  } finally {
    timer?.close();
  }
  if (timer) {
    ctx.notes.push(
      'maps: "kernel time per bpf(2) call" is measured in the kernel by bench/bpf/syscall_time.bpf.c (tp_btf/sys_enter to tp_btf/sys_exit of each child process of the bench, loaded with tsbpf), in runs of their own: the tracer slows every syscall while attached. "The rest of the op" is a traced run\'s wall time per op less its kernel time per call: it includes the tracer\'s own work on each call, the same on both sides, so compare its differences, not its ratios.',
    );
  }
  ctx.notes.push(
    `maps: ${n} elements, ${warmup} untimed warm-up passes then ${inner} timed passes per process (median), one process per round and side, pinned to CPU 0 on both sides. BpfMap has no deleteBatch (that row exists only for the raw calls); its batch rows, labelled typed, time updateBatch (typed entries, encoded into the buffers the map keeps from its previous batch) and lookupBatchBytes (bytes, read into buffers made once, as the peer's arrays are). The getpid() rows time the cheapest syscall through koffi against C: the floor of any FFI crossing; the syscall(SYS_getpid) rows the same syscall with the four integer arguments the loader passes to syscall(2) for an element call (koffi called directly). "libbpf with a second thread" runs the peer with one idle thread beside its loop: in a multithreaded process (every Node process) the kernel takes a counted reference on the map's file for each call.`,
  );
}

/** The samples of `op` over a side's processes. */
function opSamples(results: readonly MapsResult[] | undefined, op: string): number[] {
  return (results ?? []).map((r) => r.nsPerOp[op]).filter((x): x is number => x !== undefined);
}

/**
 * Runs of their own with the bpf(2) tracer following the child, alternating as the timed ones (each
 * process makes `callsPerOp` calls of each single-element op):
 * tsbpf's raw calls, the peer, the peer with a second thread. Rows: kernel time per call, and the
 * rest of the op in the same runs (wall time per op less kernel time per call): user space, the FFI
 * crossing, the syscall's entry and exit, and the tracer's own work, which is the same on both sides.
 */
async function kernelSplit(ctx: BenchContext, timer: SyscallTimer, type: string, lib: Libbpf, tsArgs: string[], peerArgs: string[], callsPerOp: number): Promise<void> {
  const traced = async (cmd: string, args: string[]): Promise<{ kernel: KernelTimes; wall: MapsResult }> => {
    const { result, times } = await timer.measure(() => runChild<MapsResult>(cmd, args));
    return { kernel: times, wall: result.json };
  };
  const { a: mine, b: theirs } = await timer.attached(() =>
    alternate(
      ctx.rounds,
      () => traced(process.execPath, tsArgs),
      async () => ({ plain: await traced(peerPath(lib, 'maps'), peerArgs), threaded: await traced(peerPath(lib, 'maps'), [...peerArgs, 'threaded']) }),
    ),
  );
  const plain = theirs.map((t) => t.plain);
  const threaded = theirs.map((t) => t.threaded);
  for (const op of SINGLE_OPS) {
    if (op === 'delete' && type !== 'hash') continue; // array elements cannot be deleted
    const cmd = BPF_CMD_NUMBER[op];
    const kernel = (runs: readonly { kernel: KernelTimes }[]): number[] => runs.map((r) => nsPerCall(r.kernel, cmd)).filter((x): x is number => x !== undefined);
    const rest = (runs: readonly { kernel: KernelTimes; wall: MapsResult }[]): number[] =>
      runs.flatMap((r) => {
        const k = nsPerCall(r.kernel, cmd);
        const wall = r.wall.nsPerOp[op];
        return k === undefined || wall === undefined ? [] : [wall - k];
      });
    // Each process makes exactly `callsPerOp` calls of the op: a tracer that counts other calls (or
    // misses some) would explain nothing, so its figures are refused.
    const miscounted = [...mine, ...plain, ...threaded].map((r) => r.kernel.get(cmd)?.calls ?? 0).filter((c) => c !== callsPerOp);
    if (miscounted.length) {
      ctx.skipped.push({ bench: 'maps kernel time', reason: `failed: the bpf(2) tracer counted ${miscounted.join(', ')} ${op} calls in processes that each made ${callsPerOp}` });
      continue;
    }
    // Every run counted `callsPerOp` calls of the op: every run has a figure.
    const kMine = kernel(mine);
    const label = `${type} ${op} (sys/bpf.ts raw): kernel time per bpf(2) call (traced runs)`;
    for (const [runs, peerLabel] of [
      [plain, libLabel(lib)],
      [threaded, threadedLabel(lib)],
    ] as const) {
      const k = kernel(runs);
      if (k.length) ctx.rows.push(row({ bench: 'maps', case: label, unit: 'ns/elem', tsbpf: stat(kMine), peer: stat(k), peerLabel }));
    }
    const rMine = rest(mine);
    const rTheirs = rest(plain);
    if (rMine.length && rTheirs.length) {
      ctx.rows.push(row({ bench: 'maps', case: `${type} ${op} (sys/bpf.ts raw): the rest of the op in the traced runs (wall time − kernel time): user space, FFI, syscall entry and exit, tracer`, unit: 'ns/elem', tsbpf: stat(rMine), peer: stat(rTheirs), peerLabel: libLabel(lib) }));
    }
  }
}
