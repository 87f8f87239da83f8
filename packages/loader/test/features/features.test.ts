import { describe, expect, it, vi } from 'vitest';
import { existsSync } from 'node:fs';
import {
  checkBtfKind,
  checkFentry,
  checkHelper,
  checkKprobeMulti,
  checkMapType,
  checkProgType,
  checkTpBtf,
  checkTrampolines,
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
import { loadKernelBtf } from '../../src/btf/kernel.js';

/** Every enumerator name in the kernel's BTF (enum bpf_map_type, bpf_func_id, the BTF_KIND_* enum, …). */
function kernelEnumerators(): Set<string> {
  const btf = loadKernelBtf();
  const out = new Set<string>();
  for (let id = 1; id < btf.typeCount; id++) {
    if (btf.kind(id) !== 'enum') continue;
    const t = btf.type(id);
    if (t.kind === 'enum') for (const v of t.values) out.add(v.name);
  }
  return out;
}

describe('feature probes on this kernel', () => {
  it('agrees with the kernel\'s own enums: what the kernel declares, the probes find', () => {
    const fds = openFdCount();
    const owned = Fd.openCount;
    clearFeatureCache();
    const knows = kernelEnumerators();
    // Always present wherever tsbpf runs.
    expect(probeMapType(BPF_MAP_TYPE.HASH)).toBe(true);
    expect(probeMapType(BPF_MAP_TYPE.STACK_TRACE)).toBe(true);
    expect(probeProgType(BPF_PROG_TYPE.TRACEPOINT)).toBe(true);
    expect(probeProgType(BPF_PROG_TYPE.RAW_TRACEPOINT)).toBe(true);
    expect(probeAttachType(BPF_PROG_TYPE.CGROUP_SKB, BPF_ATTACH_TYPE.CGROUP_INET_EGRESS)).toBe(true);
    for (const kind of ['int', 'ptr', 'struct', 'func', 'func_proto', 'var', 'datasec']) expect(probeBtfKind(kind), kind).toBe(true);
    // Present exactly when the kernel's BTF declares them.
    expect(hasRingbuf()).toBe(knows.has('BPF_MAP_TYPE_RINGBUF'));
    expect(probeMapType(BPF_MAP_TYPE.TASK_STORAGE)).toBe(knows.has('BPF_MAP_TYPE_TASK_STORAGE')); // needs a BTF-typed key/value
    expect(probeMapType(BPF_MAP_TYPE.BLOOM_FILTER)).toBe(knows.has('BPF_MAP_TYPE_BLOOM_FILTER'));
    expect(probeProgType(BPF_PROG_TYPE.SYSCALL)).toBe(knows.has('BPF_PROG_TYPE_SYSCALL'));
    expect(probeHelper(BPF_PROG_TYPE.TRACEPOINT, BPF_FUNC.ringbuf_output)).toBe(knows.has('BPF_FUNC_ringbuf_output'));
    expect(hasBpfLoop()).toBe(knows.has('BPF_FUNC_loop'));
    expect(hasBpfLink()).toBe(knows.has('BPF_LINK_CREATE'));
    expect(hasUprobeMulti()).toBe(knows.has('BPF_TRACE_UPROBE_MULTI') && existsSync('/sys/bus/event_source/devices/uprobe'));
    for (const [kind, e] of [['float', 'BTF_KIND_FLOAT'], ['decl_tag', 'BTF_KIND_DECL_TAG'], ['type_tag', 'BTF_KIND_TYPE_TAG'], ['enum64', 'BTF_KIND_ENUM64']]) {
      if (knows.has(e)) expect(probeBtfKind(kind), kind).toBe(true);
    }
    // tp_btf needs only the tracepoint's btf_trace_* typedef.
    const btf = loadKernelBtf();
    expect(hasTpBtf('sys_enter')).toBe(btf.find('btf_trace_sys_enter', 'typedef') !== undefined);
    expect(hasTpBtf('cap_capable')).toBe(btf.find('btf_trace_cap_capable', 'typedef') !== undefined);
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

  it('probes fentry on a named function, agreeing with the trampoline probe', () => {
    const before = openFdCount();
    const cap = checkFentry('cap_capable');
    if (loadKernelBtf().find('cap_capable', 'func') === undefined) {
      // A kernel that inlined cap_capable: nothing to attach to, whatever trampolines can do.
      expect(cap).toMatchObject({ supported: false, detail: expect.stringMatching(/^cap_capable is not a function in kernel BTF/) });
    } else {
      expect(cap.supported).toBe(checkTrampolines().supported);
      if (!cap.supported) expect(cap.detail).toMatch(/fentry\/cap_capable/);
    }
    expect(checkFentry('no_such_function_xyz')).toMatchObject({ supported: false, detail: expect.stringMatching(/^no_such_function_xyz is not a function in kernel BTF/) });
    expect(checkFentry('cap_capable')).toBe(cap);
    expect(openFdCount()).toBe(before);
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
      // A probe refused with EPERM (trampolines under lockdown here) could not tell: '?', not 'no'.
      const tramp = checkTrampolines();
      if (!tramp.supported && /EPERM/.test(tramp.detail ?? '')) {
        expect(tramp.undecided).toBe(true);
        expect(parsed.features.find((f) => f.name.startsWith('fentry'))).toMatchObject({ supported: false, undecided: true });
        expect(text).toMatch(/fentry\/fexit \(trampolines\)\s+\?/);
        expect(text).toMatch(/\d+ undecided/);
      } else {
        console.warn(`'?' rows not checked: trampolines are not refused with EPERM here (${tramp.supported ? 'they work' : (tramp.detail ?? 'unsupported')})`);
      }
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
