/**
 * Benchmarks 3 and 4: ring buffer and perf buffer drain, and the end-to-end rate. A BPF_PROG_TYPE_SYSCALL (ring) or raw_tp
 * (perf) producer, run with BPF_PROG_TEST_RUN, writes a bpf_loop burst of 64/128/1024-byte records;
 * then the consumer (pinned to CPU 0 on both sides) drains them without blocking and only the drain
 * is timed, after warm-up bursts: CPU time of the process (getrusage) and wall time. tsbpf
 * RingBufReader/PerfReader.readAvailableRaw (the record as an offset into one shared view) against
 * libbpf ring_buffer__consume/perf_buffer__consume, raw (one field read per record) and decoded
 * (tsbpf: compileDecoder(view, offset) → object; C: copy into the struct and read the header fields).
 * Perf buffers are drained with a wakeup per record and again with a wakeup watermark (see benchDrain).
 *
 * End to end ({@link benchEndToEnd}): a tracepoint producer writes one 128-byte event per getppid()
 * of a load generator pinned to the last CPU; the consumer (pinned to CPU 0) reads live, blocking in
 * epoll between bursts, for as long as the generator runs. Reported: events received per second,
 * the share the kernel refused or lost (ring or perf buffer full), and consumer CPU per event.
 */
import { cpus } from 'node:os';
import { HAMMER, PRODUCER_OBJECT, peerPath, type Libbpf } from '../build.js';
import { alternate, libLabel, primaryLib, WORKER, type BenchContext } from '../context.js';
import { runChild } from '../proc.js';
import { ratioTarget, row } from '../result.js';
import { stat } from '../stats.js';

interface DrainResult {
  events: number;
  cpuNs: number;
  wallNs: number;
  libbpf?: string;
}

/**
 * `rounds` rounds of the worker's `name` subcommand against the peer binary of the same name built
 * for each of `libs`, alternating (see {@link alternate}); results by side, peers by libbpf id.
 */
async function alternateSides<R extends { libbpf?: string }>(
  rounds: number,
  libs: readonly Libbpf[],
  name: 'drain' | 'e2e',
  args: readonly string[],
): Promise<{ ts: R[]; peers: Map<string, R[]> }> {
  const ts: R[] = [];
  const peers = new Map<string, R[]>();
  await alternate(
    rounds,
    async () => {
      ts.push((await runChild<R>(process.execPath, [WORKER, name, ...args])).json);
    },
    async () => {
      for (const lib of libs) {
        const r = (await runChild<R>(peerPath(lib, name), [...args])).json;
        lib.reported = r.libbpf;
        peers.set(lib.id, [...(peers.get(lib.id) ?? []), r]);
      }
    },
  );
  return { ts, peers };
}

/**
 * Bytes of the drain benchmarks' rings: `rb` holds 8 MiB, and both sides map 2048 pages per CPU for
 * perf (4 KiB pages assumed: larger ones only make the warm-up short of the first wrap).
 */
const DRAIN_RING_BYTES = 8 << 20;

/** Bytes a `size`-byte record takes in its ring: an 8-byte header, and for a perf sample the raw size word, padded to 8 bytes. */
function recordBytes(kind: 'ring' | 'perf', size: number): number {
  const roundUp8 = (n: number): number => Math.ceil(n / 8) * 8;
  return kind === 'ring' ? 8 + roundUp8(size) : 8 + roundUp8(size + 4);
}

export async function benchDrain(ctx: BenchContext, kind: 'ring' | 'perf'): Promise<void> {
  const bench = kind === 'ring' ? 'ringbuf' : 'perfbuf';
  if (ctx.producerSkip) {
    ctx.skipped.push({ bench, reason: ctx.producerSkip });
    return;
  }
  if (ctx.peerSkip) ctx.skipped.push({ bench, reason: `libbpf peer skipped: ${ctx.peerSkip}` });
  const libs = ctx.peerSkip ? [] : ctx.compareLibs;
  const primary = primaryLib(ctx);
  const burst = ctx.quick ? 256 : 4096;
  const bursts = ctx.quick ? 2 : 20;
  // Steady state: V8 reached its optimized drain loop after 6–13 bursts (one ~4 ms compile pause on
  // the way) in runs on the benchmark machine, so 10 warm-up bursts left tier-up inside the timed
  // ones. And until a ring has wrapped once, each burst lands on pages of the mapping not read
  // before, and those reads are slower (~16 ns a record for ring 64 B instead of ~6), and a reader's
  // path for the end of the ring is new: the warm-up also covers the first wrap. Both sides skip
  // at least these bursts.
  const warmupFor = (size: number): number => (ctx.quick ? 1 : Math.max(30, Math.ceil(DRAIN_RING_BYTES / (burst * recordBytes(kind, size))) + 10));
  // And a time: a burst takes ~0.2-2 ms, V8's background compiles ~10 ms each, and the drain loop
  // was seen running unoptimized past 30 bursts (ring 1024 B raw: 47 ns a record instead of 5, until
  // burst 18-39, once 106, from process to process; 4 of 7 processes of a full run slow throughout
  // their timed bursts). Both sides warm up for at least this long.
  const minWarmupMs = ctx.quick ? 0 : 250;
  // Perf buffers are drained twice: with a wakeup per record (wakeup_events = 1, as perf_buffer__new
  // and PerfReader set it) and with a watermark (no wakeup per record). BPF_PROG_TEST_RUN runs the
  // producer on the consumer's CPU, and in a VM each wakeup's self-IPI can trap to the hypervisor
  // there, leaving that CPU's caches cold for the drain timed next; the ring producer wakes no one
  // per record. Both sides of a row use the same setting.
  const wakeups = kind === 'perf' ? (['every', 'watermark'] as const) : (['every'] as const);
  for (const wakeup of wakeups) {
    for (const size of [64, 128, 1024]) {
      for (const mode of ['raw', 'decoded'] as const) {
        const warmup = warmupFor(size);
        const args = [PRODUCER_OBJECT, kind, String(size), String(burst), String(bursts), String(warmup), mode, wakeup, String(minWarmupMs)];
        const { ts, peers } = await alternateSides<DrainResult>(ctx.rounds, libs, 'drain', args);
        const cpu = (rs: DrainResult[]): ReturnType<typeof stat> => stat(rs.map((r) => r.cpuNs / r.events));
        const rate = (rs: DrainResult[]): ReturnType<typeof stat> => stat(rs.map((r) => (r.events / r.wallNs) * 1e9 / 1e6));
        const name = `${kind} ${size} B ${mode}${wakeup === 'watermark' ? ', watermark wakeups' : ''}`;
        const bound = mode === 'raw' ? 2 : 10;
        for (const lib of libs) {
          const p = peers.get(lib.id) ?? [];
          const r = row({ bench, case: `${name}: consumer CPU per event`, unit: 'ns', tsbpf: cpu(ts), peer: cpu(p), peerLabel: libLabel(lib) });
          if (lib === primary) r.target = ratioTarget(r.ratio, bound);
          ctx.rows.push(r);
          ctx.rows.push(row({ bench, case: `${name}: drain rate (higher is better)`, unit: 'M events/s', tsbpf: rate(ts), peer: rate(p), peerLabel: libLabel(lib) }));
        }
        if (libs.length === 0) ctx.rows.push(row({ bench, case: `${name}: consumer CPU per event`, unit: 'ns', tsbpf: cpu(ts) }));
      }
    }
  }
  ctx.notes.push(
    `${bench}: ${bursts} bursts of ${burst} records per process (after ${[64, 128, 1024].map(warmupFor).join('/')} warm-up bursts for 64/128/1024 B${ctx.quick ? '' : `: at least 30, and 10 past the ring's first wrap; and at least ${minWarmupMs} ms of warm-up`}), one process per round and side, consumer pinned to CPU 0 on both sides; only the drain is timed.` +
      (kind === 'perf' ? ' Rows without a wakeup setting wake the reader per record (wakeup_events = 1, the default of both readers); "watermark wakeups" rows set a 4 MiB wakeup watermark on both sides.' : ''),
  );
  await benchEndToEnd(ctx, kind);
}

interface EndToEndResult {
  received: number;
  written: number;
  /** Events the producer could not write (ring full): counted in the BPF program. */
  refused: number;
  /** Perf LOST records: the same drops seen from user space (a cross-check, not added to refused). */
  lost: number;
  calls: number;
  /** How long the load generator ran (its own clock): the rate's denominator on both sides. */
  hammerNs: number;
  cpuNs: number;
  wallNs: number;
  libbpf?: string;
}

/** The end-to-end case of `kind`: live consumption of a syscall-driven producer, tsbpf against each peer. */
async function benchEndToEnd(ctx: BenchContext, kind: 'ring' | 'perf'): Promise<void> {
  const bench = kind === 'ring' ? 'ringbuf' : 'perfbuf';
  if (ctx.hammerSkip) {
    ctx.skipped.push({ bench: `${bench} end-to-end`, reason: ctx.hammerSkip });
    return;
  }
  const libs = ctx.peerSkip ? [] : ctx.compareLibs;
  const ms = ctx.quick ? 200 : 1000;
  const hammerCpu = String(Math.max(0, cpus().length - 1));
  // Each round costs 2 × ms per mode and side: a few rounds are enough for rates of this size.
  const rounds = Math.min(ctx.rounds, 5);
  for (const mode of ['raw', 'decoded'] as const) {
    const args = [PRODUCER_OBJECT, kind, String(ms), mode, HAMMER, hammerCpu];
    const { ts, peers } = await alternateSides<EndToEndResult>(rounds, libs, 'e2e', args);
    // Per second of load (the generator's own run time): each side's wall time also holds its way out.
    const rate = (rs: EndToEndResult[]): ReturnType<typeof stat> => stat(rs.map((r) => (r.received / r.hammerNs) * 1e9 / 1e3));
    // A perf drop is both a failed bpf_perf_event_output (refused) and a LOST record: count it once.
    const missed = (rs: EndToEndResult[]): ReturnType<typeof stat> => stat(rs.map((r) => (100 * r.refused) / Math.max(1, r.written + r.refused)));
    const cpu = (rs: EndToEndResult[]): ReturnType<typeof stat> => stat(rs.map((r) => r.cpuNs / Math.max(1, r.received)));
    const name = `${kind} end-to-end 128 B ${mode}`;
    const cases: [string, string, (rs: EndToEndResult[]) => ReturnType<typeof stat>][] = [
      [`${name}: events received per second of load (higher is better)`, 'k events/s', rate],
      [`${name}: refused or lost by the kernel`, '% of events', missed],
      [`${name}: consumer CPU per event received`, 'ns', cpu],
    ];
    for (const [what, unit, f] of cases) {
      if (libs.length === 0) ctx.rows.push(row({ bench, case: what, unit, tsbpf: f(ts) }));
      for (const lib of libs) ctx.rows.push(row({ bench, case: what, unit, tsbpf: f(ts), peer: f(peers.get(lib.id) ?? []), peerLabel: libLabel(lib) }));
    }
  }
  ctx.notes.push(
    `${bench} end-to-end: ${kind === 'ring' ? 'ring_e2e into a 1 MiB ring' : 'perf_e2e into 64-page perf buffers'}, one event per getppid() of bench/peers/hammer.c pinned to CPU ${hammerCpu} for ${ms} ms, consumer pinned to CPU 0 and blocking in epoll (tsbpf startRaw, libbpf ${kind === 'ring' ? 'ring_buffer__poll' : 'perf_buffer__poll'}); ${rounds} rounds.`,
  );
}
