/**
 * Registry operations at scale: 100 image repositories of 10 owners, each with 100 builds of branch `main`
 * (a sha tag each, plus `main` and `latest` on the newest: 10,200 tags, every one its own manifest), in a
 * registry of this benchmark's own (scripts/stack.sh registry) and a database whose builds pushed them.
 *
 * Measured with codehub-build's own parts in this process (the registry client counts its requests):
 *  - the usage reconcile, first from an empty inventory (a GET per tag) and then again (a HEAD per tag);
 *  - retention planning from the inventory alone (no request), and a gc dry run (a tag list per repository);
 *  - gc with keep 10, days 0: 90 manifests deleted per repository, 9,000 in all;
 *  - the raw baseline in the same run: a second, identical set of 100 repositories, from which a plain loop
 *    deletes the same 9,000 manifests by digest (it is told which), 8 requests in flight as gc has; and what
 *    a tool without an inventory must read first to know the digests (a tag list, then a HEAD per tag).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { defaultConfig } from '../src/config/parse.js';
import { silentLogger } from '../src/log.js';
import { RegistryClient } from '../src/registry/client.js';
import { registryOps } from '../src/registry/ops.js';
import { loadSettings } from '../src/settings.js';
import { openDb } from '../src/store/db.js';
import { Store } from '../src/store/store.js';
import { mapLimit } from '../src/util/map-limit.js';
import { RepoStore } from '../src/git/repos.js';
import { LogStore } from '../src/logs/store.js';
import { freePort, stack } from '../test/helpers/server.js';
import { Scratch } from './lib/scratch.js';
import { msSince, stats, type Stats } from './lib/stats.js';

const OWNERS = 10;
const REPOS = 10;
const BUILDS = 100;
const KEEP = 10;
const PARALLEL = 8;

export interface Phase {
  ms: number;
  requests: number;
}

export interface RegistryOpsResult {
  repositories: number;
  tags: number;
  removed: number;
  firstReconcile: Phase;
  reconcile: Phase;
  planOffline: Phase;
  dryRun: Phase;
  gc: Phase;
  rawRead: Phase;
  rawDelete: Phase;
  fillSeconds: number;
  /** The push-time quota check (usage of an owner with 1,020 tags against their quota), per call. */
  quotaCheck: Stats;
}

const OCI = 'application/vnd.oci.image.manifest.v1+json';

/** Pushes `count` unique manifests (a shared config and layer, a unique annotation) to repository `name`; returns their digests. */
async function fillRepository(client: RegistryClient, name: string, tags: string[][]): Promise<string[]> {
  const layer = await client.ensureBlob(name, randomBytes(2048));
  const config = Buffer.from(
    JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [`sha256:${randomBytes(32).toString('hex')}`] } }),
  );
  const configDigest = await client.ensureBlob(name, config);
  return mapLimit(tags, PARALLEL, async (names, i) => {
    const body = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layer, size: 2048 }],
        annotations: { 'dev.codehub.build.id': String(i), nonce: randomBytes(8).toString('hex') },
      }),
    );
    let digest = '';
    for (const t of names) digest = await client.putManifest(name, t, OCI, body);
    return digest;
  });
}

const hex = (n: number, width = 40) => n.toString(16).padStart(width, '0');

export async function registryOpsBench(progress: (s: string) => void): Promise<RegistryOpsResult> {
  const addr = `127.0.0.1:${await freePort()}`;
  const up = await stack('registry', 'up', addr);
  if (up.exitCode !== 0) throw new Error(`could not start a registry on ${addr}: ${up.all}`);
  const tmp = new Scratch();
  try {
    const dataDir = tmp.dir('chb-regops-');
    const settings = { ...loadSettings({ CODEHUB_DATA_DIR: dataDir, CODEHUB_REGISTRY: addr }), retentionKeep: KEEP, retentionDays: 0 };
    const store = new Store(openDb(join(dataDir, 'codehub.db')));
    const repos = new RepoStore(dataDir);
    const ops = registryOps({ settings, store, repos, logs: new LogStore(join(dataDir, 'logs')), log: silentLogger });
    const filler = new RegistryClient(addr, 30_000);

    // The database and git side: users, repos whose branch main has a real head commit, and their builds.
    const t0 = Date.now();
    const plan: { owner: string; repo: string; commits: string[] }[] = [];
    for (let o = 0; o < OWNERS; o++) {
      const owner = `bench-${o}`;
      store.accounts.createUser(owner, `hash-${o}-${randomBytes(4).toString('hex')}`);
      for (let r = 0; r < REPOS; r++) {
        const repo = `app${r}`;
        const gitdir = await repos.ensure(owner, repo);
        const tree = execFileSync('git', ['--git-dir', gitdir, 'hash-object', '-w', '-t', 'tree', '--stdin'], { input: '' }).toString().trim();
        const head = execFileSync('git', ['--git-dir', gitdir, 'commit-tree', tree, '-m', 'head'], {
          env: { ...process.env, GIT_AUTHOR_NAME: 'b', GIT_AUTHOR_EMAIL: 'b@x', GIT_COMMITTER_NAME: 'b', GIT_COMMITTER_EMAIL: 'b@x' },
        })
          .toString()
          .trim();
        execFileSync('git', ['--git-dir', gitdir, 'update-ref', 'refs/heads/main', head]);
        const commits = Array.from({ length: BUILDS }, (_, i) => (i === BUILDS - 1 ? head : hex(o * 1_000_000 + r * 1000 + i)));
        plan.push({ owner, repo, commits });
      }
    }
    // Two identical registries' worth: one set for gc, one for the raw baseline.
    for (const set of ['', 'raw-']) {
      for (const [n, p] of plan.entries()) {
        if (n % 20 === 0) progress(`  filling the registry: ${set ? 'baseline' : 'gc'} repositories ${n + 1}-${n + 20} of ${plan.length}`);
        const name = `${p.owner}/${set}${p.repo}`;
        const tags = p.commits.map((c, i) => (i === BUILDS - 1 ? [c, 'main', 'latest'] : [c]));
        const digests = await fillRepository(filler, name, tags);
        if (set) continue;
        const repoRow = store.repos.ensure(p.owner, p.repo);
        store.repos.setDefaultBranch(repoRow.id, 'main');
        const finished = (i: number) => new Date(Date.now() - (BUILDS - i) * 60_000).toISOString();
        store.builds.insert(
          p.commits.map((c, i) => ({
            repoId: repoRow.id,
            repo: `${p.owner}/${p.repo}`,
            owner: p.owner,
            ref: 'refs/heads/main',
            refType: 'branch' as const,
            refName: 'main',
            commitSha: c,
            image: p.repo,
            status: 'succeeded' as const,
            pusher: p.owner,
            digest: digests[i]!,
            finishedAt: finished(i),
            config: defaultConfig(p.repo).images[0]! as unknown as Record<string, unknown>,
          })),
          (_b, i) => tags[i]!.map((t) => `${addr}/${name}:${t}`),
        );
      }
    }
    const fillSeconds = (Date.now() - t0) / 1000;
    const gcRepos = new Set(plan.map((p) => `${p.owner}/${p.repo}`));
    const measure = async (what: string, fn: () => Promise<unknown>): Promise<Phase> => {
      progress(`  ${what}`);
      const r0 = ops.client.requests;
      const s = process.hrtime.bigint();
      await fn();
      return { ms: msSince(s), requests: ops.client.requests - r0 };
    };
    const include = (owner: string) => owner.startsWith('bench-');
    // The reconcile reads the baseline repositories too (same namespaces); the figures say so.
    const firstReconcile = await measure('usage reconcile, empty inventory', () => ops.inventory.reconcile(include));
    const reconcile = await measure('usage reconcile, again', () => ops.inventory.reconcile(include));
    // Only gc's half is gc's to touch: the baseline repositories leave the inventory.
    for (const r of ops.inventoryStore.repositories())
      if (!gcRepos.has(r)) for (const m of ops.inventoryStore.manifestsOf(r)) ops.inventoryStore.removeManifest(r, m.digest);
    const checks: number[] = [];
    for (let i = 0; i < 200; i++) {
      const c = process.hrtime.bigint();
      await ops.quotas.check(`bench-${i % OWNERS}/app0`);
      checks.push(msSince(c));
    }
    const quotaCheck = stats(checks.slice(20));
    let removed = 0;
    const planOffline = await measure('retention planning from the inventory', async () => {
      for (let o = 0; o < OWNERS; o++) removed += (await ops.gc.run({ owner: `bench-${o}`, offline: true })).removals.length;
    });
    const dryRun = await measure('gc --dry-run', async () => {
      for (const p of plan) await ops.gc.run({ repo: `${p.owner}/${p.repo}`, dryRun: true });
    });
    let deleted = 0;
    const gc = await measure('gc', async () => {
      for (const p of plan) deleted += (await ops.gc.run({ repo: `${p.owner}/${p.repo}` })).removals.length;
    });
    if (deleted !== removed || removed !== plan.length * (BUILDS - KEEP))
      throw new Error(`gc removed ${deleted}, planned ${removed}, expected ${plan.length * (BUILDS - KEEP)}`);

    // The baseline: what a tool without an inventory reads to learn the digests, then the same deletions.
    const raw = new RegistryClient(addr, 30_000);
    const rawRepos = plan.map((p) => ({ name: `${p.owner}/raw-${p.repo}`, drop: p.commits.slice(0, BUILDS - KEEP) }));
    let s = process.hrtime.bigint();
    const digests = new Map<string, string[]>();
    for (const r of rawRepos) {
      const tags = await raw.tags(r.name);
      const heads = await mapLimit(tags, PARALLEL, async (t) => [t, await raw.digest(r.name, t)] as const);
      const byTag = new Map(heads);
      digests.set(
        r.name,
        r.drop.map((t) => byTag.get(t)!),
      );
    }
    const rawRead = { ms: msSince(s), requests: raw.requests };
    progress('  raw deletes');
    s = process.hrtime.bigint();
    const r0 = raw.requests;
    for (const r of rawRepos) await mapLimit(digests.get(r.name)!, PARALLEL, (d) => raw.deleteManifest(r.name, d));
    const rawDelete = { ms: msSince(s), requests: raw.requests - r0 };
    store.db.$client.close();
    return {
      repositories: plan.length,
      tags: plan.length * (BUILDS + 2),
      removed,
      firstReconcile,
      reconcile,
      planOffline,
      dryRun,
      gc,
      rawRead,
      rawDelete,
      fillSeconds,
      quotaCheck,
    };
  } finally {
    await stack('registry', 'down', addr);
    tmp.remove();
  }
}
