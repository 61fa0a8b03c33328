/**
 * Push to pushed image, three ways, the same commit each time:
 *   (a) raw:   git archive <sha> | docker buildx build --push -       (run by hand, no push at all)
 *   (b) hook:  git push to a bare repo over HTTP whose post-receive hook runs (a) (PLAIN_HOOK below)
 *   (c) codehub-build: git push -o wait, which returns when the image is pushed
 * All three push the same three tags (branch, sha, latest) with the same labels, to their own repository.
 * Cached: each round is a new commit with the same tree, so every step is cached and a new manifest (new
 * labels) is pushed. No cache: the same, with --no-cache (git push -o no-cache for b and c).
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WorkRepo } from '../test/helpers/git.js';
import type { TestServer } from '../test/helpers/server.js';
import { initBare, startPlainGitServer } from './lib/plain-git.js';
import { run } from './lib/proc.js';
import { Scratch } from './lib/scratch.js';
import { msSince, stats, type Stats } from './lib/stats.js';

/** The hook a user would write instead of codehub-build; $1.. are unused, git gives the updates on stdin. */
export const PLAIN_HOOK = `#!/bin/sh
# post-receive: build and push every pushed branch, tagged by branch, sha and latest.
REPO=$(cat "$GIT_DIR/image-repo")
nc=; [ "\${GIT_PUSH_OPTION_0:-}" = no-cache ] && nc=--no-cache
while read old new ref; do
  branch=\${ref#refs/heads/}
  git archive --format=tar "$new" | docker buildx build --push $nc \\
    --label org.opencontainers.image.revision="$new" --label org.opencontainers.image.source=plain \\
    --label org.opencontainers.image.created="$(date -u +%Y-%m-%dT%H:%M:%SZ)" \\
    --label org.opencontainers.image.ref.name="$branch" --label dev.codehub.build.id=0 \\
    -t "$REPO:$branch" -t "$REPO:$new" -t "$REPO:latest" -
done
`;

export const RAW_COMMAND =
  'git archive --format=tar <sha> | docker buildx build --push [--no-cache] --label ... (5 labels) -t <repo>:main -t <repo>:<sha> -t <repo>:latest -';

export interface PushToImageRow {
  mode: 'cached' | 'no-cache';
  raw: Stats;
  hook: Stats;
  codehub: Stats;
}

function labels(sha: string): string[] {
  return [
    'org.opencontainers.image.revision=' + sha,
    'org.opencontainers.image.source=raw',
    'org.opencontainers.image.created=' + new Date().toISOString(),
    'org.opencontainers.image.ref.name=main',
    'dev.codehub.build.id=0',
  ].flatMap((l) => ['--label', l]);
}

async function rawBuild(repo: WorkRepo, sha: string, image: string, noCache: boolean, env: NodeJS.ProcessEnv): Promise<number> {
  const t0 = process.hrtime.bigint();
  const r = await run(
    [
      'docker',
      'buildx',
      'build',
      '--push',
      ...(noCache ? ['--no-cache'] : []),
      ...labels(sha),
      '-t',
      `${image}:main`,
      '-t',
      `${image}:${sha}`,
      '-t',
      `${image}:latest`,
      '-',
    ],
    { cwd: repo.dir, env, stdinFrom: ['git', 'archive', '--format=tar', sha] },
  );
  const t = msSince(t0);
  if (r.code !== 0) throw new Error(`raw build failed:\n${r.out}`);
  return t;
}

async function gitPush(repo: WorkRepo, url: string, options: string[]): Promise<{ ms: number; out: string }> {
  const t0 = process.hrtime.bigint();
  const r = await run(['git', 'push', ...options.flatMap((o) => ['-o', o]), url, 'HEAD:main'], {
    cwd: repo.dir,
    env: { ...process.env, GIT_TERMINAL_PROMPT: '0' },
  });
  const ms = msSince(t0);
  if (r.code !== 0) throw new Error(`git push to ${url.replace(/:[^@/]*@/, ':***@')} failed:\n${r.out}`);
  return { ms, out: r.out };
}

export async function pushToImage(server: TestServer, owner: string, token: string, runs: number, log: (s: string) => void): Promise<PushToImageRow[]> {
  const tmp = new Scratch();
  try {
    return await pushToImageIn(tmp, server, owner, token, runs, log);
  } finally {
    tmp.remove();
  }
}

async function pushToImageIn(
  tmp: Scratch,
  server: TestServer,
  owner: string,
  token: string,
  runs: number,
  log: (s: string) => void,
): Promise<PushToImageRow[]> {
  const registry = server.registryClient();
  // The raw baseline and the plain hook push as the user does after `docker login` (the registry takes tokens).
  const dockerEnv = { ...process.env, DOCKER_CONFIG: tmp.add(await server.dockerConfig(owner, token)) };
  const repo = tmp.repo(await WorkRepo.create({ Dockerfile: `FROM localhost:5000/cache/busybox:latest\nRUN echo bench-${randomBytes(4).toString('hex')}\n` }));
  const plainRoot = tmp.dir('chb-plain-');
  const bare = initBare(plainRoot, 'img', PLAIN_HOOK);
  writeFileSync(join(bare, 'image-repo'), `${server.registry}/${owner}/img-hook`);
  const plain = await startPlainGitServer(plainRoot, dockerEnv);
  const codehubUrl = server.gitUrl(owner, token, owner, 'img');
  const rows: PushToImageRow[] = [];
  try {
    for (const mode of ['cached', 'no-cache'] as const) {
      const noCache = mode === 'no-cache';
      const times = { raw: [] as number[], hook: [] as number[], codehub: [] as number[] };
      for (let i = -1; i < runs; i++) {
        // round -1 warms every path up
        const sha = await repo.commit({}, `${mode} round ${i}`);
        // Rotate who goes first, so no way always meets a machine the previous one just warmed or loaded.
        const order = (['raw', 'hook', 'codehub'] as const).map((_, k, all) => all[(k + i + 1) % 3]!);
        for (const who of order) {
          let t: number;
          if (who === 'raw') t = await rawBuild(repo, sha, `${server.registry}/${owner}/img-raw`, noCache, dockerEnv);
          else if (who === 'hook') t = (await gitPush(repo, `${plain.url}/img.git`, noCache ? ['no-cache'] : [])).ms;
          else {
            const p = await gitPush(repo, codehubUrl, ['wait', ...(noCache ? ['no-cache'] : [])]);
            if (!/build #\d+ img succeeded/.test(p.out)) throw new Error(`codehub-build did not report success:\n${p.out}`);
            t = p.ms;
          }
          // Untimed: each way really pushed this commit's image.
          const image = { raw: 'img-raw', hook: 'img-hook', codehub: 'img' }[who];
          if (!(await registry.digest(`${owner}/${image}`, sha))) throw new Error(`${who}: ${owner}/${image}:${sha} is not in the registry`);
          if (i >= 0) times[who].push(t);
        }
        log(`  push to image, ${mode}, round ${i + 1}/${runs}`);
      }
      rows.push({ mode, raw: stats(times.raw), hook: stats(times.hook), codehub: stats(times.codehub) });
    }
  } finally {
    await plain.close();
  }
  return rows;
}
