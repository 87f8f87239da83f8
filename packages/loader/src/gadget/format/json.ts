/**
 * JSON output: one object per line (JSON Lines) or pretty-printed.
 *
 * Always valid JSON whatever bytes an event carried: `bigint` becomes a decimal string (JSON numbers
 * lose precision past 2^53, and IG prints 64-bit ids as strings of digits too), `Uint8Array` an
 * array of numbers, `undefined` members are left out, lone surrogates (invalid UTF-8 kept by the
 * codec) are written as `\udcXX` escapes. Characters that are valid JSON but could still drive a
 * terminal reading the stream — DEL, C1 controls, bidi overrides, U+2028/2029 — are escaped as
 * `\uXXXX` too, so piping JSON to a terminal is as safe as the columns output.
 */
import { selectPaths } from './paths.js';

/** Options of {@link formatJson}. */
export interface JsonOptions {
  /** Pretty-print with this indentation (true = two spaces); default one line. */
  pretty?: boolean | number | string;
  /** Only these dotted paths (and their subtrees), like `--fields`; default everything. */
  fields?: readonly string[];
}

/** Valid JSON, but escaped for terminals: DEL, C1, bidi controls, line/paragraph separators, BOM. */
const TERMINAL_UNSAFE_JSON = /[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]/g;

function replacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return Array.from(value);
  if (value instanceof Map) return Object.fromEntries(value);
  if (value instanceof Set) return Array.from(value);
  return value;
}

/**
 * Serializes `value` to JSON (a single line unless `pretty`), with the conversions in the module
 * notes. Cycles throw a TypeError from JSON.stringify, as they are a caller bug.
 */
export function formatJson(value: unknown, options: JsonOptions = {}): string {
  const picked = options.fields && options.fields.length > 0 ? selectPaths(value, options.fields) : value;
  const indent = options.pretty === true ? 2 : options.pretty === false ? undefined : options.pretty;
  const text = JSON.stringify(picked, replacer, indent) ?? 'null';
  return text.replace(TERMINAL_UNSAFE_JSON, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** {@link formatJson} on one line, newline-terminated: one record of a JSON Lines stream. */
export function formatJsonLine(value: unknown, options: Omit<JsonOptions, 'pretty'> = {}): string {
  return `${formatJson(value, { ...options, pretty: false })}\n`;
}

/**
 * A plain JSON-compatible copy of `value` (bigint → string, bytes → number[]), for callers that
 * embed events in a larger document.
 */
export function toJsonValue(value: unknown): unknown {
  return JSON.parse(formatJson(value)) as unknown;
}
