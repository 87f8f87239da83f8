/**
 * trace-capabilities end to end:
 * - `gadget-cap/selftest/<variant>` for each attach variant (fentry, kprobe, tracepoint): the
 *   gadget's own `runGadgetSelfTest` (pid/comm/parent, audit, audit-only, kernel stack, release).
 *   A variant the kernel lacks (probeStrategy) is skipped, or failed when kernels.json expects it.
 * - `gadget-cap/fexit_leftover`: the fexit half drops a `start` record for another capability.
 * - `gadget-cap/missed_runs`: a burst of checks from four children; every event lacking its syscall
 *   must be explained by the kernel's skipped-run counters (`CapabilityTrace.missedRuns`).
 * - `gadget-cap/perf_output`: `traceCapabilities({ output: 'perf' })` (the self-test has no output
 *   option) sees a `nice -n -5 /bin/true` child as CAP_SYS_NICE / SYS_SETPRIORITY, through the perf
 *   buffer; `gadget-cap/cap_sys_rawio`: in the same trace, a `dd if=/dev/mem` child as CAP_SYS_RAWIO.
 *
 * @packageDocumentation
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { bad, describe, missing, ok, skipped, type Task, type TaskContext, type TaskOutcome } from './types.js';
import { importGadget, importLoader } from './loader.js';

/** kernels.json expectation key per variant. */
const EXPECT_KEY = { fentry: 'trampolines', kprobe: 'kprobe_events', tracepoint: 'tracepoint_cap_capable' } as const;

const selftest = (variant: 'fentry' | 'kprobe' | 'tracepoint'): Task => async (ctx: TaskContext) => {
  const name = `gadget-cap/selftest/${variant}`;
  const G = await importGadget();
  const probe = G.probeStrategy(variant);
  if (!probe.supported) return { [name]: missing(ctx, EXPECT_KEY[variant], `${variant} variant: ${probe.detail ?? 'unsupported'}`) };
  // Progress on the console: a hang shows where it stopped.
  const t0 = Date.now();
  const log = (line: string): void => void process.stdout.write(`gadget ${variant} +${((Date.now() - t0) / 1000).toFixed(1)}s: ${line}\n`);
  log('starting');
  const r = await G.runGadgetSelfTest(variant, { waitMs: 10_000, log });
  const failed = r.checks.filter((c) => !c.ok);
  if (r.error !== undefined) return { [name]: bad(`cannot start: ${r.error}`) };
  if (!r.ok) return { [name]: bad(failed.map((c) => `${c.name}${c.detail !== undefined ? ` (${c.detail})` : ''}`).join('; ')) };
  return { [name]: ok(`${r.checks.length} checks, ${r.events} events, ${r.lost} lost, ${r.missedRuns} program runs skipped by the kernel`) };
};

const perfTask: Task = async (ctx: TaskContext) => {
  const G = await importGadget();
  const out: Record<string, TaskOutcome> = {};
  const devmem = existsSync('/dev/mem');
  let trace: InstanceType<typeof G.CapabilityTrace> | undefined;
  try {
    trace = G.traceCapabilities({ attach: 'auto', output: 'perf' });
  } catch (e) {
    const why = bad(`traceCapabilities({ output: 'perf' }) failed: ${describe(e, true)}`);
    return { 'gadget-cap/perf_output': why, 'gadget-cap/cap_sys_rawio': devmem ? why : skipped('/dev/mem is absent in this guest') };
  }
  const events: { pid: number; cap: string; syscall: string; capable: boolean }[] = [];
  const reading = (async () => {
    for await (const e of trace) events.push({ pid: e.proc.pid, cap: e.cap, syscall: e.syscall, capable: e.capable });
  })();
  const waitFor = async (pred: () => boolean, ms: number): Promise<boolean> => {
    const end = Date.now() + ms;
    while (!pred() && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
    return pred();
  };
  try {
    const output = trace.output;
    const strategy = trace.strategy;
    type Seen = (typeof events)[number];
    // One child per expectation; another one only when the kernel skipped program runs meanwhile
    // (7.x runs fentry and syscall-tracepoint programs preemptibly: a run preempted on a CPU makes
    // the others there skip), as runGadgetSelfTest does.
    const skippedOf = (programs: readonly string[]): bigint => programs.reduce((n, p) => n + (trace.missedRuns.get(p) ?? 0n), 0n);
    const runUntil = async (argv: readonly string[], cap: string, good: (e: Seen, pid: number) => boolean): Promise<ReturnType<typeof spawnSync>> => {
      const deadline = Date.now() + 40_000;
      for (let attempt = 1; ; attempt++) {
        const before = { checks: skippedOf(['ig_trace_cap_e', 'ig_trace_cap_x']), syscalls: skippedOf(['ig_cap_sys_enter']) };
        const r = spawnSync(argv[0] ?? '', argv.slice(1), { stdio: 'ignore' });
        await waitFor(() => events.some((e) => e.pid === r.pid && e.cap === cap), Math.max(0, Math.min(20_000, deadline - Date.now())));
        if (events.some((e) => good(e, r.pid)) || attempt === 3 || Date.now() >= deadline) return r;
        // Another child only when the skips that could explain the gap happened meanwhile: a
        // missing event needs a skipped check half, an event without its syscall a skipped sys_enter.
        const ofCap = events.filter((e) => e.pid === r.pid && e.cap === cap);
        const explained =
          ofCap.length === 0 ? skippedOf(['ig_trace_cap_e', 'ig_trace_cap_x']) > before.checks : ofCap.every((e) => e.syscall === '') && skippedOf(['ig_cap_sys_enter']) > before.syscalls;
        if (!explained) return r;
      }
    };
    const niceGood = (e: Seen, pid: number): boolean => e.pid === pid && e.cap === 'CAP_SYS_NICE' && e.syscall === 'SYS_SETPRIORITY' && e.capable;
    const rawioGood = (e: Seen, pid: number): boolean => e.pid === pid && e.cap === 'CAP_SYS_RAWIO' && e.capable;
    const nice = await runUntil(['/usr/bin/nice', '-n', '-5', '/bin/true'], 'CAP_SYS_NICE', niceGood);
    const rawio = devmem ? await runUntil(['/bin/dd', 'if=/dev/mem', 'of=/dev/null', 'bs=1', 'count=0'], 'CAP_SYS_RAWIO', rawioGood) : undefined;
    const isNice = (e: Seen): boolean => niceGood(e, nice.pid);
    const isRawio = (e: Seen): boolean => rawio !== undefined && rawioGood(e, rawio.pid);
    const mine = (pid: number | undefined): string => events.filter((e) => e.pid === pid).map((e) => `${e.cap}/${e.syscall}/${String(e.capable)}`).join(' ') || 'none';
    if (output !== 'perf') out['gadget-cap/perf_output'] = bad(`output is ${output}, perf was forced`);
    else if (nice.status !== 0) out['gadget-cap/perf_output'] = bad(`nice -n -5 /bin/true exited ${String(nice.status)}`);
    else if (!events.some(isNice)) out['gadget-cap/perf_output'] = bad(`no capable CAP_SYS_NICE/SYS_SETPRIORITY event for nice child ${nice.pid}; its events: ${mine(nice.pid)}; program runs skipped by the kernel: ${trace.missed}`);
    else out['gadget-cap/perf_output'] = ok(`${strategy} + perf buffer: nice child ${nice.pid} seen as CAP_SYS_NICE/SYS_SETPRIORITY`);
    if (rawio === undefined) out['gadget-cap/cap_sys_rawio'] = skipped('/dev/mem is absent in this guest (CONFIG_DEVMEM?)');
    else if (!events.some(isRawio)) out['gadget-cap/cap_sys_rawio'] = bad(`no CAP_SYS_RAWIO event for dd if=/dev/mem (pid ${rawio.pid}, exit ${String(rawio.status)}); its events: ${mine(rawio.pid)}`);
    else out['gadget-cap/cap_sys_rawio'] = ok(`dd if=/dev/mem (pid ${rawio.pid}, exit ${String(rawio.status)}) seen as CAP_SYS_RAWIO`);
  } finally {
    trace.close();
    await reading.catch((e: unknown) => {
      out['gadget-cap/perf_output'] = bad(`reader ended with ${describe(e)}`);
    });
  }
  void ctx;
  return out;
};

/** Seconds each burst child runs. */
const BURST_SECONDS = 3;
/** A child that lowers and restores its nice value (a CAP_SYS_NICE check each time) and stats `/` in between, for BURST_SECONDS. */
const BURST_CHILD = `const os = require('os'), fs = require('fs'); const end = Date.now() + ${BURST_SECONDS * 1000}; while (Date.now() < end) { os.setPriority(-1); os.setPriority(0); for (let i = 0; i < 20; i++) fs.statSync('/'); }`;

/**
 * `gadget-cap/missed_runs`: four children make CAP_SYS_NICE checks in a loop for a few seconds.
 * Every one of their CAP_SYS_NICE events must name SYS_SETPRIORITY, except where the kernel counted
 * skipped runs that explain it: each event without a syscall needs a skipped `ig_cap_sys_enter` run; another syscall
 * (a stale entry) is never right where the kernel has `bpf_task_pt_regs` (the BPF side checks the
 * entry against the registers), and before that needs skipped `ig_cap_sys_exit` and
 * `ig_cap_sys_enter` runs. A gap without them would be the gadget losing state. Kernels that run tracing programs preemptibly (7.x) do skip runs here,
 * and the detail shows how many.
 */
const missedRunsTask: Task = async () => {
  const name = 'gadget-cap/missed_runs';
  const G = await importGadget();
  let trace: InstanceType<typeof G.CapabilityTrace>;
  try {
    trace = G.traceCapabilities({ attach: 'auto' });
  } catch (e) {
    return { [name]: bad(`traceCapabilities() failed: ${describe(e, true)}`) };
  }
  const pids = new Set<number>();
  let nice = 0;
  let withoutSyscall = 0;
  const otherSyscalls = new Map<string, number>();
  const reading = (async () => {
    for await (const e of trace) {
      if (!pids.has(e.proc.pid) || e.cap !== 'CAP_SYS_NICE') continue;
      nice++;
      if (e.syscall === '') withoutSyscall++;
      else if (e.syscall !== 'SYS_SETPRIORITY') otherSyscalls.set(e.syscall, (otherSyscalls.get(e.syscall) ?? 0) + 1);
    }
  })();
  let missed: ReadonlyMap<string, bigint>;
  try {
    const children = [0, 1, 2, 3].map(() => spawn(process.execPath, ['-e', BURST_CHILD], { stdio: 'ignore' }));
    for (const c of children) if (c.pid !== undefined) pids.add(c.pid);
    await Promise.all(children.map((c) => new Promise((resolve) => c.on('exit', resolve).on('error', resolve))));
  } finally {
    trace.close();
    missed = trace.missedRuns;
  }
  await reading;
  const enter = missed.get('ig_cap_sys_enter') ?? 0n;
  const exit = missed.get('ig_cap_sys_exit') ?? 0n;
  const others = [...otherSyscalls].map(([sc, n]) => `${sc} ${n}`).join(', ');
  const skipped = [...missed].filter(([, n]) => n > 0n).map(([p, n]) => `${p} ${n}`).join(', ') || 'none';
  const detail = `${nice} CAP_SYS_NICE events from ${pids.size} children: ${withoutSyscall} without a syscall, ${others === '' ? 'none' : others} with another; runs skipped by the kernel: ${skipped}`;
  if (nice === 0) return { [name]: bad(`no CAP_SYS_NICE event from the children (${detail})`) };
  // Each event without its syscall needs its own skipped sys_enter (of that very setpriority).
  if (BigInt(withoutSyscall) > enter) return { [name]: bad(`more events without their syscall than skipped ig_cap_sys_enter runs (${detail})`) };
  // With bpf_task_pt_regs (5.15+) the BPF side checks the entry against the registers: a stale
  // entry gives no syscall rather than a wrong one. Before, only skipped runs can explain one.
  const L = await importLoader();
  const checked = L.probeHelper(L.BPF_PROG_TYPE.KPROBE, L.BPF_FUNC.task_pt_regs);
  if (otherSyscalls.size > 0 && checked) return { [name]: bad(`events with another syscall, though this kernel has bpf_task_pt_regs to check the entry (${detail})`) };
  if (otherSyscalls.size > 0 && (enter === 0n || exit === 0n)) return { [name]: bad(`events with another syscall, yet no skipped ig_cap_sys_enter and ig_cap_sys_exit runs (${detail})`) };
  return { [name]: ok(detail) };
};

/** A node child that says `ready`, waits for a line on stdin, then lowers its nice value (a CAP_SYS_NICE check). */
const WAITING_NICE_CHILD = "process.stdout.write('ready\\n'); process.stdin.once('data', () => { require('os').setPriority(-5); process.exit(0); });";

/**
 * `gadget-cap/fexit_leftover`: the fexit half drops an entry half's record for another capability
 * (left by a skipped exit run) instead of reporting that capability with this check's result.
 * Only `ig_trace_cap_x` of the fentry object is attached; the task writes `start` records the way
 * a skipped entry run leaves the previous check's: child A finds one for CAP_CHOWN when it checks
 * CAP_SYS_NICE (nothing may be reported), child B one for CAP_SYS_NICE (reported: the control).
 */
const fexitLeftoverTask: Task = async (ctx: TaskContext) => {
  const name = 'gadget-cap/fexit_leftover';
  const L = await importLoader();
  const G = await importGadget();
  const probe = G.probeStrategy('fentry');
  if (!probe.supported) return { [name]: missing(ctx, EXPECT_KEY.fentry, `fentry variant: ${probe.detail ?? 'unsupported'}`) };
  let run: ReturnType<typeof L.GadgetRun.start>;
  try {
    const spec = L.CollectionSpec.fromFile(join(ctx.repoRoot, 'bpf', 'gadgets', 'trace_capabilities_fentry.bpf.o'));
    run = L.GadgetRun.start(spec, { params: { collect_kstack: false }, attach: (p) => p.name === 'ig_trace_cap_x' });
  } catch (e) {
    return { [name]: bad(`loading the fentry object with only ig_trace_cap_x failed: ${describe(e, true)}`) };
  }
  const seen: { pid: number; cap: unknown }[] = [];
  const decoder = run.decoder();
  const reading = run.reader.start((view) => {
    const e = decoder.decode(view);
    seen.push({ pid: Number((e.proc as { pid: number }).pid), cap: e.cap });
  });
  const start = run.collection.map<bigint, { current_userns: bigint; target_userns: bigint; cap_effective: bigint; cap: number; cap_opt: number }>('start');
  const childWithEntry = async (cap: number): Promise<number> => {
    const child = spawn(process.execPath, ['-e', WAITING_NICE_CHILD], { stdio: ['pipe', 'pipe', 'ignore'] });
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()).on('error', () => resolve()));
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()).once('close', () => resolve()));
    child.stdout.resume();
    const pid = child.pid ?? -1;
    start.update((BigInt(pid) << 32n) | BigInt(pid), { current_userns: 1n, target_userns: 1n, cap_effective: 0n, cap, cap_opt: 0 });
    child.stdin.end('go\n');
    await exited;
    return pid;
  };
  try {
    const a = await childWithEntry(0); // CAP_CHOWN
    const b = await childWithEntry(23); // CAP_SYS_NICE
    const end = Date.now() + 10_000;
    while (!seen.some((e) => e.pid === b) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    const ofA = seen.filter((e) => e.pid === a).map((e) => String(e.cap));
    const ofB = seen.filter((e) => e.pid === b).map((e) => String(e.cap));
    const detail = `child A ${a} (CAP_CHOWN record): ${ofA.join(' ') || 'nothing'}; child B ${b} (CAP_SYS_NICE record): ${ofB.join(' ') || 'nothing'}`;
    if (ofB.join(' ') !== 'CAP_SYS_NICE') return { [name]: bad(`the control child was not reported once as CAP_SYS_NICE (${detail})`) };
    if (ofA.length > 0) return { [name]: bad(`a leftover record for another capability was reported (${detail})`) };
    return { [name]: ok(detail) };
  } finally {
    run.reader.close();
    await reading.catch(() => undefined);
    run.close();
  }
};

/** Gadget tasks by name. */
export const gadgetTasks: Record<string, Task> = {
  'gadget/fentry': selftest('fentry'),
  'gadget/kprobe': selftest('kprobe'),
  'gadget/tracepoint': selftest('tracepoint'),
  'gadget/perf': perfTask,
  'gadget/missed': missedRunsTask,
  'gadget/fexit_leftover': fexitLeftoverTask,
};
