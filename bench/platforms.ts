/**
 * A two-platform image (issue 29) against the same build for linux/amd64 alone, on the stack's dockerd (overlay2
 * store), QEMU for arm64 and the open registry (localhost:5001, with the two-platform base: npm run bench starts it):
 *
 *   npx tsx bench/platforms.ts                 (BENCH_ROUNDS=5 builds per series, no cache: every RUN runs)
 *
 * 1. Through the server's code: the Engine API driver building each platform at the same time and the join
 *    (src/builds/platforms.ts) against the same driver building amd64 alone; the emulated RUN's own time taken from
 *    the build's steps, and the join's (the index PUT and the staging tags' removal) from its log line.
 * 2. The raw baselines in the same run: `docker buildx build --push` for linux/amd64 and for linux/arm64 alone (what
 *    a person would run), so the two-platform figure can be read against the slower one of them.
 * 3. The road not taken: a second dockerd with containerd's image store (`containerd-snapshotter`), where buildx's
 *    docker driver builds both platforms in one solve and pushes the index itself. Started for the measurement on a
 *    socket and data root of its own, stopped after; skipped (and said so) if it cannot start here.
 * Series alternate round by round. The Dockerfile's RUN is a shell loop (CPU, as a compile would be).
 */
import { execa } from 'execa';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { EngineDriver } from '../src/builder/dockerd.js';
import type { BuildIO, BuildOutcome, BuildRequest } from '../src/builder/driver.js';
import { buildEachPlatform } from '../src/builds/platforms.js';
import { RegistryClient } from '../src/registry/client.js';
import { machine } from './lib/machine.js';
import { msSince, ratio, spread, stats } from './lib/stats.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const REGISTRY = 'localhost:5001';
const run = Date.now().toString(36);
const LOOP = Number(process.env.BENCH_LOOP ?? 20000);

console.log(JSON.stringify(machine()));
const dir = mkdtempSync(join(tmpdir(), 'chb-bench-platforms-'));
writeFileSync(
  join(dir, 'Dockerfile'),
  `FROM ${REGISTRY}/cache/busybox:latest\nARG ROUND\nRUN echo "$ROUND" && i=0; while [ $i -lt ${LOOP} ]; do i=$((i+1)); done; uname -m > /arch\n`,
);
const registry = new RegistryClient(REGISTRY.replace('localhost', '127.0.0.1'));
const driver = new EngineDriver({ pruneIdleMs: 3_600_000 });
const repository = `bench/platforms-${run}`;

const context = () => spawn('tar', ['-c', '-C', dir, '.'], { stdio: ['ignore', 'pipe', 'inherit'] }).stdout!.pipe(new PassThrough());
const request = (platforms: string[], round: string): BuildRequest => ({
  dockerfile: 'Dockerfile',
  target: null,
  args: { ROUND: round },
  labels: {},
  tags: [`${REGISTRY}/${repository}:main`],
  platforms,
  secrets: {},
  noCache: true,
  workDir: mkdtempSync(join(tmpdir(), 'chb-bw-')),
});
const io = (log: string[]): BuildIO => ({ context: context(), onLog: (l) => log.push(l), signal: new AbortController().signal, processEnv: {} });
const stepMs = (out: BuildOutcome, re: RegExp): number => {
  const s = out.steps.find((x) => re.test(x.name));
  return s?.started && s.completed ? Date.parse(s.completed) - Date.parse(s.started) : Number.NaN;
};

async function raw(platform: string, round: string, host?: string): Promise<number> {
  const t0 = process.hrtime.bigint();
  const r = await execa(
    'docker',
    [
      'buildx',
      'build',
      '-q',
      '--no-cache',
      '--platform',
      platform,
      '--build-arg',
      `ROUND=${round}`,
      '--push',
      '-t',
      `${REGISTRY}/${repository}-raw:${platform.replaceAll('/', '-').replaceAll(',', '_')}`,
      dir,
    ],
    { reject: false, all: true, env: host ? { DOCKER_HOST: host } : {} },
  );
  if (r.exitCode !== 0) throw new Error(`docker buildx build --platform ${platform}: ${r.all}`);
  return msSince(t0);
}

// ---- 1 and 2: the join against amd64 alone, and the raw builds
const two: number[] = [];
const one: number[] = [];
const emulated: number[] = [];
const native: number[] = [];
const joins: number[] = [];
const rawAmd: number[] = [];
const rawArm: number[] = [];
await buildEachPlatform(driver, request(['linux/amd64', 'linux/arm64'], 'warm'), [io([]), io([])], registry, `${run}-warm`); // bases pulled
for (let i = 0; i < ROUNDS; i++) {
  const round = `${run}-${i}`;
  const log: string[] = [];
  let t0 = process.hrtime.bigint();
  const joined = await buildEachPlatform(driver, request(['linux/amd64', 'linux/arm64'], round), [io(log), io(log)], registry, round);
  two.push(msSince(t0));
  if (!joined.ok) throw new Error(joined.problem);
  emulated.push(stepMs(joined, /^\[linux\/arm64 2\/2\] RUN/));
  native.push(stepMs(joined, /^\[linux\/amd64 2\/2\] RUN/));
  joins.push(Number(/\((\d+) ms\)$/.exec(log.find((l) => l.startsWith('joined ')) ?? '')?.[1]));
  t0 = process.hrtime.bigint();
  const alone = await driver.build(request(['linux/amd64'], `${round}-alone`), io([]));
  one.push(msSince(t0));
  if (!alone.ok) throw new Error(alone.problem);
  rawAmd.push(await raw('linux/amd64', `${round}-raw`));
  rawArm.push(await raw('linux/arm64', `${round}-raw`));
}

const s = {
  two: stats(two),
  one: stats(one),
  emulated: stats(emulated),
  native: stats(native),
  joins: stats(joins),
  rawAmd: stats(rawAmd),
  rawArm: stats(rawArm),
};
console.log(`\n## A two-platform image against amd64 alone (${ROUNDS} rounds, no cache, a ${LOOP}-iteration shell loop in RUN), ms, median (min-max)\n`);
console.log('| what | ms |');
console.log('| --- | ---: |');
console.log(`| linux/amd64 + linux/arm64, each built at the same time, joined into one index (the server's code) | ${spread(s.two)} |`);
console.log(`| linux/amd64 alone, the same driver | ${spread(s.one)} |`);
console.log(`| its RUN on amd64 (from the two-platform build's steps) | ${spread(s.native)} |`);
console.log(`| its RUN on arm64 under QEMU (the same build's steps) | ${spread(s.emulated)} |`);
console.log(`| the join: index PUT and staging tags removed | ${spread(s.joins)} |`);
console.log(`| \`docker buildx build --push --platform linux/amd64\` | ${spread(s.rawAmd)} |`);
console.log(`| \`docker buildx build --push --platform linux/arm64\` | ${spread(s.rawArm)} |`);
console.log(`\ntwo platforms / amd64 alone: ${ratio(s.two.median, s.one.median)}; emulated RUN / native RUN: ${ratio(s.emulated.median, s.native.median)}`);
console.log(`two platforms / raw arm64 build (the slower platform alone): ${ratio(s.two.median, s.rawArm.median)}`);

// ---- 3: dockerd with containerd's image store
const cdRoot = '/var/lib/codehub-stack/bench-containerd';
const BRIDGE = 'chb-bench-cd0';
const sock = `${cdRoot}/docker.sock`;
let daemon: ReturnType<typeof spawn> | null = null;
try {
  mkdirSync(cdRoot, { recursive: true });
  writeFileSync(join(cdRoot, 'daemon.json'), JSON.stringify({ features: { 'containerd-snapshotter': true } }));
  if ((await execa('ip', ['link', 'show', 'dev', BRIDGE], { reject: false })).exitCode !== 0) {
    await execa('ip', ['link', 'add', 'name', BRIDGE, 'type', 'bridge']);
    await execa('ip', ['addr', 'add', '10.213.91.1/24', 'dev', BRIDGE]);
  }
  await execa('ip', ['link', 'set', BRIDGE, 'up']);
  daemon = spawn(
    'dockerd',
    [
      '--config-file',
      join(cdRoot, 'daemon.json'),
      '--data-root',
      join(cdRoot, 'data'),
      '--exec-root',
      join(cdRoot, 'exec'),
      '--pidfile',
      join(cdRoot, 'docker.pid'),
      '--host',
      `unix://${sock}`,
      // As the stack's second builder does (scripts/stack.sh builder): a containerd namespace and a bridge of its own,
      // so nothing of the main dockerd's is touched (with `--bridge none` a dockerd deletes docker0 as it starts).
      '--containerd-namespace',
      'codehub-bench-cd',
      '--containerd-plugins-namespace',
      'codehub-bench-cd-plugins',
      '--bridge',
      BRIDGE,
      '--iptables=false',
      '--ip6tables=false',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let err = '';
  daemon.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2000)));
  const started = Date.now();
  while ((await execa('docker', ['version'], { env: { DOCKER_HOST: `unix://${sock}` }, reject: false })).exitCode !== 0) {
    if (Date.now() - started > 30_000 || daemon.exitCode !== null) throw new Error(`dockerd with containerd's image store did not start: ${err}`);
    await new Promise((r) => setTimeout(r, 300));
  }
  const host = `unix://${sock}`;
  const info = await execa('docker', ['info', '--format', '{{.Driver}} {{json .DriverStatus}}'], { env: { DOCKER_HOST: host } });
  await raw('linux/amd64,linux/arm64', `${run}-cd-warm`, host);
  const cd: number[] = [];
  const ours: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    cd.push(await raw('linux/amd64,linux/arm64', `${run}-cd-${i}`, host));
    const t0 = process.hrtime.bigint();
    const joined = await buildEachPlatform(
      driver,
      request(['linux/amd64', 'linux/arm64'], `${run}-cd-ours-${i}`),
      [io([]), io([])],
      registry,
      `${run}-cd-${i}`,
    );
    ours.push(msSince(t0));
    if (!joined.ok) throw new Error(joined.problem);
  }
  console.log(
    `\n## The alternative: dockerd ${info.stdout.split(' ')[0]} with containerd's image store, one buildx solve for both platforms (${ROUNDS} rounds)\n`,
  );
  console.log('| what | ms |');
  console.log('| --- | ---: |');
  console.log(`| \`docker buildx build --push --platform linux/amd64,linux/arm64\` on the containerd store | ${spread(stats(cd))} |`);
  console.log(`| each platform on the overlay2 dockerd, joined by the server | ${spread(stats(ours))} |`);
  console.log(`\njoined / containerd store: ${ratio(stats(ours).median, stats(cd).median)}`);
} catch (e) {
  console.log(`\n(containerd image store not measured: ${(e as Error).message.split('\n')[0]})`);
} finally {
  daemon?.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 3000));
  await execa('ip', ['link', 'del', BRIDGE], { reject: false });
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
