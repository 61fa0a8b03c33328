/**
 * Sizes and durations as people type them (`10GiB`, `500MB`, `24h`, `30d`) and as the server prints them.
 * Parsers return a value or a sentence saying what was wrong; they never throw, so each caller (settings,
 * CLI, API) wraps the sentence in its own error.
 */

const SIZE_UNITS: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4,
};

/** The largest size accepted anywhere (a petabyte): beyond it a figure is a typo, not a quota. */
export const MAX_SIZE = 1024 ** 5;

export type Parsed<T> = { ok: true; value: T } | { ok: false; problem: string };

/**
 * `10GiB`, `10 GB`, `1.5TiB`, `512MiB`, `1048576` (bytes): a whole number of bytes from 0 to a PiB. Units are
 * case-insensitive; KB/MB/GB/TB are powers of 1000, KiB/MiB/GiB/TiB (and K/M/G/T, as docker reads them) of 1024.
 */
export function parseSize(text: string): Parsed<number> {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = m ? (m[2] || 'b').toLowerCase() : '';
  const factor = SIZE_UNITS[unit];
  if (!m || factor === undefined) {
    return { ok: false, problem: `${JSON.stringify(text)} is not a size: write a number with a unit, e.g. 10GiB, 500MiB, 2GB or 1048576 (bytes)` };
  }
  const value = Math.round(Number(m[1]) * factor);
  if (value > MAX_SIZE) return { ok: false, problem: `${JSON.stringify(text)} is more than ${formatBytes(MAX_SIZE)}` };
  return { ok: true, value };
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `1h`, `30m`, `90s`, `7d`, `1h30m`, `0` (none): milliseconds, at most `maxMs`. */
export function parseDuration(text: string, maxMs = 3650 * 86_400_000): Parsed<number> {
  const t = text.trim();
  if (t === '0') return { ok: true, value: 0 };
  const parts = /^(?:\d+(?:ms|s|m|h|d))+$/.test(t) ? t.match(/\d+(?:ms|s|m|h|d)/g)! : null;
  if (!parts) return { ok: false, problem: `${JSON.stringify(text)} is not a duration: write e.g. 1h, 30m, 90s, 7d or 1h30m (0 for none)` };
  const value = parts.reduce((sum, p) => {
    const [, n, unit] = /^(\d+)(ms|s|m|h|d)$/.exec(p)!;
    return sum + Number(n) * DURATION_UNITS[unit!]!;
  }, 0);
  if (value > maxMs) return { ok: false, problem: `${JSON.stringify(text)} is longer than ${formatDuration(maxMs)}` };
  return { ok: true, value };
}

/** Bytes for people: `0 B`, `512 B`, `1.5 KiB`, `12.3 MiB`, `10 GiB` (powers of 1024, as quotas are written). */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let i = -1;
  do {
    v /= 1024;
    i++;
  } while (v >= 1024 && i < units.length - 1);
  return `${v >= 100 ? Math.round(v) : +v.toFixed(v >= 10 ? 1 : 2)} ${units[i]}`;
}

/** A change in size for people, signed: `+3 MiB`, `-512 B`, `0 B` (formatBytes of its magnitude). */
export function formatBytesDelta(n: number): string {
  if (n === 0) return '0 B';
  return `${n > 0 ? '+' : '-'}${formatBytes(Math.abs(n))}`;
}

/** A duration for people: `0s`, `90s`, `30m`, `24h`, `7d`, `1h30m`. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  const out: string[] = [];
  let rest = ms;
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const) {
    if (rest >= size) {
      out.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  if (rest > 0 || out.length === 0) out.push(`${rest}ms`);
  return out.join('');
}
