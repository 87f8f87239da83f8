/** The CLI benchmark runs the gadget CLI with the node options of its shebang, as its bin would. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { shebangFlags } from '../src/benches/gadget.js';

const dir = mkdtempSync(join(tmpdir(), 'tsbpf-shebang-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function script(first: string): string {
  const p = join(dir, `s${Math.random().toString(36).slice(2)}.js`);
  writeFileSync(p, `${first}\nconsole.log(1);\n`);
  return p;
}

describe('shebangFlags', () => {
  it('takes the node options of an env -S shebang', () => {
    expect(shebangFlags(script('#!/usr/bin/env -S node --max-semi-space-size=2 --no-warnings'))).toEqual(['--max-semi-space-size=2', '--no-warnings']);
  });
  it('is empty for a plain node shebang, another interpreter, or no shebang', () => {
    expect(shebangFlags(script('#!/usr/bin/env node'))).toEqual([]);
    expect(shebangFlags(script('#!/usr/bin/env -S python3 -u'))).toEqual([]);
    expect(shebangFlags(script('console.log(0);'))).toEqual([]);
  });
});
