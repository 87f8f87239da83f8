/**
 * Aligned column output, the default human view of a gadget (`COMM  PID  CAP  SYSCALL …`).
 *
 * Two modes: {@link ColumnsRenderer} streams (widths fixed up front from field defaults and
 * headers, as events arrive one by one), {@link renderTable} lays out a batch (widths from the
 * content, capped). Both sanitize every cell (see sanitize.ts): whatever bytes a process put in its
 * name, a row is one line of inert text. Text wider than its column is cut with an ellipsis; numbers
 * are never cut (a wrong number is worse than a ragged row).
 *
 * `--fields` selection ({@link selectColumns}): a comma list of column ids (dotted display paths,
 * case-insensitive); a container id selects every column below it; when every entry starts with
 * `+`/`-`, the entries add to / remove from the default columns instead.
 */
import { TsbpfError } from '../../errors.js';
import { decodeCString } from '../../btf/codec.js';
import { type FieldDescriptor, fieldHeader, formatEnumSet, leafFields } from '../fields.js';
import { capabilityName } from '../tables/capabilities.js';
import { errnoDisplayName, signalName } from '../tables/signals.js';
import { syscallName } from '../tables/syscalls.js';
import { getPath } from './paths.js';
import { displayWidth, padToWidth, sanitizeForTerminal, truncateToWidth } from './sanitize.js';
import { formatBytes, formatDuration } from './values.js';

/** One column. */
export interface ColumnDef {
  /** Dotted display path; the name `--fields` uses and the default header. */
  id: string;
  /** Where the value is read in a record (dotted); default `id`. */
  path?: string;
  /** Read here when `path` holds nothing (e.g. the raw member of a not yet formatted field). */
  fallbackPath?: string;
  /** Header text; default `id` upper-cased. */
  header?: string;
  /** Width in cells (at least the header's); default from the header. */
  width?: number;
  /** Cap on content-derived widths in {@link renderTable}; default 48. */
  maxWidth?: number;
  /** Default: `left`. */
  align?: 'left' | 'right';
  /** Cut values wider than the column (default true; set false for numbers). */
  truncate?: boolean;
  /** Left out unless `--fields` names it. */
  hidden?: boolean;
  /** Text of a value (raw text: the renderer sanitizes it); default {@link formatCell}. */
  format?: (value: unknown, record: unknown) => string;
}

/** Options of the column renderers. */
export interface ColumnsOptions {
  /** `--fields`: ids, comma-separated string or list; see the module notes. */
  fields?: string | readonly string[];
  /** Between columns; default one space. */
  separator?: string;
  /** Marks cut text; default `…`. */
  ellipsis?: string;
}

/** A column after selection, with its final width. */
export interface ResolvedColumn extends Required<Pick<ColumnDef, 'id' | 'path' | 'header' | 'align' | 'truncate'>> {
  width: number;
  fallbackPath: string | undefined;
  maxWidth: number;
  format: (value: unknown, record: unknown) => string;
}

/** `--fields` named a column that does not exist. */
export class UnknownFieldError extends TsbpfError {
  /** The unknown entry. */
  readonly field: string;
  /** Ids that exist. */
  readonly available: readonly string[];

  constructor(field: string, available: readonly string[]) {
    super('UNKNOWN_FIELD', `unknown field ${JSON.stringify(field)}; available: ${available.join(', ')}`);
    this.field = field;
    this.available = available;
  }
}

/**
 * Default text of a cell value (unsanitized): strings as is, numbers and bigints in decimal,
 * booleans as `true`/`false`, byte arrays as text up to the first NUL, arrays joined with `,`,
 * objects as compact JSON, nothing for null/undefined.
 */
export function formatCell(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return value;
    case 'number':
    case 'bigint':
    case 'boolean':
      return String(value);
    case 'undefined':
      return '';
    default:
      break;
  }
  if (value === null) return '';
  if (value instanceof Uint8Array) return decodeCString(value);
  if (Array.isArray(value)) return value.map(formatCell).join(',');
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) ?? '';
}

function matches(def: ColumnDef, want: string): boolean {
  const id = def.id.toLowerCase();
  return id === want || id.startsWith(`${want}.`);
}

/**
 * The columns `fields` selects from `defs` (see the module notes), in display order.
 * @throws UnknownFieldError for an entry matching no column
 */
export function selectColumns(defs: readonly ColumnDef[], fields?: string | readonly string[]): ColumnDef[] {
  const list = (typeof fields === 'string' ? fields.split(',') : (fields ?? [])).map((f) => f.trim()).filter((f) => f !== '');
  const visible = defs.filter((d) => !d.hidden);
  if (list.length === 0) return visible;
  const available = defs.map((d) => d.id);
  const lookup = (entry: string): ColumnDef[] => {
    const want = entry.toLowerCase();
    const found = defs.filter((d) => matches(d, want));
    if (found.length === 0) throw new UnknownFieldError(entry, available);
    // A container selects its visible members; naming a hidden column exactly selects it.
    const exact = found.filter((d) => d.id.toLowerCase() === want);
    return exact.length > 0 ? exact : found.filter((d) => !d.hidden);
  };
  if (list.every((f) => f.startsWith('+') || f.startsWith('-'))) {
    const chosen = new Set(visible);
    for (const f of list) {
      const cols = lookup(f.slice(1).trim());
      for (const c of cols) {
        if (f.startsWith('+')) chosen.add(c);
        else chosen.delete(c);
      }
    }
    return defs.filter((d) => chosen.has(d));
  }
  const out: ColumnDef[] = [];
  for (const f of list) {
    for (const c of lookup(f)) if (!out.includes(c)) out.push(c);
  }
  return out;
}

function resolveColumn(def: ColumnDef): ResolvedColumn {
  const header = sanitizeForTerminal(def.header ?? fieldHeader(def.id));
  return {
    id: def.id,
    path: def.path ?? def.id,
    fallbackPath: def.fallbackPath,
    header,
    align: def.align ?? 'left',
    truncate: def.truncate ?? true,
    width: Math.max(displayWidth(header), def.width ?? 0),
    maxWidth: Math.max(displayWidth(header), def.maxWidth ?? 48),
    format: def.format ?? ((v) => formatCell(v)),
  };
}

function cellText(col: ResolvedColumn, record: unknown): string {
  let value = getPath(record, col.path);
  if (value === undefined && col.fallbackPath !== undefined) value = getPath(record, col.fallbackPath);
  return sanitizeForTerminal(col.format(value, record));
}

function layout(cols: readonly ResolvedColumn[], cells: readonly string[], options: ColumnsOptions): string {
  const ellipsis = options.ellipsis ?? '…';
  const parts = cols.map((col, i) => {
    let text = cells[i];
    if (col.truncate) text = truncateToWidth(text, col.width, ellipsis);
    return padToWidth(text, col.width, col.align);
  });
  return parts.join(options.separator ?? ' ').trimEnd();
}

/** Streams rows with widths fixed from the column definitions (no look-ahead). */
export class ColumnsRenderer {
  /** The selected columns with their widths. */
  readonly columns: readonly ResolvedColumn[];
  private readonly options: ColumnsOptions;

  /** @throws UnknownFieldError when `options.fields` names a column that does not exist */
  constructor(defs: readonly ColumnDef[], options: ColumnsOptions = {}) {
    this.columns = selectColumns(defs, options.fields).map(resolveColumn);
    this.options = options;
  }

  /** The header line. */
  header(): string {
    return layout(
      this.columns,
      this.columns.map((c) => c.header),
      this.options,
    );
  }

  /** One record as a line (no trailing newline). */
  row(record: unknown): string {
    return layout(
      this.columns,
      this.columns.map((c) => cellText(c, record)),
      this.options,
    );
  }
}

/**
 * Renders a batch: header plus one line per record, widths from the content (at least the
 * configured width, at most `maxWidth` for truncatable columns). Lines end with `\n`.
 */
export function renderTable(records: readonly unknown[], defs: readonly ColumnDef[], options: ColumnsOptions = {}): string {
  const cols = selectColumns(defs, options.fields).map(resolveColumn);
  const rows = records.map((r) => cols.map((c) => cellText(c, r)));
  const sized = cols.map((c, i) => {
    let w = c.width;
    for (const row of rows) w = Math.max(w, displayWidth(row[i]));
    return { ...c, width: c.truncate ? Math.min(w, Math.max(c.width, c.maxWidth)) : w };
  });
  const lines = [
    layout(
      sized,
      sized.map((c) => c.header),
      options,
    ),
    ...rows.map((row) => layout(sized, row, options)),
  ];
  return lines.map((l) => `${l}\n`).join('');
}

/** Defaults per enrichment kind: width and alignment. */
const ENRICHMENT_DEFAULTS: Readonly<Record<string, Pick<ColumnDef, 'width' | 'align' | 'truncate'>>> = {
  pid: { width: 7, align: 'right', truncate: false },
  ppid: { width: 7, align: 'right', truncate: false },
  tid: { width: 7, align: 'right', truncate: false },
  uid: { width: 7, align: 'right', truncate: false },
  gid: { width: 7, align: 'right', truncate: false },
  mntns_id: { width: 10, align: 'right', truncate: false },
  netns_id: { width: 10, align: 'right', truncate: false },
  comm: { width: 16 },
  pcomm: { width: 16 },
  timestamp: { width: 35 },
  syscall: { width: 20 },
  kernel_stack: { width: 40 },
  user_stack: { width: 40 },
  signal: { width: 10 },
  errno: { width: 10 },
  capability: { width: 16 },
};

function intWidth(size: number): number {
  return size <= 1 ? 3 : size <= 2 ? 5 : size <= 4 ? 10 : 20;
}

function hexAddress(value: unknown): string {
  if (typeof value === 'bigint' || typeof value === 'number') return `0x${value.toString(16)}`;
  return formatCell(value);
}

function syscallCell(value: unknown): string {
  // The raw number when the runtime did not enrich it yet.
  if (typeof value === 'bigint' || typeof value === 'number') return syscallName(value);
  return formatCell(value);
}

function capabilityCell(value: unknown): string {
  if (typeof value === 'number') return capabilityName(value);
  if (typeof value === 'bigint') return capabilityName(Number(BigInt.asIntN(32, value)));
  return formatCell(value);
}

/** A cell formatter applying `f` to raw numbers (the value before the runtime formatted it). */
function numeric(f: (n: number | bigint) => string): (value: unknown) => string {
  return (value) => (typeof value === 'number' || typeof value === 'bigint' ? f(value) : formatCell(value));
}

const FORMATTER_CELLS: Readonly<Partial<Record<string, (value: unknown) => string>>> = {
  signal: numeric(signalName),
  errno: numeric(errnoDisplayName),
  duration: numeric(formatDuration),
  bytes: numeric(formatBytes),
};

function setCell(value: unknown): string {
  return Array.isArray(value) ? formatEnumSet(value) : formatCell(value);
}

function defaultsFor(f: FieldDescriptor): Pick<ColumnDef, 'width' | 'align' | 'truncate' | 'format'> {
  const byEnrichment = f.enrichment !== undefined ? ENRICHMENT_DEFAULTS[f.enrichment] : undefined;
  let base: Pick<ColumnDef, 'width' | 'align' | 'truncate' | 'format'>;
  switch (f.kind) {
    case 'int':
      base = { width: intWidth(f.size), align: 'right', truncate: false };
      break;
    case 'float':
      base = { width: 10, align: 'right', truncate: false };
      break;
    case 'bool':
      base = { width: 5 };
      break;
    case 'string':
      base = { width: Math.min(Math.max(f.size - 1, 1), 32) };
      break;
    case 'enum':
      base = { width: 16 };
      break;
    case 'enum_set':
      base = { width: 24, format: setCell };
      break;
    case 'pointer':
      base = { width: 18, align: 'right', truncate: false, format: hexAddress };
      break;
    default:
      base = { width: 24 };
  }
  if (f.formatter === 'syscall') base = { ...base, width: 20, align: 'left', truncate: true, format: syscallCell };
  else if (f.formatter === 'capability') base = { ...base, width: 16, align: 'left', truncate: true, format: capabilityCell };
  else if (f.formatter !== undefined && f.formatter !== 'enum' && f.formatter !== 'enum_set') {
    base = { ...base, align: 'left', truncate: true, format: FORMATTER_CELLS[f.formatter] ?? base.format };
  }
  return { ...base, ...byEnrichment };
}

/**
 * Column definitions for a gadget's event fields, IG style: one column per leaf field, headed by
 * its upper-cased display path; for a formatted member (`cap_raw`) a visible column under the
 * display name (`cap`, read from `cap` or, until the runtime formats it, from `cap_raw`) and a
 * hidden raw column (`cap_raw`). Widths and alignment come from the enrichment kind and the type.
 */
export function columnsFromDescriptors(fields: readonly FieldDescriptor[]): ColumnDef[] {
  const out: ColumnDef[] = [];
  for (const f of leafFields(fields)) {
    const d = defaultsFor(f);
    const derives = f.formatter !== undefined && f.formatter !== 'l3endpoint' && f.formatter !== 'l4endpoint' && f.displayName !== f.name;
    if (!derives) {
      out.push({ id: f.displayPath, path: f.displayPath, hidden: f.hidden, ...d });
      continue;
    }
    const rawId = f.displayPath.slice(0, f.displayPath.length - f.displayName.length) + f.name;
    const parentHidden = fields.some((p) => p.path === f.parentPath && p.hidden);
    out.push({ id: f.displayPath, path: f.displayPath, fallbackPath: rawId, hidden: parentHidden, ...d });
    const raw = defaultsFor({ ...f, formatter: undefined });
    out.push({ id: rawId, path: rawId, hidden: true, ...raw, format: raw.format ?? ((v) => formatCell(v)) });
  }
  return out;
}
