/**
 * The scanner's inventory (src/scan/inventory.ts) against Trivy's package listing of the same image in the same
 * registry (issue 26). Standalone, after `bash scripts/stack.sh up && bash scripts/stack.sh registry up
 * 127.0.0.1:5001 && bash scripts/trivy.sh install`: `npx tsx bench/scan-inventory.ts` (BENCH_RUNS, default 3;
 * BENCH_FILLER_MB, default 850).
 *
 * (a) A large image (about 1 GB of layers) built with `docker buildx build --push` to the stack's open registry:
 *     FROM the stack's busybox; two layers of random filler files (incompressible, so they weigh what they hold);
 *     one layer with this machine's /var/lib/dpkg/status, os-release and debian_version, this checkout's whole
 *     node_modules (every file) under /app/node_modules, and the package.json files of that tree again under
 *     /srv/app-2..4/node_modules (a monorepo image's several apps). Ours: inventoryImage with an empty layer cache
 *     (a fresh SQLite store); Trivy: `trivy image --image-src remote --insecure` with a fresh cache dir, CycloneDX
 *     output (no vulnerability scanner, no database). Wall time and peak RSS of each, packages found.
 * (b) A new image on that base (one small new layer): ours with the layer cache warm (a copy of a SQLite store
 *     that inventoried the base) against cold, time and registry bytes read; Trivy with its cache warm (a copy of
 *     a cache dir that listed the base) against cold.
 *
 * Each run is a child process (ours: this file with --ours; Trivy: its binary) under /usr/bin/time, so each
 * side's peak RSS is its own process's. Ours' time is taken inside its child around inventoryImage (the server
 * has Node loaded already); Trivy's is its whole process (its start is ~0.1 s of it, measured below). The order
 * alternates run by run.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, cpSync, mkdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, relative } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { RegistryClient } from '../src/registry/client.js';
import { inventoryImage } from '../src/scan/inventory.js';
import { SqliteLayerCache } from '../src/scan/layer-cache.js';
import { openDb } from '../src/store/db.js';
import { Store } from '../src/store/store.js';
import { purlKey } from '../test/helpers/trivy.js';
import { machine } from './lib/machine.js';
import { Scratch } from './lib/scratch.js';
import { msSince, ratio, spread, stats } from './lib/stats.js';

const REGISTRY = '127.0.0.1:5001';
const ROOT = fileURLToPath(new URL('..', import.meta.url));
// A worktree's node_modules may be a link to the main checkout's: the tree itself is copied.
const NODE_MODULES = realpathSync(join(ROOT, 'node_modules'));
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const FILLER_MB = Number(process.env.BENCH_FILLER_MB ?? 850);

/** What one child run of ours reports on its stdout. */
interface OursResult {
  ms: number;
  bytes: number;
  packages: number;
  /** The distinct packages by purlKey (type, name, version): the same package.json in four apps is one. */
  keys: string[];
  cachedLayers: number;
  problems: string[];
}

/** The real client, counting the blob bytes it hands out (the layers it read, compressed). */
class CountingClient extends RegistryClient {
  bytes = 0;
  override async blob(name: string, digest: string): Promise<Readable | null> {
    const stream = await super.blob(name, digest);
    if (!stream) return null;
    const counter = new Transform({
      transform: (chunk: Buffer, _enc, cb) => {
        this.bytes += chunk.length;
        cb(null, chunk);
      },
    });
    stream.on('error', (err) => counter.destroy(err));
    return stream.pipe(counter);
  }
}

/** The child: one inventory of repo:ref over the SQLite store at `db`, its figures as JSON on stdout. */
async function oursChild(repo: string, ref: string, db: string): Promise<void> {
  const sqlite = openDb(db);
  const store = new Store(sqlite);
  const client = new CountingClient(REGISTRY, 60_000);
  const t0 = process.hrtime.bigint();
  const inv = await inventoryImage(client, repo, ref, { cache: new SqliteLayerCache(store.layerInventories) });
  const ms = msSince(t0);
  sqlite.$client.close();
  const out: OursResult = {
    ms,
    bytes: client.bytes,
    packages: inv.packages.length,
    keys: [...new Set(inv.packages.map((p) => purlKey(p.purl)))],
    cachedLayers: inv.layers.filter((l) => l.cached).length,
    problems: inv.problems,
  };
  process.stdout.write(JSON.stringify(out));
}

/** Runs argv under /usr/bin/time; its wall time as Node saw it, and the peak RSS (MB) GNU time read from wait4. */
function timed(argv: string[]): { ms: number; rssMb: number; stdout: string } {
  const timeFile = join(scratchDir, `time-${process.hrtime.bigint()}`);
  const t0 = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', '%M', '-o', timeFile, ...argv], { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const ms = msSince(t0);
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed (${r.status}):\n${r.stderr}`);
  const kb = Number(readFileSync(timeFile, 'utf8').trim().split('\n').at(-1));
  rmSync(timeFile);
  return { ms, rssMb: kb / 1024, stdout: r.stdout };
}

function ours(repo: string, ref: string, db: string): OursResult & { rssMb: number } {
  const r = timed([process.execPath, '--import', 'tsx', fileURLToPath(import.meta.url), '--ours', repo, ref, db]);
  const res = JSON.parse(r.stdout) as OursResult;
  // A problem is a file the parsers could not read (node_modules holds test fixtures that are not packages):
  // counted in the table, not a failure of the run.
  return { ...res, rssMb: r.rssMb };
}

function trivy(repo: string, ref: string, cacheDir: string): { ms: number; rssMb: number; keys: string[] } {
  const out = join(scratchDir, `trivy-${process.hrtime.bigint()}.json`);
  const r = timed([
    TRIVY,
    'image',
    '--image-src',
    'remote',
    '--insecure',
    '--format',
    'cyclonedx',
    '--skip-db-update',
    '--skip-java-db-update',
    '--offline-scan',
    '--quiet',
    '--cache-dir',
    cacheDir,
    '--output',
    out,
    `${REGISTRY}/${repo}:${ref}`,
  ]);
  const bom = JSON.parse(readFileSync(out, 'utf8')) as { components?: { purl?: string }[] };
  rmSync(out);
  return { ms: r.ms, rssMb: r.rssMb, keys: [...new Set((bom.components ?? []).flatMap((c) => (c.purl ? [purlKey(c.purl)] : [])))] };
}

function sh(cmd: string, args: string[], cwd?: string): string {
  return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 });
}

/** Every package.json under `dir` (relative paths), symlinks not followed. */
function packageJsons(dir: string): string[] {
  return sh('find', [dir, '-name', 'package.json', '-type', 'f'])
    .split('\n')
    .filter(Boolean)
    .map((p) => relative(dir, p));
}

/** Builds the context of (a): see the header. */
function makeContext(dir: string): { packageJsons: number; dpkg: number } {
  const root = join(dir, 'rootfs');
  mkdirSync(join(root, 'var/lib/dpkg'), { recursive: true });
  mkdirSync(join(root, 'etc'), { recursive: true });
  copyFileSync('/var/lib/dpkg/status', join(root, 'var/lib/dpkg/status'));
  copyFileSync('/etc/os-release', join(root, 'etc/os-release'));
  copyFileSync('/etc/debian_version', join(root, 'etc/debian_version'));
  mkdirSync(join(root, 'app'), { recursive: true });
  cpSync(NODE_MODULES, join(root, 'app/node_modules'), { recursive: true, verbatimSymlinks: true, dereference: false });
  const jsons = packageJsons(join(root, 'app/node_modules'));
  for (const app of [2, 3, 4]) {
    for (const p of jsons) {
      const to = join(root, `srv/app-${app}/node_modules`, p);
      mkdirSync(join(to, '..'), { recursive: true });
      copyFileSync(join(root, 'app/node_modules', p), to);
    }
  }
  // Random filler in 50 MB files, half in each of two layers.
  const files = Math.max(2, Math.round(FILLER_MB / 50));
  for (let i = 0; i < files; i++) {
    const sub = join(dir, `filler${i % 2}`);
    mkdirSync(sub, { recursive: true });
    writeFileSync(join(sub, `f${i}.bin`), randomBytes(50 * 1024 * 1024));
  }
  writeFileSync(
    join(dir, 'Dockerfile'),
    'FROM localhost:5000/cache/busybox:latest\nCOPY filler0/ /var/filler/0/\nCOPY filler1/ /var/filler/1/\nCOPY rootfs/ /\n',
  );
  const dpkg = readFileSync('/var/lib/dpkg/status', 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('Package: ')).length;
  return { packageJsons: jsons.length * 4, dpkg };
}

function buildPush(dir: string, ref: string): void {
  const r = spawnSync('docker', ['buildx', 'build', '--push', '--provenance=false', '-t', `${REGISTRY}/${ref}`, dir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`docker buildx build ${ref} failed:\n${r.stderr}`);
}

/** The layer sizes (compressed) of repo:tag's image, from the registry. */
async function layerSizes(repo: string, tag: string): Promise<number[]> {
  const m = await new RegistryClient(REGISTRY).manifest(repo, tag);
  const body = JSON.parse(m!.body.toString('utf8')) as { layers: { size: number }[] };
  return body.layers.map((l) => l.size);
}

const MB = (b: number) => (b / 1e6).toFixed(1);
let scratchDir = '';
let TRIVY = '';

async function main(): Promise<void> {
  TRIVY = sh('bash', [join(ROOT, 'scripts/trivy.sh'), 'path']).trim();
  const scratch = new Scratch();
  scratchDir = scratch.dir('chb-bench-scan-');
  const repo = `bench-scan-${Date.now().toString(36)}/big`;
  const builtTags: string[] = [];
  try {
    const ctx = join(scratchDir, 'ctx');
    mkdirSync(ctx);
    let t0 = process.hrtime.bigint();
    const made = makeContext(ctx);
    console.error(`context made in ${(msSince(t0) / 1000).toFixed(1)} s (${made.dpkg} dpkg stanzas, ${made.packageJsons} package.json files)`);
    t0 = process.hrtime.bigint();
    buildPush(ctx, `${repo}:base`);
    builtTags.push(`${REGISTRY}/${repo}:base`);
    console.error(`base image built and pushed in ${(msSince(t0) / 1000).toFixed(1)} s`);
    const next = join(scratchDir, 'next');
    mkdirSync(join(next, 'newpkg'), { recursive: true });
    writeFileSync(join(next, 'newpkg/package.json'), '{"name":"bench-new-package","version":"1.0.0"}\n');
    writeFileSync(join(next, 'Dockerfile'), `FROM ${REGISTRY}/${repo}:base\nCOPY newpkg/ /app/node_modules/bench-new-package/\n`);
    buildPush(next, `${repo}:next`);
    builtTags.push(`${REGISTRY}/${repo}:next`);
    rmSync(ctx, { recursive: true, force: true });
    const sizes = await layerSizes(repo, 'base');
    const nextSizes = await layerSizes(repo, 'next');

    // The warm caches: a SQLite store and a Trivy cache dir that each listed the base once.
    const warmDb = join(scratchDir, 'warm.db');
    ours(repo, 'base', warmDb);
    const warmTrivy = join(scratchDir, 'warm-trivy');
    trivy(repo, 'base', warmTrivy);

    const a = { ours: [] as ReturnType<typeof ours>[], trivy: [] as ReturnType<typeof trivy>[] };
    const b = { cold: [] as ReturnType<typeof ours>[], warm: [] as ReturnType<typeof ours>[], trivyCold: [] as number[], trivyWarm: [] as number[] };
    const trivyStart: number[] = [];
    const idleRss: number[] = [];
    const load: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const fresh = (name: string) => join(scratchDir, `${name}-${i}`);
      const steps = [
        () => a.ours.push(ours(repo, 'base', `${fresh('cold-a')}.db`)),
        () => a.trivy.push(trivy(repo, 'base', fresh('trivy-a'))),
        () => b.cold.push(ours(repo, 'next', `${fresh('cold-b')}.db`)),
        () => {
          copyFileSync(warmDb, `${fresh('warm-b')}.db`);
          b.warm.push(ours(repo, 'next', `${fresh('warm-b')}.db`));
        },
        () => b.trivyCold.push(trivy(repo, 'next', fresh('trivy-cold-b')).ms),
        () => {
          cpSync(warmTrivy, fresh('trivy-warm-b'), { recursive: true });
          b.trivyWarm.push(trivy(repo, 'next', fresh('trivy-warm-b')).ms);
        },
        () => trivyStart.push(timed([TRIVY, '--version']).ms),
        () => idleRss.push(timed([process.execPath, '--import', 'tsx', fileURLToPath(import.meta.url), '--idle']).rssMb),
      ];
      for (const step of i % 2 === 0 ? steps : steps.reverse()) step();
      load.push(loadavg()[0]!);
      for (const f of ['trivy-a', 'trivy-cold-b', 'trivy-warm-b']) rmSync(fresh(f), { recursive: true, force: true });
      console.error(`run ${i + 1}/${RUNS}: ours ${a.ours.at(-1)!.ms.toFixed(0)} ms, trivy ${a.trivy.at(-1)!.ms.toFixed(0)} ms`);
    }

    const med = (xs: number[]) => stats(xs).median;
    const oursMs = a.ours.map((r) => r.ms);
    const trivyMs = a.trivy.map((r) => r.ms);
    console.log(`\n## Scanning: inventory against Trivy (${RUNS} runs, median (min-max))\n`);
    console.log(JSON.stringify(machine()));
    console.log(
      `image: ${sizes.length} layers, ${MB(sizes.reduce((s, n) => s + n, 0))} MB compressed (${sizes.map(MB).join(' + ')} MB); ${made.dpkg} dpkg stanzas, ${made.packageJsons} package.json files`,
    );
    console.log(`the new image: ${nextSizes.length} layers, its new one ${(nextSizes.at(-1)! / 1e3).toFixed(1)} kB`);
    console.log('');
    console.log('| (a) cold, from the registry | ours | Trivy | ours / Trivy |');
    console.log('| --- | --- | --- | --- |');
    console.log(`| wall time (ms) | ${spread(stats(oursMs))} | ${spread(stats(trivyMs))} | ${ratio(med(oursMs), med(trivyMs))} |`);
    const trivyWork = trivyMs.map((ms) => ms - med(trivyStart));
    console.log(`| wall time less Trivy's start (ms) | ${spread(stats(oursMs))} | ${spread(stats(trivyWork))} | ${ratio(med(oursMs), med(trivyWork))} |`);
    const oursRss = a.ours.map((r) => r.rssMb);
    const trivyRss = a.trivy.map((r) => r.rssMb);
    console.log(`| peak RSS (MB) | ${spread(stats(oursRss))} | ${spread(stats(trivyRss))} | ${ratio(med(oursRss), med(trivyRss))} |`);
    const oursKeys = new Set(a.ours[0]!.keys);
    const trivyKeys = new Set(a.trivy[0]!.keys);
    const kinds = (keys: Set<string>) => {
      const n: Record<string, number> = {};
      for (const k of keys) n[k.split(' ')[0]!] = (n[k.split(' ')[0]!] ?? 0) + 1;
      return Object.entries(n)
        .map(([t, c]) => `${c} ${t}`)
        .join(', ');
    };
    console.log(`| packages listed (by path) | ${a.ours[0]!.packages} | | |`);
    console.log(`| distinct packages (type, name, version) | ${oursKeys.size}: ${kinds(oursKeys)} | ${trivyKeys.size}: ${kinds(trivyKeys)} | |`);
    const missing = [...trivyKeys].filter((k) => !oursKeys.has(k));
    const extra = new Set([...oursKeys].filter((k) => !trivyKeys.has(k)));
    console.log(`| Trivy's not in ours / ours not in Trivy's | ${missing.length} | ${extra.size}: ${kinds(extra)} | |`);
    for (const k of missing.slice(0, 10)) console.error(`only Trivy's: ${k}`);
    for (const k of [...extra].slice(0, 20)) console.error(`only ours: ${k}`);
    console.log(`| registry bytes read (MB) | ${MB(med(a.ours.map((r) => r.bytes)))} | | |`);
    console.log(`| problems named | ${a.ours[0]!.problems.length} | | |`);
    for (const p of a.ours[0]!.problems.slice(0, 5)) console.error(`problem: ${p}`);
    console.log('');
    console.log('| (b) a new image on that base | ours cold | ours warm | warm / cold | Trivy cold | Trivy warm |');
    console.log('| --- | --- | --- | --- | --- | --- |');
    const coldMs = b.cold.map((r) => r.ms);
    const warmMs = b.warm.map((r) => r.ms);
    console.log(
      `| wall time (ms) | ${spread(stats(coldMs))} | ${spread(stats(warmMs), 1)} | ${ratio(med(warmMs), med(coldMs))} | ${spread(stats(b.trivyCold))} | ${spread(stats(b.trivyWarm))} |`,
    );
    console.log(`| registry bytes read | ${MB(med(b.cold.map((r) => r.bytes)))} MB | ${med(b.warm.map((r) => r.bytes))} B | | | |`);
    console.log(`| layers from the cache | ${b.cold[0]!.cachedLayers} of ${nextSizes.length} | ${b.warm[0]!.cachedLayers} of ${nextSizes.length} | | | |`);
    console.log(`\ntrivy --version (its process start): ${spread(stats(trivyStart))} ms`);
    console.log(`our child with its modules loaded and no inventory (Node + tsx): peak RSS ${spread(stats(idleRss))} MB`);
    console.log(`1-minute load average after each run: ${load.map((l) => l.toFixed(1)).join(', ')}`);
  } finally {
    // The docker driver keeps each built image in dockerd's store too: gigabytes here.
    for (const t of builtTags) spawnSync('docker', ['image', 'rm', '-f', t], { stdio: 'ignore' });
    scratch.remove();
  }
}

if (process.argv[2] === '--idle') {
  process.stdout.write('{}');
} else if (process.argv[2] === '--ours') {
  await oursChild(process.argv[3]!, process.argv[4]!, process.argv[5]!);
} else {
  await main();
}
