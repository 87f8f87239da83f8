/**
 * Pieces that need no kernel: turning the runtime's decoded record into the typed event, strategy
 * name parsing and object lookup, `--fields` spellings.
 */
import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { ATTACH_STRATEGIES, DEFAULT_FIELDS, STRATEGY_OBJECTS, effectiveCapabilities, locateObject, normalizeFields, parseAttachStrategy, toCapabilityEvent } from '../src/index.js';

describe('toCapabilityEvent', () => {
  const decoded = {
    timestamp_raw: 2411222319113n,
    timestamp: '2026-11-24T07:53:58.700939285Z',
    proc: { comm: 'nice', pid: 17181, tid: 17182, mntns_id: 4026531832n, creds: { uid: 1000, gid: 100 }, parent: { comm: 'sh', pid: 17045 } },
    current_userns: 4026531837n,
    target_userns: 4026531837n,
    // As the codec decodes the set: names, plus one 0x… entry for bits its enum could not name.
    cap_effective: 'CAP_CHOWN|CAP_KILL|CAP_BPF',
    cap_raw: 'CAP_SYS_NICE',
    cap: 'CAP_SYS_NICE',
    capable: false,
    audit: 1,
    insetid: 0,
    syscall_raw: 141n,
    syscall: 'SYS_SETPRIORITY',
    kstack_raw: 12,
    kstack: ['cap_capable+0x83', '__sys_setpriority+0x1'],
    ustack_raw: -1,
    ustack: [],
  };

  it('maps every member to the typed event', () => {
    const e = toCapabilityEvent(decoded);
    expect(e).toEqual({
      timestamp: '2026-11-24T07:53:58.700939285Z',
      timestampNs: 2411222319113n,
      proc: { comm: 'nice', pid: 17181, tid: 17182, creds: { uid: 1000, gid: 100 }, parent: { comm: 'sh', pid: 17045 }, mntns_id: 4026531832n },
      current_userns: 4026531837n,
      target_userns: 4026531837n,
      cap_effective: 'CAP_CHOWN|CAP_KILL|CAP_BPF',
      cap: 'CAP_SYS_NICE',
      capable: false,
      audit: true,
      insetid: false,
      syscall: 'SYS_SETPRIORITY',
      kstack: ['cap_capable+0x83', '__sys_setpriority+0x1'],
    });
    expect(effectiveCapabilities(e)).toEqual(["CAP_CHOWN", "CAP_KILL", "CAP_BPF"]);
  });

  it('audit/insetid -1 (tracepoint) are unknown; a missing syscall is empty; numbers and masks are named', () => {
    const e = toCapabilityEvent({ ...decoded, audit: -1, insetid: -1, syscall: '', cap: undefined, cap_raw: 21, cap_effective: 0x3n, kstack_raw: -1, kstack: [] });
    expect(e.audit).toBeNull();
    expect(e.insetid).toBeNull();
    expect(e.syscall).toBe('');
    expect(e.cap).toBe('CAP_SYS_ADMIN');
    expect(e.cap_effective).toBe('CAP_CHOWN|CAP_DAC_OVERRIDE');
    expect(e.kstack).toBeUndefined();
    expect(effectiveCapabilities({ cap_effective: '' })).toEqual([]);
  });
});

describe('strategies', () => {
  it('parses names and aliases', () => {
    expect(parseAttachStrategy('tp')).toBe('tracepoint');
    expect(parseAttachStrategy('tp_btf')).toBe('tracepoint');
    expect(parseAttachStrategy('kretprobe')).toBe('kprobe');
    expect(parseAttachStrategy('FEXIT')).toBe('fentry');
    expect(parseAttachStrategy('auto')).toBe('auto');
    expect(() => parseAttachStrategy('lsm')).toThrow(/unknown attach strategy 'lsm'/);
  });

  it('finds the committed object of every strategy', () => {
    for (const s of ATTACH_STRATEGIES) {
      const p = locateObject(STRATEGY_OBJECTS[s]);
      expect(existsSync(p)).toBe(true);
      expect(p.endsWith(`/${STRATEGY_OBJECTS[s]}`)).toBe(true);
    }
    expect(() => locateObject('nope.bpf.o')).toThrow(/nope\.bpf\.o not found in .*TSBPF_GADGET_DIR/);
  });
});

describe('--fields', () => {
  it('accepts event paths and keeps +/- prefixes', () => {
    expect(normalizeFields('proc.comm, PID,proc.creds.uid,mntns')).toEqual(['comm', 'pid', 'uid', 'mntns_id']);
    expect(normalizeFields('+proc.parent.pid,-audit')).toEqual(['+ppid', '-audit']);
    expect(DEFAULT_FIELDS).toEqual(['comm', 'pid', 'tid', 'capable', 'audit', 'cap', 'syscall']);
  });
});
