/**
 * The large-repo case of issue 15: a repo of BENCH_LARGE_FILES (400) random 1 MB files beside a small `app/`,
 * a Dockerfile that copies only `app/`; each round changes one line of `app/version.txt`. Side by side, in one
 * run: codehub-build's `git push -o wait` through each driver that runs here, `docker buildx build --push .` in
 * a checkout kept between builds (what a developer with a daemon does), and `git archive | docker buildx
 * build --push -` (a tar context, what codehub-build sends today).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WorkRepo } from '../test/helpers/git.js';
import { TestServer, uniqueName } from '../test/helpers/server.js';
import { run } from './lib/proc.js';
import { msSince, stats, type Stats } from './lib/stats.js';

export interface LargeRepoResult {
  files: number;
  rows: { name: string; ms: Stats }[];
}

const FILES = Number(process.env.BENCH_LARGE_FILES ?? 400);
const DOCKERFILE = 'FROM localhost:5000/cache/busybox:latest\nCOPY app/ /app/\nRUN cat /app/version.txt\n';

export async function largeRepoBench(runs: number, log: (s: string) => void): Promise<LargeRepoResult> {
  const env = { CODEHUB_LOG_LEVEL: 'warn', CODEHUB_MAX_PUSH_BYTES: String(4 * 1024 ** 3) };
  const server = await TestServer.start({ env: { ...env, CODEHUB_CONTEXT_TRANSFER: 'tar' } });
  const sessions = await TestServer.start({ env: { ...env, CODEHUB_CONTEXT_TRANSFER: 'session' } });
  try {
    const owner = uniqueName('large');
    const token = server.addUser(owner);
    log(`large repo: writing ${FILES} files of 1 MB`);
    const repo = await WorkRepo.create({ Dockerfile: DOCKERFILE, 'app/version.txt': 'version 0\n' });
    mkdirSync(join(repo.dir, 'data'));
    for (let i = 0; i < FILES; i++) writeFileSync(join(repo.dir, 'data', `blob-${String(i).padStart(4, '0')}.bin`), randomBytes(1024 * 1024));
    await repo.git.add('data');
    await repo.commit({ 'app/version.txt': 'version 1\n' }, 'the large files');
    const url = server.gitUrl(owner, token, owner, 'large');
    const first = await repo.push(url, ['HEAD:main'], ['wait']);
    if (first.exitCode !== 0) throw new Error(`the first push of the large repo failed:\n${first.output}`);
    const sessionToken = sessions.addUser(owner);
    const sessionUrl = sessions.gitUrl(owner, sessionToken, owner, 'large');
    const firstSession = await repo.push(sessionUrl, ['HEAD:main'], ['wait']);
    if (firstSession.exitCode !== 0) throw new Error(`the first push to the session server failed:\n${firstSession.output}`);
    const env = { ...process.env, DOCKER_CONFIG: await server.dockerConfig(owner, token) };
    const image = `${server.registry}/${owner}/raw`;
    const ways = {
      'codehub-build `git push -o wait` (local dockerd, Engine API, the archive as the body)': async (sha: string) => {
        const p = await repo.push(url, ['HEAD:main'], ['wait']);
        if (p.exitCode !== 0 || !/succeeded/.test(p.output)) throw new Error(`push of ${sha} did not build:\n${p.output}`);
      },
      'codehub-build `git push -o wait` (local dockerd, Engine API, CODEHUB_CONTEXT_TRANSFER=session)': async (sha: string) => {
        const p = await repo.push(sessionUrl, ['HEAD:main'], ['wait']);
        if (p.exitCode !== 0 || !/succeeded/.test(p.output)) throw new Error(`push of ${sha} did not build:\n${p.output}`);
      },
      '`docker buildx build --push .` in a kept checkout': async (sha: string) => {
        const r = await run(['docker', 'buildx', 'build', '--push', '--provenance=false', '-t', `${image}:main`, '-t', `${image}:${sha}`, '.'], { cwd: repo.dir, env });
        if (r.code !== 0) throw new Error(`buildx of the checkout failed:\n${r.out}`);
      },
      '`git archive | docker buildx build --push -` (a tar context)': async (sha: string) => {
        const r = await run(['docker', 'buildx', 'build', '--push', '--provenance=false', '-t', `${image}:main`, '-t', `${image}:${sha}`, '-'], { cwd: repo.dir, env, stdinFrom: ['git', 'archive', '--format=tar', sha] });
        if (r.code !== 0) throw new Error(`buildx of the tar failed:\n${r.out}`);
      },
    };
    const times = new Map<string, number[]>(Object.keys(ways).map((k) => [k, []]));
    for (let i = -1; i < runs; i++) {
      // One changed line per round, built every way (in turn first), so each way meets the same change.
      const names = Object.keys(ways);
      const order = i < 0 ? names : [...names.slice(i % names.length), ...names.slice(0, i % names.length)];
      for (const name of order) {
        const sha = await repo.commit({ 'app/version.txt': `version ${i} ${name.length} ${randomBytes(3).toString('hex')}\n` }, `round ${i}`);
        const t0 = process.hrtime.bigint();
        await ways[name as keyof typeof ways](sha);
        if (i >= 0) times.get(name)!.push(msSince(t0));
      }
      log(`  large repo: round ${i + 1} of ${runs}`);
    }
    return { files: FILES, rows: [...times].map(([name, ms]) => ({ name, ms: stats(ms) })) };
  } finally {
    await server.stop();
    await sessions.stop();
  }
}
