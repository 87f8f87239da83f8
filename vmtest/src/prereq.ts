/**
 * Host prerequisites: qemu, a static busybox, dpkg-deb/tar, xz/zstd and apt-get. In CI as root they
 * are installed with apt-get; elsewhere the exact install command is printed.
 *
 * @packageDocumentation
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { findStaticBusybox } from './initramfs.js';

/** A missing host tool that vmtest could not (or was not allowed to) install. */
export class PrerequisiteError extends Error {
  /** Stable code for callers that branch on the kind of failure. */
  readonly code = 'VMTEST_PREREQ';
  constructor(message: string) {
    super(message);
    this.name = 'PrerequisiteError';
  }
}

/** One required tool and the Debian package that provides it. */
export interface Prerequisite {
  readonly what: string;
  readonly debianPackage: string;
  readonly present: () => boolean;
}

function onPath(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** Everything vmtest needs on the host. */
export const PREREQUISITES: readonly Prerequisite[] = [
  { what: 'qemu-system-x86_64', debianPackage: 'qemu-system-x86', present: () => onPath('qemu-system-x86_64') },
  { what: 'static busybox', debianPackage: 'busybox-static', present: () => findStaticBusybox() !== undefined },
  { what: 'xz', debianPackage: 'xz-utils', present: () => onPath('xz') },
  { what: 'zstd', debianPackage: 'zstd', present: () => onPath('zstd') },
  { what: 'dpkg-deb', debianPackage: 'dpkg', present: () => onPath('dpkg-deb') },
  { what: 'apt-get', debianPackage: 'apt', present: () => onPath('apt-get') },
];

/** The shell command that installs `packages`. */
export function installCommand(packages: readonly string[]): string {
  return `apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${packages.join(' ')}`;
}

/** True when running as root with CI set (or `allowInstall`), i.e. apt-get may be run for the user. */
export function mayInstall(allowInstall = false): boolean {
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  const ci = process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false';
  return root && (ci || allowInstall);
}

/**
 * Checks the prerequisites; installs what is missing when {@link mayInstall} allows, otherwise
 * throws naming the tools and the exact install command.
 */
export function ensurePrerequisites(opts: { allowInstall?: boolean; log?: (s: string) => void } = {}): void {
  const missing = PREREQUISITES.filter((p) => !p.present());
  if (missing.length === 0) return;
  const packages = [...new Set(missing.map((p) => p.debianPackage))];
  const cmd = installCommand(packages);
  if (!mayInstall(opts.allowInstall)) {
    throw new PrerequisiteError(
      `missing ${missing.map((p) => p.what).join(', ')}; install with:\n  sudo sh -c '${cmd}'\n(vmtest installs them itself when run as root with CI=true or --install)`,
    );
  }
  opts.log?.(`vmtest: installing ${packages.join(' ')}`);
  execFileSync('sh', ['-c', cmd], { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  const still = PREREQUISITES.filter((p) => !p.present());
  if (still.length > 0) throw new PrerequisiteError(`still missing after install: ${still.map((p) => p.what).join(', ')}`);
}
