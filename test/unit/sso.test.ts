/**
 * Single sign-on without a browser: the settings and their errors; provisioning (who a verified sign-in is
 * here) over a real in-memory store; and the callback's checks against a small provider of this test's own
 * (discovery, JWKS, a token endpoint signing what the test asks), for what a real provider never sends: an ID
 * token for another audience or with another nonce. The provider being down, then back, is a closed port, then
 * that port answering.
 */
import { createServer, type Server } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { addUser } from '../../src/auth/accounts.js';
import { endSession, PENDING_TTL_MS, ProviderError, provision, SingleSignOn, startSession } from '../../src/auth/sso.js';
import { hashToken } from '../../src/auth/tokens.js';
import { silentLogger } from '../../src/log.js';
import { loadSettings, type OidcSettings, SettingsError } from '../../src/settings.js';
import { openDb } from '../../src/store/db.js';
import { Store } from '../../src/store/store.js';
import { freePort } from '../helpers/server.js';
import { memoryApp } from '../helpers/memory-app.js';
import { randomBytes } from 'node:crypto';
import { Hono } from 'hono';
import { createApp } from '../../src/app.js';
import { ssoRoutes } from '../../src/http/sso.js';
import { errorPage } from '../../src/http/web/routes.js';
import { WebSession } from '../../src/http/web/session.js';
import { expiryChoices } from '../../src/http/web/tokens-page.js';

const ISSUER = 'https://sso.corp.example';
const OIDC = { issuer: ISSUER, usernameClaim: 'preferred_username', adminGroup: 'codehub-admins' };

let store: Store;
beforeEach(() => {
  store = new Store(openDb(':memory:'));
});

describe('single sign-on settings', () => {
  const base = { CODEHUB_OIDC_ISSUER: ISSUER, CODEHUB_OIDC_CLIENT_ID: 'codehub', CODEHUB_OIDC_CLIENT_SECRET: 's3cret' };

  it('is off without an issuer, and takes the defaults with one', () => {
    expect(loadSettings({}).oidc).toBeNull();
    expect(loadSettings(base).oidc).toEqual({
      issuer: ISSUER,
      clientId: 'codehub',
      clientSecret: 's3cret',
      usernameClaim: 'preferred_username',
      adminGroup: null,
      allowHttp: false,
      sessionDays: 1,
    });
    expect(loadSettings({ ...base, CODEHUB_OIDC_USERNAME_CLAIM: 'email', CODEHUB_OIDC_ADMIN_GROUP: 'ops', CODEHUB_SESSION_DAYS: '7' }).oidc).toMatchObject({
      usernameClaim: 'email',
      adminGroup: 'ops',
      sessionDays: 7,
    });
  });

  it('refuses a half configuration, an http issuer without CODEHUB_OIDC_ALLOW_HTTP and bad values, naming the variable', () => {
    const refused = (env: Record<string, string>) => {
      try {
        loadSettings(env);
      } catch (e) {
        expect(e).toBeInstanceOf(SettingsError);
        return (e as Error).message;
      }
      throw new Error(`accepted ${JSON.stringify(env)}`);
    };
    expect(refused({ CODEHUB_OIDC_ISSUER: ISSUER })).toBe(
      "CODEHUB_OIDC_ISSUER is set but CODEHUB_OIDC_CLIENT_ID and CODEHUB_OIDC_CLIENT_SECRET are not: the provider's client for this server needs both",
    );
    expect(refused({ ...base, CODEHUB_OIDC_CLIENT_SECRET: '' })).toContain('CODEHUB_OIDC_CLIENT_SECRET is not');
    expect(refused({ CODEHUB_OIDC_CLIENT_ID: 'codehub' })).toContain('CODEHUB_OIDC_CLIENT_ID set without CODEHUB_OIDC_ISSUER');
    expect(refused({ ...base, CODEHUB_OIDC_ISSUER: 'http://sso.lab' })).toContain('CODEHUB_OIDC_ALLOW_HTTP=true');
    expect(loadSettings({ ...base, CODEHUB_OIDC_ISSUER: 'http://sso.lab', CODEHUB_OIDC_ALLOW_HTTP: 'true' }).oidc?.allowHttp).toBe(true);
    expect(refused({ ...base, CODEHUB_OIDC_ISSUER: 'sso.corp.example' })).toContain('CODEHUB_OIDC_ISSUER="sso.corp.example" is not a URL');
    expect(refused({ ...base, CODEHUB_OIDC_ALLOW_HTTP: 'yes' })).toContain('CODEHUB_OIDC_ALLOW_HTTP="yes"');
    expect(refused({ ...base, CODEHUB_SESSION_DAYS: '0' })).toContain('CODEHUB_SESSION_DAYS');
    expect(refused({ ...base, CODEHUB_OIDC_USERNAME_CLAIM: 'a b' })).toContain('CODEHUB_OIDC_USERNAME_CLAIM');
    // The secret is never in a message, even a refusal's.
    expect(refused({ ...base, CODEHUB_OIDC_ISSUER: 'http://sso.lab' })).not.toContain('s3cret');
  });
});

describe("the tokens page's lifetimes", () => {
  it('offers 90, 30 and 7 days and never; under a site maximum only what fits, with the maximum, never "never"', () => {
    expect(expiryChoices(null)).toEqual([90, 30, 7, null]);
    expect(expiryChoices(365)).toEqual([90, 30, 7]);
    expect(expiryChoices(90)).toEqual([90, 30, 7]);
    expect(expiryChoices(14)).toEqual([14, 7]);
    expect(expiryChoices(1)).toEqual([1]);
  });
});

describe('provisioning', () => {
  const claims = (sub: string, name: unknown, groups?: unknown) => ({ sub, preferred_username: name, ...(groups !== undefined ? { groups } : {}) });

  it('makes a password-less user under the claimed name, with the subject, and finds them by subject after', () => {
    const made = provision(store, OIDC, claims('u-1', 'dana', ['staff']));
    expect(made).toMatchObject({ ok: true, how: 'created', admin: false, scopes: ['read', 'push'], user: { name: 'dana', ssoSubject: `${ISSUER} u-1` } });
    if (!made.ok) return;
    expect(store.accounts.listTokens(made.user.id)).toEqual([]);
    // A name changed at the provider keeps the namespace here: the subject says who it is.
    expect(provision(store, OIDC, claims('u-1', 'dana.k'))).toMatchObject({ ok: true, how: 'known', user: { id: made.user.id, name: 'dana' } });
    expect(store.accounts.userByName('dana.k')).toBeUndefined();
  });

  it('refuses a name the owner grammar refuses, naming the claim, and makes nothing', () => {
    for (const bad of ['Bad Name!', '-x', 'system', 'codehub-build-7', 'x'.repeat(65)]) {
      const r = provision(store, OIDC, claims('u-2', bad));
      expect(r).toMatchObject({ ok: false, kind: 'invalid' });
      if (!r.ok) expect(r.problem).toContain("the provider's `preferred_username` claim (CODEHUB_OIDC_USERNAME_CLAIM)");
    }
    const missing = provision(store, { ...OIDC, usernameClaim: 'email' }, claims('u-2', 'dana'));
    expect(missing).toMatchObject({ ok: false, kind: 'invalid', problem: expect.stringContaining('`email` claim') });
    expect(store.accounts.userCount()).toBe(0);
  });

  it('links a user made by `user add` once, keeping their tokens; refuses a name another subject holds', () => {
    const added = addUser(store, 'erin');
    expect(added.ok).toBe(true);
    const linked = provision(store, OIDC, claims('u-3', 'erin'));
    expect(linked).toMatchObject({ ok: true, how: 'linked', user: { name: 'erin', ssoSubject: `${ISSUER} u-3` } });
    if (!linked.ok) return;
    expect(store.accounts.listTokens(linked.user.id)).toHaveLength(1);
    // Another person of the provider whose claim says erin: never merged into erin's namespace.
    const other = provision(store, OIDC, claims('u-4', 'erin'));
    expect(other).toMatchObject({ ok: false, kind: 'conflict', problem: expect.stringContaining('belongs to another account') });
    expect(store.accounts.userByName('erin')?.ssoSubject).toBe(`${ISSUER} u-3`);
    // The same sub from another issuer is another person too.
    expect(provision(store, { ...OIDC, issuer: 'https://other.example' }, claims('u-3', 'erin'))).toMatchObject({ ok: false, kind: 'conflict' });
  });

  it('refuses the name of a removed user who still owns repos', () => {
    store.repos.ensure('gone', 'app');
    expect(provision(store, OIDC, claims('u-5', 'gone'))).toMatchObject({ ok: false, kind: 'conflict', problem: expect.stringContaining('removed user') });
    expect(store.accounts.userByName('gone')).toBeUndefined();
  });

  it('gives admin while the admin group is in `groups` at this sign-in, and not after it leaves', () => {
    expect(provision(store, OIDC, claims('u-6', 'root', ['staff', 'codehub-admins']))).toMatchObject({
      ok: true,
      admin: true,
      scopes: ['read', 'push', 'admin'],
    });
    expect(provision(store, OIDC, claims('u-6', 'root', 'codehub-admins'))).toMatchObject({ admin: true });
    expect(provision(store, OIDC, claims('u-6', 'root', ['staff']))).toMatchObject({ ok: true, admin: false, scopes: ['read', 'push'] });
    expect(provision(store, OIDC, claims('u-6', 'root'))).toMatchObject({ admin: false });
    // No admin group configured: nobody is an admin by sign-in.
    expect(provision(store, { ...OIDC, adminGroup: null }, claims('u-6', 'root', ['codehub-admins']))).toMatchObject({ admin: false });
  });

  it('starts a session whose cookie only the browser holds (the row keeps its SHA-256) and ends it', () => {
    const p = provision(store, OIDC, claims('u-7', 'fay', ['codehub-admins']));
    if (!p.ok) throw new Error(p.problem);
    const now = new Date('2026-12-07T10:00:00Z');
    const s = startSession(store, p, 1, now);
    expect(s.cookie).toMatch(/^chs_[A-Za-z0-9_-]{43}$/);
    expect(s.expiresAt).toBe('2026-12-08T10:00:00.000Z');
    expect(JSON.stringify(store.db.$client.prepare('SELECT * FROM sessions').all())).not.toContain(s.cookie);
    expect(store.sessions.callerByHash(hashToken(s.cookie), now)).toMatchObject({ user: { name: 'fay' }, scopes: ['read', 'push', 'admin'], via: 'session' });
    expect(store.sessions.callerByHash(hashToken(s.cookie), new Date('2026-12-08T10:00:01Z'))).toBeUndefined();
    // The next sign-in, two days on, sweeps the expired one away.
    const later = startSession(store, p, 1, new Date('2026-12-09T10:00:00Z'));
    expect(store.db.$client.prepare('SELECT id FROM sessions').all()).toEqual([{ id: later.id }]);
    const again = startSession(store, p, 1, now);
    expect(endSession(store, 'chb_not-a-session')).toBe(false);
    expect(endSession(store, again.cookie)).toBe(true);
    expect(store.sessions.callerByHash(hashToken(again.cookie), now)).toBeUndefined();
  });
});

/** A provider of the test's own: what its token endpoint signs is up to the test (`idToken`). */
class FakeProvider {
  server!: Server;
  issuer!: string;
  /** Changes to the ID token's claims the next code exchange signs. */
  idToken: Record<string, unknown> = {};
  /** The nonce of the last authorization request (the test plays the browser). */
  nonce = '';
  /**
   * How the token endpoint misbehaves: an ID token expired, one signed with a key not in the JWKS, HTML, or an
   * OAuth error answer (the code refused, as for one used already).
   */
  fault: 'none' | 'expired' | 'wrong-key' | 'garbage' | 'invalid_grant' = 'none';
  private key!: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
  private jwk!: Record<string, unknown>;

  static async start(port: number): Promise<FakeProvider> {
    const p = new FakeProvider();
    const { privateKey, publicKey } = await generateKeyPair('RS256');
    p.key = privateKey;
    p.jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
    p.issuer = `http://127.0.0.1:${port}`;
    p.server = createServer((req, res) => void p.answer(req.url ?? '', res));
    await new Promise<void>((r) => p.server.listen(port, '127.0.0.1', r));
    return p;
  }

  private async answer(url: string, res: import('node:http').ServerResponse): Promise<void> {
    const json = (body: unknown): void => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    if (url === '/.well-known/openid-configuration') {
      return json({
        issuer: this.issuer,
        authorization_endpoint: `${this.issuer}/auth`,
        token_endpoint: `${this.issuer}/token`,
        jwks_uri: `${this.issuer}/jwks`,
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
      });
    }
    if (url === '/jwks') return json({ keys: [this.jwk] });
    if (url === '/token') {
      if (this.fault === 'invalid_grant') {
        res
          .writeHead(400, { 'content-type': 'application/json' })
          .end(JSON.stringify({ error: 'invalid_grant', error_description: 'grant request is invalid' }));
        return;
      }
      if (this.fault === 'garbage') {
        res.writeHead(200, { 'content-type': 'text/html' }).end('<html><body>Service Unavailable</body></html>');
        return;
      }
      const claims = { sub: 'u-9', preferred_username: 'gus', nonce: this.nonce, ...this.idToken };
      const now = Math.floor(Date.now() / 1000);
      // An expired token was issued an hour ago and lived 5 minutes (past any clock tolerance).
      const [iat, exp] = this.fault === 'expired' ? [now - 3600, now - 3300] : [now, now + 300];
      const key = this.fault === 'wrong-key' ? (await generateKeyPair('RS256')).privateKey : this.key;
      const idToken = await new SignJWT(claims)
        .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
        .setIssuer(this.issuer)
        .setAudience((this.idToken.aud as string) ?? 'codehub')
        .setIssuedAt(iat)
        .setExpirationTime(exp)
        .sign(key);
      return json({ access_token: 'at', token_type: 'Bearer', expires_in: 300, id_token: idToken });
    }
    res.writeHead(404).end();
  }

  close(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}

describe('the callback against a provider', () => {
  let port: number;
  let provider: FakeProvider | undefined;
  let clock: number;
  let sso: SingleSignOn;
  beforeEach(async () => {
    port = await freePort();
    clock = Date.parse('2026-12-07T10:00:00Z');
    const settings: OidcSettings = {
      issuer: `http://127.0.0.1:${port}`,
      clientId: 'codehub',
      clientSecret: 's3cret',
      usernameClaim: 'preferred_username',
      adminGroup: null,
      allowHttp: true,
      sessionDays: 1,
    };
    sso = new SingleSignOn(settings, 'https://build.corp.example/auth/callback', silentLogger, () => clock);
  });
  afterEach(async () => {
    await provider?.close();
    provider = undefined;
  });

  /** Begins a sign-in and plays the provider's redirect back: the callback's query. */
  async function begun(): Promise<{ state: string; search: string; url: URL }> {
    const { url, state } = await sso.begin('/repos');
    const u = new URL(url);
    provider!.nonce = u.searchParams.get('nonce')!;
    return { state, search: `?code=c0de&state=${state}`, url: u };
  }

  it('is a clear 502 while the provider is down, and works once it is back (discovery is tried again)', async () => {
    const down = await sso.begin('/').catch((e: unknown) => e);
    expect(down).toBeInstanceOf(ProviderError);
    expect((down as ProviderError).status).toBe(502);
    expect((down as Error).message).toContain(`the sign-in provider http://127.0.0.1:${port} could not be reached`);
    provider = await FakeProvider.start(port);
    const { url } = await begun();
    expect(url.origin + url.pathname).toBe(`${provider.issuer}/auth`);
    expect(Object.fromEntries(url.searchParams)).toMatchObject({
      client_id: 'codehub',
      response_type: 'code',
      redirect_uri: 'https://build.corp.example/auth/callback',
      code_challenge_method: 'S256',
      scope: 'openid profile',
    });
  });

  it('answers /auth/login with a page saying so while the provider is down (502), and 404 when not configured', async () => {
    const app = (sso: SingleSignOn | null) =>
      createApp({
        log: silentLogger,
        git: new Hono(),
        hooks: new Hono(),
        api: new Hono(),
        health: new Hono(),
        downloads: new Hono(),
        web: new Hono().route('/auth', ssoRoutes({ sso, store, session: new WebSession(randomBytes(32), false), secure: false })),
        errorPage,
      });
    const down = await app(sso).request('/auth/login?next=/tokens');
    expect(down.status).toBe(502);
    expect(down.headers.get('content-type')).toContain('text/html');
    const page = await down.text();
    expect(page).toContain('could not be reached');
    expect(page).not.toContain('s3cret');
    expect(down.headers.get('set-cookie')).toBeNull();
    const off = await app(null).request('/auth/callback?code=x&state=y');
    expect(off.status).toBe(404);
    expect(await off.text()).toContain('single sign-on is not configured on this server');
    expect(store.accounts.userCount()).toBe(0);
  });

  it('takes a verified ID token once: a replayed callback, another browser and an old sign-in are refused', async () => {
    provider = await FakeProvider.start(port);
    const first = await begun();
    expect(await sso.finish(first.search, first.state)).toMatchObject({ claims: { sub: 'u-9', preferred_username: 'gus' }, next: '/repos' });
    expect(await sso.finish(first.search, first.state)).toMatchObject({ refused: 'state', problem: expect.stringContaining('used already') });
    const other = await begun();
    expect(await sso.finish(other.search, 'another-browser')).toMatchObject({ refused: 'state', problem: expect.stringContaining('another browser') });
    const old = await begun();
    clock += PENDING_TTL_MS + 1;
    expect(await sso.finish(old.search, old.state)).toMatchObject({ refused: 'state' });
    const refused = await begun();
    expect(await sso.finish(`?error=access_denied&error_description=no&state=${refused.state}`, refused.state)).toEqual({
      refused: 'provider',
      problem: 'the sign-in provider refused: access_denied (no)',
    });
  });

  it("refuses a code the provider refuses (invalid_grant: used already or expired) as the callback's fault, saying so: 400, not 502", async () => {
    provider = await FakeProvider.start(port);
    provider.fault = 'invalid_grant';
    const b = await begun();
    expect(await sso.finish(b.search, b.state)).toEqual({
      refused: 'code',
      problem:
        "the sign-in provider refused this sign-in's authorization code (server responded with an error in the response body: invalid_grant (grant request is invalid)): it was used already, has expired or was not issued for this sign-in (a code works once): start again from the sign-in page",
    });
    expect(store.accounts.userCount()).toBe(0);
  });

  it('refuses an ID token for another client (aud) or another sign-in (nonce), as the provider answering garbage: 502', async () => {
    provider = await FakeProvider.start(port);
    const cases: [Record<string, unknown>, string][] = [
      [{ aud: 'someone-else' }, '"aud"'],
      [{ nonce: 'another-nonce' }, '"nonce"'],
    ];
    for (const [idToken, why] of cases) {
      provider.idToken = idToken;
      const b = await begun();
      const e = await sso.finish(b.search, b.state).catch((x: unknown) => x);
      expect(e, JSON.stringify(idToken)).toBeInstanceOf(ProviderError);
      expect((e as Error).message).toContain("the sign-in provider's answer did not verify");
      expect((e as Error).message).toContain(why);
    }
    expect(store.accounts.userCount()).toBe(0);
  });

  it('refuses an expired ID token, one signed with a key not in the JWKS, and a token endpoint answering HTML: 502, nothing made', async () => {
    provider = await FakeProvider.start(port);
    const cases: [FakeProvider['fault'], RegExp][] = [
      ['expired', /"exp"|expired/],
      ['wrong-key', /signature/i],
      ['garbage', /JSON|content-type|response/i],
    ];
    for (const [fault, why] of cases) {
      provider.fault = fault;
      const b = await begun();
      const e = await sso.finish(b.search, b.state).catch((x: unknown) => x);
      expect(e, fault).toBeInstanceOf(ProviderError);
      expect((e as ProviderError).status, fault).toBe(502);
      expect((e as Error).message, fault).toMatch(why);
    }
    expect(store.accounts.userCount()).toBe(0);
    expect(store.db.$client.prepare('SELECT count(*) AS n FROM sessions').get()).toEqual({ n: 0 });
  });
});

describe('the tokens page (in memory)', () => {
  let m: ReturnType<typeof memoryApp>;
  const page = async (path: string, cookie: string, init: RequestInit = {}) => {
    const headers = new Headers(init.headers);
    headers.set('cookie', `codehub_token=${cookie}`);
    const res = await m.app.request(path, { ...init, headers });
    return { status: res.status, headers: res.headers, body: await res.text() };
  };
  const csrfOf = (html: string) => /name="csrf" value="([^"]+)"/.exec(html)![1]!;
  const post = (path: string, cookie: string, form: [string, string][]) => page(path, cookie, { method: 'POST', body: new URLSearchParams(form) });
  beforeEach(() => {
    m = memoryApp();
  });

  it('makes a token no stronger than what signed in: a read-only token is offered read only and refused push', async () => {
    const user = m.store.accounts.createUser('hal', hashToken('chb_read-only-token-of-hal'), ['read']);
    expect(user).not.toBeNull();
    const cookie = 'chb_read-only-token-of-hal';
    const shown = await page('/tokens', cookie);
    expect(shown.status).toBe(200);
    expect(shown.body).toContain('value="read"');
    expect(shown.body).not.toContain('value="push"');
    const refused = await post('/tokens', cookie, [
      ['csrf', csrfOf(shown.body)],
      ['label', 'sneaky'],
      ['scopes', 'read'],
      ['scopes', 'push'],
    ]);
    expect(refused.status).toBe(403);
    expect(refused.body).toContain('without the push scope');
    expect(m.store.accounts.listTokens(user!.id)).toHaveLength(1);
    const made = await post('/tokens', cookie, [
      ['csrf', csrfOf(shown.body)],
      ['label', 'ro'],
      ['scopes', 'read'],
      ['expires', '7'],
    ]);
    expect(made.status).toBe(200);
    expect(made.headers.get('cache-control')).toBe('no-store');
    expect(m.store.accounts.listTokens(user!.id).map((t) => [t.label, t.scopes])).toEqual([
      ['default', ['read']],
      ['ro', ['read']],
    ]);
    // Without the page's CSRF token nothing is made.
    expect((await post('/tokens', cookie, [['label', 'x']])).status).toBe(403);
    expect(m.store.accounts.listTokens(user!.id)).toHaveLength(2);
  });
});
