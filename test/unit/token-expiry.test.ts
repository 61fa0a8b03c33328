import type { HttpBindings } from '@hono/node-server';
import { Hono } from 'hono';
import { beforeEach, describe, expect, it } from 'vitest';
import { addUser, createToken, listTokens } from '../../src/auth/accounts.js';
import { tokenExpiry } from '../../src/auth/expiry.js';
import { hashToken } from '../../src/auth/tokens.js';
import { parseRequest, NewTokenRequest } from '../../src/api/requests.js';
import { createApp } from '../../src/app.js';
import { Authenticator } from '../../src/http/auth.js';
import { silentLogger } from '../../src/log.js';
import { openDb } from '../../src/store/db.js';
import { Store } from '../../src/store/store.js';

const T0 = new Date('2026-12-07T12:00:00.000Z');
const DAY = 86_400_000;
let store: Store;
let now: Date;
const clock = () => now;

beforeEach(() => {
  store = new Store(openDb(':memory:'));
  now = T0;
});

/** An app whose one route answers the caller's name, signed in as git's and the API's are. */
function appWith(auth: Authenticator) {
  const api = new Hono();
  api.get('/user', (c) => c.json({ name: auth.require(c).user.name }));
  const none = () => new Hono();
  const git = new Hono<{ Bindings: HttpBindings }>();
  return createApp({ log: silentLogger, git, hooks: none(), api, health: none(), downloads: none(), web: none(), errorPage: (_s, m) => m });
}

describe('the expiry policy', () => {
  it('gives no expiry without a maximum, the maximum to a token that asks none, and the lifetime asked otherwise', () => {
    expect(tokenExpiry(undefined, { maxDays: null, now: clock })).toEqual({ expiresAt: null });
    expect(tokenExpiry(undefined, { maxDays: 90, now: clock })).toEqual({ expiresAt: '2027-03-07T12:00:00.000Z' });
    expect(tokenExpiry(12 * 3_600_000, { maxDays: 90, now: clock })).toEqual({ expiresAt: '2026-12-08T00:00:00.000Z' });
    expect(tokenExpiry(400 * DAY, { maxDays: null, now: clock })).toEqual({ expiresAt: new Date(T0.getTime() + 400 * DAY).toISOString() });
  });

  it('refuses a lifetime past the maximum, naming the maximum and its variable, and one under a second', () => {
    expect(tokenExpiry(91 * DAY, { maxDays: 90, now: clock })).toEqual({
      problem: "an expiry of 91d is past this server's maximum of 90 days (CODEHUB_TOKEN_MAX_DAYS): choose at most 90d",
    });
    expect(tokenExpiry(500, { maxDays: null, now: clock })).toMatchObject({ problem: expect.stringContaining('at least 1 s') });
  });

  it("reads expires_in_days from the admin API's body, fractions allowed, refusing 0, negatives and text", () => {
    expect(parseRequest(NewTokenRequest, { expires_in_days: 0.5 })).toEqual({ ok: true, value: { label: 'api', expires_in_days: 0.5 } });
    for (const bad of [0, -3, '90']) {
      expect(parseRequest(NewTokenRequest, { expires_in_days: bad })).toEqual({
        ok: false,
        problems: [`expires_in_days must be a number of days greater than 0 (e.g. 90, or 0.5 for 12 hours); got ${JSON.stringify(bad)}`],
      });
    }
  });
});

describe('tokens that expire', () => {
  it('stores the expiry, lists it, and refuses a token request past the maximum with nothing made', () => {
    addUser(store, 'alice');
    const made = createToken(store, 'alice', { label: 'ci', lifetimeMs: 30 * DAY }, { maxDays: 90, now: clock });
    expect(made).toMatchObject({ ok: true, expiresAt: '2027-01-06T12:00:00.000Z' });
    const refused = createToken(store, 'alice', { label: 'ci', lifetimeMs: 91 * DAY }, { maxDays: 90, now: clock });
    expect(refused).toMatchObject({ ok: false, kind: 'invalid', problem: expect.stringContaining('maximum of 90 days') });
    const listed = listTokens(store, 'alice');
    expect(listed.ok && listed.tokens.map((t) => t.expiresAt)).toEqual([null, '2027-01-06T12:00:00.000Z']);
  });

  it("gives a new user's token the site's maximum", () => {
    const made = addUser(store, 'bob', { maxDays: 7, now: clock });
    expect(made).toMatchObject({ ok: true, expiresAt: '2026-12-14T12:00:00.000Z' });
  });

  it('lets a token in until its expiry and answers 401 saying when it expired after, to bearer and basic auth alike', async () => {
    addUser(store, 'alice');
    const made = createToken(store, 'alice', { label: 'short', lifetimeMs: 10_000 }, { maxDays: null, now: clock });
    if (!made.ok) throw new Error(made.problem);
    const app = appWith(new Authenticator(store, { failuresPerMinute: 30 }, clock));
    const bearer = { authorization: `Bearer ${made.token}` };
    const basic = { authorization: `Basic ${Buffer.from(`alice:${made.token}`).toString('base64')}` };

    now = new Date(T0.getTime() + 9_999);
    expect(await (await app.request('/api/user', { headers: bearer })).json()).toEqual({ name: 'alice' });
    expect((await app.request('/api/user', { headers: basic })).status).toBe(200);

    now = new Date(T0.getTime() + 10_000);
    for (const headers of [bearer, basic]) {
      const res = await app.request('/api/user', { headers });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toContain('Basic realm=');
      expect(((await res.json()) as { error: { message: string } }).error.message).toBe(
        `token ${made.id} expired at 2026-12-07T12:00:10.000Z; make a new one (codehub-build token create <user> --expires 90d, or the tokens page)`,
      );
    }
  });

  it('does not count an expired token as a guess, nor record its use', async () => {
    addUser(store, 'alice');
    const made = createToken(store, 'alice', { label: 'short', lifetimeMs: 1000 }, { maxDays: null, now: clock });
    if (!made.ok) throw new Error(made.problem);
    const app = appWith(new Authenticator(store, { failuresPerMinute: 2 }, clock));
    now = new Date(T0.getTime() + 5000);
    for (let i = 0; i < 4; i++) expect((await app.request('/api/user', { headers: { authorization: `Bearer ${made.token}` } })).status).toBe(401);
    const row = store.db.$client.prepare('SELECT last_used_at FROM tokens WHERE id = ?').get(made.id) as { last_used_at: string | null };
    expect(row.last_used_at).toBeNull();
    // Four refusals, yet the address is not throttled: a wrong token right after is a plain 401, not 429.
    expect((await app.request('/api/user', { headers: { authorization: 'Bearer chb_wrong' } })).status).toBe(401);
  });

  it('ends a web session at its expiry', () => {
    const made = addUser(store, 'carol');
    if (!made.ok) throw new Error(made.problem);
    const user = store.accounts.userByName('carol')!;
    store.sessions.create(user.id, hashToken('chs_abc'), ['read', 'push'], new Date(T0.getTime() + 60_000).toISOString());
    const auth = new Authenticator(store, { failuresPerMinute: 30 }, clock);
    expect(auth.byToken('chs_abc')).toMatchObject({ user: { name: 'carol' }, via: 'session', scopes: ['read', 'push'] });
    now = new Date(T0.getTime() + 60_000);
    expect(auth.byToken('chs_abc')).toBeUndefined();
    // A session id is never taken as a token, nor a token as a session.
    expect(auth.byToken(`chs_${made.token}`)).toBeUndefined();
  });
});
