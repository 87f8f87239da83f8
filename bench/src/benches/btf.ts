/**
 * Benchmark 1: kernel BTF. Parse /sys/kernel/btf/vmlinux and find `struct task_struct`, the first
 * time in a fresh process and repeatedly, tsbpf (loadKernelBtf + Btf.find) against libbpf
 * (btf__load_vmlinux_btf + btf__find_by_name_kind). Also the peak RSS of each first-call process.
 */
import { peerPath, withoutCodeCache } from '../build.js';
import { alternate, libLabel, primaryLib, WORKER, type BenchContext } from '../context.js';
import { runChild } from '../proc.js';
import { ratioTarget, row } from '../result.js';
import { median, stat } from '../stats.js';

interface TsFirst {
  importMs: number;
  firstMs: number;
  loadMs: number;
  findMs: number;
  typeId: number;
  vmhwmKb: number;
  /** Lookups the memo file answered (the `remembered` runs must have one). */
  memoHits: number;
}
interface PeerFirst {
  libbpf: string;
  firstMs: number;
  typeId: number;
  vmhwmKb: number;
}
interface Repeat {
  samplesMs: number[];
  typeId: number;
  libbpf?: string;
}

export async function benchBtf(ctx: BenchContext): Promise<void> {
  const repeat = ctx.quick ? 3 : 20;
  const libs = ctx.peerSkip ? [] : ctx.libs;
  if (ctx.peerSkip) ctx.skipped.push({ bench: 'btf', reason: `libbpf peer skipped: ${ctx.peerSkip}` });
  const primary = primaryLib(ctx);
  // First call: one fresh process per round and side. The library entry's code cache is warm, as
  // on a user's second run (one untimed run first); a second tsbpf process per round runs without it.
  await runChild(process.execPath, [WORKER, 'btf', 'first']);
  await runChild(process.execPath, [WORKER, 'btf', 'first', 'remembered']); // writes the memo file
  const tsCold: TsFirst[] = [];
  const tsRemembered: TsFirst[] = [];
  const ts: { first: TsFirst; exitMs: number }[] = [];
  const peers = new Map<string, { first: PeerFirst; exitMs: number }[]>();
  await alternate(
    ctx.rounds,
    async () => {
      const r = await runChild<TsFirst>(process.execPath, [WORKER, 'btf', 'first']);
      ts.push({ first: r.json, exitMs: r.exitMs });
      tsCold.push((await runChild<TsFirst>(process.execPath, [WORKER, 'btf', 'first'], { env: withoutCodeCache() })).json);
      tsRemembered.push((await runChild<TsFirst>(process.execPath, [WORKER, 'btf', 'first', 'remembered'])).json);
    },
    async () => {
      for (const lib of libs) {
        const r = await runChild<PeerFirst>(peerPath(lib, 'btf'), ['first']);
        lib.reported = r.json.libbpf;
        const list = peers.get(lib.id) ?? [];
        list.push({ first: r.json, exitMs: r.exitMs });
        peers.set(lib.id, list);
      }
    },
  );
  const tsFirst = stat(ts.map((x) => x.first.firstMs));
  // The remembered row only means something if the memo answered in every such process.
  const remembered = tsRemembered.every((x) => x.memoHits >= 1) ? stat(tsRemembered.map((x) => x.firstMs)) : undefined;
  if (remembered === undefined) ctx.skipped.push({ bench: 'btf', reason: 'the remembered-lookup row: the memo file did not answer (is the cache directory usable?)' });
  const parts = ['importMs', 'loadMs', 'findMs'] as const;
  const partText = parts.map((p) => `${p.replace('Ms', '')} ${median(ts.map((x) => x.first[p])).toFixed(2)} ms`).join(', ');
  for (const lib of libs) {
    const p = peers.get(lib.id) ?? [];
    const r = row({ bench: 'btf', case: 'first call in a fresh process', unit: 'ms', tsbpf: tsFirst, peer: stat(p.map((x) => x.first.firstMs)), peerLabel: libLabel(lib) });
    if (lib === primary) {
      r.target = ratioTarget(r.ratio, 1.0);
      r.note = `tsbpf medians: ${partText} (import not in the figure)`;
    }
    ctx.rows.push(r);
    const peerFirst = stat(p.map((x) => x.first.firstMs));
    // What a loader run sees from its second run on in a boot (the lookup answered from the memo file).
    if (remembered) ctx.rows.push(row({ bench: 'btf', case: 'first call in a fresh process, lookup remembered from an earlier process of this boot', unit: 'ms', tsbpf: remembered, peer: peerFirst, peerLabel: libLabel(lib) }));
    ctx.rows.push(row({ bench: 'btf', case: 'first call in a fresh process, without the code cache (a first run)', unit: 'ms', tsbpf: stat(tsCold.map((x) => x.firstMs)), peer: peerFirst, peerLabel: libLabel(lib) }));
    // The cache moves work into the import (reading and deserializing it): both spans, both ways.
    ctx.rows.push(row({ bench: 'btf', case: 'import of @tsbpf/loader + first call (code cache warm)', unit: 'ms', tsbpf: stat(ts.map((x) => x.first.importMs + x.first.firstMs)), peer: peerFirst, peerLabel: libLabel(lib) }));
    ctx.rows.push(row({ bench: 'btf', case: 'import of @tsbpf/loader + first call, without the code cache', unit: 'ms', tsbpf: stat(tsCold.map((x) => x.importMs + x.firstMs)), peer: peerFirst, peerLabel: libLabel(lib) }));
  }
  if (libs.length === 0) {
    ctx.rows.push(row({ bench: 'btf', case: 'first call in a fresh process', unit: 'ms', tsbpf: tsFirst, note: partText }));
    if (remembered) ctx.rows.push(row({ bench: 'btf', case: 'first call in a fresh process, lookup remembered from an earlier process of this boot', unit: 'ms', tsbpf: remembered }));
  }
  for (const lib of libs) {
    const p = peers.get(lib.id) ?? [];
    ctx.rows.push(row({ bench: 'btf', case: 'first call: process spawn → exit', unit: 'ms', tsbpf: stat(ts.map((x) => x.exitMs)), peer: stat(p.map((x) => x.exitMs)), peerLabel: libLabel(lib) }));
  }
  // Peak RSS of the first-call processes.
  for (const lib of libs) {
    const p = peers.get(lib.id) ?? [];
    ctx.rows.push(
      row({
        bench: 'memory',
        case: 'kernel-BTF process peak RSS (VmHWM)',
        unit: 'MB',
        tsbpf: stat(ts.map((x) => x.first.vmhwmKb / 1024)),
        peer: stat(p.map((x) => x.first.vmhwmKb / 1024)),
        peerLabel: libLabel(lib),
      }),
    );
  }
  // Repeated: each sample parses the whole file again (no cache).
  const tsRep: number[] = [];
  const peerRep = new Map<string, number[]>();
  await alternate(
    ctx.rounds,
    async () => {
      const r = await runChild<Repeat>(process.execPath, [WORKER, 'btf', 'repeat', String(repeat)]);
      // Skip the first (cold) sample: "repeated" is the steady state.
      tsRep.push(median(r.json.samplesMs.slice(1)));
    },
    async () => {
      for (const lib of libs) {
        const r = await runChild<Repeat>(peerPath(lib, 'btf'), ['repeat', String(repeat)]);
        const list = peerRep.get(lib.id) ?? [];
        list.push(median(r.json.samplesMs.slice(1)));
        peerRep.set(lib.id, list);
      }
    },
  );
  for (const lib of libs) {
    const r = row({ bench: 'btf', case: `repeated (median of ${repeat - 1} warm calls per process)`, unit: 'ms', tsbpf: stat(tsRep), peer: stat(peerRep.get(lib.id) ?? []), peerLabel: libLabel(lib) });
    if (lib === primary) r.target = ratioTarget(r.ratio, 1.0);
    ctx.rows.push(r);
  }
  if (libs.length === 0) ctx.rows.push(row({ bench: 'btf', case: 'repeated', unit: 'ms', tsbpf: stat(tsRep) }));
}
