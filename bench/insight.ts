/**
 * What build insight (issue 28) adds to a build, on the stack's dockerd and its open registry (localhost:5001):
 *
 *   npx tsx bench/insight.ts                 (BENCH_ROUNDS=20 builds per series)
 *
 * 1. A small repo (COPY conf/, a RUN on it, COPY src/, a RUN on that; four files) built by the Engine API driver over
 *    its own BuildKit session, one file changed per round, pushed to the registry: the build as the driver runs it,
 *    then `collectInsight` as the runner calls it at the build's end, handed the manifest the inventory read to
 *    record the push (so: the config GET, the explanation from the session's record, the comparison with the
 *    previous build), timed apart. The ratio is insight / build.
 * 2. Its parts: the explanation alone (in process), the config GET alone.
 * 3. For buildx and buildctl, the work tree's update now asks git which files it rewrites: `git diff-index` on a kept
 *    tree of the same repo, timed alone.
 * 4. CODEHUB_BASE_PULL=always: the same build with dockerd resolving its base at every build (pull=1) and without,
 *    alternating rounds, each on an unchanged commit (everything cached: what the resolve costs shows most).
 */
import { execa } from 'execa';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { spawn } from 'node:child_process';
import { EngineDriver } from '../src/builder/dockerd.js';
import type { BuildOutcome } from '../src/builder/driver.js';
import { Checkouts } from '../src/context/checkout.js';
import { collectInsight } from '../src/insight/collect.js';
import { findCacheMiss } from '../src/insight/explain.js';
import { cacheMissSentence } from '../src/insight/sentence.js';
import type { StoredInsight } from '../src/insight/types.js';
import { RegistryClient } from '../src/registry/client.js';
import { machine } from './lib/machine.js';
import { msSince, ratio, spread, stats } from './lib/stats.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 20);
const REGISTRY = 'localhost:5001';
const BASE = `${REGISTRY}/cache/busybox:bench-insight`;
const run = Date.now().toString(36);

console.log(JSON.stringify(machine()));
const sh = (cmd: string, args: string[]) => execa(cmd, args, { all: true });
await sh('docker', ['tag', 'localhost:5000/cache/busybox:latest', BASE]);
await sh('docker', ['push', '-q', BASE]);

const dir = mkdtempSync(join(tmpdir(), 'chb-bench-insight-'));
const git = (...args: string[]) =>
  execFileSync('git', ['-c', 'user.name=b', '-c', 'user.email=b@b', ...args], { cwd: dir })
    .toString()
    .trim();
const write = (files: Record<string, string>) => {
  for (const [p, c] of Object.entries(files)) {
    mkdirSync(join(dir, p, '..'), { recursive: true });
    writeFileSync(join(dir, p), c);
  }
  git('add', '-A');
  git('commit', '-qm', 'c', '--allow-empty');
  return git('rev-parse', 'HEAD');
};
git('init', '-q');
write({
  Dockerfile: `FROM ${BASE}\nCOPY conf/ /conf/\nRUN cat /conf/* > /conf.out\nCOPY src/ /src/\nRUN ls -l /src > /src.out\n`,
  'conf/app.conf': `port=80 ${run}\n`,
  'src/a.txt': `a ${run}\n`,
  'src/b.txt': 'b\n',
});

// By address, as the server's CODEHUB_REGISTRY is given: `localhost` costs each new connection a try at ::1 first.
const registry = new RegistryClient(REGISTRY.replace('localhost', '127.0.0.1'));
const key = Buffer.alloc(32, 1);
const repository = `bench/insight-${run}`;

async function build(driver: EngineDriver, commit: string): Promise<{ ms: number; out: BuildOutcome }> {
  const context = spawn('tar', ['-c', '--exclude=.git', '-C', dir, '.'], { stdio: ['ignore', 'pipe', 'inherit'] }).stdout!.pipe(new PassThrough());
  const t0 = process.hrtime.bigint();
  const out = await driver.build(
    {
      dockerfile: 'Dockerfile',
      target: null,
      args: {},
      labels: { commit },
      tags: [`${REGISTRY}/${repository}:main`],
      platforms: [],
      secrets: {},
      workDir: mkdtempSync(join(tmpdir(), 'chb-bw-')),
    },
    {
      context,
      source: { kind: 'commit', gitDir: join(dir, '.git'), commit, dir: '.', repo: `bench/${run}` },
      onLog: () => {},
      signal: new AbortController().signal,
      processEnv: {},
    },
  );
  const ms = msSince(t0);
  if (!out.ok) throw new Error(out.problem);
  return { ms, out };
}

// ---- 1 and 2: a build, then its insight
const driver = new EngineDriver({ contextTransfer: 'session', pruneIdleMs: 3_600_000 });
let previous: { id: number; insight: Record<string, unknown> } | null = null;
const builds: number[] = [];
const insights: number[] = [];
const explains: number[] = [];
const reads: number[] = [];
let last: StoredInsight | null = null;
await build(driver, git('rev-parse', 'HEAD')); // warm: the base pulled, the snapshot kept
for (let i = 0; i < ROUNDS; i++) {
  const commit = write({ 'src/a.txt': `a ${run} ${i}\n` });
  const { ms, out } = await build(driver, commit);
  builds.push(ms);
  const digest = out.ok ? out.digest : '';
  // The manifest as the server has it by then: the inventory read it to record the push (not insight's cost).
  const manifest = await registry.manifest(repository, digest);
  const facts = {
    steps: out.steps,
    contextChanged: out.contextChanged,
    args: {},
    noCache: false,
    mask: (t: string) => t,
    image: { repository, digest, manifest },
  };
  const t0 = process.hrtime.bigint();
  last = await collectInsight({ registry, key }, facts, previous);
  insights.push(msSince(t0));
  previous = { id: i + 1, insight: last as unknown as Record<string, unknown> };

  const t1 = process.hrtime.bigint();
  const miss = findCacheMiss({ steps: out.steps, changed: out.contextChanged ?? null, inputs: last.inputs, previous: last.inputs, noCache: false });
  if (miss) cacheMissSentence(miss);
  explains.push(msSince(t1));
  const cfg = JSON.parse(manifest!.body.toString()) as { config: { digest: string } };
  const t2 = process.hrtime.bigint();
  const blob = await registry.blob(repository, cfg.config.digest);
  for await (const _ of blob!) {
    /* read it through, as insight does */
  }
  reads.push(msSince(t2));
}
if (!last?.cache_miss?.because.files.includes('src/a.txt')) throw new Error(`the insight did not name src/a.txt: ${JSON.stringify(last?.cache_miss)}`);
const b = stats(builds);
const ins = stats(insights);
console.log(`\n1. small repo, one file changed per build, ${ROUNDS} builds (Engine API driver, its own session):`);
console.log(`   build (driver.build: context, solve, push)      ${spread(b, 0)} ms`);
console.log(
  `   insight at its end (collectInsight)              ${spread(ins, 2)} ms   ratio insight/build ${ratio(ins.median, b.median)} (${((ins.median / b.median) * 100).toFixed(2)} %)`,
);
console.log(`   last sentence: ${cacheMissSentence(last.cache_miss!)}`);
console.log(`2. its parts: the explanation in process ${spread(stats(explains), 3)} ms; the config GET ${spread(stats(reads), 2)} ms`);

// ---- 3: the work tree's `git diff-index`
const bare = mkdtempSync(join(tmpdir(), 'chb-bench-insight-bare-'));
execFileSync('git', ['clone', '-q', '--bare', dir, bare]);
const checkouts = new Checkouts({ root: mkdtempSync(join(tmpdir(), 'chb-bench-insight-co-')) });
const head = git('rev-parse', 'HEAD');
await (await checkouts.take('k', { gitDir: bare, commit: git('rev-parse', 'HEAD~1'), dir: '.' })).release();
const tree = await checkouts.take('k', { gitDir: bare, commit: head, dir: '.' });
const diffs: number[] = [];
for (let i = 0; i < ROUNDS * 5; i++) {
  const t0 = process.hrtime.bigint();
  await execa('git', ['--git-dir', bare, '--work-tree', tree.path, 'diff-index', '--cached', '--name-only', '-z', `${head}~1`], {
    env: { GIT_INDEX_FILE: join(checkouts.root, 'index', tree.name) },
  });
  diffs.push(msSince(t0));
}
await tree.release();
console.log(`3. buildx/buildctl work tree: the added git diff-index  ${spread(stats(diffs), 2)} ms per build (update in ${tree.updateMs} ms in all)`);

// ---- 4: pull=1
const pulling = new EngineDriver({ contextTransfer: 'session', pruneIdleMs: 3_600_000, pullBases: true });
const withPull: number[] = [];
const without: number[] = [];
for (let i = 0; i < ROUNDS; i++) {
  for (const [d, xs] of (i % 2
    ? [
        [driver, without],
        [pulling, withPull],
      ]
    : [
        [pulling, withPull],
        [driver, without],
      ]) as [EngineDriver, number[]][]) {
    xs.push((await build(d, head)).ms);
  }
}
const wp = stats(withPull);
const wo = stats(without);
console.log(
  `4. an all-cached build on dockerd, ${ROUNDS} each, alternating: pull=1 ${spread(wp, 0)} ms, without ${spread(wo, 0)} ms, ratio ${ratio(wp.median, wo.median)}`,
);
process.exit(0);
