/**
 * kprobe_multi links with real hits (`vmtest_kprobe_multi.bpf.o`, one load), where the loader's
 * feature probe (`checkKprobeMulti`: a real link on `vprintk`) says the kernel has them — 5.18+
 * built with CONFIG_FPROBE, which Debian's 6.1 is not. The programs count only this worker thread;
 * each check attaches, makes a known number of system calls, detaches, makes as many again, and
 * wants exact counts while attached and none after:
 *
 * - `attach/kprobe_multi`: `attachProgram` on the section's glob `__x64_sys_?etpriority` (one link,
 *   both functions): N getpriority() + 2N setpriority() must count 3N, all with cookie 0.
 * - `attach/kprobe_multi_cookies`: `attachKprobeMulti` with the two symbols and cookies 1 and 2:
 *   cookie 1 must count N and cookie 2 2N — the kernel tells which function each hit came from.
 * - `attach/kretprobe_multi`: `attachProgram` on `kretprobe.multi/__x64_sys_getpriority`: N returns
 *   whose values sum to N × (20 − nice), the kernel's encoding of the nice value this process has.
 * - `attach/kprobe_multi_released`: none of those link ids is left after close.
 *
 * Where the probe says no, each check is skipped with the probe's reason (failed when kernels.json
 * expects `kprobe_multi`); if the object loads there, attaching must throw a NotSupportedError.
 *
 * @packageDocumentation
 */
import { getPriority, setPriority } from 'node:os';
import { bad, big, describe, missing, ok, type Task, type TaskContext, type TaskOutcome } from './types.js';
import { importLoader, listIds, testdata, threadId, type Loader } from './loader.js';

/** Calls per function: small, and not 1 so a probe that fires once per attach cannot pass. */
const N = 5;

/**
 * The functions the cookie check names; both match the section glob `__x64_sys_?etpriority`.
 * Syscalls with arguments: the SYSCALL_DEFINE0 ones (`__x64_sys_getppid`) are aliases that ftrace
 * lists as `__do_sys_*` on newer kernels, so a glob on `__x64_sys_*` would not find them.
 */
const SYMBOLS = ['__x64_sys_getpriority', '__x64_sys_setpriority'] as const;
const GLOB = '__x64_sys_?etpriority';

/** Check names this task answers, in order. */
export const KPROBE_MULTI_CHECKS = ['attach/kprobe_multi', 'attach/kprobe_multi_cookies', 'attach/kretprobe_multi', 'attach/kprobe_multi_released'] as const;

/** N getpriority() and 2N setpriority() system calls from this thread, keeping nice value `nice`. */
function getSetPriority(nice: number): void {
  let sum = 0;
  for (let i = 0; i < N; i++) sum += getPriority(0);
  for (let i = 0; i < 2 * N; i++) setPriority(0, nice);
  if (sum !== N * nice) throw new Error(`getpriority read ${sum / N}, not ${nice}`);
}

/** N getpriority() system calls. */
function getPriorityN(): void {
  for (let i = 0; i < N; i++) getPriority(0);
}

type Link = ReturnType<Loader['attachProgram']>;
type Coll = InstanceType<Loader['Collection']>;

/** Counters of the object, as bigints (`cookie_hits` is an array). */
function counters(coll: Coll): { multi: bigint; cookies: bigint[]; ret: bigint; retSum: bigint } {
  const cookies = coll.readVariable('cookie_hits');
  return {
    multi: big(coll.readVariable('multi_hits')),
    cookies: Array.isArray(cookies) ? cookies.map(big) : [],
    ret: big(coll.readVariable('ret_hits')),
    retSum: big(coll.readVariable('ret_sum')),
  };
}

/** Where the probe says no: the object, if it loads, must refuse to attach with a NotSupportedError. */
function unsupported(L: Loader, ctx: TaskContext, path: string, why: string): Record<string, TaskOutcome> {
  let detail = `kprobe_multi: ${why}`;
  let wrong: string | undefined;
  try {
    const coll = L.Collection.load(L.CollectionSpec.fromFile(path));
    try {
      const link = L.attachProgram(coll.program('on_kprobe_multi'));
      link.close();
      wrong = `the feature probe says no kprobe_multi, but attachProgram attached kprobe.multi/${GLOB}`;
    } catch (e) {
      if (e instanceof L.NotSupportedError) detail += `; attachProgram: ${describe(e)}`;
      else wrong = `attachProgram threw ${describe(e)}, not a NotSupportedError`;
    } finally {
      coll.close();
    }
  } catch (e) {
    detail += `; the object does not load here either: ${describe(e)}`;
  }
  const outcome = wrong !== undefined ? bad(wrong) : missing(ctx, 'kprobe_multi', detail);
  return Object.fromEntries(KPROBE_MULTI_CHECKS.map((c) => [c, outcome]));
}

const kprobeMultiTask: Task = async (ctx: TaskContext) => {
  const L = await importLoader();
  const path = testdata(ctx.repoRoot, 'vmtest_kprobe_multi.bpf.o');
  const probe = L.checkKprobeMulti();
  if (!probe.supported) return unsupported(L, ctx, path, probe.detail ?? 'unsupported');
  if (ctx.expect['kprobe_multi'] === false) {
    const why = bad('the kprobe_multi probe passed, but kernels.json expects no kprobe_multi on this kernel (update its expect)');
    return Object.fromEntries(KPROBE_MULTI_CHECKS.map((c) => [c, why]));
  }

  const out: Record<string, TaskOutcome> = {};
  const spec = L.CollectionSpec.fromFile(path);
  spec.variable('target_tid').set(threadId());
  let coll: Coll;
  try {
    coll = L.Collection.load(spec);
  } catch (e) {
    const why = bad(`vmtest_kprobe_multi.bpf.o failed to load although the kprobe_multi probe passed: ${describe(e, true)}`);
    return Object.fromEntries(KPROBE_MULTI_CHECKS.map((c) => [c, why]));
  }
  const linkIds: number[] = [];
  /** Attach, trigger, read the deltas; close, trigger again, read the deltas after. */
  const measure = (make: () => Link, trigger: () => void): { during: ReturnType<typeof counters>; after: ReturnType<typeof counters> } => {
    const base = counters(coll);
    const delta = (): ReturnType<typeof counters> => {
      const now = counters(coll);
      return { multi: now.multi - base.multi, cookies: now.cookies.map((c, i) => c - (base.cookies[i] ?? 0n)), ret: now.ret - base.ret, retSum: now.retSum - base.retSum };
    };
    const link = make();
    try {
      if (link.info !== undefined) linkIds.push(link.info().id);
      trigger();
    } finally {
      link.close();
    }
    const during = delta();
    trigger();
    return { during, after: delta() };
  };
  const check = (name: string, run: () => TaskOutcome): void => {
    try {
      out[name] = run();
    } catch (e) {
      out[name] = bad(describe(e, true));
    }
  };
  const fn = (s: string): string => s.replace('__x64_sys_', '');
  // Read outside the attached windows: the triggers must make exactly the calls they count.
  const nice = getPriority(0);
  const trigger = (): void => getSetPriority(nice);

  try {
    check('attach/kprobe_multi', () => {
      const matched = L.matchTraceableFunctions(GLOB);
      const absent = SYMBOLS.filter((s) => !matched.includes(s));
      if (absent.length > 0) return bad(`${absent.join(', ')} not in available_filter_functions (glob matched: ${matched.join(', ') || 'nothing'})`);
      const { during, after } = measure(() => L.attachProgram(coll.program('on_kprobe_multi')), trigger);
      const want = BigInt(3 * N);
      if (during.multi !== want) return bad(`${during.multi} hit(s) for ${N} getpriority() + ${2 * N} setpriority() through one link on ${matched.length} functions (${matched.map(fn).join(', ')}), want ${want}`);
      if (during.cookies[0] !== want) return bad(`cookie 0 counted ${String(during.cookies[0])} of ${want} hits (no cookies were given)`);
      if (after.multi !== during.multi) return bad(`${after.multi - during.multi} hit(s) after the link was closed`);
      return ok(`${want}/${want} hits through one link on ${matched.length} functions (${matched.map(fn).join(', ')}), none after close`);
    });
    check('attach/kprobe_multi_cookies', () => {
      const { during, after } = measure(() => L.attachKprobeMulti(coll.program('on_kprobe_multi').fd, { symbols: SYMBOLS, cookies: [1n, 2n] }), trigger);
      const [c0, c1, c2] = during.cookies;
      if (c1 !== BigInt(N) || c2 !== BigInt(2 * N) || c0 !== 0n) return bad(`per-cookie hits 0:${String(c0)} 1(getpriority):${String(c1)} 2(setpriority):${String(c2)}, want 0, ${N}, ${2 * N}`);
      if (after.multi !== during.multi) return bad(`${after.multi - during.multi} hit(s) after the link was closed`);
      return ok(`cookie 1 (getpriority) ${c1}, cookie 2 (setpriority) ${c2} of ${N} + ${2 * N} calls, none after close`);
    });
    check('attach/kretprobe_multi', () => {
      const { during, after } = measure(() => L.attachProgram(coll.program('on_kretprobe_multi')), getPriorityN);
      // getpriority(2) returns 20 - nice (1..40, never negative); libc turns it back into nice.
      const raw = 20 - nice;
      if (during.ret !== BigInt(N)) return bad(`${during.ret} return(s) counted for ${N} getpriority() calls`);
      if (during.retSum !== BigInt(N * raw)) return bad(`return values sum to ${during.retSum}, want ${N} × (20 - nice ${nice}) = ${N * raw}`);
      if (after.ret !== during.ret) return bad(`${after.ret - during.ret} return(s) counted after the link was closed`);
      return ok(`${N}/${N} returns of getpriority, values sum to ${N} × ${raw} (nice ${nice}), none after close`);
    });
  } finally {
    coll.close();
  }
  const present = listIds(L.linkGetNextId);
  const stale = linkIds.filter((id) => present.has(id));
  out['attach/kprobe_multi_released'] =
    linkIds.length === 0 ? bad('no kprobe_multi link was created') : stale.length > 0 ? bad(`link ids ${stale.join(',')} still present after close`) : ok(`${linkIds.length} kprobe_multi bpf_link(s) gone`);
  return out;
};

/** kprobe_multi tasks by name. */
export const kprobeMultiTasks: Record<string, Task> = { kprobe_multi: kprobeMultiTask };
