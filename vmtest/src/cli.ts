#!/usr/bin/env node
/**
 * `vmtest` command line:
 *   vmtest run [--kernel 6.1 ...|--matrix] [--ci] [--report FILE] [--timeout s] [--cwd dir] [--env K=V] [--quiet] -- <command...>
 *   vmtest fetch [--kernel 6.1 ...]      resolve the newest packages and (re)download them
 *   vmtest list                          the matrix and what is cached
 *
 * @packageDocumentation
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { cacheRoot, loadKernels, repoRoot, selectKernels } from './config.js';
import { readManifest } from './extract.js';
import { buildMatrixReport, fetchKernels, formatMatrixSummary, runMatrix } from './matrix.js';
import { ensurePrerequisites } from './prereq.js';
import { makeSnapshot } from './snapshot.js';

const USAGE = `usage:
  vmtest run [--kernel LABEL ...|--matrix] [--timeout SECONDS] [--cwd DIR] [--env K=V ...]
             [--memory SIZE] [--writable DIR ...|--read-only] [--refresh] [--quiet] [--install]
             [--ci] [--report FILE] -- COMMAND [ARGS...]
    --ci           CI mode: apt-get the prerequisites (as root), whole matrix unless --kernel, no colour
    --report FILE  write the matrix as JSON { passed, failed, skipped, ok, kernels: [...] }
    --snapshot     guests import a private copy of the loader and gadget builds (host rebuilds during
                   the run cannot pull files from under them)
  vmtest fetch [--kernel LABEL ...] [--install]
  vmtest list
Kernels come from vmtest/kernels.json; the cache is vmtest/.cache (or $VMTEST_CACHE).`;

interface Parsed {
  cmd: string;
  kernels: string[];
  matrix: boolean;
  timeoutS: number;
  cwd?: string;
  env: Record<string, string>;
  memory?: string;
  writable?: string[];
  refresh: boolean;
  quiet: boolean;
  install: boolean;
  ci: boolean;
  snapshot: boolean;
  report?: string;
  command: string[];
}

class UsageError extends Error {}

function parse(argv: readonly string[]): Parsed {
  const first = argv[0] ?? '';
  const p: Parsed = { cmd: first === '--help' || first === '-h' ? 'help' : first, kernels: [], matrix: false, timeoutS: 600, env: {}, refresh: false, quiet: false, install: false, ci: false, snapshot: false, command: [] };
  const value = (i: number, flag: string): string => {
    const v = argv[i];
    if (v === undefined) throw new UsageError(`${flag} needs a value`);
    return v;
  };
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i] ?? '';
    if (a === '--') {
      p.command = argv.slice(i + 1);
      break;
    }
    const [flag, inline] = a.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const next = (): string => inline ?? value(++i, flag);
    switch (flag) {
      case '--kernel':
      case '-k':
        p.kernels.push(...next().split(',').filter(Boolean));
        break;
      case '--matrix':
        p.matrix = true;
        break;
      case '--timeout': {
        const n = Number(next());
        if (!Number.isFinite(n) || n <= 0) throw new UsageError('--timeout takes seconds > 0');
        p.timeoutS = n;
        break;
      }
      case '--cwd':
        p.cwd = next();
        break;
      case '--env': {
        const kv = next();
        const eq = kv.indexOf('=');
        if (eq <= 0) throw new UsageError('--env takes K=V');
        p.env[kv.slice(0, eq)] = kv.slice(eq + 1);
        break;
      }
      case '--memory':
        p.memory = next();
        break;
      case '--writable':
        (p.writable ??= []).push(next());
        break;
      case '--read-only':
        p.writable = [];
        break;
      case '--refresh':
        p.refresh = true;
        break;
      case '--quiet':
      case '-q':
        p.quiet = true;
        break;
      case '--install':
        p.install = true;
        break;
      case '--ci':
        p.ci = true;
        break;
      case '--snapshot':
        p.snapshot = true;
        break;
      case '--report':
        p.report = next();
        break;
      case '--help':
      case '-h':
        p.cmd = 'help';
        break;
      default:
        throw new UsageError(`unknown option ${a}`);
    }
  }
  return p;
}

const log = (s: string): void => void process.stderr.write(`${s}\n`);

async function main(argv: readonly string[]): Promise<number> {
  const p = parse(argv);
  switch (p.cmd) {
    case 'run': {
      if (p.command.length === 0) throw new UsageError('run needs a command after --');
      if (p.ci) {
        // CI: install what is missing (as root), every kernel unless some are named, no colour anywhere.
        p.install = true;
        if (p.kernels.length === 0) p.matrix = true;
        process.env.NO_COLOR = '1';
        process.env.FORCE_COLOR = '0';
      }
      if (p.kernels.length === 0 && !p.matrix) throw new UsageError('run needs --kernel LABEL or --matrix');
      // Written even when the matrix cannot start, so CI always has a report to read.
      const writeReport = (report: object): void => {
        if (p.report === undefined) return;
        const file = resolve(p.report);
        mkdirSync(dirname(file), { recursive: true });
        writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
        log(`vmtest: report written to ${file}`);
      };
      let entries;
      try {
        ensurePrerequisites({ allowInstall: p.install, log });
        entries = selectKernels(loadKernels(), p.matrix ? [] : p.kernels);
        // Fetch everything first so a missing kernel fails fast and downloads stay out of boot timings.
        await fetchKernels(entries, { refresh: p.refresh, log });
      } catch (e) {
        writeReport({ passed: 0, failed: 1, skipped: 0, ok: false, kernels: [], error: e instanceof Error ? e.message : String(e) });
        throw e;
      }
      if (p.snapshot) {
        const dir = makeSnapshot(repoRoot(), join(cacheRoot(), 'snapshot'));
        p.env.VMTEST_SNAPSHOT = dir;
        log(`vmtest: guests import the build snapshot in ${dir}`);
      }
      const result = await runMatrix({
        kernels: entries.map((e) => e.label),
        command: p.command,
        timeoutMs: p.timeoutS * 1000,
        ...(p.cwd !== undefined ? { cwd: p.cwd } : {}),
        ...(p.memory !== undefined ? { memory: p.memory } : {}),
        ...(p.writable !== undefined ? { writable: p.writable } : {}),
        env: p.env,
        log,
        onLine: (label, line) => {
          if (!p.quiet || line.includes('VMTEST-')) process.stdout.write(`[${label}] ${line}\n`);
        },
      });
      process.stdout.write(`\n${formatMatrixSummary(result)}\n`);
      writeReport(buildMatrixReport(result));
      return result.ok ? 0 : 1;
    }
    case 'fetch': {
      ensurePrerequisites({ allowInstall: p.install, log });
      const entries = selectKernels(loadKernels(), p.kernels);
      await fetchKernels(entries, { refresh: true, log });
      return 0;
    }
    case 'list': {
      for (const k of loadKernels()) {
        const pointer = join(cacheRoot(), `${k.label}.release`);
        const release = existsSync(pointer) ? readFileSync(pointer, 'utf8').trim() : undefined;
        const m = release === undefined ? undefined : readManifest(join(cacheRoot(), release));
        const state = m === undefined ? 'not fetched' : `cached ${m.release} (${m.packages.map((x) => `${x.name}=${x.version}`).join(' ')})`;
        process.stdout.write(`${k.label.padEnd(6)} ${k.suite.padEnd(9)} abi ${k.abi.padEnd(14)} ${state}\n`);
        if (k.cmdline !== '') process.stdout.write(`       cmdline: ${k.cmdline}\n`);
      }
      return 0;
    }
    case 'help':
    case '':
      process.stdout.write(`${USAGE}\n`);
      return p.cmd === 'help' ? 0 : 2;
    default:
      throw new UsageError(`unknown command ${p.cmd}`);
  }
}

// `vmtest list | head` closes the pipe early: that is not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    if (e instanceof UsageError) {
      log(`vmtest: ${e.message}\n${USAGE}`);
      process.exitCode = 2;
      return;
    }
    log(`vmtest: ${e instanceof Error ? e.message : String(e)}`);
    process.exitCode = 1;
  },
);
