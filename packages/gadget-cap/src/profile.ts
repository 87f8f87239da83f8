/**
 * `--profile`: what a workload needs, from the checks it made. Per process name and per mount
 * namespace: which capabilities were checked, granted and denied, how often; then the
 * least-privilege set to keep, written for a container runtime (`--cap-drop=ALL --cap-add=…`) and
 * for a Kubernetes `securityContext`.
 *
 * Which checks count toward the set to keep:
 * - a granted check that the kernel audits: the workload used the capability;
 * - a denied audited check is listed apart (`denied`): the workload asked and was refused, which
 *   is either a failure to fix by adding it or a probe it copes with — only its owner knows;
 * - checks made with CAP_OPT_NOAUDIT are the kernel asking "may I?" for an optional path (for
 *   example CAP_SYS_ADMIN when sizing memory reservations): they never make anything fail, so they
 *   are listed as `optional` and not kept. The tracepoint strategy cannot see the audit option; there
 *   the kernel stack tells the well-known no-audit callers apart (a `*_noaudit` frame, the memory
 *   accounting path `cap_vm_enough_memory` / `security_vm_enough_memory_mm`, `kallsyms_show_value`)
 *   when stacks are collected.
 */
import type { CapabilityEvent } from './event.js';

/** Counts for one capability. */
export interface CapabilityCounts {
  /** `CAP_SYS_NICE`. */
  cap: string;
  /** Checks seen. */
  checked: number;
  /** Checks that succeeded. */
  granted: number;
  /** Checks that failed. */
  denied: number;
  /** Checks classified as no-audit (optional for the workload). */
  optional: number;
}

/** One group: a process name or a mount namespace. */
export interface ProfileGroup {
  /** The process name (comm) or the mount namespace id (decimal). */
  key: string;
  /** Process ids seen in the group (at most 64 kept). */
  pids: number[];
  /** For a mount-namespace group: the process names seen (at most 64 kept). For a process group: its mount namespaces. */
  related: string[];
  /** Per capability, by name. */
  capabilities: CapabilityCounts[];
  /** Capabilities to keep: granted in an audited (or undecidable) check. */
  keep: string[];
  /** Capabilities denied in an audited (or undecidable) check and never granted. */
  denied: string[];
}

/** The least-privilege recommendation for a set of capabilities. */
export interface LeastPrivilege {
  /** `CAP_` names to keep, sorted. */
  keep: string[];
  /** Capabilities that were refused: add them only if the workload failed because of it. */
  denied: string[];
  /** `--cap-drop=ALL --cap-add=NET_RAW …` for docker/podman/nerdctl. */
  containerRuntimeArgs: string;
  /** A Kubernetes `securityContext:` YAML block. */
  kubernetesYaml: string;
}

/** The whole profile as JSON. */
export interface ProfileReport {
  /** Events profiled. */
  events: number;
  /** Events lost (the profile may be incomplete when not zero). */
  lost: string;
  /** Runs of the capability-check programs the kernel skipped (each a check possibly missing; the profile may be incomplete when not zero). */
  missedRuns: string;
  /** True when audit could not be read (tracepoint strategy): no-audit checks were inferred from stacks. */
  auditUnknown: boolean;
  byProcess: ProfileGroup[];
  byMountNamespace: ProfileGroup[];
  /** Over every event. */
  leastPrivilege: LeastPrivilege;
  /** Per mount namespace id (one container each, typically). */
  leastPrivilegeByMountNamespace: Record<string, LeastPrivilege>;
}

/**
 * Kernel functions known to check with CAP_OPT_NOAUDIT: the `*_noaudit` wrappers, memory
 * accounting (CAP_SYS_ADMIN for the overcommit reserve) and kallsyms (CAP_SYSLOG to show addresses).
 */
const NOAUDIT_FRAME = /(?:^|[^a-z_])(?:[a-z_]*_noaudit[a-z_]*|cap_vm_enough_memory|security_vm_enough_memory_mm|__vm_enough_memory|kallsyms_show_value)\+/;

/** Whether a check is the kernel's no-audit kind: from `audit` when known, else from the kernel stack. */
export function isOptionalCheck(e: Pick<CapabilityEvent, 'audit' | 'kstack'>): boolean {
  if (e.audit !== null) return !e.audit;
  return e.kstack?.some((f) => NOAUDIT_FRAME.test(f)) ?? false;
}

const MAX_KEPT = 64;

class Group {
  readonly pids = new Set<number>();
  readonly related = new Set<string>();
  readonly caps = new Map<string, CapabilityCounts>();

  add(e: CapabilityEvent, related: string): void {
    if (this.pids.size < MAX_KEPT) this.pids.add(e.proc.pid);
    if (this.related.size < MAX_KEPT) this.related.add(related);
    let c = this.caps.get(e.cap);
    if (!c) {
      c = { cap: e.cap, checked: 0, granted: 0, denied: 0, optional: 0 };
      this.caps.set(e.cap, c);
    }
    c.checked++;
    if (e.capable) c.granted++;
    else c.denied++;
    if (isOptionalCheck(e)) c.optional++;
  }

  /** Kept: some granted check that was not optional. Counts track both, so keep a separate tally. */
  readonly requiredGranted = new Set<string>();
  readonly requiredDenied = new Set<string>();

  note(e: CapabilityEvent): void {
    if (isOptionalCheck(e)) return;
    (e.capable ? this.requiredGranted : this.requiredDenied).add(e.cap);
  }

  toJSON(key: string): ProfileGroup {
    const capabilities = [...this.caps.values()].sort((a, b) => b.checked - a.checked || a.cap.localeCompare(b.cap));
    const keep = [...this.requiredGranted].sort();
    const denied = [...this.requiredDenied].filter((c) => !this.requiredGranted.has(c)).sort();
    return { key, pids: [...this.pids].sort((a, b) => a - b), related: [...this.related].sort(), capabilities, keep, denied };
  }
}

/** `CAP_NET_RAW` → `NET_RAW`, the spelling docker and Kubernetes use. */
export function shortCapabilityName(cap: string): string {
  return cap.startsWith('CAP_') ? cap.slice(4) : cap;
}

/** The least-privilege texts for a set of capabilities to keep. */
export function leastPrivilege(keep: readonly string[], denied: readonly string[] = []): LeastPrivilege {
  const sorted = [...new Set(keep)].sort();
  const short = sorted.map(shortCapabilityName);
  const containerRuntimeArgs = ['--cap-drop=ALL', ...short.map((c) => `--cap-add=${c}`)].join(' ');
  const addLine = short.length > 0 ? `    add: [${short.map((c) => JSON.stringify(c)).join(', ')}]` : '    add: []';
  const kubernetesYaml = ['securityContext:', '  capabilities:', '    drop: ["ALL"]', addLine].join('\n');
  return { keep: sorted, denied: [...new Set(denied)].filter((d) => !sorted.includes(d)).sort(), containerRuntimeArgs, kubernetesYaml };
}

/** Accumulates events into a {@link ProfileReport}. */
export class CapabilityProfile {
  private readonly byComm = new Map<string, Group>();
  private readonly byMntns = new Map<string, Group>();
  private readonly all = new Group();
  private count = 0;
  private sawUnknownAudit = false;

  /** Add one event. */
  add(e: CapabilityEvent): void {
    this.count++;
    if (e.audit === null) this.sawUnknownAudit = true;
    const mntns = e.proc.mntns_id.toString();
    const g1 = this.group(this.byComm, e.proc.comm);
    g1.add(e, mntns);
    g1.note(e);
    const g2 = this.group(this.byMntns, mntns);
    g2.add(e, e.proc.comm);
    g2.note(e);
    this.all.note(e);
  }

  /** Events added so far. */
  get events(): number {
    return this.count;
  }

  private group(map: Map<string, Group>, key: string): Group {
    let g = map.get(key);
    if (!g) {
      g = new Group();
      map.set(key, g);
    }
    return g;
  }

  /**
   * The profile as a JSON-ready object. `lost` (events lost during the trace) and `missedRuns`
   * (runs of the check programs the kernel skipped) are reported so a reader knows the profile may
   * miss checks.
   */
  report(lost: bigint = 0n, missedRuns: bigint = 0n): ProfileReport {
    const groups = (m: Map<string, Group>): ProfileGroup[] =>
      [...m.entries()].map(([k, g]) => g.toJSON(k)).sort((a, b) => a.key.localeCompare(b.key));
    const byMountNamespace = groups(this.byMntns);
    const all = this.all.toJSON('*');
    const perNs: Record<string, LeastPrivilege> = {};
    for (const g of byMountNamespace) perNs[g.key] = leastPrivilege(g.keep, g.denied);
    return {
      events: this.count,
      lost: lost.toString(),
      missedRuns: missedRuns.toString(),
      auditUnknown: this.sawUnknownAudit,
      byProcess: groups(this.byComm),
      byMountNamespace,
      leastPrivilege: leastPrivilege(all.keep, all.denied),
      leastPrivilegeByMountNamespace: perNs,
    };
  }
}

function table(rows: readonly (readonly string[])[], indent: string): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) => indent + r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd()).join('\n');
}

function groupText(g: ProfileGroup, title: string, escape: (s: string) => string): string {
  const rows: string[][] = [['CAPABILITY', 'CHECKED', 'GRANTED', 'DENIED', 'OPTIONAL']];
  for (const c of g.capabilities) rows.push([c.cap, String(c.checked), String(c.granted), String(c.denied), String(c.optional)]);
  const lines = [`${title} (pids: ${g.pids.join(', ')}${g.pids.length >= MAX_KEPT ? ', …' : ''})`, table(rows, '  ')];
  lines.push(`  keep: ${g.keep.length > 0 ? g.keep.join(' ') : '(none)'}`);
  if (g.denied.length > 0) lines.push(`  denied: ${g.denied.join(' ')}`);
  return lines.map(escape).join('\n');
}

/**
 * The profile as text for a terminal. `escape` makes process names safe to print (pass the
 * loader's `sanitizeForTerminal`); names are attacker-controlled.
 */
export function renderProfileText(r: ProfileReport, escape: (s: string) => string = (s) => s): string {
  const out: string[] = [];
  const gaps = [r.lost !== '0' ? `${r.lost} lost` : '', r.missedRuns !== '0' ? `${r.missedRuns} skipped by the kernel` : ''].filter((g) => g !== '');
  out.push(`capability profile: ${r.events} check(s)${gaps.length > 0 ? `, ${gaps.join(', ')} (the profile may be incomplete)` : ''}`);
  if (r.auditUnknown) {
    out.push('note: the tracepoint strategy cannot see whether a check is audited; no-audit (optional) checks were recognised from kernel stacks where collected');
  }
  out.push('', '== by process ==');
  for (const g of r.byProcess) out.push(groupText(g, `process ${escape(g.key)} (mount ns ${g.related.join(', ')})`, (s) => s), '');
  out.push('== by mount namespace ==');
  for (const g of r.byMountNamespace) {
    out.push(groupText(g, `mount ns ${g.key} (processes: ${g.related.map(escape).join(', ')})`, (s) => s));
    const lp = r.leastPrivilegeByMountNamespace[g.key];
    if (lp) out.push(`  container runtime: ${lp.containerRuntimeArgs}`);
    out.push('');
  }
  out.push('== least privilege (every traced process) ==');
  out.push(`keep: ${r.leastPrivilege.keep.length > 0 ? r.leastPrivilege.keep.join(' ') : '(none)'}`);
  if (r.leastPrivilege.denied.length > 0) out.push(`denied (add only if the workload failed because of them): ${r.leastPrivilege.denied.join(' ')}`);
  out.push('', 'container runtime (docker/podman):', `  ${r.leastPrivilege.containerRuntimeArgs}`, '', 'Kubernetes:', r.leastPrivilege.kubernetesYaml, '');
  return out.join('\n');
}
