/**
 * The kernel matrix (`kernels.json`) and the paths vmtest works in.
 *
 * @packageDocumentation
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Features a guest check can be told to expect present (`true`) or absent (`false`). */
export type FeatureExpectations = Record<string, boolean>;

/** One row of the matrix as written in `kernels.json`, with defaults applied. */
export interface KernelEntry {
  /** Short name used on the command line and in output prefixes, e.g. `6.1`. */
  readonly label: string;
  /** Debian suite the packages come from (`bullseye`, `bookworm`, `trixie`, `sid`). */
  readonly suite: string;
  /** Glob over the Debian kernel ABI; `*` matches any run of characters other than `-`. */
  readonly abi: string;
  /** Kernel flavour appended to the ABI to form the release, e.g. `amd64`. */
  readonly flavour: string;
  /** Package name templates; `{release}` and `{abi}` are substituted. */
  readonly packages: readonly string[];
  /** Full kernel command line: the defaults plus this kernel's extra arguments. */
  readonly cmdline: string;
  /** Guest memory for qemu's `-m`. */
  readonly memory: string;
  /** Modules the guest must load (with their dependencies) to reach the host root over 9p. */
  readonly modules: readonly string[];
  /** Modules loaded when present, silently skipped otherwise. */
  readonly optionalModules: readonly string[];
  /** Features the guest checks compare against. */
  readonly expect: FeatureExpectations;
  /**
   * Checks known to fail on this kernel, with the reason: such a failure is reported as a skip that
   * names the reason; the same check passing fails (the entry is stale and must go).
   */
  readonly expectFail: Readonly<Record<string, string>>;
}

interface RawKernel {
  label?: unknown;
  suite?: unknown;
  abi?: unknown;
  flavour?: unknown;
  packages?: unknown;
  cmdline?: unknown;
  memory?: unknown;
  modules?: unknown;
  optionalModules?: unknown;
  expect?: unknown;
  expectFail?: unknown;
}

/** A malformed `kernels.json`, or a kernel label that is not in it. */
export class VmtestConfigError extends Error {
  /** Stable code for callers that branch on the kind of failure. */
  readonly code = 'VMTEST_CONFIG';
  constructor(message: string) {
    super(message);
    this.name = 'VmtestConfigError';
  }
}

/** The `vmtest` package folder (holds `kernels.json`), found from this module's own location. */
export function packageRoot(): string {
  // Both src/config.ts (vitest) and dist/*.js (built) sit one level below the package root.
  return resolve(dirname(fileURLToPath(import.meta.url)), '..');
}

/** The repository root: the folder above the vmtest package. */
export function repoRoot(): string {
  return resolve(packageRoot(), '..');
}

/** Where kernels, apt state and results are cached: `$VMTEST_CACHE` or `vmtest/.cache`. */
export function cacheRoot(): string {
  const fromEnv = process.env.VMTEST_CACHE;
  return fromEnv !== undefined && fromEnv !== '' ? resolve(fromEnv) : join(packageRoot(), '.cache');
}

function str(raw: unknown, what: string, fallback?: string): string {
  if (typeof raw === 'string') return raw;
  if (raw === undefined && fallback !== undefined) return fallback;
  throw new VmtestConfigError(`kernels.json: ${what} must be a string`);
}

function strList(raw: unknown, what: string, fallback?: readonly string[]): readonly string[] {
  if (raw === undefined && fallback !== undefined) return fallback;
  if (Array.isArray(raw) && raw.every((x): x is string => typeof x === 'string')) return raw;
  throw new VmtestConfigError(`kernels.json: ${what} must be an array of strings`);
}

function expectations(raw: unknown, what: string): FeatureExpectations {
  if (raw === undefined) return {};
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new VmtestConfigError(`kernels.json: ${what} must be an object of booleans`);
  }
  const out: FeatureExpectations = {};
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v !== 'boolean') throw new VmtestConfigError(`kernels.json: ${what}.${k} must be a boolean`);
    out[k] = v;
  }
  return out;
}

function reasons(raw: unknown, what: string): Record<string, string> {
  if (raw === undefined) return {};
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new VmtestConfigError(`kernels.json: ${what} must be an object of check name → reason`);
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v !== 'string' || v === '') throw new VmtestConfigError(`kernels.json: ${what}.${k} must be a non-empty reason`);
    out[k] = v;
  }
  return out;
}

/** Parses the text of a `kernels.json` into entries with the defaults applied. */
export function parseKernels(text: string): KernelEntry[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new VmtestConfigError(`kernels.json: ${(e as Error).message}`);
  }
  if (typeof doc !== 'object' || doc === null) throw new VmtestConfigError('kernels.json: not an object');
  const { defaults = {}, kernels } = doc as { defaults?: RawKernel; kernels?: unknown };
  if (!Array.isArray(kernels)) throw new VmtestConfigError('kernels.json: "kernels" must be an array');
  const baseCmdline = str(defaults.cmdline, 'defaults.cmdline', '');
  const seen = new Set<string>();
  return kernels.map((raw: RawKernel, i): KernelEntry => {
    const label = str(raw.label, `kernels[${i}].label`);
    if (seen.has(label)) throw new VmtestConfigError(`kernels.json: duplicate label ${label}`);
    seen.add(label);
    const at = `kernels[${label}]`;
    const extra = str(raw.cmdline, `${at}.cmdline`, '');
    return {
      label,
      suite: str(raw.suite, `${at}.suite`),
      abi: str(raw.abi, `${at}.abi`),
      flavour: str(raw.flavour, `${at}.flavour`, str(defaults.flavour, 'defaults.flavour', 'amd64')),
      packages: strList(raw.packages, `${at}.packages`),
      cmdline: [baseCmdline, extra].filter((s) => s !== '').join(' '),
      memory: str(raw.memory, `${at}.memory`, str(defaults.memory, 'defaults.memory', '512M')),
      modules: strList(raw.modules, `${at}.modules`, strList(defaults.modules, 'defaults.modules', [])),
      optionalModules: strList(
        raw.optionalModules,
        `${at}.optionalModules`,
        strList(defaults.optionalModules, 'defaults.optionalModules', []),
      ),
      expect: expectations(raw.expect, `${at}.expect`),
      expectFail: reasons(raw.expectFail, `${at}.expectFail`),
    };
  });
}

/** Reads the package's own `kernels.json` (or `path`). */
export function loadKernels(path = join(packageRoot(), 'kernels.json')): KernelEntry[] {
  return parseKernels(readFileSync(path, 'utf8'));
}

/** Picks entries by label; an empty list selects the whole matrix. */
export function selectKernels(all: readonly KernelEntry[], labels: readonly string[]): KernelEntry[] {
  if (labels.length === 0) return [...all];
  return labels.map((label) => {
    const hit = all.find((k) => k.label === label || (label.endsWith('.x') === false && k.label === `${label}.x`));
    if (hit === undefined) {
      throw new VmtestConfigError(`unknown kernel ${label}; known: ${all.map((k) => k.label).join(', ')}`);
    }
    return hit;
  });
}
