import { readFileSync } from 'node:fs';
import { release } from 'node:os';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { Collection } from '../../src/collection.js';
import { kernelConfig, kernelVersionCode } from '../../src/kconfig/kconfig.js';
import { CollectionSpec } from '../../src/spec/collection.js';
import { testdataPath } from '../testdata.js';

/** /proc/config.gz read independently of the loader's reader. */
function configValue(name: string): string | undefined {
  const text = gunzipSync(readFileSync('/proc/config.gz')).toString();
  return new RegExp(`^${name}=(.*)$`, 'm').exec(text)?.[1];
}

let kallsyms: string[] | undefined;
function kallsymsAddress(name: string): bigint | undefined {
  kallsyms ??= readFileSync('/proc/kallsyms', 'latin1').split('\n');
  const line = kallsyms.find((l) => l.endsWith(` ${name}`));
  return line ? BigInt('0x' + line.split(' ')[0]) : undefined;
}

describe('__kconfig and __ksym externs (kconfig.bpf.o)', () => {
  it('computes LINUX_KERNEL_VERSION from the release string', () => {
    expect(kernelVersionCode('6.18.44-fc')).toBe((6 << 16) | (18 << 8) | 44);
    expect(kernelVersionCode('5.10.300')).toBe((5 << 16) | (10 << 8) | 255);
    // The running kernel's code (computed once, then remembered) matches its release string.
    expect(kernelVersionCode()).toBe(kernelVersionCode(release()));
    expect(kernelVersionCode()).toBe(kernelVersionCode(release()));
    expect(kernelVersionCode(release())).toBeGreaterThan(5 << 16);
  });

  it('fills kconfig values and ksym addresses the program reads', () => {
    const spec = CollectionSpec.fromFile(testdataPath('kconfig.bpf.o'));
    expect(spec.externs.get('CONFIG_TUN')?.weak).toBe(true);
    using coll = Collection.load(spec);
    expect(coll.program('kconfig_read').testRun().retval).toBe(1);
    const read = (n: string) => coll.readVariable(n);
    expect(read('out_kernel_version')).toBe(kernelVersionCode());
    expect(read('out_bpf_syscall')).toBe(configValue('CONFIG_BPF_SYSCALL') === 'y' ? 1 : 0);
    const tun = configValue('CONFIG_TUN');
    expect(read('out_tun')).toBe(tun === 'y' ? 1 : tun === 'm' ? 2 : 0);
    expect(read('out_hz')).toBe(Number(configValue('CONFIG_HZ')));
    expect(read('out_hostname')).toBe(JSON.parse(configValue('CONFIG_DEFAULT_HOSTNAME') ?? '""'));
    expect(read('out_missing')).toBe(0);
    expect(read('out_missing_ksym')).toBe(0n);
    expect(read('out_syscall_wrapper')).toBe(kallsymsAddress('__x64_sys_bpf') !== undefined || kallsymsAddress('__arm64_sys_bpf') !== undefined ? 1 : 0);
    const text = kallsymsAddress('_text');
    expect(text).toBeDefined();
    expect(read('out_text_addr')).toBe(text);
    expect(kernelConfig().size).toBeGreaterThan(100);
  });

  it('resolves typed ksyms by BTF id, where kallsyms lists data symbols', (ctx) => {
    if (kallsymsAddress('bpf_prog_active') === undefined) {
      console.warn('skipped: typed __ksym needs CONFIG_KALLSYMS_ALL (bpf_prog_active is not in /proc/kallsyms); covered in vmtest');
      ctx.skip();
    }
    using coll = Collection.load(CollectionSpec.fromFile(testdataPath('kconfig_typed.bpf.o')));
    coll.program('kconfig_read').testRun();
    expect(coll.readVariable('out_prog_active_ok')).toBe(1);
  });
});
