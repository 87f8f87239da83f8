import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findModulesDir, findVmlinuz, hasPvhNote, vmlinuxFromBzImage } from '../src/extract.js';

/** An ELF64 header with one PT_NOTE segment holding a Xen note of `type`. */
function elfWithNote(type: number): Uint8Array {
  const note = new Uint8Array(12 + 4 + 4);
  const nv = new DataView(note.buffer);
  nv.setUint32(0, 4, true);
  nv.setUint32(4, 4, true);
  nv.setUint32(8, type, true);
  note.set(new TextEncoder().encode('Xen\0'), 12);
  const buf = new Uint8Array(64 + 56 + note.length);
  const v = new DataView(buf.buffer);
  buf.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  v.setBigUint64(0x20, 64n, true);
  v.setUint16(0x36, 56, true);
  v.setUint16(0x38, 1, true);
  v.setUint32(64, 4, true);
  v.setBigUint64(64 + 8, 120n, true);
  v.setBigUint64(64 + 32, BigInt(note.length), true);
  buf.set(note, 120);
  return buf;
}

/** A bzImage-shaped file: boot header with payload_offset/length around an xz payload plus size. */
function fakeBzImage(elf: Uint8Array): Uint8Array {
  const xz = execFileSync('xz', ['-c', '--check=crc32'], { input: elf });
  const setupSects = 4;
  const pm = (setupSects + 1) * 512;
  const payloadOffset = 0x100;
  const buf = new Uint8Array(pm + payloadOffset + xz.length + 4 + 64);
  const v = new DataView(buf.buffer);
  buf[0x1f1] = setupSects;
  v.setUint32(0x202, 0x53726448, true);
  v.setUint16(0x206, 0x20f, true);
  v.setUint32(0x248, payloadOffset, true);
  v.setUint32(0x24c, xz.length + 4, true);
  buf.set(xz, pm + payloadOffset);
  v.setUint32(pm + payloadOffset + xz.length, elf.length, true);
  return buf;
}

const HAS_XZ = (() => {
  try {
    execFileSync('xz', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
if (!HAS_XZ) console.warn('vmtest: bzImage extraction test skipped: no xz CLI (apt-get install xz-utils)');

describe('kernel image', () => {
  it('recognises the PVH entry note', () => {
    expect(hasPvhNote(elfWithNote(18))).toBe(true);
    expect(hasPvhNote(elfWithNote(1))).toBe(false);
    expect(hasPvhNote(new Uint8Array(8))).toBe(false);
  });

  it.skipIf(!HAS_XZ)('takes the PVH ELF out of a bzImage, and refuses one without the note', () => {
    const elf = elfWithNote(18);
    expect(vmlinuxFromBzImage(fakeBzImage(elf))).toEqual(elf);
    expect(vmlinuxFromBzImage(fakeBzImage(elfWithNote(2)))).toBeUndefined();
    expect(vmlinuxFromBzImage(new Uint8Array(4096))).toBeUndefined();
  });
});

describe('package layouts', () => {
  const root = mkdtempSync(join(tmpdir(), 'vmtest-extract-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('finds /boot/vmlinuz-<release> (≤ 6.12) and usr/lib/modules/<release>/vmlinuz (sid split packages)', () => {
    const old = join(root, 'old');
    mkdirSync(join(old, 'boot'), { recursive: true });
    mkdirSync(join(old, 'lib/modules/6.1.0-50-amd64'), { recursive: true });
    writeFileSync(join(old, 'boot/vmlinuz-6.1.0-50-amd64'), 'x');
    expect(findVmlinuz(old, '6.1.0-50-amd64')).toBe(join(old, 'boot/vmlinuz-6.1.0-50-amd64'));
    expect(findModulesDir(old, '6.1.0-50-amd64')).toBe(join(old, 'lib/modules/6.1.0-50-amd64'));

    const sid = join(root, 'sid');
    mkdirSync(join(sid, 'usr/lib/modules/7.2.13+deb14-amd64'), { recursive: true });
    writeFileSync(join(sid, 'usr/lib/modules/7.2.13+deb14-amd64/vmlinuz'), 'x');
    expect(findVmlinuz(sid, '7.2.13+deb14-amd64')).toBe(join(sid, 'usr/lib/modules/7.2.13+deb14-amd64/vmlinuz'));
    expect(findVmlinuz(sid, '7.3-amd64')).toBeUndefined();
  });
});
