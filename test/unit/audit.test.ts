/**
 * The audit log below the server: the store's filters, paging and append-only triggers; who sees what
 * (AuditLog.list, GET /api/audit, the /audit page); each API and web door recording its event exactly once;
 * and gc's removals grouped per image repository, by the scheduled upkeep as the server itself.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { AuditLog, CLI_ACTOR, SYSTEM_ACTOR, type Actor } from '../../src/auth/audit.js';
import { generateToken, hashToken } from '../../src/auth/tokens.js';
import { silentLogger } from '../../src/log.js';
import type { GarbageCollector } from '../../src/registry/gc.js';
import type { Inventory } from '../../src/registry/inventory.js';
import { Maintenance } from '../../src/registry/maintenance.js';
import { openDb } from '../../src/store/db.js';
import type { Caller } from '../../src/store/scopes.js';
import { Store } from '../../src/store/store.js';
import { memoryApp } from '../helpers/memory-app.js';

const who = (actor: string, tokenId = 7): Actor => ({ actor, actorKind: 'token', actorTokenId: tokenId, address: '10.0.0.1' });

/** The id of a live token, as the store finds it by its hash. */
function tokenIdOf(store: Store, token: string): number {
  const found = store.accounts.tokenByHash(hashToken(token));
  if (!found || 'expired' in found) throw new Error('no live token');
  return found.tokenId;
}

describe('AuditStore', () => {
  let store: Store;
  beforeEach(() => {
    store = new Store(openDb(':memory:'));
  });

  it('filters by actor, action, repo, namespace and time, newest first, and pages with before', () => {
    const log = new AuditLog(store);
    log.record(who('alice'), 'secret.set', 'NPM_TOKEN', { repo: 'alice/shop' });
    log.record(who('bob'), 'repo.share', 'carol', { repo: 'bob/app', detail: { role: 'read' } });
    log.record(CLI_ACTOR, 'user.create', 'dave');
    log.record(who('alice'), 'secret.remove', 'NPM_TOKEN', { repo: 'alice/shop' });
    // `a_c` must not match `abc/…` (the prefix is compared as text, `_` is no wildcard) nor `alice/…`.
    log.record(who('abc'), 'build.cancel', '#3', { repo: 'abc/x' });
    const all = store.audit.list({ limit: 100 });
    expect(all.map((e) => e.action)).toEqual(['build.cancel', 'secret.remove', 'user.create', 'repo.share', 'secret.set']);
    expect(all[0]).toMatchObject({ actor: 'abc', actorKind: 'token', actorTokenId: 7, address: '10.0.0.1', repo: 'abc/x', target: '#3' });
    expect(all[2]).toMatchObject({ actor: 'cli', actorKind: 'cli', actorTokenId: null, address: null, repo: null });
    expect(JSON.parse(all[3]!.detail!)).toEqual({ role: 'read' });
    expect(all[0]!.at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

    expect(store.audit.list({ actor: 'alice', limit: 100 }).map((e) => e.action)).toEqual(['secret.remove', 'secret.set']);
    expect(store.audit.list({ action: 'repo.share', limit: 100 }).map((e) => e.actor)).toEqual(['bob']);
    expect(store.audit.list({ repo: 'alice/shop', limit: 100 })).toHaveLength(2);
    expect(store.audit.list({ owner: 'alice', limit: 100 }).map((e) => e.repo)).toEqual(['alice/shop', 'alice/shop']);
    expect(store.audit.list({ owner: 'a_c', limit: 100 })).toEqual([]);
    expect(store.audit.list({ owner: 'ab', limit: 100 })).toEqual([]);
    expect(store.audit.list({ repos: [], limit: 100 })).toEqual([]);
    expect(store.audit.list({ since: '2999-01-01T00:00:00.000Z', limit: 100 })).toEqual([]);
    expect(store.audit.list({ since: all[4]!.at, limit: 100 })).toHaveLength(5);

    const first = store.audit.list({ limit: 2 });
    const second = store.audit.list({ limit: 2, before: first[1]!.id });
    const third = store.audit.list({ limit: 2, before: second[1]!.id });
    expect([...first, ...second, ...third].map((e) => e.id)).toEqual(all.map((e) => e.id));
  });

  it('refuses to change or remove an event: the triggers abort UPDATE and DELETE, whoever runs them', () => {
    new AuditLog(store).record(who('alice'), 'secret.set', 'X', { repo: 'alice/shop' });
    const db = store.db.$client;
    expect(() => db.prepare("UPDATE audit_events SET actor = 'mallory'").run()).toThrow('the audit log is append-only: events are never changed');
    expect(() => db.prepare('DELETE FROM audit_events').run()).toThrow('the audit log is append-only: events are never removed');
    expect(() => db.prepare('DELETE FROM audit_events WHERE id = 1').run()).toThrow('events are never removed');
    expect(store.audit.list({ limit: 10 })).toMatchObject([{ actor: 'alice', target: 'X' }]);
  });
});

describe('AuditLog', () => {
  let store: Store;
  let log: AuditLog;
  const caller = (name: string, admin = false): Caller => ({
    user: store.accounts.userByName(name)!,
    tokenId: 1,
    scopes: admin ? ['read', 'push', 'admin'] : ['read', 'push'],
  });
  beforeEach(() => {
    store = new Store(openDb(':memory:'));
    log = new AuditLog(store);
    for (const n of ['alice', 'bob', 'root']) store.accounts.createUser(n, hashToken(generateToken()));
  });

  it("shows an admin every event, an owner their own repos' events (not those of repos shared with them), with a next cursor", () => {
    log.record(who('alice'), 'repo.share', 'bob', { repo: 'alice/shop', detail: { role: 'write' } });
    log.record(who('bob'), 'build.cancel', '#1', { repo: 'alice/shop' });
    log.record(who('bob'), 'secret.set', 'K', { repo: 'bob/app' });
    log.record(CLI_ACTOR, 'user.create', 'carol');
    expect(log.list(caller('root', true), { limit: 10 }).events).toHaveLength(4);
    // Alice owns alice/shop: she sees what bob did there too, and nothing else.
    expect(log.list(caller('alice'), { limit: 10 }).events.map((e) => [e.actor, e.action])).toEqual([
      ['bob', 'build.cancel'],
      ['alice', 'repo.share'],
    ]);
    // Bob may write to alice/shop, but does not own it: only bob/app's events.
    expect(log.list(caller('bob'), { limit: 10 }).events.map((e) => e.repo)).toEqual(['bob/app']);
    // A filter never widens the view.
    expect(log.list(caller('bob'), { repo: 'alice/shop', limit: 10 }).events).toEqual([]);
    expect(log.list(caller('alice'), { action: 'user.create', limit: 10 }).events).toEqual([]);

    const p1 = log.list(caller('root', true), { limit: 3 });
    expect(p1.next).toBe(p1.events[2]!.id);
    const p2 = log.list(caller('root', true), { limit: 3, before: p1.next! });
    expect(p2).toMatchObject({ next: null, events: [{ action: 'repo.share' }] });
  });

  it('records one gc event per image repository that lost something, with its tags and counts, and none for a run that removed nothing', () => {
    log.gcRemovals(SYSTEM_ACTOR, []);
    expect(store.audit.list({ limit: 10 })).toEqual([]);
    log.gcRemovals(SYSTEM_ACTOR, [
      { repository: 'alice/app', tag: 'a1', bytes: 100 },
      { repository: 'bob/web', tag: null, bytes: 5 },
      { repository: 'alice/app', tag: 'a2', bytes: 20 },
      { repository: 'alice/app', tag: null, bytes: 1 },
    ]);
    const events = store.audit.list({ limit: 10 });
    expect(events.map((e) => [e.actor, e.actorKind, e.action, e.repo, e.target, JSON.parse(e.detail!)])).toEqual([
      ['system', 'system', 'gc.remove', 'bob/web', 'bob/web', { tags: [], tag_count: 0, untagged_manifests: 1, bytes: 5 }],
      ['system', 'system', 'gc.remove', 'alice/app', 'alice/app', { tags: ['a1', 'a2'], tag_count: 2, untagged_manifests: 1, bytes: 121 }],
    ]);
  });

  it("records the scheduled upkeep's gc removals as the server itself (SYSTEM_ACTOR)", async () => {
    const gc = {
      run: async () => ({ removals: [{ repository: 'alice/app', tag: 'old', digest: 'sha256:x', how: 'delete', bytes: 9, reason: 'r' }], logs: {} }),
    } as unknown as GarbageCollector;
    const inventory = { reconcile: async () => ({ repositories: 1, tags: 1, requests: 1, ms: 1, topLevel: [] }) } as unknown as Inventory;
    await new Maintenance({ inventory, gc, log: silentLogger, namespaces: () => new Set(), intervalMs: 0, audit: log }).runOnce();
    expect(store.audit.list({ limit: 10 })).toMatchObject([
      { actor: 'system', actorKind: 'system', action: 'gc.remove', repo: 'alice/app', target: 'alice/app' },
    ]);
  });
});

describe('GET /api/audit and the doors of the API and the web pages', () => {
  let m: ReturnType<typeof memoryApp>;
  let alice: string;
  let bob: string;
  let root: string;
  const call = async (method: string, path: string, token: string, body?: unknown) => {
    const res = await m.app.request(path, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined && typeof body !== 'string' ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, body: (text.startsWith('{') ? JSON.parse(text) : text) as any };
  };
  const page = async (path: string, token: string, init: RequestInit = {}) => {
    const headers = new Headers(init.headers);
    headers.set('cookie', `codehub_token=${token}`);
    const res = await m.app.request(path, { ...init, headers });
    return { status: res.status, location: res.headers.get('location'), body: await res.text() };
  };
  const csrfOf = (html: string) => /name="csrf" value="([^"]+)"/.exec(html)![1]!;
  const events = (action?: string) => m.store.audit.list({ ...(action ? { action } : {}), limit: 1000 });

  beforeEach(() => {
    m = memoryApp();
    alice = m.addUser('alice');
    bob = m.addUser('bob');
    root = generateToken();
    m.store.accounts.createUser('root', hashToken(root), ['read', 'push', 'admin']);
  });

  it('records each API operation once, after it succeeded, as the caller with their token and address; a refused one not at all', async () => {
    const [b] = m.addBuilds('alice', 'shop', ['a'.repeat(40)], 'queued');
    const aliceId = tokenIdOf(m.store, alice);
    expect((await call('PUT', '/api/repos/alice/shop/secrets/NPM_TOKEN', alice, 's3cret-value')).status).toBe(200);
    expect((await call('PUT', '/api/repos/alice/shop/secrets/NPM_TOKEN', bob, 'other')).status).toBe(404); // refused: not recorded
    expect((await call('DELETE', '/api/repos/alice/shop/secrets/NPM_TOKEN', alice)).status).toBe(200);
    expect((await call('DELETE', '/api/repos/alice/shop/secrets/NPM_TOKEN', alice)).status).toBe(404); // nothing to remove
    expect((await call('PUT', '/api/repos/alice/shop/members/bob', alice, { role: 'write' })).status).toBe(200);
    expect((await call('DELETE', '/api/repos/alice/shop/members/bob', alice)).status).toBe(200);
    expect((await call('PUT', '/api/repos/alice/shop/retention', alice, { keep: 3 })).status).toBe(200);
    expect((await call('POST', `/api/builds/${b!.id}/cancel`, alice)).status).toBe(200);
    expect((await call('POST', `/api/builds/${b!.id}/cancel`, alice)).status).toBe(409); // already ended
    const again = await call('POST', `/api/builds/${b!.id}/rebuild`, alice);
    expect(again.status).toBe(201);
    expect((await call('POST', '/api/users', root, { name: 'carol' })).status).toBe(201);
    expect((await call('POST', '/api/users', alice, { name: 'dave' })).status).toBe(403);
    const tok = await call('POST', '/api/users/carol/tokens', root, { scopes: ['read'], label: 'ci' });
    expect(tok.status).toBe(201);
    expect((await call('DELETE', `/api/tokens/${tok.body.id}`, root)).status).toBe(200);
    expect((await call('DELETE', '/api/users/carol', root)).status).toBe(200);

    const rows = events().reverse();
    const rootId = tokenIdOf(m.store, root);
    expect(rows.map((e) => [e.actor, e.actorKind, e.actorTokenId, e.action, e.repo, e.target, e.address])).toEqual([
      ['alice', 'token', aliceId, 'secret.set', 'alice/shop', 'NPM_TOKEN', 'local'],
      ['alice', 'token', aliceId, 'secret.remove', 'alice/shop', 'NPM_TOKEN', 'local'],
      ['alice', 'token', aliceId, 'repo.share', 'alice/shop', 'bob', 'local'],
      ['alice', 'token', aliceId, 'repo.unshare', 'alice/shop', 'bob', 'local'],
      ['alice', 'token', aliceId, 'repo.retention', 'alice/shop', 'alice/shop', 'local'],
      ['alice', 'token', aliceId, 'build.cancel', 'alice/shop', `#${b!.id}`, 'local'],
      ['alice', 'token', aliceId, 'build.rebuild', 'alice/shop', `#${b!.id}`, 'local'],
      ['root', 'token', rootId, 'user.create', null, 'carol', 'local'],
      ['root', 'token', rootId, 'token.create', null, String(tok.body.id), 'local'],
      ['root', 'token', rootId, 'token.revoke', null, String(tok.body.id), 'local'],
      ['root', 'token', rootId, 'user.remove', null, 'carol', 'local'],
    ]);
    expect(JSON.parse(rows[2]!.detail!)).toEqual({ role: 'write' });
    expect(JSON.parse(rows[4]!.detail!)).toEqual({ override: { keep: 3, days: null } });
    expect(JSON.parse(rows[6]!.detail!)).toEqual({ build: again.body.id });
    expect(JSON.parse(rows[8]!.detail!)).toEqual({ user: 'carol', label: 'ci', scopes: ['read'], expires_at: expect.stringMatching(/^20\d\d-/) });
    // Neither the secret's value nor a token made is anywhere in the log.
    const dump = JSON.stringify(m.store.db.$client.prepare('SELECT * FROM audit_events').all());
    for (const secret of ['s3cret-value', tok.body.token, alice, root]) expect(dump).not.toContain(secret);
  });

  it('shows an admin everything, an owner their repos, a stranger nothing of them; pages; names a bad filter', async () => {
    m.addBuilds('alice', 'shop', ['a'.repeat(40)]);
    m.addBuilds('bob', 'app', ['b'.repeat(40)]);
    await call('PUT', '/api/repos/alice/shop/secrets/A', alice, 'x');
    await call('PUT', '/api/repos/alice/shop/secrets/B', alice, 'x');
    await call('PUT', '/api/repos/bob/app/secrets/C', bob, 'x');
    await call('POST', '/api/users', root, { name: 'carol' });

    const all = await call('GET', '/api/audit', root);
    expect(all.status).toBe(200);
    expect(all.body.events.map((e: any) => e.target)).toEqual(['carol', 'C', 'B', 'A']);
    expect(all.body.next).toBeNull();
    expect(all.body.events[1]).toEqual({
      id: expect.any(Number),
      at: expect.any(String),
      actor: 'bob',
      actor_kind: 'token',
      token_id: expect.any(Number),
      action: 'secret.set',
      repo: 'bob/app',
      target: 'C',
      detail: null,
      address: 'local',
    });
    expect((await call('GET', '/api/audit', alice)).body.events.map((e: any) => e.target)).toEqual(['B', 'A']);
    expect((await call('GET', '/api/audit', bob)).body.events.map((e: any) => e.target)).toEqual(['C']);
    const erin = generateToken();
    m.store.accounts.createUser('erin', hashToken(erin));
    expect((await call('GET', '/api/audit', erin)).body).toEqual({ events: [], next: null });
    expect((await call('GET', '/api/audit?repo=alice/shop', bob)).body.events).toEqual([]);

    const p1 = await call('GET', '/api/audit?limit=3', root);
    expect(p1.body.events).toHaveLength(3);
    const p2 = await call('GET', `/api/audit?limit=3&before=${p1.body.next}`, root);
    expect(p2.body).toMatchObject({ events: [{ target: 'A' }], next: null });
    expect((await call('GET', '/api/audit?action=secret.set&actor=alice', root)).body.events.map((e: any) => e.target)).toEqual(['B', 'A']);
    expect((await call('GET', '/api/audit?since=2999-01-01', root)).body.events).toEqual([]);
    expect((await call('GET', '/api/audit?since=2000-01-01T00:00:00Z', root)).body.events).toHaveLength(4);

    for (const [q, says] of [
      ['action=secret.steal', 'action must be one of sign_in, sign_out'],
      ['since=yesterday', 'since must be an ISO 8601 date or time'],
      ['since=2026-02-31T25:00:00Z', 'since must be'],
      ['limit=0', 'limit must be a whole number from 1 to 1000'],
      ['limit=1001', 'limit must be a whole number from 1 to 1000'],
      ['before=abc', 'before must be a value from next'],
      ['repo=nope', 'repo must be <owner>/<name>'],
      ['repo=Alice/x', 'owner'],
    ] as const) {
      const r = await call('GET', `/api/audit?${q}`, root);
      expect(r.status, q).toBe(400);
      expect(r.body.error.message, q).toContain(says);
    }
    expect((await m.app.request('/api/audit')).status).toBe(401);
  });

  it('records the web sign-in and sign-out and the build forms, and shows the page as the API would', async () => {
    const [b] = m.addBuilds('alice', 'shop', ['c'.repeat(40)], 'queued');
    const signIn = await m.app.request('/login', { method: 'POST', body: new URLSearchParams({ token: alice }) });
    expect(signIn.status).toBe(303);
    expect((await m.app.request('/login', { method: 'POST', body: new URLSearchParams({ token: 'chb_wrong' }) })).status).toBe(401);
    const html = (await page(`/builds/${b!.id}`, alice)).body;
    expect((await page(`/builds/${b!.id}/cancel`, alice, { method: 'POST', body: new URLSearchParams({ csrf: csrfOf(html) }) })).status).toBe(303);
    const rebuilt = await page(`/builds/${b!.id}/rebuild`, alice, { method: 'POST', body: new URLSearchParams({ csrf: csrfOf(html) }) });
    expect(rebuilt.status).toBe(303);
    expect((await page('/logout', alice, { method: 'POST', body: new URLSearchParams({ csrf: 'forged' }) })).status).toBe(403);
    expect((await page('/logout', alice, { method: 'POST', body: new URLSearchParams({ csrf: csrfOf(html) }) })).status).toBe(303);

    expect(
      events()
        .reverse()
        .map((e) => [e.actor, e.actorKind, e.action, e.repo, e.target]),
    ).toEqual([
      ['alice', 'token', 'sign_in', null, 'alice'],
      ['alice', 'token', 'build.cancel', 'alice/shop', `#${b!.id}`],
      ['alice', 'token', 'build.rebuild', 'alice/shop', `#${b!.id}`],
      ['alice', 'token', 'sign_out', null, 'alice'],
    ]);

    // The page: alice sees her repo's events (not her sign-ins, which concern no repo); root sees all four.
    const mine = await page('/audit', alice);
    expect(mine.status).toBe(200);
    expect(mine.body).toContain('<a href="/audit">Audit log</a>');
    expect(mine.body.match(/<tr id="event-/g)).toHaveLength(2);
    expect(mine.body).toContain(`<td class="mono">#${b!.id}</td>`);
    const all = await page('/audit', root);
    expect(all.body.match(/<tr id="event-/g)).toHaveLength(4);
    expect(all.body).toContain('<td class="mono">sign_out</td>');
    const filtered = await page('/audit?action=build.cancel&actor=&repo=&since=', root);
    expect(filtered.body.match(/<tr id="event-/g)).toHaveLength(1);
    expect(filtered.body).toContain('<option value="build.cancel" selected="">build.cancel</option>');
    expect((await page('/audit', bob)).body).toContain('<p id="audit-none">No events match.</p>');
    const bad = await page('/audit?since=never', root);
    expect(bad.status).toBe(400);
    expect(bad.body).toContain('since must be an ISO 8601 date or time');
    const anon = await m.app.request('/audit');
    expect(anon.headers.get('location')).toBe('/login?next=%2Faudit');
  });
});
