/**
 * Getting matrix kernels into the cache: resolve the newest matching packages with the private apt
 * state, download and verify them, keep the image and needed modules under `.cache/<release>/`.
 *
 * @packageDocumentation
 */
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PrivateApt, selectKernelPackages, systemDebianMirror } from './apt.js';
import { cacheRoot, type KernelEntry } from './config.js';
import { prepareKernelTree, readManifest, type KernelManifest } from './extract.js';

/** Releases downloaded and extracted by this process, with what that cost. */
const fetchedHere = new Map<string, { bytes: number; ms: number }>();

/** Download size and download+extract time if this process fetched `release`, else undefined. */
export function fetchCost(release: string): { bytes: number; ms: number } | undefined {
  return fetchedHere.get(release);
}

/** A kernel ready to boot. */
export interface PreparedKernel {
  readonly entry: KernelEntry;
  readonly dir: string;
  readonly manifest: KernelManifest;
  /** True when it came from the cache without any apt work. */
  readonly cached: boolean;
}

function pointerPath(label: string): string {
  return join(cacheRoot(), `${label}.release`);
}

let aptSingleton: PrivateApt | undefined;
function privateApt(): PrivateApt {
  aptSingleton ??= new PrivateApt(join(cacheRoot(), 'apt'), systemDebianMirror());
  return aptSingleton;
}

/** Runs `apt-get update` once for the suites of `entries` (all at once: one signature check per suite). */
export async function refreshIndexes(entries: readonly KernelEntry[], log?: (s: string) => void): Promise<number> {
  const apt = privateApt();
  const suites = [...new Set(entries.map((e) => e.suite))].sort();
  const t0 = performance.now();
  log?.(`vmtest: apt-get update (${apt.mirror.uri}: ${suites.join(', ')})`);
  await apt.update(suites);
  return performance.now() - t0;
}

/**
 * Returns the cached kernel for `entry`, or resolves, downloads and prepares it. With `refresh`,
 * the indexes are assumed fresh (call {@link refreshIndexes} first) and the newest ABI is chosen
 * again even when an older one is cached.
 */
export async function ensureKernel(
  entry: KernelEntry,
  opts: { refresh?: boolean; log?: (s: string) => void } = {},
): Promise<PreparedKernel> {
  const log = opts.log ?? ((): void => undefined);
  const pointer = pointerPath(entry.label);
  if (opts.refresh !== true && existsSync(pointer)) {
    const release = readFileSync(pointer, 'utf8').trim();
    const dir = join(cacheRoot(), release);
    const manifest = readManifest(dir);
    if (manifest !== undefined && sameModules(manifest, entry)) {
      return { entry, dir, manifest, cached: true };
    }
  }
  const apt = privateApt();
  if (!apt.hasLists([entry.suite])) await refreshIndexes([entry], log);
  const selection = selectKernelPackages(entry, apt.packagesIndex(entry.suite));
  const dir = join(cacheRoot(), selection.release);
  const existing = readManifest(dir);
  if (existing !== undefined && existing.abi === selection.abi && sameModules(existing, entry)) {
    writeFileSync(pointer, `${selection.release}\n`);
    return { entry, dir, manifest: existing, cached: true };
  }
  const debDir = join(cacheRoot(), 'debs', selection.release);
  const bytes = selection.packages.reduce((n, p) => n + p.size, 0);
  log(
    `vmtest: [${entry.label}] downloading ${selection.packages.map((p) => `${p.name}=${p.version}`).join(' ')} (${(bytes / 1e6).toFixed(1)} MB)`,
  );
  const t0 = performance.now();
  const debs = await apt.download(selection.packages, debDir);
  const downloadMs = performance.now() - t0;
  const got = debs.reduce((n, p) => n + statSync(p).size, 0);
  log(`vmtest: [${entry.label}] downloaded ${(got / 1e6).toFixed(1)} MB in ${(downloadMs / 1000).toFixed(1)} s, extracting`);
  const manifest = await prepareKernelTree(entry, selection, debs, dir, { bytes: got, ms: downloadMs });
  rmSync(debDir, { recursive: true, force: true });
  pruneSuperseded(pointer, selection.release);
  fetchedHere.set(manifest.release, { bytes: manifest.downloadBytes, ms: manifest.downloadMs + manifest.extractMs });
  writeFileSync(pointer, `${selection.release}\n`);
  log(
    `vmtest: [${entry.label}] ${manifest.release} ready in ${(manifest.extractMs / 1000).toFixed(1)} s; modules: ${manifest.modules.join(' ') || '(none)'}`,
  );
  return { entry, dir, manifest, cached: false };
}

/**
 * A cached tree still fits when every required module is either in it or built in, and every
 * optional one was looked for when it was prepared (present, built in, or recorded as skipped):
 * an optional module added to kernels.json later makes the tree be prepared again.
 */
function sameModules(m: KernelManifest, entry: KernelEntry): boolean {
  const have = new Set([...m.modules, ...m.builtinModules]);
  const considered = new Set([...have, ...m.skippedModules]);
  const norm = (n: string): string => n.replaceAll('-', '_');
  return entry.modules.every((n) => have.has(norm(n))) && entry.optionalModules.every((n) => considered.has(norm(n)));
}

/** True when `entry` has a usable cached tree (no apt work needed to boot it). */
export function hasCachedKernel(entry: KernelEntry): boolean {
  const pointer = pointerPath(entry.label);
  if (!existsSync(pointer)) return false;
  const m = readManifest(join(cacheRoot(), readFileSync(pointer, 'utf8').trim()));
  return m !== undefined && sameModules(m, entry);
}

/** True when the private apt state already has `suite`'s index. */
export function privateAptHasLists(suite: string): boolean {
  return privateApt().hasLists([suite]);
}

/** Removes the release a label pointed to before, unless another label still uses it. */
function pruneSuperseded(pointer: string, next: string): void {
  if (!existsSync(pointer)) return;
  const prev = readFileSync(pointer, 'utf8').trim();
  if (prev === '' || prev === next || prev.includes('/') || prev.startsWith('.')) return;
  const root = cacheRoot();
  const users = readdirSync(root)
    .filter((n) => n.endsWith('.release') && join(root, n) !== pointer)
    .map((n) => readFileSync(join(root, n), 'utf8').trim());
  if (!users.includes(prev)) rmSync(join(root, prev), { recursive: true, force: true });
}
