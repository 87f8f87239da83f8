/**
 * The running kernel's BTF (and its modules' split BTF), read once per process and shared.
 * vmlinux BTF is mapped read-only where the kernel allows it (6.16+), like libbpf does: sysfs hands
 * out at most a page per read(2), so reading 5 MB costs ~1300 syscalls. Parsing only frames records
 * (see btf.ts), so the first `loadKernelBtf()` costs a few milliseconds.
 */
import { closeSync, fstatSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultCacheDir } from '../cachedir.js';
import { ElfFile } from '../elf/index.js';
import { MAP, PROT, mmapRaw, munmapRaw, viewAt } from '../sys/ffi.js';
import { Btf } from './btf.js';
import type { LazyCoreTargets } from './core/candidates.js';
import { BtfError } from './error.js';
import { KernelBtfLookupMemo, LOOKUP_MEMO_FILE, type LookupMemoStats } from './memo.js';
import { nowMs } from '../clock.js';

/** Directory of the kernel's BTF files. */
export const KERNEL_BTF_DIR = '/sys/kernel/btf';
/** The kernel's own (base) BTF. */
export const VMLINUX_BTF_PATH = `${KERNEL_BTF_DIR}/vmlinux`;

const kernelCache = new Map<string, Btf>();
const moduleCache = new Map<string, Btf>();

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
   * `btf/memo.ts`). Applies when this call parses; `TSBPF_CACHE_DIR=` (empty) turns it off too.
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
  if (path === VMLINUX_BTF_PATH && options?.remember !== false) {
    // The running kernel's BTF: its lookups are remembered for the next process of this boot.
    const dir = defaultCacheDir();
    if (dir !== undefined) {
      btf.useLookupMemo(new KernelBtfLookupMemo(join(dir, LOOKUP_MEMO_FILE), { bytes: bytes.length, types: btf.typeCount, strings: btf.stringsLength }));
    }
  }
  kernelCache.set(path, btf);
  return btf;
}

/**
 * How the running kernel's BTF lookups of this process were served by the memo of earlier
 * processes of this boot (see `btf/memo.ts`); undefined when the kernel BTF has not been loaded, or
 * remembers nothing (`TSBPF_CACHE_DIR=`, no cache directory, or loaded with `remember: false`).
 */
export function kernelBtfMemoStats(): LookupMemoStats | undefined {
  const memo = kernelCache.get(VMLINUX_BTF_PATH)?.lookupMemo;
  return memo instanceof KernelBtfLookupMemo ? memo.stats : undefined;
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
