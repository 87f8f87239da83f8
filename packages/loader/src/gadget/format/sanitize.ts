/**
 * Rendering untrusted text safely. Anything that comes from the kernel on behalf of another
 * process — `comm`, paths, any char array — is attacker-controlled: a process can name itself
 * `"\x1b[2J\x1b]0;pwn\x07"` to clear the terminal and retitle the window of whoever watches the
 * trace. Columns therefore show every character that could drive a terminal as a visible escape.
 *
 * Escapes produced by {@link sanitizeForTerminal}:
 * - `\\` for a backslash, so an escape in the output can never be forged by the input;
 * - `\n`, `\r`, `\t`; `\xNN` for every other C0 control and DEL (ESC → `\x1b`, BEL → `\x07`);
 * - `\u0080`…`\u009f` for C1 controls (U+009B is a one-character CSI on some terminals);
 * - `\xNN` for a byte that was not valid UTF-8 (the codec keeps it as U+DC80+byte);
 * - `\uXXXX` for other lone surrogates, bidirectional overrides/isolates (Trojan-source style
 *   reordering), U+2028/U+2029 and U+FEFF.
 */

/** Characters that never reach a terminal unescaped (lone surrogates matched as code points). */
const UNSAFE = /[\\\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]|[\ud800-\udfff]/u;
const UNSAFE_G = new RegExp(UNSAFE.source, 'gu');

const NAMED: Readonly<Record<string, string>> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, '0');
}

function escapeOne(ch: string): string {
  const named = NAMED[ch];
  if (named !== undefined) return named;
  const c = ch.charCodeAt(0);
  if (c < 0x20 || c === 0x7f) return `\\x${hex(c, 2)}`;
  if (c >= 0xdc80 && c <= 0xdcff) return `\\x${hex(c - 0xdc00, 2)}`;
  return `\\u${hex(c, 4)}`;
}

/** True when `s` prints as itself: no control, bidi or invalid character in it. */
export function isTerminalSafe(s: string): boolean {
  return !UNSAFE.test(s);
}

/** `s` with every terminal-unsafe character replaced by a visible escape (see the module notes). */
export function sanitizeForTerminal(s: string): string {
  return UNSAFE.test(s) ? s.replace(UNSAFE_G, escapeOne) : s;
}

/**
 * Escapes raw bytes for a terminal: printable ASCII as is, `\\`, `\n`, `\r`, `\t` named, every other
 * byte as `\xNN`. For byte arrays that are not text.
 */
export function escapeBytes(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) {
    if (b === 0x5c) s += '\\\\';
    else if (b >= 0x20 && b < 0x7f) s += String.fromCharCode(b);
    else if (b === 0x0a) s += '\\n';
    else if (b === 0x0d) s += '\\r';
    else if (b === 0x09) s += '\\t';
    else s += `\\x${hex(b, 2)}`;
  }
  return s;
}

/** Zero-width code points: combining marks and joiners (approximate, the common blocks). */
function isZeroWidth(cp: number): boolean {
  return (
    (cp >= 0x0300 && cp <= 0x036f) ||
    (cp >= 0x0483 && cp <= 0x0489) ||
    (cp >= 0x0591 && cp <= 0x05bd) ||
    (cp >= 0x0610 && cp <= 0x061a) ||
    (cp >= 0x064b && cp <= 0x065f) ||
    (cp >= 0x1ab0 && cp <= 0x1aff) ||
    (cp >= 0x1dc0 && cp <= 0x1dff) ||
    (cp >= 0x200b && cp <= 0x200d) ||
    (cp >= 0x20d0 && cp <= 0x20ff) ||
    (cp >= 0xfe00 && cp <= 0xfe0f) ||
    (cp >= 0xfe20 && cp <= 0xfe2f) ||
    (cp >= 0xe0100 && cp <= 0xe01ef)
  );
}

/** East Asian wide/fullwidth and emoji code points that take two terminal cells (approximate). */
function isWide(cp: number): boolean {
  return (
    (cp >= 0x1100 && cp <= 0x115f) ||
    (cp >= 0x2e80 && cp <= 0x303e) ||
    (cp >= 0x3041 && cp <= 0x33ff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0xa000 && cp <= 0xa4cf) ||
    (cp >= 0xac00 && cp <= 0xd7a3) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0xfe30 && cp <= 0xfe4f) ||
    (cp >= 0xff00 && cp <= 0xff60) ||
    (cp >= 0xffe0 && cp <= 0xffe6) ||
    (cp >= 0x1f300 && cp <= 0x1f64f) ||
    (cp >= 0x1f900 && cp <= 0x1f9ff) ||
    (cp >= 0x20000 && cp <= 0x3fffd)
  );
}

/** Width of one code point in terminal cells (0, 1 or 2). */
function cellWidth(cp: number): number {
  if (isZeroWidth(cp)) return 0;
  return isWide(cp) ? 2 : 1;
}

/** Terminal cells `s` occupies (for already sanitized text; wide and combining characters approximated). */
export function displayWidth(s: string): number {
  let w = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x300) {
      w++;
      continue;
    }
    const cp = s.codePointAt(i) ?? c;
    if (cp > 0xffff) i++;
    w += cellWidth(cp);
  }
  return w;
}

/**
 * Cuts `s` to at most `width` cells, ending in `ellipsis` when something was cut. Never splits a
 * surrogate pair or an escape produced by {@link sanitizeForTerminal} (`\x1b` stays whole or goes).
 */
export function truncateToWidth(s: string, width: number, ellipsis = '…'): string {
  if (displayWidth(s) <= width) return s;
  const room = width - displayWidth(ellipsis);
  if (room <= 0) return width <= 0 ? '' : ellipsis.slice(0, width);
  // Escape sequences are atomic units when cutting.
  const units = s.match(/\\(?:x[0-9a-f]{2}|u[0-9a-f]{4}|[\\nrt])|[\s\S]/gu) ?? [];
  let out = '';
  let w = 0;
  for (const u of units) {
    const uw = displayWidth(u);
    if (w + uw > room) break;
    out += u;
    w += uw;
  }
  return out + ellipsis;
}

/** Pads `s` with spaces to `width` cells on the right (`left` alignment) or the left. */
export function padToWidth(s: string, width: number, align: 'left' | 'right' = 'left'): string {
  const pad = width - displayWidth(s);
  if (pad <= 0) return s;
  return align === 'left' ? s + ' '.repeat(pad) : ' '.repeat(pad) + s;
}
