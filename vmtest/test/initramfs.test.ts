import { describe, expect, it } from 'vitest';
import { buildInitramfs, initScript, isStaticElf, readCpio, shellQuote, writeCpio } from '../src/initramfs.js';

describe('cpio newc', () => {
  it('round-trips files, dirs, symlinks and device nodes with 4-byte alignment', () => {
    const data = new Uint8Array([1, 2, 3, 4, 5]);
    const archive = writeCpio([
      { path: 'bin', type: 'dir' },
      { path: '/bin/x', type: 'file', data, mode: 0o755 },
      { path: 'bin/sh', type: 'symlink', target: 'busybox' },
      { path: 'dev/console', type: 'char', major: 5, minor: 1 },
    ]);
    expect(archive.byteLength % 4).toBe(0);
    expect(new TextDecoder().decode(archive.subarray(0, 6))).toBe('070701');
    const list = readCpio(archive);
    expect(list.map((e) => [e.path, e.type])).toEqual([
      ['bin', 'dir'],
      ['bin/x', 'file'],
      ['bin/sh', 'symlink'],
      ['dev/console', 'char'],
    ]);
    expect([...(list[1]?.data ?? [])]).toEqual([1, 2, 3, 4, 5]);
    expect(list[1]?.mode).toBe(0o755);
    expect(new TextDecoder().decode(list[2]?.data)).toBe('busybox');
    expect(new TextDecoder().decode(archive.subarray(-124))).toContain('TRAILER!!!');
  });

  it('carries the kernel config when given', () => {
    const img = buildInitramfs({ busybox: new Uint8Array(4), modules: [], init: '#!/bin/sh\n', kconfig: new TextEncoder().encode('CONFIG_BPF=y\n') });
    const entry = readCpio(img).find((e) => e.path === 'kconfig');
    expect(new TextDecoder().decode(entry?.data)).toBe('CONFIG_BPF=y\n');
  });

  it('lists the initramfs contents: busybox, console, modules in order, /init', () => {
    const init = initScript({ modules: ['netfs', '9p'], command: ['node', '-e', "console.log('hi')"], cwd: '/work/main', env: { NO_COLOR: '1' } });
    const img = buildInitramfs({
      busybox: new Uint8Array([0x7f, 0x45, 0x4c, 0x46]),
      modules: [
        { name: 'netfs', data: new Uint8Array(10) },
        { name: '9p', data: new Uint8Array(3) },
      ],
      init,
    });
    const list = readCpio(img);
    const paths = list.map((e) => e.path);
    expect(paths).toEqual([
      'bin',
      'bin/busybox',
      'bin/sh',
      'dev',
      'dev/console',
      'dev/null',
      'proc',
      'sys',
      'tmp',
      'mnt',
      'mnt/root',
      'modules',
      'modules/netfs.ko',
      'modules/9p.ko',
      'init',
    ]);
    // Parents precede children, as the kernel's unpacker needs.
    for (const [i, p] of paths.entries()) {
      const parent = p.split('/').slice(0, -1).join('/');
      if (parent !== '') expect(paths.slice(0, i)).toContain(parent);
    }
    const initEntry = list.find((e) => e.path === 'init');
    expect(initEntry?.mode).toBe(0o755);
    expect(new TextDecoder().decode(initEntry?.data)).toBe(init);
  });
});

describe('init script', () => {
  const script = initScript({
    modules: ['virtio', '9pnet', '9p'],
    optionalModules: ['overlay'],
    command: ['node', '-e', "console.log('it''s')"],
    cwd: '/work/my repo',
    env: { PATH: '/usr/bin:/bin', NO_COLOR: '1', 'BAD-NAME': 'x' },
    resultsDir: '/work/main/vmtest/.cache/results/6.1',
    overlays: ['/work/main'],
  });

  it('makes overlay folders writable before the results share is mounted inside them', () => {
    const overlay = script.indexOf('for d in /work/main; do');
    expect(overlay).toBeGreaterThan(0);
    expect(script).toContain('mount -t overlay overlay -o "lowerdir=$R$d,upperdir=$up/upper,workdir=$up/work" "$R$d"');
    expect(script.indexOf('results "$R"')).toBeGreaterThan(overlay);
  });

  it('mounts what BPF tests need and the host root read-only', () => {
    for (const fs of ['proc', 'sysfs', 'devtmpfs', 'debugfs', 'tracefs', 'bpf', 'cgroup2', 'securityfs']) {
      expect(script).toMatch(new RegExp(`mount -t ${fs} `));
    }
    expect(script).toContain('trans=virtio,version=9p2000.L,msize=512000,cache=loose,ro hostroot "$R"');
    expect(script).toMatch(/for d in \/tmp \/run \/var\/tmp/);
    expect(script).toContain('results "$R"/work/main/vmtest/.cache/results/6.1');
    // The kernel's own config replaces the host's /boot so kconfig externs resolve for the guest kernel.
    expect(script).toContain('cp /kconfig "$R/boot/config-$(uname -r)"');
  });

  it('loads modules in the given order, required ones fatally', () => {
    expect(script).toContain('for m in virtio 9pnet 9p; do\n  insmod "/modules/$m.ko" || fail "insmod $m"');
    expect(script).toContain('for m in overlay; do');
  });

  it('quotes the command, the cwd and the environment; drops invalid names', () => {
    expect(script).toContain(`'/work/my repo' node -e 'console.log('\\''it'\\'''\\''s'\\'')'`);
    expect(script).toContain('PATH=/usr/bin:/bin NO_COLOR=1');
    expect(script).not.toContain('BAD-NAME');
    expect(shellQuote("a'b")).toBe(`'a'\\''b'`);
    expect(shellQuote('plain/path-1.0')).toBe('plain/path-1.0');
  });

  it('reports the exit code and powers off', () => {
    expect(script).toContain('rc=$?');
    expect(script).toContain('say "DONE $rc"');
    expect(script).toMatch(/halt_now\n$/);
  });
});

describe('static busybox detection', () => {
  it('an ELF without PT_INTERP is static, one with it is not', () => {
    const elf = (interp: boolean): Uint8Array => {
      const b = new Uint8Array(64 + 56 * 2);
      const v = new DataView(b.buffer);
      b.set([0x7f, 0x45, 0x4c, 0x46, 2, 1]);
      v.setBigUint64(0x20, 64n, true);
      v.setUint16(0x36, 56, true);
      v.setUint16(0x38, 2, true);
      v.setUint32(64, 1, true); // PT_LOAD
      v.setUint32(64 + 56, interp ? 3 : 1, true);
      return b;
    };
    expect(isStaticElf(elf(false))).toBe(true);
    expect(isStaticElf(elf(true))).toBe(false);
    expect(isStaticElf(new Uint8Array(10))).toBe(false);
  });
});
