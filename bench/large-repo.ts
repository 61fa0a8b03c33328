/**
 * The large-repo case of issue 15: a repo of BENCH_LARGE_FILES (400) random 1 MB files beside a small `app/`,
 * a Dockerfile that copies only `app/`; each round changes one line of `app/version.txt`. Side by side, in one
 * run: codehub-build's `git push -o wait` through each driver that runs here, each its own server (its own data
 * dir and token registry; they share nothing else): `local` (dockerd's Engine API, the context through the
 * session, the default), the second dockerd over TCP with TLS (`docker+tcp://…?tls=…`, Engine API, session),
 * buildx's `default` builder (the buildx driver), and `local` with CODEHUB_CONTEXT_TRANSFER=tar (the archive as
 * the request's body); beside them `docker buildx build --push .` in a checkout kept between builds (what a
 * developer with a daemon does) and `git archive | docker buildx build --push -` (a tar context).
 *
 * Bytes of context sent per build: codehub-build's Engine API drivers log `context: N files, B bytes sent`;
 * buildx's plain progress (the raw kept checkout, and the buildx driver's log if it carries it) says
 * `transferring context: 1.23kB`; a tar context is the whole archive, whose size the benchmark measures.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WorkRepo } from '../test/helpers/git.js';
import { removeOwnRegistries, stack, TestServer, uniqueName } from '../test/helpers/server.js';
import { buildOf, contextBytes } from './lib/build-log.js';
import { removeImages } from './lib/docker.js';
import { run } from './lib/proc.js';
import { Scratch } from './lib/scratch.js';
import { msSince, pct, stats, type Stats } from './lib/stats.js';

export interface LargeRepoRow {
  name: string;
  ms: Stats;
  /** Median bytes of context sent per build; null when nothing says. */
  bytes: number | null;
  /** Where `bytes` comes from: the build's log (or buildx's output), or the archive's size (a tar context). */
  bytesFrom: 'log' | 'archive' | null;
  /** A codehub-build row (its bytes from its build logs), not a raw one. */
  codehub: boolean;
  /** The daemon that built it: the main dockerd, or the second one (over TCP + TLS). */
  daemon: 'main' | 'second';
}

export interface LargeRepoResult {
  files: number;
  /** `git archive --format=tar HEAD | wc -c` of the last commit: what a tar context sends. */
  archiveBytes: number;
  rows: LargeRepoRow[];
}

const FILES = Number(process.env.BENCH_LARGE_FILES ?? 400);
const DOCKERFILE = 'FROM localhost:5000/cache/busybox:latest\nCOPY app/ /app/\nRUN cat /app/version.txt\n';
const STACK_DIR = process.env.CODEHUB_STACK_DIR ?? '/var/lib/codehub-stack';
const BUILDER_PORT = Number(process.env.CODEHUB_STACK_BUILDER_PORT ?? 2376);
const REMOTE = `docker+tcp://127.0.0.1:${BUILDER_PORT}`;
const REMOTE_ENTRY = `${REMOTE}?tls=${join(STACK_DIR, 'builder', 'client')}`;
const BUILDER_SOCKET = `unix://${join(STACK_DIR, 'builder', 'docker.sock')}`;

/** Bytes of `git archive --format=tar <rev>`, counted as it streams. */
function archiveSize(dir: string, rev: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const p = spawn('git', ['archive', '--format=tar', rev], { cwd: dir, stdio: ['ignore', 'pipe', 'inherit'] });
    let n = 0;
    p.stdout.on('data', (d: Buffer) => {
      n += d.length;
    });
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve(n) : reject(new Error(`git archive exited ${code}`))));
  });
}

interface Way {
  name: string;
  codehub: boolean;
  daemon: 'main' | 'second';
  /** A tar context: the whole archive goes, whatever the log says. */
  tar: boolean;
  /** Builds and pushes `sha` (timed); returns what reads its bytes of context afterwards (untimed). */
  build(sha: string): Promise<() => Promise<number | null>>;
}

export async function largeRepoBench(runs: number, log: (s: string) => void): Promise<LargeRepoResult> {
  const tmp = new Scratch();
  const servers: TestServer[] = [];
  const owner = uniqueName('large');
  try {
    const up = await stack('builder', 'up');
    if (up.exitCode !== 0) throw new Error(`scripts/stack.sh builder up failed:\n${up.all}`);
    const env = { CODEHUB_LOG_LEVEL: 'warn', CODEHUB_MAX_PUSH_BYTES: String(4 * 1024 ** 3) };
    const start = async (extra: Record<string, string>) => {
      const s = await TestServer.start({ dataDir: tmp.dir('chb-e2e-'), env: { ...env, ...extra } });
      servers.push(s);
      return s;
    };
    log(`large repo: writing ${FILES} files of 1 MB`);
    const repo = tmp.repo(await WorkRepo.create({ Dockerfile: DOCKERFILE, 'app/version.txt': 'version 0\n' }));
    mkdirSync(join(repo.dir, 'data'));
    for (let i = 0; i < FILES; i++) writeFileSync(join(repo.dir, 'data', `blob-${String(i).padStart(4, '0')}.bin`), randomBytes(1024 * 1024));
    await repo.git.add('data');
    await repo.commit({ 'app/version.txt': 'version 1\n' }, 'the large files');

    /** A way through codehub-build: its own server with these settings, seeded with a first push (and build). */
    const codehubWay = async (name: string, builder: string, settings: Record<string, string>): Promise<Way> => {
      const server = await start(settings);
      const token = server.addUser(owner);
      const url = server.gitUrl(owner, token, owner, 'large');
      const first = await repo.push(url, ['HEAD:main'], ['wait']);
      if (first.exitCode !== 0 || !/succeeded/.test(first.output)) throw new Error(`${name}: the first push of the large repo did not build:\n${first.output}`);
      log(`  large repo: ${name} seeded`);
      return {
        name,
        codehub: true,
        tar: settings.CODEHUB_CONTEXT_TRANSFER === 'tar',
        daemon: builder === REMOTE ? 'second' : 'main',
        build: async (sha) => {
          const p = await repo.push(url, ['HEAD:main'], ['wait']);
          if (p.exitCode !== 0 || !/succeeded/.test(p.output)) throw new Error(`${name}: push of ${sha} did not build:\n${p.output}`);
          return async () => {
            const b = await buildOf(server, token, sha);
            if (b.build.builder !== builder) throw new Error(`${name}: ${sha} was built on ${b.build.builder}, not ${builder}`);
            return contextBytes(b.log);
          };
        },
      };
    };
    const ways: Way[] = [
      await codehubWay('codehub-build `git push -o wait`: `local` (dockerd, Engine API, the context through the session: the default)', 'local', {
        CODEHUB_BUILDERS: 'local',
      }),
      await codehubWay('codehub-build `git push -o wait`: the second dockerd over TCP + TLS (`docker+tcp://`, Engine API, session)', REMOTE, {
        CODEHUB_BUILDERS: REMOTE_ENTRY,
      }),
      await codehubWay("codehub-build `git push -o wait`: buildx's `default` builder (`CODEHUB_BUILDERS=default`, the buildx driver)", 'default', {
        CODEHUB_BUILDERS: 'default',
      }),
      await codehubWay('codehub-build `git push -o wait`: `local`, CODEHUB_CONTEXT_TRANSFER=tar (Engine API, the archive as the body)', 'local', {
        CODEHUB_BUILDERS: 'local',
        CODEHUB_CONTEXT_TRANSFER: 'tar',
      }),
    ];
    // The raw ways push to the first server's registry, logged in as the user.
    const first = servers[0]!;
    const rawToken = first.addUser(`${owner}r`);
    const rawEnv = { ...process.env, DOCKER_CONFIG: tmp.add(await first.dockerConfig(`${owner}r`, rawToken)) };
    const image = `${first.registry}/${owner}r/raw`;
    // The second dockerd as a developer reaches it: the docker CLI over TCP with TLS (buildx's docker driver there).
    const secondEnv = {
      ...rawEnv,
      DOCKER_HOST: `tcp://127.0.0.1:${BUILDER_PORT}`,
      DOCKER_TLS_VERIFY: '1',
      DOCKER_CERT_PATH: join(STACK_DIR, 'builder', 'client'),
    };
    const raw = (name: string, tar: boolean, daemon: Way['daemon'] = 'main'): Way => ({
      name,
      codehub: false,
      tar,
      daemon,
      build: async (sha) => {
        const r = await run(['docker', 'buildx', 'build', '--push', '--provenance=false', '-t', `${image}:main`, '-t', `${image}:${sha}`, tar ? '-' : '.'], {
          cwd: repo.dir,
          env: daemon === 'second' ? secondEnv : rawEnv,
          ...(tar ? { stdinFrom: ['git', 'archive', '--format=tar', sha] } : {}),
        });
        if (r.code !== 0) throw new Error(`${name} failed:\n${r.out}`);
        return async () => contextBytes(r.out);
      },
    });
    ways.push(raw('`docker buildx build --push .` in a kept checkout', false));
    ways.push(raw('`docker buildx build --push .` in a kept checkout, on the second dockerd over TCP + TLS', false, 'second'));
    ways.push(raw('`git archive | docker buildx build --push -` (a tar context)', true));

    const times = new Map<string, number[]>(ways.map((w) => [w.name, []]));
    const bytes = new Map<string, number[]>(ways.map((w) => [w.name, []]));
    for (let i = -1; i < runs; i++) {
      // One changed line per round, built every way (in turn first), so each way meets the same change.
      const order = i < 0 ? ways : [...ways.slice(i % ways.length), ...ways.slice(0, i % ways.length)];
      for (const way of order) {
        const sha = await repo.commit({ 'app/version.txt': `version ${i} ${way.name.length} ${randomBytes(3).toString('hex')}\n` }, `round ${i}`);
        const t0 = process.hrtime.bigint();
        const sent = await way.build(sha);
        const ms = msSince(t0);
        const b = await sent();
        if (i >= 0) {
          times.get(way.name)!.push(ms);
          if (b !== null) bytes.get(way.name)!.push(b);
        }
      }
      log(`  large repo: round ${i + 1} of ${runs}`);
    }
    const archiveBytes = await archiveSize(repo.dir, 'HEAD');
    return {
      files: FILES,
      archiveBytes,
      rows: ways.map((w) => {
        const b = bytes.get(w.name)!;
        const fromLog = b.length ? pct(b, 0.5) : null;
        return {
          name: w.name,
          ms: stats(times.get(w.name)!),
          codehub: w.codehub,
          daemon: w.daemon,
          bytes: fromLog ?? (w.tar ? archiveBytes : null),
          bytesFrom: fromLog !== null ? 'log' : w.tar ? 'archive' : null,
        };
      }),
    };
  } finally {
    for (const s of servers) await s.stop();
    // The images the builds left in the daemons' stores (the servers prune theirs only while they run).
    const prefixes = servers.flatMap((s) => [`${s.registry}/${owner}/`, `${s.registry}/${owner}r/`]);
    await removeImages(prefixes);
    await removeImages(prefixes, { DOCKER_HOST: BUILDER_SOCKET });
    await removeOwnRegistries();
    tmp.remove();
  }
}
