#!/usr/bin/env node
// Compiles every bpf/**/*.bpf.c into a committed .bpf.o next to it.
//
//   npm run build:bpf                 build all objects in place
//   npm run build:bpf -- --check      rebuild into a temp dir, compare byte-for-byte with the
//                                     committed objects, exit 1 listing the ones that differ
//   npm run build:bpf -- FILTER...    only sources whose path contains one of the FILTER strings
//   --verbose                         print each compiler command
//
// Determinism: the checkout path must not reach the object, and (measured with clang-19) even
// the *length* of clang's working directory or of its arguments changes the BTF type order,
// because some emission order follows heap addresses. So every build, normal or --check, copies
// bpf/ into a staging dir of fixed length (/tmp/tsbpf-bpf-XXXXXX) and runs clang there with
// identical relative arguments, -ffile-compilation-dir=. and -ffile-prefix-map/-fdebug-prefix-map
// for the staging dir, then strips DWARF with `llvm-strip -g` (.BTF and .BTF.ext are kept) and
// copies the object back (or compares it). The object then depends only on the source, the
// headers and the toolchain version.
//
// Variants: a source may contain lines of the form
//   // tsbpf-variant: <suffix> <extra clang flags...>
// each producing <name>_<suffix>.bpf.o from the same source with the extra flags, in addition
// to the plain <name>.bpf.o.

import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, mkdirSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BPF_DIR = 'bpf';
const CLANG = process.env.CLANG ?? 'clang-19';
const STRIP = process.env.LLVM_STRIP ?? 'llvm-strip-19';
// Deliberately not os.tmpdir(): the staging path length must not depend on $TMPDIR.
const STAGE_PREFIX = '/tmp/tsbpf-bpf-';
const INSTALL_HINT = 'apt-get install -y clang-19 llvm-19 libbpf-dev';

const BASE_FLAGS = [
  '-O2',
  '-g',
  '-target',
  'bpf',
  '-D__TARGET_ARCH_x86',
  '-I',
  'bpf/include',
  '-Wall',
  '-Werror',
];

const VARIANT_RE = /^\s*\/\/\s*tsbpf-variant:\s*([A-Za-z0-9_]+)\s*(.*?)\s*$/;

function parseArgs(argv) {
  const opts = { check: false, verbose: false, filters: [] };
  for (const a of argv) {
    if (a === '--check') opts.check = true;
    else if (a === '--verbose' || a === '-v') opts.verbose = true;
    else if (a === '--help' || a === '-h') {
      console.log(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1, 12).join('\n'));
      process.exit(0);
    } else if (a.startsWith('-')) {
      console.error(`build-bpf: unknown option ${a}`);
      process.exit(2);
    } else opts.filters.push(a);
  }
  return opts;
}

function requireTool(tool) {
  const r = spawnSync(tool, ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    console.error(`build-bpf: ${tool} not found or not runnable (${r.error?.code ?? `exit ${r.status}`}).`);
    console.error(`build-bpf: install the BPF toolchain with: ${INSTALL_HINT}`);
    console.error('build-bpf: (set CLANG / LLVM_STRIP to use other binaries)');
    process.exit(1);
  }
}

/** Lists files ending in `suffix` relative to ROOT, sorted so the build order is stable. */
function findFiles(dir, suffix) {
  const out = [];
  const walk = (rel) => {
    for (const e of readdirSync(join(ROOT, rel), { withFileTypes: true })) {
      const p = `${rel}/${e.name}`;
      if (e.isDirectory()) {
        if (e.name !== 'node_modules' && !e.name.startsWith('.')) walk(p);
      } else if (e.isFile() && e.name.endsWith(suffix)) out.push(p);
    }
  };
  walk(dir);
  return out.sort();
}

const findSources = (dir) => findFiles(dir, '.bpf.c');

/** One job per output object: the plain build plus each declared variant. */
function jobsFor(src) {
  const base = src.slice(0, -'.bpf.c'.length);
  const jobs = [{ src, out: `${base}.bpf.o`, extra: [] }];
  const seen = new Set();
  for (const line of readFileSync(join(ROOT, src), 'utf8').split('\n')) {
    const m = VARIANT_RE.exec(line);
    if (!m) continue;
    const [, suffix, flags] = m;
    if (seen.has(suffix)) throw new Error(`${src}: variant "${suffix}" declared twice`);
    seen.add(suffix);
    jobs.push({ src, out: `${base}_${suffix}.bpf.o`, extra: flags ? flags.split(/\s+/) : [] });
  }
  return jobs;
}

/** Copies every regular file under bpf/ except objects into the staging dir. */
function stage(stageDir) {
  const walk = (rel) => {
    mkdirSync(join(stageDir, rel), { recursive: true });
    for (const e of readdirSync(join(ROOT, rel), { withFileTypes: true })) {
      const p = `${rel}/${e.name}`;
      if (e.isDirectory()) {
        if (e.name !== 'node_modules' && !e.name.startsWith('.')) walk(p);
      } else if (e.isFile() && !e.name.endsWith('.o')) copyFileSync(join(ROOT, p), join(stageDir, p));
    }
  };
  walk(BPF_DIR);
}

/** A fixed environment, so nothing about the caller's shell reaches clang. */
const CHILD_ENV = { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' };

function run(cmd, args, cwd, verbose) {
  if (verbose) console.log(`  ${cmd} ${args.join(' ')}`);
  return new Promise((resolveRun) => {
    const child = spawn(cmd, args, { cwd, env: CHILD_ENV, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('error', (err) => resolveRun({ ok: false, output: `${output}${err.message}\n` }));
    child.on('close', (code) => resolveRun({ ok: code === 0, output }));
  });
}

/** Compiles one job inside the staging dir (job.out relative to it) and strips DWARF. */
async function build(job, stageDir, verbose) {
  const args = [
    ...BASE_FLAGS,
    '-ffile-compilation-dir=.',
    `-ffile-prefix-map=${stageDir}=.`,
    `-fdebug-prefix-map=${stageDir}=.`,
    ...job.extra,
    '-c',
    job.src,
    '-o',
    job.out,
  ];
  const cc = await run(CLANG, args, stageDir, verbose);
  if (!cc.ok) return { ok: false, output: cc.output };
  const st = await run(STRIP, ['-g', job.out], stageDir, verbose);
  if (!st.ok) return { ok: false, output: st.output };
  return { ok: true, output: cc.output };
}

async function pool(items, limit, fn) {
  const results = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  requireTool(CLANG);
  requireTool(STRIP);

  let sources = findSources(BPF_DIR);
  if (opts.filters.length > 0) sources = sources.filter((s) => opts.filters.some((f) => s.includes(f)));
  if (sources.length === 0) {
    console.error('build-bpf: no bpf/**/*.bpf.c sources matched');
    process.exit(1);
  }
  const jobs = sources.flatMap(jobsFor);

  // Fixed prefix and fixed-length random suffix: see the determinism note at the top.
  const stageDir = mkdtempSync(STAGE_PREFIX);
  const cleanup = () => rmSync(stageDir, { recursive: true, force: true });
  try {
    stage(stageDir);
    const limit = Math.max(1, Math.min(cpus().length, 8));
    const results = await pool(jobs, limit, async (job) => {
      const r = await build(job, stageDir, opts.verbose);
      if (r.ok) console.log(`${opts.check ? 'built (check)' : 'built'} ${job.out}`);
      if (r.output.trim()) process.stderr.write(r.output);
      return r;
    });

    const failed = jobs.filter((_, i) => !results[i].ok);
    if (failed.length > 0) {
      console.error(`build-bpf: ${failed.length} object(s) failed to build: ${failed.map((j) => j.out).join(', ')}`);
      return 1;
    }

    if (opts.check) {
      const differing = [];
      // Objects without a source (a deleted .bpf.c or variant line) are stale too.
      if (opts.filters.length === 0) {
        const built = new Set(jobs.map((j) => j.out));
        for (const obj of findFiles(BPF_DIR, '.bpf.o')) {
          if (!built.has(obj)) differing.push(`${obj} (no source or variant builds it)`);
        }
      }
      for (const job of jobs) {
        const committed = join(ROOT, job.out);
        if (!existsSync(committed)) differing.push(`${job.out} (missing)`);
        else if (!readFileSync(committed).equals(readFileSync(join(stageDir, job.out)))) differing.push(job.out);
      }
      if (differing.length > 0) {
        console.error('build-bpf --check: these objects differ from a fresh build (run `npm run build:bpf`):');
        for (const d of differing) console.error(`  ${d}`);
        return 1;
      }
      console.log(`build-bpf --check: all ${jobs.length} object(s) match`);
      return 0;
    }

    for (const job of jobs) copyFileSync(join(stageDir, job.out), join(ROOT, job.out));
    console.log(`build-bpf: ${jobs.length} object(s) from ${sources.length} source(s)`);
    return 0;
  } finally {
    cleanup();
  }
}

main().then((code) => process.exit(code), (err) => {
  console.error(`build-bpf: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
