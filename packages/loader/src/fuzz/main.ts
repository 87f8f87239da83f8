/**
 * `npm run fuzz` — the parser fuzzer. Feeds damaged copies of the committed BPF objects and of the
 * kernel's BTF to the ELF/spec parser, BTF and .BTF.ext parsers, the linker, the inspect analysis,
 * CO-RE application and the gadget decoders. Every case must end in a TsbpfError or a result.
 *
 *   node dist/fuzz/main.js [--cases N] [--seed S] [--target elf|btf|btfext|insns|load|all]
 *                          [--hang-ms MS] [--kill-ms MS] [--rss-limit-mb MB] [--heap-mb MB] [--jobs N] [--root DIR]
 *                          [--in-process] [--json] [--replay CASE_SEED]
 *
 * `all` cycles through elf, btf, btfext and insns; `load` (opt-in, root) also loads what still parses
 * into the kernel and checks no descriptor leaks.
 *
 * Exits 1 when any case threw an untyped exception, hung, allocated without bound or leaked a
 * descriptor; 2 on usage errors.
 */
import { availableParallelism } from 'node:os';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { ALL_TARGETS, runCase, type FuzzTarget } from './cases.js';
import { loadCorpus } from './corpus.js';
import { FUZZ_DEFAULTS, formatSummary, runInProcess, runWithWorker, warmUp, workerMain, type FuzzOptions, type FuzzSummary, type WorkerTask } from './driver.js';

const USAGE = `usage: fuzz [--cases N] [--seed S] [--target elf|btf|btfext|insns|load|all] [--hang-ms MS] [--kill-ms MS]
            [--rss-limit-mb MB] [--heap-mb MB] [--jobs N] [--root DIR] [--in-process] [--json] [--replay CASE_SEED]`;

function isWorkerTask(x: unknown): x is WorkerTask {
  return typeof x === 'object' && x !== null && (x as { fuzzWorker?: unknown }).fuzzWorker === true;
}

function parseArgs(argv: readonly string[]): { options: FuzzOptions; inProcess: boolean; json: boolean; replay?: number } {
  const options: FuzzOptions = { ...FUZZ_DEFAULTS, jobs: Math.min(2, availableParallelism()) };
  let inProcess = false;
  let json = false;
  let replay: number | undefined;
  const num = (flag: string, v: string | undefined): number => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || n < 0) throw new Error(`${flag} wants a non-negative number, got ${v ?? 'nothing'}`);
    return Math.floor(n);
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = (): string | undefined => inline ?? argv[++i];
    switch (flag) {
      case '--cases':
        options.cases = num(flag, value());
        break;
      case '--seed':
        options.seed = num(flag, value()) >>> 0;
        break;
      case '--target': {
        const t = value();
        if (t !== 'all' && !ALL_TARGETS.includes(t as FuzzTarget)) throw new Error(`--target wants one of all, ${ALL_TARGETS.join(', ')}; got ${t ?? 'nothing'}`);
        options.target = t as FuzzTarget | 'all';
        break;
      }
      case '--hang-ms':
        options.hangMs = num(flag, value());
        break;
      case '--kill-ms':
        options.killMs = num(flag, value());
        break;
      case '--rss-limit-mb':
        options.rssLimitMb = num(flag, value());
        break;
      case '--heap-mb':
        options.heapMb = Math.max(16, num(flag, value()));
        break;
      case '--jobs':
        options.jobs = Math.max(1, num(flag, value()));
        break;
      case '--root':
        options.root = value();
        break;
      case '--in-process':
        inProcess = true;
        break;
      case '--json':
        json = true;
        break;
      case '--replay':
        replay = num(flag, value()) >>> 0;
        break;
      case '--help':
      case '-h':
        process.stdout.write(`${USAGE}\n`);
        process.exit(0);
        break;
      default:
        throw new Error(`unknown argument ${a}`);
    }
  }
  return { options, inProcess, json, replay };
}

async function main(): Promise<number> {
  let args: ReturnType<typeof parseArgs>;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`fuzz: ${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const { options, json } = args;
  if (args.replay !== undefined) {
    if (options.target === 'all') {
      process.stderr.write('fuzz: --replay needs --target (the failure report names it)\n');
      return 2;
    }
    const corpus = loadCorpus({ root: options.root });
    warmUp(corpus);
    const r = runCase(corpus, options.target, args.replay);
    process.stdout.write(`${JSON.stringify({ ...r, stack: undefined }, null, 2)}\n`);
    if (r.stack) process.stdout.write(`${r.stack}\n`);
    return r.outcome === 'ok' || r.outcome === 'typed' ? 0 : 1;
  }
  const progress = json ? undefined : (line: string): void => void process.stderr.write(`fuzz: ${line}\n`);
  let summary: FuzzSummary;
  if (args.inProcess) summary = runInProcess({ ...options, progress });
  else summary = await runWithWorker({ ...options, progress }, new URL(import.meta.url));
  process.stdout.write(json ? `${JSON.stringify(summary)}\n` : `${formatSummary(summary, options)}\n`);
  return summary.failures.length === 0 ? 0 : 1;
}

if (!isMainThread && isWorkerTask(workerData)) {
  const port = parentPort;
  if (port) workerMain(workerData, (m) => port.postMessage(m));
} else {
  // A closed pipe (`| head`) ends the output, not the process with a stack trace.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
  });
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`fuzz: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 2;
    },
  );
}
