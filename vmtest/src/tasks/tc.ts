/**
 * Traffic-control attach with real packets (`vmtest_tc.bpf.o`, one load). The program counts IPv4
 * UDP datagrams to one port; each check attaches it to `lo` ingress, sends N datagrams to a socket
 * of its own on that port, waits until all N arrived (so each has passed the ingress hook), detaches,
 * sends N more, and wants exactly N counted and none after:
 *
 * - `attach/tc_auto`: `attachTc` with no mode must pick what the tcx probe says — a tcx link where the
 *   kernel has tcx (6.6+), the clsact qdisc + cls_bpf filter over netlink otherwise.
 * - `attach/tc_netlink`: the netlink path forced; after close, neither our filter nor the clsact
 *   qdisc we created may be left on `lo` (read back through the loader's own netlink dump).
 *
 * Where the kernel has no clsact or cls_bpf (modules missing), the checks are skipped with the
 * loader's NotSupportedError; kernels.json may expect `tc_netlink` to fail them instead.
 *
 * @packageDocumentation
 */
import { createSocket } from 'node:dgram';
import { bad, big, describe, missing, ok, type Task, type TaskContext, type TaskOutcome } from './types.js';
import { importLoader, testdata, type Loader } from './loader.js';

/** Datagrams per window: not 1, so a hook that fires once per attach cannot pass. */
const N = 5;
/** The UDP port the program counts and the check listens on. */
const PORT = 9999;
/** How long a window may take for N datagrams over loopback before the check fails. */
const WINDOW_LIMIT_MS = 10_000;

/** Check names this task answers, in order. */
export const TC_CHECKS = ['attach/tc_auto', 'attach/tc_netlink'] as const;

type Coll = InstanceType<Loader['Collection']>;
type Link = ReturnType<Loader['attachTc']>;

/** Send N datagrams to 127.0.0.1:PORT and resolve once a socket bound there has received all N. */
function sendAndReceive(): Promise<void> {
  return new Promise((resolve, reject) => {
    const receiver = createSocket('udp4');
    const sender = createSocket('udp4');
    let received = 0;
    const finish = (err?: Error): void => {
      clearTimeout(timer);
      sender.close();
      receiver.close();
      if (err) reject(err);
      else resolve();
    };
    const timer = setTimeout(() => finish(new Error(`${received} of ${N} datagrams arrived over lo within ${WINDOW_LIMIT_MS} ms`)), WINDOW_LIMIT_MS);
    receiver.on('error', finish);
    sender.on('error', finish);
    receiver.on('message', () => {
      if (++received === N) finish();
    });
    receiver.bind(PORT, '127.0.0.1', () => {
      for (let i = 0; i < N; i++) sender.send(`tsbpf ${i}`, PORT, '127.0.0.1');
    });
  });
}

/** Attach, send N, close, send N: the counts during and after the attached window. */
async function window(coll: Coll, attach: () => Link): Promise<{ kind: string; during: bigint; after: bigint }> {
  const read = (): bigint => big(coll.readVariable('tc_hits'));
  const base = read();
  const link = attach();
  const kind = link.kind;
  try {
    await sendAndReceive();
  } finally {
    link.close();
  }
  const during = read() - base;
  await sendAndReceive();
  return { kind, during, after: read() - base - during };
}

const tcTask: Task = async (ctx: TaskContext) => {
  const L = await importLoader();
  const out: Record<string, TaskOutcome> = {};
  const spec = L.CollectionSpec.fromFile(testdata(ctx.repoRoot, 'vmtest_tc.bpf.o'));
  spec.variable('target_port').set(PORT);
  let coll: Coll;
  try {
    coll = L.Collection.load(spec);
  } catch (e) {
    const why = bad(`vmtest_tc.bpf.o failed to load: ${describe(e, true)}`);
    return Object.fromEntries(TC_CHECKS.map((c) => [c, why]));
  }
  const fd = coll.program('on_tc').fd;
  const check = async (name: string, run: () => Promise<TaskOutcome>): Promise<void> => {
    try {
      out[name] = await run();
    } catch (e) {
      out[name] = e instanceof L.NotSupportedError ? missing(ctx, 'tc_netlink', describe(e)) : bad(describe(e, true));
    }
  };
  try {
    await check('attach/tc_auto', async () => {
      const tcx = L.checkTcx();
      const want = tcx.supported ? 'tcx/ingress' : 'tc/ingress';
      const { kind, during, after } = await window(coll, () => L.attachTc(fd, 'lo', 'ingress'));
      if (kind !== want) return bad(`attachTc picked ${kind}, but the tcx probe says ${tcx.supported ? 'tcx' : `no tcx (${tcx.detail ?? ''})`}: want ${want}`);
      if (during !== BigInt(N)) return bad(`${during} of ${N} datagrams counted through ${kind}`);
      if (after !== 0n) return bad(`${after} datagram(s) counted after close`);
      return ok(`${kind} (tcx ${tcx.supported ? 'present' : 'absent'}): ${N}/${N} datagrams counted, none after close`);
    });
    await check('attach/tc_netlink', async () => {
      const hadClsact = L.listTcQdiscs('lo').some((q) => q.kind === 'clsact');
      const { kind, during, after } = await window(coll, () => L.attachTc(fd, 'lo', 'ingress', { mode: 'netlink' }));
      if (during !== BigInt(N)) return bad(`${during} of ${N} datagrams counted through ${kind}`);
      if (after !== 0n) return bad(`${after} datagram(s) counted after close`);
      const filters = L.listTcFilters('lo', 'ingress');
      const clsact = L.listTcQdiscs('lo').some((q) => q.kind === 'clsact');
      if (filters.length > 0) return bad(`${filters.length} filter(s) left on lo ingress after close`);
      if (clsact && !hadClsact) return bad('the clsact qdisc created for the filter was left on lo');
      return ok(`clsact + cls_bpf: ${N}/${N} datagrams counted, none after close, filter${hadClsact ? '' : ' and qdisc'} removed`);
    });
  } finally {
    coll.close();
  }
  return out;
};

/** tc tasks by name. */
export const tcTasks: Record<string, Task> = { tc: tcTask };
