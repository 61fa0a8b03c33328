/**
 * A build's record and stored log through the API, as a client reads them, and the figures the benchmark takes
 * from a log: the bytes of context sent, the steps cached.
 */
import type { TestServer } from '../../test/helpers/server.js';

export interface BuildRecord {
  id: number;
  status: string;
  builder: string | null;
  reason: string | null;
  ref: string;
  steps?: { name: string; cached: boolean }[];
}

/** The build of `sha` (the newest, if several) and its log: GET /api/builds?commit=, then /api/builds/:id/log. */
export async function buildOf(server: TestServer, token: string, sha: string): Promise<{ build: BuildRecord; log: string }> {
  const { body } = await server.api<{ builds?: BuildRecord[] }>(`/api/builds?commit=${sha}`, token);
  const build = body.builds?.[0];
  if (!build) throw new Error(`no build of ${sha} on ${server.url}: ${JSON.stringify(body).slice(0, 300)}`);
  const res = await fetch(`${server.url}/api/builds/${build.id}/log`, { headers: { authorization: `Bearer ${token}` } });
  if (!res.ok) throw new Error(`GET /api/builds/${build.id}/log: ${res.status}`);
  return { build, log: await res.text() };
}

const UNITS: Record<string, number> = { bytes: 1, B: 1, kB: 1e3, KB: 1e3, KiB: 1024, MB: 1e6, MiB: 1024 ** 2, GB: 1e9, GiB: 1024 ** 3, TB: 1e12 };

/**
 * Bytes of build context sent, from a build's log or a buildx run's output, or null when it does not say:
 *  - the Engine API drivers' line `context: N files, B bytes sent (…)`;
 *  - else BuildKit's progress `#N transferring context: 1.23kB [1.2s] [done]` (buildx's plain progress; the
 *    build log's own `#N transferring context: 189 bytes done`): the
 *    last figure of each step, summed over the steps (the .dockerignore and the context itself).
 */
export function contextBytes(log: string): number | null {
  const line = /^(?:\S+ )?context: (\d+) files?, (\d+) bytes sent/m.exec(log);
  if (line) return Number(line[2]);
  const perStep = new Map<string, number>();
  for (const m of log.matchAll(/^(#\d+) transferring context:? ([\d.]+)\s?([kKMGT]?i?B|bytes)\b/gm)) {
    const bytes = Number(m[2]) * (UNITS[m[3]!] ?? NaN);
    if (Number.isFinite(bytes)) perStep.set(m[1]!, Math.max(perStep.get(m[1]!) ?? 0, bytes));
  }
  return perStep.size ? [...perStep.values()].reduce((a, b) => a + b, 0) : null;
}

/** The runner's line `cache: X of Y steps cached`, or null when the log has none. */
export function stepsCached(log: string): { cached: number; steps: number } | null {
  const m = /cache: (\d+) of (\d+) steps? cached/.exec(log);
  return m ? { cached: Number(m[1]), steps: Number(m[2]) } : null;
}

/** The Dockerfile instructions (`[2/4] RUN …`, by keyword) of a build's steps that did not come from the cache. */
export function uncachedInstructions(build: BuildRecord): string[] {
  return (build.steps ?? [])
    .filter((s) => !s.cached)
    .map((s) => /^\[(?:[^\]\s]+ )?\d+\/\d+\] (\S+)/.exec(s.name)?.[1])
    .filter((k): k is string => !!k);
}

/** Bytes as BuildKit prints them (decimal units), with a space: `61 B`, `2.1 kB`, `419.4 MB`. */
export function fmtBytes(n: number): string {
  if (n < 1000) return `${Math.round(n)} B`;
  const [unit, div] = n < 1e6 ? ['kB', 1e3] : n < 1e9 ? ['MB', 1e6] : ['GB', 1e9];
  return `${(n / (div as number)).toFixed(1)} ${unit}`;
}
