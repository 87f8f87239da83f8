/**
 * Attach strategies of trace_capabilities and the choice between them.
 *
 * One BPF source, three objects (bpf/README.md, "Objects (strategies)"): fentry/fexit, kprobe/
 * kretprobe, or the `cap_capable` BTF tracepoint. The choice is made from feature probes of the
 * running kernel, never from its version string: a backported tracepoint or a kernel built without
 * kprobes is decided by what actually loads.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NotSupportedError, TsbpfError, checkFentry, checkTpBtf, kprobes } from '@tsbpf/loader';

/** How the gadget hooks `cap_capable()`. */
export type AttachStrategy = 'fentry' | 'kprobe' | 'tracepoint';

/** Every strategy, best first: the order `auto` tries them in. */
export const ATTACH_STRATEGIES: readonly AttachStrategy[] = ['fentry', 'kprobe', 'tracepoint'];

/** The committed object of each strategy (in the repository's `bpf/gadgets/`). */
export const STRATEGY_OBJECTS: Readonly<Record<AttachStrategy, string>> = {
  fentry: 'trace_capabilities_fentry.bpf.o',
  kprobe: 'trace_capabilities.bpf.o',
  tracepoint: 'trace_capabilities_tp.bpf.o',
};

/** What each strategy needs from the kernel, for messages. */
const NEEDS: Readonly<Record<AttachStrategy, string>> = {
  fentry: 'BPF trampolines (CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS, no lockdown in integrity/confidentiality mode)',
  kprobe: 'kprobes (CONFIG_KPROBES)',
  tracepoint: 'the cap_capable tracepoint (kernel 6.14 or later, or a backport) with BTF',
};

/** Result of probing one strategy. */
export interface StrategyProbe {
  readonly strategy: AttachStrategy;
  readonly supported: boolean;
  /** Why it is not supported (or how it was decided). */
  readonly detail?: string;
}

/** The strategy picked for a run. */
export interface StrategyChoice {
  readonly strategy: AttachStrategy;
  /** Absolute path of the object to load. */
  readonly objectPath: string;
  /** Better strategies that were skipped, each with the reason (empty when forced or when the best one works). */
  readonly skipped: readonly StrategyProbe[];
}

/**
 * The requested strategy cannot run on this kernel, or none can. `strategy` is undefined when
 * nothing is available at all. The message says what each strategy needs and what to do.
 */
export class AttachStrategyError extends NotSupportedError {
  /** The strategy that was forced, if any. */
  readonly strategy: AttachStrategy | undefined;
  /** The probe results behind the decision. */
  readonly probes: readonly StrategyProbe[];

  constructor(strategy: AttachStrategy | undefined, probes: readonly StrategyProbe[]) {
    super(strategy ? `attach strategy '${strategy}'` : 'every attach strategy of trace_capabilities');
    this.name = 'AttachStrategyError';
    this.strategy = strategy;
    this.probes = probes;
    const lines = probes.map((p) => `  ${p.strategy}: ${p.supported ? 'available' : `unavailable — ${p.detail ?? 'not supported'}`} (needs ${NEEDS[p.strategy]})`);
    const available = probes.filter((p) => p.supported).map((p) => p.strategy);
    const todo = strategy
      ? available.length > 0
        ? `use --attach ${available[0]} (or leave --attach out to pick the best available strategy)`
        : 'no strategy works here: run on a kernel with BTF and kprobes, trampolines or the cap_capable tracepoint'
      : 'run on a kernel with BTF and one of: kprobes, BPF trampolines, or the cap_capable tracepoint (>= 6.14)';
    this.message = `${strategy ? `cannot attach with '${strategy}'` : 'no way to attach to cap_capable on this kernel'}:\n${lines.join('\n')}\nWhat to do: ${todo}`;
  }
}

/** The kernel has no BTF (`/sys/kernel/btf/vmlinux`): CO-RE cannot relocate the gadget. */
export class KernelBtfMissingError extends TsbpfError {
  constructor(cause?: unknown) {
    super(
      'KERNEL_BTF_MISSING',
      'this kernel exposes no BTF (/sys/kernel/btf/vmlinux is missing or unreadable). trace-capabilities needs it to adapt to the kernel: use a kernel built with CONFIG_DEBUG_INFO_BTF=y (every major distribution since 2021 is).',
      { cause },
    );
  }
}

/** Probe one strategy on the running kernel (results of the underlying probes are cached). */
export function probeStrategy(strategy: AttachStrategy): StrategyProbe {
  switch (strategy) {
    case 'fentry': {
      // Attaching to cap_capable itself answers both questions (trampolines work, the function is
      // traceable) with one lookup of it in kernel BTF; a second lookup of the function kind
      // builds its name index, about 5 ms on a distribution kernel.
      const r = checkFentry('cap_capable');
      return { strategy, supported: r.supported, detail: r.detail };
    }
    case 'kprobe': {
      const k = kprobes();
      return k.pmu || k.tracefs ? { strategy, supported: true } : { strategy, supported: false, detail: k.detail ?? 'no kprobe PMU and no kprobe_events' };
    }
    case 'tracepoint': {
      const r = checkTpBtf('cap_capable');
      return { strategy, supported: r.supported, detail: r.detail };
    }
  }
}

/** Probe every strategy, best first. */
export function probeStrategies(): StrategyProbe[] {
  return ATTACH_STRATEGIES.map(probeStrategy);
}

/** Parse a user-supplied strategy name (`tp` and `tp_btf` mean `tracepoint`, `kretprobe` means `kprobe`). */
export function parseAttachStrategy(text: string): AttachStrategy | 'auto' {
  const t = text.trim().toLowerCase();
  if (t === 'auto' || t === '') return 'auto';
  if (t === 'fentry' || t === 'fexit' || t === 'trampoline') return 'fentry';
  if (t === 'kprobe' || t === 'kretprobe') return 'kprobe';
  if (t === 'tracepoint' || t === 'tp' || t === 'tp_btf') return 'tracepoint';
  throw new TsbpfError('GADGET_PARAM', `unknown attach strategy '${text}': use fentry, kprobe, tracepoint or auto`);
}

/** Directories searched for the gadget objects, in order. */
export function objectSearchPath(): string[] {
  const dirs: string[] = [];
  const env = process.env.TSBPF_GADGET_DIR;
  if (env) dirs.push(resolve(env));
  // This module runs from src/ (tests) or dist/ (built): the package root is one level up.
  const pkg = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  // In the repository the committed objects are authoritative; the package copy (made at build
  // time) is what a published package has.
  dirs.push(join(pkg, '..', '..', 'bpf', 'gadgets'));
  dirs.push(join(pkg, 'bpf'));
  return dirs;
}

/**
 * Absolute path of a gadget object by file name (`trace_capabilities_tp.bpf.o`).
 * @throws TsbpfError GADGET_OBJECT_MISSING naming the directories searched
 */
export function locateObject(fileName: string): string {
  const dirs = objectSearchPath();
  for (const d of dirs) {
    const p = join(d, fileName);
    if (existsSync(p)) return p;
  }
  throw new TsbpfError(
    'GADGET_OBJECT_MISSING',
    `${fileName} not found in ${dirs.join(', ')}: rebuild the package (npm run build) or set TSBPF_GADGET_DIR to the directory holding the .bpf.o files`,
  );
}

/**
 * Pick the strategy: `auto` takes the best available (fentry, then kprobe, then tracepoint); a named
 * one is used only if the kernel supports it.
 * @throws AttachStrategyError when the forced strategy, or every strategy, is unavailable
 * @throws KernelBtfMissingError when the kernel has no BTF
 */
export function chooseStrategy(wanted: AttachStrategy | 'auto' = 'auto'): StrategyChoice {
  if (!existsSync('/sys/kernel/btf/vmlinux')) throw new KernelBtfMissingError();
  if (wanted !== 'auto') {
    const p = probeStrategy(wanted);
    if (!p.supported) throw new AttachStrategyError(wanted, probeStrategies());
    return { strategy: wanted, objectPath: locateObject(STRATEGY_OBJECTS[wanted]), skipped: [] };
  }
  const skipped: StrategyProbe[] = [];
  for (const s of ATTACH_STRATEGIES) {
    const p = probeStrategy(s);
    if (p.supported) return { strategy: s, objectPath: locateObject(STRATEGY_OBJECTS[s]), skipped };
    skipped.push(p);
  }
  throw new AttachStrategyError(undefined, skipped);
}
