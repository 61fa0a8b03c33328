/**
 * The durable queue under load.
 *
 *   npm run bench:queue      (the stack must be up: bash scripts/stack.sh up)
 *
 * 1. Claim throughput of the SQLite queue itself: 10,000 queued builds from 100 owners in a WAL file;
 *    claim + finish one at a time (what the runner does per build), and claims per second.
 * 2. 50 concurrent git pushes (10 repos x 5 branches) to the real server, building on the real BuildKit:
 *    push latency (git push returning), push-to-running latency (push start to the build's started_at),
 *    time until all 50 are terminal, and builds lost or duplicated.
 */
import Database from 'better-sqlite3';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDb } from '../src/store/db.js';
import { Store } from '../src/store/store.js';
import { WorkRepo } from '../test/helpers/git.js';
import { TestServer, uniqueName } from '../test/helpers/server.js';

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;

function claimThroughput(n: number) {
  const store = new Store(openDb(join(mkdtempSync(join(tmpdir(), 'chb-q-')), 'q.db')));
  const repoIds = Array.from({ length: 100 }, (_, i) => store.ensureRepo(`owner${i}`, 'r').id);
  store.insertBuilds(Array.from({ length: n }, (_, i) => ({
    repoId: repoIds[i % 100]!, repo: `owner${i % 100}/r`, owner: `owner${i % 100}`, ref: `refs/heads/b${i}`, refType: 'branch' as const,
    refName: `b${i}`, commitSha: i.toString(16).padStart(40, '0'), image: 'r', status: 'queued' as const, pusher: `owner${i % 100}`,
  })), () => []);
  const t0 = performance.now();
  let claimed = 0;
  for (;;) {
    const b = store.claimNext(() => 'bench');
    if (!b) break;
    store.finishBuild(b.id, { status: 'succeeded', digest: 'sha256:x' });
    claimed++;
  }
  const secs = (performance.now() - t0) / 1000;
  return { claimed, perSecond: claimed / secs, msPerClaim: (secs * 1000) / claimed };
}

async function burst() {
  const server = await TestServer.start();
  const owner = uniqueName('qbench');
  const token = server.addUser(owner);
  const repos = await Promise.all(Array.from({ length: 10 }, (_, i) => WorkRepo.create({ Dockerfile: `FROM localhost:5000/cache/busybox:latest\nRUN echo ${owner}-${i}\n` })));
  const t0 = Date.now();
  const pushes = await Promise.all(repos.flatMap((repo, i) => Array.from({ length: 5 }, async (_, j) => {
    const start = Date.now();
    const r = await repo.push(server.gitUrl(owner, token, owner, `q${i}`), [`HEAD:refs/heads/b${j}`]);
    return { start, ms: Date.now() - start, ok: r.exitCode === 0, repo: `${owner}/q${i}`, branch: `b${j}` };
  })));
  const db = new Database(join(server.dataDir, 'codehub.db'), { readonly: true });
  let rows: { repo: string; ref_name: string; status: string; started_at: string | null; finished_at: string | null }[] = [];
  for (;;) {
    rows = db.prepare('SELECT repo, ref_name, status, started_at, finished_at FROM builds WHERE owner = ?').all(owner) as typeof rows;
    if (rows.length >= 50 && rows.every((r) => ['succeeded', 'failed', 'canceled', 'skipped'].includes(r.status))) break;
    if (Date.now() - t0 > 300_000) throw new Error('burst did not finish in 5 minutes');
    await new Promise((r) => setTimeout(r, 50));
  }
  const allTerminal = Math.max(...rows.map((r) => Date.parse(r.finished_at!))) - t0;
  db.close();
  const toRunning = pushes.map((p) => {
    const row = rows.find((r) => r.repo === p.repo && r.ref_name === p.branch);
    return row?.started_at ? Date.parse(row.started_at) - p.start : NaN;
  }).filter(Number.isFinite);
  const keys = new Set(rows.map((r) => `${r.repo}@${r.ref_name}`));
  await server.stop();
  return {
    pushesOk: pushes.filter((p) => p.ok).length, pushMs: pushes.map((p) => p.ms), toRunning, allTerminal,
    records: rows.length, lost: 50 - keys.size, duplicated: rows.length - keys.size,
    statuses: Object.entries(rows.reduce<Record<string, number>>((a, r) => ({ ...a, [r.status]: (a[r.status] ?? 0) + 1 }), {})),
  };
}

const c = claimThroughput(10_000);
console.log(`queue claim + finish, 10,000 builds from 100 owners (SQLite WAL file): ${c.perSecond.toFixed(0)} claims/s, ${c.msPerClaim.toFixed(3)} ms each`);
const b = await burst();
console.log(`50 concurrent pushes (10 repos x 5 branches, CODEHUB_MAX_BUILDS=2, real BuildKit):`);
console.log(`  pushes ok: ${b.pushesOk}/50; records: ${b.records}; lost: ${b.lost}; duplicated: ${b.duplicated}; statuses: ${b.statuses.map(([s, n]) => `${s} ${n}`).join(', ')}`);
console.log(`  git push latency: p50 ${pct(b.pushMs, 0.5)} ms, p99 ${pct(b.pushMs, 0.99)} ms`);
console.log(`  push to running: p50 ${pct(b.toRunning, 0.5)} ms, p99 ${pct(b.toRunning, 0.99)} ms (includes waiting for one of 2 build slots)`);
console.log(`  first push to all 50 terminal: ${(b.allTerminal / 1000).toFixed(1)} s`);
