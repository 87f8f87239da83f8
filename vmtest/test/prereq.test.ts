import { afterEach, describe, expect, it, vi } from 'vitest';
import { installCommand, mayInstall, PREREQUISITES } from '../src/prereq.js';

describe('prerequisites', () => {
  afterEach(() => vi.unstubAllEnvs());

  it('names the Debian packages a fresh machine needs', () => {
    expect(PREREQUISITES.map((p) => p.debianPackage)).toEqual(['qemu-system-x86', 'busybox-static', 'xz-utils', 'zstd', 'dpkg', 'apt']);
    expect(installCommand(['qemu-system-x86', 'busybox-static'])).toBe(
      'apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends qemu-system-x86 busybox-static',
    );
  });

  it('installs by itself only as root, and only in CI or when asked', () => {
    const root = process.getuid?.() === 0;
    vi.stubEnv('CI', 'true');
    expect(mayInstall()).toBe(root);
    vi.stubEnv('CI', '');
    expect(mayInstall()).toBe(false);
    expect(mayInstall(true)).toBe(root);
    vi.stubEnv('CI', 'false');
    expect(mayInstall()).toBe(false);
  });
});
