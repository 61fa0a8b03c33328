/**
 * Push to recorded: `git push` (no -o wait) to codehub-build, which returns once the build is committed to
 * SQLite, against a plain `git push` of the same commit to a bare repo (no hook) behind `git http-backend`.
 * Each round is a new commit changing one file; between rounds the build runs to its end, untimed, and
 * 300 ms pass, so it never overlaps the next push.
 */
import { WorkRepo } from '../test/helpers/git.js';
import type { TestServer } from '../test/helpers/server.js';
import { initBare, startPlainGitServer } from './lib/plain-git.js';
import { run } from './lib/proc.js';
import { Scratch } from './lib/scratch.js';
import { msSince, stats, type Stats } from './lib/stats.js';

async function push(repo: WorkRepo, url: string): Promise<{ ms: number; out: string }> {
  const t0 = process.hrtime.bigint();
  const r = await run(['git', 'push', url, 'HEAD:main'], { cwd: repo.dir, env: { ...process.env, GIT_TERMINAL_PROMPT: '0' } });
  const ms = msSince(t0);
  if (r.code !== 0) throw new Error(`git push failed:\n${r.out}`);
  return { ms, out: r.out };
}

export async function pushToRecorded(server: TestServer, owner: string, token: string, runs: number): Promise<{ plain: Stats; codehub: Stats }> {
  const tmp = new Scratch();
  const times = { plain: [] as number[], codehub: [] as number[] };
  let plain: Awaited<ReturnType<typeof startPlainGitServer>> | null = null;
  try {
    const repo = tmp.repo(await WorkRepo.create({ Dockerfile: 'FROM localhost:5000/cache/busybox:latest\nCOPY n.txt /n.txt\n', 'n.txt': '0\n' }));
    const root = tmp.dir('chb-plain-');
    initBare(root, 'rec');
    plain = await startPlainGitServer(root);
    const url = server.gitUrl(owner, token, owner, 'rec');
    for (let i = -2; i < runs; i++) {
      const sha = await repo.commit({ 'n.txt': `${i}\n` }, `round ${i}`);
      for (const who of i % 2 ? (['plain', 'codehub'] as const) : (['codehub', 'plain'] as const)) {
        const p = await push(repo, who === 'plain' ? `${plain.url}/rec.git` : url);
        if (who === 'codehub' && !p.out.includes('queued')) throw new Error(`codehub-build queued nothing:\n${p.out}`);
        if (i >= 0) times[who].push(p.ms);
      }
      const [b] = await server.waitForBuilds(sha, token);
      if (b.status !== 'succeeded') throw new Error(`build of ${sha} ${b.status}: ${b.reason}`);
      // Let what follows a build (its git note, the daemon's own work) settle, so neither way meets it.
      await new Promise((r) => setTimeout(r, 300));
    }
  } finally {
    await plain?.close();
    tmp.remove();
  }
  return { plain: stats(times.plain), codehub: stats(times.codehub) };
}
