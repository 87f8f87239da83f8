/**
 * Benchmark 6: map operations. Per-element cost of update/lookup/delete, single and batched, on a
 * hash and an array map (4-byte keys, 64-byte values): tsbpf's BpfMap (typed: number keys, value
 * copies), BpfMap's byte API with reused buffers, and the raw sys/bpf.ts calls, against libbpf's
 * bpf_map_* wrappers.
 */
import { peerPath } from '../build.js';
import { alternate, libLabel, primaryLib, WORKER, type BenchContext } from '../context.js';
import { runChild } from '../proc.js';
import { ratioTarget, row } from '../result.js';
import { stat } from '../stats.js';

interface MapsResult {
  nsPerOp: Record<string, number>;
  /** User and kernel CPU of the single-element ops (raw calls / libbpf), summed over the process's passes. */
  split?: Record<string, { userNs: number; sysNs: number; ops: number }>;
  libbpf?: string;
}

const FLAVOURS = [
  ['bpfmap', 'BpfMap typed'],
  ['bytes', 'BpfMap bytes'],
  ['sys', 'sys/bpf.ts raw'],
] as const;

export async function benchMaps(ctx: BenchContext): Promise<void> {
  if (ctx.peerSkip) ctx.skipped.push({ bench: 'maps', reason: `libbpf peer skipped: ${ctx.peerSkip}` });
  const libs = ctx.peerSkip ? [] : ctx.compareLibs;
  const primary = primaryLib(ctx);
  const n = ctx.quick ? 256 : 10_000;
  const inner = ctx.quick ? 1 : 5;
  for (const type of ['hash', 'array'] as const) {
    const ts = new Map<string, MapsResult[]>();
    const peers = new Map<string, MapsResult[]>();
    await alternate(
      ctx.rounds,
      async () => {
        for (const [f] of FLAVOURS) {
          const r = (await runChild<MapsResult>(process.execPath, [WORKER, 'maps', f, type, String(n), String(inner)])).json;
          ts.set(f, [...(ts.get(f) ?? []), r]);
        }
      },
      async () => {
        for (const lib of libs) {
          const r = (await runChild<MapsResult>(peerPath(lib, 'maps'), [type, String(n), String(inner)])).json;
          lib.reported = r.libbpf;
          peers.set(lib.id, [...(peers.get(lib.id) ?? []), r]);
        }
      },
    );
    const ops = ['update', 'lookup', 'delete', 'update_batch', 'lookup_batch', 'delete_batch', 'getpid'];
    for (const op of ops) {
      for (const [f, fname] of FLAVOURS) {
        // getpid() is timed by the raw flavour only: the floor of one FFI crossing, no target.
        const label = op === 'getpid' ? `${type} run: getpid() (FFI floor, koffi vs C)` : `${type} ${op} (${fname})`;
        const mine = (ts.get(f) ?? []).map((r) => r.nsPerOp[op]).filter((x): x is number => x !== undefined);
        if (mine.length === 0) continue;
        const tsStat = stat(mine);
        if (libs.length === 0) {
          ctx.rows.push(row({ bench: 'maps', case: label, unit: 'ns/elem', tsbpf: tsStat }));
          continue;
        }
        for (const lib of libs) {
          const theirs = (peers.get(lib.id) ?? []).map((r) => r.nsPerOp[op]).filter((x): x is number => x !== undefined);
          if (theirs.length === 0) continue;
          const r = row({ bench: 'maps', case: label, unit: 'ns/elem', tsbpf: tsStat, peer: stat(theirs), peerLabel: libLabel(lib) });
          if (lib === primary && op !== 'getpid') r.target = ratioTarget(r.ratio, 1.3);
          ctx.rows.push(r);
        }
      }
    }
    // Where the time of a single-element op goes: user space (JS + FFI, or libbpf) and the kernel.
    for (const op of ['update', 'lookup', 'delete']) {
      for (const [part, key] of [
        ['user', 'userNs'],
        ['kernel', 'sysNs'],
      ] as const) {
        const per = (rs: MapsResult[]): number[] =>
          rs.flatMap((r) => {
            const sp = r.split?.[op];
            return sp && sp.ops > 0 ? [sp[key] / sp.ops] : [];
          });
        const mine = per(ts.get('sys') ?? []);
        if (mine.length === 0) continue;
        const label = `${type} ${op} (sys/bpf.ts raw): ${part} CPU per op`;
        if (libs.length === 0) ctx.rows.push(row({ bench: 'maps', case: label, unit: 'ns/elem', tsbpf: stat(mine) }));
        for (const lib of libs) {
          const theirs = per(peers.get(lib.id) ?? []);
          if (theirs.length) ctx.rows.push(row({ bench: 'maps', case: label, unit: 'ns/elem', tsbpf: stat(mine), peer: stat(theirs), peerLabel: libLabel(lib) }));
        }
      }
    }
  }
  ctx.notes.push(
    `maps: the user/kernel CPU rows split each side's CPU time with getrusage, which samples the split at the scheduler tick (250 Hz here): read them over many rounds.`,
  );
  ctx.notes.push(
    `maps: ${n} elements, ${inner} timed passes per process (median), one process per round and side, pinned to CPU 0 on both sides. BpfMap has no deleteBatch, and its byte API has no batch calls: those rows exist only for the raw calls. The getpid() rows time the cheapest syscall through koffi against C: the floor of any FFI crossing.`,
  );
}
