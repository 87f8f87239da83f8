/**
 * Column definitions of the `trace-capabilities` table output, and the `--fields` names. Column ids
 * are the short names IG shows (`comm`, `pid`, `cap`); the dotted event paths (`proc.comm`) are
 * accepted too.
 */
import type { ColumnDef } from '@tsbpf/loader';

function triState(v: unknown): string {
  return v === true ? '1' : v === false ? '0' : '-';
}

function stack(v: unknown): string {
  return Array.isArray(v) ? v.join(' ') : '';
}

/** Every column, in display order; `hidden` ones show only when `--fields` names them. */
export const CAPABILITY_COLUMNS: readonly ColumnDef[] = [
  { id: 'timestamp', width: 30, hidden: true },
  { id: 'comm', path: 'proc.comm', width: 16 },
  { id: 'pid', path: 'proc.pid', width: 7, align: 'right', truncate: false },
  { id: 'tid', path: 'proc.tid', width: 7, align: 'right', truncate: false },
  { id: 'uid', path: 'proc.creds.uid', width: 7, align: 'right', truncate: false, hidden: true },
  { id: 'gid', path: 'proc.creds.gid', width: 7, align: 'right', truncate: false, hidden: true },
  { id: 'pcomm', path: 'proc.parent.comm', width: 16, hidden: true },
  { id: 'ppid', path: 'proc.parent.pid', width: 7, align: 'right', truncate: false, hidden: true },
  { id: 'mntns_id', path: 'proc.mntns_id', header: 'MNTNS', width: 10, align: 'right', truncate: false, hidden: true },
  { id: 'current_userns', width: 10, align: 'right', truncate: false, hidden: true },
  { id: 'target_userns', width: 10, align: 'right', truncate: false, hidden: true },
  { id: 'capable', width: 7 },
  { id: 'audit', width: 5, format: triState },
  { id: 'insetid', width: 7, format: triState, hidden: true },
  { id: 'cap', width: 22 },
  { id: 'syscall', width: 20 },
  { id: 'cap_effective', width: 40, hidden: true },
  { id: 'kstack', width: 60, hidden: true, format: stack },
  { id: 'ustack', width: 60, hidden: true, format: stack },
];

/** `--fields` spellings that name a column by its event path. */
const ALIASES: Readonly<Record<string, string>> = {
  'proc.comm': 'comm',
  'proc.pid': 'pid',
  'proc.tid': 'tid',
  'proc.creds.uid': 'uid',
  'proc.creds.gid': 'gid',
  'proc.parent.comm': 'pcomm',
  'proc.parent.pid': 'ppid',
  'proc.mntns_id': 'mntns_id',
  mntns: 'mntns_id',
};

/** Column id → path in the event object (for JSON `--fields`). */
export function columnPath(id: string): string {
  const def = CAPABILITY_COLUMNS.find((c) => c.id === id);
  return def?.path ?? id;
}

/** The `--fields` list with event-path spellings turned into column ids (keeps `+`/`-` prefixes). */
export function normalizeFields(fields: string): string[] {
  return fields
    .split(',')
    .map((f) => f.trim())
    .filter((f) => f !== '')
    .map((f) => {
      const sign = f.startsWith('+') || f.startsWith('-') ? f[0] : '';
      const name = (sign ? f.slice(1) : f).trim().toLowerCase();
      return sign + (ALIASES[name] ?? name);
    });
}

/** The default columns (IG's): COMM PID TID CAPABLE AUDIT CAP SYSCALL. */
export const DEFAULT_FIELDS: readonly string[] = CAPABILITY_COLUMNS.filter((c) => !c.hidden).map((c) => c.id);
