/**
 * What the deployment choices cost, in one run, each against its raw baseline:
 *  - builders: the same kind of commit (FROM busybox, one RUN that changes each round) built and pushed by
 *    `docker buildx build --push` straight at a daemon (raw) and by codehub-build's `git push -o wait`, on
 *    the local dockerd (unix socket) and on the second dockerd over TCP with TLS (`scripts/stack.sh builder`,
 *    `docker+tcp://…?tls=…`), as a builder on another machine is reached;
 *  - registry storage: codehub-build's `git push -o wait` into a token registry on the filesystem and into
 *    one on S3 (OpenStack Swift's S3 API, `scripts/stack.sh s3`).
 * Every server and registry is token-auth; raw builds push after `docker login`, as a user would.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { WorkRepo } from '../test/helpers/git.js';
import { freePort, removeOwnRegistries, stack, TestServer, uniqueName } from '../test/helpers/server.js';
import { run } from './lib/proc.js';
import { Scratch } from './lib/scratch.js';
import { msSince, stats, type Stats } from './lib/stats.js';

const STACK_DIR = process.env.CODEHUB_STACK_DIR ?? '/var/lib/codehub-stack';
const BUILDER_PORT = Number(process.env.CODEHUB_STACK_BUILDER_PORT ?? 2376);
const CLIENT = join(STACK_DIR, 'builder', 'client');

export interface DeployResult {
  builders: { name: string; raw: Stats; codehub: Stats }[];
  storage: { name: string; codehub: Stats }[];
}

async function must(what: string, p: Promise<{ exitCode?: number | null; all?: string }>): Promise<void> {
  const r = await p;
  if (r.exitCode !== 0) throw new Error(`${what} failed:\n${r.all}`);
}

/** Times `git push -o wait` of a new commit (its RUN differs each round), `runs` times after a warm-up. */
async function codehubPushes(tmp: Scratch, server: TestServer, runs: number, log: (s: string) => void, label: string): Promise<Stats> {
  const owner = uniqueName('deploy');
  const token = server.addUser(owner);
  const repo = tmp.repo(await WorkRepo.create({ Dockerfile: `FROM localhost:5000/cache/busybox:latest\nRUN echo ${owner}-start\n` }));
  const url = server.gitUrl(owner, token, owner, 'app');
  const times: number[] = [];
  for (let i = -1; i < runs; i++) {
    await repo.commit({ Dockerfile: `FROM localhost:5000/cache/busybox:latest\nRUN echo ${owner}-${i}-${randomBytes(3).toString('hex')}\n` });
    const t0 = process.hrtime.bigint();
    const p = await repo.push(url, ['HEAD:main'], ['wait']);
    const ms = msSince(t0);
    if (p.exitCode !== 0 || !/build #\d+ app succeeded/.test(p.output)) throw new Error(`${label}: the push did not build:\n${p.output}`);
    if (i >= 0) times.push(ms);
  }
  log(`  ${label}: ${runs} pushes`);
  return stats(times);
}

/** Times `git archive | docker buildx build --push -` of a new commit at a daemon (`daemonEnv`), logged in. */
async function rawBuilds(
  tmp: Scratch,
  server: TestServer,
  daemonEnv: Record<string, string>,
  runs: number,
  log: (s: string) => void,
  label: string,
): Promise<Stats> {
  const owner = uniqueName('raw');
  const token = server.addUser(owner);
  const env = { ...process.env, ...daemonEnv, DOCKER_CONFIG: tmp.add(await server.dockerConfig(owner, token)) };
  const repo = tmp.repo(await WorkRepo.create({ Dockerfile: 'FROM localhost:5000/cache/busybox:latest\nRUN echo start\n' }));
  const image = `${server.registry}/${owner}/app`;
  const times: number[] = [];
  for (let i = -1; i < runs; i++) {
    const sha = await repo.commit({ Dockerfile: `FROM localhost:5000/cache/busybox:latest\nRUN echo ${owner}-${i}-${randomBytes(3).toString('hex')}\n` });
    const t0 = process.hrtime.bigint();
    // `docker buildx`, not the plugin binary: only the docker CLI reads DOCKER_TLS_VERIFY and DOCKER_CERT_PATH.
    const r = await run(['docker', 'buildx', 'build', '--push', '--provenance=false', '-t', `${image}:main`, '-t', `${image}:${sha}`, '-'], {
      cwd: repo.dir,
      env,
      stdinFrom: ['git', 'archive', '--format=tar', sha],
    });
    const ms = msSince(t0);
    if (r.code !== 0) throw new Error(`${label}: raw build failed:\n${r.out}`);
    if (i >= 0) times.push(ms);
  }
  log(`  ${label}: ${runs} raw builds`);
  return stats(times);
}

export async function deployBench(runs: number, log: (s: string) => void): Promise<DeployResult> {
  const tmp = new Scratch();
  try {
    return await deploy(tmp, runs, log);
  } finally {
    await removeOwnRegistries();
    tmp.remove();
  }
}

async function deploy(tmp: Scratch, runs: number, log: (s: string) => void): Promise<DeployResult> {
  await must('stack.sh builder up', stack('builder', 'up'));
  await must('stack.sh s3 up', stack('s3', 'up'));
  const remote = `docker+tcp://127.0.0.1:${BUILDER_PORT}`;
  const remoteEnv = { DOCKER_HOST: `tcp://127.0.0.1:${BUILDER_PORT}`, DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: CLIENT };
  const result: DeployResult = { builders: [], storage: [] };
  const env = { CODEHUB_LOG_LEVEL: 'warn', CODEHUB_HEALTH_INTERVAL_MS: '200' };

  for (const [name, builders, daemonEnv] of [
    ['local dockerd (unix socket, Engine API)', 'local', {}],
    ['second dockerd over TCP + TLS (docker+tcp://)', `${remote}?tls=${CLIENT}`, remoteEnv],
  ] as const) {
    const server = await TestServer.start({ dataDir: tmp.dir('chb-e2e-'), env: { ...env, CODEHUB_BUILDERS: builders } });
    try {
      log(`builder: ${name}`);
      const raw = await rawBuilds(tmp, server, daemonEnv, runs, log, name);
      const codehub = await codehubPushes(tmp, server, runs, log, name);
      result.builders.push({ name, raw, codehub });
    } finally {
      await server.stop();
    }
  }

  const fs = await TestServer.start({ dataDir: tmp.dir('chb-e2e-'), env });
  try {
    log('registry storage: filesystem');
    result.storage.push({ name: "filesystem (the stack's token registry)", codehub: await codehubPushes(tmp, fs, runs, log, 'filesystem') });
  } finally {
    await fs.stop();
  }
  const addr = `127.0.0.1:${await freePort()}`;
  const s3 = await TestServer.start({ dataDir: tmp.dir('chb-e2e-'), env: { ...env, CODEHUB_REGISTRY: addr } });
  try {
    const bucket = `bench-${randomBytes(4).toString('hex')}`;
    await must(
      'a token registry on S3',
      stack(
        'token-registry',
        'up',
        addr,
        `${s3.url}/registry/token`,
        join(s3.dataDir, 'secrets', 'registry-token.crt'),
        '--s3',
        `http://127.0.0.1:${process.env.CODEHUB_STACK_S3_PORT ?? 9000}/${bucket}`,
      ),
    );
    log('registry storage: S3 (Swift)');
    result.storage.push({ name: "S3: OpenStack Swift's s3api on this machine", codehub: await codehubPushes(tmp, s3, runs, log, 'S3') });
  } finally {
    await s3.stop();
    await stack('token-registry', 'down', addr, '--purge');
  }
  return result;
}
