/**
 * The builder pool under change (issue 15): a builder added or removed must move only the repos that must
 * move. Pure computation with the pool's own ranking (rendezvousOrder, src/builder/pool.ts): 10,000 repo
 * names routed over 4 builders, then over 5 (one added), then over 4 of those 5 (one removed). For scale, the
 * same changes under `hash(repo) mod N`, what a pool without rendezvous hashing would do. Also what one routing
 * decision costs (ranking the builders for a repo), in µs.
 */
import { createHash } from 'node:crypto';
import { rendezvousOrder } from '../src/builder/pool.js';
import { stats, type Stats } from './lib/stats.js';

export interface PoolChangeRow {
  change: string;
  /** Repos whose first builder changed, of all. */
  moved: number;
  repos: number;
  /** What must move at least: the new builder's fair share, or the removed builder's repos. */
  ideal: number;
  /** Every moved repo went to the new builder / came from the removed one. */
  onlyNecessary: boolean;
  /** The same change under `hash mod N`: fraction moved. */
  modulo: number;
}

export interface PoolResult {
  repos: number;
  rows: PoolChangeRow[];
  /** Repos per builder after the change, min and max, against the even share. */
  balance: { builders: number; min: number; max: number; even: number }[];
  /** µs per routing decision (rendezvousOrder of one repo), per batch of the repos, for 4 and 5 builders. */
  decision: { builders: number; us: Stats }[];
}

const REPOS = Number(process.env.BENCH_POOL_REPOS ?? 10_000);
const builder = (k: number) => `docker+tcp://10.0.0.${k + 1}:2376`;

const first = (repos: string[], names: string[]) => new Map(repos.map((r) => [r, rendezvousOrder(r, names)[0]!]));
const modulo = (repo: string, n: number) => createHash('sha256').update(repo).digest().readUInt32BE(0) % n;

function perBuilder(route: Map<string, string>, names: string[]): { builders: number; min: number; max: number; even: number } {
  const counts = new Map(names.map((n) => [n, 0]));
  for (const b of route.values()) counts.set(b, counts.get(b)! + 1);
  const xs = [...counts.values()];
  return { builders: names.length, min: Math.min(...xs), max: Math.max(...xs), even: route.size / names.length };
}

/** µs per rendezvousOrder call, over `batches` passes over the repos (the first a warm-up). */
function decisionTime(repos: string[], names: string[], batches = 6): Stats {
  const us: number[] = [];
  let sink = 0;
  for (let b = -1; b < batches; b++) {
    const t0 = process.hrtime.bigint();
    for (const r of repos) sink += rendezvousOrder(r, names)[0]!.length;
    const per = Number(process.hrtime.bigint() - t0) / 1e3 / repos.length;
    if (b >= 0) us.push(per);
  }
  if (sink === 0) throw new Error('unreachable');
  return stats(us);
}

export function poolMovement(log: (s: string) => void): PoolResult {
  log(`pool movement: ${REPOS} repos over 4, 5 and 4 of 5 builders`);
  const repos = Array.from({ length: REPOS }, (_, i) => `owner${i % 100}/repo-${i}`);
  const four = [0, 1, 2, 3].map(builder);
  const five = [...four, builder(4)];
  const removed = five[1]!;
  const fourOfFive = five.filter((n) => n !== removed);
  const r4 = first(repos, four);
  const r5 = first(repos, five);
  const rRemoved = first(repos, fourOfFive);

  const addMoved = repos.filter((r) => r4.get(r) !== r5.get(r));
  const removeMoved = repos.filter((r) => r5.get(r) !== rRemoved.get(r));
  const onRemoved = repos.filter((r) => r5.get(r) === removed);
  const rows: PoolChangeRow[] = [
    {
      change: 'a 5th builder added to 4',
      moved: addMoved.length,
      repos: REPOS,
      ideal: REPOS / 5,
      onlyNecessary: addMoved.every((r) => r5.get(r) === builder(4)),
      modulo: repos.filter((r) => four[modulo(r, 4)] !== five[modulo(r, 5)]).length / REPOS,
    },
    {
      change: `1 of 5 builders removed (${removed})`,
      moved: removeMoved.length,
      repos: REPOS,
      ideal: onRemoved.length,
      // Only the removed builder's repos moved, and all of them (they had to).
      onlyNecessary: removeMoved.every((r) => r5.get(r) === removed) && removeMoved.length === onRemoved.length,
      modulo: repos.filter((r) => five[modulo(r, 5)] !== fourOfFive[modulo(r, 4)]).length / REPOS,
    },
  ];
  const balance = [perBuilder(r4, four), perBuilder(r5, five), perBuilder(rRemoved, fourOfFive)];
  const decision = [
    { builders: 4, us: decisionTime(repos, four) },
    { builders: 5, us: decisionTime(repos, five) },
  ];
  return { repos: REPOS, rows, balance, decision };
}
