import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readPseudoFile } from '../src/pseudofile.js';

describe('readPseudoFile', () => {
  it('reads pseudo-files as readFileSync does', () => {
    for (const path of ['/proc/sys/kernel/random/boot_id', '/sys/devices/system/cpu/possible', '/proc/sys/kernel/osrelease']) {
      expect(readPseudoFile(path), path).toBe(readFileSync(path, 'latin1'));
    }
  });

  it('reads files larger than its first buffer, and empty ones', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsbpf-pseudo-'));
    try {
      for (const size of [0, 1, 4095, 4096, 4097, 10_000, 70_000]) {
        const text = Array.from({ length: size }, (_, i) => String.fromCharCode(33 + (i % 90))).join('');
        writeFileSync(join(dir, 'f'), text, 'latin1');
        expect(readPseudoFile(join(dir, 'f')), `${size} bytes`).toBe(text);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('throws the open error with its code', () => {
    expect(() => readPseudoFile('/sys/kernel/tracing/events/no/such/id')).toThrow(expect.objectContaining({ code: 'ENOENT' }));
  });
});
