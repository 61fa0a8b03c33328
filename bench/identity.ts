/**
 * What identity (issue 27) costs the server, in process (no stack needed):
 *
 *   npx tsx bench/identity.ts
 *   BENCH_EVENTS=100000 npx tsx bench/identity.ts     (a smaller audit log)
 *
 * 1. Signing a request in: `GET /api/user` through the app's Authenticator (a token without expiry, one with an
 *    expiry, a single sign-on session's cookie, an expired token's 401) against the same app answering the same
 *    JSON with no sign-in at all, in alternating rounds of in-process requests (hono's app.request: no sockets),
 *    so the difference is what the lookup adds.
 * 2. Appending to the audit log: AuditLog.record against a raw prepared INSERT of the same row through
 *    better-sqlite3 on the same connection (the database file opened as the server opens it: WAL, synchronous NORMAL).
 * 3. Reading the audit log at scale: BENCH_EVENTS events (default 1,000,000: years of a busy site) over 500
 *    owners' 2,000 repos and 300 actors, then the queries GET /api/audit makes: an admin's newest page, by
 *    action, by repo, an owner's view (their repos' events only), a page deep in the log, and the last day.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Hono } from 'hono';
import type { HttpBindings } from '@hono/node-server';
import { createApp } from '../src/app.js';
import { addUser, createToken } from '../src/auth/accounts.js';
import { AUDIT_ACTIONS, AuditLog, type Actor } from '../src/auth/audit.js';
import { hashToken } from '../src/auth/tokens.js';
import { Authenticator } from '../src/http/auth.js';
import { silentLogger } from '../src/log.js';
import { openDb } from '../src/store/db.js';
import type { Caller } from '../src/store/scopes.js';
import { Store } from '../src/store/store.js';
import { machine } from './lib/machine.js';
import { pct, ratio } from './lib/stats.js';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 1_000_000);
const dir = mkdtempSync(join(tmpdir(), 'chb-bench-identity-'));
const store = new Store(openDb(join(dir, 'codehub.db')));

console.log(JSON.stringify(machine()));

// ---- 1. signing a request in

const made = addUser(store, 'alice');
if (!made.ok) throw new Error(made.problem);
const expiring = createToken(store, 'alice', { label: 'expiring', lifetimeMs: 86_400_000 });
const expired = createToken(store, 'alice', { label: 'expired', lifetimeMs: 1000 }, { maxDays: null, now: () => new Date(Date.now() - 60_000) });
if (!expiring.ok || !expired.ok) throw new Error('tokens');
const alice = store.accounts.userByName('alice')!;
store.sessions.create(alice.id, hashToken('chs_benchsession'), ['read', 'push'], new Date(Date.now() + 86_400_000).toISOString());

const auth = new Authenticator(store, { failuresPerMinute: 1e9 });
const api = new Hono();
api.get('/user', (c) => {
  const caller = auth.require(c);
  return c.json({ name: caller.user.name, scopes: caller.scopes });
});
// The same answer with no sign-in: what a request costs without the lookup.
api.get('/open', (c) => c.json({ name: 'alice', scopes: ['read', 'push'] }));
const none = () => new Hono();
const app = createApp({
  log: silentLogger,
  git: new Hono<{ Bindings: HttpBindings }>(),
  hooks: none(),
  api,
  health: none(),
  downloads: none(),
  web: none(),
  errorPage: (_s, m) => m,
});

const cases: [string, string, Record<string, string>, number][] = [
  ['no sign-in (baseline)', '/api/open', {}, 200],
  ['token, no expiry', '/api/user', { authorization: `Bearer ${made.token}` }, 200],
  ['token with an expiry', '/api/user', { authorization: `Bearer ${expiring.token}` }, 200],
  ['basic auth (git, registry)', '/api/user', { authorization: `Basic ${Buffer.from(`alice:${made.token}`).toString('base64')}` }, 200],
  ['SSO session cookie', '/api/user', { cookie: 'codehub_token=chs_benchsession' }, 200],
  ['expired token (401)', '/api/user', { authorization: `Bearer ${expired.token}` }, 401],
];
const PER_ROUND = 2000;
const ROUNDS = 15;
const perRequest = new Map<string, number[]>(cases.map(([name]) => [name, []]));
for (let round = 0; round < ROUNDS + 1; round++) {
  for (const [name, path, headers, status] of cases) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < PER_ROUND; i++) {
      const res = await app.request(path, { headers });
      if (res.status !== status) throw new Error(`${name}: ${res.status}`);
      await res.arrayBuffer();
    }
    // The first round warms the JIT and SQLite's page cache: not counted.
    if (round > 0) perRequest.get(name)!.push(Number(process.hrtime.bigint() - t0) / 1e3 / PER_ROUND);
  }
}
const base = pct(perRequest.get('no sign-in (baseline)')!, 50);
console.log(`\n## Signing a request in (median µs per in-process request over ${ROUNDS} rounds of ${PER_ROUND})\n`);
console.log('| request | µs | added by sign-in | ratio |\n| --- | --- | --- | --- |');
for (const [name] of cases) {
  const us = pct(perRequest.get(name)!, 50);
  console.log(`| ${name} | ${us.toFixed(1)} | ${(us - base).toFixed(1)} | ${ratio(us, base)} |`);
}

// ---- 2. appending to the audit log

const log = new AuditLog(store);
const who: Actor = { actor: 'alice', actorKind: 'token', actorTokenId: 1, address: '10.0.0.7' };
// The same connection the store uses (WAL, synchronous NORMAL, as the server opens it), so the baseline differs
// only in what AuditLog adds: drizzle's mapping of the row and the detail's JSON.
const raw = store.db.$client;
// With RETURNING and .get(), as drizzle runs it: better-sqlite3's .run() of the same INSERT measured 2.5x slower here.
const rawInsert = raw.prepare(
  'INSERT INTO audit_events (actor, actor_kind, actor_token_id, action, repo, target, detail, address) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id',
);
const APPENDS = 20_000;
const appendUs: { ours: number[]; raw: number[] } = { ours: [], raw: [] };
const sides: [keyof typeof appendUs, () => void][] = [
  ['ours', () => log.record(who, 'secret.set', 'NPM_TOKEN', { repo: 'alice/shop' })],
  ['raw', () => rawInsert.get('alice', 'token', 1, 'secret.set', 'alice/shop', 'NPM_TOKEN', null, '10.0.0.7')],
];
for (let round = 0; round < 11; round++) {
  // Each side first in every other round: a WAL checkpoint falls on whichever commit crosses its threshold.
  for (const [side, append] of round % 2 ? [...sides].reverse() : sides) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < APPENDS / 10; i++) append();
    if (round > 0) appendUs[side].push(Number(process.hrtime.bigint() - t0) / 1e3 / (APPENDS / 10));
  }
}
const [ours, bare] = [pct(appendUs.ours, 50), pct(appendUs.raw, 50)];
console.log(`\n## Appending an audit event (median µs per event, each its own transaction, ${APPENDS} per side)\n`);
console.log(`| AuditLog.record | raw prepared INSERT | ratio |\n| --- | --- | --- |\n| ${ours.toFixed(1)} | ${bare.toFixed(1)} | ${ratio(ours, bare)} |`);

// ---- 3. reading the audit log at scale

const OWNERS = 500;
const t0 = performance.now();
raw.pragma('synchronous = OFF');
const start = Date.now() - 3 * 365 * 86_400_000;
const fillAt = raw.prepare(
  'INSERT INTO audit_events (at, actor, actor_kind, actor_token_id, action, repo, target, detail, address) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
);
raw.transaction(() => {
  for (let i = 0; i < EVENTS; i++) {
    // Owners follow a long tail (owner k holds about 1/(k+1) of the share), as real sites do.
    const owner = Math.floor(OWNERS ** Math.random()) - 1;
    const action = AUDIT_ACTIONS[i % AUDIT_ACTIONS.length]!;
    const at = new Date(start + (i / EVENTS) * 3 * 365 * 86_400_000).toISOString();
    fillAt.run(at, `user${i % 300}`, 'token', i % 5000, action, `owner${owner}/repo${i % 4}`, `target${i % 97}`, '{"n":1}', '10.0.0.7');
  }
})();
raw.pragma('synchronous = NORMAL');
console.log(`\n## Reading the audit log: ${EVENTS.toLocaleString('en')} events filled in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);

const admin: Caller = { user: { ...alice, name: 'root' }, tokenId: 1, scopes: ['read', 'push', 'admin'] };
const ownerOf = (name: string): Caller => ({ user: { ...alice, name }, tokenId: 2, scopes: ['read', 'push'] });
const count = (where: string) => (raw.prepare(`SELECT count(*) AS n FROM audit_events WHERE ${where}`).get() as { n: number }).n;
const middle = Math.floor(EVENTS / 2);
const queries: [string, () => number][] = [
  ["an admin's newest 100", () => log.list(admin, { limit: 100 }).events.length],
  ['by action (secret.set), newest 100', () => log.list(admin, { action: 'secret.set', limit: 100 }).events.length],
  ['by repo (owner3/repo1), newest 100', () => log.list(admin, { repo: 'owner3/repo1', limit: 100 }).events.length],
  [`an owner's view, a big owner (owner0: ${count("repo LIKE 'owner0/%'")} events)`, () => log.list(ownerOf('owner0'), { limit: 100 }).events.length],
  [`an owner's view, a small owner (owner400: ${count("repo LIKE 'owner400/%'")} events)`, () => log.list(ownerOf('owner400'), { limit: 100 }).events.length],
  ["an owner's view of an owner with no events", () => log.list(ownerOf('nobody'), { limit: 100 }).events.length],
  ['a page in the middle (before = the middle id)', () => log.list(admin, { before: middle, limit: 100 }).events.length],
  ['the last day (since)', () => log.list(admin, { since: new Date(Date.now() - 86_400_000).toISOString(), limit: 100 }).events.length],
];
console.log('| query | rows | median ms | p90 ms |\n| --- | --- | --- | --- |');
for (const [name, run] of queries) {
  const ms: number[] = [];
  let rows = 0;
  for (let i = 0; i < 21; i++) {
    const q0 = performance.now();
    rows = run();
    if (i > 0) ms.push(performance.now() - q0);
  }
  console.log(`| ${name} | ${rows} | ${pct(ms, 50).toFixed(2)} | ${pct(ms, 90).toFixed(2)} |`);
}

store.db.$client.close();
rmSync(dir, { recursive: true, force: true });
