import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { openDb } from '../../src/store/db.js';
import type { NewBuild, PushBuild } from '../../src/store/schema.js';
import { Store } from '../../src/store/store.js';

let store: Store;
let repoId: number;
const sha = (c: string) => c.repeat(40).slice(0, 40);
const row = (over: Partial<NewBuild> = {}): NewBuild => ({
  repoId,
  repo: 'alice/shop',
  owner: 'alice',
  ref: 'refs/heads/main',
  refType: 'branch',
  refName: 'main',
  commitSha: sha('a'),
  image: 'shop',
  status: 'queued',
  pusher: 'alice',
  ...over,
});

beforeEach(() => {
  store = new Store(openDb(':memory:'));
  repoId = store.repos.ensure('alice', 'shop').id;
});

describe('Store', () => {
  it('creates users once and finds them by token hash only', () => {
    expect(store.accounts.createUser('alice', 'h1')?.name).toBe('alice');
    expect(store.accounts.createUser('alice', 'h2')).toBeNull();
    expect(store.accounts.tokenByHash('h1')).toMatchObject({ user: { name: 'alice' } });
    expect(store.accounts.tokenByHash('h2')).toBeUndefined();
  });

  it('inserts a push in one transaction with image refs that know the build id', () => {
    const rows = store.builds.insert([row(), row({ image: 'api' })], (b, i) => [`r/alice/${b.image}:b${b.id}-${i}`]);
    expect(rows.map((b) => b.imageRefs)).toEqual([[`r/alice/shop:b${rows[0]!.id}-0`], [`r/alice/api:b${rows[1]!.id}-1`]]);
    expect(() => store.builds.insert([row(), row({ repoId: 999 })], () => [])).toThrow(/FOREIGN KEY/);
    expect(store.builds.list({ limit: 10 })).toHaveLength(2); // the failed push left nothing behind
  });

  it('looks builds up by commit prefix through the index, and pages newest first', () => {
    store.builds.insert([row({ commitSha: sha('ab') }), row({ commitSha: sha('ac') }), row({ commitSha: 'abcd' + sha('0').slice(4) })], () => []);
    expect(store.builds.list({ commit: 'abab', limit: 10 }).map((b) => b.commitSha)).toEqual([sha('ab')]);
    expect(store.builds.list({ commit: 'ab', limit: 10 })).toHaveLength(2);
    expect(store.builds.commitsByPrefix('alice/shop', 'ab', 10)).toHaveLength(2);
    const plan = store.db.$client.prepare("EXPLAIN QUERY PLAN SELECT * FROM builds WHERE commit_sha >= 'ab' AND commit_sha < 'abg'").all() as {
      detail: string;
    }[];
    expect(plan.map((p) => p.detail).join(' ')).toContain('builds_commit');
    const [first] = store.builds.list({ limit: 1 });
    expect(store.builds.list({ limit: 10, beforeId: first!.id })).toHaveLength(2);
  });

  it('filters by owner without matching a longer owner name that shares the prefix', () => {
    const other = store.repos.ensure('alice2', 'shop').id;
    store.builds.insert([row(), row({ repoId: other, repo: 'alice2/shop', owner: 'alice2' })], () => []);
    expect(store.builds.list({ readable: { all: false, owner: 'alice', shared: [] }, limit: 10 }).map((b) => b.repo)).toEqual(['alice/shop']);
  });

  it('claims each queued build once, oldest first, and only finishes running builds', () => {
    const [a, b] = store.builds.insert([row({ config: { name: 'shop', args: { A: '1' } } }), row({ image: 'api' })], (x) => [`r/alice/${x.image}:main`]);
    expect(store.queue.claimNext(() => null)).toBeUndefined(); // no builder free: nothing is claimed
    expect(store.builds.byId(a!.id)!.status).toBe('queued');
    const c1 = store.queue.claimNext(() => 'local');
    const c2 = store.queue.claimNext(() => 'local');
    expect([c1?.id, c2?.id]).toEqual([a!.id, b!.id]);
    expect(c1).toMatchObject({ status: 'running', attempts: 1, builder: 'local' });
    expect(c1).toEqual(store.builds.byId(c1!.id)); // the claim answers the same Build a lookup reads
    expect(store.queue.claimNext(() => 'local')).toBeUndefined();
    expect(store.queue.finish(a!.id, { status: 'succeeded', digest: 'sha256:x' })).toBe(true);
    expect(store.queue.finish(a!.id, { status: 'failed' })).toBe(false);
    expect(store.builds.byId(a!.id)).toMatchObject({ status: 'succeeded', digest: 'sha256:x' });
  });

  it('re-queues builds stranded as running, and fails them once attempts run out', () => {
    const [a] = store.builds.insert([row()], () => []);
    for (let attempt = 1; attempt <= 3; attempt++) {
      expect(store.queue.claimNext(() => 'local')?.attempts).toBe(attempt);
      const r = store.queue.recoverRunning(3);
      if (attempt < 3) expect(r.requeued.map((x) => x.id)).toEqual([a!.id]);
      else expect(r.failed.map((x) => x.id)).toEqual([a!.id]);
    }
    expect(store.builds.byId(a!.id)).toMatchObject({ status: 'failed', reasonCode: 'interrupted' });
  });

  it('claims fairly across owners: a burst of one owner does not starve another', () => {
    const bobRepo = store.repos.ensure('bob', 'app').id;
    store.builds.insert(
      Array.from({ length: 5 }, (_, i) => row({ refName: `b${i}`, ref: `refs/heads/b${i}`, commitSha: sha(String(i)) })),
      () => [],
    );
    const [bobs] = store.builds.insert([row({ repoId: bobRepo, repo: 'bob/app', owner: 'bob' })], () => []);
    expect(store.queue.claimNext(() => 'x')!.owner).toBe('alice'); // alice's oldest first
    expect(store.queue.claimNext(() => 'x')!.id).toBe(bobs!.id); // then bob, who has nothing running, before alice's 2nd
    expect(store.queue.claimNext(() => 'x')!.owner).toBe('alice');
  });

  it('never runs two builds of the same commit and image at once, whatever their branches', () => {
    const [a, b] = store.builds.insert([row(), row({ refName: 'dev', ref: 'refs/heads/dev' })], () => []);
    expect(store.queue.claimNext(() => 'x')!.id).toBe(a!.id);
    expect(store.queue.claimNext(() => 'x')).toBeUndefined();
    store.queue.finish(a!.id, { status: 'succeeded' });
    expect(store.queue.claimNext(() => 'x')!.id).toBe(b!.id);
  });

  it('never runs two builds of the same branch and image at once', () => {
    const [first, second, other] = store.builds.insert([row(), row({ commitSha: sha('b') }), row({ image: 'api' })], () => []);
    expect(store.queue.claimNext(() => 'x')!.id).toBe(first!.id);
    expect(store.queue.claimNext(() => 'x')!.id).toBe(other!.id); // the second of main/shop waits
    expect(store.queue.claimNext(() => 'x')).toBeUndefined();
    store.queue.finish(first!.id, { status: 'succeeded' });
    expect(store.queue.claimNext(() => 'x')!.id).toBe(second!.id);
  });

  it('supersedes older queued and running builds of the same line only', () => {
    const [a, b, other] = store.builds.insert([row(), row({ commitSha: sha('b') }), row({ image: 'api' })], () => []);
    store.queue.claimNext(() => 'x'); // a runs
    const [c] = store.builds.insert<PushBuild>([row({ commitSha: sha('c') })], () => []);
    expect(store.queue.supersede(c!).map((x) => [x.id, x.status])).toEqual([
      [a!.id, 'running'],
      [b!.id, 'queued'],
    ]);
    expect(store.builds.byId(a!.id)).toMatchObject({ status: 'canceled', reason: `superseded by #${c!.id}`, reasonCode: 'superseded' });
    expect(store.builds.byId(other!.id)!.status).toBe('queued');
    expect(store.queue.finish(a!.id, { status: 'succeeded' })).toBe(false); // a canceled build stays canceled
  });

  it('cancels only builds that have not ended', () => {
    const [a] = store.builds.insert([row()], () => []);
    expect(store.queue.cancel(a!.id, 'canceled by alice')!.status).toBe('queued');
    expect(store.builds.byId(a!.id)).toMatchObject({ status: 'canceled', reason: 'canceled by alice' });
    expect(store.queue.cancel(a!.id, 'again')!.status).toBe('canceled');
    expect(store.builds.byId(a!.id)!.reason).toBe('canceled by alice');
    expect(store.queue.cancel(9999, 'x')).toBeUndefined();
  });

  it('holds a re-queued build back until its back-off ends', () => {
    const [a] = store.builds.insert([row()], () => []);
    store.queue.claimNext(() => 'x');
    const t0 = new Date('2030-01-01T00:00:00Z');
    expect(store.queue.requeue(a!.id, new Date(t0.getTime() + 5000), 'infrastructure error, retrying: x')).toBe(true);
    expect(store.queue.claimNext(() => 'x', t0)).toBeUndefined();
    expect(store.queue.nextNotBefore()).toBe('2030-01-01T00:00:05.000Z');
    expect(store.queue.claimNext(() => 'x', new Date(t0.getTime() + 5000))).toMatchObject({ id: a!.id, attempts: 2, notBefore: null });
  });

  it('sets the default branch once, whoever pushes first', () => {
    expect(store.repos.setDefaultBranch(repoId, 'main')).toBe('main');
    expect(store.repos.setDefaultBranch(repoId, 'dev')).toBe('main');
  });
});

describe("a build's platforms", () => {
  it('round-trip through a database file, null until set, and clear back to null', () => {
    const dir = mkdtempSync(join(tmpdir(), 'chb-platforms-'));
    try {
      const file = join(dir, 'codehub.db');
      const first = new Store(openDb(file));
      const [b] = first.builds.insert([row({ repoId: first.repos.ensure('alice', 'shop').id })], () => []);
      expect(first.builds.byId(b!.id)!.platforms).toBeNull();
      const platforms = [
        { platform: 'linux/amd64', digest: `sha256:${'a'.repeat(64)}` },
        { platform: 'linux/arm64/v8', digest: `sha256:${'b'.repeat(64)}` },
      ];
      first.builds.setPlatforms(b!.id, platforms);
      first.db.$client.close();
      const again = new Store(openDb(file));
      expect(again.builds.byId(b!.id)!.platforms).toEqual(platforms);
      expect(again.builds.list({ limit: 10 })[0]!.platforms).toEqual(platforms);
      expect(again.db.$client.prepare('SELECT platforms FROM builds WHERE id = ?').get(b!.id)).toEqual({ platforms: JSON.stringify(platforms) });
      const [single] = again.builds.insert([row({ repoId: again.repos.ensure('alice', 'shop').id })], () => []);
      expect(again.builds.platformsOf([b!.id, single!.id, b!.id, 9999])).toEqual(new Map([[b!.id, { digest: null, platforms }]]));
      again.builds.setPlatforms(b!.id, null);
      expect(again.builds.byId(b!.id)!.platforms).toBeNull();
      again.db.$client.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
