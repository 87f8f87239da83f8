import { describe, expect, it } from 'vitest';
import { compileDecoder, decodeValue, encodeValue } from '../../src/btf/codec.js';
import { describeEventType } from '../../src/gadget/fields.js';
import {
  ColumnsRenderer,
  columnsFromDescriptors,
  displayWidth,
  escapeBytes,
  formatCell,
  formatJson,
  formatJsonLine,
  getPath,
  isTerminalSafe,
  renderTable,
  sanitizeForTerminal,
  selectColumns,
  selectPaths,
  toJsonValue,
  truncateToWidth,
  UnknownFieldError,
  type ColumnDef,
} from '../../src/gadget/format/index.js';
import { addComposite, addTypedef, baseBtf } from '../codec/helpers.js';
import { capEventBtf } from './helpers.js';

const HOSTILE = '\x1b[2J\x1b]0;pwn\x07evil\n';

/** No byte that a terminal would act on: C0 (except none), DEL, C1, ESC. */
function assertInert(line: string): void {
  expect(line).not.toMatch(/[\x00-\x1f\x7f-\x9f]/);
  expect(line).not.toMatch(/[\u202a-\u202e\u2066-\u2069\u2028\u2029]/);
  expect(line).not.toMatch(/[\ud800-\udfff]/u);
}

describe('sanitizeForTerminal', () => {
  it('escapes the hostile comm so it cannot repaint the terminal', () => {
    const s = sanitizeForTerminal(HOSTILE);
    expect(s).toBe('\\x1b[2J\\x1b]0;pwn\\x07evil\\n');
    assertInert(s);
    expect(isTerminalSafe(HOSTILE)).toBe(false);
    expect(isTerminalSafe('bash')).toBe(true);
  });

  it('escapes every control class and keeps ordinary text', () => {
    expect(sanitizeForTerminal('a\tb\rc\0d\x7f')).toBe('a\\tb\\rc\\x00d\\x7f');
    expect(sanitizeForTerminal('\u009b31m')).toBe('\\u009b31m');
    expect(sanitizeForTerminal('\u0085')).toBe('\\u0085');
    expect(sanitizeForTerminal('safe\u202eexe.txt')).toBe('safe\\u202eexe.txt');
    expect(sanitizeForTerminal('x\u2028y\ufeff')).toBe('x\\u2028y\\ufeff');
    // A literal backslash is escaped, so `\x1b` in the output always means a real ESC byte.
    expect(sanitizeForTerminal('\\x1b')).toBe('\\\\x1b');
    // Invalid UTF-8 kept by the codec shows as the byte; other lone surrogates as \u.
    expect(sanitizeForTerminal('a\udcffb\udc80')).toBe('a\\xffb\\x80');
    expect(sanitizeForTerminal('\ud800')).toBe('\\ud800');
    // Valid non-ASCII text, including astral characters, stays readable.
    expect(sanitizeForTerminal('héllo wörld 日本 😀')).toBe('héllo wörld 日本 😀');
  });

  it('escapes raw bytes', () => {
    expect(escapeBytes(Uint8Array.from([0x41, 0x1b, 0x5c, 0x0a, 0xff]))).toBe('A\\x1b\\\\\\n\\xff');
  });

  it('measures and truncates by terminal cells without splitting escapes', () => {
    expect(displayWidth('abc')).toBe(3);
    expect(displayWidth('日本')).toBe(4);
    expect(displayWidth('e\u0301')).toBe(1);
    expect(displayWidth('😀')).toBe(2);
    expect(truncateToWidth('abcdefgh', 5)).toBe('abcd…');
    expect(truncateToWidth('abc', 5)).toBe('abc');
    expect(truncateToWidth('日本語テキスト', 5)).toBe('日本…');
    const escaped = sanitizeForTerminal('ab\x1bcdefgh');
    expect(truncateToWidth(escaped, 5)).toBe('ab…');
    expect(truncateToWidth(escaped, 7)).toBe('ab\\x1b…');
    expect(truncateToWidth('😀😀😀', 4)).toBe('😀…');
    expect(truncateToWidth('abc', 0)).toBe('');
  });
});

describe('formatJson', () => {
  it('emits valid single-line JSON for hostile strings, garbage bytes and bigints', () => {
    const event = {
      comm: HOSTILE,
      bad: 'x\udcff\ud800y',
      c1: '\u009b2J',
      bidi: 'a\u202eb',
      ts: 18446744073709551615n,
      neg: -5n,
      bytes: Uint8Array.from([1, 2]),
      nested: { pid: 1, gone: undefined },
      list: [1n, 'a'],
    };
    const line = formatJson(event);
    expect(line).not.toContain('\n');
    assertInert(line);
    const parsed = JSON.parse(line) as Record<string, unknown>;
    expect(parsed.comm).toBe(HOSTILE);
    expect(parsed.bad).toBe('x\udcff\ud800y');
    expect(parsed.c1).toBe('\u009b2J');
    expect(parsed.bidi).toBe('a\u202eb');
    expect(parsed.ts).toBe('18446744073709551615');
    expect(parsed.neg).toBe('-5');
    expect(parsed.bytes).toEqual([1, 2]);
    expect(parsed.nested).toEqual({ pid: 1 });
    expect(parsed.list).toEqual(['1', 'a']);
    expect(line).toContain('\\udcff');
    expect(line).toContain('\\u009b');
    expect(formatJsonLine(event).endsWith('}\n')).toBe(true);
    expect(toJsonValue({ a: 1n })).toEqual({ a: '1' });
  });

  it('pretty-prints and selects fields', () => {
    const event = { proc: { comm: 'nice', pid: 7, creds: { uid: 0 } }, cap: 'CAP_SYS_NICE', cap_raw: 23 };
    const pretty = formatJson(event, { pretty: true });
    expect(pretty.split('\n').length).toBeGreaterThan(3);
    expect(JSON.parse(pretty)).toEqual(event);
    expect(JSON.parse(formatJson(event, { fields: ['cap', 'proc.pid', 'proc.creds', 'missing'] }))).toEqual({
      cap: 'CAP_SYS_NICE',
      proc: { pid: 7, creds: { uid: 0 } },
    });
    expect(formatJson(undefined)).toBe('null');
  });

  it('never follows or creates __proto__ through paths', () => {
    const rec = JSON.parse('{"__proto__": {"polluted": 1}, "a": {"b": 2}}') as unknown;
    expect(getPath(rec, '__proto__.polluted')).toBe(1); // an own key named __proto__ is data
    expect(getPath({}, '__proto__')).toBeUndefined();
    expect(getPath({ a: 1 }, 'a.toString')).toBeUndefined();
    const picked = selectPaths(rec, ['__proto__.polluted', 'a.b']);
    expect(Object.getPrototypeOf(picked)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(JSON.parse(formatJson(picked))).toEqual(JSON.parse('{"__proto__": {"polluted": 1}, "a": {"b": 2}}'));
  });
});

describe('columns', () => {
  const defs: ColumnDef[] = [
    { id: 'comm', width: 16 },
    { id: 'pid', width: 7, align: 'right', truncate: false },
    { id: 'proc.creds.uid', width: 5, align: 'right', truncate: false },
    { id: 'proc.creds.gid', width: 5, align: 'right', truncate: false, hidden: true },
    { id: 'cap', width: 12 },
    { id: 'cap_raw', hidden: true },
  ];
  const rows = [
    { comm: 'nice', pid: 169528, proc: { creds: { uid: 0, gid: 0 } }, cap: 'CAP_SYS_NICE', cap_raw: 23 },
    { comm: HOSTILE, pid: 1, proc: { creds: { uid: 1000, gid: 100 } }, cap: 'CAP_CHECKPOINT_RESTORE', cap_raw: 40 },
  ];

  it('aligns a header and rows, escaping hostile text and cutting long text', () => {
    const r = new ColumnsRenderer(defs);
    expect(r.columns.map((c) => c.id)).toEqual(['comm', 'pid', 'proc.creds.uid', 'cap']);
    expect(r.header()).toBe('COMM                 PID PROC.CREDS.UID CAP');
    expect(r.row(rows[0])).toBe('nice              169528              0 CAP_SYS_NICE');
    const hostile = r.row(rows[1]);
    assertInert(hostile);
    expect(hostile.startsWith('\\x1b[2J\\x1b]0;p… ')).toBe(true);
    expect(hostile).toContain('CAP_CHECKPO…');
    // Every line has the same column starts.
    expect(r.row(rows[0]).indexOf('169528') + 6).toBe(r.header().indexOf('PID') + 3);
  });

  it('selects columns with --fields: exact list, containers, +/- modifiers, hidden ones by name', () => {
    expect(selectColumns(defs, 'pid,comm').map((d) => d.id)).toEqual(['pid', 'comm']);
    expect(selectColumns(defs, 'PROC').map((d) => d.id)).toEqual(['proc.creds.uid']);
    expect(selectColumns(defs, ['proc.creds.gid', 'cap_raw']).map((d) => d.id)).toEqual(['proc.creds.gid', 'cap_raw']);
    expect(selectColumns(defs, '+cap_raw,-comm').map((d) => d.id)).toEqual(['pid', 'proc.creds.uid', 'cap', 'cap_raw']);
    expect(selectColumns(defs, '').map((d) => d.id)).toEqual(['comm', 'pid', 'proc.creds.uid', 'cap']);
    expect(() => selectColumns(defs, 'pid,nope')).toThrow(UnknownFieldError);
    try {
      new ColumnsRenderer(defs, { fields: 'nope' });
    } catch (e) {
      expect((e as UnknownFieldError).code).toBe('UNKNOWN_FIELD');
      expect((e as UnknownFieldError).message).toContain('cap_raw');
    }
    const r = new ColumnsRenderer(defs, { fields: 'cap_raw,comm' });
    expect(r.header()).toBe('CAP_RAW COMM');
    expect(r.row(rows[0])).toBe('23      nice');
  });

  it('renders a batch with widths from the content', () => {
    const table = renderTable(rows, [{ id: 'comm', maxWidth: 10 }, { id: 'pid', align: 'right', truncate: false }, { id: 'cap' }]);
    const lines = table.split('\n');
    expect(lines[0]).toBe('COMM          PID CAP');
    expect(lines[1]).toBe('nice       169528 CAP_SYS_NICE');
    // The cut never splits an escape: `\x1b` goes whole.
    expect(lines[2]).toBe('\\x1b[2J…        1 CAP_CHECKPOINT_RESTORE');
    expect(lines[3]).toBe('');
    assertInert(table.replace(/\n/g, ''));
  });

  it('formats cells by type', () => {
    expect(formatCell(undefined)).toBe('');
    expect(formatCell(null)).toBe('');
    expect(formatCell(5n)).toBe('5');
    expect(formatCell(false)).toBe('false');
    expect(formatCell(['a', 1])).toBe('a,1');
    expect(formatCell(Uint8Array.from([0x61, 0x62, 0, 0x63]))).toBe('ab');
    expect(formatCell({ a: 1n })).toBe('{"a":"1"}');
  });
});

describe('columns from BTF field descriptors', () => {
  it('shows a decoded trace_capabilities event the IG way', () => {
    const { b, ev } = capEventBtf();
    const fields = describeEventType(b, ev);
    const defs = columnsFromDescriptors(fields);
    const visible = defs.filter((d) => !d.hidden).map((d) => d.id);
    expect(visible).toEqual([
      'timestamp',
      'proc.comm',
      'proc.pid',
      'proc.tid',
      'proc.mntns_id',
      'proc.creds.uid',
      'proc.creds.gid',
      'proc.parent.comm',
      'proc.parent.pid',
      'current_userns',
      'cap_effective',
      'cap',
      'capable',
      'audit',
      'syscall',
      'kstack',
      'mode',
      'dst',
      'flag_a',
      'task',
    ]);
    for (const raw of ['timestamp_raw', 'cap_raw', 'cap_effective_raw', 'syscall_raw', 'kstack_raw']) {
      expect(defs.find((d) => d.id === raw)?.hidden).toBe(true);
    }

    const bytes = encodeValue(b, ev, {
      timestamp_raw: 1234n,
      proc: { comm: HOSTILE.slice(0, 15), pid: 42, tid: 43, mntns_id: 4026531840n, creds: { uid: 0, gid: 0 }, parent: { comm: 'bash', pid: 1 } },
      cap_effective_raw: ['FLAG_CAP_CHOWN', 'FLAG_CAP_KILL'],
      cap_raw: 'CAP_SYS_NICE',
      capable: false,
      audit: 1,
      syscall_raw: process.arch === 'arm64' ? 140n : 141n,
      task: 0xffff888000001000n,
    });
    const decoded = decodeValue(b, ev, bytes);
    const r = new ColumnsRenderer(defs, { fields: 'proc.comm,proc.pid,cap,cap_effective,syscall,capable,task' });
    expect(r.header()).toBe('PROC.COMM        PROC.PID CAP              CAP_EFFECTIVE            SYSCALL              CAPABLE               TASK');
    const row = r.row(decoded);
    assertInert(row);
    expect(row).toBe('\\x1b[2J\\x1b]0;p…       42 CAP_SYS_NICE     FLAG_CAP_CHOWN|FLAG_CAP… SYS_SETPRIORITY      false   0xffff888000001000');

    // JSON keeps raw and nested values, valid whatever the comm holds.
    const parsed = JSON.parse(formatJson(decoded)) as { proc: { comm: string; mntns_id: string }; cap_raw: string };
    expect(parsed.proc.comm).toBe(HOSTILE.slice(0, 15));
    expect(parsed.proc.mntns_id).toBe('4026531840');
    expect(parsed.cap_raw).toBe('CAP_SYS_NICE');
  });

  it('decodes the same event through a compiled decoder with raw enum values for enrichment', () => {
    const { b, ev } = capEventBtf();
    const bytes = encodeValue(b, ev, { cap_raw: 23, cap_effective_raw: 33n, syscall_raw: 0xffffffffffffffffn });
    const raw = compileDecoder(b, ev, { enums: 'value', int64: 'number-if-safe' })(new DataView(bytes.buffer)) as Record<string, unknown>;
    expect(raw.cap_raw).toBe(23);
    expect(raw.cap_effective_raw).toBe(33);
    expect(raw.syscall_raw).toBe(0xffffffffffffffffn);
    const defs = columnsFromDescriptors(describeEventType(b, ev));
    expect(new ColumnsRenderer(defs, { fields: 'syscall' }).row(raw)).toBe('SYS_UNKNOWN');
  });

  it('formats raw signal, errno, duration, bytes and capability members until the runtime does', () => {
    const t = baseBtf();
    const { b } = t;
    const s = addComposite(b, 'struct', 'ev', [
      ['sig_raw', addTypedef(b, 'gadget_signal', t.u32)],
      ['err_raw', addTypedef(b, 'gadget_errno', t.u32)],
      ['lat_raw', addTypedef(b, 'gadget_duration', t.u64)],
      ['len_raw', addTypedef(b, 'gadget_bytes', t.u64)],
      ['cap_raw', addTypedef(b, 'gadget_capability', t.s32)],
      ['sig_plain', addTypedef(b, 'gadget_signal', t.u32)],
    ]);
    const fields = describeEventType(b, s);
    const defs = columnsFromDescriptors(fields);
    const rec = decodeValue(b, s, encodeValue(b, s, { sig_raw: 9, err_raw: 13, lat_raw: 12_500n, len_raw: 82854982n, cap_raw: 21, sig_plain: 9 }));
    const r = new ColumnsRenderer(defs, { fields: 'sig,err,lat,len,cap,sig_plain', separator: '|' });
    expect(r.header().split('|').map((h) => h.trim())).toEqual(['SIG', 'ERR', 'LAT', 'LEN', 'CAP', 'SIG_PLAIN']);
    // Without the _raw suffix IG does not format: the number stays.
    expect(r.row(rec).split('|').map((c) => c.trim())).toEqual(['SIGKILL', 'EACCES', '12.50µs', '83 MB', 'CAP_SYS_ADMIN', '9']);
    // Already formatted values (strings from the runtime) are shown as they are.
    expect(r.row({ ...(rec as object), sig: 'SIGTERM' }).startsWith('SIGTERM')).toBe(true);
  });
});
