import { describe, expect, it, vi } from 'vitest';
import { existsSync } from 'node:fs';
import {
  checkBtfKind,
  checkHelper,
  checkKprobeMulti,
  checkMapType,
  checkProgType,
  checkTpBtf,
  clearFeatureCache,
  featureReport,
  hasBpfLink,
  hasBpfLoop,
  hasRingbuf,
  hasTpBtf,
  hasUprobeMulti,
  kprobes,
  probeAttachType,
  probeBtfKind,
  probeHelper,
  probeMapType,
  probeProgType,
} from '../../src/features/index.js';
import { BPF_ATTACH_TYPE, BPF_FUNC, BPF_MAP_TYPE, BPF_PROG_TYPE, Fd } from '../../src/sys/index.js';
import { run } from '../../src/cli/features.js';
import { openFdCount } from '../testdata.js';

describe('feature probes on this kernel', () => {
  it('finds what the machine is documented to have', () => {
    const fds = openFdCount();
    const owned = Fd.openCount;
    clearFeatureCache();
    expect(probeMapType(BPF_MAP_TYPE.HASH)).toBe(true);
    expect(probeMapType(BPF_MAP_TYPE.RINGBUF)).toBe(true);
    expect(hasRingbuf()).toBe(true);
    expect(probeMapType(BPF_MAP_TYPE.STACK_TRACE)).toBe(true);
    expect(probeMapType(BPF_MAP_TYPE.TASK_STORAGE)).toBe(true); // needs a BTF-typed key/value
    expect(probeProgType(BPF_PROG_TYPE.TRACEPOINT)).toBe(true);
    expect(probeProgType(BPF_PROG_TYPE.RAW_TRACEPOINT)).toBe(true);
    expect(probeProgType(BPF_PROG_TYPE.TRACING)).toBe(true); // tp_btf loads here
    expect(probeProgType(BPF_PROG_TYPE.SYSCALL)).toBe(true);
    expect(probeHelper(BPF_PROG_TYPE.TRACEPOINT, BPF_FUNC.ringbuf_output)).toBe(true);
    expect(hasBpfLoop()).toBe(true);
    expect(hasBpfLink()).toBe(true);
    expect(hasTpBtf('sys_enter')).toBe(true);
    expect(hasTpBtf('cap_capable')).toBe(true);
    expect(hasUprobeMulti()).toBe(true); // 6.6+ with CONFIG_UPROBES
    expect(probeAttachType(BPF_PROG_TYPE.CGROUP_SKB, BPF_ATTACH_TYPE.CGROUP_INET_EGRESS)).toBe(true);
    for (const kind of ['int', 'ptr', 'struct', 'func', 'func_proto', 'datasec', 'float', 'decl_tag', 'type_tag', 'enum64']) expect(probeBtfKind(kind), kind).toBe(true);
    expect(Fd.openCount).toBe(owned);
    expect(openFdCount()).toBe(fds);
  });

  it('answers no, with a reason, for what does not exist', () => {
    expect(checkMapType(9999)).toMatchObject({ supported: false, detail: expect.stringMatching(/EINVAL/) });
    expect(checkProgType(9999)).toMatchObject({ supported: false });
    // A helper a socket filter may not call (bpf_override_return is kprobe-only).
    expect(checkHelper(BPF_PROG_TYPE.SOCKET_FILTER, BPF_FUNC.override_return)).toMatchObject({ supported: false, detail: expect.stringMatching(/verifier/) });
    expect(checkHelper(BPF_PROG_TYPE.SOCKET_FILTER, 100_000).supported).toBe(false);
    expect(checkTpBtf('no_such_tracepoint_xyz')).toMatchObject({ supported: false, detail: expect.stringMatching(/btf_trace_no_such_tracepoint_xyz/) });
    expect(checkBtfKind('nonsense')).toMatchObject({ supported: false });
    expect(probeBtfKind(16 /* BTF_KIND_FLOAT */)).toBe(true);
  });

  it('reports kprobe support consistently with sysfs', () => {
    const k = kprobes();
    expect(k.pmu).toBe(existsSync('/sys/bus/event_source/devices/kprobe/type'));
    if (!k.pmu && !k.tracefs) {
      expect(k.detail).toMatch(/CONFIG_KPROBES/);
      expect(k.multi).toBe(false);
    }
    expect(typeof checkKprobeMulti().supported).toBe('boolean');
  });

  it('caches answers', () => {
    const a = checkMapType(BPF_MAP_TYPE.ARRAY);
    expect(checkMapType(BPF_MAP_TYPE.ARRAY)).toBe(a);
  });
});

describe('tsbpf features', () => {
  it('prints a table and JSON', async () => {
    const lines: string[] = [];
    const spy = vi.spyOn(console, 'log').mockImplementation((s: unknown) => void lines.push(String(s)));
    try {
      expect(await run([])).toBe(0);
      const text = lines.join('\n');
      expect(text).toMatch(/PROGRAM TYPES/);
      expect(text).toMatch(/ringbuf\s+yes/);
      expect(text).toMatch(/\d+ of \d+ features supported/);
      lines.length = 0;
      expect(await run(['--json'])).toBe(0);
      const parsed = JSON.parse(lines.join('\n')) as { kernel: string; features: { name: string; supported: boolean }[] };
      expect(parsed.features.find((f) => f.name === 'ringbuf')?.supported).toBe(true);
      expect(parsed.features.length).toBe(featureReport().length);
    } finally {
      spy.mockRestore();
    }
    const err = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      expect(await run(['--bogus'])).toBe(2);
    } finally {
      err.mockRestore();
    }
  });
});
