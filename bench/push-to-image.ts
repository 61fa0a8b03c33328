/**
 * Push to pushed image, and lookup by commit, against the raw baseline in the same run.
 *
 *   npm run bench            (the stack must be up: bash scripts/stack.sh up)
 *
 * (a) raw:      git archive <sha> | docker-buildx build --push -   (same labels and tags as codehub-build sets)
 * (c) codehub:  git push to the server until the API reports the build succeeded (polled every 5 ms)
 * Cached: a new commit with the same tree (every layer cached; a new manifest is pushed for the new labels).
 * Miss:   a new commit whose RUN step changes, so it runs.
 */
import { execa } from 'execa';
import { randomBytes } from 'node:crypto';
import { findBuildx } from '../src/builder/buildx.js';
import { WorkRepo } from '../test/helpers/git.js';
import { REGISTRY, TestServer, uniqueName } from '../test/helpers/server.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const FROM = 'FROM localhost:5000/cache/busybox:latest';

const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;
function stats(xs: number[]) {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  return { median: q(0.5), p99: q(0.99), min: s[0]!, max: s[s.length - 1]! };
}
const fmt = (x: number) => x.toFixed(1).padStart(8);

async function rawBuild(repo: WorkRepo, sha: string, tags: string[]) {
  const [bin, ...pre] = findBuildx();
  const labels = ['org.opencontainers.image.revision=' + sha, 'org.opencontainers.image.source=x', 'org.opencontainers.image.created=' + new Date().toISOString(),
    'org.opencontainers.image.ref.name=main', 'dev.codehub.build.id=0'].flatMap((l) => ['--label', l]);
  const t0 = process.hrtime.bigint();
  const archive = execa('git', ['archive', '--format=tar', sha], { cwd: repo.dir, buffer: false });
  await archive.pipe(bin!, [...pre, 'build', '--progress=quiet', '--provenance=false', '-f', 'Dockerfile', ...labels, ...tags.flatMap((t) => ['-t', t]), '--push', '-']);
  return ms(t0);
}

async function codehubBuild(server: TestServer, repo: WorkRepo, url: string, token: string, sha: string) {
  const t0 = process.hrtime.bigint();
  const push = await repo.push(url, ['main']);
  if (push.exitCode !== 0) throw new Error(push.output);
  for (;;) {
    const { body } = await server.api<{ builds: { status: string; reason: string }[] }>(`/api/builds?commit=${sha}`, token);
    const b = body.builds[0];
    if (b && b.status === 'succeeded') return ms(t0);
    if (b && ['failed', 'canceled', 'skipped'].includes(b.status)) throw new Error(`build ${b.status}: ${b.reason}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function pushToImage(server: TestServer, owner: string, token: string) {
  const repo = await WorkRepo.create({ Dockerfile: `${FROM}\nRUN echo warm-${owner}\n` });
  const url = server.gitUrl(owner, token, owner, 'bench');
  const rawRepo = `${REGISTRY}/${owner}/bench-raw`;
  const rows: [string, number[], number[]][] = [];
  for (const mode of ['cached', 'miss'] as const) {
    const raw: number[] = [];
    const chb: number[] = [];
    for (let i = -1; i < RUNS; i++) { // i = -1 is the warm-up
      // Alternate which goes first, so neither always meets a warmer machine.
      for (const who of i % 2 === 0 ? ['raw', 'chb'] : ['chb', 'raw']) {
        // Each runner builds its own commit; on a miss its RUN line is new to BuildKit, so neither profits from the other.
        const change: Record<string, string> = mode === 'cached' ? {} : { Dockerfile: `${FROM}\nRUN echo run-${randomBytes(6).toString('hex')}\n` };
        const sha = await repo.commit(change, `${mode} ${who} ${i}`);
        const t = who === 'raw'
          ? await rawBuild(repo, sha, [`${rawRepo}:main`, `${rawRepo}:${sha}`])
          : await codehubBuild(server, repo, url, token, sha);
        if (i >= 0) (who === 'raw' ? raw : chb).push(t);
      }
    }
    rows.push([mode, raw, chb]);
  }
  return rows;
}

const server = await TestServer.start();
const owner = uniqueName('bench');
const token = server.addUser(owner);
const rows = await pushToImage(server, owner, token);
await server.stop();

console.log(`\npush to pushed image (ms; ${RUNS} runs after a warm-up; trivial image FROM busybox + one RUN)`);
console.log('case      |  raw buildx median (min-max)  | codehub-build median (min-max) | ratio c/a');
for (const [mode, raw, chb] of rows) {
  const a = stats(raw);
  const c = stats(chb);
  console.log(`${mode.padEnd(9)} | ${fmt(a.median)} (${a.min.toFixed(0)}-${a.max.toFixed(0)})`.padEnd(42) + `| ${fmt(c.median)} (${c.min.toFixed(0)}-${c.max.toFixed(0)})`.padEnd(33) + `| ${(c.median / a.median).toFixed(2)}`);
}
