import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { run } from '../../src/cli/inspect.js';
import { testdataPath } from '../testdata.js';

let stdout = '';
let stderr = '';

beforeEach(() => {
  stdout = '';
  stderr = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += String(chunk);
    return true;
  });
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  });
});
afterEach(() => {
  vi.restoreAllMocks();
});

const object = testdataPath('inspect.bpf.o');

describe('tsbpf inspect', () => {
  it('prints a summary by default', async () => {
    expect(await run([object])).toBe(0);
    expect(stdout).toContain(`Object: ${object}\n`);
    expect(stdout).toMatch(/\n {2}spill_reload +tracepoint\/syscalls\/sys_enter_close +tracepoint +syscalls\/sys_enter_close +\d+\n/);
    expect(stdout).toMatch(/\n {2}counts +hash +4 \(u32\) +8 \(u64\) +128\n/);
    expect(stdout).toMatch(/\n {2}spill_reload +pending +Delete\n/);
    expect(stderr).toBe('');
  });

  it('prints both diagrams with --mermaid', async () => {
    expect(await run(['--mermaid', object])).toBe(0);
    expect(stdout).toMatch(/^### Flowchart\n\n```mermaid\nflowchart LR\n/);
    expect(stdout).toContain('spill_reload -- "Delete" --> pending\n');
    expect(stdout).toContain('```mermaid\nsequenceDiagram\nbox eBPF Programs\n');
    expect(stdout).not.toContain('RingbufReserve');
  });

  it('adds the other helpers and global data with --detailed', async () => {
    expect(await run(['--mermaid', '--detailed', object])).toBe(0);
    expect(stdout).toContain('other_caller -- "RingbufReserve" --> ring\n');
    expect(stdout).toContain('tail_and_globals -- "Read+Write" --> _bss\n');
    expect(stdout).toContain('participant _bss as .bss\n');
  });

  it('prints a JSON document with --json', async () => {
    expect(await run([object, '--json'])).toBe(0);
    const doc = JSON.parse(stdout) as { version: number; edges: Array<{ program: string; map: string; label: string }> };
    expect(doc.version).toBe(1);
    expect(doc.edges).toContainEqual({ program: 'spill_reload', map: 'pending', kinds: ['Delete'], label: 'Delete' });
  });

  it('prints developer notes with --notes', async () => {
    expect(await run([object, '--notes'])).toBe(0);
    expect(stdout.startsWith('# Developer Notes\n')).toBe(true);
    expect(stdout).toContain('`inspect` gadget');
    expect(stdout).toContain('### Sequence Diagram\n');
  });

  it('rejects bad usage with exit code 2', async () => {
    expect(await run([])).toBe(2);
    expect(stderr).toContain('no object given');
    expect(await run([object, '--bogus'])).toBe(2);
    expect(stderr).toContain('unknown option --bogus');
    expect(await run([object, '--json', '--notes'])).toBe(2);
    expect(stderr).toContain('cannot be combined');
    expect(await run([object, object])).toBe(2);
    expect(stdout).toBe('');
  });

  it('prints help with exit code 0', async () => {
    expect(await run(['--help'])).toBe(0);
    expect(stdout).toContain('usage: tsbpf inspect');
  });

  it('reports an unreadable or malformed object with exit code 1', async () => {
    expect(await run(['/nonexistent/x.bpf.o'])).toBe(1);
    expect(stderr).toContain('/nonexistent/x.bpf.o');
    const dir = mkdtempSync(join(tmpdir(), 'tsbpf-inspect-'));
    try {
      const bogus = join(dir, 'bogus.o');
      writeFileSync(bogus, 'not an elf file at all, clearly');
      stderr = '';
      expect(await run([bogus])).toBe(1);
      expect(stderr).toMatch(/^tsbpf inspect: .*bogus\.o/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
