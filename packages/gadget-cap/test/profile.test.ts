/**
 * The least-privilege profile from hand-made events: what is kept, what is listed as denied or
 * optional, and the texts for container runtimes and Kubernetes. (The CLI test builds one from real
 * checks.)
 */
import { describe, expect, it } from 'vitest';
import { CapabilityProfile, isOptionalCheck, leastPrivilege, renderProfileText, type CapabilityEvent } from '../src/index.js';

let n = 0;
function ev(p: Partial<CapabilityEvent> & { comm?: string; pid?: number; mntns?: bigint }): CapabilityEvent {
  n++;
  return {
    timestamp: '2026-11-24T08:00:00.000000000Z',
    timestampNs: BigInt(n),
    proc: { comm: p.comm ?? 'app', pid: p.pid ?? 100, tid: p.pid ?? 100, creds: { uid: 0, gid: 0 }, parent: { comm: 'sh', pid: 1 }, mntns_id: p.mntns ?? 4026531832n },
    current_userns: 4026531837n,
    target_userns: 4026531837n,
    cap_effective: '',
    cap: p.cap ?? 'CAP_CHOWN',
    capable: p.capable ?? true,
    audit: p.audit === undefined ? true : p.audit,
    insetid: false,
    syscall: p.syscall ?? 'SYS_CHOWN',
    ...(p.kstack ? { kstack: p.kstack } : {}),
  };
}

describe('CapabilityProfile', () => {
  it('keeps audited granted checks, lists refused ones apart, ignores no-audit probes', () => {
    const p = new CapabilityProfile();
    p.add(ev({ cap: 'CAP_CHOWN' }));
    p.add(ev({ cap: 'CAP_CHOWN' }));
    p.add(ev({ cap: 'CAP_NET_BIND_SERVICE', comm: 'web', pid: 200, mntns: 1234n }));
    p.add(ev({ cap: 'CAP_SYS_ADMIN', audit: false }));
    p.add(ev({ cap: 'CAP_SYS_TIME', capable: false }));
    // Refused once, granted later: kept, not listed as denied.
    p.add(ev({ cap: 'CAP_KILL', capable: false }));
    p.add(ev({ cap: 'CAP_KILL' }));
    const r = p.report(3n, 2n);
    expect(r.events).toBe(7);
    expect(r.lost).toBe('3');
    expect(r.missedRuns).toBe('2');
    expect(r.auditUnknown).toBe(false);
    expect(r.leastPrivilege.keep).toEqual(['CAP_CHOWN', 'CAP_KILL', 'CAP_NET_BIND_SERVICE']);
    expect(r.leastPrivilege.denied).toEqual(['CAP_SYS_TIME']);
    expect(r.leastPrivilege.containerRuntimeArgs).toBe('--cap-drop=ALL --cap-add=CHOWN --cap-add=KILL --cap-add=NET_BIND_SERVICE');
    expect(r.byProcess.map((g) => g.key)).toEqual(['app', 'web']);
    const app = r.byProcess[0];
    expect(app.capabilities.find((c) => c.cap === 'CAP_CHOWN')).toEqual({ cap: 'CAP_CHOWN', checked: 2, granted: 2, denied: 0, optional: 0 });
    expect(app.capabilities.find((c) => c.cap === 'CAP_SYS_ADMIN')).toEqual({ cap: 'CAP_SYS_ADMIN', checked: 1, granted: 1, denied: 0, optional: 1 });
    expect(app.keep).toEqual(['CAP_CHOWN', 'CAP_KILL']);
    expect(r.byMountNamespace.map((g) => g.key)).toEqual(['1234', '4026531832']);
    expect(r.leastPrivilegeByMountNamespace['1234'].keep).toEqual(['CAP_NET_BIND_SERVICE']);
    expect(r.leastPrivilegeByMountNamespace['4026531832'].kubernetesYaml).toContain('add: ["CHOWN", "KILL"]');
    const text = renderProfileText(r);
    expect(text).toContain('7 check(s), 3 lost, 2 skipped by the kernel (the profile may be incomplete)');
    expect(renderProfileText(p.report(0n, 4n))).toContain('7 check(s), 4 skipped by the kernel (the profile may be incomplete)');
    expect(renderProfileText(p.report())).toMatch(/^capability profile: 7 check\(s\)$/m);
    expect(text).toContain('denied (add only if the workload failed because of them): CAP_SYS_TIME');
    expect(text).toContain('--cap-drop=ALL --cap-add=CHOWN --cap-add=KILL --cap-add=NET_BIND_SERVICE');
  });

  it('with audit unknown, recognises no-audit callers from the kernel stack', () => {
    expect(isOptionalCheck({ audit: null, kstack: ['cap_capable+0x83', 'security_vm_enough_memory_mm+0x36', '__mmap_region+0xe04'] })).toBe(true);
    expect(isOptionalCheck({ audit: null, kstack: ['cap_capable+0x83', 'ns_capable_noaudit+0x1c'] })).toBe(true);
    expect(isOptionalCheck({ audit: null, kstack: ['cap_capable+0x83', 'kallsyms_show_value+0x20'] })).toBe(true);
    expect(isOptionalCheck({ audit: null, kstack: ['cap_capable+0x83', '__sys_setpriority+0x10'] })).toBe(false);
    expect(isOptionalCheck({ audit: null })).toBe(false);
    // A known audit value wins over the stack.
    expect(isOptionalCheck({ audit: true, kstack: ['ns_capable_noaudit+0x1c'] })).toBe(false);
    expect(isOptionalCheck({ audit: false })).toBe(true);
    const p = new CapabilityProfile();
    p.add(ev({ cap: 'CAP_SYS_ADMIN', audit: null, kstack: ['cap_capable+0x83', 'cap_vm_enough_memory+0x2a'] }));
    const r = p.report();
    expect(r.auditUnknown).toBe(true);
    expect(r.leastPrivilege.keep).toEqual([]);
    expect(r.leastPrivilege.containerRuntimeArgs).toBe('--cap-drop=ALL');
    expect(r.leastPrivilege.kubernetesYaml).toBe('securityContext:\n  capabilities:\n    drop: ["ALL"]\n    add: []');
    expect(renderProfileText(r)).toContain('cannot see whether a check is audited');
  });

  it('escapes process names in the text form', () => {
    const p = new CapabilityProfile();
    p.add(ev({ comm: '\x1b[2Jx' }));
    const text = renderProfileText(p.report(), (s) => s.replace(/\x1b/g, '\\x1b'));
    expect(text).not.toContain('\x1b');
    expect(text).toContain('process \\x1b[2Jx');
  });

  it('leastPrivilege dedupes and sorts', () => {
    expect(leastPrivilege(['CAP_SYS_NICE', 'CAP_NET_RAW', 'CAP_SYS_NICE'], ['CAP_NET_RAW', 'CAP_BPF'])).toEqual({
      keep: ['CAP_NET_RAW', 'CAP_SYS_NICE'],
      denied: ['CAP_BPF'],
      containerRuntimeArgs: '--cap-drop=ALL --cap-add=NET_RAW --cap-add=SYS_NICE',
      kubernetesYaml: 'securityContext:\n  capabilities:\n    drop: ["ALL"]\n    add: ["NET_RAW", "SYS_NICE"]',
    });
  });
});
