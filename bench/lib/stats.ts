/** Summary figures of repeated measurements, in the unit they were taken in. */
export interface Stats {
  n: number;
  median: number;
  p99: number;
  min: number;
  max: number;
}

/** Nearest-rank percentile (p in 0..1) of an unsorted list. */
export function pct(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]!;
}

export function stats(xs: readonly number[]): Stats {
  if (!xs.length) throw new Error('no measurements');
  return { n: xs.length, median: pct(xs, 0.5), p99: pct(xs, 0.99), min: Math.min(...xs), max: Math.max(...xs) };
}

/** Milliseconds since a process.hrtime.bigint() reading. */
export const msSince = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e6;

/** "median (min-max)" with the given decimals. */
export const spread = (s: Stats, d = 0): string => `${s.median.toFixed(d)} (${s.min.toFixed(d)}-${s.max.toFixed(d)})`;

export const ratio = (a: number, b: number): string => (a / b).toFixed(2);
