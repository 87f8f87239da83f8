/**
 * `tsbpf features [--json]`: probe the running kernel (program and map types, links, attach kinds,
 * helpers, BTF kinds) and print a table, or JSON for scripts.
 */
import { release } from 'node:os';
import { featureReport, type FeatureReportEntry } from '../features/index.js';

const HELP = `usage: tsbpf features [--json]

Probes what the running kernel supports by creating maps, loading tiny programs and attaching links
(needs root or CAP_BPF/CAP_PERFMON). Every answer comes from the kernel, not from its version.

  --json    one JSON object: {"kernel": ..., "features": [{group, name, supported, undecided?, detail?}]}`;

/** Renders the report as an aligned table grouped by feature family. */
export function formatFeatureTable(rows: readonly FeatureReportEntry[]): string {
  const width = Math.max(...rows.map((r) => r.name.length), 10);
  const out: string[] = [];
  let group = '';
  for (const r of rows) {
    if (r.group !== group) {
      group = r.group;
      out.push('', group.toUpperCase());
    }
    const mark = r.supported ? 'yes' : r.undecided ? '?  ' : 'no ';
    out.push(`  ${r.name.padEnd(width)}  ${mark}${r.detail && !r.supported ? `  ${r.detail}` : r.detail ? `  (${r.detail})` : ''}`);
  }
  const yes = rows.filter((r) => r.supported).length;
  const unknown = rows.filter((r) => !r.supported && r.undecided).length;
  out.push('', `${yes} of ${rows.length} features supported${unknown > 0 ? `, ${unknown} undecided (?: the probe was refused or interrupted)` : ''}`);
  return out.join('\n').replace(/^\n/, '');
}

/** Entry point of `tsbpf features`; returns the process exit code. */
export async function run(argv: string[]): Promise<number> {
  let json = false;
  for (const a of argv) {
    if (a === '--json') json = true;
    else if (a === '--help' || a === '-h') {
      console.log(HELP);
      return 0;
    } else {
      console.error(`tsbpf features: unknown option '${a}'\n\n${HELP}`);
      return 2;
    }
  }
  const rows = featureReport();
  if (json) {
    console.log(JSON.stringify({ kernel: release(), features: rows }, null, 2));
  } else {
    console.log(`kernel ${release()}\n`);
    console.log(formatFeatureTable(rows));
  }
  return 0;
}
