import { beforeEach, describe, expect, it } from 'vitest';
import * as A from '../../src/api/answers.js';
import { checkPullToken, createPullToken, listPullTokens, pullTokenMisuse, revokePullToken } from '../../src/auth/pull-tokens.js';
import { hashToken } from '../../src/auth/tokens.js';
import { grant, parseScope, type Requester } from '../../src/registry/token.js';
import { openDb } from '../../src/store/db.js';
import { Store } from '../../src/store/store.js';
import { memoryApp } from '../helpers/memory-app.js';

const T0 = new Date('2026-01-01T00:00:00.000Z');
const at = (ms: number) => new Date(T0.getTime() + ms);
const want = (s: string) => parseScope(s)!;

let store: Store;
beforeEach(() => {
  store = new Store(openDb(':memory:'));
  store.repos.ensure('alice', 'app');
  store.repos.ensure('bob', 'app');
});

const DAY = 86_400_000;
const make = (request: { label?: string; lifetimeMs?: number } = {}, maxDays: number | null = null, repo = 'app') =>
  createPullToken(store, { owner: 'alice', repo, by: 'alice' }, { label: request.label ?? 'prod', ...request }, { maxDays, now: () => T0 });

describe('pull token store', () => {
  it('keeps only the hash, lists without it, finds by hash with its repo, revokes only within its repo', () => {
    const repoId = store.repos.byName('alice', 'app')!.id;
    const id = store.pullTokens.create(repoId, hashToken('chp_x'), 'prod', 'alice', null);
    const row = store.db.$client.prepare('SELECT * FROM pull_tokens WHERE id = ?').get(id) as Record<string, unknown>;
    expect(row.hash).toBe(hashToken('chp_x'));
    expect(JSON.stringify(row)).not.toContain('chp_x');
    expect(store.pullTokens.list(repoId)).toEqual([
      { id, label: 'prod', createdBy: 'alice', createdAt: expect.any(String), lastUsedAt: null, expiresAt: null },
    ]);
    expect(store.pullTokens.byHash(hashToken('chp_x'), { touch: false })).toEqual({ id, repo: 'alice/app', expiresAt: null });
    expect(store.pullTokens.byHash(hashToken('chp_y'), { touch: false })).toBeUndefined();
    expect(store.pullTokens.revoke(store.repos.byName('bob', 'app')!.id, id)).toBeUndefined();
    expect(store.pullTokens.revoke(repoId, id)).toEqual({ label: 'prod' });
    expect(store.pullTokens.byHash(hashToken('chp_x'), { touch: false })).toBeUndefined();
  });

  it('records a use at most once a minute, and none of an expired token', () => {
    const repoId = store.repos.byName('alice', 'app')!.id;
    const id = store.pullTokens.create(repoId, hashToken('chp_x'), 'prod', 'alice', at(3_600_000).toISOString());
    const lastUsed = () => store.pullTokens.list(repoId).find((t) => t.id === id)!.lastUsedAt;
    store.pullTokens.byHash(hashToken('chp_x'), { touch: true, now: at(0) });
    expect(lastUsed()).toBe(at(0).toISOString());
    store.pullTokens.byHash(hashToken('chp_x'), { touch: true, now: at(30_000) });
    expect(lastUsed()).toBe(at(0).toISOString());
    store.pullTokens.byHash(hashToken('chp_x'), { touch: true, now: at(61_000) });
    expect(lastUsed()).toBe(at(61_000).toISOString());
    store.pullTokens.byHash(hashToken('chp_x'), { touch: true, now: at(7_200_000) });
    expect(lastUsed()).toBe(at(61_000).toISOString());
  });
});

describe('pull token service', () => {
  it('makes a chp_ token of 256 bits for user pull-<id>, stored as its SHA-256 only', () => {
    const made = make();
    if (!made.ok) throw new Error(made.problem);
    expect(made.token).toMatch(/^chp_[A-Za-z0-9_-]{43}$/);
    expect(made.username).toBe(`pull-${made.id}`);
    expect(made.expiresAt).toBeNull();
    expect(store.pullTokens.byHash(hashToken(made.token), { touch: false })?.repo).toBe('alice/app');
    const listed = listPullTokens(store, 'alice', 'app');
    expect(listed.ok && listed.tokens.map((t) => t.username)).toEqual([made.username]);
    expect(JSON.stringify(listed)).not.toContain(made.token);
  });

  it('refuses a repo not pushed to, a bad label, a non-positive expiry and one past the maximum, naming it', () => {
    expect(make({}, null, 'nothing')).toMatchObject({ ok: false, kind: 'missing', problem: expect.stringContaining('no repository alice/nothing') });
    expect(make({ label: 'a\nb' })).toMatchObject({ ok: false, kind: 'invalid', problem: expect.stringContaining('label') });
    expect(make({ lifetimeMs: 0 })).toMatchObject({ ok: false, kind: 'invalid', problem: expect.stringContaining('an expiry must be at least 1 s') });
    expect(make({ lifetimeMs: -DAY })).toMatchObject({ ok: false, kind: 'invalid' });
    expect(make({ lifetimeMs: 91 * DAY }, 90)).toEqual({
      ok: false,
      kind: 'invalid',
      problem: "an expiry of 91d is past this server's maximum of 90 days (CODEHUB_TOKEN_MAX_DAYS): choose at most 90d",
    });
    expect(listPullTokens(store, 'alice', 'app')).toEqual({ ok: true, tokens: [] });
  });

  it('expires after the days asked (fractions too), or at the maximum when none is asked', () => {
    expect(make({ lifetimeMs: DAY / 2 })).toMatchObject({ ok: true, expiresAt: at(12 * 3_600_000).toISOString() });
    expect(make({ lifetimeMs: 90 * DAY }, 90)).toMatchObject({ ok: true, expiresAt: at(90 * 86_400_000).toISOString() });
    expect(make({}, 30)).toMatchObject({ ok: true, expiresAt: at(30 * 86_400_000).toISOString() });
  });

  it('checks user and token at the registry: a wrong name, token or revoked one is wrong; an expired one says when', () => {
    const made = make({ lifetimeMs: DAY });
    if (!made.ok) throw new Error(made.problem);
    expect(checkPullToken(store, made.username, made.token, at(1000))).toEqual({ ok: true, id: made.id, owner: 'alice', repo: 'app' });
    const other = make();
    if (!other.ok) throw new Error(other.problem);
    // Another pull token's name with this token, a user's name, a token without the prefix: all wrong alike.
    for (const [user, token] of [
      [other.username, made.token],
      ['alice', made.token],
      [made.username, made.token.replace('chp_', 'chb_')],
      [made.username, `${made.token}x`],
    ] as const)
      expect(checkPullToken(store, user, token, at(1000))).toEqual({ ok: false, problem: expect.stringMatching(/^wrong pull token/), expired: false });
    const expired = checkPullToken(store, made.username, made.token, at(86_400_000));
    expect(expired).toEqual({
      ok: false,
      problem: `pull token ${made.username} of alice/app expired at ${at(86_400_000).toISOString()}: make a new one with codehub-build repo pull-token create alice/app`,
      expired: true,
    });
    expect(revokePullToken(store, 'bob', 'app', other.id)).toMatchObject({ ok: false, kind: 'missing' });
    expect(revokePullToken(store, 'alice', 'app', other.id)).toEqual({ ok: true, id: other.id, username: other.username, label: 'prod' });
    expect(checkPullToken(store, other.username, other.token, at(1000))).toMatchObject({ ok: false, problem: expect.stringMatching(/^wrong pull token/) });
  });

  it('names a pull token given to git or the API, and nothing else', () => {
    const made = make();
    if (!made.ok) throw new Error(made.problem);
    expect(pullTokenMisuse(store, made.token)).toContain(`this is a pull token (${made.username} of alice/app): it only pulls`);
    expect(pullTokenMisuse(store, 'chp_unknown')).toBeNull();
    expect(pullTokenMisuse(store, 'chb_whatever')).toBeNull();
  });
});

describe('what the registry grants a pull token', () => {
  const pull: Requester = { kind: 'pull', owner: 'alice', repo: 'app' };
  beforeEach(() => {
    const repoId = store.repos.byName('alice', 'app')!.id;
    const otherId = store.repos.ensure('alice', 'other').id;
    const build = (id: number, repo: string, image: string) => ({
      repoId: id,
      repo,
      owner: 'alice',
      ref: 'refs/heads/main',
      refType: 'branch' as const,
      refName: 'main',
      commitSha: 'a'.repeat(40),
      image,
      status: 'succeeded' as const,
      pusher: 'alice',
      config: { name: image, dockerfile: 'Dockerfile', context: '.', target: null, platforms: [], tags: [], buildArgs: {}, secrets: [] } as never,
    });
    // alice/app builds two images (app and app-worker); alice/other builds `other`.
    store.builds.insert([build(repoId, 'alice/app', 'app'), build(repoId, 'alice/app', 'app-worker'), build(otherId, 'alice/other', 'other')], () => []);
  });

  it("pulls its repo's images and nothing else: no push, no other repo of the owner, no other owner", () => {
    expect(grant(pull, want('repository:alice/app:pull,push'), { store })).toEqual(['pull']);
    expect(grant(pull, want('repository:alice/app-worker:pull'), { store })).toEqual(['pull']);
    expect(grant(pull, want('repository:alice/app:push'), { store })).toEqual([]);
    expect(grant(pull, want('repository:alice/other:pull'), { store })).toEqual([]);
    expect(grant(pull, want('repository:alice/never-built:pull'), { store })).toEqual([]);
    expect(grant(pull, want('repository:bob/app:pull'), { store })).toEqual([]);
    expect(grant(pull, want('repository:alice:pull'), { store })).toEqual([]);
    expect(grant(pull, want('registry:catalog:*'), { store })).toEqual([]);
    // What anyone may pull, as anonymous does.
    expect(grant(pull, want('repository:cache/busybox:pull,push'), { store })).toEqual(['pull']);
  });
});

describe('pull token API', () => {
  let m: ReturnType<typeof memoryApp>;
  let alice: string;
  let bob: string;
  const call = async (path: string, token: string, method = 'GET', body?: unknown) => {
    const res = await m.app.request(path, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as any };
  };
  beforeEach(() => {
    m = memoryApp();
    alice = m.addUser('alice');
    bob = m.addUser('bob');
    m.addBuilds('alice', 'app', ['b'.repeat(40)]);
  });

  it('makes (201, shown once, audited), lists without the token, revokes (audited) for the owner only', async () => {
    const path = '/api/repos/alice/app/pull-tokens';
    const made = await call(path, alice, 'POST', { label: 'prod', expires_in_days: 7 });
    expect(made.status).toBe(201);
    expect(made.body).toEqual({
      id: expect.any(Number),
      username: `pull-${made.body.id}`,
      token: expect.stringMatching(/^chp_/),
      label: 'prod',
      expires_at: expect.any(String),
      registry: 'reg:5000',
    });
    expect(A.PullTokenMade.safeParse(made.body).success).toBe(true);
    expect((await call(path, bob, 'POST', {})).status).toBe(404);
    expect((await call(path, bob)).status).toBe(404);
    const list = await call(path, alice);
    expect(list.body).toEqual({
      repo: 'alice/app',
      tokens: [
        {
          id: made.body.id,
          username: made.body.username,
          label: 'prod',
          created_by: 'alice',
          created_at: expect.any(String),
          last_used_at: null,
          expires_at: made.body.expires_at,
        },
      ],
    });
    expect(A.PullTokenList.safeParse(list.body).success).toBe(true);
    expect(JSON.stringify(list.body)).not.toContain(made.body.token);
    expect((await call(`${path}/${made.body.id}`, bob, 'DELETE')).status).toBe(404);
    expect((await call(`${path}/abc`, alice, 'DELETE')).status).toBe(400);
    const revoked = await call(`${path}/${made.body.id}`, alice, 'DELETE');
    expect(revoked.body).toEqual({ repo: 'alice/app', id: made.body.id, username: made.body.username, revoked: true });
    expect(A.PullTokenRevoked.safeParse(revoked.body).success).toBe(true);
    expect((await call(`${path}/${made.body.id}`, alice, 'DELETE')).status).toBe(404);
    const events = m.store.audit.list({ repo: 'alice/app', limit: 10 });
    expect(events.map((e) => [e.action, e.actor, e.target, JSON.parse(e.detail!)])).toEqual([
      ['pull_token.revoke', 'alice', made.body.username, { label: 'prod' }],
      ['pull_token.create', 'alice', made.body.username, { label: 'prod' }],
    ]);
    expect(JSON.stringify(events)).not.toContain(made.body.token);
  });

  it('takes an empty body; refuses a repo not pushed to, a bad expiry and one past CODEHUB_TOKEN_MAX_DAYS, naming it', async () => {
    const empty = await m.app.request('/api/repos/alice/app/pull-tokens', { method: 'POST', headers: { authorization: `Bearer ${alice}` } });
    expect(empty.status).toBe(201);
    // The memory app's server has a maximum of 30 days: a token asked without an expiry gets it.
    expect(Date.parse(((await empty.json()) as { expires_at: string }).expires_at) - Date.now()).toBeGreaterThan(29 * 86_400_000);
    expect(await call('/api/repos/alice/nothing/pull-tokens', alice, 'POST', {})).toMatchObject({ status: 404 });
    expect(await call('/api/repos/alice/app/pull-tokens', alice, 'POST', { expires_in_days: 'soon' })).toMatchObject({
      status: 400,
      body: { error: { message: expect.stringContaining('expires_in_days must be a number of days greater than 0') } },
    });
    expect(await call('/api/repos/alice/app/pull-tokens', alice, 'POST', { expires_in_days: 31 })).toMatchObject({
      status: 400,
      body: { error: { message: "an expiry of 31d is past this server's maximum of 30 days (CODEHUB_TOKEN_MAX_DAYS): choose at most 30d" } },
    });
    expect(await call('/api/repos/alice/app/pull-tokens', alice, 'POST', { scopes: ['push'] })).toMatchObject({ status: 400 });
  });

  it('refuses the pull token itself on the API with a 401 saying what it is', async () => {
    const made = await call('/api/repos/alice/app/pull-tokens', alice, 'POST', {});
    for (const headers of [
      { authorization: `Bearer ${made.body.token}` },
      { authorization: `Basic ${Buffer.from(`${made.body.username}:${made.body.token}`).toString('base64')}` },
    ]) {
      const res = await m.app.request('/api/repos/alice/app/pull-tokens', { headers });
      expect(res.status).toBe(401);
      expect(((await res.json()) as any).error.message).toContain(
        `this is a pull token (${made.body.username} of alice/app): it only pulls that repo's images`,
      );
    }
  });
});
