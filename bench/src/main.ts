/**
 * `npm run bench`: tsbpf side by side with libbpf.
 *
 *   node dist/main.js [--quick] [--only btf,gadget,ringbuf,perfbuf,memory,maps] [--rounds N]
 *                     [--out DIR] [--no-fetch] [--libbpf newest|all]
 *
 * Builds the C peers (bench/peers/*.c, system cc, against the system libbpf and any newer libbpf-dev
 * fetched into bench/.build/) and the drain producer (clang-19), then runs each benchmark for
 * several rounds, tsbpf and peer alternating, and prints medians, min–max and tsbpf/peer ratios.
 * Results go to bench/results/<date>.json and .md (or --out DIR); --quick does one round of tiny
 * sizes and writes nothing unless --out is given.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { BENCH_ROOT, CODE_CACHE_DIR, buildHammer, buildPeers, buildProducer, buildSyscallTimer, fetchNewerLibbpf, LOADER_ENV, peerUnavailableReason, REPO_ROOT, snapshotLoader } from './build.js';
import type { BenchContext } from './context.js';
import { benchBtf } from './benches/btf.js';
import { benchDrain } from './benches/drain.js';
import { benchGadget, benchGadgetMemory } from './benches/gadget.js';
import { benchMaps } from './benches/maps.js';
import { markdownReport, markdownTable, type RunResult } from './result.js';

const BENCHES: Record<string, (ctx: BenchContext) => Promise<void>> = {
  btf: benchBtf,
  gadget: benchGadget,
  ringbuf: (ctx) => benchDrain(ctx, 'ring'),
  perfbuf: (ctx) => benchDrain(ctx, 'perf'),
  memory: benchGadgetMemory,
  maps: benchMaps,
};

interface Args {
  quick: boolean;
  only: string[];
  rounds?: number;
  out?: string;
  fetch: boolean;
  allLibbpf: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { quick: false, only: [], fetch: true, allLibbpf: false };
  for (let i = 0; i < argv.length; i++) {
    const s = argv[i];
    const val = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${s} needs a value`);
      return v;
    };
    if (s === '--quick') a.quick = true;
    else if (s === '--only') a.only.push(...val().split(','));
    else if (s === '--rounds') a.rounds = Number(val());
    else if (s === '--out') a.out = val();
    else if (s === '--no-fetch') a.fetch = false;
    else if (s === '--libbpf') a.allLibbpf = val() === 'all';
    else if (s === '--help' || s === '-h') {
      console.log(`usage: main.js [--quick] [--only ${Object.keys(BENCHES).join(',')}] [--rounds N] [--out DIR] [--no-fetch] [--libbpf newest|all]`);
      process.exit(0);
    } else throw new Error(`unknown argument ${s}`);
  }
  for (const o of a.only) if (!BENCHES[o]) throw new Error(`unknown benchmark ${o} (have: ${Object.keys(BENCHES).join(', ')})`);
  return a;
}

function sh(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'unknown';
  }
}

function machine(): Record<string, string> {
  const os = /PRETTY_NAME="([^"]+)"/.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? 'unknown';
  return {
    cpu: `${cpus()[0]?.model ?? 'unknown'} × ${cpus().length}`,
    memory: `${Math.round(totalmem() / 2 ** 30)} GiB`,
    kernel: `${release()} (${sh('uname', ['-v'])})`,
    os,
  };
}

function versions(): Record<string, string> {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'packages/loader/package.json'), 'utf8')) as { version: string };
  return {
    node: process.version,
    // Uncommitted loader changes shape the figures too: say so.
    tsbpf: `@tsbpf/loader ${pkg.version} (git ${sh('git', ['-C', REPO_ROOT, 'rev-parse', '--short', 'HEAD'])}${sh('git', ['-C', REPO_ROOT, 'status', '--porcelain', '--', 'packages/loader/src']) ? ', loader working tree modified' : ''})`,
    cc: sh('cc', ['--version']).split('\n')[0] ?? 'unknown',
    clang: sh(process.env.CLANG ?? 'clang-19', ['--version']).split('\n')[0] ?? 'unknown',
  };
}

async function main(): Promise<void> {
  // --render <file.json>: rewrite the markdown report of an earlier run (no benchmarks run).
  const render = process.argv.indexOf('--render');
  if (render >= 0) {
    const file = process.argv[render + 1];
    if (!file) throw new Error('--render needs a results .json file');
    const res = JSON.parse(readFileSync(file, 'utf8')) as RunResult;
    writeFileSync(file.replace(/\.json$/, '.md'), markdownReport(res));
    return;
  }
  const args = parseArgs(process.argv.slice(2));
  const log = (m: string): void => console.error(`[bench] ${m}`);
  const rounds = args.rounds ?? (args.quick ? 1 : 5);
  const ctx: BenchContext = { quick: args.quick, rounds, libs: [], compareLibs: [], rows: [], skipped: [], notes: [], log };
  // Workers import a private copy of the loader build (others may rebuild dist/ meanwhile).
  if (!process.env[LOADER_ENV]) {
    for (let attempt = 0; ; attempt++) {
      try {
        process.env[LOADER_ENV] = snapshotLoader();
        break;
      } catch (err) {
        if (attempt >= 20) throw err;
        await new Promise((r) => setTimeout(r, 3000));
      }
    }
  }
  // Workers run the loader's library entry with its code cache (as a user's second run does), in a
  // directory of the bench's own, not the user's ~/.cache.
  process.env.TSBPF_CACHE_DIR = CODE_CACHE_DIR;
  ctx.peerSkip = peerUnavailableReason();
  if (!ctx.peerSkip) {
    // The quick run never touches the network; the full run fetches newer libbpf once.
    if (args.fetch && !args.quick) {
      const why = fetchNewerLibbpf(log);
      if (why) ctx.notes.push(`newer libbpf not used: ${why}`);
    }
    try {
      const { libs, problems } = buildPeers(log);
      ctx.libs = libs;
      ctx.notes.push(...problems);
    } catch (err) {
      ctx.peerSkip = `building the libbpf peers failed: ${String((err as { stderr?: unknown }).stderr ?? err).slice(0, 400)}`;
    }
    if (args.quick && ctx.libs.length > 1) ctx.libs = [ctx.libs[ctx.libs.length - 1]];
  }
  const newest = ctx.libs[ctx.libs.length - 1];
  ctx.compareLibs = args.allLibbpf ? ctx.libs : newest ? [newest] : [];
  ctx.producerSkip = buildProducer(log);
  ctx.timerSkip = buildSyscallTimer(log);
  ctx.hammerSkip = buildHammer(log);
  const selected = args.only.length ? args.only : Object.keys(BENCHES);
  for (const name of selected) {
    log(`running ${name} (${rounds} round${rounds > 1 ? 's' : ''})`);
    const before = ctx.rows.length;
    try {
      await BENCHES[name](ctx);
    } catch (err) {
      ctx.skipped.push({ bench: name, reason: `failed: ${(err as Error).message.slice(0, 600)}` });
    }
    if (ctx.rows.length > before) console.log(markdownTable(ctx.rows.slice(before)) + '\n');
  }
  const date = new Date().toISOString();
  const v = versions();
  for (const lib of ctx.libs) v[`libbpf ${lib.reported ?? lib.debVersion}`] = lib.origin;
  const result: RunResult = { date, quick: args.quick, rounds, machine: machine(), versions: v, rows: ctx.rows, skipped: ctx.skipped, notes: ctx.notes };
  const md = markdownReport(result);
  console.log(md.slice(md.indexOf('## Machine')).split('## Results')[0]);
  for (const s of ctx.skipped) console.log(`skipped ${s.bench}: ${s.reason}`);
  if (!args.quick || args.out) {
    const dir = args.out ?? join(BENCH_ROOT, 'results');
    mkdirSync(dir, { recursive: true });
    const base = join(dir, date.slice(0, 10));
    writeFileSync(`${base}.json`, JSON.stringify(result, null, 2) + '\n');
    writeFileSync(`${base}.md`, md);
    log(`wrote ${base}.json and ${base}.md`);
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exit(1);
});
