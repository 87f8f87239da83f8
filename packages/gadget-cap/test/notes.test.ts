import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const pkg = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const repo = resolve(pkg, '../..');

/** The mermaid blocks of a markdown document, trimmed. */
function mermaidBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/```mermaid\n([\s\S]*?)```/g)].map((m) => m[1].trim());
}

describe('DEVELOPER_NOTES.md', () => {
  const generated = execFileSync(process.execPath, [resolve(repo, 'packages/loader/dist/cli/main.js'), 'inspect', resolve(repo, 'bpf/gadgets/trace_capabilities.bpf.o'), '--notes'], {
    encoding: 'utf8',
  });

  it('is what `npm run notes` generates from the committed object (run it when this fails)', () => {
    expect(readFileSync(resolve(pkg, 'DEVELOPER_NOTES.md'), 'utf8')).toBe(generated);
  });

  it("has the seed document's flowchart and sequence diagram", () => {
    const seedDir = resolve(repo, '../shared/seed');
    let seed: string;
    try {
      seed = readFileSync(resolve(seedDir, '000_bf01b177fa491832.txt'), 'utf8');
    } catch {
      console.warn(`skipped: the seed document is not next to the repository (${seedDir})`);
      return;
    }
    expect(mermaidBlocks(generated)).toEqual(mermaidBlocks(seed));
  });
});
