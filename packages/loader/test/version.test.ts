import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LOADER_VERSION } from '../src/version.js';

describe('LOADER_VERSION', () => {
  it('is the version in package.json (the kernel-BTF memo keys its answers by it)', () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(LOADER_VERSION).toBe(pkg.version);
  });
});
