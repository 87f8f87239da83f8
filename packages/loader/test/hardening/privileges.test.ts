/**
 * Privileges and footprint. Without CAP_BPF/CAP_PERFMON the CLI refuses before loading anything,
 * naming what is missing; the library's error names the capability and is a TsbpfError. Pinned
 * maps are owner-only (0600). A traced run writes nothing outside bpffs, tracefs and the user's
 * cache directory: every write-class syscall of the CLI is recorded with strace.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Collection } from '../../src/collection.js';
import { hasTpBtf } from '../../src/features/probes.js';
import { CollectionSpec } from '../../src/spec/collection.js';
import { testdataPath } from '../testdata.js';
import { GADGET_CAP_CLI, LOADER_DIST, TP_OBJECT, haveDist } from './helpers.js';

const tp = hasTpBtf('cap_capable');
if (!tp) console.warn('skipped: no tp_btf/cap_capable on this kernel (needs 6.14+); vmtest covers the kprobe variant');
const cli = existsSync(GADGET_CAP_CLI);
if (!cli) console.warn(`skipped: ${GADGET_CAP_CLI} is not built`);
const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('skipped: dropping capabilities needs a root parent');
const which = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const setpriv = which('setpriv');
const capsh = which('capsh');
const strace = which('strace');
if (!setpriv) console.warn('skipped: setpriv (util-linux) is not installed');
if (!capsh) console.warn('skipped: capsh (libcap) is not installed');
if (!strace) console.warn('skipped: strace is not installed; the write-footprint test needs it');

/** Library probe: start the gadget, print the outcome as JSON. */
const LIB_PROBE = `
const lib = await import(${JSON.stringify(LOADER_DIST)});
try {
  const r = lib.GadgetRun.start(lib.CollectionSpec.fromFile(${JSON.stringify(TP_OBJECT)}));
  r.close();
  console.log(JSON.stringify({ started: true }));
} catch (e) {
  console.log(JSON.stringify({ started: false, typed: e instanceof lib.TsbpfError, code: e.code, message: e.message }));
}`;

const DROP_ALL = ['--inh-caps=-all', '--ambient-caps=-all', '--bounding-set=-all', '--'];
const NOBODY = ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', '--'];

describe.skipIf(!isRoot || !setpriv)('refusal without privileges', () => {
  it.skipIf(!cli)('the CLI, as root with every capability dropped, names CAP_BPF and CAP_PERFMON and exits 1', () => {
    const r = spawnSync('setpriv', [...DROP_ALL, process.execPath, GADGET_CAP_CLI, '--timeout', '1'], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/missing CAP_BPF and CAP_PERFMON/);
    expect(r.stderr).toMatch(/root|setcap/);
    expect(r.stderr).not.toMatch(/\n\s+at /); // a message, not a stack trace
    expect(r.stdout).toBe('');
  });

  it.skipIf(!cli)('the CLI as nobody says it is not running as root', () => {
    const r = spawnSync('setpriv', [...NOBODY, process.execPath, GADGET_CAP_CLI, '--timeout', '1'], { encoding: 'utf8', timeout: 30_000, cwd: '/' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/not running as root: missing CAP_BPF and CAP_PERFMON/);
  });

  it.skipIf(!cli || !capsh)('the CLI with only CAP_PERFMON missing names just that', () => {
    const r = spawnSync('capsh', ['--drop=cap_perfmon,cap_sys_admin', '--', '-c', `exec ${process.execPath} ${GADGET_CAP_CLI} --timeout 1`], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/missing CAP_PERFMON \(/);
    expect(r.stderr).not.toMatch(/missing CAP_BPF/);
  });

  it.skipIf(!tp || !haveDist())('the library without capabilities throws a TsbpfError naming CAP_BPF', () => {
    const r = spawnSync('setpriv', [...DROP_ALL, process.execPath, '--input-type=module', '-e', LIB_PROBE], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { started: boolean; typed: boolean; code: string; message: string };
    expect(out.started).toBe(false);
    expect(out.typed).toBe(true);
    expect(out.message).toMatch(/EPERM/);
    expect(out.message).toMatch(/CAP_BPF/);
  });
});

describe('pinned objects', () => {
  it('maps pinned by name, and maps pinned by hand, are owner-only (0600)', () => {
    const dir = `/sys/fs/bpf/tsbpf-hardening-${process.pid}`;
    const spec = CollectionSpec.fromFile(testdataPath('maps.bpf.o'));
    const pinned = [...spec.maps.values()].filter((m) => m.pinning !== 0).map((m) => m.name);
    expect(pinned.length).toBeGreaterThan(0);
    try {
      using coll = Collection.load(spec, { pinPath: dir });
      for (const name of pinned) expect((statSync(join(dir, name)).mode & 0o777).toString(8), name).toBe('600');
      const [first] = coll.maps.values();
      first.pin(join(dir, 'by-hand'));
      expect((statSync(join(dir, 'by-hand')).mode & 0o777).toString(8)).toBe('600');
    } finally {
      if (existsSync(dir)) {
        for (const f of readdirSync(dir)) unlinkSync(join(dir, f));
        rmdirSync(dir);
      }
    }
  });
});

describe.skipIf(!tp || !cli || !strace)('write footprint', () => {
  it('a traced CLI run writes nothing outside bpffs, tracefs and the cache directory', async () => {
    const home = mkdtempSync(join(tmpdir(), 'tsbpf-home-'));
    const work = mkdtempSync(join(tmpdir(), 'tsbpf-cwd-'));
    const log = join(work, '..', `tsbpf-strace-${process.pid}.txt`);
    try {
      // The cache directory follows HOME here (the test config's TSBPF_CACHE_DIR= would turn it off).
      const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, XDG_CACHE_HOME: join(home, '.cache') };
      delete env.TSBPF_CACHE_DIR;
      const calls = 'openat,open,creat,mkdir,mkdirat,rename,renameat,renameat2,unlink,unlinkat,rmdir,symlink,symlinkat,link,linkat,truncate,chmod,fchmodat,chown,fchownat,mknod,mknodat';
      const child = spawnSync(
        'sh',
        ['-c', `(sleep 2; python3 -c 'import os; os.setpriority(os.PRIO_PROCESS, 0, -2)') & exec strace -f -qq -e trace=${calls} -o ${log} ${process.execPath} ${GADGET_CAP_CLI} --timeout 5 --collect-ustack --profile`],
        { encoding: 'utf8', cwd: work, env, timeout: 150_000 },
      );
      expect(child.status, child.stderr).toBe(0);
      const lines = readFileSync(log, 'latin1').split('\n');
      // The run really loaded and read events (the check is not vacuous).
      expect(lines.some((l) => l.includes('/sys/kernel/btf/vmlinux'))).toBe(true);
      expect(child.stdout.length).toBeGreaterThan(0);
      const written: string[] = [];
      for (const l of lines) {
        const m = /^\d+\s+(\w+)\((.*)$/.exec(l);
        if (!m || / = -1 /.test(l)) continue;
        const [, call, args] = m;
        const path = /"([^"]*)"/.exec(args)?.[1];
        if (path === undefined) continue;
        const isOpen = call === 'openat' || call === 'open';
        if (isOpen && !/O_WRONLY|O_RDWR|O_CREAT|O_TRUNC|O_APPEND/.test(args)) continue;
        written.push(`${call} ${path}`);
      }
      const allowed = [/^\S+ \/sys\/fs\/bpf\//, /^\S+ \/sys\/kernel\/(debug\/)?tracing\//, new RegExp(`^\\S+ ${home}/\\.cache(/|$)`), /^\S+ \/dev\/(null|tty|pts\/\d+)$/];
      expect(written.filter((w) => !allowed.some((a) => a.test(w)))).toEqual([]);
      // The CLI kept its code cache and its kernel-BTF lookups there, and nothing else.
      const kept = readdirSync(join(home, '.cache', 'tsbpf'));
      const codeCache = /^(trace-capabilities|loader)-[0-9a-f]{32}\.v8cache$/;
      expect(kept).toContain('kernel-btf-lookups.json');
      expect(kept.some((f) => codeCache.test(f))).toBe(true);
      expect(kept.filter((f) => f !== 'kernel-btf-lookups.json' && !codeCache.test(f))).toEqual([]);
      // Nothing left in the temporary HOME (outside its cache) or the working directory.
      expect(readdirSync(home).filter((f) => f !== '.cache')).toEqual([]);
      expect(readdirSync(work)).toEqual([]);
    } finally {
      rmSync(home, { recursive: true, force: true });
      rmSync(work, { recursive: true, force: true });
      rmSync(log, { force: true });
    }
    // strace -f slows node's start-up several times over on a busy machine.
  }, 180_000);
});
