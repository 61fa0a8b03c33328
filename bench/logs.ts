/**
 * Log lookups and live log latency.
 *
 *   npm run bench:logs       (the stack must be up: bash scripts/stack.sh up)
 *
 * 1. Lookup by sha prefix with 100,000 builds in the database: GET /api/builds?commit=<7 hex> and then that
 *    build's log, over HTTP on loopback from a keep-alive client in another process; p50/p99.
 * 2. Line latency to an SSE client: a real build prints 200 lines 20 ms apart; for each line, the time from
 *    the server reading it from BuildKit's client (the line's stored time) to the SSE client receiving it.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LogStore } from '../src/logs/store.js';
import { openDb } from '../src/store/db.js';
import { Store } from '../src/store/store.js';
import { WorkRepo } from '../test/helpers/git.js';
import { TestServer, uniqueName } from '../test/helpers/server.js';

// A keep-alive node:http client: lighter than fetch, so the figures are the server's more than the client's.
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
function get(url: string, token: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    http.get(url, { agent, headers: { authorization: `Bearer ${token}` } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
    }).on('error', reject);
  });
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;
const LOOKUPS = Number(process.env.BENCH_LOOKUPS ?? 2000);

async function lookups(n: number) {
  // Fill the database first, then start the server on it, as after months of use.
  const dataDir = mkdtempSync(join(tmpdir(), 'chb-bench-'));
  const owner = uniqueName('lookup');
  const store = new Store(openDb(join(dataDir, 'codehub.db')));
  const logs = new LogStore(join(dataDir, 'logs'));
  const repoId = store.ensureRepo(owner, 'many').id;
  const shas: string[] = [];
  for (let done = 0; done < n; done += 10_000) {
    store.insertBuilds(Array.from({ length: 10_000 }, () => {
      const sha = randomBytes(20).toString('hex');
      shas.push(sha);
      return { repoId, repo: `${owner}/many`, owner, ref: 'refs/heads/main', refType: 'branch' as const, refName: 'main', commitSha: sha, image: 'many', status: 'succeeded' as const, pusher: owner };
    }), () => []);
  }
  const sample = Array.from({ length: 200 }, () => Math.floor(Math.random() * n) + 1);
  for (const id of sample) await logs.append(id, Array.from({ length: 40 }, (_, i) => `#${i} a log line of build ${id}`));
  store.db.$client.close();
  const server = await TestServer.start({ dataDir, env: { CODEHUB_LOG_LEVEL: 'warn' } });
  const token = server.addUser(owner);
  const find: number[] = [];
  const withLog: number[] = [];
  for (let i = -100; i < LOOKUPS; i++) { // the first 100 warm up
    const id = sample[Math.abs(i) % sample.length]!;
    const prefix = shas[id - 1]!.slice(0, 7);
    const t0 = performance.now();
    const found = await get(`${server.url}/api/builds?commit=${prefix}`, token);
    const t1 = performance.now();
    if (found.status !== 200 || (JSON.parse(found.text) as { builds: { id: number }[] }).builds[0]?.id !== id) throw new Error(`lookup of ${prefix} failed: ${found.status}`);
    const log = await get(`${server.url}/api/builds/${id}/log`, token);
    const t2 = performance.now();
    if (!log.text.includes(`a log line of build ${id}`)) throw new Error('wrong log');
    if (i >= 0) { find.push(t1 - t0); withLog.push(t2 - t0); }
  }
  await server.stop();
  return { find, withLog };
}

async function sseLatency() {
  const server = await TestServer.start({ env: { CODEHUB_LOG_LEVEL: 'warn' } });
  const owner = uniqueName('sse');
  const token = server.addUser(owner);
  const repo = await WorkRepo.create({ Dockerfile: `FROM localhost:5000/cache/busybox:latest\nRUN for i in $(seq 1 200); do echo ${owner}-$i; usleep 20000; done\n` });
  const sha = (await repo.git.revparse(['HEAD'])).trim();
  await repo.push(server.gitUrl(owner, token, owner, 'sse'), ['main']);
  const { body } = await server.api<{ builds: { id: number }[] }>(`/api/builds?commit=${sha}`, token);
  const res = await fetch(`${server.url}/api/builds/${body.builds[0]!.id}/log`, { headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' } });
  const received = new Map<number, number>();
  let buf = '';
  for await (const chunk of res.body!) {
    const now = Date.now();
    buf += Buffer.from(chunk as Uint8Array).toString('utf8');
    let i: number;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const id = /^id: (\d+)$/m.exec(block)?.[1];
      if (id && block.includes(`${owner}-`)) received.set(Number(id), now);
    }
  }
  const lines = await (await fetch(`${server.url}/api/builds/${body.builds[0]!.id}/log?timestamps=1`, { headers: { authorization: `Bearer ${token}` } })).text();
  const latency: number[] = [];
  lines.split('\n').forEach((l, idx) => {
    const got = received.get(idx + 1);
    if (got && l.includes(`${owner}-`)) latency.push(got - Date.parse(l.slice(0, 24)));
  });
  await server.stop();
  return latency;
}

const l = await lookups(100_000);
console.log(`lookup by 7-hex sha prefix, 100,000 builds, ${LOOKUPS} lookups over HTTP:`);
console.log(`  GET /api/builds?commit=     p50 ${pct(l.find, 0.5).toFixed(2)} ms  p99 ${pct(l.find, 0.99).toFixed(2)} ms`);
console.log(`  ... and then its log        p50 ${pct(l.withLog, 0.5).toFixed(2)} ms  p99 ${pct(l.withLog, 0.99).toFixed(2)} ms`);
const s = await sseLatency();
console.log(`SSE line latency (server read from BuildKit's client -> SSE client), ${s.length} lines: p50 ${pct(s, 0.5)} ms, p99 ${pct(s, 0.99)} ms`);
