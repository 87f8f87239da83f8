/**
 * The running kernel's BTF (and its modules' split BTF), read once per process and shared.
 * vmlinux BTF is mapped read-only where the kernel allows it (6.16+), like libbpf does: sysfs hands
 * out at most a page per read(2), so reading 5 MB costs ~1300 syscalls. Parsing only frames records
 * (see btf.ts), so the first `loadKernelBtf()` costs a few milliseconds.
 */
import { closeSync, fstatSync, openSync, readdirSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { defaultCacheDir } from '../cachedir.js';
import { ElfFile } from '../elf/index.js';
import { MAP, PROT, mmapRaw, munmapRaw, viewAt } from '../sys/ffi.js';
import { Btf, findMemoKey } from './btf.js';
import type { LazyCoreTargets } from './core/candidates.js';
import { BtfError } from './error.js';
import { KernelBtfLookupMemo, LOOKUP_MEMO_FILE, type LookupMemoStats } from './memo.js';
import type { BtfKindName } from './types.js';
import { nowMs } from '../clock.js';

/** Directory of the kernel's BTF files. */
export const KERNEL_BTF_DIR = '/sys/kernel/btf';
/** The kernel's own (base) BTF. */
export const VMLINUX_BTF_PATH = `${KERNEL_BTF_DIR}/vmlinux`;

const kernelCache = new Map<string, Btf>();
const moduleCache = new Map<string, Btf>();
/**
 * The running kernel's lookup memo, shared by the lookups made before its BTF is parsed
 * ({@link findKernelType}) and the parsed BTF; null when nothing is remembered (no cache directory,
 * `TSBPF_CACHE_DIR=`), undefined until first needed.
 */
let runningMemo: KernelBtfLookupMemo | null | undefined;

/** Where a raw BTF file keeps its sections, from its 24-byte header. */
interface BtfFileLayout {
  /** Size of the whole file. */
  fileBytes: number;
  /** File offset of the type section. */
  typeStart: number;
  /** Length of the type section. */
  typeBytes: number;
  /** File offset of the string section. */
  strStart: number;
  /** Length of the string section. */
  strBytes: number;
}

const BTF_HEADER_BYTES = 24;

/** The layout a raw BTF header (`header`, at least 24 bytes) describes, or undefined when it is not one that fits `fileBytes`. */
function btfFileLayout(header: Uint8Array, fileBytes: number): BtfFileLayout | undefined {
  if (header.length < BTF_HEADER_BYTES) return undefined;
  const v = new DataView(header.buffer, header.byteOffset, BTF_HEADER_BYTES);
  if (v.getUint16(0, true) !== 0xeb9f) return undefined;
  const hdrLen = v.getUint32(4, true);
  const layout = {
    fileBytes,
    typeStart: hdrLen + v.getUint32(8, true),
    typeBytes: v.getUint32(12, true),
    strStart: hdrLen + v.getUint32(16, true),
    strBytes: v.getUint32(20, true),
  };
  if (layout.typeStart + layout.typeBytes > fileBytes || layout.strStart + layout.strBytes > fileBytes) return undefined;
  return layout;
}

/** The running kernel's memo for a BTF of `layout` (made on first use), or null when nothing is remembered. */
function memoForLayout(layout: BtfFileLayout): KernelBtfLookupMemo | null {
  if (runningMemo !== undefined) return runningMemo;
  const dir = defaultCacheDir();
  runningMemo = dir === undefined ? null : new KernelBtfLookupMemo(join(dir, LOOKUP_MEMO_FILE), { bytes: layout.fileBytes, typeBytes: layout.typeBytes, strings: layout.strBytes });
  return runningMemo;
}

function readOrThrow(path: string, what: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    throw new BtfError('BTF_NOT_FOUND', `cannot read ${what}${typeof code === 'string' ? ` (${code})` : ''}`, { source: path }, { cause: e });
  }
}

/** Unmaps a kernel BTF mapping once nothing (no Btf, no view) references its bytes any more. */
const unmapper = new FinalizationRegistry<{ address: bigint; length: number }>((held) => {
  munmapRaw(held.address, held.length);
});

/**
 * The bytes of `/sys/kernel/btf/vmlinux` mapped read-only and private, or undefined when this kernel
 * (before 6.16) or this file refuses mmap. The mapping lives as long as its bytes are referenced:
 * the cached Btf keeps views into it. The descriptor is only held for the mmap call itself.
 */
function mapKernelBtf(path: string): Uint8Array | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return undefined;
  }
  try {
    const size = fstatSync(fd).size;
    if (!Number.isSafeInteger(size) || size <= 0) return undefined;
    const address = mmapRaw(size, PROT.READ, MAP.PRIVATE, fd, 0);
    if (address < 0n) return undefined;
    const buffer = viewAt(address, size);
    unmapper.register(buffer, { address, length: size });
    return new Uint8Array(buffer);
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/**
 * Parse BTF from a file's bytes: raw BTF (magic 0xeb9f), or an ELF file whose `.BTF` section
 * holds it (an external vmlinux, a BPF object).
 */
export function parseBtfFile(bytes: Uint8Array, source: string, base?: Btf): Btf {
  if (bytes.length >= 4 && bytes[0] === 0x7f && bytes[1] === 0x45 && bytes[2] === 0x4c && bytes[3] === 0x46) {
    const elf = ElfFile.parseAnyMachine(bytes, source);
    const sec = elf.section('.BTF');
    if (!sec) throw new BtfError('BTF_NOT_FOUND', 'ELF file has no .BTF section', { source });
    return Btf.parse(elf.data(sec), { source: `${source}:.BTF`, base });
  }
  return Btf.parse(bytes, { source, base });
}

/** Options of {@link loadKernelBtf}. */
export interface LoadKernelBtfOptions {
  /** Raw BTF or an ELF vmlinux with `.BTF` (e.g. from BTFHub) instead of the running kernel's. */
  path?: string;
  /**
   * Remember the running kernel's lookups across the processes of this boot (default true; see
   * `btf/memo.ts`). Applies when this call parses: false keeps the process out of the memo from
   * then on (lookups and CO-RE outcomes). `TSBPF_CACHE_DIR=` (empty) turns it off too.
   */
  remember?: boolean;
}

/**
 * The kernel's BTF: `/sys/kernel/btf/vmlinux`, or `options.path` (raw BTF or an ELF vmlinux with
 * `.BTF`, e.g. from BTFHub). Cached per path for the life of the process. The running kernel's
 * lookups are remembered in the cache directory for the next process of the same boot
 * ({@link KernelBtfLookupMemo}), unless `options.remember` is false.
 * @throws BtfError BTF_NOT_FOUND when the file cannot be read, or a parse error
 */
export function loadKernelBtf(options?: LoadKernelBtfOptions): Btf {
  const path = options?.path ?? VMLINUX_BTF_PATH;
  const cached = kernelCache.get(path);
  if (cached) return cached;
  // Only the kernel's own file is mapped: a regular file could be truncated under the mapping.
  const bytes = (path === VMLINUX_BTF_PATH ? mapKernelBtf(path) : undefined) ?? readOrThrow(path, 'kernel BTF');
  const btf = parseBtfFile(bytes, path);
  // Parsed without remembering: from now on this process neither reads nor writes the memo.
  if (path === VMLINUX_BTF_PATH && options?.remember === false) runningMemo = null;
  if (path === VMLINUX_BTF_PATH && options?.remember !== false) {
    // The running kernel's BTF: its lookups are remembered for the next process of this boot.
    const layout = btfFileLayout(bytes, bytes.length);
    const memo = layout === undefined ? null : memoForLayout(layout);
    if (memo !== null) btf.useLookupMemo(memo);
  }
  kernelCache.set(path, btf);
  return btf;
}

/**
 * The running kernel's `loadKernelBtf().find(name, kind)`, without parsing its BTF when an earlier
 * process of this boot remembered the answer (see `btf/memo.ts`): the remembered record is read
 * from `/sys/kernel/btf/vmlinux` (a few bytes at its offset) and checked to be of that kind and
 * name. That saves the BTF's parse (~5 ms) for callers that only need ids, such as feature probes;
 * the first call that needs more parses it as usual.
 * @throws BtfError BTF_NOT_FOUND when the kernel has no BTF, or a parse error
 */
export function findKernelType(name: string, kind: BtfKindName): number | undefined {
  const parsed = kernelCache.get(VMLINUX_BTF_PATH);
  if (parsed === undefined) {
    const remembered = findRememberedKernelType(name, kind);
    if (remembered !== undefined) return remembered.id;
  }
  return (parsed ?? loadKernelBtf()).find(name, kind);
}

/**
 * {@link findKernelType}'s answer from the memo alone, checked on the file (`{ id: undefined }`: the
 * kernel has no such type); undefined when the memo cannot answer, and the BTF must be searched.
 * Never parses the BTF.
 */
export function findRememberedKernelType(name: string, kind: BtfKindName): { id: number | undefined } | undefined {
  const key = findMemoKey(name, kind);
  if (key === undefined || runningMemo === null) return undefined;
  return withRunningKernelMemo((memo, fd, layout) => {
    const answer = memo.rememberedAt(key.key);
    if (answer === undefined) return undefined;
    // An empty answer cannot be checked, before or after the parse: the memo's key vouches for it.
    if (answer.ids.length === 0) return { id: undefined };
    if (answer.ids.length !== 1) return undefined;
    if (recordIs(fd, layout, answer.at[0], key.kind, name)) return { id: answer.ids[0] };
    // Searched again after the parse, and remembered with the record's right offset.
    memo.refuse(key.key);
    return undefined;
  });
}

/**
 * The running kernel's memo (see `btf/memo.ts`), made from its BTF's header when this process has
 * not parsed the BTF; undefined when nothing is remembered (no cache directory, `TSBPF_CACHE_DIR=`)
 * or the kernel has no BTF. For loads that remember CO-RE outcomes.
 */
export function runningKernelMemo(): KernelBtfLookupMemo | undefined {
  if (runningMemo !== undefined) return runningMemo ?? undefined;
  return withRunningKernelMemo((memo) => memo);
}

/**
 * `use(memo, fd, layout)` with `/sys/kernel/btf/vmlinux` open at `fd` (closed after), its header's
 * layout and the running kernel's memo; undefined when the file or the memo is not there, or on
 * any error.
 */
function withRunningKernelMemo<T>(use: (memo: KernelBtfLookupMemo, fd: number, layout: BtfFileLayout) => T | undefined): T | undefined {
  let fd: number;
  try {
    fd = openSync(VMLINUX_BTF_PATH, 'r');
  } catch {
    return undefined;
  }
  try {
    const header = new Uint8Array(BTF_HEADER_BYTES);
    if (readSync(fd, header, 0, BTF_HEADER_BYTES, 0) !== BTF_HEADER_BYTES) return undefined;
    const layout = btfFileLayout(header, fstatSync(fd).size);
    const memo = layout === undefined ? null : memoForLayout(layout);
    return layout === undefined || memo === null ? undefined : use(memo, fd, layout);
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/** Is the type record at byte `offset` of `layout`'s type section of kind number `kind` and named `name`? */
function recordIs(fd: number, layout: BtfFileLayout, offset: number, kind: number, name: string): boolean {
  const record = new Uint8Array(8);
  if (offset + 12 > layout.typeBytes || readSync(fd, record, 0, 8, layout.typeStart + offset) !== 8) return false;
  const v = new DataView(record.buffer);
  const nameOff = v.getUint32(0, true);
  if (((v.getUint32(4, true) >>> 24) & 0x1f) !== kind) return false;
  const want = Buffer.from(name, 'utf8');
  if (nameOff + want.length + 1 > layout.strBytes) return false;
  const got = Buffer.alloc(want.length + 1);
  if (readSync(fd, got, 0, got.length, layout.strStart + nameOff) !== got.length) return false;
  return got[want.length] === 0 && got.subarray(0, want.length).equals(want);
}

/**
 * How the running kernel's BTF lookups of this process were served by the memo of earlier
 * processes of this boot (see `btf/memo.ts`); undefined before the first lookup of the kernel's
 * BTF ({@link loadKernelBtf}, {@link findKernelType}), or when it remembers nothing
 * (`TSBPF_CACHE_DIR=`, no cache directory, or loaded with `remember: false`).
 */
export function kernelBtfMemoStats(): LookupMemoStats | undefined {
  const memo = kernelCache.get(VMLINUX_BTF_PATH)?.lookupMemo ?? runningMemo ?? undefined;
  return memo instanceof KernelBtfLookupMemo ? memo.stats : undefined;
}

/** Whether this process has parsed the running kernel's BTF (tests of {@link findKernelType}). */
export function kernelBtfParsed(): boolean {
  return kernelCache.has(VMLINUX_BTF_PATH);
}

/**
 * The split BTF of a loaded kernel module (`/sys/kernel/btf/<name>`), over the running kernel's
 * vmlinux BTF. Cached per module.
 * @throws BtfError BTF_NOT_FOUND
 */
export function loadModuleBtf(name: string): Btf {
  if (name === '' || name === 'vmlinux' || name.includes('/') || name === '.' || name === '..') {
    throw new BtfError('BTF_NOT_FOUND', `${JSON.stringify(name)} is not a module name`, { source: KERNEL_BTF_DIR });
  }
  const cached = moduleCache.get(name);
  if (cached) return cached;
  const path = join(KERNEL_BTF_DIR, name);
  const base = loadKernelBtf();
  const btf = Btf.parse(readOrThrow(path, `BTF of module ${name}`), { source: path, base });
  moduleCache.set(name, btf);
  return btf;
}

/** Names of the loaded modules that expose BTF (every file under /sys/kernel/btf but vmlinux). */
export function listModuleBtf(): string[] {
  try {
    return readdirSync(KERNEL_BTF_DIR)
      .filter((n) => n !== 'vmlinux')
      .sort();
  } catch {
    return [];
  }
}

/** Forget cached kernel and module BTF (tests, or after modules were reloaded). */
export function clearKernelBtfCache(): void {
  kernelCache.clear();
  moduleCache.clear();
  runningMemo = undefined;
}

/** Options of {@link KernelBtfTargets}. */
export interface KernelBtfTargetsOptions {
  /** Called once for a module whose BTF cannot be read or parsed; that module is then skipped. */
  onError?: (module: string, error: Error) => void;
  /** Called with the milliseconds each module's read and parse took (load timings). */
  onParse?: (ms: number) => void;
}

/**
 * The running kernel's BTF as lookups see it: vmlinux first, then the split BTF of each loaded
 * module, in name order. A module's BTF is read and parsed only when a lookup gets past vmlinux (a
 * CO-RE candidate vmlinux lacks, an attach target outside it), and at most once per process
 * (through {@link loadModuleBtf}'s cache). A module that fails is reported once and skipped.
 */
export class KernelBtfTargets implements LazyCoreTargets {
  /** The kernel's base BTF. */
  readonly vmlinux: Btf;
  /** The modules whose BTF may be searched, in search order. */
  readonly moduleNames: readonly string[];
  /** Per module: its BTF once parsed, null when that failed, undefined before. */
  private readonly parsed: (Btf | null | undefined)[];
  private readonly byBtf = new Map<Btf, string>();
  private readonly options: KernelBtfTargetsOptions;

  /**
   * @param vmlinux the base BTF
   * @param moduleNames the modules to search after it (e.g. {@link listModuleBtf}); none for an
   *   explicit kernel BTF file, whose modules are not the running kernel's
   */
  constructor(vmlinux: Btf, moduleNames: readonly string[], options: KernelBtfTargetsOptions = {}) {
    this.vmlinux = vmlinux;
    this.moduleNames = [...moduleNames];
    this.parsed = new Array<Btf | null | undefined>(moduleNames.length);
    this.options = options;
  }

  /** The modules' BTFs in order, each parsed when the iteration reaches it. */
  *modules(): Generator<Btf, void, undefined> {
    for (let i = 0; i < this.moduleNames.length; i++) {
      const btf = this.module(i);
      if (btf !== undefined) yield btf;
    }
  }

  /** vmlinux, then {@link modules}. */
  *[Symbol.iterator](): Generator<Btf, void, undefined> {
    yield this.vmlinux;
    yield* this.modules();
  }

  /** The module a BTF yielded by {@link modules} belongs to; undefined for vmlinux. */
  moduleName(btf: Btf): string | undefined {
    return this.byBtf.get(btf);
  }

  /** How many modules' BTFs have been read so far (successfully or not). */
  get modulesRead(): number {
    let n = 0;
    for (let i = 0; i < this.parsed.length; i++) if (this.parsed[i] !== undefined) n++;
    return n;
  }

  private module(i: number): Btf | undefined {
    const known = this.parsed[i];
    if (known !== undefined) return known ?? undefined;
    const name = this.moduleNames[i];
    const t0 = nowMs();
    let btf: Btf | null;
    try {
      btf = loadModuleBtf(name);
      this.byBtf.set(btf, name);
    } catch (err) {
      btf = null;
      this.options.onError?.(name, err instanceof Error ? err : new Error(String(err)));
    }
    this.parsed[i] = btf;
    this.options.onParse?.(nowMs() - t0);
    return btf ?? undefined;
  }
}
