/**
 * The guest result protocol and serial-console cleanup.
 *
 * The guest prints, one per line:
 * - `VMTEST-RESULT {"name":"…","status":"pass|fail|skip","ms":12,"detail":"…"}` per check,
 * - `VMTEST-INIT <uptime> <release>` / `VMTEST-START <uptime>` / `VMTEST-END <uptime>` from init,
 * - `VMTEST-DONE <exit code>` last.
 * qemu exits 0 even after a kernel panic, so the verdict comes only from these lines: no DONE line
 * means failure (panic, timeout, or a guest that died).
 *
 * @packageDocumentation
 */

/** Status of one check. */
export type TestStatus = 'pass' | 'fail' | 'skip';

/** One `VMTEST-RESULT` line. */
export interface TestResult {
  readonly name: string;
  readonly status: TestStatus;
  readonly ms?: number;
  readonly detail?: string;
}

/** Verdict on a whole VM run. */
export type RunStatus = 'pass' | 'fail' | 'panic' | 'timeout' | 'no-result';

/** Everything read from one guest's console. */
export interface GuestReport {
  readonly status: RunStatus;
  readonly tests: readonly TestResult[];
  /** Exit code from `VMTEST-DONE`, or null when the line never came. */
  readonly exitCode: number | null;
  /** The panic line (`Kernel panic - not syncing: …`) when one was seen. */
  readonly panic: string | null;
  /** Guest uptime (s) when init started, when the command started and ended. */
  readonly initUptime: number | null;
  readonly startUptime: number | null;
  readonly endUptime: number | null;
  /** `uname -r` reported by init. */
  readonly release: string | null;
  /** Lines that began with VMTEST- but could not be parsed, and init errors. */
  readonly problems: readonly string[];
}

// CSI (ESC [ … final), OSC (ESC ] … BEL/ST), charset and other two-byte escapes, and C0/C1 controls
// except tab and newline. SeaBIOS/iPXE clear the screen and toggle line wrap with these.
const ESCAPES =
  // eslint-disable-next-line no-control-regex
  /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()*+][0-9A-Za-z]|\x1b[@-Z\\-_]|\x1bc|\x9b[0-?]*[ -/]*[@-~]/g;
// eslint-disable-next-line no-control-regex
const CONTROLS = /[\x00-\x08\x0b-\x1f\x7f]/g;

/** Removes terminal escape sequences, carriage returns and other control characters from serial text. */
export function stripSerialNoise(text: string): string {
  return text.replace(ESCAPES, '').replace(CONTROLS, '');
}

/** Splits a byte/character stream into cleaned lines; feed chunks, then `flush()`. */
export class SerialLineSplitter {
  private pending = '';
  private readonly decoder = new TextDecoder('utf-8', { fatal: false });

  /** Adds a chunk; returns the complete, cleaned lines it finished. */
  push(chunk: Uint8Array | string): string[] {
    this.pending += typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true });
    // Escape sequences can straddle chunks: only split at newlines, clean whole lines.
    const parts = this.pending.split('\n');
    this.pending = parts.pop() ?? '';
    return parts.map((l) => stripSerialNoise(l)).flatMap((l) => l.split('\n'));
  }

  /** Returns the last, unterminated line, if any. */
  flush(): string[] {
    const rest = this.pending + this.decoder.decode();
    this.pending = '';
    const clean = stripSerialNoise(rest);
    return clean === '' ? [] : clean.split('\n');
  }
}

const STATUSES: readonly string[] = ['pass', 'fail', 'skip'];

/** Parses the JSON of a `VMTEST-RESULT` line; undefined when it is not a well-formed result. */
export function parseResultJson(json: string): TestResult | undefined {
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const r = v as Record<string, unknown>;
  if (typeof r.name !== 'string' || typeof r.status !== 'string' || !STATUSES.includes(r.status)) return undefined;
  return {
    name: r.name,
    status: r.status as TestStatus,
    ...(typeof r.ms === 'number' ? { ms: r.ms } : {}),
    ...(typeof r.detail === 'string' ? { detail: r.detail } : {}),
  };
}

/** Formats a result line as the guest prints it. */
export function formatResultLine(r: TestResult): string {
  return `VMTEST-RESULT ${JSON.stringify(r)}`;
}

/**
 * Reads a guest's console lines into a report. `timedOut` says the host killed the VM.
 * Precedence: panic > timeout > missing DONE > failing checks/exit code > pass.
 */
export function parseGuestOutput(lines: Iterable<string>, opts: { timedOut?: boolean } = {}): GuestReport {
  const tests: TestResult[] = [];
  const problems: string[] = [];
  let exitCode: number | null = null;
  let panic: string | null = null;
  let initUptime: number | null = null;
  let startUptime: number | null = null;
  let endUptime: number | null = null;
  let release: string | null = null;
  for (const raw of lines) {
    const line = stripSerialNoise(raw).trim();
    if (panic === null) {
      const p = /(Kernel panic - not syncing:.*)$/.exec(line);
      if (p?.[1] !== undefined) panic = p[1];
    }
    // The marker may follow kernel noise on the same line when printk interleaves with the console.
    const at = line.indexOf('VMTEST-');
    if (at < 0) continue;
    const body = line.slice(at + 'VMTEST-'.length);
    const space = body.indexOf(' ');
    const kind = space < 0 ? body : body.slice(0, space);
    const rest = space < 0 ? '' : body.slice(space + 1).trim();
    switch (kind) {
      case 'RESULT': {
        const r = parseResultJson(rest);
        if (r === undefined) problems.push(`unparsable result: ${rest}`);
        else tests.push(r);
        break;
      }
      case 'DONE': {
        const n = Number(rest);
        if (rest === '' || !Number.isInteger(n)) problems.push(`bad DONE line: ${line}`);
        else exitCode = n;
        break;
      }
      case 'INIT': {
        const [up, rel] = rest.split(/\s+/);
        initUptime = up !== undefined && up !== '' ? Number(up) : null;
        release = rel ?? null;
        break;
      }
      case 'START':
        startUptime = Number(rest.split(/\s+/)[0]);
        break;
      case 'END':
        endUptime = Number(rest.split(/\s+/)[0]);
        break;
      case 'INIT-ERROR':
        problems.push(`init: ${rest}`);
        break;
      default:
        break;
    }
  }
  let status: RunStatus;
  if (panic !== null) status = 'panic';
  else if (opts.timedOut === true && exitCode === null) status = 'timeout';
  else if (exitCode === null) status = 'no-result';
  else if (exitCode !== 0 || tests.some((t) => t.status === 'fail')) status = 'fail';
  else status = 'pass';
  return { status, tests, exitCode, panic, initUptime, startUptime, endUptime, release, problems };
}

/**
 * Test results from a vitest JSON report (what `TSBPF_REPORT` makes the packages' vitest configs
 * write into the results share), named `<file relative to root> > <full name>`.
 */
export function testsFromVitestJson(json: string, root = ''): TestResult[] {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch {
    return [];
  }
  const files = (doc as { testResults?: unknown }).testResults;
  if (!Array.isArray(files)) return [];
  const out: TestResult[] = [];
  for (const f of files as { name?: unknown; assertionResults?: unknown; status?: unknown; message?: unknown }[]) {
    const file = typeof f.name === 'string' ? (root !== '' && f.name.startsWith(`${root}/`) ? f.name.slice(root.length + 1) : f.name) : '?';
    const cases = Array.isArray(f.assertionResults) ? (f.assertionResults as Record<string, unknown>[]) : [];
    if (cases.length === 0 && f.status === 'failed') {
      out.push({ name: file, status: 'fail', detail: typeof f.message === 'string' ? f.message.split('\n')[0] ?? '' : 'suite failed' });
    }
    for (const c of cases) {
      const status: TestStatus = c.status === 'passed' ? 'pass' : c.status === 'failed' ? 'fail' : 'skip';
      const failure = Array.isArray(c.failureMessages) && typeof c.failureMessages[0] === 'string' ? c.failureMessages[0].split('\n')[0] : undefined;
      out.push({
        name: `${file} > ${typeof c.fullName === 'string' ? c.fullName : String(c.title)}`,
        status,
        ...(typeof c.duration === 'number' ? { ms: Math.round(c.duration) } : {}),
        ...(failure !== undefined ? { detail: failure } : {}),
      });
    }
  }
  return out;
}

/** The report with `extra` tests appended and the verdict recomputed (a failing extra test fails a passing run). */
export function withExtraTests(report: GuestReport, extra: readonly TestResult[]): GuestReport {
  if (extra.length === 0) return report;
  const tests = [...report.tests, ...extra];
  const status = report.status === 'pass' && extra.some((t) => t.status === 'fail') ? 'fail' : report.status;
  return { ...report, tests, status };
}
