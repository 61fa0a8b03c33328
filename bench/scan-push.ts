/**
 * Push to pushed image with the scan on against off (issue 26), through real servers:
 *
 *   bash scripts/stack.sh up && bash scripts/stack.sh registry up 127.0.0.1:5001 && npm run build
 *   npx tsx bench/scan-push.ts                      (BENCH_RUNS=7 by default)
 *
 * Two servers, each with its own token registry: one as shipped (scanning on) and one with CODEHUB_SCAN=off. The
 * same commit is pushed to both with `git push -o wait` (which returns when the build has ended, so the scan is
 * inside the time), the server that goes first alternating round by round, after a warm-up round. The small repo
 * of bench/push-to-image.ts with a little to inventory: busybox, then a COPY of Debian 12's os-release and dpkg
 * status (test/fixtures/packages, 8 packages) and lodash's package.json (test/fixtures/packages/npm), then a RUN.
 *  - cached: each round a new commit with the same tree, every step cached, a new manifest (new labels) pushed;
 *    the layers are the last round's, so the scan finds every layer's inventory known and reads none;
 *  - no-cache: the same with `-o no-cache`; BuildKit makes the COPY and RUN layers again, and the scan reads
 *    whichever of them have a digest it has not seen (the summary line says how many);
 *  - gate: cached, with OSV records imported on the scanning server (`codehub-build vulndb import` of
 *    test/fixtures/osv's lodash and expat records) and `scan: fail_on: high` in codehub-build.yaml. The image has
 *    expat's vulnerable 2.5.0-1 (DSA-5770-1, no severity: found, not blocking), so the scan matches a real record,
 *    passes, and the branch and latest tags are pushed after it (the off server pushes every tag with the image).
 * The scan's own time comes from the build's stored log (`?timestamps=1`): from the line before the first `scan:`
 * line (the end of BuildKit's push) to the `scan: N packages in M layers` summary; for the gate, from the summary
 * to the `tagged …` line that moves the held tags.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WorkRepo } from '../test/helpers/git.js';
import { removeOwnRegistries, TestServer, uniqueName } from '../test/helpers/server.js';
import { buildOf } from './lib/build-log.js';
import { run } from './lib/proc.js';
import { Scratch } from './lib/scratch.js';
import { msSince, ratio, type Stats, spread, stats } from './lib/stats.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const FIXTURES = fileURLToPath(new URL('../test/fixtures/', import.meta.url));
const fixture = (path: string) => readFileSync(join(FIXTURES, path), 'utf8');
const progress = (s: string) => process.stderr.write(s + '\n');

type Mode = 'cached' | 'no-cache' | 'gate';

interface Side {
  name: 'on' | 'off';
  server: TestServer;
  owner: string;
  token: string;
}

/** What one build's stored log says of its scan; null figures when a line is missing (scanning off). */
interface ScanFigures {
  scanMs: number | null;
  tagMs: number | null;
  layersRead: number | null;
  layersKnown: number | null;
  summary: string | null;
}

/** The repo's files: `status` is the dpkg database to copy, `scan` the codehub-build.yaml's scan block (or none). */
function files(status: string, scan: string | null): Record<string, string> {
  return {
    Dockerfile: `FROM localhost:5000/cache/busybox:latest\nCOPY rootfs/ /\nRUN echo bench-${randomBytes(4).toString('hex')} > /bench.txt\n`,
    'codehub-build.yaml': `version: 1\nimages:\n  - name: img\n${scan ? `    scan:\n${scan}` : ''}`,
    'rootfs/etc/os-release': fixture('packages/os-release/debian-12'),
    'rootfs/var/lib/dpkg/status': status,
    'rootfs/app/node_modules/lodash/package.json': fixture('packages/npm/lodash-package.json'),
  };
}

/**
 * The scan's figures from a log with timestamps (`<ISO time> <text>` a line): see the module's comment. The time
 * before the first `scan:` line is the last line BuildKit (or the extra tags) wrote: the push's end.
 */
function scanFigures(log: string): ScanFigures {
  const lines = log
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const cut = l.indexOf(' ');
      return { t: Date.parse(l.slice(0, cut)), text: l.slice(cut + 1) };
    });
  const first = lines.findIndex((l) => l.text.startsWith('scan: '));
  const summaryAt = lines.findIndex((l) => /^scan: \d+ packages? in \d+ layers?/.test(l.text));
  const none: ScanFigures = { scanMs: null, tagMs: null, layersRead: null, layersKnown: null, summary: null };
  if (first < 1 || summaryAt < 0) return none;
  const summary = lines[summaryAt]!;
  const counts = /\((\d+) read, (\d+) known\)/.exec(summary.text);
  const tagged = lines.slice(summaryAt + 1).find((l) => l.text.startsWith('tagged '));
  return {
    scanMs: summary.t - lines[first - 1]!.t,
    tagMs: tagged ? tagged.t - summary.t : null,
    layersRead: counts ? Number(counts[1]) : null,
    layersKnown: counts ? Number(counts[2]) : null,
    summary: summary.text,
  };
}

async function logWithTimes(side: Side, sha: string): Promise<string> {
  const { build } = await buildOf(side.server, side.token, sha);
  const res = await fetch(`${side.server.url}/api/builds/${build.id}/log?timestamps=1`, { headers: { authorization: `Bearer ${side.token}` } });
  if (!res.ok) throw new Error(`GET /api/builds/${build.id}/log?timestamps=1 on the ${side.name} server: ${res.status}`);
  return res.text();
}

async function push(side: Side, repo: WorkRepo, noCache: boolean): Promise<number> {
  const url = side.server.gitUrl(side.owner, side.token, side.owner, 'img');
  const t0 = process.hrtime.bigint();
  const r = await run(['git', 'push', '-o', 'wait', ...(noCache ? ['-o', 'no-cache'] : []), url, 'HEAD:main'], {
    cwd: repo.dir,
    env: { ...process.env, GIT_TERMINAL_PROMPT: '0' },
  });
  const ms = msSince(t0);
  if (r.code !== 0 || !/build #\d+ img succeeded/.test(r.out)) throw new Error(`push to the ${side.name} server did not report success:\n${r.out}`);
  return ms;
}

interface ScanPushRow {
  mode: Mode;
  on: Stats;
  off: Stats;
  scan: Stats | null;
  tag: Stats | null;
  /** Layers the scan read and found known, summed over the measured rounds. */
  read: number;
  known: number;
  summary: string | null;
}

async function measure(sides: [Side, Side], repo: WorkRepo, mode: Mode): Promise<ScanPushRow> {
  const noCache = mode === 'no-cache';
  const times = { on: [] as number[], off: [] as number[] };
  const scan: number[] = [];
  const tag: number[] = [];
  let read = 0;
  let known = 0;
  let summary: string | null = null;
  for (let i = -1; i < RUNS; i++) {
    // round -1 warms both servers up (and gives the scanning one the layers' inventories)
    const sha = await repo.commit({}, `${mode} round ${i}`);
    const order = i % 2 === 0 ? sides : ([sides[1], sides[0]] as const);
    for (const side of order) {
      const ms = await push(side, repo, noCache);
      // Untimed: the image really is in that server's registry under the commit, and the branch tag is on it.
      const registry = side.server.registryClient();
      const digest = await registry.digest(`${side.owner}/img`, sha);
      if (!digest) throw new Error(`${side.name}: ${side.owner}/img:${sha} is not in the registry`);
      if ((await registry.digest(`${side.owner}/img`, 'main')) !== digest) throw new Error(`${side.name}: main is not on ${sha}'s image after the push`);
      if (i < 0) continue;
      times[side.name].push(ms);
      if (side.name !== 'on') continue;
      const f = scanFigures(await logWithTimes(side, sha));
      if (f.scanMs === null) throw new Error(`the scanning server's log of ${sha} has no scan summary`);
      scan.push(f.scanMs);
      if (mode === 'gate') {
        if (f.tagMs === null) throw new Error(`the gate's log of ${sha} has no tagged line after the scan`);
        tag.push(f.tagMs);
      }
      read += f.layersRead ?? 0;
      known += f.layersKnown ?? 0;
      summary = f.summary;
    }
    progress(`  scan push, ${mode}, round ${i + 1}/${RUNS}`);
  }
  return { mode, on: stats(times.on), off: stats(times.off), scan: stats(scan), tag: tag.length ? stats(tag) : null, read, known, summary };
}

async function start(scratch: Scratch, name: 'on' | 'off'): Promise<Side> {
  const server = await TestServer.start({
    dataDir: scratch.dir(`chb-scan-${name}-`),
    env: { CODEHUB_LOG_LEVEL: 'info', ...(name === 'off' ? { CODEHUB_SCAN: 'off' } : {}) },
  });
  const owner = uniqueName('bench');
  return { name, server, owner, token: server.addUser(owner) };
}

const scratch = new Scratch();
const sides: Side[] = [];
try {
  sides.push(await start(scratch, 'on'), await start(scratch, 'off'));
  const pair = sides as [Side, Side];
  const status = fixture('packages/dpkg/status');
  const repo = scratch.repo(await WorkRepo.create(files(status, null)));
  const rows: ScanPushRow[] = [];
  for (const mode of ['cached', 'no-cache'] as const) rows.push(await measure(pair, repo, mode));

  // The gate: records imported, a policy that can block, an image with a finding that does not block.
  const osv = scratch.dir('chb-scan-osv-');
  mkdirSync(osv, { recursive: true });
  writeFileSync(join(osv, 'GHSA-35jh-r3h4-6jhm.json'), fixture('osv/GHSA-35jh-r3h4-6jhm.json'));
  writeFileSync(join(osv, 'DSA-5770-1.json'), JSON.stringify((JSON.parse(fixture('osv/DSA-5770-1.bodega.json')) as unknown[])[0]));
  const imported = pair[0].server.cli(['vulndb', 'import', osv]);
  if (imported.status !== 0) throw new Error(`vulndb import failed: ${imported.stdout}${imported.stderr}`);
  await repo.commit(files(status.replace('Version: 2.5.0-1+deb12u1', 'Version: 2.5.0-1'), '      fail_on: high\n'), 'the gate');
  const gate = await measure(pair, repo, 'gate');
  if (!gate.summary?.includes('1 vulnerability')) throw new Error(`the gate's image should have exactly DSA-5770-1: ${gate.summary}`);
  rows.push(gate);

  console.log(`Run ${new Date().toISOString()}, BENCH_RUNS=${RUNS}: median (min-max) ms of \`git push -o wait\` to the build's end.\n`);
  console.log('| case | scan on (ms) | scan off (ms) | on / off | scan in the log (ms) | tags after the scan (ms) | layers read / known |');
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  for (const r of rows)
    console.log(
      `| ${r.mode} | ${spread(r.on)} | ${spread(r.off)} | ${ratio(r.on.median, r.off.median)} | ${r.scan ? spread(r.scan) : '-'} | ${r.tag ? spread(r.tag) : '-'} | ${r.read} / ${r.known} |`,
    );
  console.log();
  for (const r of rows) console.log(`${r.mode}: last summary: ${r.summary}`);
} finally {
  for (const s of sides) await s.server.stop();
  await removeOwnRegistries();
  scratch.remove();
}
