import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { findPrebuilt, isMuslInterpreter, koffi, loadKoffi, programInterpreter } from '../../src/sys/koffi.js';

const here = dirname(fileURLToPath(import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'tsbpf-koffi-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('loading koffi', () => {
  it('finds the prebuilt addon of the installed koffi, with its version', () => {
    const found = findPrebuilt(here);
    expect(found).toBeDefined();
    // koffi's exports map hides its package.json: read it next to the entry Node resolves.
    const entry = createRequire(import.meta.url).resolve('koffi');
    const koffiPackage = JSON.parse(readFileSync(join(dirname(entry), 'package.json'), 'utf8')) as { version: string };
    expect(found?.version).toBe(koffiPackage.version);
    const libc = isMuslInterpreter(programInterpreter(process.execPath)) ? 'musl' : process.platform;
    expect(found?.addon.endsWith(`@koromix/koffi-${process.platform}-${process.arch}/${libc}_${process.arch}/koffi.node`)).toBe(true);
  });

  it('shares one addon instance with require("koffi")', () => {
    const api = koffi();
    const viaPackage = createRequire(import.meta.url)('koffi') as { default: unknown };
    expect(api).toBe(viaPackage.default);
    expect(typeof api.load).toBe('function');
    expect(koffi()).toBe(api);
    // The fallback (koffi's own loader) gives the same API object, not koffi's CommonJS wrapper.
    expect(loadKoffi(false)).toBe(api);
  });

  it('takes no addon from a koffi package without its platform package', () => {
    const lonely = join(scratch, 'a', 'b');
    mkdirSync(lonely, { recursive: true });
    // A koffi package without its platform package next to it (or above it) is not taken.
    mkdirSync(join(scratch, 'node_modules', 'koffi'), { recursive: true });
    writeFileSync(join(scratch, 'node_modules', 'koffi', 'package.json'), JSON.stringify({ version: '9.9.9' }));
    expect(findPrebuilt(lonely)).toBeUndefined();
  });

  it('follows a linked koffi to the platform package next to its real directory (pnpm layout)', () => {
    const store = join(scratch, 'store', 'koffi@9.9.8', 'node_modules');
    mkdirSync(join(store, 'koffi'), { recursive: true });
    writeFileSync(join(store, 'koffi', 'package.json'), JSON.stringify({ version: '9.9.8' }));
    const platformPackage = join(store, '@koromix', `koffi-${process.platform}-${process.arch}`);
    mkdirSync(platformPackage, { recursive: true });
    writeFileSync(join(platformPackage, 'package.json'), JSON.stringify({ version: '9.9.8' }));
    for (const libc of [process.platform, 'musl']) {
      const dir = join(platformPackage, `${libc}_${process.arch}`);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'koffi.node'), '');
    }
    const project = join(scratch, 'project');
    mkdirSync(join(project, 'node_modules'), { recursive: true });
    mkdirSync(join(project, 'src'), { recursive: true });
    symlinkSync(join(store, 'koffi'), join(project, 'node_modules', 'koffi'));
    const found = findPrebuilt(join(project, 'src'));
    expect(found?.version).toBe('9.9.8');
    expect(found?.addon.startsWith(join(realpathSync(store), '@koromix') + '/')).toBe(true);
    // A platform package of another version is not koffi's to load.
    writeFileSync(join(platformPackage, 'package.json'), JSON.stringify({ version: '9.9.7' }));
    expect(findPrebuilt(join(project, 'src'))).toBeUndefined();
  });

  it("tells musl's dynamic linker by its file name, as koffi does", () => {
    expect(isMuslInterpreter('/lib/ld-musl-x86_64.so.1')).toBe(true);
    expect(isMuslInterpreter('/lib64/ld-linux-x86-64.so.2')).toBe(false);
    expect(isMuslInterpreter('/opt/ld-musl-tools/lib/ld-linux-aarch64.so.1')).toBe(false);
    expect(isMuslInterpreter(undefined)).toBe(false);
  });

  it('reads the program interpreter of ELF executables', () => {
    expect(programInterpreter(process.execPath)).toMatch(/\/ld-(linux|musl)[-\w.]*\.so(\.\d+)?$/);
    const text = join(scratch, 'not-elf');
    writeFileSync(text, '#!/bin/sh\n'.repeat(20));
    expect(programInterpreter(text)).toBeUndefined();
  });
});
