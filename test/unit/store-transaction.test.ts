import { beforeEach, describe, expect, it } from 'vitest';
import { openDb } from '../../src/store/db.js';
import type { NewBuild } from '../../src/store/schema.js';
import { Store } from '../../src/store/store.js';

let store: Store;
const sha = (c: string) => c.repeat(40).slice(0, 40);
const row = (repoId: number, over: Partial<NewBuild> = {}): NewBuild => ({
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
const raw = (q: string, ...params: unknown[]) => store.db.$client.prepare(q).all(...params);

beforeEach(() => {
  store = new Store(openDb(':memory:'));
});

describe('Store.transaction', () => {
  it('lands every write of every aggregate, or none of them', () => {
    expect(
      store.transaction(() => {
        const repo = store.repos.ensure('alice', 'shop');
        store.secrets.put(repo.id, 'TOKEN', 'v1:sealed');
        return store.builds.insert([row(repo.id)], () => []).length;
      }),
    ).toBe(1);
    expect(() =>
      store.transaction(() => {
        const repo = store.repos.ensure('bob', 'app');
        store.secrets.put(repo.id, 'TOKEN', 'v1:sealed');
        store.builds.insert([row(repo.id, { repo: 'bob/app', owner: 'bob' })], () => []);
        throw new Error('the push failed after its builds were written');
      }),
    ).toThrow(/push failed/);
    expect(store.repos.byName('bob', 'app')).toBeUndefined();
    expect(raw('SELECT repo FROM builds')).toEqual([{ repo: 'alice/shop' }]);
    expect(raw('SELECT count(*) AS n FROM secrets')).toEqual([{ n: 1 }]);
  });

  it('makes an inner transaction a savepoint: its failure, caught, leaves the outer one to commit', () => {
    store.transaction(
      () => {
        store.repos.ensure('alice', 'shop');
        expect(() =>
          store.transaction(() => {
            store.repos.ensure('bob', 'app');
            throw new Error('inner');
          }),
        ).toThrow('inner');
        // builds.insert is a transaction of its own: inside another it is a savepoint too.
        expect(() => store.builds.insert([row(999)], () => [])).toThrow(/FOREIGN KEY/);
      },
      { behavior: 'immediate' },
    );
    expect(store.repos.byName('alice', 'shop')).toBeDefined();
    expect(store.repos.byName('bob', 'app')).toBeUndefined();
    expect(raw('SELECT count(*) AS n FROM builds')).toEqual([{ n: 0 }]);
  });
});

describe('the aggregates read and write the columns as they were stored before', () => {
  it('keeps JSON as text, a null as NULL, and secret-looking build args out', () => {
    const repo = store.repos.ensure('alice', 'shop');
    const [a, b] = store.builds.insert(
      [row(repo.id, { config: { args: { API_TOKEN: 'hunter2', MODE: 'fast' } } }), row(repo.id, { image: 'api', config: null, steps: null })],
      (x) => (x.image === 'shop' ? [`r/alice/shop:${x.id}`] : []),
    );
    expect(raw('SELECT config, image_refs AS refs, steps FROM builds ORDER BY id')).toEqual([
      { config: expect.not.stringContaining('hunter2'), refs: `["r/alice/shop:${a!.id}"]`, steps: null },
      { config: null, refs: '[]', steps: null },
    ]);
    expect(store.builds.byId(a!.id)).toMatchObject({ config: { args: { MODE: 'fast' } }, imageRefs: [`r/alice/shop:${a!.id}`], steps: null });
    expect(store.builds.byId(b!.id)).toMatchObject({ config: null, imageRefs: [] });
    store.builds.setSteps(a!.id, [{ n: 1, name: 'RUN make', cached: false }]);
    expect(store.builds.byId(a!.id)!.steps).toEqual([{ n: 1, name: 'RUN make', cached: false }]);
  });

  it('reads booleans as booleans, stored as 0 and 1', () => {
    const repo = store.repos.ensure('alice', 'shop');
    expect(store.repos.byName('alice', 'shop')).toMatchObject({ publicBadge: false, headsTracked: true });
    store.repos.setPublicBadge(repo.id, true);
    expect(store.repos.byName('alice', 'shop')!.publicBadge).toBe(true);
    expect(raw('SELECT public_badge AS b FROM repos')).toEqual([{ b: 1 }]);
  });

  it('answers a prepared lookup with the values of each call, not of the first', () => {
    const shop = store.repos.ensure('alice', 'shop').id;
    const app = store.repos.ensure('bob', 'app').id;
    store.builds.insert([row(shop), row(app, { repo: 'bob/app', owner: 'bob', commitSha: sha('b'), ref: 'refs/heads/dev', refName: 'dev' })], () => []);
    expect(store.builds.list({ repo: 'alice/shop', limit: 5 }).map((b) => b.repo)).toEqual(['alice/shop']);
    expect(store.builds.list({ repo: 'bob/app', limit: 5 }).map((b) => b.repo)).toEqual(['bob/app']);
    expect(store.builds.list({ ref: 'dev', limit: 5 }).map((b) => b.repo)).toEqual(['bob/app']);
    expect(store.builds.list({ ref: 'refs/heads/main', limit: 5 }).map((b) => b.repo)).toEqual(['alice/shop']);
    const shared = { all: false as const, owner: 'carol', shared: ['bob/app'] };
    expect(store.builds.list({ readable: shared, commit: 'bbbb', limit: 5 }).map((b) => b.repo)).toEqual(['bob/app']);
    expect(store.builds.list({ readable: shared, commit: 'aaaa', limit: 5 })).toEqual([]);
    expect(store.builds.list({ readable: { all: false, owner: 'alice', shared: [] }, limit: 5 }).map((b) => b.repo)).toEqual(['alice/shop']);
  });

  it('finds the caller of a token and records its use at most once a minute', () => {
    store.accounts.createUser('alice', 'h1', ['read', 'admin']);
    expect(store.accounts.tokenByHash('h1')).toMatchObject({ user: { name: 'alice', quotaBytes: null }, scopes: ['read', 'admin'] });
    const [used] = raw('SELECT last_used_at AS at FROM tokens') as { at: string }[];
    expect(Date.now() - Date.parse(used!.at)).toBeLessThan(60_000);
    store.accounts.tokenByHash('h1');
    expect(raw('SELECT last_used_at AS at FROM tokens')).toEqual([used]);
  });
});
