/**
 * A self-contained end-to-end check of one attach strategy, for environments without a test
 * runner (the vmtest guest): load the forced variant, make real child processes trigger known
 * capability checks, and verify what came back. Children are `node` processes (the guest has no
 * python), so nothing beyond Node.js is needed.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { linkGetNextId, progGetNextId } from '@tsbpf/loader';
import type { CapabilityEvent } from './event.js';
import type { AttachStrategy } from './strategy.js';
import { traceCapabilities, traceCapabilitiesAsync, type CapabilityTrace } from './trace.js';

/** One verified property. */
export interface SelfTestCheck {
  name: string;
  ok: boolean;
  detail?: string;
}

/** Outcome of {@link runGadgetSelfTest}. */
export interface SelfTestResult {
  variant: AttachStrategy;
  /** True when every check passed. */
  ok: boolean;
  /** Set when the variant could not even start (e.g. not supported here): `ok` is false. */
  error?: string;
  checks: SelfTestCheck[];
  /** Events received from the test children. */
  events: number;
  /** Events lost (decimal). */
  lost: string;
  /** Runs of the gadget's programs the kernel skipped during the main trace (decimal; see `CapabilityTrace.missedRuns`). */
  missedRuns: string;
}

/** Options of {@link runGadgetSelfTest}. */
export interface SelfTestOptions {
  /** Bound on waiting for each child's events (default 15000 ms). Not a timing assertion: only a give-up. */
  waitMs?: number;
  /** Progress lines. */
  log?: (line: string) => void;
}

/** Every id a `*GetNextId` function enumerates (system-wide). */
function listIds(next: (start: number) => number | undefined): Set<number> {
  const ids = new Set<number>();
  let id = 0;
  for (let i = 0; i < 1_000_000; i++) {
    const nid = next(id);
    if (nid === undefined) break;
    ids.add(nid);
    id = nid;
  }
  return ids;
}

/** Program and link ids held by this process's fds (from /proc/self/fdinfo). */
function ownIds(): { progs: Set<number>; links: Set<number> } {
  const progs = new Set<number>();
  const links = new Set<number>();
  let fds: string[] = [];
  try {
    fds = readdirSync('/proc/self/fdinfo');
  } catch {
    return { progs, links };
  }
  for (const fd of fds) {
    let text: string;
    try {
      text = readFileSync(`/proc/self/fdinfo/${fd}`, 'latin1');
    } catch {
      continue;
    }
    const p = /^prog_id:\s*(\d+)/m.exec(text);
    if (p) progs.add(Number(p[1]));
    const l = /^link_id:\s*(\d+)/m.exec(text);
    if (l) links.add(Number(l[1]));
  }
  return { progs, links };
}

/** Runs `script` in a child node, resolves with its pid once it has exited. */
function runChild(script: string): Promise<{ pid: number; code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ pid: child.pid ?? -1, code, stderr }));
  });
}

/** Collects events per pid from a running trace. */
class Collector {
  readonly byPid = new Map<number, CapabilityEvent[]>();
  private waiters: (() => void)[] = [];
  readonly done: Promise<void>;
  total = 0;

  constructor(trace: CapabilityTrace) {
    this.done = (async () => {
      for await (const e of trace) {
        this.total++;
        const list = this.byPid.get(e.proc.pid) ?? [];
        list.push(e);
        this.byPid.set(e.proc.pid, list);
        const w = this.waiters;
        this.waiters = [];
        for (const f of w) f();
      }
    })();
  }

  /** Resolves when `pred` holds for the events of `pid`, or after `ms` (then with false). */
  async waitFor(pid: number, pred: (events: CapabilityEvent[]) => boolean, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    for (;;) {
      if (pred(this.byPid.get(pid) ?? [])) return true;
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 250));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }
}

/**
 * Children tried per expectation when the kernel skipped runs of the gadget's programs meanwhile.
 * Kernels that run these programs preemptibly (fentry; syscall tracepoints on 7.x) skip a
 * program's run on a CPU while another task's run of it is preempted there: the child's check, or
 * the sys_enter that names its syscall, can go unseen. That is the kernel's behaviour, counted
 * (`missedRuns`) and reported, not a gadget fault, so such an attempt is repeated; a miss the
 * counters cannot explain fails at once.
 */
const ATTEMPTS = 3;

/** Which programs' skipped runs could explain that `events` lack the expected one: none when they cannot. */
function explainingPrograms(events: readonly CapabilityEvent[], cap: string): readonly string[] {
  const ofCap = events.filter((e) => e.cap === cap);
  // No event of the capability: one half of the check was skipped.
  if (ofCap.length === 0) return ['ig_trace_cap_e', 'ig_trace_cap_x'];
  // Only events without a syscall: its sys_enter was skipped.
  if (ofCap.every((e) => e.syscall === '')) return ['ig_cap_sys_enter'];
  return [];
}

/** Skipped runs of `programs` in a `missedRuns` snapshot. */
function skippedOf(missed: ReadonlyMap<string, bigint>, programs: readonly string[]): bigint {
  let n = 0n;
  for (const p of programs) n += missed.get(p) ?? 0n;
  return n;
}

/**
 * Run `script` in child processes until `good` holds for one child's events. After each child,
 * wait until an event of `cap` arrived (or `waitMs` passed); try another child only when the
 * programs whose skips could explain the gap (see {@link explainingPrograms}) skipped runs during
 * that child — counted over every task, so that makes the skip plausible, not certain — and while
 * the expectation's budget of twice `waitMs` lasts.
 */
async function childUntil(
  trace: CapabilityTrace,
  collector: Collector,
  script: string,
  cap: string,
  good: (es: CapabilityEvent[]) => boolean,
  waitMs: number,
  note: (line: string) => void,
): Promise<{ child: { pid: number; code: number | null; stderr: string }; ok: boolean }> {
  const deadline = Date.now() + 2 * waitMs;
  for (let attempt = 1; ; attempt++) {
    const before = trace.missedRuns;
    const child = await runChild(script);
    const left = Math.max(0, Math.min(waitMs, deadline - Date.now()));
    await collector.waitFor(child.pid, (es) => good(es) || es.some((e) => e.cap === cap), left);
    const events = collector.byPid.get(child.pid) ?? [];
    const ok = good(events);
    const programs = explainingPrograms(events, cap);
    const total = skippedOf(trace.missedRuns, programs);
    const skipped = total - skippedOf(before, programs);
    if (ok || skipped === 0n || attempt === ATTEMPTS || Date.now() >= deadline) return { child, ok };
    note(`the kernel skipped ${skipped} run(s) of ${programs.join('/')} while child ${child.pid} ran (${total} in all) and its expected event is not there: another child (${attempt + 1}/${ATTEMPTS})`);
  }
}

const NICE = "require('os').setPriority(-5)";
const NICE_UNPRIVILEGED = "process.setgroups([]); process.setgid(65534); process.setuid(65534); try { require('os').setPriority(-5) } catch {}";

/**
 * Run the gadget with `variant` forced and verify it end to end on the running kernel (the main
 * trace loaded as the CLI loads, asynchronously; the auditOnly one synchronously): a root child
 * lowering its nice value is reported as CAP_SYS_NICE / SYS_SETPRIORITY / capable, an unprivileged
 * one (uid 65534) as not capable; `audit` is known (kprobe, fentry) or null (tracepoint);
 * `auditOnly` drops no-audit checks (kprobe, fentry); every link and program is released at close.
 * Never throws: failures are in the result. Needs root.
 */
export async function runGadgetSelfTest(variant: AttachStrategy, options: SelfTestOptions = {}): Promise<SelfTestResult> {
  const log = options.log ?? (() => {});
  const waitMs = options.waitMs ?? 15_000;
  const checks: SelfTestCheck[] = [];
  const check = (name: string, ok: boolean, detail?: string): void => {
    checks.push({ name, ok, ...(detail !== undefined ? { detail } : {}) });
    log(`${ok ? 'ok  ' : 'FAIL'} ${variant}: ${name}${detail ? ` (${detail})` : ''}`);
  };
  const before = ownIds();
  let ours: { progs: number[]; links: number[] } = { progs: [], links: [] };
  let trace: CapabilityTrace;
  try {
    // The main trace starts as the CLI does (asynchronous load); the auditOnly one below loads
    // synchronously, so both load paths run on every kernel this checks.
    trace = await traceCapabilitiesAsync({ attach: variant, collectKstack: true });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    log(`FAIL ${variant}: cannot start: ${message}`);
    return { variant, ok: false, error: message, checks, events: 0, lost: '0', missedRuns: '0' };
  }
  check('the forced strategy is used', trace.strategy === variant, trace.strategy);
  {
    const during = ownIds();
    ours = { progs: [...during.progs].filter((id) => !before.progs.has(id)), links: [...during.links].filter((id) => !before.links.has(id)) };
    // Count programs: before 5.15 kprobe and tracepoint attachments are not bpf_links.
    const present = listIds(progGetNextId);
    check('six programs are loaded and attached', ours.progs.length === 6 && ours.progs.every((id) => present.has(id)) && trace.attachedPrograms === 6, `${ours.progs.length} program(s), ${trace.attachedPrograms} attached`);
  }
  const collector = new Collector(trace);
  let lost = 0n;
  let missed = 0n;
  try {
    const note = (line: string): void => log(`note ${variant}: ${line}`);
    const anyNice = (e: CapabilityEvent): boolean => e.cap === 'CAP_SYS_NICE';
    const isNice = (e: CapabilityEvent): boolean => anyNice(e) && e.syscall === 'SYS_SETPRIORITY';
    const { child: root, ok: seen } = await childUntil(trace, collector, NICE, 'CAP_SYS_NICE', (es) => es.some(isNice), waitMs, note);
    check('root child ran', root.code === 0, root.stderr.trim() || undefined);
    const ev = collector.byPid.get(root.pid)?.find(isNice);
    check('CAP_SYS_NICE/SYS_SETPRIORITY reported for the root child', seen, seen ? undefined : `events of pid ${root.pid}: ${(collector.byPid.get(root.pid) ?? []).map((e) => `${e.cap}/${e.syscall}`).join(' ') || 'none'}; program runs skipped by the kernel: ${trace.missed}`);
    if (ev) {
      check('the root child was capable', ev.capable);
      check('pid, comm and parent are the child’s', ev.proc.pid === root.pid && ev.proc.tid === root.pid && ev.proc.parent.pid === process.pid, `${ev.proc.comm} ${ev.proc.pid}/${ev.proc.tid} parent ${ev.proc.parent.pid}`);
      if (variant === 'tracepoint') check('audit is unknown with the tracepoint', ev.audit === null && ev.insetid === null, String(ev.audit));
      else check('setpriority’s check is audited', ev.audit === true && ev.insetid === false, `audit=${String(ev.audit)} insetid=${String(ev.insetid)}`);
      const kstack = ev.kstack ?? [];
      // The kprobe variant takes the stack in its kretprobe; older kernels' unwinders (5.10) stop at
      // the kretprobe trampoline, so that one frame is all there is: a kernel limit, named here.
      const trampolineOnly = variant === 'kprobe' && kstack.length === 1 && /^(__)?kretprobe_trampoline\+/.test(kstack[0] ?? '');
      if (trampolineOnly) log(`note kprobe: this kernel's unwinder stops at the kretprobe trampoline (${kstack[0] ?? ''}): no caller frames to check`);
      check('a kernel stack was collected', kstack.length > 0 && (trampolineOnly || kstack.some((f) => f.includes('cap_capable') || f.includes('setpriority'))), kstack.slice(0, 4).join(' '));
    }
    if (variant !== 'tracepoint') {
      // Where the kernel makes a no-audit check through an out-of-line cap_capable (7.x; older
      // kernels inline the memory-accounting one), it must be reported with audit=false.
      const noaudit = await collector.waitFor(root.pid, (es) => es.some((e) => e.audit === false), Math.min(waitMs, 3000));
      if (noaudit) check('no-audit checks are reported with audit=false', (collector.byPid.get(root.pid) ?? []).some((e) => e.audit === false && e.capable !== undefined));
      else log(`note ${variant}: this kernel made no observable no-audit check for the child; audit=false not exercised`);
    }

    const { child: user, ok: denied } = await childUntil(trace, collector, NICE_UNPRIVILEGED, 'CAP_SYS_NICE', (es) => es.some((e) => isNice(e) && !e.capable && e.proc.creds.uid === 65534), waitMs, note);
    check('unprivileged child ran', user.code === 0, user.stderr.trim() || undefined);
    check('the unprivileged child is reported not capable', denied, denied ? undefined : (collector.byPid.get(user.pid) ?? []).map((e) => `${e.cap}/${e.capable}/${e.proc.creds.uid}`).join(' '));
  } catch (err) {
    check('no unexpected error', false, err instanceof Error ? err.message : String(err));
  } finally {
    trace.close();
    await collector.done.catch((err: unknown) => check('the reader ended cleanly', false, String(err)));
    lost = trace.lost;
    missed = trace.missed;
  }

  if (variant !== 'tracepoint') {
    try {
      const audited = traceCapabilities({ attach: variant, auditOnly: true, collectKstack: false });
      const c = new Collector(audited);
      const { child: root } = await childUntil(audited, c, NICE, 'CAP_SYS_NICE', (es) => es.some((e) => e.cap === 'CAP_SYS_NICE'), waitMs, (line) => log(`note ${variant} (auditOnly): ${line}`));
      audited.close();
      await c.done;
      const es = c.byPid.get(root.pid) ?? [];
      check('auditOnly keeps audited checks', es.some((e) => e.cap === 'CAP_SYS_NICE' && e.audit === true));
      check('auditOnly drops no-audit checks', es.every((e) => e.audit !== false), `${es.filter((e) => e.audit === false).length} no-audit event(s)`);
    } catch (err) {
      check('auditOnly run', false, err instanceof Error ? err.message : String(err));
    }
  }

  const linksLeft = listIds(linkGetNextId);
  check('every link is released', ours.links.every((id) => !linksLeft.has(id)), `links ${ours.links.join(',')}`);
  // A program is freed after an RCU grace period once its last link is gone: wait for it, bounded.
  let progsLeft: number[] = [];
  for (let i = 0; i < 500; i++) {
    const all = listIds(progGetNextId);
    progsLeft = ours.progs.filter((id) => all.has(id));
    if (progsLeft.length === 0) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  check('every program is released', progsLeft.length === 0, progsLeft.length > 0 ? `still loaded: ${progsLeft.join(',')}` : `programs ${ours.progs.join(',')}`);
  return { variant, ok: checks.every((c) => c.ok), checks, events: collector.total, lost: lost.toString(), missedRuns: missed.toString() };
}
