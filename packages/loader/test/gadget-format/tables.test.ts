import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  CAP_LAST_CAP,
  CAPABILITY_NAMES,
  capabilityMask,
  capabilityName,
  capabilityNumber,
  capabilitySetNames,
  hasSyscallTable,
  syscallKernelName,
  syscallName,
  syscallNumber,
  UNKNOWN_SYSCALL,
} from '../../src/gadget/tables/index.js';
import { TsbpfError } from '../../src/errors.js';

const root = resolve(import.meta.dirname, '../../../..');

describe('syscall tables', () => {
  it('knows x86_64 numbers', () => {
    expect(syscallName(141, 'x64')).toBe('SYS_SETPRIORITY');
    expect(syscallName(41, 'x64')).toBe('SYS_SOCKET');
    expect(syscallName(257, 'x64')).toBe('SYS_OPENAT');
    expect(syscallName(0, 'x64')).toBe('SYS_READ');
    expect(syscallName(59n, 'x86_64')).toBe('SYS_EXECVE');
    expect(syscallKernelName(435, 'x64')).toBe('clone3');
    expect(syscallNumber('SYS_OPENAT', 'x64')).toBe(257);
    expect(syscallNumber('setpriority', 'x64')).toBe(141);
  });

  it('knows arm64 (asm-generic) numbers', () => {
    expect(syscallName(56, 'arm64')).toBe('SYS_OPENAT');
    expect(syscallName(140, 'arm64')).toBe('SYS_SETPRIORITY');
    expect(syscallName(198, 'aarch64')).toBe('SYS_SOCKET');
    expect(syscallName(221, 'arm64')).toBe('SYS_EXECVE');
    // 64-bit names of the __NR3264 aliases, and arm64's opt-in syscalls.
    expect(syscallKernelName(62, 'arm64')).toBe('lseek');
    expect(syscallKernelName(79, 'arm64')).toBe('newfstatat');
    expect(syscallKernelName(38, 'arm64')).toBe('renameat');
    expect(syscallKernelName(163, 'arm64')).toBe('getrlimit');
    // The 32-bit-only time64 block is not part of a 64-bit table.
    expect(syscallKernelName(403, 'arm64')).toBeUndefined();
    expect(syscallNumber('open', 'arm64')).toBeUndefined();
  });

  it('prints SYS_UNKNOWN for numbers it cannot resolve', () => {
    expect(syscallName(-1, 'x64')).toBe(UNKNOWN_SYSCALL);
    expect(syscallName(0xffffffffffffffffn, 'x64')).toBe(UNKNOWN_SYSCALL); // the -1 a gadget stores in a u64
    expect(syscallName(100000, 'x64')).toBe(UNKNOWN_SYSCALL);
    expect(syscallName(335, 'x64')).toBe(UNKNOWN_SYSCALL); // a hole in the x86_64 table
    expect(syscallName(1.5, 'x64')).toBe(UNKNOWN_SYSCALL);
    expect(syscallName(1, 'riscv64')).toBe(UNKNOWN_SYSCALL);
    expect(hasSyscallTable('riscv64')).toBe(false);
  });

  it('defaults to the running architecture', () => {
    expect(hasSyscallTable()).toBe(process.arch === 'x64' || process.arch === 'arm64');
    if (process.arch === 'x64') expect(syscallName(257)).toBe('SYS_OPENAT');
    if (process.arch === 'arm64') expect(syscallName(56)).toBe('SYS_OPENAT');
  });

  it.skipIf(!existsSync('/usr/include/asm-generic/unistd.h'))('committed tables match the installed headers', () => {
    execFileSync(process.execPath, [resolve(root, 'scripts/gen-tables-syscalls.mjs'), '--check'], { stdio: 'pipe' });
    execFileSync(process.execPath, [resolve(root, 'scripts/gen-tables-capabilities.mjs'), '--check'], { stdio: 'pipe' });
    execFileSync(process.execPath, [resolve(root, 'scripts/gen-tables-signals.mjs'), '--check'], { stdio: 'pipe' });
  });
});

describe('capability tables', () => {
  it('maps numbers and names both ways', () => {
    expect(CAPABILITY_NAMES[0]).toBe('CAP_CHOWN');
    expect(capabilityName(21)).toBe('CAP_SYS_ADMIN');
    expect(capabilityName(23)).toBe('CAP_SYS_NICE');
    expect(capabilityName(39)).toBe('CAP_BPF');
    expect(capabilityName(CAP_LAST_CAP)).toBe('CAP_CHECKPOINT_RESTORE');
    expect(CAP_LAST_CAP).toBe(40);
    expect(capabilityName(63)).toBe('CAP_63');
    expect(capabilityNumber('CAP_NET_ADMIN')).toBe(12);
    expect(capabilityNumber('sys_nice')).toBe(23);
    expect(capabilityNumber('CAP_NOPE')).toBeUndefined();
  });

  it('expands capability masks', () => {
    expect(capabilitySetNames(0n)).toEqual([]);
    expect(capabilitySetNames((1n << 0n) | (1n << 5n))).toEqual(['CAP_CHOWN', 'CAP_KILL']);
    expect(capabilitySetNames(0x1ffffffffffn)).toHaveLength(41);
    expect(capabilitySetNames(1n << 62n)).toEqual(['CAP_62']);
    expect(capabilitySetNames(-1n)).toHaveLength(64);
    expect(capabilityMask(['CAP_CHOWN', 'CAP_KILL'])).toBe(33n);
    expect(capabilityMask(capabilitySetNames(0x1234_5678_9an))).toBe(0x1234_5678_9an);
    expect(() => capabilityMask(['CAP_WHAT'])).toThrow(TsbpfError);
  });
});
