/**
 * Single sign-on against a real OpenID Connect provider (oidc-provider, in this process, with its built-in
 * login and consent pages), the real server, Chromium and git: a person signs in at the provider, is made a
 * user, makes a token on the tokens page and pushes with it; the admin group gives an admin session; a name the
 * owner grammar refuses, a forged or replayed callback (its state spent, its code used already, another
 * browser's state) and the provider's refusal make nothing; signing out ends the session. The SQLite file is read to see what was (and was not) made.
 */
import Database from 'better-sqlite3';
import { existsSync, readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import Provider from 'oidc-provider';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dbFile } from '../../src/store/db.js';
import { launchChromium } from '../helpers/browser.js';
import { WorkRepo } from '../helpers/git.js';
import { freePort, TestServer } from '../helpers/server.js';

let provider: Server;
let issuer: string;
let server: TestServer;
let browser: Browser;

beforeAll(async () => {
  const port = await freePort();
  const providerPort = await freePort();
  issuer = `http://127.0.0.1:${providerPort}`;
  const op = new Provider(issuer, {
    clients: [
      {
        client_id: 'codehub',
        client_secret: 'codehub-test-secret',
        redirect_uris: [`http://127.0.0.1:${port}/auth/callback`],
        token_endpoint_auth_method: 'client_secret_basic',
        grant_types: ['authorization_code'],
        response_types: ['code'],
      },
    ],
    pkce: { required: () => true },
    // The dev login form takes any login name: that name is the account, its groups by name.
    findAccount: (_ctx, id) => ({
      accountId: id,
      claims: () => ({ sub: id, preferred_username: id, groups: id === 'root-admin' ? ['codehub-admins', 'staff'] : ['staff'] }),
    }),
    claims: { openid: ['sub'], profile: ['preferred_username'], groups: ['groups'] },
    features: { devInteractions: { enabled: true } },
    cookies: { keys: ['sso-test-cookie-key'] },
  });
  provider = op.listen(providerPort, '127.0.0.1');
  server = await TestServer.start({
    port,
    env: {
      CODEHUB_OIDC_ISSUER: issuer,
      CODEHUB_OIDC_CLIENT_ID: 'codehub',
      CODEHUB_OIDC_CLIENT_SECRET: 'codehub-test-secret',
      CODEHUB_OIDC_ADMIN_GROUP: 'codehub-admins',
      CODEHUB_OIDC_ALLOW_HTTP: 'true',
    },
  });
  browser = await launchChromium();
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await server?.stop();
  provider?.close();
});

/** A query on the server's SQLite file, read-only, as an operator would look. */
function query<T>(sql: string, ...params: unknown[]): T[] {
  const db = new Database(dbFile(server.dataDir), { readonly: true });
  try {
    return db.prepare(sql).all(...params) as T[];
  } finally {
    db.close();
  }
}
const usersNamed = (name: string) => query<{ name: string; sso_subject: string | null }>('SELECT name, sso_subject FROM users WHERE name = ?', name);
const sessionCount = () => query<{ n: number }>('SELECT count(*) AS n FROM sessions')[0]!.n;

/**
 * Signs in through the provider in a fresh browser context: /login, the SSO button, the provider's login form
 * (any password), its consent. Returns the page where the server's callback left the browser, and the callback URL.
 */
async function signIn(login: string): Promise<{ context: BrowserContext; page: Page; callback: string; status: number }> {
  const context = await newContext();
  const page = await context.newPage();
  let callback = '';
  let status = 0;
  page.on('response', (r) => {
    if (r.url().startsWith(`${server.url}/auth/callback`)) {
      callback = r.url();
      status = r.status();
    }
  });
  await page.goto(`${server.url}/login`);
  await page.click('#sso-sign-in');
  await page.waitForURL((u) => u.href.startsWith(issuer));
  await page.fill('input[name=login]', login);
  await page.fill('input[name=password]', 'anything');
  await page.click('button[type=submit]');
  // The consent prompt (first sign-in of this account to this client): Continue.
  if (!page.url().startsWith(server.url)) await page.click('button[type=submit]');
  await page.waitForURL((u) => u.href.startsWith(server.url));
  return { context, page, callback, status };
}

/** A fresh browser context; the provider's pages import a web font, which this offline machine would wait for. */
async function newContext(): Promise<BrowserContext> {
  const context = await browser.newContext();
  await context.route(
    (u) => !u.href.startsWith(server.url) && !u.href.startsWith(issuer),
    (r) => r.abort(),
  );
  return context;
}

/**
 * Begins a sign-in in `context` without going to the provider: GET /auth/login, unfollowed, sets the state
 * cookie in the context. Returns the state and the provider's authorization URL, which carries it.
 */
async function beginSignIn(context: BrowserContext): Promise<{ state: string; url: string }> {
  const begun = await context.request.get(`${server.url}/auth/login`, { maxRedirects: 0 });
  expect(begun.status()).toBe(302);
  const url = begun.headers().location!;
  const state = new URL(url).searchParams.get('state')!;
  expect((await context.cookies(`${server.url}/auth/callback`)).find((c) => c.name === 'codehub_sso_state')?.value).toBe(state);
  return { state, url };
}

/**
 * A fresh callback URL (code and state) for someone already signed in at the provider in `context`, not
 * followed: a new sign-in begun, the provider's redirects walked by hand (no login form or consent is shown to
 * someone with a session and a grant) up to the server's callback.
 */
async function heldCallback(context: BrowserContext): Promise<URL> {
  let at = (await beginSignIn(context)).url;
  for (let hops = 0; !at.startsWith(`${server.url}/auth/callback`); hops++) {
    expect(hops, `the provider sent ${at}`).toBeLessThan(5);
    const r = await context.request.get(at, { maxRedirects: 0 });
    expect([302, 303], `${at}: ${r.status()}`).toContain(r.status());
    at = new URL(r.headers().location!, at).href;
  }
  return new URL(at);
}

/** What a sign-in could have made: users, sessions, sign-in events. */
const madeSoFar = () => ({
  users: query<{ n: number }>('SELECT count(*) AS n FROM users')[0]!.n,
  sessions: sessionCount(),
  signIns: query<{ n: number }>("SELECT count(*) AS n FROM audit_events WHERE action = 'sign_in'")[0]!.n,
});

const sessionCookie = async (context: BrowserContext) => (await context.cookies(server.url)).find((c) => c.name === 'codehub_token')?.value;

describe('single sign-on', () => {
  it("makes a user on first sign-in, who makes a 30-day token on the tokens page and pushes with it (and cannot revoke another user's); a replayed or forged callback makes nothing; sign-out ends the session", async () => {
    const { context, page, callback, status } = await signIn('dana');
    expect(status).toBe(303);
    expect(page.url()).toBe(`${server.url}/`);
    expect(await page.textContent('header')).toContain('Signed in as dana');
    expect(usersNamed('dana')).toEqual([{ name: 'dana', sso_subject: `${issuer} dana` }]);
    // The session answers GET /api/user as a token does; not in the admin group, no admin scope.
    const me = await page.request.get(`${server.url}/api/user`);
    expect(await me.json()).toEqual({ name: 'dana', scopes: ['read', 'push'] });
    expect(query<{ action: string; detail: string }>("SELECT action, detail FROM audit_events WHERE actor = 'dana' ORDER BY id")).toEqual([
      { action: 'user.create', detail: JSON.stringify({ method: 'oidc' }) },
      { action: 'sign_in', detail: JSON.stringify({ method: 'oidc', admin: false }) },
    ]);

    // A token from the tokens page, shown once, never cached; admin is not offered to a non-admin.
    await page.click('a[href="/tokens"]');
    expect(await page.locator('input[name=scopes][value=admin]').count()).toBe(0);
    await page.fill('#label', 'laptop');
    await page.selectOption('#expires', '30');
    const [made] = await Promise.all([
      page.waitForResponse((r) => r.url() === `${server.url}/tokens` && r.request().method() === 'POST'),
      page.click('text=Make token'),
    ]);
    expect(made.headers()['cache-control']).toBe('no-store');
    const token = (await page.textContent('#token-value'))!.trim();
    expect(token).toMatch(/^chb_/);
    expect(await page.textContent('#tokens')).toContain('laptop');
    await page.goto(`${server.url}/tokens`);
    expect(await page.content()).not.toContain(token);

    const repo = await WorkRepo.create({ 'README.md': '# notes\n' });
    const pushed = await repo.push(server.gitUrl('dana', token, 'dana', 'notes'), ['main']);
    expect(pushed.exitCode, pushed.output).toBe(0);
    await page.goto(`${server.url}/`);
    expect(await page.locator('a[href="/repos/dana/notes"]').count()).toBeGreaterThan(0);
    const [row] = query<{ id: number; expires_at: string }>("SELECT id, expires_at FROM tokens WHERE label = 'laptop'");
    const days = (Date.parse(row!.expires_at) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(29.9);
    expect(days).toBeLessThan(30.1);

    // Another user's token is not hers to revoke, whatever its id.
    const [adminToken] = query<{ id: number }>("SELECT tokens.id FROM tokens JOIN users ON users.id = tokens.user_id WHERE users.name = 'admin'");
    const csrf = await page.getAttribute('input[name=csrf]', 'value');
    const foreign = await page.request.post(`${server.url}/tokens/${adminToken!.id}/revoke`, { form: { csrf: csrf! } });
    expect(foreign.status()).toBe(404);
    expect(query<{ n: number }>('SELECT count(*) AS n FROM tokens WHERE id = ?', adminToken!.id)[0]!.n).toBe(1);

    // The callback URL again (a replay): its state was spent; nothing new is made.
    const sessions = sessionCount();
    const replay = await page.goto(callback);
    expect(replay!.status()).toBe(400);
    expect(await page.textContent('main')).toContain('used already');
    const forged = await page.goto(`${server.url}/auth/callback?code=made-up&state=made-up`);
    expect(forged!.status()).toBe(400);
    expect(sessionCount()).toBe(sessions);

    // Sign out: the session row goes, and its cookie, kept elsewhere, no longer signs in.
    const cookie = await sessionCookie(context);
    expect(cookie).toMatch(/^chs_/);
    await page.goto(`${server.url}/`);
    await page.click('text=Sign out');
    await page.waitForURL(`${server.url}/login`);
    expect(sessionCount()).toBe(sessions - 1);
    const after = await fetch(`${server.url}/api/user`, { headers: { cookie: `codehub_token=${cookie}` } });
    expect(after.status).toBe(401);
    expect(query<{ n: number }>("SELECT count(*) AS n FROM audit_events WHERE actor = 'dana' AND action = 'sign_out'")[0]!.n).toBe(1);
    // The token she made lives on (it is hers, not the session's).
    expect((await server.api('/api/user', token)).body).toEqual({ name: 'dana', scopes: ['read', 'push'] });
    // Neither the session's cookie, her token nor the client secret is in the server's log or the database file.
    const file = dbFile(server.dataDir);
    const stored = [file, `${file}-wal`]
      .filter(existsSync)
      .map((f) => readFileSync(f).toString('latin1'))
      .join('');
    for (const secret of [cookie!, token, 'codehub-test-secret']) {
      expect(server.logs.join('\n')).not.toContain(secret);
      expect(stored).not.toContain(secret);
    }
    await context.close();
  });

  it('gives a member of the admin group an admin session, whose admin token made on the page stops working once revoked with its button', async () => {
    const { context, page } = await signIn('root-admin');
    expect(await (await page.request.get(`${server.url}/api/user`)).json()).toEqual({ name: 'root-admin', scopes: ['read', 'push', 'admin'] });
    await page.goto(`${server.url}/tokens`);
    expect(await page.locator('input[name=scopes][value=admin]').count()).toBe(1);
    // An admin token from the page, then revoked with its button: it stops working at once.
    await page.fill('#label', 'ops');
    await page.check('input[name=scopes][value=admin]');
    await page.click('text=Make token');
    const token = (await page.textContent('#token-value'))!.trim();
    expect((await server.api('/api/user', token)).body).toEqual({ name: 'root-admin', scopes: ['read', 'push', 'admin'] });
    const [row] = query<{ id: number; expires_at: string | null }>("SELECT id, expires_at FROM tokens WHERE label = 'ops'");
    expect(row!.expires_at).not.toBeNull(); // 90 days, the form's default
    await page.click(`#token-${row!.id} button`);
    await page.waitForURL(`${server.url}/tokens`);
    expect((await server.api('/api/user', token)).status).toBe(401);
    expect(query<{ action: string }>("SELECT action FROM audit_events WHERE actor = 'root-admin' AND action LIKE 'token.%' ORDER BY id")).toEqual([
      { action: 'token.create' },
      { action: 'token.revoke' },
    ]);
    expect(query<{ detail: string }>("SELECT detail FROM audit_events WHERE actor = 'root-admin' AND action = 'sign_in'")).toEqual([
      { detail: JSON.stringify({ method: 'oidc', admin: true }) },
    ]);
    await context.close();
  });

  it('refuses a name the owner grammar refuses, naming the claim, and makes nothing', async () => {
    const users = query<{ n: number }>('SELECT count(*) AS n FROM users')[0]!.n;
    const sessions = sessionCount();
    const { context, page, status } = await signIn('Bad Name!');
    expect(status).toBe(400);
    const text = await page.textContent('main');
    expect(text).toContain('preferred_username');
    expect(text).toContain('is invalid: use lowercase letters and digits');
    expect(query<{ n: number }>('SELECT count(*) AS n FROM users')[0]!.n).toBe(users);
    expect(sessionCount()).toBe(sessions);
    expect(await sessionCookie(context)).toBeUndefined();
    await context.close();
  });

  it("shows the provider's refusal (the person cancelled at the provider) and makes nothing", async () => {
    const context = await newContext();
    const page = await context.newPage();
    await page.goto(`${server.url}/login`);
    await page.click('#sso-sign-in');
    await page.waitForURL((u) => u.href.startsWith(issuer));
    const [answer] = await Promise.all([page.waitForResponse((r) => r.url().startsWith(`${server.url}/auth/callback`)), page.click('text=[ Cancel ]')]);
    expect(answer.status()).toBe(403);
    expect(await page.textContent('main')).toContain('the sign-in provider refused: access_denied');
    expect(await sessionCookie(context)).toBeUndefined();
    await context.close();
  });

  it("refuses an authorization code used already, presented with a fresh sign-in's state: the provider answers invalid_grant, the page says so, nothing is made", async () => {
    const first = await signIn('erin');
    expect(first.status).toBe(303);
    await first.context.close();
    const used = new URL(first.callback);
    expect(used.searchParams.get('code')).toBeTruthy();
    const before = madeSoFar();
    // Another sign-in begun (its state cookie set), then the callback with its state but the spent code.
    const context = await newContext();
    const { state } = await beginSignIn(context);
    expect(state).not.toBe(used.searchParams.get('state'));
    used.searchParams.set('state', state);
    const page = await context.newPage();
    const answer = await page.goto(used.href);
    expect(answer!.status()).toBe(400);
    const text = await page.textContent('main');
    expect(text).toContain("the sign-in provider refused this sign-in's authorization code");
    expect(text).toContain('invalid_grant');
    expect(text).toContain('it was used already, has expired or was not issued for this sign-in (a code works once): start again from the sign-in page');
    expect(madeSoFar()).toEqual(before);
    expect(await sessionCookie(context)).toBeUndefined();
    await context.close();
  });

  it("refuses a callback presented with another browser's state cookie (a forged sign-in), and makes nothing", async () => {
    // The attacker, signed in at the provider as themselves, gets a fresh code for their own account and holds
    // its callback back; the victim's browser, which began a sign-in of its own, is made to open it (login CSRF).
    const attacker = await signIn('mallory');
    const callback = await heldCallback(attacker.context);
    const before = madeSoFar();
    const victim = await newContext();
    const { state: victimState } = await beginSignIn(victim);
    expect(callback.searchParams.get('code')).toBeTruthy();
    expect(callback.searchParams.get('state')).not.toBe(victimState);
    const page = await victim.newPage();
    const answer = await page.goto(callback.href);
    expect(answer!.status()).toBe(400);
    expect(await page.textContent('main')).toContain('this sign-in was begun in another browser: start again from the sign-in page');
    expect(await sessionCookie(victim)).toBeUndefined();
    expect(madeSoFar()).toEqual(before);
    // The refused callback spent its state: the attacker's own browser cannot finish it after.
    const retry = await attacker.page.goto(callback.href);
    expect(retry!.status()).toBe(400);
    expect(await attacker.page.textContent('main')).toContain('used already');
    expect(madeSoFar()).toEqual(before);
    await attacker.context.close();
    await victim.close();
  });
});
