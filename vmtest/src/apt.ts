/**
 * Debian kernels through apt with a private state: its own sources list, lists, cache and an empty
 * dpkg status, so the system's apt configuration and state are never touched. The mirror is taken
 * from the system's own sources; signatures (InRelease) and .deb checksums are checked by apt, and
 * the .deb SHA256 is checked again here against the Packages index.
 *
 * @packageDocumentation
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { KernelEntry } from './config.js';

const execFileP = promisify(execFile);

/** apt could not be set up or run, a package is missing, or a checksum did not match. */
export class AptError extends Error {
  /** Stable code for callers that branch on the kind of failure. */
  readonly code = 'VMTEST_APT';
  constructor(message: string) {
    super(message);
    this.name = 'AptError';
  }
}

/** One `deb` source: where packages come from and which key signs them. */
export interface AptSource {
  readonly uri: string;
  readonly suites: readonly string[];
  readonly components: readonly string[];
  /** Keyring file from `signed-by`, when the system names one. */
  readonly signedBy?: string;
}

/** Parses one-line `sources.list` entries (`deb [opts] uri suite comp...`); `deb-src` lines are skipped. */
export function parseOneLineSources(text: string): AptSource[] {
  const out: AptSource[] = [];
  for (const rawLine of text.split('\n')) {
    const line = rawLine.replace(/#.*/, '').trim();
    if (!line.startsWith('deb ') && !line.startsWith('deb\t')) continue;
    let rest = line.slice(3).trim();
    let signedBy: string | undefined;
    if (rest.startsWith('[')) {
      const end = rest.indexOf(']');
      if (end < 0) continue;
      for (const opt of rest.slice(1, end).trim().split(/\s+/)) {
        const [k, v] = opt.split('=', 2);
        if (k === 'signed-by' && v !== undefined) signedBy = v;
      }
      rest = rest.slice(end + 1).trim();
    }
    const [uri, suite, ...components] = rest.split(/\s+/);
    if (uri === undefined || suite === undefined) continue;
    out.push({ uri, suites: [suite], components, ...(signedBy !== undefined ? { signedBy } : {}) });
  }
  return out;
}

/** Parses deb822 `.sources` stanzas; stanzas with `Enabled: no` or without type `deb` are skipped. */
export function parseDeb822Sources(text: string): AptSource[] {
  const out: AptSource[] = [];
  for (const stanza of parseStanzas(text.replace(/^#.*(\n|$)/gm, ''))) {
    const types = (stanza.get('Types') ?? '').split(/\s+/);
    if (!types.includes('deb') || stanza.get('Enabled')?.toLowerCase() === 'no') continue;
    const suites = (stanza.get('Suites') ?? '').split(/\s+/).filter(Boolean);
    const components = (stanza.get('Components') ?? '').split(/\s+/).filter(Boolean);
    const signedBy = stanza.get('Signed-By');
    for (const uri of (stanza.get('URIs') ?? '').split(/\s+/).filter(Boolean)) {
      // An inline key block (multi-line Signed-By) cannot be passed as a path: leave it to the trusted set.
      const keyPath = signedBy !== undefined && signedBy.startsWith('/') && !signedBy.includes('\n') ? signedBy : undefined;
      out.push({ uri, suites, components, ...(keyPath !== undefined ? { signedBy: keyPath } : {}) });
    }
  }
  return out;
}

/**
 * Picks the Debian archive mirror among the system's sources: a `deb` source carrying `main` for a
 * plain release suite (not -security/-updates/-backports), whose path ends in `/debian`.
 */
export function pickDebianMirror(sources: readonly AptSource[]): AptSource | undefined {
  const plain = (s: string): boolean => !/-(security|updates|backports|proposed-updates)$/.test(s) && !s.includes('/');
  return sources.find(
    (s) => s.components.includes('main') && s.suites.some(plain) && /\/debian\/?$/.test(s.uri) && !s.uri.includes('security'),
  );
}

/** Reads `/etc/apt/sources.list` and `sources.list.d/*.{list,sources}` and picks the Debian mirror. */
export function systemDebianMirror(etc = '/etc/apt'): AptSource {
  const override = process.env.VMTEST_MIRROR;
  if (override !== undefined && override !== '') return { uri: override, suites: [], components: ['main'] };
  const sources: AptSource[] = [];
  const main = join(etc, 'sources.list');
  if (existsSync(main)) sources.push(...parseOneLineSources(readFileSync(main, 'utf8')));
  const dir = join(etc, 'sources.list.d');
  if (existsSync(dir)) {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      if (name.endsWith('.list')) sources.push(...parseOneLineSources(readFileSync(path, 'utf8')));
      else if (name.endsWith('.sources')) sources.push(...parseDeb822Sources(readFileSync(path, 'utf8')));
    }
  }
  const mirror = pickDebianMirror(sources);
  if (mirror === undefined) {
    throw new AptError(
      `no Debian mirror (a "deb <uri>/debian <suite> main" source) in ${etc}/sources.list{,.d/*}; set VMTEST_MIRROR`,
    );
  }
  return mirror;
}

/** Splits an RFC-822-style control file (Packages index, deb822 sources) into field maps. */
export function parseStanzas(text: string): Map<string, string>[] {
  const out: Map<string, string>[] = [];
  let cur = new Map<string, string>();
  let lastKey: string | undefined;
  for (const line of text.split('\n')) {
    if (line.trim() === '') {
      if (cur.size > 0) out.push(cur);
      cur = new Map();
      lastKey = undefined;
      continue;
    }
    if ((line.startsWith(' ') || line.startsWith('\t')) && lastKey !== undefined) {
      cur.set(lastKey, `${cur.get(lastKey) ?? ''}\n${line.trim()}`);
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    lastKey = line.slice(0, colon);
    cur.set(lastKey, line.slice(colon + 1).trim());
  }
  if (cur.size > 0) out.push(cur);
  return out;
}

/** The fields of one binary package that vmtest uses. */
export interface PackageRecord {
  readonly name: string;
  readonly version: string;
  readonly filename: string;
  readonly size: number;
  readonly sha256: string;
}

/** Parses a Packages index; stanzas lacking a name, version, file or SHA256 are dropped. */
export function parsePackagesIndex(text: string): PackageRecord[] {
  const out: PackageRecord[] = [];
  for (const s of parseStanzas(text)) {
    const name = s.get('Package');
    const version = s.get('Version');
    const filename = s.get('Filename');
    const sha256 = s.get('SHA256');
    if (name === undefined || version === undefined || filename === undefined || sha256 === undefined) continue;
    out.push({ name, version, filename, sha256, size: Number(s.get('Size') ?? '0') });
  }
  return out;
}

function orderChar(c: string | undefined): number {
  if (c === undefined) return 0;
  if (c === '~') return -1;
  if (/[A-Za-z]/.test(c)) return c.charCodeAt(0);
  return c.charCodeAt(0) + 256;
}

function compareFragment(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    // Non-digit prefix, compared with dpkg's ordering (~ first, letters before other characters).
    while ((i < a.length && !/\d/.test(a[i] ?? '')) || (j < b.length && !/\d/.test(b[j] ?? ''))) {
      const ca = i < a.length && !/\d/.test(a[i] ?? '') ? a[i] : undefined;
      const cb = j < b.length && !/\d/.test(b[j] ?? '') ? b[j] : undefined;
      const d = orderChar(ca) - orderChar(cb);
      if (d !== 0) return d;
      if (ca !== undefined) i++;
      if (cb !== undefined) j++;
    }
    let na = '';
    while (i < a.length && /\d/.test(a[i] ?? '')) na += a[i++];
    let nb = '';
    while (j < b.length && /\d/.test(b[j] ?? '')) nb += b[j++];
    const d = Number(na === '' ? '0' : na) - Number(nb === '' ? '0' : nb);
    if (d !== 0) return d;
  }
  return 0;
}

/** Compares Debian versions (`[epoch:]upstream[-revision]`) the way dpkg does; <0, 0 or >0. */
export function compareDebianVersions(a: string, b: string): number {
  const split = (v: string): [number, string, string] => {
    const colon = v.indexOf(':');
    const epoch = colon > 0 ? Number(v.slice(0, colon)) : 0;
    const rest = colon > 0 ? v.slice(colon + 1) : v;
    const dash = rest.lastIndexOf('-');
    return dash > 0 ? [epoch, rest.slice(0, dash), rest.slice(dash + 1)] : [epoch, rest, ''];
  };
  const [ea, ua, ra] = split(a);
  const [eb, ub, rb] = split(b);
  if (ea !== eb) return ea - eb;
  return compareFragment(ua, ub) || compareFragment(ra, rb);
}

/** Turns an ABI glob into an anchored regular expression; `*` matches one or more non-`-` characters. */
export function abiRegExp(glob: string): RegExp {
  const body = glob
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('[^-]+');
  return new RegExp(`^${body}$`);
}

/** The packages chosen for one kernel: the ABI, the release string and one record per template. */
export interface KernelSelection {
  readonly label: string;
  readonly suite: string;
  readonly abi: string;
  /** `uname -r` of the chosen kernel, e.g. `6.1.0-50-amd64`. */
  readonly release: string;
  readonly packages: readonly PackageRecord[];
}

function expand(template: string, abi: string, flavour: string): string {
  return template.replaceAll('{release}', `${abi}-${flavour}`).replaceAll('{abi}', abi);
}

/**
 * Chooses the newest ABI matching `entry.abi` for which every package template names a package
 * in `index`; within one name the highest version wins.
 */
export function selectKernelPackages(entry: KernelEntry, index: readonly PackageRecord[]): KernelSelection {
  const byName = new Map<string, PackageRecord>();
  for (const p of index) {
    const prev = byName.get(p.name);
    if (prev === undefined || compareDebianVersions(p.version, prev.version) > 0) byName.set(p.name, p);
  }
  const first = entry.packages[0];
  if (first === undefined) throw new AptError(`kernel ${entry.label}: no package templates`);
  // Candidate ABIs come from the first template: find names it could produce and read the ABI back.
  const marker = '\u0000';
  const [pre, post] = expand(first, marker, entry.flavour).split(marker);
  const abiRe = abiRegExp(entry.abi);
  const candidates = new Set<string>();
  for (const name of byName.keys()) {
    if (pre === undefined || post === undefined) break;
    if (!name.startsWith(pre) || !name.endsWith(post) || name.length <= pre.length + post.length) continue;
    const abi = name.slice(pre.length, name.length - post.length);
    if (abiRe.test(abi)) candidates.add(abi);
  }
  const complete = [...candidates].filter((abi) =>
    entry.packages.every((t) => byName.has(expand(t, abi, entry.flavour))),
  );
  complete.sort(compareDebianVersions);
  const abi = complete.at(-1);
  if (abi === undefined) {
    throw new AptError(
      `kernel ${entry.label}: no ABI matching ${entry.abi} with all of ${entry.packages.join(', ')} in ${entry.suite}`,
    );
  }
  const packages = entry.packages.map((t) => {
    const rec = byName.get(expand(t, abi, entry.flavour));
    if (rec === undefined) throw new AptError(`kernel ${entry.label}: ${expand(t, abi, entry.flavour)} vanished`);
    return rec;
  });
  return { label: entry.label, suite: entry.suite, abi, release: `${abi}-${entry.flavour}`, packages };
}

/** Hex SHA256 of a file, streamed. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** apt-get/apt-cache with a private state under `root`. */
export class PrivateApt {
  /** Folder holding the private `state/`, `cache/` and `etc/`. */
  readonly root: string;
  /** The Debian mirror (and keyring) taken from the system's sources. */
  readonly mirror: AptSource;
  /** Debian architecture of the indexes and packages. */
  readonly arch: string;

  constructor(root: string, mirror: AptSource, arch = 'amd64') {
    this.root = root;
    this.mirror = mirror;
    this.arch = arch;
  }

  /** The `-o` options that point apt at the private state and away from the system's sources. */
  options(): string[] {
    const r = this.root;
    return [
      `Dir::State=${r}/state`,
      `Dir::State::status=${r}/state/status`,
      `Dir::Cache=${r}/cache`,
      `Dir::Etc::SourceList=${r}/etc/sources.list`,
      `Dir::Etc::SourceParts=${r}/etc/sources.list.d`,
      `Dir::Etc::Preferences=${r}/etc/preferences`,
      `Dir::Etc::PreferencesParts=${r}/etc/preferences.d`,
      `APT::Architecture=${this.arch}`,
      'Acquire::Languages=none',
      // Plain index files, so the Packages index can be read directly (Docker images turn this on).
      'Acquire::GzipIndexes=false',
      'APT::Sandbox::User=root',
    ].flatMap((o) => ['-o', o]);
  }

  /** The sources list for `suites`, one line each. */
  sourcesList(suites: readonly string[]): string {
    const opts = [`arch=${this.arch}`];
    if (this.mirror.signedBy !== undefined) opts.push(`signed-by=${this.mirror.signedBy}`);
    return [...new Set(suites)]
      .sort()
      .map((s) => `deb [${opts.join(' ')}] ${this.mirror.uri} ${s} main\n`)
      .join('');
  }

  private prepare(suites: readonly string[]): void {
    for (const d of ['state/lists/partial', 'cache/archives/partial', 'etc/sources.list.d', 'etc/preferences.d']) {
      mkdirSync(join(this.root, d), { recursive: true });
    }
    if (!existsSync(join(this.root, 'state/status'))) writeFileSync(join(this.root, 'state/status'), '');
    writeFileSync(join(this.root, 'etc/sources.list'), this.sourcesList(suites));
  }

  /** True when the lists for every suite are already there. */
  hasLists(suites: readonly string[]): boolean {
    return suites.every((s) => this.packagesIndexPath(s) !== undefined);
  }

  /** `apt-get update` for `suites` (InRelease signatures are verified by apt). */
  async update(suites: readonly string[]): Promise<void> {
    // apt drops the lists of suites missing from the sources: keep every suite already fetched.
    const all = [...new Set([...suites, ...this.presentSuites()])].sort();
    this.prepare(all);
    suites = all;
    try {
      await execFileP('apt-get', [...this.options(), '-q', 'update'], { maxBuffer: 64 << 20 });
    } catch (e) {
      const err = e as { stderr?: string; message: string };
      throw new AptError(`apt-get update (${this.mirror.uri} ${suites.join(' ')}) failed: ${err.stderr ?? err.message}`);
    }
  }

  /** Suites whose main Packages index is present in the private lists. */
  presentSuites(): string[] {
    const lists = join(this.root, 'state/lists');
    if (!existsSync(lists)) return [];
    const re = new RegExp(`_dists_([^_]+)_main_binary-${this.arch}_Packages$`);
    return readdirSync(lists)
      .map((n) => re.exec(n)?.[1])
      .filter((x): x is string => x !== undefined);
  }

  /** Path of the downloaded Packages index for `suite`'s main component, if present. */
  packagesIndexPath(suite: string): string | undefined {
    const lists = join(this.root, 'state/lists');
    if (!existsSync(lists)) return undefined;
    const tail = `_dists_${suite}_main_binary-${this.arch}_Packages`;
    const name = readdirSync(lists).find((n) => n.endsWith(tail));
    return name === undefined ? undefined : join(lists, name);
  }

  /** The parsed Packages index of `suite`. */
  packagesIndex(suite: string): PackageRecord[] {
    const path = this.packagesIndexPath(suite);
    if (path === undefined) throw new AptError(`no Packages index for ${suite} under ${this.root}; run vmtest fetch`);
    return parsePackagesIndex(readFileSync(path, 'utf8'));
  }

  /**
   * `apt-get download name=version` into `dest` (apt verifies the hash from the signed index), then
   * the SHA256 is checked again against the record. Returns the .deb paths in `records` order.
   */
  async download(records: readonly PackageRecord[], dest: string): Promise<string[]> {
    mkdirSync(dest, { recursive: true });
    const specs = records.map((r) => `${r.name}=${r.version}`);
    try {
      await execFileP('apt-get', [...this.options(), '-q', 'download', ...specs], { cwd: dest, maxBuffer: 64 << 20 });
    } catch (e) {
      const err = e as { stderr?: string; message: string };
      throw new AptError(`apt-get download ${specs.join(' ')} failed: ${err.stderr ?? err.message}`);
    }
    const paths: string[] = [];
    for (const r of records) {
      const base = r.filename.split('/').at(-1) ?? '';
      // apt names the file name_version_arch.deb with ':' escaped as %3a.
      const path = join(dest, base.replaceAll(':', '%3a'));
      const alt = join(dest, base);
      const found = existsSync(path) ? path : existsSync(alt) ? alt : undefined;
      if (found === undefined) throw new AptError(`apt-get download did not produce ${base} in ${dest}`);
      const sum = await sha256File(found);
      if (sum !== r.sha256) throw new AptError(`${base}: SHA256 ${sum} does not match the Packages index (${r.sha256})`);
      paths.push(found);
    }
    return paths;
  }
}
