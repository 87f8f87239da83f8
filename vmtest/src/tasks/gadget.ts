/**
 * trace-capabilities end to end:
 * - `gadget-cap/selftest/<variant>` for each attach variant (fentry, kprobe, tracepoint): the
 *   gadget's own `runGadgetSelfTest` (pid/comm/parent, audit, audit-only, kernel stack, release).
 *   A variant the kernel lacks (probeStrategy) is skipped, or failed when kernels.json expects it.
 * - `gadget-cap/perf_output`: `traceCapabilities({ output: 'perf' })` (the self-test has no output
 *   option) sees a `nice -n -5 /bin/true` child as CAP_SYS_NICE / SYS_SETPRIORITY, through the perf
 *   buffer; `gadget-cap/cap_sys_rawio`: in the same trace, a `dd if=/dev/mem` child as CAP_SYS_RAWIO.
 *
 * @packageDocumentation
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { bad, describe, missing, ok, skipped, type Task, type TaskContext, type TaskOutcome } from './types.js';
import { importGadget } from './loader.js';

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
  return { [name]: ok(`${r.checks.length} checks, ${r.events} events, ${r.lost} lost`) };
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
    const nice = spawnSync('/usr/bin/nice', ['-n', '-5', '/bin/true'], { stdio: 'ignore' });
    const rawio = devmem ? spawnSync('/bin/dd', ['if=/dev/mem', 'of=/dev/null', 'bs=1', 'count=0'], { stdio: 'ignore' }) : undefined;
    const isNice = (e: (typeof events)[number]): boolean => e.pid === nice.pid && e.cap === 'CAP_SYS_NICE' && e.syscall === 'SYS_SETPRIORITY' && e.capable;
    const isRawio = (e: (typeof events)[number]): boolean => e.pid === rawio?.pid && e.cap === 'CAP_SYS_RAWIO' && e.capable;
    await waitFor(() => events.some(isNice) && (rawio === undefined || events.some(isRawio)), 20_000);
    const mine = (pid: number | undefined): string => events.filter((e) => e.pid === pid).map((e) => `${e.cap}/${e.syscall}/${String(e.capable)}`).join(' ') || 'none';
    if (output !== 'perf') out['gadget-cap/perf_output'] = bad(`output is ${output}, perf was forced`);
    else if (nice.status !== 0) out['gadget-cap/perf_output'] = bad(`nice -n -5 /bin/true exited ${String(nice.status)}`);
    else if (!events.some(isNice)) out['gadget-cap/perf_output'] = bad(`no capable CAP_SYS_NICE/SYS_SETPRIORITY event for nice child ${nice.pid}; its events: ${mine(nice.pid)}`);
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

/** Gadget tasks by name. */
export const gadgetTasks: Record<string, Task> = {
  'gadget/fentry': selftest('fentry'),
  'gadget/kprobe': selftest('kprobe'),
  'gadget/tracepoint': selftest('tracepoint'),
  'gadget/perf': perfTask,
};
