import { mkdtempSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { expireLogs } from '../../src/logs/retention.js';
import { LogStore } from '../../src/logs/store.js';
import { RegistryGate } from '../../src/registry/gate.js';
import { Quotas } from '../../src/registry/quota.js';
import { openDb } from '../../src/store/db.js';
import { InventoryStore } from '../../src/store/inventory.js';
import { NO_QUOTA, type NewBuild } from '../../src/store/schema.js';
import { Store } from '../../src/store/store.js';

let store: Store;
let inv: InventoryStore;
const dg = (s: string) => `sha256:${s.padEnd(64, '0')}`;
const at = '2026-11-27T10:00:00.000Z';

/** An image manifest in `repository` needing a shared base layer and one layer of its own. */
function image(repository: string, digest: string, ownLayer: number) {
  inv.addManifest({ repository, digest, mediaType: 'application/vnd.oci.image.manifest.v1+json', children: [], tombstone: false }, [
    { digest, size: 500 },
    { digest: dg(`c${digest.slice(7, 9)}`), size: 100 },
    { digest: dg('base'), size: 10_000 },
    { digest: dg(`l${digest.slice(7, 9)}`), size: ownLayer },
  ]);
}

beforeEach(() => {
  store = new Store(openDb(':memory:'));
  inv = new InventoryStore(store.db);
});

describe('usage from the inventory', () => {
  it('counts a blob once per owner however many images and tags share it, and leaves untagged manifests out', () => {
    image('alice/web', dg('a1'), 1000);
    image('alice/web', dg('a2'), 2000);
    image('alice/api', dg('b1'), 3000);
    image('alice/web', dg('a3'), 9999); // untagged: its tag moved on
    for (const [repository, tag, digest] of [
      ['alice/web', 'main', dg('a1')],
      ['alice/web', 'old', dg('a2')],
      ['alice/web', 'x', dg('a2')],
      ['alice/api', 'main', dg('b1')],
    ] as const) {
      inv.setTag({ repository, tag, digest, owner: 'alice', buildId: null, pushedAt: at });
    }
    image('bob/web', dg('c1'), 50);
    inv.setTag({ repository: 'bob/web', tag: 'main', digest: dg('c1'), owner: 'bob', buildId: null, pushedAt: at });
    // three manifests (500 each), three configs (100 each), the base layer once, three own layers
    expect(inv.ownerBytes('alice')).toBe(3 * 500 + 3 * 100 + 10_000 + 1000 + 2000 + 3000);
    expect(inv.repositoryUsage('alice')).toEqual([
      { repository: 'alice/api', bytes: 500 + 100 + 10_000 + 3000, tags: 1 },
      { repository: 'alice/web', bytes: 2 * 500 + 2 * 100 + 10_000 + 1000 + 2000, tags: 3 },
    ]);
    expect(inv.ownerBytes('bob')).toBe(500 + 100 + 10_000 + 50);
    expect(inv.ownerBytes('nobody')).toBe(0);
    // A tag that moves: the old manifest stops counting.
    inv.setTag({ repository: 'alice/web', tag: 'old', digest: dg('a1'), owner: 'alice', buildId: null, pushedAt: at });
    inv.removeTags('alice/web', ['x']);
    expect(inv.ownerBytes('alice')).toBe(2 * 500 + 2 * 100 + 10_000 + 1000 + 3000);
    inv.removeManifest('alice/web', dg('a1'));
    expect(inv.tagsOf('alice/web')).toEqual([]);
    expect(inv.repositories('alice')).toEqual(['alice/api', 'alice/web']);
  });
});

describe('gc locks', () => {
  const row = (over: Partial<NewBuild>): NewBuild => ({
    repoId: store.repos.ensure('alice', 'shop').id,
    repo: 'alice/shop',
    owner: 'alice',
    ref: 'refs/heads/main',
    refType: 'branch',
    refName: 'main',
    commitSha: 'a'.repeat(40),
    image: 'shop',
    status: 'queued',
    pusher: 'alice',
    ...over,
  });

  it('is not taken while a build of the repository runs, and no build of a locked repository is claimed', () => {
    const [b] = store.builds.insert([row({})], () => []);
    expect(store.queue.claimNext(() => 'local')?.id).toBe(b!.id);
    expect(inv.lock('alice/shop', 'gc-1', 60_000)).toEqual({ ok: false, running: [b!.id] });
    expect(inv.lock('alice/other', 'gc-1', 60_000)).toEqual({ ok: true });
    inv.unlock('alice/other', 'gc-1');
    store.queue.finish(b!.id, { status: 'succeeded' });
    expect(inv.lock('alice/shop', 'gc-1', 60_000)).toEqual({ ok: true });
    expect(inv.lock('alice/shop', 'gc-2', 60_000)).toMatchObject({ ok: false, heldBy: 'gc-1' });
    const [next] = store.builds.insert([row({ commitSha: 'b'.repeat(40) }), row({ image: 'other', commitSha: 'c'.repeat(40) })], () => []);
    // The locked repository's build waits; another image's runs.
    expect(store.queue.claimNext(() => 'local')?.image).toBe('other');
    expect(store.queue.claimNext(() => 'local')).toBeUndefined();
    inv.unlock('alice/shop', 'gc-1');
    expect(store.queue.claimNext(() => 'local')?.id).toBe(next!.id);
  });

  it('expires, so a gc that died never blocks a repository for good', () => {
    expect(inv.lock('alice/shop', 'gc-dead', 1000, new Date(Date.now() - 5000))).toEqual({ ok: true });
    expect(inv.lock('alice/shop', 'gc-new', 60_000)).toEqual({ ok: true });
  });
});

describe('log retention', () => {
  it("removes old logs but the newest build's of each branch and image; a dry run only counts", async () => {
    const logs = new LogStore(mkdtempSync(join(tmpdir(), 'chb-logret-')));
    const repoId = store.repos.ensure('alice', 'shop').id;
    const old = new Date(Date.now() - 10 * 86_400_000).toISOString();
    const builds = store.builds.insert(
      ['main', 'main', 'main', 'feat'].map((refName, i) => ({
        repoId,
        repo: 'alice/shop',
        owner: 'alice',
        ref: `refs/heads/${refName}`,
        refType: 'branch' as const,
        refName,
        commitSha: String(i).repeat(40),
        image: 'shop',
        status: 'succeeded' as const,
        pusher: 'alice',
        finishedAt: old,
      })),
      () => [],
    );
    for (const b of builds) {
      mkdirSync(dirname(logs.path(b.id)), { recursive: true });
      writeFileSync(logs.path(b.id), `${old}\tlog of #${b.id}\n`);
    }
    const dry = expireLogs({ store, logs, log: silentLogger, days: 7, dryRun: true });
    expect(dry.expired).toBe(2);
    expect(builds.every((b) => existsSync(logs.path(b.id)))).toBe(true);
    expect(expireLogs({ store, logs, log: silentLogger, days: 30 })).toEqual({ expired: 0, bytes: 0 });
    const run = expireLogs({ store, logs, log: silentLogger, days: 7 });
    expect(run.expired).toBe(2);
    expect(run.bytes).toBe(2 * `${old}\tlog of #1\n`.length);
    expect(builds.map((b) => existsSync(logs.path(b.id)))).toEqual([false, false, true, true]);
    expect(store.builds.byId(builds[0]!.id)!.logExpiredAt).not.toBeNull();
    expect(store.builds.byId(builds[2]!.id)!.logExpiredAt).toBeNull();
    expect(expireLogs({ store, logs, log: silentLogger, days: 7 }).expired).toBe(0); // nothing twice
  });

  it('expires the logs of uploads (no branch) but the newest of each image', () => {
    const logs = new LogStore(mkdtempSync(join(tmpdir(), 'chb-logret-')));
    const old = new Date(Date.now() - 10 * 86_400_000).toISOString();
    const builds = store.builds.insert(
      ['web', 'web', 'api'].map((image) => ({
        source: 'upload' as const,
        repo: `alice/${image}`,
        owner: 'alice',
        image,
        status: 'succeeded' as const,
        pusher: 'alice',
        finishedAt: old,
        uploadId: 'u',
        uploadFolder: image,
        contextBytes: 1,
      })),
      () => [],
    );
    for (const b of builds) {
      mkdirSync(dirname(logs.path(b.id)), { recursive: true });
      writeFileSync(logs.path(b.id), `${old}\tlog of #${b.id}\n`);
    }
    expect(expireLogs({ store, logs, log: silentLogger, days: 7 }).expired).toBe(1);
    expect(builds.map((b) => existsSync(logs.path(b.id)))).toEqual([false, true, true]);
  });
});

describe('quotas', () => {
  it("uses the user's own quota, none, or the server's default, and warns from 80 %", async () => {
    store.accounts.createUser('alice', 'h');
    image('alice/web', dg('a1'), 8_000);
    inv.setTag({ repository: 'alice/web', tag: 'main', digest: dg('a1'), owner: 'alice', buildId: null, pushedAt: at });
    const usage = inv.ownerBytes('alice'); // 18,600
    const quotas = new Quotas({
      store,
      inventory: inv,
      defaultBytes: 0,
      estimate: async (o) => ({ owners: [{ owner: 'alice', before: usage, after: o.policy ? 9000 : usage - 600 }] }) as never,
    });
    expect(await quotas.check('alice/web')).toEqual({ over: false, warning: null });
    store.accounts.setQuota('alice', 20_000);
    expect(await quotas.check('alice/web')).toEqual({
      over: false,
      warning: 'warning: alice uses 18.2 KiB of a 19.5 KiB quota (93 %); at 100 % builds fail until space is freed (codehub-build usage)',
    });
    store.accounts.setQuota('alice', 10_000);
    const over = await quotas.check('alice/web');
    expect(over).toEqual({
      over: true,
      reason:
        'alice uses 18.2 KiB of a 9.77 KiB quota (186 %, 8.4 KiB over), so the build was not started; ' +
        'gc would free 600 B now (an operator runs codehub-build gc; the server runs it every CODEHUB_GC_INTERVAL); ' +
        "keeping only each branch's newest build of alice/web (codehub-build repo retention alice/web --keep 1 --days 0, then gc) would free 9.38 KiB; " +
        'or remove tags yourself (codehub-build image rm alice/<image>:<tag>), or an operator raises the quota: codehub-build user quota alice <size>',
    });
    expect(quotas.pushRefusal('alice')).toContain('alice is over quota: 18.2 KiB of 9.77 KiB (186 %)');
    store.accounts.setQuota('alice', NO_QUOTA);
    expect(quotas.quotaOf('alice')).toBeNull();
    expect(new Quotas({ store, inventory: inv, defaultBytes: 5 }).quotaOf('someone-removed')).toBe(5);
  });
});

describe('registry gate', () => {
  it('is closed until the first check answers, opens when the registry takes pushes, and says why it is closed', async () => {
    let answer = { ok: false, detail: 'read-only (maintenance: its garbage collector may be running); builds wait queued' };
    let opened = 0;
    const gate = new RegistryGate({ base: 'http://r', writable: async () => answer }, silentLogger, () => opened++);
    expect(gate.open).toBe(false);
    expect(await gate.check()).toBe(false);
    expect(gate.detail).toContain('read-only');
    answer = { ok: true, detail: 'answers and takes pushes' };
    const [a, b] = await Promise.all([gate.check(), gate.check()]);
    expect([a, b, gate.open, opened]).toEqual([true, true, true, 1]);
  });
});
