/**
 * makeDirectories (src/mkdirs.ts): `mkdir -p` without Node's recursive mkdir, which never returns on
 * sysfs mount points, where mkdir answers ENOENT under an existing directory (an unmounted
 * /sys/fs/bpf). A regression here shows as a run that never ends (the spin blocks the test's
 * thread, so no timeout fires), which CI's own time limit turns into a failure.
 */
import { mkdtempSync, rmSync, statSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Collection } from '../src/collection.js';
import { makeDirectories } from '../src/mkdirs.js';
import { CollectionSpec } from '../src/spec/collection.js';
import { testdataPath } from './testdata.js';

const SYSFS_MAGIC = 0x62656572;

/** A sysfs directory nothing is mounted on, where mkdir fails with ENOENT (the case that hung). */
function bareSysfsDir(): string | undefined {
  for (const dir of ['/sys/fs/pstore', '/sys/kernel/config', '/sys/kernel/debug', '/sys/fs/fuse/connections', '/sys/fs/bpf']) {
    try {
      if (statfsSync(dir).type === SYSFS_MAGIC) return dir;
    } catch {
      // absent here
    }
  }
  return undefined;
}

let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'tsbpf-mkdirs-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('makeDirectories', () => {
  it('creates missing levels with the mode, and accepts existing ones', () => {
    const deep = join(root, 'a', 'b', 'c');
    makeDirectories(deep, 0o700);
    for (const d of [join(root, 'a'), join(root, 'a', 'b'), deep]) expect(statSync(d).mode & 0o777).toBe(0o700);
    makeDirectories(deep);
    makeDirectories(root);
  });

  it('a file in the way is an error, not a directory', () => {
    writeFileSync(join(root, 'file'), '');
    expect(() => makeDirectories(join(root, 'file'))).toThrow(expect.objectContaining({ code: 'EEXIST' }));
    expect(() => makeDirectories(join(root, 'file', 'below'))).toThrow(expect.objectContaining({ code: 'EEXIST' }));
  });

  const sysfs = bareSysfsDir();
  it.skipIf(sysfs === undefined)('on sysfs, fails at once with the kernel’s ENOENT (Node’s recursive mkdir spins there)', () => {
    const target = join(sysfs!, 'tsbpf-test', 'below');
    expect(() => makeDirectories(target)).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    // A collection pinning there fails the same way instead of hanging, and says what is missing.
    const spec = CollectionSpec.fromFile(testdataPath('maps.bpf.o'));
    expect(() => Collection.load(spec, { pinPath: target })).toThrow(
      `cannot create the pin directory ${target}: ENOENT: no such file or directory, mkdir '${join(sysfs!, 'tsbpf-test')}'; ${sysfs} is not on a BPF filesystem (bpffs); mount one there with: mount -t bpf bpf ${sysfs}`,
    );
  });
  if (sysfs === undefined) console.warn('skipped: no bare sysfs directory (pstore, configfs, debugfs mount points) to mkdir in');
});
