/**
 * The running kernel's build configuration and version, as `__kconfig` externs see them.
 * Read once per process from /proc/config.gz (or /boot/config-<release>).
 */
import { existsSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import { gunzipSync } from 'node:zlib';

let cached: Map<string, string> | undefined;

/**
 * `CONFIG_*` options with their raw values (`y`, `m`, `"string"`, `0x10`, `250`), or an empty map
 * when the kernel exposes no configuration.
 */
export function kernelConfig(): ReadonlyMap<string, string> {
  if (cached) return cached;
  const out = new Map<string, string>();
  let text: string | undefined;
  try {
    if (existsSync('/proc/config.gz')) text = gunzipSync(readFileSync('/proc/config.gz')).toString('utf8');
    else if (existsSync(`/boot/config-${release()}`)) text = readFileSync(`/boot/config-${release()}`, 'utf8');
  } catch {
    text = undefined;
  }
  for (const line of (text ?? '').split('\n')) {
    const eq = line.indexOf('=');
    if (line.startsWith('CONFIG_') && eq > 0) out.set(line.slice(0, eq), line.slice(eq + 1));
  }
  cached = out;
  return out;
}

let runningVersionCode: number | undefined;

/** `KERNEL_VERSION(a, b, c)` of the running kernel, as `LINUX_KERNEL_VERSION` (patch capped at 255). */
export function kernelVersionCode(rel?: string): number {
  // Every program load asks: the running kernel's answer is computed once (uname and a regex).
  if (rel === undefined) return (runningVersionCode ??= versionCodeOf(release()));
  return versionCodeOf(rel);
}

function versionCodeOf(rel: string): number {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(rel);
  if (!m) return 0;
  return (Number(m[1]) << 16) + (Number(m[2]) << 8) + Math.min(255, Number(m[3] ?? 0));
}
