/**
 * The tsbpf side of every benchmark, run by the orchestrator (main.ts) in a fresh process per round so
 * that "first call" means first call and no JIT or cache state leaks between rounds. Each subcommand
 * prints one JSON line on stdout; the gadget subcommand also prints the readiness marker on stderr.
 *
 *   worker btf first | btf repeat <n>
 *   worker gadget <object> [hold-seconds]
 *   worker drain <object> ring|perf <size> <burst> <bursts> <warmup> raw|decoded [every|watermark] [min-warmup-ms]
 *   worker maps bpfmap|bytes|sys hash|array <n> <rounds> <warmup>
 *   worker e2e <object> ring|perf <ms> raw|decoded <hammer> <hammer cpu>
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';

/** A field of /proc/self/status in kB (VmHWM, VmRSS). */
function statusKb(field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) : -1;
}

type Loader = typeof import('@tsbpf/loader');

/** The loader build under test: the orchestrator's snapshot when given, else the workspace package. */
function loadLoader(): Promise<Loader> {
  const snapshot = process.env.TSBPF_BENCH_LOADER;
  return snapshot ? (import(pathToFileURL(snapshot).href) as Promise<Loader>) : import('@tsbpf/loader');
}

function out(obj: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(obj, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) + '\n');
}

async function btf(args: string[]): Promise<void> {
  const t0 = performance.now();
  const L = await loadLoader();
  const t1 = performance.now();
  if (args[0] === 'repeat') {
    const n = Number(args[1] ?? 10);
    const samples: number[] = [];
    let id: number | undefined;
    for (let i = 0; i < n; i++) {
      const s = performance.now();
      // What loadKernelBtf does without its cache: read the file, frame the records, then look up
      // (not answered from lookups remembered by earlier processes: that is not a search).
      L.clearKernelBtfCache();
      const b = L.loadKernelBtf({ remember: false });
      id = b.find('task_struct', 'struct');
      samples.push(performance.now() - s);
    }
    out({ samplesMs: samples, typeId: id, vmhwmKb: statusKb('VmHWM') });
    return;
  }
  // First call through the loader's own path (loadKernelBtf: mmap on 6.16+, else read + parse), then
  // find: a search, unless `remembered` asks for the answer kept by an earlier process of this boot.
  const remember = args[1] === 'remembered';
  const a = performance.now();
  const k = L.loadKernelBtf({ remember });
  const b = performance.now();
  const id = k.find('task_struct', 'struct');
  const c = performance.now();
  out({ importMs: t1 - t0, firstMs: c - a, loadMs: b - a, findMs: c - b, typeId: id, sinceStartMs: c, vmhwmKb: statusKb('VmHWM'), memoHits: L.kernelBtfMemoStats()?.hits ?? 0 });
}

async function gadget(args: string[]): Promise<void> {
  const object = args[0];
  const hold = Number(args[1] ?? 0);
  const t0 = performance.now();
  const L = await loadLoader();
  const t1 = performance.now();
  const spec = L.CollectionSpec.fromFile(object);
  // `seen` at one entry, as the CLI creates it without `unique` (packages/gadget-cap/src/trace.ts)
  // and the C peer sets it; GadgetRun itself shrinks the stack maps whose switch is off.
  const seen = spec.maps.get('seen');
  if (seen) seen.maxEntries = 1;
  const t2 = performance.now();
  let firstAttach: number | undefined;
  const run = L.GadgetRun.start(spec, {
    attach: () => {
      firstAttach ??= performance.now();
      return true;
    },
  });
  const t3 = performance.now();
  process.stderr.write('READY\n');
  let events = 0;
  if (hold > 0) {
    // Consume like the gadget does: every record decoded to an object by BTF.
    const decoder = run.decoder();
    let sink = 0;
    const done = run.reader.start((view) => {
      const e = decoder.decode(view);
      sink += Object.keys(e).length;
      events++;
    });
    await new Promise((r) => setTimeout(r, hold * 1000));
    run.close();
    await done;
    if (sink < 0) console.error(sink);
  }
  const timings = run.collection.timings;
  const attachStart = firstAttach ?? t3;
  out({
    importMs: t1 - t0,
    specMs: t2 - t1,
    startMs: t3 - t2,
    loadAttachMs: t3 - t1,
    timings,
    // kernelBtf is nested inside the lap that first needed it (relocate or maps): not added again.
    loadPhasesMs: timings.objectBtf + timings.maps + timings.relocate + timings.programs,
    attachMs: t3 - attachStart,
    programs: run.links.length,
    readyAtMs: t3,
    events,
    vmhwmKb: statusKb('VmHWM'),
  });
  run.close();
}

async function drain(args: string[]): Promise<void> {
  const [object, kind, sizeS, burstS, burstsS, warmupS, mode, wakeup, minWarmupMsS] = args;
  const size = Number(sizeS);
  const burst = Number(burstS);
  const bursts = Number(burstsS);
  const warmup = Number(warmupS);
  const minWarmupNs = BigInt(Math.round(Number(minWarmupMsS ?? 0) * 1e6));
  const L = await loadLoader();
  // On CPU 0, as the C peer: the CPUs of a VM can differ by half in speed.
  L.setCpuAffinity([0]);
  const spec = L.CollectionSpec.fromFile(object);
  const name = `${kind}${size}`;
  for (const [n, p] of spec.programs) p.autoload = n === name;
  using c = L.Collection.load(spec);
  const prog = c.program(name);
  const reader =
    kind === 'perf'
      ? // Perf wakeups: one per record (wakeup_events = 1, the default, as perf_buffer__new sets it) or
        // a 4 MiB watermark (no wakeup per record; nothing waits here), as the peer's `watermark`.
        new L.PerfReader({ fd: c.map('events').fd }, wakeup === 'watermark' ? { pageCount: 2048, watermarkBytes: 4 << 20 } : { pageCount: 2048 })
      : new L.RingBufReader({ fd: c.map('rb').fd, maxEntries: c.map('rb').maxEntries });
  const btf = spec.btf;
  if (!btf) throw new Error('producer object has no BTF');
  const typeId = btf.find(`event${size}`, 'struct');
  if (typeId === undefined) throw new Error(`no struct event${size}`);
  const decode = L.compileDecoder(btf, typeId);
  let sink = 0;
  let count = 0;
  // Both modes use the allocation-free path (one view shared by every record, the record at an
  // offset): the callback still sees every record, reads a field of it (raw) or decodes it whole.
  // The sink stays a small integer: a sum that outgrows one deoptimizes the drain loop mid-run.
  const raw = (v: DataView, off: number): void => {
    sink = (sink + v.getUint32(off + 8, true)) | 0;
    count++;
  };
  const decoded = (v: DataView, off: number): void => {
    const e = decode(v, off) as { hdr: { pid: number } };
    sink = (sink + e.hdr.pid) | 0;
    count++;
  };
  const cb = mode === 'decoded' ? decoded : raw;
  const ctx = new Uint8Array(kind === 'perf' ? 16 : 8);
  new DataView(ctx.buffer).setUint32(0, burst, true);
  let cpuNs = 0;
  let wallNs = 0;
  let events = 0;
  // Warm-up: `warmup` bursts, and on until `minWarmupNs` have passed (see drain.ts).
  const warmStart = process.hrtime.bigint();
  let timed = 0;
  for (let i = 0; timed < bursts; i++) {
    const warming = i < warmup || process.hrtime.bigint() - warmStart < minWarmupNs;
    const r = prog.testRun({ ctxIn: ctx });
    if (r.retval !== burst) throw new Error(`producer returned ${r.retval}, wanted ${burst}`);
    count = 0;
    const c0 = process.cpuUsage();
    const w0 = process.hrtime.bigint();
    reader.readAvailableRaw(cb);
    const w1 = process.hrtime.bigint();
    const c1 = process.cpuUsage(c0);
    if (!warming) {
      timed++;
      cpuNs += (c1.user + c1.system) * 1000;
      wallNs += Number(w1 - w0);
      events += count;
    }
  }
  reader.close();
  out({ events, cpuNs, wallNs, sink: sink & 1 });
}

/** getpid's syscall number (the maps benchmark's FFI floor). */
const SYS_GETPID = process.arch === 'arm64' ? 172 : 39;

async function maps(args: string[]): Promise<void> {
  const [flavour, type, nS, roundsS, warmupS] = args;
  const n = Number(nS);
  const rounds = Number(roundsS);
  // Untimed passes first: V8 compiles the loops and the loader's calls to optimized code within them.
  const warmup = Number(warmupS ?? 0);
  const L = await loadLoader();
  // On CPU 0, as the C peer (see drain).
  L.setCpuAffinity([0]);
  const hash = type === 'hash';
  const VALUE = 64;
  const fd = L.mapCreate({ mapType: hash ? L.BPF_MAP_TYPE.HASH : L.BPF_MAP_TYPE.ARRAY, keySize: 4, valueSize: VALUE, maxEntries: n, mapName: 'bench' });
  const map = new L.BpfMap<number, Uint8Array>(fd, { name: 'bench', type: hash ? L.BPF_MAP_TYPE.HASH : L.BPF_MAP_TYPE.ARRAY, keySize: 4, valueSize: VALUE, maxEntries: n, flags: 0 });
  const value = new Uint8Array(VALUE).fill(7);
  const out64 = new Uint8Array(VALUE);
  const key = new Uint8Array(4);
  const kv = new DataView(key.buffer);
  const keys = new Uint8Array(4 * n);
  const kdv = new DataView(keys.buffer);
  for (let i = 0; i < n; i++) kdv.setUint32(i * 4, i, true);
  const values = new Uint8Array(VALUE * n);
  const token = new Uint8Array(8);
  // Imported here, not at the top: every other benchmark times the loader's own first use of koffi.
  const { default: koffi } = await import('koffi');
  const syscall4 = koffi.load('libc.so.6').func('syscall', 'long', ['long', 'long', 'uintptr_t', 'unsigned long']) as (nr: number, a: number, b: number, c: number) => number;
  const valueAddress = Number(koffi.address(value));
  const ops: Record<string, number[]> = {};
  const add = (op: string, ms: number): void => {
    (ops[op] ??= []).push((ms * 1e6) / n);
  };
  let sink = 0;
  for (let pass = 0; pass < warmup + rounds; pass++) {
    const timed = pass >= warmup;
    let t = performance.now();
    const lap = (op: string): void => {
      const now = performance.now();
      if (timed) add(op, now - t);
      t = now;
    };
    if (flavour === 'bpfmap') {
      for (let i = 0; i < n; i++) {
        value[0] = i & 0xff;
        map.update(i, value);
      }
      lap('update');
      for (let i = 0; i < n; i++) {
        const v = map.lookup(i) as Uint8Array | undefined;
        if (!v) throw new Error('lookup miss');
        sink += v[0];
      }
      lap('lookup');
      if (hash) {
        for (let i = 0; i < n; i++) if (!map.delete(i)) throw new Error('delete miss');
        lap('delete');
      }
      // The caller's entries are built untimed, as the peer's key and value arrays are.
      const entries: [number, Uint8Array][] = [];
      for (let i = 0; i < n; i++) entries.push([i, value]);
      t = performance.now();
      if (map.updateBatch(entries) !== n) throw new Error('short update batch');
      lap('update_batch');
      // Into buffers made once, as the peer's arrays are (and as a program polling a map would).
      const got = map.lookupBatchBytes(n, { keys, values });
      if (got.count !== n) throw new Error(`short lookup batch ${got.count}`);
      lap('lookup_batch');
      if (hash) {
        // BpfMap has no deleteBatch: clear with the raw call so the next round starts empty (not timed as BpfMap).
        L.mapDeleteBatch(map.fd, { keys, count: n });
        t = performance.now();
      }
    } else if (flavour === 'bytes') {
      for (let i = 0; i < n; i++) {
        kv.setUint32(0, i, true);
        value[0] = i & 0xff;
        map.updateBytes(key, value);
      }
      lap('update');
      for (let i = 0; i < n; i++) {
        kv.setUint32(0, i, true);
        if (!map.lookupBytes(key, out64)) throw new Error('lookup miss');
        sink += out64[0];
      }
      lap('lookup');
      if (hash) {
        for (let i = 0; i < n; i++) {
          kv.setUint32(0, i, true);
          if (!map.deleteBytes(key)) throw new Error('delete miss');
        }
        lap('delete');
      }
      L.mapUpdateBatch(map.fd, { keys, values, count: n });
      if (hash) L.mapDeleteBatch(map.fd, { keys, count: n });
      t = performance.now();
    } else {
      for (let i = 0; i < n; i++) {
        kv.setUint32(0, i, true);
        value[0] = i & 0xff;
        L.mapUpdateElem(fd, key, value);
      }
      lap('update');
      for (let i = 0; i < n; i++) {
        kv.setUint32(0, i, true);
        if (!L.mapLookupElem(fd, key, out64)) throw new Error('lookup miss');
        sink += out64[0];
      }
      lap('lookup');
      if (hash) {
        for (let i = 0; i < n; i++) {
          kv.setUint32(0, i, true);
          if (!L.mapDeleteElem(fd, key)) throw new Error('delete miss');
        }
        lap('delete');
      }
      if (L.mapUpdateBatch(fd, { keys, values, count: n }) !== n) throw new Error('short update batch');
      lap('update_batch');
      const res = L.mapLookupBatch(fd, { inBatch: null, outBatch: token, keys, values, count: n });
      if (res.count !== n) throw new Error(`short lookup batch ${res.count}`);
      lap('lookup_batch');
      if (hash) {
        if (L.mapDeleteBatch(fd, { keys, count: n }) !== n) throw new Error('short delete batch');
        lap('delete_batch');
      }
      // The FFI floor: the cheapest syscall through koffi, against the peer's getpid() in C.
      for (let i = 0; i < n; i++) sink = (sink + L.getpid()) & 0xffff;
      lap('getpid');
      // The same syscall with a bpf(2) element call's four integer arguments, bound the way the
      // loader binds syscall(2) for those calls (koffi directly: the floor of that crossing).
      for (let i = 0; i < n; i++) sink = (sink + syscall4(SYS_GETPID, i, valueAddress, 32)) & 0xffff;
      lap('syscall4');
    }
  }
  const nsPerOp: Record<string, number> = {};
  for (const [op, v] of Object.entries(ops)) nsPerOp[op] = [...v].sort((a, b) => a - b)[v.length >> 1];
  map.close();
  out({ nsPerOp, sink: sink & 1 });
}

/**
 * End-to-end: ring_e2e/perf_e2e write one event per getppid() of the hammer process, which runs on
 * its own CPU for `ms`; this process consumes live through `startRaw` (waiting in epoll off the JS
 * thread between bursts, as the gadget does) until the hammer exits, then drains what is left. CPU
 * time is the whole process's (every thread) from the start signal to the end of the drain.
 */
async function e2e(args: string[]): Promise<void> {
  const [object, kind, ms, mode, hammer, hammerCpu] = args;
  const L = await loadLoader();
  const spec = L.CollectionSpec.fromFile(object);
  const name = `${kind}_e2e`;
  for (const [n, p] of spec.programs) p.autoload = n === name;
  using c = L.Collection.load(spec);
  using link = L.attachProgram(c.program(name));
  const reader =
    kind === 'perf' ? new L.PerfReader({ fd: c.map('events').fd }, { pageCount: 64 }) : new L.RingBufReader({ fd: c.map('rb_e2e').fd, maxEntries: c.map('rb_e2e').maxEntries });
  const btf = spec.btf;
  const typeId = btf?.find('event128', 'struct');
  if (!btf || typeId === undefined) throw new Error('producer object has no struct event128');
  const decode = L.compileDecoder(btf, typeId);
  let sink = 0;
  let received = 0;
  const cb =
    mode === 'decoded'
      ? (v: DataView, off: number): void => {
          const e = decode(v, off) as { hdr: { pid: number } };
          sink = (sink + e.hdr.pid) | 0;
          received++;
        }
      : (v: DataView, off: number): void => {
          sink = (sink + v.getUint32(off + 8, true)) | 0;
          received++;
        };
  L.setCpuAffinity([0]);
  const child = spawn(hammer, [ms, hammerCpu], { stdio: ['pipe', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  let spawnError: Error | undefined;
  child.on('error', (err) => (spawnError = err));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  const pid = child.pid;
  if (pid === undefined) {
    await exited;
    reader.close();
    throw new Error(`cannot start the load generator ${hammer}: ${spawnError?.message ?? 'no pid'}`);
  }
  const target = new Uint8Array(4);
  new DataView(target.buffer).setUint32(0, pid, true);
  c.map('e2e_target').updateBytes(new Uint8Array(4), target);
  const c0 = process.cpuUsage();
  const w0 = process.hrtime.bigint();
  child.stdin.end('go\n');
  const loop = reader.startRaw(cb);
  const code = await exited;
  reader.readAvailableRaw(cb);
  const w1 = process.hrtime.bigint();
  const c1 = process.cpuUsage(c0);
  reader.close();
  await loop;
  if (code !== 0) throw new Error(`hammer exited with ${code}`);
  const stats = c.map('e2e_stats');
  const stat = (i: number): number => {
    const key = new Uint8Array(4);
    new DataView(key.buffer).setUint32(0, i, true);
    const v = stats.lookupBytes(key);
    return v ? Number(new DataView(v.buffer, v.byteOffset).getBigUint64(0, true)) : 0;
  };
  const lost = reader instanceof L.PerfReader ? reader.lost : 0;
  const h = JSON.parse(output) as { calls: number; ns: number };
  out({ received, written: stat(0), refused: stat(1), lost, calls: h.calls, hammerNs: h.ns, cpuNs: (c1.user + c1.system) * 1000, wallNs: Number(w1 - w0), sink: sink & 1 });
}

const [cmd, ...rest] = process.argv.slice(2);
const table: Record<string, (a: string[]) => Promise<void>> = { btf, gadget, drain, maps, e2e };
const fn = cmd ? table[cmd] : undefined;
if (!fn) {
  console.error(`usage: worker ${Object.keys(table).join('|')} …`);
  process.exit(2);
}
fn(rest).catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exit(1);
});
