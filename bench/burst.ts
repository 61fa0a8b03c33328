/**
 * The queue under load: 50 concurrent git pushes (10 repos x 5 branches) to a fresh server with the default
 * two build slots, building on the real BuildKit. Push latency (git push returning), push to running, time
 * until all 50 are terminal, builds lost or duplicated (read from the SQLite file), and the server's RSS.
 * Also the claim rate of the SQLite queue itself with 10,000 builds queued.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { openDb } from '../src/store/db.js';
import { Store } from '../src/store/store.js';
import { TERMINAL_STATUSES } from '../src/store/schema.js';
import { WorkRepo } from '../test/helpers/git.js';
import { removeOwnRegistries, TestServer, uniqueName } from '../test/helpers/server.js';
import { initBare, startPlainGitServer } from './lib/plain-git.js';
import { rssMb, sampleRss } from './lib/proc.js';
import { Scratch } from './lib/scratch.js';
import { stats, type Stats } from './lib/stats.js';

export interface BurstResult {
  pushesOk: number;
  push: Stats;
  /** The same 50 pushes to bare repos behind plain `git http-backend`, no hook, for scale. */
  plainPush: Stats;
  toRunning: Stats;
  allTerminalMs: number;
  records: number;
  lost: number;
  duplicated: number;
  statuses: Record<string, number>;
  rssIdleMb: number;
  rssPeakMb: number;
}

export function claimRate(n: number): { perSecond: number; msPerClaim: number } {
  const tmp = new Scratch();
  try {
    const store = new Store(openDb(join(tmp.dir('chb-q-'), 'q.db')));
    const repoIds = Array.from({ length: 100 }, (_, i) => store.repos.ensure(`owner${i}`, 'r').id);
    store.builds.insert(
      Array.from({ length: n }, (_, i) => ({
        repoId: repoIds[i % 100]!,
        repo: `owner${i % 100}/r`,
        owner: `owner${i % 100}`,
        ref: `refs/heads/b${i}`,
        refType: 'branch' as const,
        refName: `b${i}`,
        commitSha: i.toString(16).padStart(40, '0'),
        image: 'r',
        status: 'queued' as const,
        pusher: `owner${i % 100}`,
      })),
      () => [],
    );
    const t0 = performance.now();
    let claimed = 0;
    for (let b = store.queue.claimNext(() => 'bench'); b; b = store.queue.claimNext(() => 'bench')) {
      store.queue.finish(b.id, { status: 'succeeded', digest: 'sha256:x' });
      claimed++;
    }
    const secs = (performance.now() - t0) / 1000;
    store.db.$client.close();
    return { perSecond: claimed / secs, msPerClaim: (secs * 1000) / claimed };
  } finally {
    tmp.remove();
  }
}

/** 10 repos x 5 branches pushed at once; resolves with each push's outcome and time. */
function pushAll(repos: WorkRepo[], url: (i: number) => string) {
  return Promise.all(
    repos.flatMap((repo, i) =>
      Array.from({ length: 5 }, async (_, j) => {
        const start = Date.now();
        const r = await repo.push(url(i), [`HEAD:refs/heads/b${j}`]);
        return { start, ms: Date.now() - start, ok: r.exitCode === 0, i, branch: `b${j}` };
      }),
    ),
  );
}

async function plainBurst(repos: WorkRepo[], tmp: Scratch): Promise<Stats> {
  const root = tmp.dir('chb-plain-');
  for (let i = 0; i < repos.length; i++) initBare(root, `q${i}`);
  const plain = await startPlainGitServer(root);
  try {
    const pushes = await pushAll(repos, (i) => `${plain.url}/q${i}.git`);
    if (pushes.some((p) => !p.ok)) throw new Error('a plain push failed');
    return stats(pushes.map((p) => p.ms));
  } finally {
    await plain.close();
  }
}

export async function burst(): Promise<BurstResult> {
  const tmp = new Scratch();
  const server = await TestServer.start({ dataDir: tmp.dir('chb-e2e-'), env: { CODEHUB_LOG_LEVEL: 'info' } });
  try {
    const owner = uniqueName('burst');
    const token = server.addUser(owner);
    const repos = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        WorkRepo.create({ Dockerfile: `FROM localhost:5000/cache/busybox:latest\nRUN echo ${owner}-${i}\n` }).then((r) => tmp.repo(r)),
      ),
    );
    const plainPush = await plainBurst(repos, tmp);
    await new Promise((r) => setTimeout(r, 2000));
    const pid = server.proc!.pid!;
    const rssIdleMb = rssMb(pid);
    const rss = sampleRss(pid);
    const t0 = Date.now();
    const pushes = (await pushAll(repos, (i) => server.gitUrl(owner, token, owner, `q${i}`))).map((p) => ({ ...p, repo: `${owner}/q${p.i}` }));
    const db = new Database(join(server.dataDir, 'codehub.db'), { readonly: true });
    type Row = { repo: string; ref_name: string; status: string; started_at: string | null; finished_at: string | null };
    let rows: Row[] = [];
    for (;;) {
      rows = db.prepare('SELECT repo, ref_name, status, started_at, finished_at FROM builds WHERE owner = ?').all(owner) as Row[];
      if (rows.length >= 50 && rows.every((r) => (TERMINAL_STATUSES as readonly string[]).includes(r.status))) break;
      if (Date.now() - t0 > 300_000) throw new Error(`the burst did not end within 5 minutes: ${rows.length} records`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const rssPeakMb = rss.stop();
    db.close();
    const allTerminalMs = Math.max(...rows.map((r) => Date.parse(r.finished_at!))) - t0;
    const toRunning = pushes
      .map((p) => {
        const row = rows.find((r) => r.repo === p.repo && r.ref_name === p.branch);
        return row?.started_at ? Date.parse(row.started_at) - p.start : NaN;
      })
      .filter(Number.isFinite);
    const keys = new Set(rows.map((r) => `${r.repo}@${r.ref_name}`));
    return {
      pushesOk: pushes.filter((p) => p.ok).length,
      push: stats(pushes.map((p) => p.ms)),
      plainPush,
      toRunning: stats(toRunning),
      allTerminalMs,
      records: rows.length,
      lost: 50 - keys.size,
      duplicated: rows.length - keys.size,
      statuses: countBy(rows.map((r) => r.status)),
      rssIdleMb,
      rssPeakMb,
    };
  } finally {
    await server.stop();
    await removeOwnRegistries();
    tmp.remove();
  }
}

function countBy(values: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const v of values) counts[v] = (counts[v] ?? 0) + 1;
  return counts;
}
