import type { Context } from 'hono';
import { getCookie } from 'hono/cookie';
import type { Caller } from '../store/scopes.js';
import { hashToken, parseAuthorization } from '../auth/tokens.js';
import { TooManyRequestsError, UnauthorizedError } from '../errors.js';
import type { Store } from '../store/store.js';

/** The cookie the web sign-in sets: the token itself, HTTP-only, so page scripts never see it. */
export const SESSION_COOKIE = 'codehub_token';

/** 401 that asks the client for credentials (git prompts, or uses its credential helper, on this). */
export class ChallengeError extends UnauthorizedError {
  constructor(
    message: string,
    readonly realm: string,
  ) {
    super(message);
  }
}

export interface AuthLimits {
  /** Failed sign-ins one address may make per minute; after that it gets 429 until the minute is over. */
  failuresPerMinute: number;
}

/**
 * Resolves the caller of a request from its token, and slows down guessing: an address with too many failed
 * sign-ins in a minute is refused (429) before its token is even looked at.
 */
export class Authenticator {
  private failures = new Map<string, { count: number; since: number }>();

  constructor(
    private store: Store,
    private limits: AuthLimits = { failuresPerMinute: 30 },
  ) {}

  /**
   * The caller the request's token belongs to, or undefined (no token, unknown token, or name/token mismatch).
   * The token comes from the Authorization header or, for GET and HEAD only, from the web sign-in cookie:
   * a browser sends cookies with requests other sites make it send, so nothing that changes state may
   * take a cookie as its credential (the web's forms carry a CSRF token as well; see web/session.ts).
   */
  caller(c: Context): Caller | undefined {
    const header = c.req.header('authorization');
    if (header === undefined && (c.req.method === 'GET' || c.req.method === 'HEAD')) return this.byToken(getCookie(c, SESSION_COOKIE));
    const cred = parseAuthorization(header);
    if (!cred || cred.token.length === 0 || cred.token.length > 512) return undefined;
    // The lookup is by SHA-256 of the token: what an attacker can time is the index search for a hash of
    // their own guess, which says nothing about any real token.
    const caller = this.store.accounts.tokenByHash(hashToken(cred.token));
    // With basic auth the user name must match the token's owner, so a token cannot be used under another name.
    if (!caller || (cred.user !== undefined && cred.user !== caller.user.name)) return undefined;
    return caller;
  }

  /** The caller a bare token (a cookie's, or one typed into the sign-in form) belongs to. */
  byToken(token: string | undefined): Caller | undefined {
    if (!token || token.length > 512) return undefined;
    return this.store.accounts.tokenByHash(hashToken(token));
  }

  /**
   * The web sign-in: the caller `token` belongs to, or undefined; a wrong token counts as a failed sign-in
   * of the address, as a wrong Authorization header does (429 once it has failed too often).
   */
  signIn(c: Context, token: string): Caller | undefined {
    this.refuseIfFailing(c);
    const caller = this.byToken(token);
    if (!caller) this.countFailure(c);
    return caller;
  }

  /** The caller, or a 401 with a Basic challenge naming `realm` (429 once an address has failed too often). */
  basicOrChallenge(c: Context, realm: string): Caller {
    this.refuseIfFailing(c);
    const caller = this.caller(c);
    if (caller) return caller;
    const had = c.req.header('authorization') !== undefined;
    if (had) this.countFailure(c);
    throw new ChallengeError(
      had
        ? 'wrong user name or token: use your user name and a token from `codehub-build user add` or `token create`'
        : 'authentication required: give your user name and token',
      realm,
    );
  }

  private refuseIfFailing(c: Context): void {
    const address = remoteAddress(c);
    const now = Date.now();
    const f = this.failures.get(address);
    if (f && now - f.since > 60_000) this.failures.delete(address);
    else if (f && f.count >= this.limits.failuresPerMinute) {
      const retryAfter = Math.max(1, Math.ceil((f.since + 60_000 - now) / 1000));
      throw new TooManyRequestsError(`too many failed sign-ins from ${address}; try again in ${retryAfter} s`, retryAfter);
    }
  }

  private countFailure(c: Context): void {
    const address = remoteAddress(c);
    let f = this.failures.get(address);
    if (!f) this.failures.set(address, (f = { count: 0, since: Date.now() }));
    f.count++;
    if (this.failures.size > 10_000) this.failures.delete(this.failures.keys().next().value!); // bounded memory
  }

  /** The caller of an API request, or a 401. */
  require(c: Context): Caller {
    return this.basicOrChallenge(c, 'codehub-build');
  }
}

/** The address the request came from (the socket's peer), or `local` for an in-process request. */
export function remoteAddress(c: Context): string {
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
  return env?.incoming?.socket?.remoteAddress ?? 'local';
}
