/**
 * Every attach kind the kernel supports, with real events counted (`vmtest_attach.bpf.o`, one load):
 * each program counts the events of this process (`target_tgid`) in its own .bss counter (getppid()
 * for kprobes and tracepoints, setpriority() for fentry/fexit and lsm); the task
 * attaches it, makes exactly N system calls, detaches, makes N more, and asserts the counter moved
 * by exactly N while attached and not at all after. uprobe: `__libc_start_main` in the libc this
 * process maps, hit exactly once by a child `/bin/true`, counted per tgid. Then, after close: no
 * link id of ours is left in the kernel and no `tsbpf_` probe in tracefs.
 *
 * @packageDocumentation
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { bad, describe, missing, ok, skipped, type Task, type TaskContext, type TaskOutcome } from './types.js';
import { importLoader, leftoverTracefsProbes, listIds, testdata, tracefsDir, type Loader } from './loader.js';

/** Events per attachment: small, and not 1 so a probe that fires once per attach cannot pass. */
const N = 5;

/** Check names this task answers, in order. */
export const ATTACH_CHECKS = [
  'attach/kprobe',
  'attach/kprobe_tracefs',
  'attach/kretprobe',
  'attach/kretprobe_tracefs',
  'attach/fentry',
  'attach/fexit',
  'attach/tp_btf',
  'attach/raw_tp',
  'attach/tracepoint',
  'attach/uprobe',
  'attach/lsm',
  'attach/released',
] as const;

/** N getppid() calls from this thread (`process.ppid` is not cached: each read is a system call). */
function getppidN(): void {
  let sum = 0;
  for (let i = 0; i < N; i++) sum += process.ppid;
  if (sum < 0) throw new Error('unreachable');
}

/** N setpriority() calls that keep the current nice value (security_task_setnice runs each time). */
function setniceN(): void {
  const prio = getPriority(0);
  for (let i = 0; i < N; i++) setPriority(0, prio);
}

/** The libc this process maps (the guest shares the host's root file system). */
function libcPath(): string | undefined {
  for (const line of readFileSync('/proc/self/maps', 'utf8').split('\n')) {
    const path = line.slice(line.indexOf('/'));
    if (line.includes('/') && /\/libc(\.so\.6|-[\d.]+\.so)$/.test(path)) return path;
  }
  return undefined;
}

function lsmEnabled(): boolean {
  try {
    return readFileSync('/sys/kernel/security/lsm', 'utf8').trim().split(',').includes('bpf');
  } catch {
    return false;
  }
}

type Link = ReturnType<Loader['attachProgram']>;

const attachTask: Task = async (ctx: TaskContext) => {
  const L = await importLoader();
  const out: Record<string, TaskOutcome> = {};
  const spec = L.CollectionSpec.fromFile(testdata(ctx.repoRoot, 'vmtest_attach.bpf.o'));
  spec.variable('target_tgid').set(process.pid);

  // What this kernel offers, by feature probe; programs it cannot load are left out with the reason.
  const kp = L.kprobes();
  const tramp = L.checkTrampolines();
  const tpBtf = L.checkTpBtf('sys_enter');
  const lsm = L.checkLsm();
  const tracefs = tracefsDir();
  const syscallTp = tracefs !== undefined && existsSync(`${tracefs}/events/syscalls/sys_enter_getppid`);
  const uprobes = L.probesAvailable('uprobe');
  const libc = libcPath();
  const gate: Record<string, TaskOutcome | undefined> = {
    on_kprobe: kp.pmu || kp.tracefs ? undefined : missing(ctx, 'kprobe_events', kp.detail ?? 'no kprobes'),
    on_kretprobe: kp.pmu || kp.tracefs ? undefined : missing(ctx, 'kprobe_events', kp.detail ?? 'no kprobes'),
    on_fentry: tramp.supported ? undefined : missing(ctx, 'trampolines', `fentry/fexit: ${tramp.detail ?? 'unsupported'}`),
    on_fexit: tramp.supported ? undefined : missing(ctx, 'trampolines', `fentry/fexit: ${tramp.detail ?? 'unsupported'}`),
    on_tp_btf: tpBtf.supported ? undefined : missing(ctx, 'trampolines', `tp_btf/sys_enter: ${tpBtf.detail ?? 'unsupported'}`),
    on_tracepoint: syscallTp ? undefined : skipped('no tracefs events/syscalls/sys_enter_getppid (CONFIG_FTRACE_SYSCALLS)'),
    on_lsm: !lsm.supported ? missing(ctx, 'lsm_bpf', `BPF LSM: ${lsm.detail ?? 'unsupported'}`) : !lsmEnabled() ? missing(ctx, 'lsm_bpf', 'bpf is not in /sys/kernel/security/lsm (boot with lsm=…,bpf)') : undefined,
    on_uprobe: !uprobes ? skipped('no uprobe PMU and no uprobe_events') : libc === undefined ? skipped('this process maps no libc.so.6') : undefined,
  };
  for (const [prog, why] of Object.entries(gate)) if (why !== undefined) spec.program(prog).autoload = false;

  // Load; a program the kernel refuses with NOT_SUPPORTED is left out and reported, anything else fails all.
  let coll: InstanceType<Loader['Collection']> | undefined;
  for (let tries = 0; tries < 10 && coll === undefined; tries++) {
    try {
      coll = L.Collection.load(spec);
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      const culprit = code === 'NOT_SUPPORTED' ? [...spec.programs.values()].find((p) => p.autoload && describe(e, true).includes(`program ${p.name}`)) : undefined;
      if (culprit === undefined) {
        const why = bad(`vmtest_attach.bpf.o failed to load: ${describe(e, true)}`);
        for (const c of ATTACH_CHECKS) out[c] = why;
        return out;
      }
      culprit.autoload = false;
      gate[culprit.name] = bad(`the loader refused it as not supported: ${describe(e)}`);
    }
  }
  if (coll === undefined) throw new Error('vmtest_attach.bpf.o: too many programs refused');

  const linkIds: number[] = [];
  const counter = (name: string): bigint => coll.readVariable(name) as bigint;
  /** Attach with `make`, trigger, detach, trigger again; the counter must move by exactly N, then not at all. */
  const counted = (check: string, prog: string, counterName: string, make: () => Link, trigger: () => void, extra?: (link: Link) => string | undefined): void => {
    const why = gate[prog];
    if (why !== undefined) {
      out[check] = why;
      return;
    }
    let link: Link | undefined;
    try {
      const before = counter(counterName);
      link = make();
      const id = link.fd !== undefined && link.info !== undefined ? link.info().id : undefined;
      if (id !== undefined) linkIds.push(id);
      const problem = extra?.(link);
      trigger();
      const during = counter(counterName) - before;
      link.close();
      link = undefined;
      trigger();
      const after = counter(counterName) - before;
      if (problem !== undefined) out[check] = bad(problem);
      else if (during !== BigInt(N)) out[check] = bad(`${during} event(s) counted for ${N} triggers while attached`);
      else if (after !== during) out[check] = bad(`${after - during} event(s) counted after the link was closed`);
      else out[check] = ok(`${N}/${N} events${id !== undefined ? ` (bpf_link ${id})` : ' (perf event, no bpf_link)'}, none after close`);
    } catch (e) {
      link?.close();
      out[check] = bad(describe(e, true));
    }
  };
  const auto = (prog: string) => (): Link => L.attachProgram(coll.program(prog));
  const probeListed = (link: Link): string | undefined => {
    // A forced tracefs probe must be a `tsbpf_` kprobe_events entry while it lives.
    const live = leftoverTracefsProbes();
    return live.length === 0 ? `link ${link.kind}: no tsbpf_ entry in kprobe_events while attached` : undefined;
  };

  try {
    counted('attach/kprobe', 'on_kprobe', 'hits_kprobe', auto('on_kprobe'), getppidN);
    if (gate.on_kprobe === undefined && !kp.tracefs) out['attach/kprobe_tracefs'] = skipped('no tracefs kprobe_events');
    else counted('attach/kprobe_tracefs', 'on_kprobe', 'hits_kprobe', () => L.attachKprobe(coll.program('on_kprobe').fd, '__x64_sys_getppid', { forceTracefs: true }), getppidN, probeListed);
    counted('attach/kretprobe', 'on_kretprobe', 'hits_kretprobe', auto('on_kretprobe'), getppidN);
    if (gate.on_kretprobe === undefined && !kp.tracefs) out['attach/kretprobe_tracefs'] = skipped('no tracefs kprobe_events');
    else counted('attach/kretprobe_tracefs', 'on_kretprobe', 'hits_kretprobe', () => L.attachKprobe(coll.program('on_kretprobe').fd, '__x64_sys_getppid', { retprobe: true, forceTracefs: true }), getppidN, probeListed);
    counted('attach/fentry', 'on_fentry', 'hits_fentry', auto('on_fentry'), setniceN);
    counted('attach/fexit', 'on_fexit', 'hits_fexit', auto('on_fexit'), setniceN);
    counted('attach/tp_btf', 'on_tp_btf', 'hits_tp_btf', auto('on_tp_btf'), getppidN);
    counted('attach/raw_tp', 'on_raw_tp', 'hits_raw_tp', auto('on_raw_tp'), getppidN);
    counted('attach/tracepoint', 'on_tracepoint', 'hits_tracepoint', auto('on_tracepoint'), getppidN);
    counted('attach/lsm', 'on_lsm', 'hits_lsm', auto('on_lsm'), setniceN);

    // uprobe: one child, one __libc_start_main.
    if (gate.on_uprobe !== undefined) out['attach/uprobe'] = gate.on_uprobe;
    else {
      let link: Link | undefined;
      try {
        link = L.attachUprobe(coll.program('on_uprobe').fd, libc ?? '', { symbol: '__libc_start_main' });
        const child = spawnSync('/bin/true', { stdio: 'ignore' });
        link.close();
        link = undefined;
        const after = spawnSync('/bin/true', { stdio: 'ignore' });
        const hits = coll.map('uprobe_hits');
        const key = new Uint8Array(4);
        const count = (pid: number | undefined): bigint => {
          new DataView(key.buffer).setUint32(0, pid ?? 0, true);
          const v = hits.lookupBytes(key);
          return v === undefined ? 0n : new DataView(v.buffer, v.byteOffset).getBigUint64(0, true);
        };
        const c1 = count(child.pid);
        const c2 = count(after.pid);
        if (child.status !== 0) out['attach/uprobe'] = bad(`/bin/true exited ${String(child.status)} ${child.error?.message ?? ''}`);
        else if (c1 !== 1n) out['attach/uprobe'] = bad(`${c1} hit(s) of ${libc}:__libc_start_main for child ${child.pid}, want 1`);
        else if (c2 !== 0n) out['attach/uprobe'] = bad(`${c2} hit(s) for a child started after close`);
        else out['attach/uprobe'] = ok(`${libc}:__libc_start_main hit once by child /bin/true ${child.pid}, not after close`);
      } catch (e) {
        link?.close();
        out['attach/uprobe'] = bad(describe(e, true));
      }
    }
  } finally {
    coll.close();
  }

  // Released: no link id we created is still in the kernel, no tsbpf_ probe in tracefs, none owned.
  const present = listIds(L.linkGetNextId);
  const stale = linkIds.filter((id) => present.has(id));
  const left = leftoverTracefsProbes();
  const owned = L.liveProbeEvents();
  if (stale.length > 0 || left.length > 0 || owned.length > 0) {
    out['attach/released'] = bad(`after close: link ids ${stale.join(',') || 'none'} still present; tracefs: ${left.join(' | ') || 'clean'}; owned probe events: ${owned.join(',') || 'none'}`);
  } else {
    out['attach/released'] = ok(`${linkIds.length} bpf_link(s) gone, no tsbpf_ probe left in tracefs`);
  }
  return out;
};

/** Attach tasks by name. */
export const attachTasks: Record<string, Task> = { attach: attachTask };
