/** The shape of benchmark results, printed as a table and written as JSON + markdown. */
import { fmt, type Stat } from './stats.js';

/** A performance target and whether the row meets it. */
export interface Target {
  /** Human text: `ratio ≤ 1.0`, `≤ node -e 0 + 1.5× libbpf`, `< 70 MB`. */
  text: string;
  /** The bound the tsbpf median is compared with, in the row's unit (for ratio targets: the ratio bound). */
  bound: number;
  /** True when met. */
  met: boolean;
}

/** One measured quantity, tsbpf next to its peer. */
export interface Row {
  bench: string;
  /** What was measured: `first call`, `ring 128 B raw`, `hash lookup (BpfMap)`. */
  case: string;
  unit: string;
  tsbpf: Stat;
  /** The libbpf peer (or the node floor), when there is one. */
  peer?: Stat;
  /** Which peer: `libbpf v1.7`, `node -e 0`. */
  peerLabel?: string;
  /** tsbpf median / peer median. */
  ratio?: number;
  target?: Target;
  note?: string;
}

/** Everything one run produced. */
export interface RunResult {
  date: string;
  quick: boolean;
  rounds: number;
  machine: Record<string, string>;
  versions: Record<string, string>;
  rows: Row[];
  skipped: { bench: string; reason: string }[];
  notes: string[];
}

/** Build a row; the ratio is computed when there is a peer. */
export function row(r: Omit<Row, 'ratio'>): Row {
  const ratio = r.peer && r.peer.median > 0 ? r.tsbpf.median / r.peer.median : undefined;
  return { ...r, ratio };
}

/** A ratio target (`tsbpf / peer ≤ bound`). */
export function ratioTarget(ratio: number | undefined, bound: number): Target | undefined {
  if (ratio === undefined) return undefined;
  return { text: `ratio ≤ ${bound}`, bound, met: ratio <= bound };
}

function range(s: Stat): string {
  return s.n > 1 ? `${fmt(s.min)}–${fmt(s.max)}` : '';
}

/** The rows as a markdown table. */
export function markdownTable(rows: readonly Row[]): string {
  const out = [
    '| benchmark | case | unit | tsbpf median | tsbpf min–max | peer | peer median | peer min–max | ratio | target | met |',
    '|---|---|---|---:|---|---|---:|---|---:|---|---|',
  ];
  for (const r of rows) {
    out.push(
      `| ${r.bench} | ${r.case} | ${r.unit} | ${fmt(r.tsbpf.median)} | ${range(r.tsbpf)} | ${r.peerLabel ?? ''} | ${r.peer ? fmt(r.peer.median) : ''} | ${r.peer ? range(r.peer) : ''} | ${r.ratio !== undefined ? fmt(r.ratio) + '×' : ''} | ${r.target?.text ?? ''} | ${r.target ? (r.target.met ? 'yes' : '**no**') : ''} |`,
    );
  }
  return out.join('\n');
}

/** The whole run as markdown: machine, versions, table, notes, skips. */
export function markdownReport(res: RunResult): string {
  const lines = [`# tsbpf benchmarks ${res.date}${res.quick ? ' (quick)' : ''}`, '', `Rounds: ${res.rounds} (tsbpf and peer alternate, order flipped every round).`, '', '## Machine', ''];
  for (const [k, v] of Object.entries(res.machine)) lines.push(`- ${k}: ${v}`);
  lines.push('', '## Versions', '');
  for (const [k, v] of Object.entries(res.versions)) lines.push(`- ${k}: ${v}`);
  const targeted = res.rows.filter((r) => r.target);
  if (targeted.length) lines.push('', '## Targets', '', markdownTable(targeted));
  lines.push('', '## Results', '', markdownTable(res.rows), '');
  const notes = res.rows.filter((r) => r.note).map((r) => `- ${r.bench} / ${r.case}: ${r.note}`);
  if (notes.length || res.notes.length) lines.push('## Notes', '', ...res.notes.map((n) => `- ${n}`), ...notes, '');
  if (res.skipped.length) lines.push('## Skipped', '', ...res.skipped.map((s) => `- ${s.bench}: ${s.reason}`), '');
  return lines.join('\n');
}
