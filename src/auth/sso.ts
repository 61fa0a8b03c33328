import { randomBytes } from 'node:crypto';
import * as oidc from 'openid-client';
import { BadGatewayError } from '../errors.js';
import type { Logger } from '../log.js';
import { newUserNameProblem } from '../names.js';
import type { OidcSettings } from '../settings.js';
import type { User } from '../store/schema.js';
import type { Scope } from '../store/scopes.js';
import type { Store } from '../store/store.js';
import { refuse, type Outcome } from './outcome.js';
import { hashToken, SESSION_PREFIX } from './tokens.js';

/**
 * Single sign-on with the site's OpenID Connect provider (DESIGN.md "Identity and access"): the authorization
 * code flow with PKCE (S256), `state` and `nonce`; openid-client verifies the ID token (signature by the
 * issuer's JWKS, iss, aud, exp, nonce). Provisioning (who a verified person is here) is a plain function over the
 * store, so it is tested without a provider.
 */

/** How long a started sign-in may take at the provider (typing a password, a second factor). */
export const PENDING_TTL_MS = 10 * 60_000;
/** Sign-ins started and not finished that are kept at once; the oldest is forgotten beyond it (bounded memory). */
export const PENDING_MAX = 10_000;

/** A sign-in that failed for a reason outside this server: the provider is down or answered garbage (502). */
export class ProviderError extends BadGatewayError {}

/** Who the provider says signed in, from the verified ID token (and the userinfo endpoint when it lacks claims). */
export type Claims = { sub: string } & Record<string, unknown>;

/** A sign-in in progress, kept server-side under its `state` until the callback takes it (once). */
interface Pending {
  verifier: string;
  nonce: string;
  next: string;
  at: number;
}

/**
 * A callback's failures the person can act on (400: start again, for a state or a code that is spent, unknown or
 * another browser's; 403: the provider refused), as opposed to a ProviderError (502).
 */
export type CallbackRefusal = { refused: 'state' | 'code' | 'provider'; problem: string };

export class SingleSignOn {
  private config: Promise<oidc.Configuration> | undefined;
  /**
   * Pending sign-ins, in memory: a state is taken on first use, so a replayed callback finds nothing (a signed
   * cookie could not be spent once), and the server is one process. A restart forgets them: a sign-in begun
   * before it starts again, which costs a click.
   */
  private pending = new Map<string, Pending>();

  constructor(
    readonly settings: OidcSettings,
    /** `CODEHUB_PUBLIC_URL/auth/callback`: registered at the provider as the client's redirect URI. */
    readonly redirectUri: string,
    private log: Logger,
    private now: () => number = Date.now,
  ) {}

  /** The provider's name for the sign-in button: its host. */
  get providerName(): string {
    return new URL(this.settings.issuer).host;
  }

  /**
   * The provider's configuration from its discovery document, fetched on first use and kept; a failed fetch is
   * forgotten, so the next sign-in tries again (the server starts, and serves tokens, while the provider is down).
   */
  private configuration(): Promise<oidc.Configuration> {
    this.config ??= oidc
      .discovery(
        new URL(this.settings.issuer),
        this.settings.clientId,
        { client_secret: this.settings.clientSecret },
        oidc.ClientSecretBasic(this.settings.clientSecret),
        // openid-client leaves an ID token from the token endpoint unverified by default (OIDC Core 3.1.3.7 lets
        // TLS stand in for it); non-repudiation checks verify its signature by the issuer's JWKS as well, so a
        // token endpoint that is not the issuer's (a hijacked name, a proxy in the middle) cannot sign anyone in.
        { timeout: 10, execute: [oidc.enableNonRepudiationChecks, ...(this.settings.allowHttp ? [oidc.allowInsecureRequests] : [])] },
      )
      .catch((e: unknown) => {
        this.config = undefined;
        this.log.warn('single sign-on: the provider could not be discovered', { issuer: this.settings.issuer, err: describe(e) });
        throw new ProviderError(
          `the sign-in provider ${this.settings.issuer} could not be reached or answered no valid discovery document (${describe(e)}); try again later`,
        );
      });
    return this.config;
  }

  /** Starts a sign-in: the provider's authorization URL to send the browser to, and the state to bind to it. */
  async begin(next: string): Promise<{ url: string; state: string }> {
    const config = await this.configuration();
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    this.forgetOld();
    this.pending.set(state, { verifier, nonce, next, at: this.now() });
    if (this.pending.size > PENDING_MAX) this.pending.delete(this.pending.keys().next().value!);
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: this.redirectUri,
      scope: `openid profile${this.settings.adminGroup ? ' groups' : ''}`,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    return { url: url.href, state };
  }

  /**
   * Finishes a sign-in from the callback's query (`search`, with its `?`): the verified claims and where to go,
   * a refusal, or a ProviderError thrown. `browserState` is the state the browser's cookie holds: a callback
   * must come back to the browser that began it, so nobody can sign someone else in as themselves.
   */
  async finish(search: string, browserState: string | undefined): Promise<{ claims: Claims; next: string } | CallbackRefusal> {
    const params = new URLSearchParams(search);
    const state = params.get('state') ?? '';
    const pending = this.take(state);
    if (!pending) {
      return {
        refused: 'state',
        problem: 'this sign-in is unknown, used already or older than 10 minutes (a callback works once): start again from the sign-in page',
      };
    }
    if (browserState !== state) return { refused: 'state', problem: 'this sign-in was begun in another browser: start again from the sign-in page' };
    const error = params.get('error');
    if (error) {
      const why = params.get('error_description');
      return { refused: 'provider', problem: `the sign-in provider refused: ${error}${why ? ` (${why})` : ''}` };
    }
    const config = await this.configuration();
    let tokens: Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>;
    try {
      // The redirect URI is the public one: the request this server sees may be behind a proxy, under another host.
      tokens = await oidc.authorizationCodeGrant(config, new URL(this.redirectUri + search), {
        pkceCodeVerifier: pending.verifier,
        expectedState: state,
        expectedNonce: pending.nonce,
        idTokenExpected: true,
      });
    } catch (e) {
      this.log.warn('single sign-on: the code exchange or the ID token failed', { issuer: this.settings.issuer, err: describe(e) });
      // The provider refusing the code (a replayed callback's code, used once already; an expired one) is the
      // callback's fault, not the provider's: the person starts again, told why.
      if (e instanceof oidc.ResponseBodyError && e.error === 'invalid_grant') {
        return {
          refused: 'code',
          problem: `the sign-in provider refused this sign-in's authorization code (${describe(e)}): it was used already, has expired or was not issued for this sign-in (a code works once): start again from the sign-in page`,
        };
      }
      throw new ProviderError(`the sign-in provider's answer did not verify (${describe(e)}); nothing was changed here`);
    }
    let claims = tokens.claims() as Claims | undefined;
    if (!claims) throw new ProviderError('the sign-in provider sent no ID token');
    // Providers that keep profile claims out of the ID token (oidc-provider's default, some Keycloak setups) serve them at userinfo.
    const lacks = claims[this.settings.usernameClaim] === undefined || (this.settings.adminGroup !== null && claims.groups === undefined);
    if (lacks && config.serverMetadata().userinfo_endpoint) {
      try {
        const info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
        claims = { ...info, ...claims, ...pick(info, [this.settings.usernameClaim, 'groups']) };
      } catch (e) {
        throw new ProviderError(`the sign-in provider's userinfo answer did not verify (${describe(e)}); nothing was changed here`);
      }
    }
    return { claims, next: pending.next };
  }

  private take(state: string): Pending | undefined {
    const p = this.pending.get(state);
    if (p) this.pending.delete(state);
    return p && this.now() - p.at <= PENDING_TTL_MS ? p : undefined;
  }

  private forgetOld(): void {
    const now = this.now();
    // Insertion order is age order: stop at the first one still young.
    for (const [state, p] of this.pending) {
      if (now - p.at <= PENDING_TTL_MS) break;
      this.pending.delete(state);
    }
  }
}

/** Who signed in, as provisioning settled it. */
export interface Provisioned {
  user: User;
  /** The session's scopes: read,push, and admin while in the admin group at this sign-in. */
  scopes: Scope[];
  admin: boolean;
  /** How the user was found: made now, an existing user linked now, or known by subject. */
  how: 'created' | 'linked' | 'known';
}

/**
 * The user a verified sign-in is: known by subject (`<issuer> <sub>`, so a name changed at the provider keeps
 * its namespace here); else a new user under the name the configured claim gives (it must pass the owner
 * grammar: refused, saying why and naming the claim, and nothing is made); else an existing user of that name
 * with no subject, linked once; a name another subject holds is refused: nobody is merged into another's
 * namespace.
 */
export function provision(store: Store, settings: Pick<OidcSettings, 'issuer' | 'usernameClaim' | 'adminGroup'>, claims: Claims): Outcome<Provisioned> {
  const subject = `${settings.issuer} ${claims.sub}`;
  const admin = settings.adminGroup !== null && groupsOf(claims.groups).includes(settings.adminGroup);
  const scopes: Scope[] = admin ? ['read', 'push', 'admin'] : ['read', 'push'];
  const known = store.accounts.userBySubject(subject);
  if (known) return { ok: true, user: known, scopes, admin, how: 'known' };
  const raw = claims[settings.usernameClaim];
  const claim = `the provider's \`${settings.usernameClaim}\` claim (CODEHUB_OIDC_USERNAME_CLAIM)`;
  if (typeof raw !== 'string' || raw === '')
    return refuse('invalid', `${claim} is missing or not text: it names your user here; ask the provider's admin to release it`);
  const problem = newUserNameProblem(raw);
  if (problem) return refuse('invalid', `${claim} gives a name this server cannot use: ${problem}; nothing was made`);
  const held = store.accounts.userByName(raw);
  if (held) {
    if (held.ssoSubject !== null)
      return refuse('conflict', `the user ${raw} here belongs to another account of the provider; nothing was merged: ask an admin`);
    // A user made by `user add` or the admin API before their first sign-in: the platform makes users under the
    // names the company's directory gives them, so the first sign-in of that name is theirs. Linked once: from
    // then on the subject, not the name, says who they are.
    if (!store.accounts.linkSubject(held.id, subject)) return refuse('conflict', `the user ${raw} was linked by another sign-in just now; sign in again`);
    return { ok: true, user: { ...held, ssoSubject: subject }, scopes, admin, how: 'linked' };
  }
  // A removed user's repos stay with the name: a new person must not inherit them (as `user add` refuses).
  if (store.repos.countOf(raw) > 0) return refuse('conflict', `the name ${raw} still owns the repos of a removed user; ask an admin`);
  const user = store.accounts.createSsoUser(raw, subject);
  if (!user) return refuse('conflict', `the user ${raw} was made by another sign-in just now; sign in again`);
  return { ok: true, user, scopes, admin, how: 'created' };
}

/** Starts a web session (and forgets expired ones): the cookie's value (`chs_` and 256 random bits, shown to the browser only) and its row's id. */
export function startSession(store: Store, p: Provisioned, days: number, now = new Date()): { cookie: string; id: number; expiresAt: string } {
  // Each sign-in sweeps the sessions that ended by expiry: the table stays the size of the live ones, with no timer.
  store.sessions.forgetExpired(now);
  const cookie = SESSION_PREFIX + randomBytes(32).toString('base64url');
  const expiresAt = new Date(now.getTime() + days * 86_400_000).toISOString();
  const id = store.sessions.create(p.user.id, hashToken(cookie), p.scopes, expiresAt);
  return { cookie, id, expiresAt };
}

/** Ends the session a cookie holds; false when it is not a session's or there was none. */
export function endSession(store: Store, cookie: string | undefined): boolean {
  return !!cookie?.startsWith(SESSION_PREFIX) && store.sessions.end(hashToken(cookie));
}

/** The `groups` claim as a list (some providers send one group as a string). */
function groupsOf(v: unknown): string[] {
  if (typeof v === 'string') return [v];
  return Array.isArray(v) ? v.filter((g): g is string => typeof g === 'string') : [];
}

function pick(o: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(keys.filter((k) => o[k] !== undefined).map((k) => [k, o[k]]));
}

/** An error's message with its cause's (fetch's "fetch failed" hides ECONNREFUSED in the cause); never a secret. */
function describe(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const cause = e.cause instanceof Error ? `: ${e.cause.message}` : '';
  // openid-client's message for an OAuth error answer is generic ("server responded with an error in the
  // response body"); the provider's own words are its `error` and `error_description`.
  const oauth = e instanceof oidc.ResponseBodyError ? `: ${e.error}${e.error_description ? ` (${e.error_description})` : ''}` : '';
  return `${e.message}${oauth}${cause}`.slice(0, 300);
}
