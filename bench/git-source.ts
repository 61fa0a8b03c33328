/**
 * Issue 15 asked to measure BuildKit's own incremental paths before choosing one; this is the one not in the
 * benchmark proper: BuildKit's git source (`docker buildx build <git URL>#<sha>`) fetching the commit from
 * codehub-build's own git server, against the session (what codehub-build does) and the kept checkout, on the
 * large repo with one line changed per round. Standalone (`npx tsx bench/git-source.ts`), not part of
 * `npm run bench`: it puts a token in the git URL, which BuildKit shows in its step names and keeps on the
 * daemon's disk (docs/research/build-context.md), fine for a throwaway benchmark user, not for the server.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WorkRepo } from '../test/helpers/git.js';
import { removeOwnRegistries, TestServer, uniqueName } from '../test/helpers/server.js';
import { removeImages } from './lib/docker.js';
import { run } from './lib/proc.js';
import { Scratch } from './lib/scratch.js';
import { msSince, spread, stats } from './lib/stats.js';

const FILES = Number(process.env.BENCH_LARGE_FILES ?? 400);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const DOCKERFILE = 'FROM localhost:5000/cache/busybox:latest\nCOPY app/ /app/\nRUN cat /app/version.txt\n';

const tmp = new Scratch();
const owner = uniqueName('gitsrc');
let server: TestServer | undefined;
try {
  server = await TestServer.start({ dataDir: tmp.dir('chb-e2e-'), env: { CODEHUB_LOG_LEVEL: 'warn', CODEHUB_MAX_PUSH_BYTES: String(4 * 1024 ** 3) } });
  const token = server.addUser(owner);
  const repo = tmp.repo(await WorkRepo.create({ Dockerfile: DOCKERFILE, 'app/version.txt': 'version 0\n' }));
  mkdirSync(join(repo.dir, 'data'));
  for (let i = 0; i < FILES; i++) writeFileSync(join(repo.dir, 'data', `blob-${String(i).padStart(4, '0')}.bin`), randomBytes(1024 * 1024));
  await repo.git.add('data');
  await repo.commit({ 'app/version.txt': 'version 1\n' }, 'the large files');
  const url = server.gitUrl(owner, token, owner, 'large');
  const env = { ...process.env, DOCKER_CONFIG: tmp.add(await server.dockerConfig(owner, token)) };
  const image = `${server.registry}/${owner}/raw`;
  const ways: Record<string, (sha: string) => Promise<void>> = {
    'codehub-build `git push -o wait` (local, the session)': async (sha) => {
      const p = await repo.push(url, ['HEAD:main'], ['wait']);
      if (!/succeeded/.test(p.output)) throw new Error(`push of ${sha}:\n${p.output}`);
    },
    "`docker buildx build --push <git URL>#<sha>` (BuildKit's git source, from codehub-build's git server)": async (sha) => {
      const r = await run(['docker', 'buildx', 'build', '--push', '--provenance=false', '-t', `${image}:git`, `${url}#${sha}`], { env });
      if (r.code !== 0) throw new Error(`git source build of ${sha}:\n${r.out}`);
    },
    '`docker buildx build --push .` in a kept checkout': async () => {
      const r = await run(['docker', 'buildx', 'build', '--push', '--provenance=false', '-t', `${image}:dir`, '.'], { cwd: repo.dir, env });
      if (r.code !== 0) throw new Error(`buildx of the checkout:\n${r.out}`);
    },
  };
  // The git source fetches from the server: the commit must be pushed first (with -o skip: no build), for every way alike.
  const times = new Map<string, number[]>(Object.keys(ways).map((k) => [k, []]));
  for (let i = -1; i < RUNS; i++) {
    // A change of its own for every way, so none meets steps another way just built (they share the daemon's cache).
    for (const [name, build] of Object.entries(ways)) {
      const sha = await repo.commit({ 'app/version.txt': `version ${i + 2} ${randomBytes(4).toString('hex')}\n` }, `round ${i}`);
      if (!name.startsWith('codehub')) await repo.push(url, ['HEAD:main'], ['skip']);
      const t0 = process.hrtime.bigint();
      await build(sha);
      if (i >= 0) times.get(name)!.push(msSince(t0));
    }
    console.error(`round ${i + 1} of ${RUNS}`);
  }
  const base = stats(times.get('`docker buildx build --push .` in a kept checkout')!).median;
  console.log(`| ${FILES} x 1 MB repo, one line changed | ms (median, range) | vs kept checkout |\n| --- | --- | --- |`);
  for (const [name, t] of times) {
    console.log(`| ${name} | ${spread(stats(t))} | ${(stats(t).median / base).toFixed(2)} |`);
  }
} finally {
  await server?.stop();
  if (server) await removeImages([`${server.registry}/${owner}/`]);
  await removeOwnRegistries();
  tmp.remove();
}
