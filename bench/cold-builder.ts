/**
 * The cold-builder case of issue 15: a repo built on `local` moves to a builder that has never built it (the
 * second dockerd, `docker+tcp://…?tls=…`, made cold before every build: its build cache pruned, its images of
 * the repo removed), with the registry cache (CODEHUB_REGISTRY_CACHE=on, the default: the build imports the
 * inline cache of the repo's pushed image) and without (off). One data dir and one token registry for all:
 * the server is restarted with other builders and settings, as test/e2e/registry-cache.test.ts does.
 *
 * The Dockerfile is the usual shape of an application's: its dependencies first, in one RUN that takes real
 * time and leaves a real layer (DEPS_SECONDS of work, e.g. a package manager's download and install, writing
 * DEPS_MB of incompressible files), then the application's own files (`COPY app/`) and a short RUN. Each round
 * a commit changes README.md, which the image does not copy: every step may come from the cache. Each round the
 * repo is built on `local` first (untimed), so the timed build is always on a builder it has moved to.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { execa } from 'execa';
import { WorkRepo } from '../test/helpers/git.js';
import { removeOwnRegistries, stack, TestServer, uniqueName } from '../test/helpers/server.js';
import { buildOf, stepsCached, uncachedInstructions } from './lib/build-log.js';
import { removeImages } from './lib/docker.js';
import { Scratch } from './lib/scratch.js';
import { msSince, stats, type Stats } from './lib/stats.js';

const STACK_DIR = process.env.CODEHUB_STACK_DIR ?? '/var/lib/codehub-stack';
const BUILDER_PORT = Number(process.env.CODEHUB_STACK_BUILDER_PORT ?? 2376);
const REMOTE = `docker+tcp://127.0.0.1:${BUILDER_PORT}`;
const REMOTE_ENTRY = `${REMOTE}?tls=${join(STACK_DIR, 'builder', 'client')}`;
const BUILDER_SOCKET = `unix://${join(STACK_DIR, 'builder', 'docker.sock')}`;
export const DEPS_SECONDS = Number(process.env.BENCH_COLD_SECONDS ?? 5);
export const DEPS_MB = Number(process.env.BENCH_COLD_MB ?? 64);

/** The repo's Dockerfile; `marker` makes its steps the repo's own (no daemon has them from anything else). */
export const coldDockerfile = (marker: string) => `FROM localhost:5000/cache/busybox:latest
RUN echo "installing the dependencies of ${marker}" && sleep ${DEPS_SECONDS} && mkdir /deps && dd if=/dev/urandom of=/deps/lib.bin bs=1M count=${DEPS_MB} 2>/dev/null && sha256sum /deps/lib.bin > /deps/lib.sha256
COPY app/ /app/
RUN cat /app/version.txt > /built.txt
`;

export interface ColdRow {
  name: string;
  ms: Stats;
  /** Steps cached of steps, per build (`cache: X of Y steps cached` in its log). */
  cached: { cached: number; steps: number }[];
  /** Per build, the instructions not from the cache (`FROM`, `RUN`, …). */
  uncached: string[][];
}

export interface ColdResult {
  rows: ColdRow[];
  depsSeconds: number;
  depsMb: number;
}

/** `docker` against the second dockerd's admin socket. */
const onBuilder = (...args: string[]) => execa('docker', args, { env: { DOCKER_HOST: BUILDER_SOCKET }, reject: false, all: true });

/** The second dockerd cold for this owner's repos: its whole build cache pruned, their images removed. */
async function makeCold(registry: string, owner: string): Promise<void> {
  const pruned = await onBuilder('builder', 'prune', '-af');
  if (pruned.exitCode !== 0) throw new Error(`builder prune on the second dockerd failed:\n${pruned.all}`);
  const listed = await onBuilder('images', '--format', '{{.Repository}} {{.ID}}');
  const ids = [
    ...new Set(
      listed.stdout
        .split('\n')
        .filter((l) => l.startsWith(`${registry}/${owner}/`))
        .map((l) => l.split(' ')[1]!),
    ),
  ];
  if (ids.length) {
    const removed = await onBuilder('rmi', '-f', ...ids);
    if (removed.exitCode !== 0) throw new Error(`removing ${owner}'s images from the second dockerd failed:\n${removed.all}`);
  }
}

export async function coldBuilderBench(runs: number, log: (s: string) => void): Promise<ColdResult> {
  const tmp = new Scratch();
  let server: TestServer | null = null;
  let registry = '';
  const owner = uniqueName('cold');
  try {
    const up = await stack('builder', 'up');
    if (up.exitCode !== 0) throw new Error(`scripts/stack.sh builder up failed:\n${up.all}`);
    const base = { CODEHUB_LOG_LEVEL: 'warn', CODEHUB_HEALTH_INTERVAL_MS: '200' };
    server = await TestServer.start({ dataDir: tmp.dir('chb-e2e-'), env: { ...base, CODEHUB_BUILDERS: 'local' } });
    registry = server.registry;
    const token = server.addUser(owner);
    /** The server on the same data dir, port and registry, with other builders and settings; ready to build. */
    const restart = async (env: Record<string, string>) => {
      await server!.stop();
      server = await TestServer.start({ dataDir: server!.dataDir, port: server!.port, env: { ...base, CODEHUB_REGISTRY: registry, ...env } });
      const deadline = Date.now() + 30_000;
      for (;;) {
        const res = await fetch(`${server.url}/healthz`);
        const body = (await res.json()) as { checks?: { builders?: { ok: boolean }[] } };
        if (res.ok && body.checks?.builders?.every((b) => b.ok)) break;
        if (Date.now() > deadline) throw new Error(`the restarted server's builders are not healthy: ${JSON.stringify(body)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    const build = async (name: string, repo: WorkRepo, builder: string) => {
      const sha = (await repo.git.revparse(['HEAD'])).trim();
      const t0 = process.hrtime.bigint();
      const p = await repo.push(server!.gitUrl(owner, token, owner, name), ['HEAD:main'], ['wait']);
      const ms = msSince(t0);
      if (p.exitCode !== 0 || !/succeeded/.test(p.output)) throw new Error(`${name}: the push of ${sha} did not build:\n${p.output}`);
      const b = await buildOf(server!, token, sha);
      if (b.build.builder !== builder) throw new Error(`${name}: ${sha} was built on ${b.build.builder}, not ${builder}`);
      const cached = stepsCached(b.log);
      if (!cached) throw new Error(`${name}: the log of build ${b.build.id} has no "cache: X of Y steps cached" line:\n${b.log}`);
      return { ms, cached, uncached: uncachedInstructions(b.build) };
    };

    // Two repos, the same Dockerfile but for their marker, each first built on `local` with its setting.
    const modes = [
      { name: 'with the registry cache (CODEHUB_REGISTRY_CACHE=on, the default)', repo: 'cold-on', cache: 'on' },
      { name: 'without (CODEHUB_REGISTRY_CACHE=off)', repo: 'cold-off', cache: 'off' },
    ] as const;
    const repos = new Map<string, WorkRepo>();
    for (const m of modes) {
      const repo = tmp.repo(
        await WorkRepo.create({ Dockerfile: coldDockerfile(`${m.repo}-${owner}`), 'app/version.txt': `${m.repo}\n`, 'README.md': 'zero\n' }),
      );
      repos.set(m.repo, repo);
      await restart({ CODEHUB_BUILDERS: 'local', CODEHUB_REGISTRY_CACHE: m.cache });
      await build(m.repo, repo, 'local');
      log(`  cold builder: ${m.repo} built on local`);
    }

    const times = new Map<string, number[]>(modes.map((m) => [m.name, []]));
    const hits = new Map<string, { cached: number; steps: number }[]>(modes.map((m) => [m.name, []]));
    const misses = new Map<string, string[][]>(modes.map((m) => [m.name, []]));
    for (let i = -1; i < runs; i++) {
      for (const m of i % 2 ? modes : [...modes].reverse()) {
        const repo = repos.get(m.repo)!;
        // The repo's last build ran on `local` (untimed): the second dockerd is a builder it moves to, as when its
        // builder went away; the server imports the registry's cache only then (its own builder's cache is warm).
        if (i >= 0) {
          await restart({ CODEHUB_BUILDERS: 'local', CODEHUB_REGISTRY_CACHE: m.cache });
          await repo.commit({ 'README.md': `round ${i} on local ${randomBytes(3).toString('hex')}\n` }, 'a change the image does not copy');
          await build(m.repo, repo, 'local');
        }
        await restart({ CODEHUB_BUILDERS: REMOTE_ENTRY, CODEHUB_REGISTRY_CACHE: m.cache });
        await repo.commit({ 'README.md': `round ${i} ${randomBytes(3).toString('hex')}\n` }, 'a change the image does not copy');
        await makeCold(registry, owner);
        const r = await build(m.repo, repo, REMOTE);
        if (i >= 0) {
          times.get(m.name)!.push(r.ms);
          hits.get(m.name)!.push(r.cached);
          misses.get(m.name)!.push(r.uncached);
        }
      }
      log(`  cold builder: round ${i + 1} of ${runs}`);
    }
    return {
      rows: modes.map((m) => ({ name: m.name, ms: stats(times.get(m.name)!), cached: hits.get(m.name)!, uncached: misses.get(m.name)! })),
      depsSeconds: DEPS_SECONDS,
      depsMb: DEPS_MB,
    };
  } finally {
    await server?.stop();
    if (registry) {
      await makeCold(registry, owner).catch(() => {});
      await removeImages([`${registry}/${owner}/`]); // the first builds', on `local`
    }
    await removeOwnRegistries();
    tmp.remove();
  }
}
