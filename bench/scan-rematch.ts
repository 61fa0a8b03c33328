/**
 * Re-matching every kept image after an import (issue 26), at scale, in a real SQLite store file:
 *
 *   npx tsx bench/scan-rematch.ts                 (no stack needed)
 *   BENCH_IMAGES=500 BENCH_RECORDS=5000 npx tsx bench/scan-rematch.ts    (a quick look)
 *   BENCH_PROF=1 npx tsx bench/scan-rematch.ts    (the re-match under node --cpu-prof; the .cpuprofile's path is printed)
 *   BENCH_AGAIN=0 npx tsx bench/scan-rematch.ts   (without the second re-match)
 *
 * The data is generated, with a fixed seed, in the shapes the scan stores and OSV publishes:
 *  - BENCH_RECORDS OSV records (70 % npm, 30 % Debian:12), written in OSV's own export format (a zip per ecosystem,
 *    one record per entry, as OSV publishes `<ecosystem>/all.zip`) and imported with importOsv, so the import is timed too. npm records:
 *    SEMVER ranges `introduced`/`fixed` (some `last_affected`, some two ranges, some an enumerated `versions`
 *    list), GHSA ids with CVE aliases, a CVSS 3.1 vector on most. Debian records: ECOSYSTEM ranges on the source
 *    package, some unfixed (`introduced: 0` only), OSV.dev's `versions` list, DSA/DLA/DEBIAN-CVE ids.
 *  - 20 base layers, Debian 12 point releases (os-release and a dpkg status of ~100 packages, parsed from a
 *    generated status file by the scan's own parser); every image sits on one of them.
 *  - BENCH_IMAGES images, each with 1-3 layers of its own holding 50-500 npm packages (one package.json each,
 *    as node_modules has them), popular packages far more often than the rest.
 *  - Stored the way a scan stores them: store.layerInventories.putLayer (LayerInventory JSON) and putImage,
 *    store.findings.replace (image_scans: the images were scanned before any record was imported, so they have no
 *    findings yet) and the registry inventory's image_manifests (InventoryStore.addManifest), so each is kept.
 *
 * Each measured step runs in a child process of its own (node with tsx's loader), so its peak RSS
 * (process.resourceUsage().maxRSS) is its own and not the generator's: the import, the re-match that finds
 * everything new, and a second re-match against the same records (nothing new: the steady cost of an import
 * that changes little).
 */
import Database from 'better-sqlite3';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { importOsv, recordsFor } from '../src/scan/vulndb.js';
import { SqliteLayerCache } from '../src/scan/layer-cache.js';
import { rematchAll } from '../src/scan/rematch.js';
import type { LayerFileFacts, LayerInventory } from '../src/scan/layer-inventory.js';
import { parsePackages } from '../src/scan/packages/index.js';
import type { Package } from '../src/scan/packages/types.js';
import { openDb } from '../src/store/db.js';
import { InventoryStore } from '../src/store/inventory.js';
import { Store } from '../src/store/store.js';
import { Scratch } from './lib/scratch.js';

const IMAGES = Number(process.env.BENCH_IMAGES ?? 10_000);
const RECORDS = Number(process.env.BENCH_RECORDS ?? 50_000);
const BASES = 20;
const NPM_NAMES = 20_000;
const DEBIAN_SOURCES = 2_000;
const SELF = fileURLToPath(import.meta.url);

/** mulberry32: the same data on every run, so runs compare. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = (
  'array async babel body buffer cache chalk class color config cookie core cross css date debug deep define dom ' +
  'emit env error event express extend fast file form glob graph hash http image ini json jwt lodash lru map merge ' +
  'mime minimist mkdirp ms node object parse path picker plugin postcss promise proxy query react read redux ' +
  'regex request resolve rollup safe semver send server shell slash source split stream string style tar template ' +
  'text through tmp token type uri url util uuid validate vue walk webpack which worker ws xml yaml yargs zip'
).split(' ');

interface NpmName {
  name: string;
  /** The newest version: [major, minor, patch]. */
  latest: [number, number, number];
}

interface DebSource {
  name: string;
  upstream: string;
  revision: number;
}

const v3 = (v: readonly number[]) => v.join('.');

/** A uniform index under n, skewed towards 0 (`skew` 1: uniform; 3: the first few percent take most draws). */
const skewed = (rand: () => number, n: number, skew: number) => Math.min(n - 1, Math.floor(n * rand() ** skew));

function npmNames(rand: () => number): NpmName[] {
  const seen = new Set<string>();
  const out: NpmName[] = [];
  for (let i = 0; out.length < NPM_NAMES; i++) {
    const a = WORDS[Math.floor(rand() * WORDS.length)]!;
    const b = WORDS[Math.floor(rand() * WORDS.length)]!;
    let name = rand() < 0.15 ? `@${a}/${b}` : rand() < 0.5 ? a + '-' + b : `${a}-${b}-${i % 97}`;
    if (seen.has(name)) name = `${name}-${i}`;
    seen.add(name);
    out.push({ name, latest: [Math.floor(rand() * 12), Math.floor(rand() * 30), Math.floor(rand() * 20)] });
  }
  return out;
}

/** A version a lockfile holds: the newest half the time, else one some minors or patches older. */
function installedNpm(rand: () => number, n: NpmName): string {
  const [ma, mi, pa] = n.latest;
  if (rand() < 0.5) return v3(n.latest);
  if (mi > 0 && rand() < 0.6) return v3([ma, Math.floor(rand() * mi), Math.floor(rand() * 20)]);
  return v3([ma, mi, Math.floor(rand() * (pa + 1))]);
}

function debSources(rand: () => number): DebSource[] {
  return Array.from({ length: DEBIAN_SOURCES }, (_, i) => ({
    name: i % 3 === 0 ? `lib${WORDS[i % WORDS.length]}${i}` : `${WORDS[i % WORDS.length]}${i}`,
    upstream: `${1 + Math.floor(rand() * 9)}.${Math.floor(rand() * 20)}.${Math.floor(rand() * 10)}`,
    revision: 1 + Math.floor(rand() * 5),
  }));
}

/** Debian's version of source `s` in point release `point` of bookworm: a security update now and then. */
const debVersion = (s: DebSource, point: number, idx: number) => {
  const updates = Math.floor((point * ((idx % 7) + 1)) / 20);
  return `${s.upstream}-${s.revision}${updates ? `+deb12u${updates}` : ''}`;
};

const cvss = (rand: () => number) =>
  `CVSS:3.1/AV:${rand() < 0.7 ? 'N' : 'L'}/AC:${rand() < 0.7 ? 'L' : 'H'}/PR:N/UI:${rand() < 0.5 ? 'N' : 'R'}/S:U/C:${'HLN'[Math.floor(rand() * 3)]}/I:${'HLN'[Math.floor(rand() * 3)]}/A:${'HLN'[Math.floor(rand() * 3)]}`;

const iso = (rand: () => number) => new Date(Date.UTC(2019, 0, 1) + Math.floor(rand() * 6 * 365 * 86400e3)).toISOString();

function npmRecord(rand: () => number, i: number, names: NpmName[]): object {
  const n = names[skewed(rand, names.length, 1.3)]!;
  const [ma, mi, pa] = n.latest;
  // Most advisories were fixed long before the newest version; a few are fixed in it or not at all yet.
  const r = rand();
  const fixed = r < 0.93 ? [Math.max(0, ma - Math.floor(rand() * 2)), Math.floor((rand() * mi) / 4), Math.floor(rand() * 20)] : r < 0.98 ? [ma, mi, pa] : null;
  const events: object[] = [{ introduced: rand() < 0.6 ? '0' : v3([Math.max(0, ma - 1), 0, 0]) }];
  if (fixed) events.push({ fixed: v3(fixed) });
  else events.push({ last_affected: v3([ma, Math.floor(mi / 2), 0]) });
  const ranges: object[] = [{ type: 'SEMVER', events }];
  if (ma > 0 && rand() < 0.1) ranges.push({ type: 'SEMVER', events: [{ introduced: v3([ma - 1, 0, 0]) }, { fixed: v3([ma - 1, mi, 1]) }] });
  const affected: Record<string, unknown> = { package: { ecosystem: 'npm', name: n.name, purl: `pkg:npm/${n.name.replace('@', '%40')}` }, ranges };
  // Some records enumerate affected versions too (below the fix, as a registry lists them).
  if (fixed && rand() < 0.15) affected.versions = Array.from({ length: 1 + Math.floor(rand() * 8) }, (_, k) => v3([fixed[0]!, 0, k]));
  const ghsa = `GHSA-${i.toString(36).padStart(4, '0')}-${Math.floor(rand() * 46656).toString(36)}-bnch`;
  return {
    schema_version: '1.6.0',
    id: ghsa,
    modified: iso(rand),
    published: iso(rand),
    aliases: [`CVE-${2019 + Math.floor(rand() * 6)}-${10000 + i}`],
    summary: `${n.name} before ${fixed ? v3(fixed) : 'any fix'} allows something it should not`,
    details: 'Generated for the re-match benchmark. '.repeat(1 + Math.floor(rand() * 6)),
    severity: rand() < 0.85 ? [{ type: 'CVSS_V3', score: cvss(rand) }] : [],
    affected: [affected],
    references: [{ type: 'ADVISORY', url: `https://example.invalid/advisories/${ghsa}` }],
    database_specific: { severity: ['LOW', 'MODERATE', 'HIGH', 'CRITICAL'][Math.floor(rand() * 4)], github_reviewed: true, cwe_ids: ['CWE-79'] },
  };
}

function debianRecord(rand: () => number, i: number, sources: DebSource[]): object {
  const idx = skewed(rand, sources.length, 1.5);
  const s = sources[idx]!;
  const r = rand();
  // Most are fixed at or before bookworm's first version; some in a point release; some not yet (no `fixed`).
  const fixedAt = r < 0.9 ? `${s.upstream}-${Math.max(1, s.revision - 1)}` : r < 0.94 ? debVersion(s, 1 + Math.floor(rand() * 19), idx) : null;
  const events: object[] = [{ introduced: '0' }];
  if (fixedAt) events.push({ fixed: fixedAt });
  const id = r < 0.3 ? `DSA-${4000 + i}-1` : r < 0.5 ? `DLA-${3000 + i}-1` : `DEBIAN-CVE-${2019 + Math.floor(rand() * 6)}-${20000 + i}`;
  return {
    id,
    modified: iso(rand),
    published: iso(rand),
    upstream: [`CVE-${2019 + Math.floor(rand() * 6)}-${20000 + i}`],
    summary: `${s.name} security update`,
    details: 'Generated for the re-match benchmark.',
    affected: [
      {
        package: { ecosystem: 'Debian:12', name: s.name, purl: `pkg:deb/debian/${s.name}?arch=source` },
        ranges: [{ type: 'ECOSYSTEM', events }],
        // OSV.dev enumerates the affected versions it knows: all below the fix (none of bookworm's when fixed before it).
        versions: fixedAt === null ? [`${s.upstream}-${s.revision}`, debVersion(s, 5, idx)].filter((v, k, all) => all.indexOf(v) === k) : [`${s.upstream}-0.1`],
        ecosystem_specific: { urgency: ['low', 'medium', 'high', 'not yet assigned'][Math.floor(rand() * 4)] },
      },
    ],
    schema_version: '1.6.0',
  };
}

/** Writes `records` as one OSV export zip (`<dir>/<ecosystem>-all.zip`, an entry per record) with the zip tool. */
function writeZip(dir: string, ecosystem: string, records: { id: string }[]): string {
  const folder = join(dir, ecosystem);
  mkdirSync(folder, { recursive: true });
  for (const r of records) writeFileSync(join(folder, `${r.id}.json`), JSON.stringify(r));
  const zip = join(dir, `${ecosystem}-all.zip`);
  // -j: entries named by the record alone, as OSV's exports have them; -q: 35,000 lines are noise.
  execFileSync('sh', ['-c', `cd "${folder}" && ls | zip -q -j "${zip}" -@`]);
  return zip;
}

const sha = (rand: () => number) => 'sha256:' + Array.from({ length: 64 }, () => '0123456789abcdef'[Math.floor(rand() * 16)]).join('');

function baseLayer(rand: () => number, point: number, sources: DebSource[]): LayerInventory {
  // ~100 binary packages from ~85 source packages: the first 70 in every base, the rest differ between bases.
  const picked = [...Array.from({ length: 70 }, (_, k) => k), ...Array.from({ length: 15 }, () => 70 + Math.floor(rand() * 130))];
  const stanzas: string[] = [];
  for (const idx of new Set(picked)) {
    const s = sources[idx]!;
    const version = debVersion(s, point, idx);
    const binaries = idx % 4 === 0 ? [s.name, `${s.name}-common`] : idx % 9 === 0 ? [s.name, `${s.name}-bin`, `${s.name}-data`] : [s.name];
    for (const b of binaries) {
      stanzas.push(
        `Package: ${b}\nStatus: install ok installed\nPriority: optional\nSection: libs\nInstalled-Size: ${100 + idx}\nMaintainer: Debian <debian@example.invalid>\n` +
          `Architecture: amd64\n${b === s.name ? '' : `Source: ${s.name}\n`}Version: ${version}\nDescription: ${b}\n generated for the benchmark\n`,
      );
    }
  }
  const status = parsePackages('dpkg-status', 'var/lib/dpkg/status', Buffer.from(stanzas.join('\n')));
  if (status.problems.length) throw new Error(`the generated dpkg status does not parse: ${status.problems.join('; ')}`);
  return {
    digest: sha(rand),
    files: [
      { path: 'etc/os-release', kind: 'os-release', distro: { id: 'debian', versionId: '12', versionCodename: 'bookworm' } },
      { path: 'var/lib/dpkg/status', kind: 'packages', packages: status.packages },
    ],
    whiteouts: [],
    opaque: [],
    problems: [],
  };
}

/** One npm package as the scan's parser makes it from its package.json (memoised: the pool repeats a lot). */
const npmPackage = (() => {
  const seen = new Map<string, Package>();
  return (name: string, version: string): Package => {
    const key = `${name}@${version}`;
    let p = seen.get(key);
    if (!p) {
      const path = `app/node_modules/${name}/package.json`;
      const r = parsePackages('npm-package-json', path, Buffer.from(JSON.stringify({ name, version })));
      if (r.packages.length !== 1) throw new Error(`${key} did not parse: ${r.problems.join('; ')}`);
      seen.set(key, (p = r.packages[0]!));
    }
    return p;
  };
})();

function npmLayer(rand: () => number, names: NpmName[]): LayerInventory {
  const count = 50 + Math.floor(rand() * 451);
  const files: LayerFileFacts[] = [];
  const taken = new Set<number>();
  while (files.length < count) {
    const i = skewed(rand, names.length, 3);
    if (taken.has(i)) {
      if (taken.size >= names.length) break;
      continue;
    }
    taken.add(i);
    const p = npmPackage(names[i]!.name, installedNpm(rand, names[i]!));
    files.push({ path: p.path.slice(1), kind: 'packages', packages: [p] });
  }
  return { digest: sha(rand), files, whiteouts: [], opaque: [], problems: [] };
}

/** Generates the records (as zips) and the stored images; answers the zips and what was stored. */
function generate(dir: string, dbPath: string): { zips: string[]; layers: number; npmPackages: number; layerBytes: number; seconds: number } {
  const t0 = performance.now();
  const rand = prng(26);
  const names = npmNames(rand);
  const sources = debSources(rand);
  const npmCount = Math.round(RECORDS * 0.7);
  const zips = [
    writeZip(
      dir,
      'npm',
      Array.from({ length: npmCount }, (_, i) => npmRecord(rand, i, names) as { id: string }),
    ),
    writeZip(
      dir,
      'Debian',
      Array.from({ length: RECORDS - npmCount }, (_, i) => debianRecord(rand, i, sources) as { id: string }),
    ),
  ];
  const db = openDb(dbPath);
  const store = new Store(db);
  const registry = new InventoryStore(db);
  const bases = Array.from({ length: BASES }, (_, k) => baseLayer(rand, k, sources));
  let layers = 0;
  let npmPackages = 0;
  let layerBytes = 0;
  const put = (l: LayerInventory) => {
    const json = JSON.stringify(l);
    layerBytes += json.length;
    layers++;
    store.layerInventories.putLayer(l.digest, json);
  };
  store.transaction(() => bases.forEach(put));
  const at = new Date(Date.UTC(2026, 0, 1)).toISOString();
  // Batches of images per transaction: one per image would time the disk's fsync, not the generator.
  for (let first = 0; first < IMAGES; first += 500) {
    store.transaction(() => {
      for (let i = first; i < Math.min(IMAGES, first + 500); i++) {
        const base = bases[i % BASES]!;
        const own = Array.from({ length: 1 + Math.floor(rand() * 3) }, () => npmLayer(rand, names));
        for (const l of own) {
          put(l);
          npmPackages += l.files.length;
        }
        const manifest = sha(rand);
        const layerDigests = [base.digest, ...own.map((l) => l.digest)];
        store.layerInventories.putImage({
          digest: manifest,
          layers: layerDigests,
          distro: { id: 'debian', versionId: '12', versionCodename: 'bookworm' },
          problems: [],
        });
        registry.addManifest(
          {
            repository: `team${i % 50}/app${i % 400}`,
            digest: manifest,
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            children: [],
            tombstone: false,
          },
          layerDigests.map((d) => ({ digest: d, size: 1_000_000 })),
        );
        store.findings.replace(manifest, 'linux/amd64', manifest, [], at);
      }
    });
  }
  db.$client.close();
  return { zips, layers, npmPackages, layerBytes, seconds: (performance.now() - t0) / 1000 };
}

/** What a measured child prints on its last line. */
interface Phase {
  seconds: number;
  maxRssMb: number;
  heapUsedMb: number;
  detail: Record<string, unknown>;
}

async function child(phase: string, dbPath: string, args: string[]): Promise<void> {
  const store = new Store(openDb(dbPath));
  let detail: Record<string, unknown>;
  const t0 = performance.now();
  if (phase === 'import') {
    const r = await importOsv(store, args);
    detail = { ecosystems: r.ecosystems, problems: r.problems.slice(0, 5), moreProblems: r.moreProblems };
  } else if (phase === 'memory') {
    detail = memoryParts(store);
  } else {
    const r = await rematchAll(store, new Date(), (done, total) => {
      if (done % 2000 === 0) process.stderr.write(`  re-match ${done}/${total}\n`);
    });
    detail = { images: r.images, added: r.added, removed: r.removed, skipped: r.skipped.length, firstSkipped: r.skipped[0] ?? null };
  }
  const seconds = (performance.now() - t0) / 1000;
  const out: Phase = {
    seconds,
    maxRssMb: process.resourceUsage().maxRSS / 1024,
    heapUsedMb: process.memoryUsage().heapUsed / 2 ** 20,
    detail,
  };
  console.log(JSON.stringify(out));
}

/**
 * Where a re-match's memory goes, part by part (heap in use after a full gc, before and after each part is held):
 * every import's records parsed, as rematchAll's lookup keeps those of each (ecosystem, name) it was asked about
 * (all of them: an upper bound), and 2,000 layers parsed, as many as its layer memo keeps.
 */
function memoryParts(store: Store): Record<string, unknown> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('the memory phase needs node --expose-gc');
  const heap = () => {
    gc();
    return process.memoryUsage().heapUsed / 2 ** 20;
  };
  const sqlite = store.db.$client;
  const h0 = heap();
  // Raw SQL: the store has no listing of every package name, and the benchmark only counts.
  const names = sqlite.prepare('SELECT DISTINCT ecosystem, name FROM vuln_packages').all() as { ecosystem: string; name: string }[];
  const records = names.map((n) => recordsFor(store, n.ecosystem, n.name));
  const h1 = heap();
  const digests = sqlite.prepare('SELECT digest FROM layer_inventories ORDER BY rowid DESC LIMIT 2000').all() as { digest: string }[];
  const cache = new SqliteLayerCache(store.layerInventories);
  const layers = digests.map((d) => cache.get(d.digest));
  const h2 = heap();
  const packages = layers.reduce((a, l) => a + (l?.files.reduce((b, f) => b + (f.kind === 'packages' ? f.packages.length : 0), 0) ?? 0), 0);
  return {
    recordsMb: Math.round(h1 - h0),
    names: names.length,
    records: records.reduce((a, r) => a + r.length, 0),
    layersMb: Math.round(h2 - h1),
    layers: layers.length,
    packages,
  };
}

/** Runs one phase in a child process (see the module's comment); with `prof`, under --cpu-prof into `profDir`. */
function measure(phase: string, dbPath: string, args: string[], profDir?: string): Phase {
  const flags = ['--import', 'tsx', ...(phase === 'memory' ? ['--expose-gc'] : []), ...(profDir ? ['--cpu-prof', '--cpu-prof-dir', profDir] : [])];
  const r = spawnSync(process.execPath, [...flags, SELF, '--phase', phase, dbPath, ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 1 << 26,
  });
  const last = r.stdout.trim().split('\n').at(-1) ?? '';
  if (r.status !== 0 || !last.startsWith('{')) throw new Error(`phase ${phase} failed (exit ${r.status}):\n${r.stdout}`);
  return JSON.parse(last) as Phase;
}

/** How many stored findings each ecosystem has, over all images (read apart from the timed step). */
function findingsByEcosystem(dbPath: string): Record<string, number> {
  const db = new Database(dbPath, { readonly: true });
  try {
    // Raw SQL: the finding is src/scan's JSON, which the store keeps opaque.
    const rows = db.prepare("SELECT json_extract(finding, '$.ecosystem') AS e, count(*) AS n FROM image_findings GROUP BY e").all() as {
      e: string;
      n: number;
    }[];
    return Object.fromEntries(rows.map((r) => [r.e, r.n]));
  } finally {
    db.close();
  }
}

async function main(): Promise<void> {
  const tmp = new Scratch();
  try {
    const dir = tmp.dir('chb-rematch-');
    const dbPath = join(dir, 'data', 'codehub.db');
    process.stderr.write(`generating ${RECORDS} records and ${IMAGES} images in ${dir}\n`);
    const g = generate(dir, dbPath);
    const dbMb = statSync(dbPath).size / 2 ** 20;
    const zipMb = g.zips.reduce((a, z) => a + statSync(z).size, 0) / 2 ** 20;
    console.log(
      `generated in ${g.seconds.toFixed(1)} s: ${IMAGES} images on ${BASES} bases, ${g.layers} layers (${(g.layerBytes / 2 ** 20).toFixed(0)} MB of inventory JSON), ` +
        `${g.npmPackages} npm packages in own layers (${(g.npmPackages / IMAGES).toFixed(0)} per image); database ${dbMb.toFixed(0)} MB; zips ${zipMb.toFixed(1)} MB`,
    );
    const imp = measure('import', dbPath, g.zips);
    console.log(`import: ${imp.seconds.toFixed(1)} s, peak RSS ${imp.maxRssMb.toFixed(0)} MB, ${JSON.stringify(imp.detail)}`);
    const profDir = process.env.BENCH_PROF ? tmp.dir('chb-rematch-prof-') : undefined;
    const first = measure('rematch', dbPath, [], profDir);
    const d = first.detail as { images: number; added: number };
    console.log(
      `re-match (all new): ${first.seconds.toFixed(1)} s, ${(d.images / first.seconds).toFixed(0)} images/s, peak RSS ${first.maxRssMb.toFixed(0)} MB ` +
        `(heap in use at the end ${first.heapUsedMb.toFixed(0)} MB), ${JSON.stringify(first.detail)}`,
    );
    console.log(`findings per ecosystem: ${JSON.stringify(findingsByEcosystem(dbPath))}`);
    if (profDir) {
      // The profile outlives the scratch folder: it is what the report reads.
      const kept = join(process.cwd(), `rematch-${Date.now()}.cpuprofile`);
      const [file] = readdirSync(profDir);
      if (file) execFileSync('cp', [join(profDir, file), kept]);
      console.log(`cpu profile: ${kept}`);
    }
    const mem = measure('memory', dbPath, []);
    console.log(`where a re-match's memory goes (heap MB after a full gc): ${JSON.stringify(mem.detail)}`);
    if (process.env.BENCH_AGAIN === '0') return;
    const second = measure('rematch', dbPath, []);
    console.log(
      `re-match again (nothing new): ${second.seconds.toFixed(1)} s, ${((second.detail as { images: number }).images / second.seconds).toFixed(0)} images/s, ` +
        `peak RSS ${second.maxRssMb.toFixed(0)} MB, ${JSON.stringify(second.detail)}; database now ${(statSync(dbPath).size / 2 ** 20).toFixed(0)} MB`,
    );
  } finally {
    tmp.remove();
  }
}

const at = process.argv.indexOf('--phase');
if (at >= 0) await child(process.argv[at + 1]!, process.argv[at + 2]!, process.argv.slice(at + 3));
else await main();
