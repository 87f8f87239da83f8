/**
 * `tsbpf btf dump`: formats, inputs (raw BTF, BPF object), and exit codes for bad input.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { run } from '../../src/cli/btf.js';
import { testdataPath } from '../testdata.js';
import { allKindsBtf } from './fixtures.js';

let dir = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tsbpf-cli-'));
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  vi.restoreAllMocks();
});

describe('tsbpf btf dump', () => {
  it('dumps a raw BTF file as C and as JSON', async () => {
    const raw = join(dir, 'all.btf');
    writeFileSync(raw, allKindsBtf().encode());
    const c = join(dir, 'all.h');
    expect(await run(['dump', raw, '-o', c])).toBe(0);
    const text = readFileSync(c, 'utf8');
    expect(text).toContain('#ifndef __VMLINUX_H__');
    expect(text).toContain('struct s {');
    expect(text).toContain(`from ${raw}`);
    const j = join(dir, 'all.json');
    expect(await run(['dump', '--format', 'json', raw, '--output', j])).toBe(0);
    const parsed = JSON.parse(readFileSync(j, 'utf8')) as { types: unknown[] };
    expect(parsed.types).toHaveLength(23);
  });

  it("reads a BPF object's .BTF section", async () => {
    const out = join(dir, 'globals.json');
    expect(await run(['dump', '-f', 'json', testdataPath('globals.bpf.o'), '-o', out])).toBe(0);
    const parsed = JSON.parse(readFileSync(out, 'utf8')) as { source: string; types: { kind: string }[] };
    expect(parsed.source).toContain('globals.bpf.o:.BTF');
    expect(parsed.types.some((t) => t.kind === 'datasec')).toBe(true);
  });

  it('fails with exit code 2 on bad usage and 1 on bad input', async () => {
    const err = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    expect(await run([])).toBe(2);
    expect(await run(['load'])).toBe(2);
    expect(await run(['dump', '--format', 'xml'])).toBe(2);
    expect(await run(['dump', '--bogus'])).toBe(2);
    expect(await run(['dump', join(dir, 'missing.btf')])).toBe(1);
    const junk = join(dir, 'junk.btf');
    writeFileSync(junk, 'not btf at all');
    expect(await run(['dump', junk])).toBe(1);
    expect(err.mock.calls.map((c) => String(c[0])).join('\n')).toMatch(/BTF_BAD_MAGIC|magic/);
    err.mockRestore();
  });
});
