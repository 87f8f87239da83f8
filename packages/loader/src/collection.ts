/**
 * Collection.load(spec): turn a CollectionSpec into kernel objects, in one pass —
 * object BTF → maps (pinned ones reused) → per program: link subprograms, resolve map/data/kconfig/
 * ksym references, apply CO-RE against the kernel's BTF, PROG_LOAD with func/line info.
 * Everything created is owned by the returned Collection; on any failure everything created so far
 * is closed before the error propagates.
 */
import { chmodSync, existsSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { makeDirectories } from './mkdirs.js';
import type { Btf } from './btf/btf.js';
import { applyCoreRelocations, CORE_POISON_IMM, type CoreOutcomeMemo, type CoreRelocationReport, type CoreResolution } from './btf/core/relocate.js';
import { checkHelper } from './features/probes.js';
import { encodeFuncInfo, encodeLineInfo, FUNC_INFO_SIZE, LINE_INFO_SIZE } from './btf/ext.js';
import { findRememberedKernelType, kernelBtfParsed, KernelBtfTargets, listModuleBtf, loadKernelBtf, runningKernelMemo } from './btf/kernel.js';
import { sanitizeBtf } from './btf/sanitize.js';
import { BPF_PSEUDO, BPF_PSEUDO_KFUNC_CALL } from './asm/opcodes.js';
import { NotSupportedError, TsbpfError } from './errors.js';
import { kernelConfig, kernelVersionCode } from './kconfig/kconfig.js';
import { kernelSymbolAddresses } from './kconfig/ksym.js';
import { ensureMemlockLimit } from './kconfig/memlock.js';
import { BpfMap } from './maps/map.js';
import { Program } from './programs/program.js';
import { VerifierError } from './programs/verifier.js';
import type { CollectionSpec, ExternSpec } from './spec/collection.js';
import { SpecError } from './spec/error.js';
import { linkProgram, type LinkedProgram } from './spec/linker.js';
import { PIN, type MapSpec } from './spec/map.js';
import type { ProgramSpec } from './spec/program.js';
import { bpffsHint, btfGetFdById, btfGetNextId, btfLoadWithLog, mapCreate, mapCreateAsync, mapFreeze, mapUpdateElem, objGet, objPin, progLoadAsync, progLoadWithLog } from './sys/bpf.js';
import type { MapCreateAttr, ProgLoadAttr } from './sys/attr.js';
import { BPF_F_MMAPABLE, BPF_F_RDONLY_PROG, BPF_MAP_TYPE, BPF_OBJ_NAME_LEN, helperName } from './sys/constants.js';
import { ERRNO } from './sys/errno.js';
import { isErrno, SyscallError } from './sys/errors.js';
import type { Fd } from './sys/fd.js';
import { numPossibleCpus, workerPoolHasRoom } from './sys/ffi.js';
import { btfInfo, mapInfo } from './sys/info.js';
import { nowMs } from './clock.js';
import { checksum } from './cachedir.js';
import { LIBRARY_LEVEL, reachedLevel } from './codecache/level.js';

/** Options of {@link Collection.load}. */
export interface CollectionOptions {
  /** bpffs directory for maps declared with `pinning: LIBBPF_PIN_BY_NAME` (default /sys/fs/bpf). */
  pinPath?: string;
  /** Kernel BTF to relocate against: a parsed Btf or a path (default /sys/kernel/btf/vmlinux). */
  kernelBtf?: Btf | string;
  /** Verifier log level used when a load fails and is retried with a log (default 1). */
  logLevel?: number;
  /**
   * Largest verifier log buffer (default 16 MiB). On 6.4+ a longer log is reported at once from
   * the tail (where the verdict is) that the first, 64 KiB, buffer kept.
   */
  maxLogSize?: number;
  /** Called with notices (e.g. "loading without BTF"); default: silent. */
  onWarning?: (message: string) => void;
}

/** Options of {@link Collection.loadAsync}. */
export interface AsyncLoadOptions extends CollectionOptions {
  /** Stops the load between its phases; everything created so far is closed and the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

/**
 * Per-phase timings of a load, in milliseconds. With {@link Collection.loadAsync} the kernel's map
 * and program work overlaps JavaScript: `maps` is the maps made on this thread (reused, pinned or
 * nested ones) plus the wait for the others after relocation, `programs` the wait for the loads
 * (and any synchronous re-load of a refused program), `relocate` the linking and CO-RE done
 * meanwhile.
 */
export interface LoadTimings {
  /** Reading and indexing the kernel's BTF (also counted inside `relocate` and `programs`, where it happens). */
  kernelBtf: number;
  /** Loading the object's BTF into the kernel. */
  objectBtf: number;
  /** Creating (or reusing) the maps and filling their initial contents. */
  maps: number;
  /** Linking subprograms, resolving references and CO-RE relocation. */
  relocate: number;
  /** `BPF_PROG_LOAD` of every program. */
  programs: number;
}

/** The loaded kernel objects of a CollectionSpec. */
export class Collection implements Disposable {
  /** Loaded programs by name (programs with autoload=false are absent). */
  readonly programs: Map<string, Program>;
  /** Created (or reused pinned) maps by name. */
  readonly maps: Map<string, BpfMap>;
  /** The spec this was loaded from. */
  readonly spec: CollectionSpec;
  /** The object's BTF as loaded into the kernel, if it was. */
  readonly btfFd: Fd | undefined;
  /** CO-RE reports per program. */
  readonly coreReports: Map<string, CoreRelocationReport[]>;
  /** Phase timings of the load. */
  readonly timings: LoadTimings;
  private closed = false;

  /** @internal Use {@link Collection.load}. */
  constructor(init: {
    spec: CollectionSpec;
    programs: Map<string, Program>;
    maps: Map<string, BpfMap>;
    btfFd: Fd | undefined;
    coreReports: Map<string, CoreRelocationReport[]>;
    timings: LoadTimings;
  }) {
    this.spec = init.spec;
    this.programs = init.programs;
    this.maps = init.maps;
    this.btfFd = init.btfFd;
    this.coreReports = init.coreReports;
    this.timings = init.timings;
  }

  /** Load every map and every autoload program of `spec` into the kernel. */
  static load(spec: CollectionSpec, options: CollectionOptions = {}): Collection {
    const loader = new Loader(spec, options);
    try {
      const collection = loader.run();
      reachedLevel(LIBRARY_LEVEL.loaded);
      return collection;
    } catch (err) {
      loader.cleanup();
      throw err;
    }
  }

  /**
   * {@link load} with the kernel's work off the JavaScript thread: the maps are created on libuv's
   * worker threads while the programs are linked and CO-RE relocated here, then the programs are
   * loaded in parallel (the verifier runs on those threads). The result is the same collection,
   * programs and maps in the object's order. A map or program the kernel refuses on the worker is
   * made again synchronously, so each error (verifier log, missing helpers, step-downs for older
   * kernels) is the one {@link load} gives. Differences: every program is linked and relocated
   * before any is loaded, so a later program's relocation error (a missing ksym or kfunc, a CO-RE
   * failure) is reported ahead of an earlier program's verifier error; and when this process's
   * event readers hold libuv's worker pool (fewer than two threads free), the load runs
   * synchronously. `signal` is checked before the load, once the maps exist and once the programs
   * are loaded (a refused program is then not re-verified for its log); kernel calls already
   * running finish first, and everything created is closed before the promise rejects with the
   * signal's reason.
   */
  static async loadAsync(spec: CollectionSpec, options: AsyncLoadOptions = {}): Promise<Collection> {
    const loader = new Loader(spec, options);
    try {
      const collection = await loader.runAsync(options.signal);
      reachedLevel(LIBRARY_LEVEL.loaded);
      return collection;
    } catch (err) {
      loader.cleanup();
      throw err;
    }
  }

  /** The program named `name`. */
  program(name: string): Program {
    const p = this.programs.get(name);
    if (!p) throw new TsbpfError('NO_SUCH_PROGRAM', `no loaded program ${name} (have: ${[...this.programs.keys()].join(', ')})`);
    return p;
  }

  /** The map named `name`. */
  map<K = unknown, V = unknown>(name: string): BpfMap<K, V> {
    const m = this.maps.get(name);
    if (!m) throw new TsbpfError('NO_SUCH_MAP', `no map ${name} (have: ${[...this.maps.keys()].join(', ')})`);
    return m as BpfMap<K, V>;
  }

  /** Read a global variable's current value from its data-section map (e.g. a `.bss` counter). */
  readVariable(name: string): unknown {
    const v = this.spec.variable(name);
    const bytes = this.map(v.map.name).lookupBytes(new Uint8Array(4));
    if (!bytes) throw new TsbpfError('VARIABLE_UNREADABLE', `variable ${name}: map ${v.map.name} has no element 0`);
    return v.decode(bytes.subarray(v.offset, v.offset + v.size));
  }

  /** Write a global variable in a writable data section (`.data`, `.bss`) of the live map. */
  writeVariable(name: string, value: unknown): void {
    const v = this.spec.variable(name);
    const map = this.map(v.map.name);
    const key = new Uint8Array(4);
    const bytes = map.lookupBytes(key);
    if (!bytes) throw new TsbpfError('VARIABLE_UNWRITABLE', `variable ${name}: map ${v.map.name} has no element 0`);
    v.encodeInto(bytes.subarray(v.offset, v.offset + v.size), value);
    map.updateBytes(key, bytes);
  }

  /** Close every program and map (idempotent). Attached links keep their programs alive. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.programs.values()) p.close();
    for (const m of this.maps.values()) m.close();
    this.btfFd?.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** Kernel program names: at most 15 characters of [A-Za-z0-9_.]. */
export function kernelObjectName(name: string): string {
  return name.replace(/[^A-Za-z0-9_.]/g, '_').slice(0, BPF_OBJ_NAME_LEN - 1);
}

class Loader {
  private readonly spec: CollectionSpec;
  private readonly options: CollectionOptions;
  private readonly maps = new Map<string, BpfMap>();
  private readonly programs = new Map<string, Program>();
  private readonly coreReports = new Map<string, CoreRelocationReport[]>();
  /** CO-RE resolutions shared by the programs of this load (same object BTF, same kernel). */
  private readonly coreResolutions = new Map<string, CoreResolution>();
  private btfFd: Fd | undefined;
  /** Pins this load created (not reused ones): removed again if the load fails. */
  private readonly pinnedHere: string[] = [];
  private kernelBtfs: KernelBtfTargets | undefined;
  /** See {@link coreOutcomes}: null once known to be none. */
  private coreMemo: CoreOutcomeMemo | null | undefined;
  private readonly timings: LoadTimings = { kernelBtf: 0, objectBtf: 0, maps: 0, relocate: 0, programs: 0 };

  constructor(spec: CollectionSpec, options: CollectionOptions) {
    this.spec = spec;
    this.options = options;
  }

  /** Memlock, the object's BTF and the kconfig values: the start of both loads. Returns the lap timer. */
  private begin(): (phase: keyof LoadTimings) => void {
    const memlock = ensureMemlockLimit();
    if (memlock === 'failed') this.warn('this kernel charges BPF memory to RLIMIT_MEMLOCK and raising it failed: loads may fail with EPERM');
    let t = nowMs();
    const lap = (k: keyof LoadTimings): void => {
      const now = nowMs();
      this.timings[k] += now - t;
      t = now;
    };
    this.loadObjectBtf();
    lap('objectBtf');
    this.fillKconfig();
    return lap;
  }

  run(): Collection {
    const lap = this.begin();
    for (const spec of this.spec.maps.values()) this.maps.set(spec.name, this.createMap(spec));
    this.fillSlots(false);
    lap('maps');
    for (const prog of this.spec.programs.values()) {
      if (!prog.autoload) continue;
      const linked = linkProgram(this.spec, prog);
      const reports = this.relocate(prog, linked);
      lap('relocate');
      this.programs.set(prog.name, this.loadProgram(prog, linked, reports));
      lap('programs');
    }
    return this.complete();
  }

  async runAsync(signal: AbortSignal | undefined): Promise<Collection> {
    signal?.throwIfAborted();
    // Queued behind this process's reader waits, which can hold a worker thread indefinitely, the
    // kernel calls could wait that long: load here instead.
    if (!workerPoolHasRoom()) return this.run();
    const lap = this.begin();
    // Maps: started on worker threads; the ones that reuse or nest another map are made here.
    const specs = [...this.spec.maps.values()];
    // (A synchronous failure becomes a rejection too, so no started map is left without an owner.)
    const made = specs.map((m) => (Loader.createsAsync(m) ? this.createMapAsync(m) : (async () => this.createMap(m))()));
    lap('maps');
    // Meanwhile: link and resolve everything that does not need a map fd (CO-RE, kfuncs, ksyms).
    const programs: { prog: ProgramSpec; linked: LinkedProgram; reports: CoreRelocationReport[] }[] = [];
    let relocateError: unknown;
    try {
      for (const prog of this.spec.programs.values()) {
        if (!prog.autoload) continue;
        const linked = linkProgram(this.spec, prog);
        programs.push({ prog, linked, reports: this.resolveKernelReferences(prog, linked) });
      }
    } catch (err) {
      relocateError = err;
    }
    lap('relocate');
    // Every map settles (so each fd has its owner for cleanup) before any error goes on.
    own(await Promise.allSettled(made), specs, this.maps);
    if (relocateError !== undefined) throw relocateError;
    lap('maps');
    signal?.throwIfAborted();
    this.fillSlots(false);
    for (const { prog, linked } of programs) this.patchMapReferences(prog, linked);
    lap('relocate');
    const loads = await Promise.allSettled(programs.map(({ prog, linked, reports }) => this.loadProgramAsync(prog, linked, reports, signal)));
    own(
      loads,
      programs.map(({ prog }) => prog),
      this.programs,
    );
    lap('programs');
    signal?.throwIfAborted();
    return this.complete();
  }

  /** Program-array slots, then the collection that owns everything made. */
  private complete(): Collection {
    this.fillSlots(true);
    return new Collection({
      spec: this.spec,
      programs: this.programs,
      maps: this.maps,
      btfFd: this.btfFd,
      coreReports: this.coreReports,
      timings: this.timings,
    });
  }

  cleanup(): void {
    // A failed load leaves no global name behind: the pins it made go (as libbpf does); pins it
    // reused belong to whoever made them.
    for (const path of this.pinnedHere) {
      try {
        unlinkSync(path);
      } catch {
        // already gone
      }
    }
    for (const p of this.programs.values()) p.close();
    for (const m of this.maps.values()) m.close();
    this.btfFd?.close();
  }

  private warn(message: string): void {
    this.options.onWarning?.(message);
  }

  // ------------------------------------------------------------------------------------ kernel BTF

  /**
   * `vmlinux.find(name, kind)`; for the running kernel, from the memo of earlier processes of this
   * boot without parsing its BTF when it can (`findRememberedKernelType`).
   */
  private vmlinuxFind(name: string, kind: 'func' | 'var' | 'typedef'): number | undefined {
    // Once this process has parsed the kernel's BTF, its own (memoized) lookup is the cheaper one.
    if (this.options.kernelBtf === undefined && this.kernelBtfs === undefined && !kernelBtfParsed()) {
      const remembered = findRememberedKernelType(name, kind);
      if (remembered !== undefined) return remembered.id;
    }
    return this.kernelTargets().vmlinux.find(name, kind);
  }

  /**
   * CO-RE outcomes of earlier processes of this boot for this object, when it loads against the
   * running kernel and a cache directory is at hand (see `btf/memo.ts`): keyed by a checksum of the
   * object's BTF, so an edited spec or another object never meets another's outcomes.
   */
  private coreOutcomes(local: Btf): CoreOutcomeMemo | undefined {
    if (this.coreMemo !== undefined) return this.coreMemo ?? undefined;
    this.coreMemo = null;
    const memo = this.options.kernelBtf === undefined ? runningKernelMemo() : undefined;
    if (memo === undefined) return undefined;
    const digest = checksum(local.encode()).toString('hex');
    this.coreMemo = {
      get: (key) => memo.outcome(`${digest}/${key}`),
      set: (key, outcome) => memo.rememberOutcome(`${digest}/${key}`, outcome),
      refuse: (key) => memo.refuseOutcome(`${digest}/${key}`),
      // The running kernel's vmlinux, as kernelTargets() has it (not capturing this load: reports outlive it).
      target: () => loadKernelBtf(),
    };
    return this.coreMemo;
  }

  private kernelTargets(): KernelBtfTargets {
    if (this.kernelBtfs) return this.kernelBtfs;
    const t0 = nowMs();
    const k = this.options.kernelBtf;
    let vmlinux: Btf;
    try {
      vmlinux = typeof k === 'object' ? k : loadKernelBtf(k === undefined ? undefined : { path: k });
    } catch (err) {
      throw new NotSupportedError(
        `kernel BTF (${typeof k === 'string' ? k : '/sys/kernel/btf/vmlinux'}: ${(err as Error).message}; build the kernel with CONFIG_DEBUG_INFO_BTF or pass kernelBtf)`,
        { cause: err },
      );
    }
    // Module BTF is split BTF over vmlinux, read only when a lookup gets past vmlinux. An explicit
    // kernel BTF file (no running-kernel BTF) comes without modules.
    const modules = k === undefined ? listModuleBtf() : [];
    this.kernelBtfs = new KernelBtfTargets(vmlinux, modules, {
      onError: (name, err) => this.warn(`ignoring BTF of module ${name}: ${err.message}`),
      onParse: (ms) => {
        this.timings.kernelBtf += ms;
      },
    });
    this.timings.kernelBtf += nowMs() - t0;
    return this.kernelBtfs;
  }

  // ------------------------------------------------------------------------------------ object BTF

  private loadObjectBtf(): void {
    const btf = this.spec.btf;
    if (!btf) return;
    const prepared = this.prepareBtfForKernel(btf);
    const attempts: { what: string; make: () => Btf }[] = [
      { what: 'as is', make: () => prepared },
      {
        what: 'sanitized for an older kernel',
        make: () => sanitizeBtf(prepared, { funcLinkage: false, float: false, declTag: false, typeTag: false, enum64: false, qmarkDatasec: false }),
      },
    ];
    let lastErr: unknown;
    for (const a of attempts) {
      try {
        this.btfFd = btfLoadWithLog({ btf: a.make().encode() }).fd;
        if (a.what !== 'as is') this.warn(`object BTF loaded ${a.what}`);
        return;
      } catch (err) {
        lastErr = err;
      }
    }
    this.warn(`the kernel rejected the object's BTF (${(lastErr as Error).message.split('\n')[0]}); loading without BTF`);
  }

  /**
   * The kernel rejects extern VARs: give `.ksyms` variables an int type and allocated linkage,
   * as loaders do, on a copy so the spec stays untouched.
   */
  private prepareBtfForKernel(btf: Btf): Btf {
    const hasExtern = this.spec.externs.size > 0;
    if (!hasExtern) return btf;
    const copy = sanitizeBtf(btf, {});
    let intId: number | undefined;
    for (let id = copy.firstTypeId; id < copy.typeCount; id++) {
      const t = copy.type(id);
      if (t.kind === 'var' && t.linkage === 2) {
        const ksym = this.spec.externs.get(t.name)?.section === '.ksyms';
        if (ksym) intId ??= copy.add({ kind: 'int', name: 'int', size: 4, encoding: { signed: true, char: false, bool: false }, offset: 0, bits: 32 });
        copy.replace(id, { ...t, type: ksym && intId !== undefined ? intId : t.type, linkage: 1 });
      } else if (t.kind === 'func' && t.linkage === 2) {
        copy.replace(id, { ...t, linkage: 0 });
      } else if (t.kind === 'datasec' && t.name === '.ksyms') {
        copy.replace(id, { ...t, vars: t.vars.map((v) => ({ ...v, size: 4 })), size: 4 * t.vars.length });
      }
    }
    return copy;
  }

  // ------------------------------------------------------------------------------------ kconfig

  private fillKconfig(): void {
    const map = this.spec.maps.get('.kconfig');
    const btf = this.spec.btf;
    if (!map || !btf) return;
    const contents = (map.contents ??= new Uint8Array(map.valueSize));
    const view = new DataView(contents.buffer, contents.byteOffset, contents.byteLength);
    const config = kernelConfig();
    for (const ext of this.spec.externs.values()) {
      if (ext.section !== '.kconfig') continue;
      const value = this.kconfigValue(ext, config);
      if (value === undefined) {
        if (!ext.weak) throw new SpecError('KCONFIG_MISSING', `${this.spec.source}: kconfig ${ext.name} is not set on this kernel (declare it __weak to allow that)`);
        continue;
      }
      writeKconfig(btf, ext, value, view);
    }
  }

  private kconfigValue(ext: ExternSpec, config: ReadonlyMap<string, string>): string | bigint | undefined {
    if (ext.name === 'LINUX_KERNEL_VERSION') return BigInt(kernelVersionCode());
    if (ext.name === 'LINUX_HAS_SYSCALL_WRAPPER') {
      const prefix = process.arch === 'arm64' ? '__arm64_sys_bpf' : process.arch === 'x64' ? '__x64_sys_bpf' : '__se_sys_bpf';
      return this.vmlinuxFind(prefix, 'func') !== undefined ? 1n : 0n;
    }
    if (ext.name.startsWith('CONFIG_')) return config.get(ext.name);
    return undefined;
  }

  // ------------------------------------------------------------------------------------ maps

  private createMap(spec: MapSpec): BpfMap {
    const desc = mapDesc(spec);
    if (spec.replacement) return adopt(spec.replacement.dup(), desc);
    const pinPath = spec.pinning === PIN.BY_NAME ? join(this.options.pinPath ?? '/sys/fs/bpf', spec.name) : undefined;
    if (pinPath && existsSync(pinPath)) return adopt(this.reusePinned(spec, pinPath), desc);
    return this.finishMap(spec, this.createMapFd(spec), pinPath);
  }

  /** Initial contents, freeze and pin of a new map's fd, then its handle; the fd is closed on failure. */
  private finishMap(spec: MapSpec, fd: Fd, pinPath: string | undefined): BpfMap {
    const desc = mapDesc(spec);
    try {
      if (spec.contents) mapUpdateElem(fd, new Uint8Array(4), spec.contents.byteLength === spec.valueSize ? spec.contents : resize(spec.contents, spec.valueSize));
      if (spec.freeze) mapFreeze(fd);
      if (pinPath) {
        this.makePinDirectory(this.options.pinPath ?? '/sys/fs/bpf');
        objPin(fd, pinPath);
        this.pinnedHere.push(pinPath);
        chmodSync(pinPath, 0o600);
      }
    } catch (err) {
      fd.close();
      throw err;
    }
    return adopt(fd, desc);
  }

  /** Creates the pin directory `dir` (and its parents); a failure names it, and bpffs when that is what is missing. */
  private makePinDirectory(dir: string): void {
    try {
      makeDirectories(dir);
    } catch (err) {
      const hint = bpffsHint(dir);
      throw new TsbpfError('MAP_PIN_PATH', `cannot create the pin directory ${dir}: ${(err as Error).message}${hint === undefined ? '' : `; ${hint}`}`, { cause: err });
    }
  }

  /** Maps {@link createMapAsync} can make: no reuse (replacement, pin) and no inner map to create first. */
  private static createsAsync(spec: MapSpec): boolean {
    return spec.replacement === undefined && spec.pinning !== PIN.BY_NAME && spec.innerMap === undefined;
  }

  /**
   * {@link createMap} with the kernel's allocation on a worker thread. Only the first of
   * {@link createMapFd}'s attempts runs there; if the kernel refuses it, the whole synchronous path
   * runs (its step-downs and its error).
   */
  private async createMapAsync(spec: MapSpec): Promise<BpfMap> {
    let fd: Fd;
    try {
      fd = await mapCreateAsync(this.mapCreateAttempts(spec)[0]);
    } catch (err) {
      if (!redoSynchronously(err)) throw err;
      return this.createMap(spec);
    }
    return this.finishMap(spec, fd, undefined);
  }

  /** `BPF_MAP_CREATE` attrs of `spec` without BTF, its inner map given as `innerFd`. */
  private mapCreateBase(spec: MapSpec, innerFd?: Fd): MapCreateAttr {
    let maxEntries = spec.maxEntries;
    if (spec.type === BPF_MAP_TYPE.PERF_EVENT_ARRAY && maxEntries === 0) maxEntries = numPossibleCpus();
    return {
      mapType: spec.type,
      keySize: spec.keySize,
      valueSize: spec.valueSize,
      maxEntries,
      // Read-only data is frozen and RDONLY_PROG, so the verifier treats its values as constants and
      // prunes branches on parameters (`if (collect_kstack)`), as gadgets rely on.
      mapFlags: spec.flags | (spec.isGlobalData ? BPF_F_MMAPABLE : 0) | (spec.isGlobalData && spec.freeze ? BPF_F_RDONLY_PROG : 0),
      numaNode: spec.numaNode,
      mapName: kernelObjectName(spec.name),
      mapExtra: spec.mapExtra,
      innerMapFd: innerFd,
    };
  }

  /** The attrs tried in order: with BTF, without, and (global data) without MMAPABLE. */
  private mapCreateAttempts(spec: MapSpec, innerFd?: Fd): [MapCreateAttr, ...MapCreateAttr[]] {
    const base = this.mapCreateBase(spec, innerFd);
    const withBtf = this.btfFd && spec.btf === this.spec.btf && (spec.keyTypeId || spec.valueTypeId) && !spec.innerMap;
    // Older kernels refuse some of these (MMAPABLE before 5.5, BTF on some map types): step down.
    const attempts: [MapCreateAttr, ...MapCreateAttr[]] = withBtf ? [{ ...base, btfFd: this.btfFd, btfKeyTypeId: spec.keyTypeId, btfValueTypeId: spec.valueTypeId }, base] : [base];
    if (spec.isGlobalData) attempts.push({ ...base, mapFlags: spec.flags | (spec.freeze ? BPF_F_RDONLY_PROG : 0) });
    return attempts;
  }

  private createMapFd(spec: MapSpec): Fd {
    let innerFd: Fd | undefined;
    if (spec.innerMap) innerFd = this.createMapFd(spec.innerMap);
    const attempts = this.mapCreateAttempts(spec, innerFd);
    const maxEntries = attempts[0].maxEntries;
    let lastErr: unknown;
    try {
      for (const a of attempts) {
        try {
          return mapCreate(a);
        } catch (err) {
          lastErr = err;
          if (!(err instanceof SyscallError) || !(isErrno(err, ERRNO.EINVAL) || isErrno(err, ERRNO.ENOTSUPP) || isErrno(err, ERRNO.EOPNOTSUPP))) break;
        }
      }
    } finally {
      innerFd?.close();
    }
    if (lastErr instanceof SyscallError) {
      throw new TsbpfError('MAP_CREATE', `${this.spec.source}: creating map ${spec.name} (${spec.typeName}, key ${spec.keySize} B, value ${spec.valueSize} B, ${maxEntries} entries) failed: ${lastErr.message}`, {
        cause: lastErr,
      });
    }
    throw lastErr;
  }

  private reusePinned(spec: MapSpec, path: string): Fd {
    const fd = objGet(path);
    const existing = new BpfMap(fd, { name: spec.name, type: 0, keySize: 0, valueSize: 0, maxEntries: 0, flags: 0 });
    try {
      const info = mapInfo(fd);
      const mismatch: string[] = [];
      if (info.type !== spec.type) mismatch.push(`type ${info.type} ≠ ${spec.type}`);
      if (info.keySize !== spec.keySize) mismatch.push(`key size ${info.keySize} ≠ ${spec.keySize}`);
      if (info.valueSize !== spec.valueSize) mismatch.push(`value size ${info.valueSize} ≠ ${spec.valueSize}`);
      if (info.maxEntries !== spec.maxEntries) mismatch.push(`max entries ${info.maxEntries} ≠ ${spec.maxEntries}`);
      const ours = BPF_F_MMAPABLE | BPF_F_RDONLY_PROG;
      if ((info.mapFlags & ~ours) !== (spec.flags & ~ours)) mismatch.push(`flags ${info.mapFlags} ≠ ${spec.flags}`);
      if (mismatch.length) throw new TsbpfError('MAP_PIN_INCOMPATIBLE', `pinned map ${path} is incompatible with map ${spec.name}: ${mismatch.join(', ')}`);
      return fd;
    } catch (err) {
      existing.close();
      throw err;
    }
  }

  /** Store statically initialised slots: inner maps after map creation, programs after load. */
  private fillSlots(programs: boolean): void {
    for (const spec of this.spec.maps.values()) {
      if (spec.slots.size === 0 || spec.replacement) continue;
      const isProgArray = spec.type === BPF_MAP_TYPE.PROG_ARRAY;
      if (isProgArray !== programs) continue;
      const map = this.maps.get(spec.name);
      if (!map) continue;
      for (const [slot, name] of spec.slots) {
        const target = isProgArray ? this.programs.get(name)?.fd : this.maps.get(name)?.fd;
        if (!target) {
          if (isProgArray) continue; // a program excluded with autoload=false leaves its slot empty
          throw new SpecError('UNKNOWN_MAP', `${this.spec.source}: map ${spec.name} slot ${slot} names ${name}, which was not created`);
        }
        const key = new Uint8Array(4);
        new DataView(key.buffer).setUint32(0, slot, true);
        const value = new Uint8Array(4);
        new DataView(value.buffer).setUint32(0, target.raw, true);
        map.updateBytes(key, value);
      }
    }
  }

  // ------------------------------------------------------------------------------------ programs

  private relocate(prog: ProgramSpec, linked: LinkedProgram): CoreRelocationReport[] {
    this.patchMapReferences(prog, linked);
    return this.resolveKernelReferences(prog, linked);
  }

  /** Map, data-section and kconfig references: the map fds go into the instructions. */
  private patchMapReferences(prog: ProgramSpec, linked: LinkedProgram): void {
    const insns = linked.insns;
    for (const [i, ref] of linked.references) {
      const where = `${this.spec.source}: program ${prog.name}, instruction ${i}`;
      switch (ref.kind) {
        case 'map': {
          const m = this.maps.get(ref.map);
          if (!m) throw new SpecError('UNKNOWN_MAP', `${where}: reference to map ${ref.map}, which the object does not define`);
          insns.setSrc(i, BPF_PSEUDO.MAP_FD);
          insns.setImm(i, m.fd.raw);
          break;
        }
        case 'data': {
          const m = this.maps.get(ref.map);
          if (!m) throw new SpecError('UNKNOWN_MAP', `${where}: reference to section ${ref.map}, which holds no data`);
          insns.setSrc(i, BPF_PSEUDO.MAP_VALUE);
          insns.setImm(i, m.fd.raw);
          insns.setImm(i + 1, ref.offset);
          break;
        }
        case 'kconfig': {
          const m = this.maps.get('.kconfig');
          const ext = this.spec.externs.get(ref.name);
          if (!m || !ext) throw new SpecError('UNKNOWN_EXTERN', `${where}: kconfig ${ref.name} has no slot`);
          insns.setSrc(i, BPF_PSEUDO.MAP_VALUE);
          insns.setImm(i, m.fd.raw);
          insns.setImm(i + 1, ext.offset + insns.imm(i + 1));
          break;
        }
        default:
          break;
      }
    }
  }

  /** Kernel symbols, kfuncs and CO-RE relocations: resolved against the running kernel, no map needed. */
  private resolveKernelReferences(prog: ProgramSpec, linked: LinkedProgram): CoreRelocationReport[] {
    const insns = linked.insns;
    let ksymAddresses: Map<string, bigint> | undefined;
    for (const [i, ref] of linked.references) {
      const where = `${this.spec.source}: program ${prog.name}, instruction ${i}`;
      switch (ref.kind) {
        case 'ksym': {
          if (ref.typed) {
            const id = this.vmlinuxFind(ref.name, 'var');
            if (id === undefined) {
              if (ref.weak) {
                insns.setImm64(i, 0n);
                break;
              }
              throw new SpecError('KSYM_MISSING', `${where}: kernel variable ${ref.name} (typed __ksym) is not in the kernel's BTF`);
            }
            insns.setSrc(i, BPF_PSEUDO.BTF_ID);
            insns.setImm(i, id);
            insns.setImm(i + 1, 0);
          } else {
            ksymAddresses ??= kernelSymbolAddresses([...this.spec.externs.values()].filter((e) => e.section === '.ksyms' && e.typeId === 0).map((e) => e.name));
            const addr = ksymAddresses.get(ref.name);
            if (addr === undefined && !ref.weak) {
              throw new SpecError('KSYM_MISSING', `${where}: kernel symbol ${ref.name} not found in /proc/kallsyms (missing, or hidden by kptr_restrict)`);
            }
            insns.setSrc(i, 0);
            insns.setImm64(i, addr ?? 0n);
          }
          break;
        }
        case 'kfunc': {
          const id = this.vmlinuxFind(ref.name, 'func');
          if (id === undefined) throw new NotSupportedError(`kernel function ${ref.name} (kfunc, needed by program ${prog.name})`);
          insns.setSrc(i, BPF_PSEUDO_KFUNC_CALL);
          insns.setImm(i, id);
          insns.setOffset(i, 0);
          break;
        }
        default:
          break;
      }
    }
    let reports: CoreRelocationReport[] = [];
    if (linked.coreRelos.length > 0) {
      const local = this.spec.btf;
      if (!local) throw new SpecError('CORE_WITHOUT_BTF', `${this.spec.source}: program ${prog.name} has CO-RE relocations but the object has no BTF`);
      reports = applyCoreRelocations(insns, linked.coreRelos, local, () => this.kernelTargets(), {
        programName: prog.name,
        resolutions: this.coreResolutions,
        memo: this.coreOutcomes(local),
      });
    }
    this.coreReports.set(prog.name, reports);
    return reports;
  }

  /** The attach target's BTF id and, for a module's function, an fd of that module's kernel BTF object (owned by the caller). */
  private attachBtfTarget(prog: ProgramSpec): { id: number; objFd?: Fd } | undefined {
    if (!prog.needsBtfTarget) return undefined;
    const target = prog.attachTarget;
    if (!target) throw new SpecError('NO_ATTACH_TARGET', `${this.spec.source}: program ${prog.name} (${prog.sectionName}) names no attach target`);
    const [name, kind] =
      prog.attachKind === 'lsm'
        ? [`bpf_lsm_${target}`, 'func' as const]
        : prog.sectionName.startsWith('tp_btf')
          ? [`btf_trace_${target}`, 'typedef' as const]
          : prog.attachKind === 'iter'
            ? [`bpf_iter_${target}`, 'func' as const]
            : [target, 'func' as const];
    const inVmlinux = this.vmlinuxFind(name, kind);
    if (inVmlinux !== undefined) return { id: inVmlinux };
    const targets = this.kernelTargets();
    for (const btf of targets) {
      const id = btf.find(name, kind);
      if (id === undefined || (btf !== targets.vmlinux && id < btf.firstTypeId)) continue;
      const module = targets.moduleName(btf);
      return module === undefined ? { id } : { id, objFd: moduleBtfFd(module) };
    }
    throw new NotSupportedError(`attach target ${target} of program ${prog.name} (${kind} ${name} is not in the kernel's BTF)`);
  }

  private progLoadAttrs(prog: ProgramSpec, linked: LinkedProgram, target: { id: number; objFd?: Fd } | undefined): ProgLoadAttr {
    const withBtf = this.btfFd !== undefined && linked.funcInfo.length > 0;
    return {
      progType: prog.type,
      insns: linked.insns.bytes,
      license: prog.license,
      kernVersion: kernelVersionCode(),
      progFlags: prog.flags | (prog.sleepable ? 1 << 4 : 0),
      progName: kernelObjectName(prog.name),
      expectedAttachType: prog.expectedAttachType,
      attachBtfId: target?.id,
      attachBtfObjFd: target?.objFd,
      ...(withBtf
        ? {
            progBtfFd: this.btfFd,
            funcInfo: encodeFuncInfo(linked.funcInfo),
            funcInfoRecSize: FUNC_INFO_SIZE,
            lineInfo: encodeLineInfo(linked.lineInfo),
            lineInfoRecSize: LINE_INFO_SIZE,
          }
        : {}),
    };
  }

  /**
   * One load on a worker thread, without a log; a program the kernel refuses is loaded again here,
   * synchronously, for its verdict (log, missing helpers, the EAGAIN retries with signals held).
   */
  private async loadProgramAsync(prog: ProgramSpec, linked: LinkedProgram, reports: CoreRelocationReport[], signal: AbortSignal | undefined): Promise<Program> {
    const target = this.attachBtfTarget(prog);
    let fd: Fd;
    try {
      fd = await progLoadAsync(this.progLoadAttrs(prog, linked, target));
    } catch (err) {
      if (!redoSynchronously(err)) throw err;
      // After an abort, no second verification just for an error nobody will read.
      signal?.throwIfAborted();
      return this.loadProgram(prog, linked, reports);
    } finally {
      target?.objFd?.close();
    }
    return new Program(fd, prog, linked);
  }

  private loadProgram(prog: ProgramSpec, linked: LinkedProgram, reports: CoreRelocationReport[]): Program {
    const target = this.attachBtfTarget(prog);
    try {
      const { fd } = progLoadWithLog(this.progLoadAttrs(prog, linked, target), { maxLogSize: this.options.maxLogSize, retryLogLevel: this.options.logLevel });
      return new Program(fd, prog, linked);
    } catch (err) {
      // Interrupted by signals on every attempt: the program was not judged, so neither a verifier
      // verdict nor a missing helper can be reported (the partial log says nothing).
      if (err instanceof SyscallError && err.errnoName === 'EAGAIN') {
        throw new TsbpfError('PROG_LOAD', `${this.spec.source}: loading program ${prog.name} (${prog.sectionName}) failed: ${err.message}`, { cause: err });
      }
      // A helper this kernel lacks makes the verifier fail in confusing ways (e.g. a callback
      // subprogram it does not recognise): name the helper instead, so callers can leave it out.
      if (err instanceof SyscallError) {
        const missing = missingHelpers(prog.type, linked);
        if (missing.length > 0) {
          throw new NotSupportedError(`${missing.join(', ')} (used by program ${prog.name}, ${prog.typeName})`, { cause: err });
        }
      }
      if (err instanceof SyscallError && err.log !== undefined && err.log.length > 0) {
        throw new VerifierError({ program: prog.name, cause: err, log: err.log, lineInfo: linked.lineInfo, coreReports: reports });
      }
      if (err instanceof SyscallError) {
        throw new TsbpfError('PROG_LOAD', `${this.spec.source}: loading program ${prog.name} (${prog.sectionName}) failed: ${err.message}`, { cause: err });
      }
      throw err;
    } finally {
      target?.objFd?.close();
    }
  }
}

/** Helpers called by `linked` that the kernel does not offer to programs of `progType`. */
function missingHelpers(progType: number, linked: LinkedProgram): string[] {
  const ids = new Set<number>();
  const insns = linked.insns;
  for (let i = 0; i < insns.length; i++) {
    if (insns.isCall(i) && insns.src(i) === 0 && insns.imm(i) !== CORE_POISON_IMM) ids.add(insns.imm(i));
    if (insns.isLdImm64(i)) i++;
  }
  // Only helpers the verifier itself refused: a probe that could not tell (refused, interrupted) names none.
  return [...ids]
    .filter((id) => {
      const r = checkHelper(progType, id);
      return !r.supported && r.undecided !== true;
    })
    .map((id) => `helper ${helperName(id) ?? `#${id}`}`);
}

/** A worker-thread call whose failure the synchronous path should meet again: the kernel's refusal, or koffi unable to run it there. */
function redoSynchronously(err: unknown): boolean {
  return err instanceof SyscallError || (err instanceof TsbpfError && err.code === 'FFI_ASYNC');
}

/**
 * Hand each fulfilled result to `owner` under its spec's name, in the specs' order (so a collection
 * lists maps and programs as the object does), then throw the first rejection, if any: everything
 * made is owned before an error leaves, and the load's cleanup closes it.
 */
function own<T>(results: PromiseSettledResult<T>[], specs: readonly { name: string }[], owner: Map<string, T>): void {
  let firstError: { reason: unknown } | undefined;
  results.forEach((r, i) => {
    const name = specs[i]?.name;
    if (r.status === 'fulfilled' && name !== undefined) owner.set(name, r.value);
    else if (r.status === 'rejected') firstError ??= { reason: r.reason };
  });
  if (firstError) throw firstError.reason;
}

/** What a {@link BpfMap} handle needs to know of `spec`. */
function mapDesc(spec: MapSpec): ConstructorParameters<typeof BpfMap>[1] {
  return {
    name: spec.name,
    type: spec.type,
    keySize: spec.keySize,
    valueSize: spec.valueSize,
    maxEntries: spec.maxEntries,
    flags: spec.flags,
    btf: spec.btf,
    keyTypeId: spec.keyTypeId,
    valueTypeId: spec.valueTypeId,
  };
}

/** Wrap a fresh map fd; the fd is closed if the handle cannot be built, so nothing leaks. */
function adopt(fd: Fd, desc: ConstructorParameters<typeof BpfMap>[1]): BpfMap {
  try {
    return new BpfMap(fd, desc);
  } catch (err) {
    fd.close();
    throw err;
  }
}

/** An fd of the kernel BTF object of module `name` (BPF_BTF_GET_NEXT_ID walk). */
function moduleBtfFd(name: string): Fd {
  for (let id = btfGetNextId(0); id !== undefined; id = btfGetNextId(id)) {
    let fd: Fd | undefined;
    try {
      fd = btfGetFdById(id);
      const info = btfInfo(fd);
      if (info.kernelBtf && info.name === name) return fd;
    } catch {
      // the object went away between the two calls: keep walking
    }
    fd?.close();
  }
  throw new NotSupportedError(`the kernel BTF object of module ${name}`);
}

function resize(bytes: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(size);
  out.set(bytes.subarray(0, size));
  return out;
}

/** Encode one kconfig value into the `.kconfig` map image according to its BTF type. */
function writeKconfig(btf: Btf, ext: ExternSpec, value: string | bigint, view: DataView): void {
  const id = btf.underlying(ext.typeId);
  const t = btf.type(id);
  const at = ext.offset;
  const fail = (why: string): never => {
    throw new SpecError('KCONFIG_BAD_VALUE', `kconfig ${ext.name}: ${why}`);
  };
  if (t.kind === 'array') {
    if (typeof value !== 'string' || !value.startsWith('"')) fail(`expected a string value, kernel has ${String(value)}`);
    const s = new TextEncoder().encode(JSON.parse(value as string) as string);
    for (let i = 0; i < Math.min(s.length, t.nelems - 1); i++) view.setUint8(at + i, s[i]);
    return;
  }
  if (t.kind === 'enum') {
    // enum libbpf_tristate { TRI_NO = 0, TRI_YES = 1, TRI_MODULE = 2 }
    const v = value === 'y' ? 1 : value === 'm' ? 2 : value === 'n' ? 0 : fail(`expected y/m/n, kernel has ${String(value)}`);
    view.setUint32(at, v, true);
    return;
  }
  if (t.kind !== 'int') return fail(`unsupported type ${t.kind}`);
  let n: bigint;
  if (typeof value === 'bigint') n = value;
  else if (value === 'y') n = 1n;
  else if (value === 'n' || value === 'm') n = t.encoding.bool ? (value === 'm' ? fail('a module (m) cannot be a bool') : 0n) : value === 'm' ? 2n : 0n;
  else if (/^-?(0x[0-9a-f]+|\d+)$/i.test(value)) n = BigInt(value.startsWith('-') ? -BigInt(value.slice(1)) : BigInt(value));
  else return fail(`value ${value} is not a number`);
  switch (t.size) {
    case 1:
      view.setUint8(at, Number(BigInt.asUintN(8, n)));
      break;
    case 2:
      view.setUint16(at, Number(BigInt.asUintN(16, n)), true);
      break;
    case 4:
      view.setUint32(at, Number(BigInt.asUintN(32, n)), true);
      break;
    case 8:
      view.setBigUint64(at, BigInt.asUintN(64, n), true);
      break;
    default:
      fail(`unsupported integer size ${t.size}`);
  }
}

