/** Child processes of the benchmarks: run to a JSON line, time to a readiness marker, time to exit. */
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';

/** What a finished child left behind. */
export interface ChildResult<T> {
  /** The last JSON line the child printed on stdout. */
  json: T;
  /** Milliseconds from just before spawn() to the readiness marker on stderr (when asked for). */
  readyMs?: number;
  /** Milliseconds from just before spawn() to exit. */
  exitMs: number;
  /** The child's pid. */
  pid: number;
}

/** Options of {@link runChild}. */
export interface RunOptions {
  /** A stderr line that marks readiness (its time is {@link ChildResult.readyMs}). */
  readyMarker?: RegExp;
  /** Called once the marker was seen, with the child's pid (e.g. to read /proc/<pid>/status). */
  onReady?: (pid: number) => void;
  /** Kill the child after this long (default 120 s). */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  /** The child prints no JSON (e.g. `node -e 0`). */
  noJson?: boolean;
}

/** Spawn `cmd args`, wait for it to exit 0, and return its last stdout JSON line and timings. */
export function runChild<T = Record<string, unknown>>(cmd: string, args: readonly string[], options: RunOptions = {}): Promise<ChildResult<T>> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: options.env ?? process.env });
    let stdout = '';
    let stderr = '';
    let readyMs: number | undefined;
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      if (readyMs === undefined && options.readyMarker && options.readyMarker.test(stderr)) {
        readyMs = performance.now() - t0;
        if (child.pid !== undefined) options.onReady?.(child.pid);
      }
    });
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      const exitMs = performance.now() - t0;
      clearTimeout(timer);
      if (code !== 0) {
        reject(new Error(`${cmd} ${args.join(' ')} exited ${code ?? signal}: ${stderr.trim().slice(-2000)}`));
        return;
      }
      if (options.readyMarker && readyMs === undefined) {
        reject(new Error(`${cmd} ${args.join(' ')} never printed ${options.readyMarker}: ${stderr.trim().slice(-2000)}`));
        return;
      }
      if (options.noJson) {
        resolve({ json: {} as T, readyMs, exitMs, pid: child.pid ?? -1 });
        return;
      }
      const line = stdout
        .trim()
        .split('\n')
        .reverse()
        .find((l) => l.startsWith('{'));
      if (!line) {
        reject(new Error(`${cmd} ${args.join(' ')} printed no JSON line: ${stdout.slice(-500)} ${stderr.slice(-500)}`));
        return;
      }
      try {
        resolve({ json: JSON.parse(line) as T, readyMs, exitMs, pid: child.pid ?? -1 });
      } catch (err) {
        reject(new Error(`bad JSON from ${cmd}: ${line}`, { cause: err }));
      }
    });
  });
}
