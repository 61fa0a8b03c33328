/**
 * The web pages against the API answers a client would fetch to show the same, in one database of N
 * finished builds (the lookup bench's fill), from a keep-alive client: each page and its raw counterpart
 * alternate, so both see the same machine. A page signs in with the cookie, the API with the bearer token.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { LogStore } from '../src/logs/store.js';
import { removeOwnRegistries, TestServer } from '../test/helpers/server.js';
import { keepAliveClient } from './lib/http.js';
import { stats, type Stats } from './lib/stats.js';
import { fill } from './lookup.js';
import { LOG_TAIL_LINES } from '../src/http/web/routes.js';

export interface WebRow {
  page: string;
  raw: string;
  pageMs: Stats;
  rawMs: Stats;
  pageKb: number;
  rawKb: number;
}

export interface WebResult {
  builds: number;
  rows: WebRow[];
}

export async function webPages(n: number, count: number): Promise<WebResult> {
  const base = `wb${n}o`;
  const { dataDir, token, mine } = await fill(n, base);
  try {
    return await pages(n, base, dataDir, token, mine, count);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function pages(
  n: number,
  base: string,
  dataDir: string,
  token: string,
  mine: { id: number; sha: string; repo: string }[],
  count: number,
): Promise<WebResult> {
  const small = mine[mine.length - 1]!;
  const big = mine[mine.length - 2]!;
  const logs = new LogStore(join(dataDir, 'logs'));
  await logs.append(
    small.id,
    Array.from({ length: 40 }, (_, i) => `#${i} \u001b[32mok\u001b[0m a log line of build ${small.id}`),
  );
  // A long build log: 10,000 lines of typical compiler output, some coloured.
  await logs.append(
    big.id,
    Array.from(
      { length: 10_000 },
      (_, i) => `#7 ${(i / 100).toFixed(2)} ${i % 10 === 0 ? '\u001b[33mwarning\u001b[0m: ' : ''}compiling src/module_${i}.c -o build/module_${i}.o`,
    ),
  );
  const server = await TestServer.start({ dataDir, env: { CODEHUB_LOG_LEVEL: 'warn' } });
  const get = keepAliveClient();
  const page = { cookie: `codehub_token=${token}` };
  const api = { authorization: `Bearer ${token}` };
  const u = (p: string) => server.url + p;
  const pairs: { page: string; raw: string; getPage: () => Promise<string>; getRaw: () => Promise<string> }[] = [];
  const one = async (path: string, headers: Record<string, string>, must: string) => {
    const r = await get(u(path), headers);
    if (r.status !== 200 || !r.text.includes(must)) throw new Error(`GET ${path}: ${r.status} ${r.text.slice(0, 200)}`);
    return r.text;
  };
  const both = async (a: string, b: string, must: string) => (await one(a, api, must)) + (await one(b, api, ''));
  for (const b of [small, big]) {
    const lines = b === small ? 40 : 10_000;
    const lastLine = b === small ? `#39 <span class="fg2">ok</span> a log line` : 'module_9999';
    pairs.push({
      page: `build page, ${lines.toLocaleString('en')}-line log${lines > LOG_TAIL_LINES ? ` (shows the last ${LOG_TAIL_LINES.toLocaleString('en')})` : ''}`,
      raw: '`/api/builds/:id` + `/api/builds/:id/log`',
      getPage: () => one(`/builds/${b.id}`, page, lastLine),
      getRaw: () => both(`/api/builds/${b.id}`, `/api/builds/${b.id}/log`, b.sha),
    });
  }
  pairs.push({
    page: 'build page, 10,000-line log, whole (`?full=1`)',
    raw: '`/api/builds/:id` + `/api/builds/:id/log`',
    getPage: () => one(`/builds/${big.id}?full=1`, page, 'module_0.c'),
    getRaw: () => both(`/api/builds/${big.id}`, `/api/builds/${big.id}/log`, big.sha),
  });
  pairs.push({
    page: 'commit page, 7-hex prefix',
    raw: '`/api/repos/:o/:r/commits/:prefix/builds`',
    getPage: () => one(`/repos/${small.repo}/commits/${small.sha.slice(0, 7)}`, page, small.sha),
    getRaw: () => one(`/api/repos/${small.repo}/commits/${small.sha.slice(0, 7)}/builds`, api, small.sha),
  });
  pairs.push({
    page: 'repo page, newest 50',
    raw: '`/api/builds?repo=&limit=50`',
    getPage: () => one(`/repos/${small.repo}`, page, 'Older builds'),
    getRaw: () => one(`/api/builds?repo=${small.repo}&limit=50`, api, small.repo),
  });
  pairs.push({
    page: 'repositories page (10 repos, newest per branch)',
    raw: '`/api/builds?limit=50`',
    getPage: () => one('/', page, `${base}0/r9`),
    getRaw: () => one('/api/builds?limit=50', api, `${base}0/`),
  });
  pairs.push({
    page: 'badge of main',
    raw: '`/api/builds?repo=&ref=main&limit=1`',
    getPage: () => one(`/badge/${small.repo}/main.svg`, page, 'build: passing'),
    getRaw: () => one(`/api/builds?repo=${small.repo}&ref=main&limit=1`, api, small.repo),
  });
  try {
    const rows: WebRow[] = [];
    for (const p of pairs) {
      const pageMs: number[] = [];
      const rawMs: number[] = [];
      let pageKb = 0;
      let rawKb = 0;
      for (let i = -20; i < count; i++) {
        // the first 20 warm up
        const t0 = performance.now();
        const html = await p.getPage();
        const t1 = performance.now();
        const raw = await p.getRaw();
        const t2 = performance.now();
        if (i >= 0) {
          pageMs.push(t1 - t0);
          rawMs.push(t2 - t1);
        }
        pageKb = Buffer.byteLength(html) / 1024;
        rawKb = Buffer.byteLength(raw) / 1024;
      }
      rows.push({ page: p.page, raw: p.raw, pageMs: stats(pageMs), rawMs: stats(rawMs), pageKb, rawKb });
    }
    return { builds: n, rows };
  } finally {
    await server.stop();
    await removeOwnRegistries();
  }
}
