/**
 * Checks that need nothing but the kernel's file systems: what a BPF loader relies on being there.
 *
 * @packageDocumentation
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import { expectFeature, fail, pass, type Check } from './types.js';

const TRACEFS = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'];

function inTracefs(rel: string): boolean {
  return TRACEFS.some((d) => existsSync(`${d}/${rel}`));
}

function mounted(fstype: string, where: string): boolean {
  try {
    return readFileSync('/proc/mounts', 'utf8')
      .split('\n')
      .some((l) => {
        const [, mnt, type] = l.split(' ');
        return mnt === where && type === fstype;
      });
  } catch {
    return false;
  }
}

/** Kernel-level facts, each compared with kernels.json's `expect` when it names them. */
export const checks: readonly Check[] = [
  {
    name: 'kernel/version',
    run: (ctx) => {
      const r = release();
      if (ctx.kernel !== undefined && ctx.kernel.endsWith('.x') === false && !r.startsWith(`${ctx.kernel}.`)) {
        return fail(`uname -r is ${r}, matrix label ${ctx.kernel}`);
      }
      return pass(r);
    },
  },
  {
    name: 'kernel/btf_vmlinux',
    run: (ctx) => expectFeature(ctx, 'btf_vmlinux', existsSync('/sys/kernel/btf/vmlinux'), '/sys/kernel/btf/vmlinux'),
  },
  {
    name: 'kernel/module_btf',
    run: (ctx) => {
      let names: string[] = [];
      try {
        names = readdirSync('/sys/kernel/btf').filter((n) => n !== 'vmlinux');
      } catch {
        names = [];
      }
      return expectFeature(ctx, 'module_btf', names.length > 0, `module BTF${names.length > 0 ? ` (${names.slice(0, 3).join(', ')}…)` : ''}`);
    },
  },
  {
    name: 'kernel/bpffs',
    run: () => (mounted('bpf', '/sys/fs/bpf') ? pass('bpf on /sys/fs/bpf') : fail('no bpf file system mounted on /sys/fs/bpf')),
  },
  {
    name: 'kernel/kprobe_events',
    run: (ctx) => expectFeature(ctx, 'kprobe_events', inTracefs('kprobe_events'), 'tracefs kprobe_events'),
  },
  {
    name: 'kernel/tracepoint_cap_capable',
    run: (ctx) =>
      expectFeature(ctx, 'tracepoint_cap_capable', inTracefs('events/capability/cap_capable'), 'tracepoint capability:cap_capable'),
  },
  {
    name: 'kernel/lsm_bpf',
    run: (ctx) => {
      let lsms = '';
      try {
        lsms = readFileSync('/sys/kernel/security/lsm', 'utf8').trim();
      } catch {
        lsms = '';
      }
      return expectFeature(ctx, 'lsm_bpf', lsms.split(',').includes('bpf'), `bpf LSM (lsm=${lsms || '?'})`);
    },
  },
];
