/**
 * The running kernel's BTF (and its modules' split BTF), read once per process and shared.
 * Reading is a single readFileSync; parsing only frames records (see btf.ts), so the first
 * `loadKernelBtf()` costs a few milliseconds.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ElfFile } from '../elf/index.js';
import { Btf } from './btf.js';
import { BtfError } from './error.js';

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

/**
 * The kernel's BTF: `/sys/kernel/btf/vmlinux`, or `options.path` (raw BTF or an ELF vmlinux with
 * `.BTF`, e.g. from BTFHub). Cached per path for the life of the process.
 * @throws BtfError BTF_NOT_FOUND when the file cannot be read, or a parse error
 */
export function loadKernelBtf(options?: { path?: string }): Btf {
  const path = options?.path ?? VMLINUX_BTF_PATH;
  const cached = kernelCache.get(path);
  if (cached) return cached;
  const btf = parseBtfFile(readOrThrow(path, 'kernel BTF'), path);
  kernelCache.set(path, btf);
  return btf;
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
