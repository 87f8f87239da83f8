/**
 * Benchmark 2: gadget cold start, and benchmark 5's gadget half: peak RSS while tracing.
 *
 * Cold start: process start → every trace-capabilities program attached and the ring buffer ready,
 * measured by this process from just before spawn() to the readiness line on the child's stderr.
 * tsbpf: the worker (`GadgetRun.start` over trace_capabilities_tp.bpf.o, through the library entry
 * with its code cache warm, and without it), and the gadget-cap CLI when it prints a readiness
 * line; libbpf: a C loader of the same object (open, load, attach all,
 * ring_buffer__new, marker). `node -e 0` is the floor of any Node process.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CODE_CACHE_DIR, GADGET_OBJECT, peerPath, REPO_ROOT, withoutCodeCache, type Libbpf } from '../build.js';
import { BPF_CMD_NUMBER, openSyscallTimer, totalNs, type KernelTimes, type SyscallTimer } from '../ktime.js';
import { alternate, libLabel, primaryLib, WORKER, type BenchContext } from '../context.js';
import { runChild } from '../proc.js';
import { ratioTarget, row, type Target } from '../result.js';
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
  const haveCli = existsSync(GADGET_CLI);
  if (!haveCli) ctx.skipped.push({ bench: 'gadget', reason: 'gadget-cap CLI not built (packages/gadget-cap/dist/cli.cjs missing): cold start measured with the GadgetRun worker only' });
  const primary = primaryLib(ctx);
  const floor: number[] = [];
  const ts: { json: TsGadget; readyMs: number }[] = [];
  const cli: CliRun[] = [];
  /** The CLI's run (code cache warm) of each round, undefined where it failed: paired with traced runs by round. */
  const cliByRound: (CliRun | undefined)[] = [];
  const cliCold: CliRun[] = [];
  const cliErrors: string[] = [];
  // One untimed run of each writes its code cache, as a user's first run does.
  if (haveCli) await runCli(0).catch(() => undefined);
  await runChild(process.execPath, [WORKER, 'gadget', GADGET_OBJECT], { readyMarker: READY });
  const tsCold: { json: TsGadget; readyMs: number }[] = [];
  const peers = new Map<string, { json: PeerGadget; readyMs: number }[]>();
  await alternate(
    ctx.rounds,
    async () => {
      floor.push((await runChild(process.execPath, ['-e', '0'], { noJson: true })).exitMs);
      const r = await runChild<TsGadget>(process.execPath, [WORKER, 'gadget', GADGET_OBJECT], { readyMarker: READY });
      ts.push({ json: r.json, readyMs: r.readyMs ?? NaN });
      const cold = await runChild<TsGadget>(process.execPath, [WORKER, 'gadget', GADGET_OBJECT], { readyMarker: READY, env: withoutCodeCache() });
      tsCold.push({ json: cold.json, readyMs: cold.readyMs ?? NaN });
      if (haveCli) {
        let warm: CliRun | undefined;
        try {
          warm = await runCli(0);
          cli.push(warm);
          cliCold.push(await runCli(0, { codeCache: false }));
        } catch (err) {
          cliErrors.push((err as Error).message.split('\n').slice(0, 3).join(' '));
        }
        cliByRound.push(warm);
      }
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
  if (cliErrors.length) ctx.notes.push(`gadget: ${cliErrors.length} of ${ctx.rounds} trace-capabilities CLI runs failed (not in the figures): ${[...new Set(cliErrors)].join('; ')}`);
  const nodeFloor = stat(floor);
  const tsReady = stat(ts.map((x) => x.readyMs));
  const cliReady = cli.length ? stat(cli.map((x) => x.readyMs)) : undefined;
  const cliColdReady = cliCold.length ? stat(cliCold.map((x) => x.readyMs)) : undefined;
  const tsLoad = stat(ts.map((x) => x.json.loadAttachMs));
  ctx.rows.push(row({ bench: 'gadget', case: 'node -e 0 (floor: spawn → exit)', unit: 'ms', tsbpf: nodeFloor }));
  for (const lib of libs) {
    const p = peers.get(lib.id) ?? [];
    const peerLoad = stat(p.map((x) => x.json.totalMs));
    const r = row({ bench: 'gadget', case: 'in-process load+attach (object read → ready): GadgetRun worker', unit: 'ms', tsbpf: tsLoad, peer: peerLoad, peerLabel: libLabel(lib) });
    if (lib === primary) r.target = ratioTarget(r.ratio, 1.5);
    ctx.rows.push(r);
    ctx.rows.push(row({ bench: 'gadget', case: 'in-process load+attach (object read → ready): GadgetRun worker without its code cache (a first run)', unit: 'ms', tsbpf: stat(tsCold.map((x) => x.json.loadAttachMs)), peer: peerLoad, peerLabel: libLabel(lib) }));
  }
  // The CLI as shipped (code cache warm): object read → ready, the same span as the worker's row.
  // Choosing the strategy comes before it and has no libbpf counterpart (the C loader is handed the object).
  const cliTimed = cli.flatMap((x) => (x.timings ? [x.timings] : []));
  if (cliTimed.length) {
    const cliLoad = stat(cliTimed.map((t) => t.parseMs + t.loadAttachMs));
    for (const lib of libs) {
      const p = peers.get(lib.id) ?? [];
      const r = row({ bench: 'gadget', case: 'in-process load+attach (object read → ready): trace-capabilities CLI', unit: 'ms', tsbpf: cliLoad, peer: stat(p.map((x) => x.json.totalMs)), peerLabel: libLabel(lib) });
      if (lib === primary) r.target = ratioTarget(r.ratio, 1.5);
      ctx.rows.push(r);
    }
    ctx.rows.push(row({ bench: 'gadget', case: 'phase: trace-capabilities CLI choosing its attach strategy (probes)', unit: 'ms', tsbpf: stat(cliTimed.map((t) => t.strategyMs)) }));
  }
  const strategy = cli.length ? /attached with the (.*)$/m.exec(cli[0].stderr)?.[1] : undefined;
  for (const lib of libs) {
    const p = peers.get(lib.id) ?? [];
    const peerReady = stat(p.map((x) => x.readyMs));
    const bound = nodeFloor.median + 1.5 * peerReady.median;
    const target = (s: ReturnType<typeof stat>): Target => ({ text: `≤ node -e 0 + 1.5× libbpf = ${bound.toFixed(1)} ms`, bound, met: s.median <= bound });
    if (cliReady) {
      const r = row({ bench: 'gadget', case: 'process start → ready: trace-capabilities CLI', unit: 'ms', tsbpf: cliReady, peer: peerReady, peerLabel: libLabel(lib) });
      if (lib === primary) {
        r.target = target(cliReady);
        r.note = `CLI ${strategy ?? ''}`;
      }
      ctx.rows.push(r);
    }
    if (cliColdReady) {
      ctx.rows.push(row({ bench: 'gadget', case: 'process start → ready: trace-capabilities CLI without its code cache (a first run)', unit: 'ms', tsbpf: cliColdReady, peer: peerReady, peerLabel: libLabel(lib) }));
    }
    const r = row({ bench: 'gadget', case: 'process start → ready: GadgetRun worker', unit: 'ms', tsbpf: tsReady, peer: peerReady, peerLabel: libLabel(lib) });
    if (lib === primary) r.target = target(tsReady);
    ctx.rows.push(r);
    ctx.rows.push(row({ bench: 'gadget', case: 'process start → ready: GadgetRun worker without its code cache (a first run)', unit: 'ms', tsbpf: stat(tsCold.map((x) => x.readyMs)), peer: peerReady, peerLabel: libLabel(lib) }));
  }
  if (libs.length === 0) {
    ctx.rows.push(row({ bench: 'gadget', case: 'process start → ready: GadgetRun worker', unit: 'ms', tsbpf: tsReady }));
    if (cliReady) ctx.rows.push(row({ bench: 'gadget', case: 'process start → ready: trace-capabilities CLI', unit: 'ms', tsbpf: cliReady }));
  }
  // Phases: tsbpf's Collection.timings and the worker's own laps, libbpf's open/load/attach.
  const tsPhase = (f: (j: TsGadget) => number): ReturnType<typeof stat> => stat(ts.map((x) => f(x.json)));
  const p0 = primary ? (peers.get(primary.id) ?? []) : [];
  const peerPhase = (f: (j: PeerGadget) => number): ReturnType<typeof stat> | undefined => (p0.length ? stat(p0.map((x) => f(x.json))) : undefined);
  const label = primary ? libLabel(primary) : undefined;
  ctx.rows.push(row({ bench: 'gadget', case: 'phase: import @tsbpf/loader', unit: 'ms', tsbpf: tsPhase((j) => j.importMs) }));
  ctx.rows.push(row({ bench: 'gadget', case: 'phase: parse object (CollectionSpec.fromFile / bpf_object__open)', unit: 'ms', tsbpf: tsPhase((j) => j.specMs), peer: peerPhase((j) => j.openMs), peerLabel: label }));
  ctx.rows.push(row({ bench: 'gadget', case: 'phase: load (Collection.load / bpf_object__load)', unit: 'ms', tsbpf: tsPhase((j) => j.loadPhasesMs), peer: peerPhase((j) => j.loadMs), peerLabel: label }));
  for (const k of ['kernelBtf', 'objectBtf', 'maps', 'relocate', 'programs']) {
    ctx.rows.push(
      row({
        bench: 'gadget',
        case: `phase: Collection.timings.${k}`,
        unit: 'ms',
        tsbpf: tsPhase((j) => j.timings[k] ?? 0),
        note: k === 'kernelBtf' ? 'nested: also counted inside the lap that first needed kernel BTF (relocate or maps)' : undefined,
      }),
    );
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
  if (!haveCli) ctx.skipped.push({ bench: 'gadget kernel time', reason: 'the trace-capabilities CLI is not built' });
  else if (primary && libs.includes(primary)) {
    const timer = await openSyscallTimer(ctx, 'gadget');
    try {
      if (timer) await startKernelTime(ctx, timer, primary, { cli: cliByRound, peer: peers.get(primary.id) ?? [] });
    } finally {
      timer?.close();
    }
  }
}

/**
 * Where a start spends its time in bpf(2): runs of their own with the tracer following the CLI
 * (code cache warm) and the libbpf loader from spawn to their readiness line, alternating. Rows:
 * the time inside bpf(2) summed over all threads (the CLI verifies programs on libuv's threads), of
 * which program loads, and the start less that time (round r's untraced start → ready minus round
 * r's traced time in bpf(2)).
 */
async function startKernelTime(ctx: BenchContext, timer: SyscallTimer, lib: Libbpf, untraced: { cli: readonly (CliRun | undefined)[]; peer: readonly { readyMs: number }[] }): Promise<void> {
  // Up to the readiness line; what a child does after it (exit) is dropped.
  const traced = async (run: (onReady: () => void) => Promise<unknown>): Promise<KernelTimes> => (await timer.measure(run)).times;
  const errors: string[] = [];
  const failed = (err: unknown): undefined => {
    errors.push((err as Error).message.split('\n')[0]);
    return undefined;
  };
  const { a: mine, b: theirs } = await timer.attached(() =>
    alternate(
      ctx.rounds,
      () => traced((onReady) => runCli(0, { onReady })).catch(failed),
      () => traced((onReady) => runChild(peerPath(lib, 'gadget'), [GADGET_OBJECT], { readyMarker: READY, onReady })).catch(failed),
    ),
  );
  if (errors.length) ctx.notes.push(`gadget: ${errors.length} traced runs failed (not in the bpf(2) figures): ${[...new Set(errors)].join('; ')}`);
  const ms = (times: readonly (KernelTimes | undefined)[], f: (t: KernelTimes) => number): number[] => times.flatMap((t) => (t ? [f(t) / 1e6] : []));
  const progLoads = (t: KernelTimes): number => t.get(BPF_CMD_NUMBER.progLoad)?.ns ?? 0;
  const peerLabel = libLabel(lib);
  const kMine = ms(mine, totalNs);
  const kTheirs = ms(theirs, totalNs);
  if (kMine.length === 0 || kTheirs.length === 0) {
    ctx.skipped.push({ bench: 'gadget kernel time', reason: `failed: no traced start of ${kMine.length === 0 ? 'the CLI' : 'the libbpf loader'} reached its readiness line` });
    return;
  }
  // Every start loads programs: a tracer that saw none followed something else.
  const withoutLoads = [...mine, ...theirs].filter((t) => t !== undefined && (t.get(BPF_CMD_NUMBER.progLoad)?.calls ?? 0) === 0).length;
  if (withoutLoads > 0) {
    ctx.skipped.push({ bench: 'gadget kernel time', reason: `failed: the bpf(2) tracer saw no program load in ${withoutLoads} traced starts` });
    return;
  }
  ctx.rows.push(row({ bench: 'gadget', case: 'process start → ready: time in bpf(2), summed over threads (trace-capabilities CLI; traced runs)', unit: 'ms', tsbpf: stat(kMine), peer: stat(kTheirs), peerLabel }));
  ctx.rows.push(row({ bench: 'gadget', case: 'process start → ready: of which BPF_PROG_LOAD (the verifier)', unit: 'ms', tsbpf: stat(ms(mine, progLoads)), peer: stat(ms(theirs, progLoads)), peerLabel }));
  const rest = (ready: readonly (number | undefined)[], kernel: readonly (KernelTimes | undefined)[]): number[] =>
    ready.flatMap((r, i) => {
      const k = kernel[i];
      return k && r !== undefined && Number.isFinite(r) ? [r - totalNs(k) / 1e6] : [];
    });
  const rMine = rest(
    untraced.cli.map((c) => c?.readyMs),
    mine,
  );
  const rTheirs = rest(
    untraced.peer.map((p) => p.readyMs),
    theirs,
  );
  if (rMine.length && rTheirs.length) {
    ctx.rows.push(
      row({
        bench: 'gadget',
        case: 'process start → ready less its time in bpf(2) (trace-capabilities CLI; untraced start, traced bpf(2) time, round by round)',
        unit: 'ms',
        tsbpf: stat(rMine),
        peer: stat(rTheirs),
        peerLabel,
        note: 'the CLI verifies its programs on libuv threads in parallel, so its figure is a lower bound of the time it spends outside bpf(2); the C loader makes its calls one after another',
      }),
    );
  }
}

/** The gadget-cap CLI (packages/gadget-cap/dist/cli.cjs), or undefined when it is not built. */
export const GADGET_CLI = join(REPO_ROOT, 'packages/gadget-cap/dist/cli.cjs');
/** The CLI's readiness line. */
const CLI_READY = /^trace-capabilities: tracing capability checks/m;

/** What one run of the CLI showed. */
interface CliRun {
  readyMs: number;
  vmhwmKb: number;
  stderr: string;
  /** Its `--timings` line: strategy, parse object, load+attach, total (ms). */
  timings?: { strategyMs: number; parseMs: number; loadAttachMs: number; totalMs: number };
}

const CLI_TIMINGS = /start timings \(ms\): strategy ([\d.]+), parse object ([\d.]+), load\+attach ([\d.]+)(?: \([^)]*\))?, total ([\d.]+)/;

/**
 * The node options of a script's `#!/usr/bin/env -S node <options>` line, so that the CLI runs as its
 * bin would, but with the node under test rather than the first one on PATH.
 */
export function shebangFlags(script: string): string[] {
  const first = readFileSync(script, 'utf8').split('\n', 1)[0];
  const m = /^#!\S*env\s+(?:-S\s+)?node((?:\s+-\S+)*)\s*$/.exec(first);
  return m ? m[1].trim().split(/\s+/).filter((f) => f !== '') : [];
}

/**
 * Spawn the trace-capabilities CLI (with its shebang's node options), time its readiness line, keep it tracing `holdSeconds`, read its
 * peak RSS from /proc/<pid>/status, then stop it with SIGINT (its normal way out). With `codeCache: false`
 * the CLI compiles its code as on a first run. `onReady` is called when the readiness line arrives.
 */
export function runCli(holdSeconds: number, options: { codeCache?: boolean; onReady?: () => void } = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const env = options.codeCache === false ? withoutCodeCache() : { ...process.env, TSBPF_CACHE_DIR: CODE_CACHE_DIR };
    const t0 = performance.now();
    const child = spawn(process.execPath, [...shebangFlags(GADGET_CLI), GADGET_CLI, '--timings'], { stdio: ['ignore', 'ignore', 'pipe'], env });
    let err = '';
    let readyMs: number | undefined;
    let vmhwmKb = -1;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`trace-capabilities printed no readiness line within 20 s: ${err.slice(0, 400)}`));
    }, 20_000 + holdSeconds * 1000);
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      err += d;
      if (readyMs === undefined && CLI_READY.test(err)) {
        readyMs = performance.now() - t0;
        options.onReady?.();
        setTimeout(() => {
          try {
            vmhwmKb = Number(/^VmHWM:\s+(\d+)/m.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? -1);
          } catch {
            // exited already: reported below
          }
          child.kill('SIGINT');
        }, holdSeconds * 1000);
      }
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (readyMs === undefined) reject(new Error(`trace-capabilities exited ${code} before its readiness line: ${err.slice(0, 400)}`));
      else {
        const t = CLI_TIMINGS.exec(err);
        const timings = t ? { strategyMs: Number(t[1]), parseMs: Number(t[2]), loadAttachMs: Number(t[3]), totalMs: Number(t[4]) } : undefined;
        resolve({ readyMs, vmhwmKb, stderr: err, timings });
      }
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
  const cli: number[] = [];
  const haveCli = existsSync(GADGET_CLI);
  await alternate(
    rounds,
    async () => {
      if (haveCli) {
        try {
          cli.push((await withLoad(async () => ({ json: await runCli(seconds) }))).vmhwmKb);
        } catch (err) {
          ctx.notes.push(`memory: a trace-capabilities CLI run failed (not in the figures): ${(err as Error).message.split('\n')[0]}`);
        }
      }
      floor.push((await runChild<{ vmhwmKb: number }>(process.execPath, ['-e', "console.log(JSON.stringify({vmhwmKb: Number(/VmHWM:\\s+(\\d+)/.exec(require('fs').readFileSync('/proc/self/status','utf8'))[1])}))"])).json.vmhwmKb);
      ts.push(await withLoad(() => runChild<TsGadget>(process.execPath, [WORKER, 'gadget', GADGET_OBJECT, String(seconds)], { readyMarker: READY })));
    },
    async () => {
      if (lib) peer.push(await withLoad(() => runChild<PeerGadget>(peerPath(lib, 'gadget'), [GADGET_OBJECT, String(seconds)], { readyMarker: READY })));
    },
  );
  const peerRss = lib ? stat(peer.map((j) => j.vmhwmKb / 1024)) : undefined;
  if (cli.length) {
    const cliRss = stat(cli.map((k) => k / 1024));
    ctx.rows.push(
      row({
        bench: 'memory',
        case: `trace-capabilities CLI peak RSS while tracing ${seconds} s (VmHWM)`,
        unit: 'MB',
        tsbpf: cliRss,
        peer: peerRss,
        peerLabel: lib ? libLabel(lib) : undefined,
        target: { text: '< 70 MB', bound: 70, met: cliRss.median < 70 },
        note: 'default column output to a pipe, read from /proc/<pid>/status just before SIGINT',
      }),
    );
  }
  const tsRss = stat(ts.map((j) => j.vmhwmKb / 1024));
  const r = row({
    bench: 'memory',
    case: `GadgetRun worker peak RSS while tracing ${seconds} s (VmHWM)`,
    unit: 'MB',
    tsbpf: tsRss,
    peer: peerRss,
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
