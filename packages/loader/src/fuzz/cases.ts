/**
 * One fuzz case: derive a mutated input from the corpus with a case seed, push it through every
 * consumer of that kind of input, and classify how it ended. A typed error (`instanceof
 * TsbpfError`) or a result is fine; anything else escaping is a bug, reported with its stack.
 */
import { Insns } from '../asm/instruction.js';
import { Btf } from '../btf/btf.js';
import { applyCoreRelocations } from '../btf/core/relocate.js';
import { compileDecoder } from '../btf/codec.js';
import { parseBtfExt } from '../btf/ext.js';
import { formatC, formatJson } from '../btf/format.js';
import { loadKernelBtf } from '../btf/kernel.js';
import { sanitizeBtf } from '../btf/sanitize.js';
import { TsbpfError } from '../errors.js';
import { EventDecoder } from '../gadget/decode.js';
import { describeEventType } from '../gadget/fields.js';
import { ColumnsRenderer, columnsFromDescriptors, renderTable, type ColumnDef } from '../gadget/format/columns.js';
import { formatJsonLine } from '../gadget/format/json.js';
import { readGadgetMetadata } from '../gadget/metadata.js';
import { analyzeProgram } from '../inspect/analyze.js';
import { analyzedProgram } from '../inspect/spec.js';
import { readdirSync, readlinkSync } from 'node:fs';
import { Collection } from '../collection.js';
import { CollectionSpec } from '../spec/collection.js';
import { linkProgram } from '../spec/linker.js';
import { threadCpuTimes } from '../sys/ffi.js';
import type { BtfInfo, Corpus, ObjectInput } from './corpus.js';
import { damageBytes, mutateBtf, mutateBtfExt, mutateElf, mutateInsns, randomInsns, truncate } from './mutate.js';
import { Rng } from './rng.js';

/**
 * What a fuzz case feeds. `load` (not part of `all`: it talks to the kernel) also runs
 * `Collection.load` on damaged objects that still parse, and checks no file descriptor is leaked.
 */
export type FuzzTarget = 'elf' | 'btf' | 'btfext' | 'insns' | 'load' | 'events';
/** The kernel-independent targets, in the order `all` cycles through them. */
export const FUZZ_TARGETS: readonly FuzzTarget[] = ['elf', 'btf', 'btfext', 'insns'];
/** Every target a run can name. */
export const ALL_TARGETS: readonly FuzzTarget[] = [...FUZZ_TARGETS, 'load', 'events'];

/**
 * How one case ended. `untyped`, `hang`, `memory`, `leak` and `unsafe` (rendered output carrying a
 * raw control character, or JSON that does not parse) are failures.
 */
export type Outcome = 'ok' | 'typed' | 'untyped' | 'hang' | 'memory' | 'leak' | 'unsafe';
/** Every outcome, in summary order. */
export const OUTCOMES: readonly Outcome[] = ['ok', 'typed', 'untyped', 'hang', 'memory', 'leak', 'unsafe'];

/** Result of one case. */
export interface CaseResult {
  target: FuzzTarget;
  seed: number;
  outcome: Outcome;
  /** The first typed error's code, or the untyped error's class name. */
  code?: string;
  /** Input name and mutation labels: what was done to which input. */
  input: string;
  message?: string;
  stack?: string;
  ms: number;
  /**
   * CPU time the case's thread spent in the kernel while it ran (creating the maps and verifying
   * the programs a `load` case asks for), when known: tick-sampled (see `threadCpuTimes`) and taken
   * over a slightly wider window than {@link ms}, so it can exceed it by a tick.
   */
  kernelMs?: number;
}

/** Stop a case's pipeline: the error decides the outcome. */
class Stop extends Error {
  constructor(readonly error: unknown) {
    super('stop');
  }
}

/** Collects the first typed error and aborts on anything untyped. */
class Guard {
  firstTyped: TsbpfError | undefined;

  /** Run `fn`; typed errors are remembered and swallowed (the pipeline goes on), others abort. */
  run<T>(fn: () => T): T | undefined {
    try {
      return fn();
    } catch (e) {
      if (e instanceof TsbpfError) {
        this.firstTyped ??= e;
        return undefined;
      }
      throw new Stop(e);
    }
  }
}

let kernelTargets: Btf[] | undefined;

/** The CO-RE targets: the running kernel's BTF when readable, else nothing (relocations poison). */
export function coreTargets(): Btf[] {
  if (kernelTargets === undefined) {
    try {
      // Not remembered: fuzzed objects ask for random names, which would crowd the memo file.
      kernelTargets = [loadKernelBtf({ remember: false })];
    } catch {
      kernelTargets = [];
    }
  }
  return kernelTargets;
}

/** Most programs any case links (bounds work on objects with many programs). */
const MAX_PROGRAMS = 24;

/** Everything downstream of an object's bytes: spec, gadget metadata, linking, analysis, CO-RE, decoders. */
export function objectPipeline(g: Guard, bytes: Uint8Array, source: string, targets: readonly Btf[]): void {
  const spec = g.run(() => CollectionSpec.fromBuffer(bytes, source));
  if (!spec) return;
  const meta = g.run(() => readGadgetMetadata(spec));
  if (meta && spec.btf) {
    const btf = spec.btf;
    for (const t of meta.tracers) {
      g.run(() => describeEventType(btf, t.structTypeId));
      const decode = g.run(() => compileDecoder(btf, t.structTypeId, { stripSetPrefix: true }));
      const size = g.run(() => btf.sizeof(t.structTypeId));
      if (decode && size !== undefined && size >= 0 && size <= 1 << 16) g.run(() => decode(new DataView(new ArrayBuffer(size)), 0));
    }
  }
  let count = 0;
  for (const program of spec.programs.values()) {
    if (++count > MAX_PROGRAMS) break;
    const linked = g.run(() => linkProgram(spec, program));
    g.run(() => analyzeProgram(analyzedProgram(spec, program), { detailed: true }));
    if (linked && spec.btf && linked.coreRelos.length > 0) {
      const local = spec.btf;
      g.run(() => applyCoreRelocations(linked.insns, linked.coreRelos, local, targets, { programName: program.name }));
    }
  }
}

/** Every read-only accessor of a parsed BTF, on a bounded sample of ids. */
function exerciseBtf(g: Guard, btf: Btf, rng: Rng, full: boolean): void {
  const n = btf.typeCount;
  const ids: number[] = [];
  if (n <= 3000) for (let id = 0; id < n; id++) ids.push(id);
  else for (let k = 0; k < 600; k++) ids.push(rng.below(n));
  let decoders = 0;
  for (const id of ids) {
    const t = g.run(() => btf.type(id));
    g.run(() => btf.kind(id));
    g.run(() => btf.name(id));
    g.run(() => btf.sizeof(id));
    g.run(() => btf.alignof(id));
    g.run(() => btf.underlying(id));
    g.run(() => btf.skipQualifiers(id));
    if (t && (t.kind === 'struct' || t.kind === 'union') && decoders < 12) {
      decoders++;
      g.run(() => describeEventType(btf, id));
      const decode = g.run(() => compileDecoder(btf, id));
      const size = g.run(() => btf.sizeof(id));
      if (decode && size !== undefined && size >= 0 && size <= 1 << 16) g.run(() => decode(new DataView(new ArrayBuffer(size)), 0));
    }
  }
  if (full) {
    g.run(() => formatC(btf));
    g.run(() => formatJson(btf));
    g.run(() => sanitizeBtf(btf, { datasec: false, float: false, declTag: false, typeTag: false, enum64: false, func: false }));
    const again = g.run(() => btf.encode());
    if (again) g.run(() => Btf.parse(again, { source: 'fuzz:re-encoded' }));
  }
}

function pickObject(corpus: Corpus, rng: Rng, pred: (o: ObjectInput) => boolean = () => true): ObjectInput {
  const fit = corpus.objects.filter(pred);
  return rng.pick(fit.length > 0 ? fit : corpus.objects);
}

function boundaries(obj: ObjectInput): number[] {
  const out: number[] = [];
  for (const s of obj.sections) out.push(s.start, s.start + s.size, s.headerOffset);
  return out;
}

/** Apply 1–3 mutations chosen by `one`, sometimes followed by a truncation. */
function mutateSome(bytes: Uint8Array, rng: Rng, one: (b: Uint8Array) => string, cut?: readonly number[]): { bytes: Uint8Array; labels: string[] } {
  const labels: string[] = [];
  const n = rng.chance(0.6) ? 1 : rng.between(2, 3);
  for (let i = 0; i < n; i++) labels.push(one(bytes));
  if (cut && rng.chance(0.12)) {
    const out = truncate(bytes, rng, cut);
    labels.push(`truncate:${out.length}`);
    return { bytes: out, labels };
  }
  return { bytes, labels };
}

function btfBlob(obj: ObjectInput): { bytes: Uint8Array; info: BtfInfo } | undefined {
  const sec = obj.btfSection;
  if (!sec || !obj.btf) return undefined;
  const bytes = obj.bytes.slice(sec.start, sec.start + sec.size);
  const shift = (o: number): number => o - sec.start;
  const info = obj.btf;
  return { bytes, info: { ...info, base: 0, typeStart: shift(info.typeStart), strStart: shift(info.strStart), records: info.records.map(shift) } };
}

/** Largest map (max_entries × (key + value)) a `load` case asks the kernel for. */
const LOAD_MAP_LIMIT = 64 * 1024 * 1024;

/** Open descriptors as `fd → target` (the directory descriptor of the listing itself drops out: it is gone by readlink). */
function openFds(): Map<string, string> {
  const out = new Map<string, string>();
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      out.set(fd, readlinkSync(`/proc/self/fd/${fd}`));
    } catch {
      // closed meanwhile
    }
  }
  return out;
}

/**
 * The `load` target: a damaged object that still parses goes through `Collection.load` (maps,
 * BTF, CO-RE, the verifier) and is closed; every descriptor opened on the way must be closed.
 * Returns a leak description, or undefined.
 */
function loadCase(g: Guard, bytes: Uint8Array, source: string): string | undefined {
  const spec = g.run(() => CollectionSpec.fromBuffer(bytes, source));
  if (!spec) return undefined;
  for (const m of spec.maps.values()) {
    // Pins are global names: a fuzz case must not create or reuse them.
    m.pinning = 0;
    const bytesNeeded = m.maxEntries * (m.keySize + m.valueSize);
    if (!(bytesNeeded <= LOAD_MAP_LIMIT)) return undefined;
  }
  const before = openFds();
  const coll = g.run(() => Collection.load(spec, { onWarning: () => undefined, maxLogSize: 1 << 20 }));
  coll?.close();
  const leaked = [...openFds()].filter(([fd, target]) => before.get(fd) !== target);
  if (leaked.length === 0) return undefined;
  const what = leaked.map(([fd, target]) => `${fd} → ${target}`);
  const after = coll ? 'load and close' : `a failed load (${g.firstTyped?.code ?? '?'}: ${g.firstTyped?.message.split('\n')[0] ?? ''})`;
  return `${leaked.length} descriptor(s) left open (${what.join(', ')}) after ${after}`;
}

/** A gadget's tracer, ready to decode and render records. */
interface EventSetup {
  name: string;
  decoder: EventDecoder;
  columns: ColumnDef[];
  size: number;
}

let eventSetups: EventSetup[] | undefined;

/** Decoders of every committed gadget object's tracer (built once). */
function gadgetDecoders(corpus: Corpus): EventSetup[] {
  if (eventSetups) return eventSetups;
  eventSetups = [];
  for (const obj of corpus.objects) {
    try {
      const spec = CollectionSpec.fromBuffer(obj.bytes, obj.name);
      const btf = spec.btf;
      if (!btf) continue;
      for (const t of readGadgetMetadata(spec).tracers) {
        const decoder = new EventDecoder(btf, t.structTypeId, { symbolize: false });
        eventSetups.push({ name: `${obj.name}:${t.name}`, decoder, columns: columnsFromDescriptors(decoder.fields), size: btf.sizeof(t.structTypeId) });
      }
    } catch (e) {
      if (!(e instanceof TsbpfError)) throw e;
    }
  }
  return eventSetups;
}

/** Raw terminal controls: C0 (but \n in multi-line tables), DEL, C1, bidi overrides and isolates. */
const RAW_CONTROL = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/;

/**
 * The `events` target: a record a BPF program could have written (random bytes, hostile strings:
 * escapes, no NUL, invalid UTF-8, bidi controls; sometimes shorter or longer than the struct) is
 * decoded and rendered as columns and JSON. Returns what is unsafe about the output, if anything.
 */
function eventCase(g: Guard, rng: Rng, setup: EventSetup): string | undefined {
  const len = rng.chance(0.1) ? rng.below(setup.size) : rng.chance(0.1) ? setup.size + rng.below(64) : setup.size;
  const bytes = new Uint8Array(len);
  for (let i = 0; i < len; i++) bytes[i] = rng.chance(0.3) ? 0 : rng.chance(0.3) ? rng.pick([0x1b, 0x07, 0x9b, 0xff, 0xc3, 0xe2, 0x80, 0xae, 0x5c, 0x0a, 0x22]) : rng.below(256);
  const event = g.run(() => setup.decoder.decode(new DataView(bytes.buffer)));
  if (!event) return undefined;
  const row = g.run(() => new ColumnsRenderer(setup.columns).row(event));
  if (row !== undefined && (RAW_CONTROL.test(row) || row.includes('\n'))) return `columns row carries a raw control character: ${JSON.stringify(row)}`;
  const table = g.run(() => renderTable([event], setup.columns));
  if (table !== undefined && RAW_CONTROL.test(table)) return `table carries a raw control character: ${JSON.stringify(table)}`;
  const line = g.run(() => formatJsonLine(event));
  if (line === undefined) return undefined;
  if (RAW_CONTROL.test(line.slice(0, -1)) || line.slice(0, -1).includes('\n')) return `JSON line carries a raw control character: ${JSON.stringify(line)}`;
  try {
    JSON.parse(line);
  } catch (e) {
    return `JSON line does not parse (${(e as Error).message}): ${JSON.stringify(line)}`;
  }
  return undefined;
}

/** Build and run the case for `target` with `seed`, with its thread's kernel time. Never throws. */
export function runCase(corpus: Corpus, target: FuzzTarget, seed: number): CaseResult {
  const before = threadCpuTimes();
  const r = runCaseBody(corpus, target, seed);
  const after = threadCpuTimes();
  return before && after ? { ...r, kernelMs: (after.systemNs - before.systemNs) / 1e6 } : r;
}

function runCaseBody(corpus: Corpus, target: FuzzTarget, seed: number): CaseResult {
  const rng = new Rng(seed);
  const g = new Guard();
  const t0 = performance.now();
  let input = '';
  const targets = coreTargets();
  try {
    switch (target) {
      case 'elf': {
        const obj = pickObject(corpus, rng);
        const m = mutateSome(new Uint8Array(obj.bytes), rng, (b) => (rng.chance(0.7) ? mutateElf(b, rng, obj) : damageBytes(b, rng)), boundaries(obj));
        input = `${obj.name} ${m.labels.join(' ')}`;
        objectPipeline(g, m.bytes, `fuzz:${obj.name}`, targets);
        break;
      }
      case 'btf': {
        const mode = rng.below(10);
        if (mode < 4) {
          // Mutate .BTF in place inside an object: the whole pipeline, CO-RE with a damaged local BTF.
          const obj = pickObject(corpus, rng, (o) => o.btf !== undefined);
          const info = obj.btf;
          if (!info) throw new Stop(new Error(`${obj.name} has no .BTF`));
          const m = mutateSome(new Uint8Array(obj.bytes), rng, (b) => mutateBtf(b, rng, info));
          input = `${obj.name}:.BTF ${m.labels.join(' ')}`;
          objectPipeline(g, m.bytes, `fuzz:${obj.name}`, targets);
        } else if (mode < 9 || !corpus.kernelBtf) {
          // A raw object BTF blob: parse and use every accessor, formatter and the encoder.
          const obj = pickObject(corpus, rng, (o) => o.btf !== undefined);
          const blob = btfBlob(obj);
          if (!blob) throw new Stop(new Error(`${obj.name} has no .BTF`));
          const m = mutateSome(blob.bytes, rng, (b) => mutateBtf(b, rng, blob.info), [24, blob.info.typeStart, blob.info.strStart, ...blob.info.records]);
          input = `${obj.name}:.BTF(raw) ${m.labels.join(' ')}`;
          const btf = g.run(() => Btf.parse(m.bytes, { source: 'fuzz' }));
          if (btf) exerciseBtf(g, btf, rng, true);
        } else {
          // The kernel's BTF, damaged, as a parse input and as the CO-RE target of core.bpf.o.
          const k = corpus.kernelBtf;
          const m = mutateSome(new Uint8Array(k.bytes), rng, (b) => mutateBtf(b, rng, k.info));
          input = `vmlinux ${m.labels.join(' ')}`;
          const btf = g.run(() => Btf.parse(m.bytes, { source: 'fuzz:vmlinux' }));
          if (btf) {
            exerciseBtf(g, btf, rng, false);
            const obj = corpus.objects.find((o) => o.name.endsWith('core.bpf.o')) ?? pickObject(corpus, rng, (o) => o.btfExt !== undefined);
            objectPipeline(g, new Uint8Array(obj.bytes), obj.name, [btf]);
          }
        }
        break;
      }
      case 'btfext': {
        const obj = pickObject(corpus, rng, (o) => o.btfExt !== undefined && o.btf !== undefined);
        const ext = obj.btfExt;
        if (!ext) throw new Stop(new Error(`${obj.name} has no .BTF.ext`));
        if (rng.chance(0.7)) {
          const m = mutateSome(new Uint8Array(obj.bytes), rng, (b) => mutateBtfExt(b, rng, ext));
          input = `${obj.name}:.BTF.ext ${m.labels.join(' ')}`;
          objectPipeline(g, m.bytes, `fuzz:${obj.name}`, targets);
        } else {
          const blob = obj.bytes.slice(ext.start, ext.start + ext.size);
          const m = mutateSome(blob, rng, (b) => mutateBtfExt(b, rng, { start: 0, size: b.length }), [8, 32]);
          input = `${obj.name}:.BTF.ext(raw) ${m.labels.join(' ')}`;
          const raw = obj.btfSection && obj.bytes.subarray(obj.btfSection.start, obj.btfSection.start + obj.btfSection.size);
          const btf = raw && g.run(() => Btf.parse(raw, { source: obj.name }));
          if (btf) g.run(() => parseBtfExt(m.bytes, btf, 'fuzz:.BTF.ext'));
        }
        break;
      }
      case 'load': {
        const obj = pickObject(corpus, rng, (o) => o.code.length > 0);
        const bytes = new Uint8Array(obj.bytes);
        const how = rng.below(4);
        const label =
          how === 0 ? mutateInsns(bytes, rng, rng.pick(obj.code)) : how === 1 && obj.btfExt ? mutateBtfExt(bytes, rng, obj.btfExt) : how === 2 && obj.btf ? mutateBtf(bytes, rng, obj.btf) : mutateElf(bytes, rng, obj);
        input = `${obj.name} ${label}`;
        const leak = loadCase(g, bytes, `fuzz:${obj.name}`);
        if (leak) return { target, seed, outcome: 'leak', code: 'FD_LEAK', input, message: leak, ms: performance.now() - t0 };
        break;
      }
      case 'events': {
        const setups = gadgetDecoders(corpus);
        if (setups.length === 0) throw new Stop(new Error('no gadget object with a tracer in the corpus'));
        const setup = rng.pick(setups);
        input = `record of ${setup.name}`;
        const unsafe = eventCase(g, rng, setup);
        if (unsafe) return { target, seed, outcome: 'unsafe', code: 'UNSAFE_OUTPUT', input, message: unsafe, ms: performance.now() - t0 };
        break;
      }
      case 'insns': {
        if (rng.chance(0.25)) {
          const n = rng.between(1, 96);
          const insns = new Insns(randomInsns(rng, n));
          const refs = new Map<number, string>();
          for (let i = 0; i < n; i++) if (insns.opcode(i) === 0x18 && rng.chance(0.7)) refs.set(i, rng.pick(['events', 'counts', '.bss', 'missing']));
          input = `random(${n})`;
          g.run(() => analyzeProgram({ name: 'fuzz', sectionName: 'tracepoint/x/y', insns, mapReferences: refs, mapValueReferences: new Map([...refs].filter(([, v]) => v.startsWith('.'))) }, { detailed: rng.chance(0.5) }));
        } else {
          const obj = pickObject(corpus, rng, (o) => o.code.length > 0);
          const m = mutateSome(new Uint8Array(obj.bytes), rng, (b) => mutateInsns(b, rng, rng.pick(obj.code)));
          input = `${obj.name}:code ${m.labels.join(' ')}`;
          objectPipeline(g, m.bytes, `fuzz:${obj.name}`, targets);
        }
        break;
      }
    }
  } catch (e) {
    const err = e instanceof Stop ? e.error : e;
    const ms = performance.now() - t0;
    const name = err instanceof Error ? err.constructor.name : typeof err;
    return { target, seed, outcome: 'untyped', code: name, input, message: err instanceof Error ? err.message : String(err), stack: err instanceof Error ? err.stack : undefined, ms };
  }
  const ms = performance.now() - t0;
  const typed = g.firstTyped;
  if (typed) return { target, seed, outcome: 'typed', code: typed.code, input, message: typed.message, ms };
  return { target, seed, outcome: 'ok', input, ms };
}
