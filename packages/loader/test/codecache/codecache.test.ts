/**
 * The V8 code cache of tsbpf's bundles (src/codecache/): used when sound, rebuilt when stale, ignored when
 * corrupted, foreign or refused by V8, and never an error when it cannot be written. V8 keeps an
 * in-process compilation cache keyed by script origin, so every load here uses a new file name
 * (the code cache key is the content, not the path).
 */
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checksumArena, reuseChecksumArena } from '../../src/cachedir.js';
import { cacheFileName, checksum, defaultCacheDir, loadBundle, readCacheFile, wasmWords, writeCacheFile } from '../../src/codecache/index.js';

const NAME = 'fixture';
let root: string;
let cacheDir: string;
let n = 0;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'tsbpf-codecache-'));
  cacheDir = join(root, 'cache');
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

/** A bundle with `source` under a fresh file name. */
function bundle(source: string): string {
  n++;
  const file = join(root, `bundle${n}.cjs`);
  writeFileSync(file, source);
  return file;
}

const SOURCE = `
const { sep } = require('node:path');
function work(x) { let s = 0; for (let i = 0; i < x; i++) s += i; return s; }
exports.answer = () => work(4) + 36 + sep.length - 1;
exports.where = () => [__filename, __dirname, module.exports === exports];
`;

const cacheFiles = (): string[] => readdirSync(cacheDir).filter((f) => f.endsWith('.v8cache'));

/** Load `file`, check it ran, and return what the cache did. */
function load(file: string): ReturnType<typeof loadBundle> {
  const b = loadBundle(file, { cacheDir, name: NAME });
  expect((b.exports.answer as () => number)()).toBe(42);
  expect((b.exports.where as () => unknown[])()).toEqual([file, root, true]);
  return b;
}

describe('code cache', () => {
  it('a miss writes a private cache that the next start uses', () => {
    const first = load(bundle(SOURCE));
    expect(first.state).toBe('miss');
    expect(first.saveCache()).toBe(true);
    expect(first.saveCache()).toBe(false);
    expect(cacheFiles()).toEqual([cacheFileName(NAME, Buffer.from(SOURCE))]);
    expect(statSync(first.cachePath!).mode & 0o777).toBe(0o600);
    expect(statSync(cacheDir).mode & 0o777).toBe(0o700);
    const second = load(bundle(SOURCE));
    expect(second.state).toBe('hit');
    // Nothing to write after a hit.
    expect(second.saveCache()).toBe(false);
  });

  it('a cache is written again only by a run that got further than the run that wrote it', () => {
    const first = load(bundle(SOURCE));
    expect(first.cachedLevel).toBe(-1);
    expect(first.saveCache(1)).toBe(true);
    expect(first.saveCache(1)).toBe(false);
    const file = readCacheFile(first.cachePath!);
    expect(typeof file === 'object' && file.level).toBe(1);
    const second = load(bundle(SOURCE));
    expect(second.state).toBe('hit');
    expect(second.cachedLevel).toBe(1);
    expect(second.saveCache(0)).toBe(false);
    expect(second.saveCache(1)).toBe(false);
    expect(second.saveCache(2)).toBe(true);
    const third = load(bundle(SOURCE));
    expect([third.state, third.cachedLevel]).toEqual(['hit', 2]);
  });

  it('a run never lowers a file another process wrote at a higher level meanwhile', () => {
    const a = load(bundle(SOURCE));
    const b = load(bundle(SOURCE));
    expect([a.state, b.state]).toEqual(['miss', 'miss']);
    expect(b.saveCache(2)).toBe(true);
    expect(a.saveCache(1)).toBe(false);
    const file = readCacheFile(b.cachePath!);
    expect(typeof file === 'object' && file.level).toBe(2);
    // A higher level still replaces it.
    expect(a.saveCache(3)).toBe(true);
  });

  it('abandoned temporary files are pruned; another writer’s current one stays', () => {
    const first = load(bundle(SOURCE));
    first.saveCache();
    // A temporary file of a writer killed an hour ago, and one being written now by another.
    const stale = `${first.cachePath!}.999.old.tmp`;
    const live = `${first.cachePath!}.998.new.tmp`;
    writeFileSync(stale, 'x');
    writeFileSync(live, 'x');
    const hourAgo = (Date.now() - 2 * 3600 * 1000) / 1000;
    utimesSync(stale, hourAgo, hourAgo);
    const changed = `${SOURCE}\nexports.v = 3;\n`;
    expect(load(bundle(changed)).saveCache()).toBe(true);
    const left = readdirSync(cacheDir);
    expect(left).not.toContain(basename(stale));
    expect(left).toContain(basename(live));
    expect(left.filter((f) => f.endsWith('.tmp') && f !== basename(live))).toEqual([]);
  });

  it('a changed bundle misses, and its cache replaces the stale one', () => {
    const old = load(bundle(SOURCE));
    old.saveCache();
    const changed = `${SOURCE}\nexports.version = 2;\n`;
    expect(cacheFileName(NAME, Buffer.from(changed))).not.toBe(cacheFileName(NAME, Buffer.from(SOURCE)));
    const b = load(bundle(changed));
    expect(b.state).toBe('miss');
    expect(b.saveCache()).toBe(true);
    expect(cacheFiles()).toEqual([cacheFileName(NAME, Buffer.from(changed))]);
    expect(load(bundle(changed)).state).toBe('hit');
  });

  it('files of other runtimes (node flags, versions) stay until unused for a week', () => {
    const fresh = join(cacheDir, `${NAME}-${'0'.repeat(16)}${'1'.repeat(16)}.v8cache`);
    const old = join(cacheDir, `${NAME}-${'2'.repeat(16)}${'3'.repeat(16)}.v8cache`);
    writeCacheFile(fresh, NAME, new Uint8Array(8));
    writeCacheFile(old, NAME, new Uint8Array(8));
    const weekAgo = (Date.now() - 8 * 24 * 3600 * 1000) / 1000;
    utimesSync(old, weekAgo, weekAgo);
    load(bundle(SOURCE)).saveCache();
    expect(cacheFiles().sort()).toEqual([cacheFileName(NAME, Buffer.from(SOURCE)), basename(fresh)].sort());
  });

  it('other bundles’ cache files in the same directory are left alone', () => {
    writeCacheFile(join(cacheDir, 'other-0123.v8cache'), 'other', new Uint8Array([1, 2, 3]));
    load(bundle(SOURCE)).saveCache();
    expect(cacheFiles().sort()).toEqual([cacheFileName(NAME, Buffer.from(SOURCE)), 'other-0123.v8cache'].sort());
  });

  it('a corrupted or truncated cache is ignored, then rewritten', () => {
    const first = load(bundle(SOURCE));
    first.saveCache();
    const path = first.cachePath!;
    const good = readFileSync(path);
    const flipped = Buffer.from(good);
    flipped[flipped.length - 100] ^= 0xff;
    // The header is covered too: a damaged level is no level.
    const level = Buffer.from(good);
    level[24] ^= 1;
    for (const bad of [flipped, level, good.subarray(0, good.length - 1), good.subarray(0, 20), Buffer.from('not a cache at all, just some text of some length')]) {
      writeFileSync(path, bad, { mode: 0o600 });
      expect(readCacheFile(path)).toBe('invalid');
      const b = load(bundle(SOURCE));
      expect(b.state).toBe('invalid');
      expect(b.saveCache()).toBe(true);
      expect(readFileSync(path).equals(bad)).toBe(false);
      expect(load(bundle(SOURCE)).state).toBe('hit');
    }
  });

  it('a sound file that V8 refuses is rejected, the program still runs, and the cache is rewritten', () => {
    const path = join(cacheDir, cacheFileName(NAME, Buffer.from(SOURCE)));
    expect(writeCacheFile(path, NAME, Buffer.alloc(4096, 0x5a))).toBe(true);
    expect(typeof readCacheFile(path)).toBe('object');
    const b = load(bundle(SOURCE));
    expect(b.state).toBe('rejected');
    expect(b.saveCache()).toBe(true);
    expect(load(bundle(SOURCE)).state).toBe('hit');
  });

  it('a cache writable by others, or owned by another user, is not used', () => {
    const first = load(bundle(SOURCE));
    first.saveCache();
    const path = first.cachePath!;
    chmodSync(path, 0o666);
    expect(readCacheFile(path)).toBe('invalid');
    expect(load(bundle(SOURCE)).state).toBe('invalid');
    chmodSync(path, 0o600);
    expect(load(bundle(SOURCE)).state).toBe('hit');
    if (process.geteuid?.() !== 0) {
      console.warn('not root: the other-owner case needs chown and is not exercised');
      return;
    }
    chownSync(path, 65534, 65534);
    expect(readCacheFile(path)).toBe('invalid');
    expect(load(bundle(SOURCE)).state).toBe('invalid');
  });

  it('an unwritable cache directory costs the cache, not the program', () => {
    // A directory below a regular file cannot be created, whoever we are (root ignores modes).
    const blocker = join(root, 'file');
    writeFileSync(blocker, '');
    const b = loadBundle(bundle(SOURCE), { cacheDir: join(blocker, 'cache'), name: NAME });
    expect(b.state).toBe('miss');
    expect((b.exports.answer as () => number)()).toBe(42);
    expect(b.saveCache()).toBe(false);
    expect(readdirSync(root).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('writes only into a directory of its own user (root with another user’s HOME leaves nothing there)', () => {
    if (process.geteuid?.() !== 0) {
      console.warn('not root: a directory of another user cannot be made here; the case is not exercised');
      return;
    }
    const home = join(root, 'home');
    mkdirSync(home, { mode: 0o755 });
    chownSync(home, 65534, 65534);
    const b = loadBundle(bundle(SOURCE), { cacheDir: join(home, '.cache', 'tsbpf'), name: NAME });
    expect(b.state).toBe('miss');
    expect(b.saveCache()).toBe(false);
    expect(readdirSync(home)).toEqual([]);
    // Not even into a directory of ours below it: its owner could swap that directory for a symlink.
    mkdirSync(join(home, 'mine'));
    expect(loadBundle(bundle(SOURCE), { cacheDir: join(home, 'mine', 'tsbpf'), name: NAME }).saveCache()).toBe(false);
    expect(readdirSync(join(home, 'mine'))).toEqual([]);
    // Our own directory elsewhere is fine.
    mkdirSync(join(root, 'mine'));
    expect(loadBundle(bundle(SOURCE), { cacheDir: join(root, 'mine', 'tsbpf'), name: NAME }).saveCache()).toBe(true);
  });

  it('does not write through a symlinked cache directory, or into one writable by others', () => {
    // A planted link (~/.cache/tsbpf → a directory of someone else's choosing) is refused even when
    // its target would pass: the link itself is the deepest existing level.
    const target = join(root, 'target');
    mkdirSync(target, { mode: 0o700 });
    const link = join(root, 'linked');
    symlinkSync(target, link);
    const b = loadBundle(bundle(SOURCE), { cacheDir: link, name: NAME });
    expect(b.saveCache()).toBe(false);
    expect(readdirSync(target)).toEqual([]);
    const open = join(root, 'open');
    mkdirSync(open);
    chmodSync(open, 0o777);
    expect(loadBundle(bundle(SOURCE), { cacheDir: open, name: NAME }).saveCache()).toBe(false);
    expect(readdirSync(open)).toEqual([]);
  });

  it('no cache directory: compiled every time, nothing written', () => {
    const b = loadBundle(bundle(SOURCE), { cacheDir: undefined, name: NAME });
    expect(b.state).toBe('disabled');
    expect(b.cachePath).toBeUndefined();
    expect(b.saveCache()).toBe(false);
  });

  it('a missing file is a miss; a symlink to a sound cache is not followed', () => {
    expect(readCacheFile(join(root, 'absent.v8cache'))).toBe('miss');
    const first = load(bundle(SOURCE));
    first.saveCache();
    const link = join(root, 'link.v8cache');
    symlinkSync(first.cachePath!, link);
    expect(typeof readCacheFile(first.cachePath!)).toBe('object');
    expect(readCacheFile(link)).toBe('invalid');
  });

  it('the checksum sees every byte, at any alignment', () => {
    const data = Buffer.alloc(4099);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff;
    const sum = checksum(data);
    expect(checksum(Buffer.concat([Buffer.alloc(1), data]).subarray(1))).toEqual(sum);
    for (const i of [0, 1, 2047, 4095, 4096, 4098]) {
      const d = Buffer.from(data);
      d[i] ^= 1;
      expect(checksum(d), `byte ${i}`).not.toEqual(sum);
    }
    expect(checksum(data.subarray(0, 4098))).not.toEqual(sum);
  });

  it('the WebAssembly word loop gives the JavaScript loop\'s digest, at any size and alignment', () => {
    // The loop as it runs in JavaScript (below 64 kB, or without WebAssembly).
    const reference = (bytes: Uint8Array): Buffer => {
      let a = 0x811c9dc5 | 0;
      let b = bytes.byteLength | 0;
      for (let i = 0; i + 4 <= bytes.length; i += 4) {
        a = Math.imul(a ^ (bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24)), 0x01000193);
        b = (b + a) | 0;
      }
      for (let i = bytes.length & ~3; i < bytes.length; i++) {
        a = Math.imul(a ^ bytes[i], 0x01000193);
        b = (b + a) | 0;
      }
      const out = Buffer.alloc(8);
      out.writeInt32LE(a, 0);
      out.writeInt32LE(b, 4);
      return out;
    };
    const big = Buffer.alloc(540_003);
    for (let i = 0; i < big.length; i++) big[i] = (i * 2654435761) >>> 24;
    // The wasm path really runs (it would fall back to JavaScript silently otherwise).
    expect(wasmWords(big, 16_384, 1, 2)).toBeDefined();
    for (const size of [65_535, 65_536, 65_537, 65_539, 540_000, 540_003]) {
      expect(checksum(big.subarray(0, size)), `size ${size}`).toEqual(reference(big.subarray(0, size)));
      expect(checksum(big.subarray(1, size)), `size ${size - 1}, odd offset`).toEqual(reference(big.subarray(1, size)));
    }
  });

  it('bytes in a checksum arena are summed where they lie, to the same digest', () => {
    const size = 200_003;
    const arena = checksumArena(size);
    // WebAssembly memory (whole 64 KiB pages), the data where the loop reads it.
    expect([arena.byteOffset, arena.buffer.byteLength % 65536]).toEqual([8, 0]);
    for (let i = 0; i < size; i++) arena[i] = (i * 2654435761) >>> 24;
    const copy = Buffer.from(arena);
    // Summed in place (no copy into the loop's memory), to the digest of the same bytes elsewhere.
    expect(checksum(arena)).toEqual(checksum(copy));
    expect(wasmWords(arena, size >>> 2, 1, 2)).toEqual(wasmWords(copy, size >>> 2, 1, 2));
    arena[size - 4] ^= 1;
    expect(checksum(arena)).not.toEqual(checksum(copy));
    // A view elsewhere in the arena is copied like any other bytes.
    expect(checksum(arena.subarray(1))).toEqual(checksum(Buffer.from(arena.subarray(1))));
    // Small sizes are ordinary buffers.
    expect(checksumArena(100).byteLength).toBe(100);
  });

  it('a second file fits in the memory of an arena whose bytes are done with; others get a new one', () => {
    const first = checksumArena(300_000);
    const capacity = first.buffer.byteLength - first.byteOffset;
    const second = reuseChecksumArena(first, 200_000);
    expect([second.buffer, second.byteOffset, second.length]).toEqual([first.buffer, 8, 200_000]);
    second.fill(7);
    // Still an arena: summed in place, to the digest of the same bytes elsewhere.
    expect(checksum(second)).toEqual(checksum(Buffer.alloc(200_000, 7)));
    expect(reuseChecksumArena(first, capacity).buffer).toBe(first.buffer);
    expect(reuseChecksumArena(first, capacity + 1).buffer).not.toBe(first.buffer);
    // Not an arena (an ordinary buffer, or a view elsewhere in one): a new arena.
    expect(reuseChecksumArena(Buffer.alloc(300_000), 100_000).byteOffset).toBe(8);
    expect(reuseChecksumArena(first.subarray(4), 100_000).buffer).not.toBe(first.buffer);
  });

  it('a bundle and its cache above the WebAssembly checksum size load through one arena, to the same program', () => {
    // ~600 kB of functions, compiled eagerly (parenthesized) so that the cache file is large too; the bundle is read between the
    // wrapper's parts, and the cache into the same memory afterwards.
    const filler = Array.from({ length: 2000 }, (_, i) => `const f${i} = (function (x) { return x + ${i} - ${i}; }); // ${'p'.repeat(250)}`).join('\n');
    const source = `${SOURCE}\n${filler}\nexports.sum = () => f1999(1) + f0(1);\n`;
    expect(Buffer.byteLength(source)).toBeGreaterThan(300_000);
    const first = load(bundle(source));
    expect(first.state).toBe('miss');
    (first.exports.sum as () => number)();
    expect(first.saveCache()).toBe(true);
    expect(cacheFiles()).toEqual([cacheFileName(NAME, Buffer.from(source))]);
    // Above the arena threshold, and small enough to be read into the bundle's memory.
    expect(statSync(first.cachePath!).size).toBeGreaterThan(64 * 1024);
    expect(statSync(first.cachePath!).size).toBeLessThan(Buffer.byteLength(source));
    const second = load(bundle(source));
    expect(second.state).toBe('hit');
    expect((second.exports.sum as () => number)()).toBe(2);
    // A byte of the bundle changed: another key, compiled afresh, still the same program.
    const third = load(bundle(source.replace('p'.repeat(250), 'q'.repeat(250))));
    expect(third.state).toBe('miss');
  });

  it('the default directory follows TSBPF_CACHE_DIR, then XDG_CACHE_HOME, then the home directory', () => {
    expect(defaultCacheDir({ TSBPF_CACHE_DIR: '/x/y' })).toBe('/x/y');
    expect(defaultCacheDir({ TSBPF_CACHE_DIR: '' })).toBeUndefined();
    expect(defaultCacheDir({ XDG_CACHE_HOME: '/xdg' })).toBe('/xdg/tsbpf');
    expect(defaultCacheDir({})).toMatch(/\/\.cache\/tsbpf$/);
    // Absolute, so that the trust checks see every level; a relative XDG_CACHE_HOME is ignored.
    expect(defaultCacheDir({ TSBPF_CACHE_DIR: 'rel/dir' })).toBe(join(process.cwd(), 'rel/dir'));
    expect(defaultCacheDir({ XDG_CACHE_HOME: 'xdg' })).toMatch(/\/\.cache\/tsbpf$/);
  });
});
