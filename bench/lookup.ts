/**
 * Lookups with a database as after years of use: N finished builds (100 owners x 10 repos, realistic rows
 * with config, tags, steps), then the server started on it and asked over HTTP from a keep-alive client in
 * this process, by one owner: by 7-hex sha prefix (`/api/builds?commit=`, then that build's log) and by repo
 * (`/api/builds?repo=`, the newest 20). The rows are written with one prepared INSERT per row in large
 * transactions (what the server writes per build, without its per-push work).
 */
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LogStore } from '../src/logs/store.js';
import { generateToken, hashToken } from '../src/auth/tokens.js';
import { openDb } from '../src/store/db.js';
import { Store } from '../src/store/store.js';
import { removeOwnRegistries, TestServer } from '../test/helpers/server.js';
import { keepAliveClient } from './lib/http.js';
import { rssMb } from './lib/proc.js';
import { stats, type Stats } from './lib/stats.js';

const OWNERS = 100;
const REPOS = 10;

function client() {
  const get = keepAliveClient();
  return (url: string, token: string) => get(url, { authorization: `Bearer ${token}` });
}

/** Fills a fresh data dir with n builds; returns it with the shas and ids of owner 0's builds. The caller removes it. */
export async function fill(
  n: number,
  base: string,
): Promise<{ dataDir: string; token: string; mine: { id: number; sha: string; repo: string }[]; fillSeconds: number }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'chb-lookup-'));
  // Migrations, and the user who looks up (an owner's repos exist before the server starts, so its user must too).
  const store = new Store(openDb(join(dataDir, 'codehub.db')));
  const token = generateToken();
  store.accounts.createUser(`${base}0`, hashToken(token));
  store.db.$client.close();
  const db = new Database(join(dataDir, 'codehub.db'));
  db.pragma('journal_mode = WAL');
  // Only the fill runs this way (a crash would just mean filling again); the server opens the file as always.
  db.pragma('synchronous = OFF');
  db.pragma('cache_size = -524288');
  const t0 = performance.now();
  const repoIds: number[] = [];
  const addRepo = db.prepare('INSERT INTO repos (owner, name, default_branch) VALUES (?, ?, ?)');
  for (let o = 0; o < OWNERS; o++) for (let r = 0; r < REPOS; r++) repoIds.push(Number(addRepo.run(`${base}${o}`, `r${r}`, 'main').lastInsertRowid));
  const insert = db.prepare(`INSERT INTO builds (repo_id, repo, owner, ref, ref_type, ref_name, commit_sha, image, config, image_refs, digest, status,
    pusher, queued_at, started_at, finished_at, attempts, builder, steps) VALUES (?, ?, ?, 'refs/heads/main', 'branch', 'main', ?, ?, ?, ?, ?, 'succeeded', ?, ?, ?, ?, 1, 'local', ?)`);
  const config = JSON.stringify({
    context: '.',
    dockerfile: 'Dockerfile',
    target: null,
    args: {},
    secrets: [],
    branches: null,
    paths: null,
    tags: ['{branch}', '{sha}'],
    platforms: [],
    timeoutSeconds: null,
    cancelSuperseded: true,
  });
  const steps = JSON.stringify([
    { n: 1, name: '[internal] load remote build context', cached: false },
    { n: 2, name: '[1/2] FROM localhost:5000/cache/busybox:latest', cached: true },
    { n: 3, name: '[2/2] RUN make', cached: false },
  ]);
  const mine: { id: number; sha: string; repo: string }[] = [];
  const when = new Date('2024-01-01T00:00:00Z').getTime();
  const chunk = db.transaction((from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const k = i % (OWNERS * REPOS);
      const owner = `${base}${Math.floor(k / REPOS)}`;
      const repo = `${owner}/r${k % REPOS}`;
      const sha = randomBytes(20).toString('hex');
      const at = new Date(when + i * 60_000).toISOString();
      const id = Number(
        insert.run(
          repoIds[k],
          repo,
          owner,
          sha,
          `r${k % REPOS}`,
          config,
          JSON.stringify([`localhost:5000/${repo}:main`, `localhost:5000/${repo}:${sha}`]),
          'sha256:' + sha + sha.slice(0, 24),
          owner,
          at,
          at,
          at,
          steps,
        ).lastInsertRowid,
      );
      if (k < REPOS) mine.push({ id, sha, repo });
    }
  });
  for (let done = 0; done < n; done += 50_000) chunk(done, Math.min(n, done + 50_000));
  db.close();
  return { dataDir, token, mine, fillSeconds: (performance.now() - t0) / 1000 };
}

export interface LookupResult {
  builds: number;
  fillSeconds: number;
  byPrefix: Stats;
  prefixThenLog: Stats;
  byRepo: Stats;
  rssMb: number;
}

export async function lookups(n: number, count: number): Promise<LookupResult> {
  const base = `lk${n}o`;
  const { dataDir, token, mine, fillSeconds } = await fill(n, base);
  let server: TestServer | null = null;
  try {
    const sample = Array.from({ length: 200 }, () => mine[Math.floor(Math.random() * mine.length)]!);
    const logs = new LogStore(join(dataDir, 'logs'));
    for (const b of sample)
      await logs.append(
        b.id,
        Array.from({ length: 40 }, (_, i) => `#${i} a log line of build ${b.id}`),
      );
    server = await TestServer.start({ dataDir, env: { CODEHUB_LOG_LEVEL: 'warn' } });
    const get = client();
    const byPrefix: number[] = [];
    const prefixThenLog: number[] = [];
    const byRepo: number[] = [];
    for (let i = -100; i < count; i++) {
      // the first 100 warm up
      const b = sample[Math.abs(i) % sample.length]!;
      const prefix = b.sha.slice(0, 7);
      const tFind = performance.now();
      const found = await get(`${server.url}/api/builds?commit=${prefix}`, token);
      const tFound = performance.now();
      if (found.status !== 200 || !(JSON.parse(found.text) as { builds: { id: number }[] }).builds.some((x) => x.id === b.id))
        throw new Error(`lookup of ${prefix} failed: ${found.status} ${found.text.slice(0, 200)}`);
      const log = await get(`${server.url}/api/builds/${b.id}/log`, token);
      const tLog = performance.now();
      if (!log.text.includes(`a log line of build ${b.id}`)) throw new Error(`wrong log for build ${b.id}`);
      const tList = performance.now();
      const list = await get(`${server.url}/api/builds?repo=${b.repo}&limit=20`, token);
      const tListed = performance.now();
      const listed = (JSON.parse(list.text) as { builds: { repo: string }[] }).builds;
      if (list.status !== 200 || listed.length !== 20 || listed.some((x) => x.repo !== b.repo)) throw new Error(`list of ${b.repo} failed: ${list.status}`);
      if (i >= 0) {
        byPrefix.push(tFound - tFind);
        prefixThenLog.push(tLog - tFind);
        byRepo.push(tListed - tList);
      }
    }
    return { builds: n, fillSeconds, byPrefix: stats(byPrefix), prefixThenLog: stats(prefixThenLog), byRepo: stats(byRepo), rssMb: rssMb(server.proc!.pid!) };
  } finally {
    await server?.stop();
    await removeOwnRegistries();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
