/**
 * The guest's initramfs: a cpio "newc" archive written here in TypeScript holding a static busybox,
 * the 9p modules and an `/init` script that mounts the kernel file systems, mounts the host root
 * read-only over 9p, chroots into it and runs the command.
 *
 * @packageDocumentation
 */
import { existsSync, readFileSync } from 'node:fs';

/** One archive member. Paths are relative (no leading `/`); parents must come first. */
export type CpioEntry =
  | { readonly path: string; readonly type: 'dir'; readonly mode?: number }
  | { readonly path: string; readonly type: 'file'; readonly data: Uint8Array; readonly mode?: number }
  | { readonly path: string; readonly type: 'symlink'; readonly target: string }
  | { readonly path: string; readonly type: 'char'; readonly major: number; readonly minor: number; readonly mode?: number };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

const pad4 = (n: number): number => (4 - (n % 4)) % 4;

/** Writes entries as a cpio newc archive, ending with the `TRAILER!!!` member. */
export function writeCpio(entries: readonly CpioEntry[]): Uint8Array {
  const chunks: Uint8Array[] = [];
  const enc = new TextEncoder();
  let ino = 1;
  const put = (name: string, mode: number, data: Uint8Array, nlink: number, rdev: [number, number]): void => {
    const nameBytes = enc.encode(`${name}\0`);
    const fields = [ino++, mode, 0, 0, nlink, 0, data.byteLength, 0, 0, rdev[0], rdev[1], nameBytes.byteLength, 0];
    const header = `070701${fields.map((f) => f.toString(16).padStart(8, '0')).join('')}`;
    chunks.push(enc.encode(header), nameBytes, new Uint8Array(pad4(110 + nameBytes.byteLength)));
    chunks.push(data, new Uint8Array(pad4(data.byteLength)));
  };
  for (const e of entries) {
    const path = e.path.replace(/^\/+/, '');
    switch (e.type) {
      case 'dir':
        put(path, S_IFDIR | (e.mode ?? 0o755), new Uint8Array(0), 2, [0, 0]);
        break;
      case 'file':
        put(path, S_IFREG | (e.mode ?? 0o644), e.data, 1, [0, 0]);
        break;
      case 'symlink':
        put(path, S_IFLNK | 0o777, enc.encode(e.target), 1, [0, 0]);
        break;
      case 'char':
        put(path, S_IFCHR | (e.mode ?? 0o600), new Uint8Array(0), 1, [e.major, e.minor]);
        break;
    }
  }
  put('TRAILER!!!', 0, new Uint8Array(0), 1, [0, 0]);
  const total = chunks.reduce((n, c) => n + c.byteLength, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/** A member as read back from an archive (used to list and test initramfs contents). */
export interface CpioListing {
  readonly path: string;
  readonly type: 'dir' | 'file' | 'symlink' | 'char' | 'other';
  readonly mode: number;
  readonly size: number;
  readonly data: Uint8Array;
}

/** Reads a cpio newc archive up to its trailer. */
export function readCpio(archive: Uint8Array): CpioListing[] {
  const dec = new TextDecoder();
  const out: CpioListing[] = [];
  let at = 0;
  while (at + 110 <= archive.byteLength) {
    const header = dec.decode(archive.subarray(at, at + 110));
    if (!header.startsWith('070701')) throw new Error(`cpio: bad magic at offset ${at}`);
    const field = (i: number): number => parseInt(header.slice(6 + i * 8, 14 + i * 8), 16);
    const mode = field(1);
    const size = field(6);
    const nameSize = field(11);
    const nameStart = at + 110;
    const path = dec.decode(archive.subarray(nameStart, nameStart + nameSize - 1));
    const dataStart = nameStart + nameSize + pad4(110 + nameSize);
    if (path === 'TRAILER!!!') break;
    const data = archive.subarray(dataStart, dataStart + size);
    const fmt = mode & 0o170000;
    const type =
      fmt === S_IFDIR ? 'dir' : fmt === S_IFREG ? 'file' : fmt === S_IFLNK ? 'symlink' : fmt === S_IFCHR ? 'char' : 'other';
    out.push({ path, type, mode: mode & 0o7777, size, data });
    at = dataStart + size + pad4(size);
  }
  return out;
}

/** Quotes a string for a POSIX shell. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}

/** What the guest's `/init` does. */
export interface InitOptions {
  /** Modules under `/modules/<name>.ko`, in load order; failure to load one is fatal. */
  readonly modules: readonly string[];
  /** Modules loaded when possible; failure prints a warning. */
  readonly optionalModules?: readonly string[];
  /** The command's argv, run inside the host root. */
  readonly command: readonly string[];
  /** Working directory inside the host root (the repository path). */
  readonly cwd: string;
  /** Environment of the command (nothing else is inherited). */
  readonly env: Readonly<Record<string, string>>;
  /** Absolute host path of a writable 9p share (`mount_tag=results`), mounted at the same path. */
  readonly resultsDir?: string;
  /**
   * Host folders made writable in the guest by an overlay with a tmpfs upper layer: writes
   * (caches, coverage, build output) succeed and are discarded at power-off.
   */
  readonly overlays?: readonly string[];
}

/** Marker printed by the guest's init before anything else. */
export const INIT_MARKER = 'VMTEST-INIT';

/**
 * The `/init` script. It prints `VMTEST-INIT <uptime> <release>`, `VMTEST-START <uptime>` before the
 * command and `VMTEST-DONE <exit code>` after it, then powers off. Setup failures print
 * `VMTEST-INIT-ERROR <what>` and `VMTEST-DONE 125`.
 */
export function initScript(o: InitOptions): string {
  const q = shellQuote;
  const env = Object.entries(o.env)
    .filter(([k]) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(k))
    .map(([k, v]) => `${k}=${q(v)}`)
    .join(' ');
  const results =
    o.resultsDir === undefined
      ? ''
      : `mkdir -p "$R"${q(o.resultsDir)} 2>/dev/null; mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 results "$R"${q(o.resultsDir)} || fail "mount results share at ${o.resultsDir}"\n`;
  return `#!/bin/sh
# Generated by @tsbpf/vmtest: PID 1 of the guest.
/bin/busybox --install -s /bin
export PATH=/bin
say() { echo "VMTEST-$*"; }
halt_now() { sync; poweroff -f; sleep 2; echo o > /proc/sysrq-trigger; sleep 10; }
fail() { say "INIT-ERROR $*"; say "DONE 125"; halt_now; }
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
say "INIT $(cut -d' ' -f1 /proc/uptime) $(uname -r)"
for m in ${o.modules.map(q).join(' ')}; do
  insmod "/modules/$m.ko" || fail "insmod $m"
done
for m in ${(o.optionalModules ?? []).map(q).join(' ')}; do
  insmod "/modules/$m.ko" 2>/dev/null || say "WARN optional module $m not loaded"
done
# Loopback up: the tc checks send datagrams over lo.
ip link set lo up 2>/dev/null || say "WARN lo not up"
R=/mnt/root
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=loose,ro hostroot "$R" \\
  || mount -t 9p -o trans=virtio,version=9p2000.L,ro hostroot "$R" || fail "mount hostroot over 9p"
mount -t proc proc "$R/proc" || fail "mount proc"
mount -t sysfs sysfs "$R/sys" || fail "mount sysfs"
mount -t devtmpfs devtmpfs "$R/dev" || fail "mount devtmpfs"
mkdir -p "$R/dev/pts" "$R/dev/shm"
mount -t devpts devpts "$R/dev/pts"
mount -t tmpfs -o mode=1777 tmpfs "$R/dev/shm"
mount -t debugfs debugfs "$R/sys/kernel/debug" || say "WARN debugfs not mounted"
mount -t tracefs tracefs "$R/sys/kernel/tracing" 2>/dev/null || say "WARN tracefs not mounted"
mount -t bpf bpf "$R/sys/fs/bpf" || fail "mount bpffs"
mount -t securityfs securityfs "$R/sys/kernel/security" 2>/dev/null || say "WARN securityfs not mounted"
mount -t cgroup2 cgroup2 "$R/sys/fs/cgroup" 2>/dev/null || say "WARN cgroup2 not mounted"
if [ -f /kconfig ] && [ -d "$R/boot" ]; then
  # The loader reads /boot/config-$(uname -r) for kconfig externs; the host's /boot is for the host.
  mount -t tmpfs -o mode=755 tmpfs "$R/boot" && cp /kconfig "$R/boot/config-$(uname -r)" || say "WARN /boot/config not provided"
fi
# The project may live under /tmp (CI clones there): hold its folders aside with bind mounts
# while the scratch tmpfs goes over their parent, then put them back in place.
keep=0
for d in /tmp /run /var/tmp; do
  [ -d "$R$d" ] || continue
  held=""
  for p in ${[o.cwd, ...(o.overlays ?? [])].map(q).join(' ')}; do
    case "$p" in "$d"/*) keep=$((keep+1)); mkdir -p "/mnt/keep$keep" && mount -o bind "$R$p" "/mnt/keep$keep" || fail "hold $p"; held="$held $keep:$p" ;; esac
  done
  mount -t tmpfs -o mode=1777 tmpfs "$R$d" || fail "mount tmpfs on $d"
  for h in $held; do
    k=\${h%%:*}; p=\${h#*:}
    mkdir -p "$R$p" && mount -o bind "/mnt/keep$k" "$R$p" || fail "keep $p visible under the tmpfs on $d"
  done
done
n=0
for d in ${(o.overlays ?? []).map(q).join(' ')}; do
  n=$((n+1)); up="$R/run/vmtest/overlay$n"
  mkdir -p "$up/upper" "$up/work"
  mount -t overlay overlay -o "lowerdir=$R$d,upperdir=$up/upper,workdir=$up/work" "$R$d" || say "WARN $d stays read-only (no overlay)"
done
${results}mkdir -p "$R/run/vmtest" && cp /bin/busybox "$R/run/vmtest/busybox" || fail "copy busybox"
say "START $(cut -d' ' -f1 /proc/uptime)"
chroot "$R" /run/vmtest/busybox env -i ${env} \\
  /run/vmtest/busybox sh -c 'cd "$1" || exit 126; shift; exec "$@"' vmtest ${q(o.cwd)} ${o.command.map(q).join(' ')}
rc=$?
say "END $(cut -d' ' -f1 /proc/uptime)"
say "DONE $rc"
halt_now
`;
}

/** Where a static busybox is usually installed (Debian's busybox-static ships /bin/busybox). */
export const BUSYBOX_CANDIDATES: readonly string[] = ['/bin/busybox', '/usr/bin/busybox', '/usr/lib/busybox/busybox-static'];

/** True when the ELF at `path` has no program interpreter, i.e. is statically linked. */
export function isStaticElf(bytes: Uint8Array): boolean {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.byteLength < 64 || view.getUint32(0, false) !== 0x7f454c46 || bytes[4] !== 2) return false;
  const phoff = Number(view.getBigUint64(0x20, true));
  const phentsize = view.getUint16(0x36, true);
  const phnum = view.getUint16(0x38, true);
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    if (at + 4 > bytes.byteLength) return false;
    if (view.getUint32(at, true) === 3 /* PT_INTERP */) return false;
  }
  return true;
}

/** Path of a statically linked busybox on this machine, if any. */
export function findStaticBusybox(): string | undefined {
  return BUSYBOX_CANDIDATES.find((p) => existsSync(p) && isStaticElf(readFileSync(p)));
}

/** Builds the initramfs image: busybox, modules, device nodes, mount points and `/init`. */
export function buildInitramfs(opts: {
  busybox: Uint8Array;
  modules: readonly { name: string; data: Uint8Array }[];
  init: string;
  /** The kernel's config, shown in the guest as /boot/config-<release>. */
  kconfig?: Uint8Array;
}): Uint8Array {
  const entries: CpioEntry[] = [
    { path: 'bin', type: 'dir' },
    { path: 'bin/busybox', type: 'file', data: opts.busybox, mode: 0o755 },
    { path: 'bin/sh', type: 'symlink', target: 'busybox' },
    { path: 'dev', type: 'dir' },
    { path: 'dev/console', type: 'char', major: 5, minor: 1 },
    { path: 'dev/null', type: 'char', major: 1, minor: 3, mode: 0o666 },
    { path: 'proc', type: 'dir' },
    { path: 'sys', type: 'dir' },
    { path: 'tmp', type: 'dir', mode: 0o1777 },
    { path: 'mnt', type: 'dir' },
    { path: 'mnt/root', type: 'dir' },
    { path: 'modules', type: 'dir' },
    ...opts.modules.map((m): CpioEntry => ({ path: `modules/${m.name}.ko`, type: 'file', data: m.data })),
    ...(opts.kconfig !== undefined ? [{ path: 'kconfig', type: 'file', data: opts.kconfig } as const] : []),
    { path: 'init', type: 'file', data: new TextEncoder().encode(opts.init), mode: 0o755 },
  ];
  return writeCpio(entries);
}
