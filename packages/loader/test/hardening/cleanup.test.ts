/**
 * Abrupt ends leave nothing in the kernel. A process running the gadget is killed with SIGKILL,
 * or signalled in the middle of GadgetRun.start (collection loaded, programs being attached);
 * afterwards every program, map and link it held (read from its /proc/<pid>/fdinfo, or reported
 * by it) is gone. Legacy tracefs probes carry `tsbpf_<pid>_` and the next start removes those of
 * dead owners.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { hasTpBtf } from '../../src/features/probes.js';
import { createProbeEvent, hasProbeEventsFile, liveProbeEvents, removeStaleProbeEvents, tracefsRoot } from '../../src/link/tracefs.js';
import { GADGET_CAP_CLI, LOADER_DIST, LineChild, gadgetChild, haveDist, heldIds, settle, survivors, type OwnedIds } from './helpers.js';

const tp = hasTpBtf('cap_capable');
if (!tp) console.warn('skipped: no tp_btf/cap_capable on this kernel (needs 6.14+); vmtest covers the kprobe variant');
const dist = haveDist();
const cli = existsSync(GADGET_CAP_CLI);
if (!cli) console.warn(`skipped: ${GADGET_CAP_CLI} is not built`);

function total(ids: OwnedIds): number {
  return ids.progs.length + ids.maps.length + ids.links.length;
}

/** Starts the CLI and polls its descriptors until the first program appears (or 30 s pass): the moment to interrupt it. */
async function cliHoldingAProgram(): Promise<{ child: LineChild; held: OwnedIds }> {
  const child = new LineChild(process.execPath, [GADGET_CAP_CLI, '--comm', 'no-such-comm']);
  const pid = child.proc.pid ?? -1;
  let held = heldIds(pid);
  const deadline = Date.now() + 30_000;
  while (held.progs.length === 0 && Date.now() < deadline && child.proc.exitCode === null) {
    await new Promise((r) => setImmediate(r));
    held = heldIds(pid);
  }
  return { child, held };
}

describe.skipIf(!tp || !dist)('abrupt ends', () => {
  it('kill -9 of a GadgetRun process: every program, map and link it held is released', async () => {
    const child = gadgetChild({ mode: 'run', params: { comm: 'no-such-comm' } });
    try {
      await child.line('stdout', /"type":"ready"/);
      const reported = child.messages<{ ids: OwnedIds }>('ready')[0].ids;
      const held = heldIds(child.proc.pid ?? -1);
      // What the process holds is what it says it loaded (and the check sees real objects).
      expect(held.progs).toEqual([...reported.progs].sort((a, b) => a - b));
      expect(held.links).toEqual([...reported.links].sort((a, b) => a - b));
      for (const m of reported.maps) expect(held.maps).toContain(m);
      expect(reported.progs.length).toBeGreaterThan(0);
      expect(reported.links.length).toBeGreaterThan(0);
      expect(survivors(held)).toHaveLength(total(held));
      child.kill('SIGKILL');
      expect((await child.exited).signal).toBe('SIGKILL');
      expect(await settle(() => survivors(held))).toEqual([]);
    } finally {
      child.kill();
    }
  });

  it.skipIf(!cli)('kill -9 of the trace-capabilities CLI once attached: nothing stays behind', async () => {
    const child = new LineChild(process.execPath, [GADGET_CAP_CLI, '--comm', 'no-such-comm', '--collect-ustack']);
    try {
      await child.line('stderr', /tracing capability checks/);
      const held = heldIds(child.proc.pid ?? -1);
      expect(held.progs.length).toBeGreaterThan(0);
      expect(held.links.length).toBeGreaterThan(0);
      expect(held.maps.length).toBeGreaterThan(0);
      child.kill('SIGKILL');
      await child.exited;
      expect(await settle(() => survivors(held))).toEqual([]);
    } finally {
      child.kill();
    }
  });

  it.skipIf(!cli)('SIGTERM to the CLI once attached: clean exit 0, nothing stays behind', async () => {
    const child = new LineChild(process.execPath, [GADGET_CAP_CLI, '--comm', 'no-such-comm']);
    try {
      await child.line('stderr', /tracing capability checks/);
      const held = heldIds(child.proc.pid ?? -1);
      expect(total(held)).toBeGreaterThan(0);
      child.kill('SIGTERM');
      const end = await child.exited;
      expect(end, child.stderr.join('\n')).toEqual({ code: 0, signal: null });
      expect(await settle(() => survivors(held))).toEqual([]);
    } finally {
      child.kill();
    }
  });

  it.skipIf(!cli)('SIGINT to the CLI as soon as it holds a program (loading or attaching): it stops, exits 0, nothing stays behind', async () => {
    const { child, held } = await cliHoldingAProgram();
    try {
      expect(held.progs.length).toBeGreaterThan(0);
      const attachedAlready = child.stderr.some((l) => /tracing capability checks/.test(l));
      child.kill('SIGINT');
      const end = await child.exited;
      // Its handlers are installed before the load (which runs off the main thread): mid-load the
      // load stops and the CLI says so; once attached it detaches. Either way it exits 0.
      expect(end, child.stderr.join(' | ')).toEqual({ code: 0, signal: null });
      const stoppedEarly = child.stderr.some((l) => /stopped before tracing started/.test(l));
      expect(stoppedEarly || child.stderr.some((l) => /tracing capability checks/.test(l)), child.stderr.join(' | ')).toBe(true);
      console.info(`CLI interrupted ${attachedAlready ? 'after' : 'before'} its readiness line (${stoppedEarly ? 'load stopped' : 'detached'}): ${JSON.stringify(end)}`);
      expect(await settle(() => survivors(held))).toEqual([]);
    } finally {
      child.kill();
    }
  });

  it.skipIf(!cli)('two SIGINTs in a row (npx forwarding the terminal\'s) mid-load are one stop: exit 0, nothing stays behind', async () => {
    const { child, held } = await cliHoldingAProgram();
    try {
      expect(held.progs.length).toBeGreaterThan(0);
      child.kill('SIGINT');
      // Apart enough not to merge into one pending signal, well inside the CLI's one-second grace.
      await new Promise((r) => setTimeout(r, 2));
      child.kill('SIGINT');
      const end = await child.exited;
      expect(end, child.stderr.join(' | ')).toEqual({ code: 0, signal: null });
      expect(await settle(() => survivors(held))).toEqual([]);
    } finally {
      child.kill();
    }
  });

  for (const signal of ['SIGTERM', 'SIGINT', 'SIGKILL'] as const) {
    it(`${signal} during GadgetRun.start (loaded, attaching), no handler: the default action kills it and the kernel releases everything`, async () => {
      const child = gadgetChild({ mode: 'signal-in-start', signal });
      try {
        await child.line('stdout', /"type":"loading"/);
        const ids = child.messages<{ ids: OwnedIds }>('loading')[0].ids;
        expect(ids.progs.length).toBeGreaterThan(0);
        expect(ids.maps.length).toBeGreaterThan(0);
        const end = await child.exited;
        expect(end.signal).toBe(signal);
        expect(child.messages('started')).toEqual([]);
        expect(await settle(() => survivors(ids))).toEqual([]);
      } finally {
        child.kill();
      }
    });
  }

  it('SIGINT during GadgetRun.start with a handler: the handler runs once start returns, closes, nothing stays behind', async () => {
    const child = gadgetChild({ mode: 'signal-in-start', signal: 'SIGINT', handler: true });
    try {
      await child.line('stdout', /"type":"loading"/);
      const ids = child.messages<{ ids: OwnedIds }>('loading')[0].ids;
      const end = await child.exited;
      expect(end).toEqual({ code: 130, signal: null });
      // start is synchronous: JS signal handlers only run after it returned (see docs/HARDENING.md).
      expect(child.messages('handler')).toEqual([{ type: 'handler', started: true }]);
      expect(await settle(() => survivors(ids))).toEqual([]);
    } finally {
      child.kill();
    }
  });
});

describe('stale legacy probe events', () => {
  const has = hasProbeEventsFile('kprobe');
  if (!has) console.warn(`skipped: ${tracefsRoot()}/kprobe_events does not exist (CONFIG_KPROBE_EVENTS off); vmtest covers stale-probe removal`);

  it.skipIf(!has)('removeStaleProbeEvents removes tsbpf_<dead pid>_ events and keeps those of live owners', () => {
    const file = `${tracefsRoot()}/kprobe_events`;
    // A pid that cannot be alive: above pid_max.
    const pidMax = Number(readFileSync('/proc/sys/kernel/pid_max', 'latin1'));
    const dead = `tsbpf_${pidMax + 1}_0_hardening`;
    const mine = `tsbpf_${process.pid}_999_hardening`;
    writeFileSync(file, `p:kprobes/${dead} vfs_read\n`, { flag: 'a' });
    writeFileSync(file, `p:kprobes/${mine} vfs_read\n`, { flag: 'a' });
    try {
      expect(removeStaleProbeEvents('kprobe')).toBeGreaterThanOrEqual(1);
      const text = readFileSync(file, 'latin1');
      expect(text).not.toContain(dead);
      expect(text).toContain(mine);
    } finally {
      for (const n of [dead, mine]) {
        try {
          writeFileSync(file, `-:kprobes/${n}\n`, { flag: 'a' });
        } catch {
          // already gone
        }
      }
    }
  });
});

describe('legacy uprobe events: names carry the owner, the dead owner\'s are removed', () => {
  const has = hasProbeEventsFile('uprobe');
  if (!has) console.warn(`skipped: ${tracefsRoot()}/uprobe_events does not exist (CONFIG_UPROBE_EVENTS off)`);
  const BINARY = '/usr/bin/true';
  const haveBinary = existsSync(BINARY);
  if (!haveBinary) console.warn(`skipped: ${BINARY} is missing`);
  const events = (): string => readFileSync(`${tracefsRoot()}/uprobe_events`, 'latin1');

  it.skipIf(!has || !haveBinary || !dist)('owners killed by SIGKILL or SIGTERM leave their events; the next start removes them and keeps live owners\' events', async () => {
    // The owner exits cleanly when its stdin closes (then its exit hook removes the event).
    const script = `const lib = await import(${JSON.stringify(LOADER_DIST)});
const e = lib.createProbeEvent({ kind: 'uprobe', retprobe: false, target: ${JSON.stringify(BINARY)}, offset: 0x1000, label: 'hardening' });
console.log(JSON.stringify({ type: 'created', name: e.name }));
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));`;
    // Three owners at once with the same label: the pid keeps their names apart.
    const owners = [0, 1, 2].map(() => new LineChild(process.execPath, ['--input-type=module', '-e', script]));
    const [killed, terminated, clean] = owners;
    const mine = createProbeEvent({ kind: 'uprobe', retprobe: false, target: BINARY, offset: 0x1000, label: 'hardening' });
    try {
      await Promise.all(owners.map((o) => o.line('stdout', /"created"/)));
      const names = owners.map((o) => o.messages<{ name: string }>('created')[0].name);
      owners.forEach((o, i) => expect(names[i]).toMatch(new RegExp(`^tsbpf_${o.proc.pid}_\\d+_hardening$`)));
      expect(mine.name).toMatch(new RegExp(`^tsbpf_${process.pid}_\\d+_hardening$`));
      expect(new Set([...names, mine.name]).size).toBe(4);
      for (const n of names) expect(events()).toContain(n);

      // A clean exit removes its own event (exit hook).
      clean.proc.stdin?.end();
      expect((await clean.exited).code).toBe(0);
      expect(events()).not.toContain(names[2]);
      // Death by a signal's default action runs no exit hook: the events outlive their owners.
      killed.kill('SIGKILL');
      terminated.kill('SIGTERM');
      await Promise.all([killed.exited, terminated.exited]);
      expect(events()).toContain(names[0]);
      expect(events()).toContain(names[1]);
      // The next start (removeStaleProbeEvents runs before a process's first legacy probe) clears them.
      // (The count is not asserted: another tsbpf process starting meanwhile may have removed them first.)
      removeStaleProbeEvents('uprobe');
      const after = events();
      expect(after).not.toContain(names[0]);
      expect(after).not.toContain(names[1]);
      expect(after).toContain(mine.name); // a live owner's (ours) stays
      expect(liveProbeEvents()).toContain(`uprobes/${mine.name}`);
    } finally {
      for (const o of owners) o.kill();
      mine.remove();
    }
    expect(events()).not.toContain(mine.name);
  });
});
