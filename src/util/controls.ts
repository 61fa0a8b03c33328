/**
 * Control characters: C0 (NUL to US, tab and line breaks included), DEL and C1. A terminal acts on them
 * (ESC starts a sequence, BEL rings, CR rewrites a line) and a log reader splits on line breaks, so text from
 * outside that is echoed into a log or a terminal must not carry them raw.
 */
// eslint-disable-next-line no-control-regex
export const CONTROL_RE = /[\x00-\x1f\x7f-\x9f]/;
// eslint-disable-next-line no-control-regex
const CONTROLS_G = /[\x00-\x1f\x7f-\x9f]/g;

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * `text` with each control character written as an escape (`\n`, `\r`, `\t`, else `\xHH`, as JSON and
 * most shells show them): a value echoed into a log stays on its own line and changes nothing on a terminal.
 */
export function escapeControls(text: string): string {
  return text.replace(CONTROLS_G, (c) => NAMED[c] ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** The first control character in `text` as a reader would name it (`U+001B`), or null when there is none. */
export function firstControl(text: string): string | null {
  const m = CONTROL_RE.exec(text);
  return m ? `U+${m[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}` : null;
}
