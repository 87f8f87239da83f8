/**
 * Benchmark 2: gadget cold start, and benchmark 5's gadget half: peak RSS while tracing.
 *
 * Cold start: process start → every trace-capabilities program attached and the ring buffer ready,
 * measured by this process from just before spawn() to the readiness line on the child's stderr.
 * tsbpf: the worker (`GadgetRun.start` over trace_capabilities_tp.bpf.o), and the gadget-cap CLI when
 * it prints a readiness line; libbpf: a C loader of the same object (open, load, attach all,
 * ring_buffer__new, marker). `node -e 0` is the floor of any Node process.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { GADGET_OBJECT, peerPath, REPO_ROOT } from '../build.js';
import { alternate, libLabel, primaryLib, WORKER, type BenchContext } from '../context.js';
import { runChild } from '../proc.js';
import { ratioTarget, row } from '../result.js';
import { median, stat } from '../stats.js';

interface TsGadget {
  importMs: number;
  specMs: number;
  startMs: number;
  loadAttachMs: number;
  loadPhasesMs: number;
  attachMs: number;
  timings: Record<string, number>;
  programs: number;
  events: number;
  vmhwmKb: number;
}
interface PeerGadget {
  libbpf: string;
  openMs: number;
  loadMs: number;
  attachMs: number;
  ringbufMs: number;
  totalMs: number;
  programs: number;
  events: number;
  vmhwmKb: number;
}

const READY = /^READY$/m;

export async function benchGadget(ctx: BenchContext): Promise<void> {
  const libs = ctx.peerSkip ? [] : ctx.libs;
  if (ctx.peerSkip) ctx.skipped.push({ bench: 'gadget', reason: `libbpf peer skipped: ${ctx.peerSkip}` });
  const primary = primaryLib(ctx);
  const floor: number[] = [];
  const ts: { json: TsGadget; readyMs: number }[] = [];
  const peers = new Map<string, { json: PeerGadget; readyMs: number }[]>();
  await alternate(
    ctx.rounds,
    async () => {
      floor.push((await runChild(process.execPath, ['-e', '0'], { noJson: true })).exitMs);
      const r = await runChild<TsGadget>(process.execPath, [WORKER, 'gadget', GADGET_OBJECT], { readyMarker: READY });
      ts.push({ json: r.json, readyMs: r.readyMs ?? NaN });
    },
    async () => {
      for (const lib of libs) {
        const r = await runChild<PeerGadget>(peerPath(lib, 'gadget'), [GADGET_OBJECT], { readyMarker: READY });
        lib.reported = r.json.libbpf;
        const list = peers.get(lib.id) ?? [];
        list.push({ json: r.json, readyMs: r.readyMs ?? NaN });
        peers.set(lib.id, list);
      }
    },
  );
  const nodeFloor = stat(floor);
  const tsReady = stat(ts.map((x) => x.readyMs));
  const tsLoad = stat(ts.map((x) => x.json.loadAttachMs));
  ctx.rows.push(row({ bench: 'gadget', case: 'node -e 0 (floor: spawn → exit)', unit: 'ms', tsbpf: nodeFloor }));
  for (const lib of libs) {
    const p = peers.get(lib.id) ?? [];
    const peerLoad = stat(p.map((x) => x.json.totalMs));
    const r = row({ bench: 'gadget', case: 'in-process load+attach (object read → ready)', unit: 'ms', tsbpf: tsLoad, peer: peerLoad, peerLabel: libLabel(lib) });
    if (lib === primary) r.target = ratioTarget(r.ratio, 1.5);
    ctx.rows.push(r);
  }
  for (const lib of libs) {
    const p = peers.get(lib.id) ?? [];
    const peerReady = stat(p.map((x) => x.readyMs));
    const r = row({ bench: 'gadget', case: 'process start → ready', unit: 'ms', tsbpf: tsReady, peer: peerReady, peerLabel: libLabel(lib) });
    if (lib === primary) {
      const bound = nodeFloor.median + 1.5 * peerReady.median;
      r.target = { text: `≤ node -e 0 + 1.5× libbpf = ${bound.toFixed(1)} ms`, bound, met: tsReady.median <= bound };
    }
    ctx.rows.push(r);
  }
  // Phases: tsbpf's Collection.timings and the worker's own laps, libbpf's open/load/attach.
  const tsPhase = (f: (j: TsGadget) => number): ReturnType<typeof stat> => stat(ts.map((x) => f(x.json)));
  const p0 = primary ? (peers.get(primary.id) ?? []) : [];
  const peerPhase = (f: (j: PeerGadget) => number): ReturnType<typeof stat> | undefined => (p0.length ? stat(p0.map((x) => f(x.json))) : undefined);
  const label = primary ? libLabel(primary) : undefined;
  ctx.rows.push(row({ bench: 'gadget', case: 'phase: import @tsbpf/loader', unit: 'ms', tsbpf: tsPhase((j) => j.importMs) }));
  ctx.rows.push(row({ bench: 'gadget', case: 'phase: parse object (CollectionSpec.fromFile / bpf_object__open)', unit: 'ms', tsbpf: tsPhase((j) => j.specMs), peer: peerPhase((j) => j.openMs), peerLabel: label }));
  ctx.rows.push(row({ bench: 'gadget', case: 'phase: load (Collection.load phases / bpf_object__load)', unit: 'ms', tsbpf: tsPhase((j) => j.loadPhasesMs), peer: peerPhase((j) => j.loadMs), peerLabel: label }));
  for (const k of ['kernelBtf', 'objectBtf', 'maps', 'relocate', 'programs']) {
    ctx.rows.push(row({ bench: 'gadget', case: `phase: Collection.timings.${k}`, unit: 'ms', tsbpf: tsPhase((j) => j.timings[k] ?? 0) }));
  }
  ctx.rows.push(row({ bench: 'gadget', case: 'phase: attach all programs', unit: 'ms', tsbpf: tsPhase((j) => j.attachMs), peer: peerPhase((j) => j.attachMs), peerLabel: label }));
  ctx.rows.push(
    row({
      bench: 'gadget',
      case: 'phase: rest of GadgetRun.start (metadata, params, reader) / ring_buffer__new',
      unit: 'ms',
      tsbpf: tsPhase((j) => j.startMs - j.loadPhasesMs - j.attachMs),
      peer: peerPhase((j) => j.ringbufMs),
      peerLabel: label,
    }),
  );
  await gadgetCli(ctx, nodeFloor.median);
}

/** The gadget-cap CLI, when it is built and prints a readiness line within a few seconds. */
async function gadgetCli(ctx: BenchContext, floorMs: number): Promise<void> {
  const cli = join(REPO_ROOT, 'packages/gadget-cap/dist/cli.js');
  if (!existsSync(cli)) {
    ctx.skipped.push({ bench: 'gadget', reason: 'gadget-cap CLI not built (packages/gadget-cap/dist/cli.js missing): cold start measured with the GadgetRun worker only' });
    return;
  }
  const samples: number[] = [];
  for (let r = 0; r < ctx.rounds; r++) {
    const ms = await timeCliReady(cli);
    if (typeof ms === 'string') {
      ctx.skipped.push({ bench: 'gadget', reason: `gadget-cap CLI: ${ms}` });
      return;
    }
    samples.push(ms);
  }
  ctx.rows.push(row({ bench: 'gadget', case: 'trace-capabilities CLI: process start → readiness line', unit: 'ms', tsbpf: stat(samples), note: `node -e 0 floor ${floorMs.toFixed(1)} ms` }));
}

/** Spawn the CLI, time its first stderr line that says it is ready, then stop it. */
function timeCliReady(cli: string): Promise<number | string> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [cli], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve(`printed no readiness line within 10 s (stderr: ${JSON.stringify(err.slice(0, 300))})`);
    }, 10_000);
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      err += d;
      if (/ready|tracing|listening/i.test(err)) {
        const ms = performance.now() - t0;
        clearTimeout(timer);
        child.kill('SIGINT');
        resolve(ms);
      }
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve(`exited ${code} before a readiness line (stderr: ${JSON.stringify(err.slice(0, 300))})`);
    });
  });
}

/** Benchmark 5, gadget half: peak RSS while tracing for `seconds`, with a load generator running. */
export async function benchGadgetMemory(ctx: BenchContext): Promise<void> {
  const seconds = ctx.quick ? 1 : 10;
  const rounds = ctx.quick ? 1 : Math.min(ctx.rounds, 3);
  const primary = primaryLib(ctx);
  const lib = ctx.peerSkip ? undefined : primary;
  if (ctx.peerSkip) ctx.skipped.push({ bench: 'memory', reason: `libbpf peer skipped: ${ctx.peerSkip}` });
  const ts: TsGadget[] = [];
  const peer: PeerGadget[] = [];
  const floor: number[] = [];
  await alternate(
    rounds,
    async () => {
      floor.push((await runChild<{ vmhwmKb: number }>(process.execPath, ['-e', "console.log(JSON.stringify({vmhwmKb: Number(/VmHWM:\\s+(\\d+)/.exec(require('fs').readFileSync('/proc/self/status','utf8'))[1])}))"])).json.vmhwmKb);
      ts.push(await withLoad(() => runChild<TsGadget>(process.execPath, [WORKER, 'gadget', GADGET_OBJECT, String(seconds)], { readyMarker: READY })));
    },
    async () => {
      if (lib) peer.push(await withLoad(() => runChild<PeerGadget>(peerPath(lib, 'gadget'), [GADGET_OBJECT, String(seconds)], { readyMarker: READY })));
    },
  );
  const tsRss = stat(ts.map((j) => j.vmhwmKb / 1024));
  const r = row({
    bench: 'memory',
    case: `gadget peak RSS while tracing ${seconds} s (VmHWM)`,
    unit: 'MB',
    tsbpf: tsRss,
    peer: lib ? stat(peer.map((j) => j.vmhwmKb / 1024)) : undefined,
    peerLabel: lib ? libLabel(lib) : undefined,
    note: `events seen per run: tsbpf ${median(ts.map((j) => j.events))}${lib ? `, libbpf ${median(peer.map((j) => j.events))}` : ''}; tsbpf decodes every event, the C loader copies it`,
  });
  r.target = { text: '< 70 MB', bound: 70, met: tsRss.median < 70 };
  ctx.rows.push(r);
  ctx.rows.push(row({ bench: 'memory', case: 'node -e 0 peak RSS (floor)', unit: 'MB', tsbpf: stat(floor.map((k) => k / 1024)) }));
}

/** Run `f` while exec'ing /bin/true every 20 ms (each exec makes capability checks to trace). */
async function withLoad<T>(f: () => Promise<{ json: T }>): Promise<T> {
  let stop = false;
  const gen = (async () => {
    while (!stop) {
      await new Promise<void>((res) => {
        const c = spawn('/bin/true', { stdio: 'ignore' });
        c.on('close', () => res());
        c.on('error', () => res());
      });
      await new Promise((res) => setTimeout(res, 20));
    }
  })();
  try {
    return (await f()).json;
  } finally {
    stop = true;
    await gen;
  }
}
