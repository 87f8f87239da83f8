/**
 * Unpacks kernel .debs and keeps only what a guest needs: the kernel image, the config, and the
 * modules (decompressed) required to mount the host root over 9p, in load order.
 *
 * @packageDocumentation
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { KernelEntry } from './config.js';
import type { KernelSelection } from './apt.js';
import {
  decompressModule,
  moduleInfoFromElf,
  moduleNameFromPath,
  parseModulesBuiltin,
  planModuleLoad,
  type ModuleLookup,
} from './modules.js';

const execFileP = promisify(execFile);

/** A .deb could not be unpacked, or lacks the kernel image. */
export class ExtractError extends Error {
  /** Stable code for callers that branch on the kind of failure. */
  readonly code = 'VMTEST_EXTRACT';
  constructor(message: string) {
    super(message);
    this.name = 'ExtractError';
  }
}

/** What `vmtest/.cache/<release>/kernel.json` records about a prepared kernel. */
export interface KernelManifest {
  readonly label: string;
  readonly suite: string;
  readonly abi: string;
  readonly release: string;
  readonly packages: readonly { name: string; version: string; size: number; sha256: string }[];
  /** Kernel image file name inside the release folder. */
  readonly vmlinuz: string;
  /** Uncompressed PVH-bootable ELF taken out of the image, when that worked (boots faster under TCG). */
  readonly vmlinux?: string;
  /** Modules (files `modules/<name>.ko`) in load order. */
  readonly modules: readonly string[];
  readonly builtinModules: readonly string[];
  readonly skippedModules: readonly string[];
  /** Bytes downloaded and the time the download and the extraction took. */
  readonly downloadBytes: number;
  readonly downloadMs: number;
  readonly extractMs: number;
  readonly preparedAt: string;
}

/**
 * Unpacks the file tree of a .deb into `dest`, limited to the tar `patterns` when given: with
 * `dpkg-deb` when it exists, otherwise with `ar` and `tar`.
 */
export async function extractDeb(deb: string, dest: string, patterns: readonly string[] = []): Promise<void> {
  mkdirSync(dest, { recursive: true });
  const wild = patterns.length > 0 ? ['--wildcards', ...patterns] : [];
  const sh = async (script: string, args: string[]): Promise<void> => {
    try {
      await execFileP('sh', ['-c', script, 'sh', ...args], { maxBuffer: 64 << 20 });
    } catch (e) {
      const err = e as { stderr?: string; message: string };
      // tar exits 2 when a wildcard matched nothing in this member; that is fine for multi-package kernels.
      const noise = /Not found in archive|Exiting with failure status due to previous errors/;
      const lines = (err.stderr ?? '').split('\n').filter((l) => l.trim() !== '');
      if (patterns.length > 0 && lines.length > 0 && lines.every((l) => noise.test(l))) return;
      throw new ExtractError(`unpacking ${deb} failed: ${err.stderr ?? err.message}`);
    }
  };
  if (await hasCommand('dpkg-deb')) {
    await sh('deb="$1"; dest="$2"; shift 2; dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$dest" "$@"', [deb, dest, ...wild]);
    return;
  }
  // ar + tar: data.tar.{xz,zst,gz} is the file tree; tar picks the decompressor from the name.
  const tmp = `${dest}.ar`;
  mkdirSync(tmp, { recursive: true });
  await sh('cd "$2" && ar x "$1"', [deb, tmp]);
  const data = readdirSync(tmp).find((n) => n.startsWith('data.tar'));
  if (data === undefined) throw new ExtractError(`${deb}: no data.tar member`);
  const flag = data.endsWith('.zst') ? '--zstd' : data.endsWith('.xz') ? '-J' : data.endsWith('.gz') ? '-z' : '';
  await sh(`f="$1"; dest="$2"; shift 2; tar ${flag} -x -f "$f" -C "$dest" "$@"`, [join(tmp, data), dest, ...wild]);
  rmSync(tmp, { recursive: true, force: true });
}

async function hasCommand(name: string): Promise<boolean> {
  try {
    await execFileP('sh', ['-c', `command -v ${name}`]);
    return true;
  } catch {
    return false;
  }
}

function walk(dir: string, out: string[] = []): string[] {
  for (const ent of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, ent.name);
    if (ent.isDirectory()) walk(p, out);
    else out.push(p);
  }
  return out;
}

/** Finds `lib/modules/<release>` or `usr/lib/modules/<release>` in an unpacked tree. */
export function findModulesDir(tree: string, release: string): string | undefined {
  return ['usr/lib/modules', 'lib/modules'].map((d) => join(tree, d, release)).find((d) => existsSync(d));
}

/** Finds the kernel image: `boot/vmlinuz-<release>` (≤ 6.12) or `<modules dir>/vmlinuz` (sid's split packages). */
export function findVmlinuz(tree: string, release: string): string | undefined {
  const candidates = [
    join(tree, 'boot', `vmlinuz-${release}`),
    join(tree, 'usr/lib/modules', release, 'vmlinuz'),
    join(tree, 'lib/modules', release, 'vmlinuz'),
  ];
  return candidates.find((p) => existsSync(p));
}

/** Finds the kernel config in an unpacked tree. */
export function findConfig(tree: string, release: string): string | undefined {
  const candidates = [
    join(tree, 'boot', `config-${release}`),
    join(tree, 'usr/lib/modules', release, 'config'),
    join(tree, 'lib/modules', release, 'config'),
  ];
  return candidates.find((p) => existsSync(p));
}

/** The tar patterns worth unpacking: image, config, module lists and `.ko` files. */
export const KERNEL_TAR_PATTERNS: readonly string[] = [
  './boot/vmlinuz-*',
  './boot/config-*',
  '*/modules/*/vmlinuz',
  '*/modules/*/config',
  '*/modules.builtin',
  '*.ko',
  '*.ko.xz',
  '*.ko.zst',
  '*.ko.gz',
];

/**
 * Unpacks `debs` into a scratch folder, then writes `<dest>/vmlinuz`, `<dest>/config`,
 * `<dest>/modules/<name>.ko` (decompressed, those `entry.modules` need) and `<dest>/kernel.json`.
 * The scratch folder is removed; `dest` is replaced atomically.
 */
export async function prepareKernelTree(
  entry: KernelEntry,
  selection: KernelSelection,
  debs: readonly string[],
  dest: string,
  download: { bytes: number; ms: number },
): Promise<KernelManifest> {
  const t0 = performance.now();
  const scratch = `${dest}.unpack`;
  const staging = `${dest}.staging`;
  rmSync(scratch, { recursive: true, force: true });
  rmSync(staging, { recursive: true, force: true });
  for (const deb of debs) await extractDeb(deb, scratch, KERNEL_TAR_PATTERNS);

  const release = selection.release;
  const vmlinuz = findVmlinuz(scratch, release);
  if (vmlinuz === undefined) throw new ExtractError(`kernel ${entry.label}: no vmlinuz for ${release} in ${debs.join(', ')}`);
  const modDir = findModulesDir(scratch, release);
  const files = modDir === undefined ? [] : walk(modDir).filter((p) => /\.ko(\.(xz|zst|gz))?$/.test(p));
  const byName = new Map(files.map((p) => [moduleNameFromPath(p), p]));
  const builtinPath = modDir === undefined ? undefined : join(modDir, 'modules.builtin');
  const builtin = builtinPath !== undefined && existsSync(builtinPath) ? parseModulesBuiltin(readFileSync(builtinPath, 'utf8')) : new Set<string>();
  const plain = new Map<string, Uint8Array>();
  const lookup = (name: string): ModuleLookup => {
    const path = byName.get(name);
    if (path === undefined) return builtin.has(name) ? 'builtin' : undefined;
    const elf = decompressModule(path, readFileSync(path));
    plain.set(name, elf);
    return moduleInfoFromElf(elf, name);
  };
  const plan = planModuleLoad(entry.modules, lookup, entry.optionalModules);

  mkdirSync(join(staging, 'modules'), { recursive: true });
  renameSync(vmlinuz, join(staging, 'vmlinuz'));
  const elf = vmlinuxFromBzImage(readFileSync(join(staging, 'vmlinuz')));
  if (elf !== undefined) writeFileSync(join(staging, 'vmlinux'), elf);
  const config = findConfig(scratch, release);
  if (config !== undefined) renameSync(config, join(staging, 'config'));
  for (const name of plan.order) {
    const elf = plain.get(name);
    if (elf === undefined) throw new ExtractError(`module ${name} was planned but not read`);
    writeFileSync(join(staging, 'modules', `${name}.ko`), elf);
  }
  const manifest: KernelManifest = {
    label: entry.label,
    suite: selection.suite,
    abi: selection.abi,
    release,
    packages: selection.packages.map((p) => ({ name: p.name, version: p.version, size: p.size, sha256: p.sha256 })),
    vmlinuz: 'vmlinuz',
    ...(elf !== undefined ? { vmlinux: 'vmlinux' } : {}),
    modules: plan.order,
    builtinModules: plan.builtin,
    skippedModules: plan.skipped,
    downloadBytes: download.bytes,
    downloadMs: Math.round(download.ms),
    extractMs: Math.round(performance.now() - t0),
    preparedAt: new Date().toISOString(),
  };
  writeFileSync(join(staging, 'kernel.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  rmSync(scratch, { recursive: true, force: true });
  rmSync(dest, { recursive: true, force: true });
  renameSync(staging, dest);
  return manifest;
}

/** Reads a prepared kernel's manifest, or undefined when the folder is incomplete. */
export function readManifest(dir: string): KernelManifest | undefined {
  const path = join(dir, 'kernel.json');
  if (!existsSync(path) || !existsSync(join(dir, 'vmlinuz'))) return undefined;
  try {
    const m = JSON.parse(readFileSync(path, 'utf8')) as KernelManifest;
    return m.modules.every((n) => existsSync(join(dir, 'modules', `${n}.ko`))) ? m : undefined;
  } catch {
    return undefined;
  }
}

/** Total size in bytes of the files under `dir`. */
export function treeSize(dir: string): number {
  return existsSync(dir) ? walk(dir).reduce((n, p) => n + statSync(p).size, 0) : 0;
}

/**
 * The uncompressed kernel ELF inside a bzImage, or undefined when it cannot be taken out. Booting
 * that ELF through its PVH entry skips the in-guest decompression, which under TCG costs 4–6 s for
 * xz-compressed kernels. The payload is located from the boot-protocol header (`setup_sects`,
 * `payload_offset`, `payload_length`); xz and zstd payloads end with a 4-byte size that is cut off.
 */
export function vmlinuxFromBzImage(bz: Uint8Array): Uint8Array | undefined {
  if (bz.byteLength < 0x250) return undefined;
  const view = new DataView(bz.buffer, bz.byteOffset, bz.byteLength);
  if (view.getUint32(0x202, true) !== 0x53726448 /* "HdrS" */ || view.getUint16(0x206, true) < 0x208) return undefined;
  const setupSects = bz[0x1f1] === 0 ? 4 : (bz[0x1f1] ?? 4);
  const start = (setupSects + 1) * 512 + view.getUint32(0x248, true);
  const length = view.getUint32(0x24c, true);
  if (start + length > bz.byteLength || length < 8) return undefined;
  const payload = bz.subarray(start, start + length - 4);
  const isXz = payload[0] === 0xfd && payload[1] === 0x37 && payload[2] === 0x7a && payload[3] === 0x58;
  const isZstd = payload[0] === 0x28 && payload[1] === 0xb5 && payload[2] === 0x2f && payload[3] === 0xfd;
  if (!isXz && !isZstd) return undefined;
  try {
    const elf = execFileSync(isXz ? 'xz' : 'zstd', ['-dc'], { input: payload, maxBuffer: 1 << 30, stdio: ['pipe', 'pipe', 'ignore'] });
    return hasPvhNote(elf) ? new Uint8Array(elf.buffer, elf.byteOffset, elf.byteLength) : undefined;
  } catch {
    return undefined;
  }
}

/** True when an ELF64 has the Xen `PHYS32_ENTRY` note that qemu needs to boot it as PVH. */
export function hasPvhNote(elf: Uint8Array): boolean {
  const view = new DataView(elf.buffer, elf.byteOffset, elf.byteLength);
  if (elf.byteLength < 64 || view.getUint32(0, false) !== 0x7f454c46 || elf[4] !== 2) return false;
  const phoff = Number(view.getBigUint64(0x20, true));
  const phentsize = view.getUint16(0x36, true);
  const phnum = view.getUint16(0x38, true);
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    if (ph + 56 > elf.byteLength || view.getUint32(ph, true) !== 4 /* PT_NOTE */) continue;
    let at = Number(view.getBigUint64(ph + 8, true));
    const end = at + Number(view.getBigUint64(ph + 32, true));
    while (at + 12 <= end && end <= elf.byteLength) {
      const namesz = view.getUint32(at, true);
      const descsz = view.getUint32(at + 4, true);
      const type = view.getUint32(at + 8, true);
      const name = new TextDecoder().decode(elf.subarray(at + 12, at + 12 + Math.max(0, namesz - 1)));
      if (name === 'Xen' && type === 18 /* XEN_ELFNOTE_PHYS32_ENTRY */) return true;
      at += 12 + ((namesz + 3) & ~3) + ((descsz + 3) & ~3);
    }
  }
  return false;
}
