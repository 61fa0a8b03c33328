import { beforeEach, describe, expect, it } from 'vitest';
import { memoryApp } from '../helpers/memory-app.js';
import { generateToken, hashToken } from '../../src/auth/tokens.js';
import type { Store } from '../../src/store/store.js';

let app: ReturnType<typeof memoryApp>['app'];
let store: Store;
let alice: string;
let bob: string;
let addBuilds: ReturnType<typeof memoryApp>['addBuilds'];

const get = async (path: string, token?: string, method = 'GET', body?: string | Uint8Array) => {
  const res = await app.request(path, { method, ...(body !== undefined ? { body } : {}), ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}) });
  return { status: res.status, body: (await res.json()) as any };
};

beforeEach(() => {
  const m = memoryApp();
  ({ app, store, addBuilds } = m);
  const addUser = m.addUser;
  alice = addUser('alice');
  bob = addUser('bob');
  addBuilds('alice', 'shop', ['abcd1' + '0'.repeat(35), 'abcd2' + '0'.repeat(35), 'ffff' + '1'.repeat(36)]);
  addBuilds('bob', 'shop', ['abcd3' + '0'.repeat(35)]);
});

describe('API', () => {
  it('needs a token, and says so in the error shape', async () => {
    expect(await get('/api/builds')).toEqual({
      status: 401,
      body: { error: { code: 'unauthorized', message: expect.stringContaining('authentication required') } },
    });
    expect((await get('/api/builds', 'chb_nope')).status).toBe(401);
  });

  it("lists only the caller's builds, filtered by commit prefix", async () => {
    const r = await get('/api/builds?commit=abcd', alice);
    expect(r.body.builds.map((b: any) => b.commit.slice(0, 5))).toEqual(['abcd2', 'abcd1']);
    expect((await get('/api/builds?commit=abcd', bob)).body.builds.map((b: any) => b.repo)).toEqual(['bob/shop']);
  });

  it('pages newest first with next_cursor', async () => {
    const p1 = await get('/api/builds?limit=2', alice);
    expect(p1.body.builds).toHaveLength(2);
    const p2 = await get(`/api/builds?limit=2&cursor=${p1.body.next_cursor}`, alice);
    expect(p2.body.builds).toHaveLength(1);
    expect(p2.body.next_cursor).toBeNull();
  });

  it('answers an ambiguous commit prefix with 409 and the candidates, an unknown one with 404', async () => {
    const amb = await get('/api/repos/alice/shop/commits/abcd/builds', alice);
    expect(amb.status).toBe(409);
    expect(amb.body.error.code).toBe('ambiguous');
    expect(amb.body.error.details.candidates).toEqual(['abcd1' + '0'.repeat(35), 'abcd2' + '0'.repeat(35)]);
    const one = await get('/api/repos/alice/shop/commits/abcd1/builds', alice);
    expect(one.status).toBe(200);
    expect(one.body.commit).toBe('abcd1' + '0'.repeat(35));
    expect((await get('/api/repos/alice/shop/commits/1234567/builds', alice)).status).toBe(404);
    expect((await get('/api/repos/bob/shop/commits/abcd3/builds', alice)).status).toBe(404);
  });

  it('rejects malformed parameters with 400 and says which', async () => {
    for (const [q, msg] of [
      ['commit=xyz', 'commit must be 4 to 40 hex digits'],
      ['commit=abc', 'commit must be 4 to 40 hex digits'],
      ["commit=' OR 1=1 --", 'commit must be 4 to 40 hex digits'],
      ['limit=0', 'limit must be'],
      ['limit=9999', 'limit must be'],
      ['status=done', 'status must be one of'],
      ['repo=../etc', 'owner name ".." is invalid'],
      ['repo=a/..', 'is invalid'],
      ['repo=justone', 'repo must be <owner>/<name>'],
      ['cursor=-1', 'cursor'],
    ]) {
      const r = await get(`/api/builds?${q!.replace(/ /g, '%20')}`, alice);
      expect(r.status, q).toBe(400);
      expect(r.body.error.message, q).toContain(msg);
    }
    expect((await get('/api/builds/abc', alice)).status).toBe(400);
  });

  it("hides another user's build behind 404", async () => {
    const bobs = store.builds.list({ readable: { all: false, owner: 'bob', shared: [] }, limit: 1 })[0]!;
    expect((await get(`/api/builds/${bobs.id}`, alice)).status).toBe(404);
    expect((await get(`/api/builds/${bobs.id}`, bob)).body.repo).toBe('bob/shop');
  });

  it('cancels a queued build once, and rebuilds a build as a new queued one by the caller', async () => {
    const repoId = store.repos.ensure('alice', 'web').id;
    const config = {
      name: 'web',
      context: '.',
      dockerfile: 'Dockerfile',
      target: null,
      args: {},
      secrets: [],
      branches: null,
      paths: null,
      tags: ['{branch}', 'b{build}'],
      platforms: [],
      timeoutSeconds: null,
      cancelSuperseded: true,
    };
    const [q] = store.builds.insert(
      [
        {
          repoId,
          repo: 'alice/web',
          owner: 'alice',
          ref: 'refs/heads/main',
          refType: 'branch',
          refName: 'main',
          commitSha: 'c'.repeat(40),
          image: 'web',
          status: 'queued',
          pusher: 'alice',
          config,
        },
      ],
      () => [],
    );
    expect((await get(`/api/builds/${q!.id}/cancel`, bob, 'POST')).status).toBe(404);
    const c = await get(`/api/builds/${q!.id}/cancel`, alice, 'POST');
    expect(c.status).toBe(200);
    expect(c.body).toMatchObject({ status: 'canceled', reason: 'canceled by alice' });
    const again = await get(`/api/builds/${q!.id}/cancel`, alice, 'POST');
    expect(again).toMatchObject({ status: 409, body: { error: { message: `build #${q!.id} already ended: canceled` } } });

    const r = await get(`/api/builds/${q!.id}/rebuild`, alice, 'POST');
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ status: 'queued', commit: 'c'.repeat(40), pusher: 'alice', image: 'web' });
    expect(r.body.id).toBeGreaterThan(q!.id);
    expect(r.body.image_refs).toEqual(['reg:5000/alice/web:main', `reg:5000/alice/web:b${r.body.id}`]);
    // A build without a resolved config (a config error) cannot be rebuilt.
    const [bad] = store.builds.insert(
      [
        {
          repoId,
          repo: 'alice/web',
          owner: 'alice',
          ref: 'refs/heads/main',
          refType: 'branch',
          refName: 'main',
          commitSha: 'd'.repeat(40),
          image: 'web',
          status: 'failed',
          reason: 'codehub-build.yaml:1:1: x',
          pusher: 'alice',
        },
      ],
      () => [],
    );
    expect((await get(`/api/builds/${bad!.id}/rebuild`, alice, 'POST')).status).toBe(409);
  });
  it('sets, lists and removes a repo secret for its owner only, and never answers with a value', async () => {
    const value = 'S3cr3t-value-' + 'x'.repeat(20);
    expect(await get('/api/repos/alice/shop/secrets/NPM_TOKEN', alice, 'PUT', value)).toEqual({
      status: 200,
      body: { repo: 'alice/shop', name: 'NPM_TOKEN', set: true },
    });
    // bob can neither set, list nor remove alice's secrets; for him the repo does not exist
    expect((await get('/api/repos/alice/shop/secrets/NPM_TOKEN', bob, 'PUT', 'evil')).status).toBe(404);
    expect((await get('/api/repos/alice/shop/secrets', bob)).status).toBe(404);
    expect((await get('/api/repos/alice/shop/secrets/NPM_TOKEN', bob, 'DELETE')).status).toBe(404);
    const listed = await get('/api/repos/alice/shop/secrets', alice);
    expect(listed.status).toBe(200);
    expect(listed.body.secrets.map((x: any) => x.name)).toEqual(['NPM_TOKEN']);
    expect(JSON.stringify(listed.body)).not.toContain('S3cr3t');
    // stored sealed: the row holds neither the value nor its base64
    const row = store.db.$client.prepare('SELECT value FROM secrets').get() as { value: string };
    expect(row.value).toMatch(/^v1:/);
    expect(row.value).not.toContain(value);
    expect(row.value).not.toContain(Buffer.from(value).toString('base64'));
    expect((await get('/api/repos/alice/shop/secrets/NPM_TOKEN', alice, 'DELETE')).body).toEqual({ repo: 'alice/shop', name: 'NPM_TOKEN', removed: true });
    expect((await get('/api/repos/alice/shop/secrets/NPM_TOKEN', alice, 'DELETE')).status).toBe(404);
  });

  it('refuses bad secret names, empty values and oversized ones with a reason', async () => {
    const bad = await get('/api/repos/alice/shop/secrets/1bad-name', alice, 'PUT', 'v');
    expect(bad).toMatchObject({ status: 400, body: { error: { message: expect.stringContaining('is not valid') } } });
    expect((await get('/api/repos/alice/shop/secrets/EMPTY', alice, 'PUT', '')).body.error.message).toContain('is empty');
    const big = await get('/api/repos/alice/shop/secrets/BIG', alice, 'PUT', 'x'.repeat(64 * 1024 + 1));
    expect(big).toMatchObject({ status: 413, body: { error: { message: expect.stringContaining('at most 65536 bytes') } } });
    expect(store.db.$client.prepare('SELECT count(*) AS n FROM secrets').get()).toEqual({ n: 0 });
  });

  it("answers the caller's usage, a user's to themselves and admins only, and 400 for a malformed name", async () => {
    expect(await get('/api/usage', alice)).toEqual({ status: 200, body: { owner: 'alice', bytes: 0, quota: null, images: [] } });
    expect((await get('/api/users/alice/usage', alice)).body.owner).toBe('alice');
    expect((await get('/api/users/bob/usage', alice)).status).toBe(404);
    expect((await get('/api/users/nobody/usage', alice)).status).toBe(404);
    expect((await get('/api/users/Bad_/usage', alice)).status).toBe(400);
    const admin = generateToken();
    store.accounts.createUser('root', hashToken(admin), ['read', 'admin']);
    expect((await get('/api/users/bob/usage', admin)).body).toMatchObject({ owner: 'bob', bytes: 0 });
  });

  it("shows and sets a repo's retention for its owner, keeping what a partial update leaves out, and refuses bad bodies whole", async () => {
    const put = (body: unknown, token = alice) => get('/api/repos/alice/shop/retention', token, 'PUT', JSON.stringify(body));
    expect((await get('/api/repos/alice/shop/retention', alice)).body).toEqual({
      repo: 'alice/shop',
      keep: 10,
      days: 30,
      override: { keep: null, days: null },
      defaults: { keep: 10, days: 30 },
    });
    expect((await put({ keep: 3 })).body).toMatchObject({ keep: 3, days: 30, override: { keep: 3, days: null } });
    expect((await put({ days: 0 })).body).toMatchObject({ keep: 3, days: 0, override: { keep: 3, days: 0 } });
    const bad = await put({ keep: 3.5, days: -2 });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.problems).toHaveLength(2);
    expect((await get('/api/repos/alice/shop/retention', alice)).body.override).toEqual({ keep: 3, days: 0 });
    expect((await put({ keep: null, days: null })).body).toMatchObject({ keep: 10, days: 30 });
    expect((await put({ keep: 1 }, bob)).status).toBe(404);
    expect((await get('/api/repos/alice/nothing/retention', alice, 'PUT', '{"keep":1}')).status).toBe(404);
  });

  it('answers 410 with the date for a build whose log expired, and keeps the build', async () => {
    const [b] = addBuilds('alice', 'old', ['e'.repeat(40)]);
    store.builds.markLogsExpired([b!.id], '2026-03-01T00:00:00.000Z');
    const r = await get(`/api/builds/${b!.id}/log`, alice);
    expect(r).toEqual({
      status: 410,
      body: { error: { code: 'gone', message: expect.stringContaining(`the log of build #${b!.id} expired on 2026-03-01 and was removed`) } },
    });
    expect((await get(`/api/builds/${b!.id}`, alice)).body).toMatchObject({ status: 'succeeded', log_expired_at: '2026-03-01T00:00:00.000Z' });
  });
});
