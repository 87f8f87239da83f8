#!/usr/bin/env node
// Soak benchmark: run the trace-capabilities gadget for N minutes under a sustained stream of
// capability checks and watch for leaks. Every --interval seconds it samples resident memory,
// heap, open file descriptors, events/s and lost events; at the end it prints flat/growing
// verdicts. A benchmark, not a test: nothing here is timed against a limit.
//
//   node [--expose-gc] bench/soak/soak.mjs [--minutes 10] [--interval 10] [--rate 2000] [--mode lib|cli]
//                            [--all] [--json results.json]
//
// --mode lib (default): GadgetRun + EventDecoder + JSON formatting inside this process.
// --mode cli: the trace-capabilities CLI as a child (-o json); its /proc/<pid> is sampled.
// The load: a python3 child named "tsbpf-soak" looping over setpriority (CAP_SYS_NICE) and raw
// socket creation (CAP_NET_RAW) at --rate checks per second; the gadget filters on that name
// unless --all (then every check on the machine counts).
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
};
const minutes = Number(opt('minutes', '10'));
const intervalS = Number(opt('interval', '10'));
const rate = Number(opt('rate', '2000'));
const mode = opt('mode', 'lib');
const all = args.includes('--all');
const jsonOut = opt('json', undefined);
const COMM = 'tsbpf-soak';
if (!(minutes > 0) || !(intervalS > 0) || !(rate > 0) || !['lib', 'cli'].includes(mode)) {
  process.stderr.write('usage: soak.mjs [--minutes N] [--interval S] [--rate CHECKS_PER_S] [--mode lib|cli] [--all] [--json FILE]\n');
  process.exit(2);
}

// ---- load generator ------------------------------------------------------------------------------
const GENERATOR = `
import ctypes, os, socket, sys, time
libc = ctypes.CDLL(None)
libc.prctl(15, ctypes.c_char_p(b"${COMM}"), 0, 0, 0)
rate = ${rate}
per_tick = max(1, rate // 100)
n = 0
next_t = time.monotonic()
while True:
    for _ in range(per_tick // 2):
        os.setpriority(os.PRIO_PROCESS, 0, 0)
        os.setpriority(os.PRIO_PROCESS, 0, -1)   # lowering: one CAP_SYS_NICE check
        try:
            socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP).close()  # CAP_NET_RAW
        except OSError:
            pass
        n += 2
    next_t += 0.01
    d = next_t - time.monotonic()
    if d > 0:
        time.sleep(d)
    else:
        next_t = time.monotonic()
`;

function startGenerator() {
  const p = spawn('python3', ['-c', GENERATOR], { stdio: ['ignore', 'ignore', 'inherit'] });
  p.on('error', (e) => {
    process.stderr.write(`soak: cannot start python3: ${e.message}\n`);
    process.exit(1);
  });
  return p;
}

// ---- gadget under test ---------------------------------------------------------------------------
async function startLib() {
  const lib = await import('@tsbpf/loader');
  const spec = lib.CollectionSpec.fromFile(resolve(root, 'bpf/gadgets/trace_capabilities_tp.bpf.o'));
  const run = lib.GadgetRun.start(spec, { params: all ? {} : { comm: COMM } });
  const decoder = run.decoder();
  let events = 0;
  let bytes = 0;
  const reading = run.reader.start((view) => {
    // The full per-event path of a user: decode, enrich, render as a JSON line.
    bytes += lib.formatJsonLine(decoder.decode(view)).length;
    events++;
  });
  return {
    pid: process.pid,
    events: () => events,
    lost: () => Number(run.lost()),
    extra: () => ({ outBytes: bytes }),
    stop: async () => {
      run.reader.close();
      await reading;
      run.close();
    },
  };
}

async function startCli() {
  const cli = resolve(root, 'packages/gadget-cap/dist/cli.cjs');
  const argv = [cli, '-o', 'json', '--no-collect-kstack', ...(all ? [] : ['--comm', COMM])];
  const child = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  let events = 0;
  let lost = 0;
  let ready = false;
  let buf = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (c) => {
    for (let i = 0; i < c.length; i++) if (c.charCodeAt(i) === 10) events++;
  });
  child.stderr.setEncoding('utf8');
  const readyP = new Promise((res, rej) => {
    child.stderr.on('data', (c) => {
      buf += c;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const m = /(\d+) event\(s\) lost in the last second/.exec(line);
        if (m) lost += Number(m[1]);
        if (/tracing capability checks/.test(line) && !ready) {
          ready = true;
          res();
        }
      }
    });
    child.on('exit', (code) => rej(new Error(`CLI exited (${code}) before attaching`)));
  });
  await readyP;
  return {
    pid: child.pid,
    events: () => events,
    lost: () => lost,
    extra: () => ({}),
    stop: async () => {
      const done = new Promise((r) => child.on('exit', r));
      child.kill('SIGTERM');
      await done;
    },
  };
}

// ---- sampling --------------------------------------------------------------------------------------
function procSample(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'latin1');
  const kb = (k) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
  return { rssMiB: kb('VmRSS') / 1024, fds: readdirSync(`/proc/${pid}/fd`).length, threads: kb('Threads') };
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : NaN;
}

/** Least-squares slope of ys over xs. */
function slope(xs, ys) {
  const n = xs.length;
  if (n < 2) return 0;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i] - mx) * (ys[i] - my);
    den += (xs[i] - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/**
 * Flat or growing: after the first two samples (warm-up), compare the median of the first third
 * with the median of the last third, and report the fitted slope per minute.
 */
function verdict(samples, key, absTolerance, relTolerance) {
  const s = samples.slice(2);
  if (s.length < 3) return { verdict: 'too short', first: NaN, last: NaN, perMinute: NaN };
  const third = Math.max(1, Math.floor(s.length / 3));
  const first = median(s.slice(0, third).map((x) => x[key]));
  const last = median(s.slice(-third).map((x) => x[key]));
  const perMinute = slope(s.map((x) => x.t / 60), s.map((x) => x[key]));
  const grew = last - first > Math.max(absTolerance, Math.abs(first) * relTolerance);
  return { verdict: grew ? 'growing' : 'flat', first, last, perMinute };
}

// ---- main --------------------------------------------------------------------------------------------
const gadget = mode === 'lib' ? await startLib() : await startCli();
const generator = startGenerator();
const t0 = performance.now();
const samples = [];
let prevEvents = gadget.events();
let prevLost = gadget.lost();
let prevT = t0;
process.stderr.write(`soak: mode ${mode}, ${minutes} min, sample every ${intervalS} s, target ${rate} checks/s${all ? ' (all processes)' : ` (comm ${COMM})`}\n`);
process.stdout.write('   t(s)  rss(MiB)  heap(MiB)  fds  threads  events/s     lost(+)\n');

const stopAt = t0 + minutes * 60_000;
let stopping = false;
const onSignal = () => {
  stopping = true;
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
while (!stopping && performance.now() < stopAt) {
  await new Promise((r) => setTimeout(r, Math.min(intervalS * 1000, Math.max(0, stopAt - performance.now()))));
  // With --expose-gc the heap is sampled after a full collection (no GC sawtooth in the verdict).
  if (mode === 'lib' && typeof globalThis.gc === 'function') globalThis.gc();
  const now = performance.now();
  const p = procSample(gadget.pid);
  const events = gadget.events();
  const lost = gadget.lost();
  const sample = {
    t: Math.round((now - t0) / 1000),
    rssMiB: Math.round(p.rssMiB * 10) / 10,
    heapMiB: mode === 'lib' ? Math.round((process.memoryUsage().heapUsed / 1048576) * 10) / 10 : NaN,
    fds: p.fds,
    threads: p.threads,
    eventsPerS: Math.round((events - prevEvents) / ((now - prevT) / 1000)),
    lostDelta: lost - prevLost,
    events,
    lost,
    ...gadget.extra(),
  };
  samples.push(sample);
  prevEvents = events;
  prevLost = lost;
  prevT = now;
  process.stdout.write(
    `${String(sample.t).padStart(7)}  ${sample.rssMiB.toFixed(1).padStart(8)}  ${Number.isNaN(sample.heapMiB) ? '      -' : sample.heapMiB.toFixed(1).padStart(9)}  ${String(sample.fds).padStart(3)}  ${String(sample.threads).padStart(7)}  ${String(sample.eventsPerS).padStart(8)}  ${String(sample.lostDelta).padStart(10)}\n`,
  );
}
generator.kill('SIGKILL');
await gadget.stop();

const summary = {
  mode,
  minutes: Math.round(((performance.now() - t0) / 60_000) * 100) / 100,
  rateTarget: rate,
  filter: all ? 'all' : `comm=${COMM}`,
  samples,
  totals: { events: samples.at(-1)?.events ?? 0, lost: samples.at(-1)?.lost ?? 0, meanEventsPerS: Math.round(samples.reduce((a, s) => a + s.eventsPerS, 0) / Math.max(1, samples.length)) },
  verdicts: {
    rss: verdict(samples, 'rssMiB', 8, 0.1),
    heap: mode === 'lib' ? verdict(samples, 'heapMiB', 4, 0.1) : { verdict: 'n/a' },
    fds: verdict(samples, 'fds', 0, 0),
    eventsPerS: verdict(samples, 'eventsPerS', Infinity, 0),
  },
};
summary.verdicts.losses = summary.totals.lost === 0 ? 'none' : `${summary.totals.lost} lost`;
const fmt = (v) => (v.verdict === 'n/a' || v.verdict === 'too short' ? v.verdict : `${v.verdict} (first third ${v.first}, last third ${v.last}, slope ${v.perMinute.toFixed(2)}/min)`);
process.stdout.write(`\nverdicts after ${summary.minutes} min (${summary.totals.events} events, mean ${summary.totals.meanEventsPerS}/s):\n`);
process.stdout.write(`  rss:    ${fmt(summary.verdicts.rss)}\n  heap:   ${fmt(summary.verdicts.heap)}\n  fds:    ${fmt(summary.verdicts.fds)}\n  losses: ${summary.verdicts.losses}\n`);
if (jsonOut) writeFileSync(jsonOut, JSON.stringify(summary, null, 2) + '\n');
