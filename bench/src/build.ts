/**
 * What the benchmarks need besides tsbpf: the libbpf peers (bench/peers/*.c) built with the system
 * compiler against every libbpf we can get, and the BPF objects (bench/bpf/*.bpf.c: the drain
 * producer, the bpf(2) kernel-time tracer) built with clang-19. Everything goes to bench/.build/ (gitignored).
 *
 * libbpf versions: the system's libbpf-dev (shared), plus static archives of newer Debian
 * packages fetched with `apt-get download` through a private sources list and state directory
 * (the system's apt configuration is never touched) and unpacked with `dpkg-deb -x`.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** bench/ */
export const BENCH_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** The repository root. */
export const REPO_ROOT = resolve(BENCH_ROOT, '..');
/** bench/.build/ */
export const BUILD_DIR = join(BENCH_ROOT, '.build');
/** The gadget object every cold-start figure uses (the variant that attaches on this kernel). */
export const GADGET_OBJECT = join(REPO_ROOT, 'bpf/gadgets/trace_capabilities_tp.bpf.o');
/** The compiled producer object of the drain benchmarks. */
export const PRODUCER_OBJECT = join(BUILD_DIR, 'ringbuf_bench.bpf.o');
/** The compiled bpf(2) kernel-time tracer (bench/bpf/syscall_time.bpf.c). */
export const SYSCALL_TIMER_OBJECT = join(BUILD_DIR, 'syscall_time.bpf.o');

const PEERS = ['btf', 'gadget', 'drain', 'maps', 'e2e'] as const;
/** A peer program. */
export type PeerName = (typeof PEERS)[number];

/** One libbpf the peers were built against. */
export interface Libbpf {
  /** Short id used in paths: `system`, `1.4.6`, `1.7.0`. */
  id: string;
  /** Debian package version. */
  debVersion: string;
  /** Where it came from and how it is linked. */
  origin: string;
  /** Directory of its peer binaries. */
  binDir: string;
  /** Version string the library reports (filled by the first peer run). */
  reported?: string;
}

/** Log sink of the build steps. */
export type Log = (msg: string) => void;

function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function newer(src: readonly string[], out: string): boolean {
  if (!existsSync(out)) return true;
  const t = statSync(out).mtimeMs;
  return src.some((s) => statSync(s).mtimeMs > t);
}

/** The Debian mirror the system uses (first `URIs:`/`deb` line of /etc/apt/sources.list*). */
function systemMirror(): string {
  const files = ['/etc/apt/sources.list'];
  try {
    for (const f of readdirSync('/etc/apt/sources.list.d')) files.push(join('/etc/apt/sources.list.d', f));
  } catch {
    // no sources.list.d
  }
  for (const f of files) {
    let text: string;
    try {
      text = readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      const m = /^URIs:\s*(\S+debian)\s*$/.exec(line) ?? /^deb\s+(?:\[[^\]]*\]\s+)?(\S+debian)\s/.exec(line);
      if (m) return m[1];
    }
  }
  return 'http://deb.debian.org/debian';
}

/**
 * Fetch libbpf-dev from bookworm-backports and sid into bench/.build/libbpf/<version>/ unless already
 * there. Returns a reason when nothing could be fetched.
 */
export function fetchNewerLibbpf(log: Log): string | undefined {
  if (!have('apt-get') || !have('dpkg-deb')) return 'apt-get/dpkg-deb not available';
  const root = join(BUILD_DIR, 'apt');
  for (const d of ['state/lists/partial', 'cache/archives/partial', 'etc', 'debs']) mkdirSync(join(root, d), { recursive: true });
  const mirror = systemMirror();
  const key = '/usr/share/keyrings/debian-archive-keyring.gpg';
  const signed = existsSync(key) ? `[signed-by=${key}] ` : '';
  writeFileSync(join(root, 'etc/sources.list'), `deb ${signed}${mirror} sid main\ndeb ${signed}${mirror} bookworm-backports main\n`);
  if (!existsSync(join(root, 'state/status'))) writeFileSync(join(root, 'state/status'), '');
  const opts = [
    `-o`, `Dir::Etc::SourceList=${join(root, 'etc/sources.list')}`,
    `-o`, `Dir::Etc::SourceParts=/dev/null`,
    `-o`, `Dir::State=${join(root, 'state')}`,
    `-o`, `Dir::State::status=${join(root, 'state/status')}`,
    `-o`, `Dir::Cache=${join(root, 'cache')}`,
    `-o`, `Debug::NoLocking=1`,
    `-o`, `APT::Sandbox::User=root`,
    `-o`, `Acquire::Languages=none`,
  ];
  try {
    log(`fetching libbpf-dev package lists (sid, bookworm-backports) from ${mirror} into a private apt state`);
    execFileSync('apt-get', [...opts, 'update'], { stdio: 'ignore', timeout: 180_000 });
    const madison = execFileSync('apt-cache', [...opts, 'madison', 'libbpf-dev'], { encoding: 'utf8' });
    const versions = [...new Set(madison.split('\n').map((l) => l.split('|')[1]?.trim()).filter((v): v is string => !!v))];
    const system = installedLibbpfVersion();
    for (const v of versions) {
      if (v === system) continue;
      const dir = join(BUILD_DIR, 'libbpf', debShort(v));
      if (existsSync(join(dir, 'usr/lib/x86_64-linux-gnu/libbpf.a'))) continue;
      execFileSync('apt-get', [...opts, 'download', `libbpf-dev=${v}`], { cwd: join(root, 'debs'), stdio: 'ignore', timeout: 180_000 });
      const deb = readdirSync(join(root, 'debs')).find((f) => f.startsWith('libbpf-dev_') && f.includes(`${debShort(v)}-`));
      const debPath = deb ? join(root, 'debs', deb) : undefined;
      if (!debPath) throw new Error(`apt-get download libbpf-dev=${v} left no .deb`);
      mkdirSync(dir, { recursive: true });
      execFileSync('dpkg-deb', ['-x', debPath, dir]);
      writeFileSync(join(dir, 'DEB_VERSION'), v + '\n');
      log(`libbpf-dev ${v} unpacked into ${dir}`);
    }
    return undefined;
  } catch (err) {
    return `could not fetch newer libbpf-dev packages: ${(err as Error).message.split('\n')[0]}`;
  }
}

/** `1:1.7.0-1` → `1.7.0`. */
function debShort(v: string): string {
  return v.replace(/^\d+:/, '').replace(/-.*$/, '');
}

function installedLibbpfVersion(): string | undefined {
  try {
    return execFileSync('dpkg-query', ['-W', '-f=${Version}', 'libbpf-dev'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Why the libbpf peers cannot be built, or undefined when they can (system libbpf-dev and cc present). */
export function peerUnavailableReason(): string | undefined {
  if (!have('cc')) return 'no C compiler (cc) on PATH';
  if (!existsSync('/usr/include/bpf/libbpf.h')) return 'libbpf-dev is not installed (/usr/include/bpf/libbpf.h missing): apt-get install libbpf-dev';
  if (!existsSync('/usr/include/gelf.h')) return 'libelf-dev is not installed';
  return undefined;
}

function compile(lib: Libbpf, name: PeerName, extra: { include?: string; archive?: string }, log: Log): void {
  const src = join(BENCH_ROOT, 'peers', `${name}.c`);
  const out = join(lib.binDir, name);
  const deps = [src, join(BENCH_ROOT, 'peers/common.h'), join(BENCH_ROOT, 'peers/consume.h')];
  if (!newer(deps, out)) return;
  mkdirSync(lib.binDir, { recursive: true });
  const args = ['-O2', '-Wall', '-o', out];
  if (extra.include) args.push('-I', extra.include);
  args.push(src);
  if (extra.archive) args.push(join(BENCH_ROOT, 'peers/isoc23_shim.c'), extra.archive, '-lelf', '-lz');
  else args.push('-lbpf', '-lelf', '-lz');
  log(`cc ${args.join(' ')}`);
  execFileSync('cc', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/**
 * Build every peer against the system libbpf and every fetched one. Returns them oldest first;
 * a fetched libbpf whose build fails is left out and reported in `problems`.
 */
export function buildPeers(log: Log): { libs: Libbpf[]; problems: string[] } {
  const libs: Libbpf[] = [];
  const problems: string[] = [];
  const sysVer = installedLibbpfVersion() ?? 'unknown';
  const system: Libbpf = { id: 'system', debVersion: sysVer, origin: `Debian libbpf-dev ${sysVer} (system, shared -lbpf)`, binDir: join(BUILD_DIR, 'peers/system') };
  for (const p of PEERS) compile(system, p, {}, log);
  libs.push(system);
  const root = join(BUILD_DIR, 'libbpf');
  const fetched = existsSync(root) ? readdirSync(root) : [];
  for (const id of fetched.sort(compareVersions)) {
    const dir = join(root, id);
    const archive = join(dir, 'usr/lib/x86_64-linux-gnu/libbpf.a');
    if (!existsSync(archive)) continue;
    const deb = existsSync(join(dir, 'DEB_VERSION')) ? readFileSync(join(dir, 'DEB_VERSION'), 'utf8').trim() : id;
    const lib: Libbpf = {
      id,
      debVersion: deb,
      origin: `Debian libbpf-dev ${deb} (fetched, static libbpf.a${needsShim(archive) ? ' + __isoc23_* shim' : ''})`,
      binDir: join(BUILD_DIR, 'peers', id),
    };
    try {
      for (const p of PEERS) compile(lib, p, { include: join(dir, 'usr/include'), archive }, log);
      libs.push(lib);
    } catch (err) {
      problems.push(`libbpf ${deb}: build failed: ${String((err as { stderr?: unknown }).stderr ?? err).slice(0, 400)}`);
    }
  }
  libs.sort((a, b) => compareVersions(debShort(a.debVersion), debShort(b.debVersion)));
  return { libs, problems };
}

function needsShim(archive: string): boolean {
  try {
    return execFileSync('nm', ['-u', archive], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 << 20 }).includes('__isoc23_');
  } catch {
    return true;
  }
}

function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.-]/).map((x) => Number.parseInt(x, 10) || 0);
  const pb = b.split(/[.-]/).map((x) => Number.parseInt(x, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d) return d;
  }
  return 0;
}

/** The end-to-end benchmark's load generator (bench/peers/hammer.c: no libbpf). */
export const HAMMER = join(BUILD_DIR, 'hammer');

/** Build {@link HAMMER} with the system compiler; returns a reason when it cannot. */
export function buildHammer(log: Log): string | undefined {
  if (!have('cc')) return 'no C compiler (cc) on PATH: the end-to-end benchmark needs it to build bench/peers/hammer.c';
  const src = join(BENCH_ROOT, 'peers/hammer.c');
  if (!newer([src], HAMMER)) return undefined;
  mkdirSync(BUILD_DIR, { recursive: true });
  const args = ['-O2', '-Wall', '-o', HAMMER, src];
  log(`cc ${args.join(' ')}`);
  try {
    execFileSync('cc', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    return `cc failed: ${String((err as { stderr?: unknown }).stderr ?? err).slice(0, 400)}`;
  }
  return undefined;
}

/** Path of a peer binary built against `lib`. */
export function peerPath(lib: Libbpf, name: PeerName): string {
  return join(lib.binDir, name);
}

/**
 * Build `bench/bpf/<name>.bpf.c` into `out` with clang-19 (unless up to date); returns a reason when
 * it cannot (`purpose`: who needs it), prefixed `failed:` when clang is there but the build fails.
 */
function buildBpfObject(name: string, out: string, purpose: string, log: Log): string | undefined {
  const clang = process.env.CLANG ?? 'clang-19';
  if (!have(clang)) return `${clang} not found (apt-get install clang-19): ${purpose} to build bench/bpf/${name}.bpf.c`;
  const src = join(BENCH_ROOT, `bpf/${name}.bpf.c`);
  if (!newer([src], out)) return undefined;
  mkdirSync(BUILD_DIR, { recursive: true });
  const args = ['-O2', '-g', '-target', 'bpf', '-D__TARGET_ARCH_x86', '-I', join(REPO_ROOT, 'bpf/include'), '-Wall', '-c', src, '-o', out];
  log(`${clang} ${args.join(' ')}`);
  try {
    execFileSync(clang, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    // A source that no longer compiles is a defect, not a missing tool: the smoke test fails on it.
    return `failed: ${clang} failed: ${String((err as { stderr?: unknown }).stderr ?? err).slice(0, 400)}`;
  }
  return undefined;
}

/** Build the drain producer object with clang-19; returns a reason when it cannot. */
export function buildProducer(log: Log): string | undefined {
  return buildBpfObject('ringbuf_bench', PRODUCER_OBJECT, 'the ring/perf drain benchmarks need it', log);
}

/** Build the bpf(2) tracer (see ./ktime.ts) with clang-19; returns a reason when it cannot. */
export function buildSyscallTimer(log: Log): string | undefined {
  if (process.arch !== 'x64') return `the bpf(2) tracer is written for x86_64 (this is ${process.arch})`;
  return buildBpfObject('syscall_time', SYSCALL_TIMER_OBJECT, 'the kernel-time rows of the maps and gadget benchmarks need it', log);
}

/**
 * The code cache directory of the benchmarks' tsbpf processes (`TSBPF_CACHE_DIR`): the library
 * entry's cache (workers) and the CLI's, kept out of the user's ~/.cache.
 */
export const CODE_CACHE_DIR = join(BUILD_DIR, 'v8cache');

/** The environment of a tsbpf process that runs without its cache directory (no code cache, no remembered kernel-BTF lookups), as a first run does. */
export function withoutCodeCache(): NodeJS.ProcessEnv {
  return { ...process.env, TSBPF_CACHE_DIR: '' };
}

/** Environment variable through which workers get the loader snapshot's entry point. */
export const LOADER_ENV = 'TSBPF_BENCH_LOADER';

/**
 * Copy packages/loader/dist to bench/.build/loader/ and return its index.js. Workers import this
 * copy, so a rebuild of the loader while the benchmarks run (tsup cleans dist/ first) cannot
 * break them, and every figure of one run measures the same build. `koffi` still resolves from
 * the workspace node_modules, and bench/package.json makes the copy ESM.
 */
export function snapshotLoader(): string {
  const src = join(REPO_ROOT, 'packages/loader/dist');
  if (!existsSync(join(src, 'index.js'))) throw new Error(`${src}/index.js missing: build the loader first (npx turbo run build)`);
  const dst = join(BUILD_DIR, 'loader');
  rmSync(dst, { recursive: true, force: true });
  cpSync(src, dst, { recursive: true, filter: (p) => !p.endsWith('.map') && !p.endsWith('.d.ts') });
  if (!existsSync(join(dst, 'index.js'))) throw new Error(`copying ${src} left no index.js (a concurrent rebuild?)`);
  return join(dst, 'index.js');
}
