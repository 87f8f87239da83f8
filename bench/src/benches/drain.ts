/**
 * Benchmarks 3 and 4: ring buffer and perf buffer drain. A BPF_PROG_TYPE_SYSCALL (ring) or raw_tp
 * (perf) producer, run with BPF_PROG_TEST_RUN, writes a bpf_loop burst of 64/128/1024-byte records;
 * then the consumer drains them without blocking and only the drain is timed: CPU time of the
 * process (getrusage) and wall time. tsbpf RingBufReader/PerfReader.readAvailableRaw (the record as
 * an offset into one shared view) against libbpf ring_buffer__consume/perf_buffer__consume, raw (one
 * field read per record) and decoded (tsbpf: compileDecoder(view, offset) → object; C: copy into the
 * struct and read the header fields).
 */
import { PRODUCER_OBJECT, peerPath } from '../build.js';
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
  // Enough for the JIT to finish optimizing the drain loop and the decoder under load (steady state).
  const warmup = ctx.quick ? 1 : 10;
  for (const size of [64, 128, 1024]) {
    for (const mode of ['raw', 'decoded'] as const) {
      const args = [PRODUCER_OBJECT, kind, String(size), String(burst), String(bursts), String(warmup), mode];
      const ts: DrainResult[] = [];
      const peers = new Map<string, DrainResult[]>();
      await alternate(
        ctx.rounds,
        async () => {
          ts.push((await runChild<DrainResult>(process.execPath, [WORKER, 'drain', ...args])).json);
        },
        async () => {
          for (const lib of libs) {
            const r = (await runChild<DrainResult>(peerPath(lib, 'drain'), args)).json;
            lib.reported = r.libbpf;
            peers.set(lib.id, [...(peers.get(lib.id) ?? []), r]);
          }
        },
      );
      const cpu = (rs: DrainResult[]): ReturnType<typeof stat> => stat(rs.map((r) => r.cpuNs / r.events));
      const rate = (rs: DrainResult[]): ReturnType<typeof stat> => stat(rs.map((r) => (r.events / r.wallNs) * 1e9 / 1e6));
      const name = `${kind} ${size} B ${mode}`;
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
  ctx.notes.push(`${bench}: ${bursts} bursts of ${burst} records per process (after ${warmup} warm-up bursts), one process per round and side; only the drain is timed.`);
}
