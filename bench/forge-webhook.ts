/**
 * A push on a forge to a recorded build here, and the build's end to its commit status on the forge (issue 17).
 *
 * The forge is test/helpers/fake-forge.ts: `git http-backend` serving the upstream repo plus an endpoint
 * recording status calls, on loopback. Each round pushes a new commit (one file changed) to the upstream,
 * untimed, then times, in rotating order:
 *   (a) `git fetch` of that branch from the upstream into a bare repo: the raw work a webhook must do;
 *   (b) the signed Gitea push delivery to codehub-build until it answers `queued` (verify, replay check,
 *       fetch, config read, builds committed to SQLite).
 * The build then runs to its end; the status figures are the fake forge's receipt times: `pending` after the
 * delivery was sent, `success` after the build's `finished_at`.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { FakeForge } from '../test/helpers/fake-forge.js';
import { WorkRepo } from '../test/helpers/git.js';
import type { TestServer } from '../test/helpers/server.js';
import { run } from './lib/proc.js';
import { Scratch } from './lib/scratch.js';
import { msSince, stats, type Stats } from './lib/stats.js';

export interface ForgeWebhookResult {
  rawFetch: Stats;
  webhook: Stats;
  /** From sending the delivery to the forge receiving `pending`. */
  pending: Stats;
  /** From the build's finished_at to the forge receiving `success`. */
  success: Stats;
}

export async function forgeWebhookBench(
  server: TestServer,
  owner: string,
  token: string,
  runs: number,
  progress: (s: string) => void,
): Promise<ForgeWebhookResult> {
  progress('forge webhook to recorded, and statuses back');
  const tmp = new Scratch();
  const fake = await FakeForge.start();
  const times = { rawFetch: [] as number[], webhook: [] as number[], pending: [] as number[], success: [] as number[] };
  try {
    const up = await fake.createRepo('team', 'hooked');
    const secret = randomUUID();
    const link = await fetch(`${server.url}/api/repos/${owner}/hooked/upstream`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ url: up.url, forge: 'gitea', webhook_secret: secret, status_token: 'bench-token' }),
    });
    if (link.status !== 201) throw new Error(`linking failed: ${link.status} ${await link.text()}`);
    const hookUrl = ((await link.json()) as { hook_url: string }).hook_url;
    const raw = tmp.dir('chb-forge-raw-');
    execFileSync('git', ['init', '--quiet', '--bare', raw]);
    const work = tmp.repo(await WorkRepo.create({ Dockerfile: 'FROM localhost:5000/cache/busybox:latest\nCOPY n.txt /n.txt\n', 'n.txt': '0\n' }));

    for (let i = -2; i < runs; i++) {
      const sha = await work.commit({ 'n.txt': `${i}\n` }, `round ${i}`);
      await fake.pushFrom(work, 'team', 'hooked', ['HEAD:refs/heads/main']);
      for (const way of i % 2 ? (['raw', 'hook'] as const) : (['hook', 'raw'] as const)) {
        const t0 = process.hrtime.bigint();
        if (way === 'raw') {
          const r = await run(['git', '--git-dir', raw, 'fetch', '--quiet', '--no-tags', up.url, '+refs/heads/main:refs/heads/main']);
          if (r.code !== 0) throw new Error(`git fetch failed: ${r.out}`);
          if (i >= 0) times.rawFetch.push(msSince(t0));
          continue;
        }
        const d = fake.deliveryFor('gitea', { owner: 'team', name: 'hooked', secret, after: sha });
        const sentAt = Date.now();
        const res = await fetch(hookUrl, { method: 'POST', headers: d.headers, body: d.body });
        const answer = (await res.json()) as { result?: string };
        const ms = msSince(t0);
        if (res.status !== 200 || answer.result !== 'queued') throw new Error(`the delivery was not queued: ${res.status} ${JSON.stringify(answer)}`);
        const [b] = await server.waitForBuilds(sha, token);
        if (b.status !== 'succeeded') throw new Error(`build of ${sha} ${b.status}: ${b.reason}`);
        const got = await waitForStatus(fake, sha, 'success');
        if (i >= 0) {
          times.webhook.push(ms);
          times.pending.push(fake.statusesFor(sha).find((s) => s.body.state === 'pending')!.at - sentAt);
          times.success.push(got.at - Date.parse(b.finished_at));
        }
      }
      await new Promise((r) => setTimeout(r, 300));
    }
  } finally {
    await fake.close();
    tmp.remove();
  }
  return { rawFetch: stats(times.rawFetch), webhook: stats(times.webhook), pending: stats(times.pending), success: stats(times.success) };
}

async function waitForStatus(fake: FakeForge, sha: string, state: string) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const s = fake.statusesFor(sha).find((x) => x.body.state === state);
    if (s) return s;
    if (Date.now() > deadline) throw new Error(`no ${state} status for ${sha} on the fake forge`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
