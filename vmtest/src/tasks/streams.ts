/**
 * Event streams, N records in and exactly N intact records out:
 * - `streams/ringbuf` and `streams/perf`: vmtest_streams.bpf.o (raw_tp producers that load on
 *   5.10), one record per getppid() of this process, read with RingBufReader / PerfReader.
 * - `streams/ringbuf_bpf_loop`: the loader's own ringbuf.bpf.o `produce` (SEC("syscall") with
 *   bpf_loop, 5.17+): N records from one PROG_TEST_RUN.
 *
 * @packageDocumentation
 */
import { Asserts, bad, describe, missing, ok, skipped, type Task, type TaskOutcome } from './types.js';
import { importLoader, testdata } from './loader.js';

const N = 300;
const STREAM_MAGIC = 0x766d74657374n;
const STREAM_PAYLOAD = 40;

/** Checks N records of vmtest_streams.bpf.o's layout: seq 0..N-1 in order, magic, tgid, payload. */
function verifyStream(records: DataView[], a: Asserts, what: string): void {
  a.eq(`${what} records`, records.length, N);
  let bad = 0;
  let first = '';
  records.forEach((v, i) => {
    const seq = v.getBigUint64(0, true);
    const problems: string[] = [];
    if (v.byteLength < 24 + STREAM_PAYLOAD) problems.push(`${v.byteLength} bytes`);
    else {
      if (seq !== BigInt(i)) problems.push(`seq ${seq}`);
      if (v.getBigUint64(8, true) !== STREAM_MAGIC) problems.push('magic');
      if (v.getUint32(16, true) !== process.pid) problems.push(`tgid ${v.getUint32(16, true)}`);
      for (let j = 0; j < STREAM_PAYLOAD; j++) {
        if (v.getUint8(24 + j) !== Number((seq * 7n + BigInt(j)) & 0xffn)) {
          problems.push(`payload[${j}]`);
          break;
        }
      }
    }
    if (problems.length > 0) {
      bad++;
      if (first === '') first = `record ${i}: ${problems.join(', ')}`;
    }
  });
  a.that(`${what}: every record intact and in order`, bad === 0, `${bad} damaged, first ${first}`);
}

/** Copies a view (views are only valid inside the callback). */
const copy = (v: DataView): DataView => new DataView(new Uint8Array(v.buffer, v.byteOffset, v.byteLength).slice().buffer);

const streamsTask: Task = async (ctx) => {
  const L = await importLoader();
  const out: Record<string, TaskOutcome> = {};
  const spec = L.CollectionSpec.fromFile(testdata(ctx.repoRoot, 'vmtest_streams.bpf.o'));
  spec.variable('target_tgid').set(process.pid);
  const haveRb = L.hasRingbuf();
  if (!haveRb) {
    spec.program('to_ringbuf').autoload = false;
    spec.maps.delete('rb');
  }
  try {
    using coll = L.Collection.load(spec);
    const run = (check: string, prog: string, map: string, seqVar: string, failedVar: string): void => {
      const a = new Asserts();
      try {
        using reader = L.openEventReader(coll.map(map));
        const link = L.attachProgram(coll.program(prog));
        try {
          for (let i = 0; i < N; i++) void process.ppid;
        } finally {
          link.close();
        }
        const records: DataView[] = [];
        reader.readAvailable((v) => void records.push(copy(v)));
        a.eq(`${prog} sent`, coll.readVariable(seqVar), BigInt(N));
        a.eq(`${prog} refused by the kernel`, coll.readVariable(failedVar), 0n);
        a.eq(`${reader.kind} lost`, reader.lost, 0);
        verifyStream(records, a, reader.kind);
        out[check] = a.outcome(`${N} records in, ${records.length} intact out through ${reader.kind}`);
      } catch (e) {
        out[check] = bad(describe(e, true));
      }
    };
    if (haveRb) run('streams/ringbuf', 'to_ringbuf', 'rb', 'rb_seq', 'rb_failed');
    else out['streams/ringbuf'] = missing(ctx, 'ringbuf', 'no BPF ring buffer (5.8+)');
    run('streams/perf', 'to_perf', 'events', 'perf_seq', 'perf_failed');
  } catch (e) {
    out['streams/ringbuf'] ??= bad(`vmtest_streams.bpf.o: ${describe(e, true)}`);
    out['streams/perf'] ??= bad(`vmtest_streams.bpf.o: ${describe(e, true)}`);
  }

  // ringbuf.bpf.o's own producer, where its program type and helper exist.
  const sys = L.checkProgType(L.BPF_PROG_TYPE.SYSCALL);
  if (!sys.supported || !L.hasBpfLoop() || !haveRb) {
    out['streams/ringbuf_bpf_loop'] = skipped(`ringbuf.bpf.o needs SEC("syscall") (5.14), bpf_loop (5.17) and a ring buffer: ${!sys.supported ? `no syscall programs (${sys.detail ?? ''})` : !L.hasBpfLoop() ? 'no bpf_loop' : 'no ring buffer'}`);
    return out;
  }
  try {
    const rspec = L.CollectionSpec.fromFile(testdata(ctx.repoRoot, 'ringbuf.bpf.o'));
    rspec.variable('records').set(N);
    for (const p of rspec.programs.values()) if (p.name !== 'produce') p.autoload = false;
    using coll = L.Collection.load(rspec);
    using reader = L.openEventReader(coll.map('rb'));
    const a = new Asserts();
    a.eq('produce retval (records written)', coll.program('produce').testRun().retval, N);
    const seqs: bigint[] = [];
    let damaged = 0;
    reader.readAvailable((v) => {
      const seq = v.getBigUint64(0, true);
      seqs.push(seq);
      const intact = v.getBigUint64(8, true) === 0x7473627066n && Array.from({ length: 44 }, (_, i) => v.getUint8(20 + i) === Number((seq + BigInt(i)) & 0xffn)).every(Boolean);
      if (!intact) damaged++;
    });
    a.eq('failed reservations', coll.readVariable('failed'), 0n);
    a.eq('records', seqs.length, N);
    a.that('seq 0..N-1 in order', seqs.every((s, i) => s === BigInt(i)));
    a.eq('damaged records', damaged, 0);
    out['streams/ringbuf_bpf_loop'] = a.outcome(`ringbuf.bpf.o produce: ${N} records in one run, ${seqs.length} intact out`);
  } catch (e) {
    out['streams/ringbuf_bpf_loop'] = bad(describe(e, true));
  }
  return out;
};

/**
 * The asynchronous consumers, as gadgets use them: `reader.start(cb)` waits off the JS thread
 * (epoll) while N records arrive; all N must be delivered without a synchronous drain, `close()` must
 * return and wake the waiter, and `start()`'s promise must settle. A `close()` that never returns
 * blocks this worker thread: the pool's time limit then fails the check.
 */
const asyncTask: Task = async (ctx) => {
  const L = await importLoader();
  const out: Record<string, TaskOutcome> = {};
  const spec = L.CollectionSpec.fromFile(testdata(ctx.repoRoot, 'vmtest_streams.bpf.o'));
  spec.variable('target_tgid').set(process.pid);
  using coll = L.Collection.load(spec);
  const run = async (check: string, prog: string, map: string): Promise<void> => {
    const t0 = Date.now();
    const steps: string[] = [];
    const step = (s: string): void => void steps.push(`${s} +${Date.now() - t0}ms`);
    try {
      const reader = L.openEventReader(coll.map(map));
      const records: DataView[] = [];
      const consuming = reader.start((v) => void records.push(copy(v)));
      const link = L.attachProgram(coll.program(prog));
      try {
        for (let i = 0; i < N; i++) void process.ppid;
      } finally {
        link.close();
      }
      step('produced');
      const end = Date.now() + 10_000;
      while (records.length < N && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
      step(`${records.length} delivered`);
      reader.close();
      step('close() returned');
      const settled = await Promise.race([consuming.then(() => 'resolved', (e: unknown) => `rejected: ${describe(e)}`), new Promise<string>((r) => setTimeout(() => r('still pending after 5 s'), 5000))]);
      step(`start() ${settled}`);
      const a = new Asserts();
      a.eq(`${reader.kind} records delivered by start()`, records.length, N);
      a.that('start() settles after close()', settled === 'resolved', settled);
      verifyStream(records, a, reader.kind);
      out[check] = a.failures.length > 0 ? bad(`${a.failures.join('; ')} [${steps.join(', ')}]`) : ok(`${N} records through start(), close() woke the waiter [${steps.join(', ')}]`);
    } catch (e) {
      out[check] = bad(`${describe(e, true)} [${steps.join(', ')}]`);
    }
  };
  await run('streams/ringbuf_async', 'to_ringbuf', 'rb');
  await run('streams/perf_async', 'to_perf', 'events');
  return out;
};

/** Stream tasks by name. */
export const streamTasks: Record<string, Task> = { streams: streamsTask, 'streams/async': asyncTask };
