import type { Context } from 'hono';
import { getCookie } from 'hono/cookie';
import type { Caller } from '../store/scopes.js';
import { checkPullToken, pullTokenMisuse } from '../auth/pull-tokens.js';
import { hashToken, parseAuthorization, SESSION_PREFIX, type Credentials } from '../auth/tokens.js';
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

/** What a presented credential is: its caller, a sentence saying why it is refused, or nothing known. */
type Lookup = { caller: Caller } | { refused: string } | undefined;

/**
 * Resolves the caller of a request from its token, and slows down guessing: an address with too many failed
 * sign-ins in a minute is refused (429) before its token is even looked at.
 */
export class Authenticator {
  private failures = new Map<string, { count: number; since: number }>();

  constructor(
    private store: Store,
    private limits: AuthLimits = { failuresPerMinute: 30 },
    /** The clock tokens expire by (a fake one in unit tests). */
    private now: () => Date = () => new Date(),
  ) {}

  /**
   * The caller the request's token belongs to, or undefined (no token, unknown token, or name/token mismatch).
   * The token comes from the Authorization header or, for GET and HEAD only, from the web sign-in cookie:
   * a browser sends cookies with requests other sites make it send, so nothing that changes state may
   * take a cookie as its credential (the web's forms carry a CSRF token as well; see web/session.ts).
   */
  caller(c: Context): Caller | undefined {
    const found = this.lookup(c);
    return found && 'caller' in found ? found.caller : undefined;
  }

  private lookup(c: Context): Lookup {
    const header = c.req.header('authorization');
    if (header === undefined && (c.req.method === 'GET' || c.req.method === 'HEAD')) {
      const caller = this.byToken(getCookie(c, SESSION_COOKIE));
      return caller ? { caller } : undefined;
    }
    const cred = parseAuthorization(header);
    if (!cred || cred.token.length === 0 || cred.token.length > 512) return undefined;
    // The lookup is by SHA-256 of the token: what an attacker can time is the index search for a hash of
    // their own guess, which says nothing about any real token.
    const found = this.store.accounts.tokenByHash(hashToken(cred.token), this.now());
    if (!found) {
      // A pull token is a deployment's registry credential: git and the API say so, rather than call it wrong.
      const misuse = pullTokenMisuse(this.store, cred.token);
      return misuse ? { refused: misuse } : undefined;
    }
    if ('expired' in found) return { refused: expiredProblem(found.expired) };
    // With basic auth the user name must match the token's owner, so a token cannot be used under another name.
    if (cred.user !== undefined && cred.user !== found.user.name) return undefined;
    return { caller: found };
  }

  /**
   * The caller a bare credential belongs to: a token typed into the sign-in form or kept in the cookie, or a
   * single sign-on session's id (cookie only: a session is never an Authorization header's credential).
   * Undefined for anything unknown or expired.
   */
  byToken(token: string | undefined): Caller | undefined {
    if (!token || token.length > 512) return undefined;
    if (token.startsWith(SESSION_PREFIX)) return this.store.sessions.callerByHash(hashToken(token), this.now());
    const found = this.store.accounts.tokenByHash(hashToken(token), this.now());
    return found && !('expired' in found) ? found : undefined;
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

  /** Why a bare token is refused when its holder can act on it (it expired, saying when), or null. */
  refusalOf(token: string): string | null {
    const found = token.length <= 512 ? this.store.accounts.tokenByHash(hashToken(token), this.now()) : undefined;
    return found && 'expired' in found ? expiredProblem(found.expired) : null;
  }

  /** The caller, or a 401 with a Basic challenge naming `realm` (429 once an address has failed too often). */
  basicOrChallenge(c: Context, realm: string): Caller {
    this.refuseIfFailing(c);
    const found = this.lookup(c);
    if (found && 'caller' in found) return found.caller;
    // A known token refused for a reason its holder can act on (it expired) is not a guess: no failure counted.
    if (found) throw new ChallengeError(found.refused, realm);
    const had = c.req.header('authorization') !== undefined;
    if (had) this.countFailure(c);
    throw new ChallengeError(
      had
        ? 'wrong user name or token: use your user name and a token from `codehub-build user add` or `token create`'
        : 'authentication required: give your user name and token',
      realm,
    );
  }

  /** The git repo a pull token (user `pull-<id>`, a `chp_` token) pulls from, or a 401 saying why not (429 as above). */
  pullOrChallenge(c: Context, cred: Credentials, realm: string): { owner: string; repo: string } {
    this.refuseIfFailing(c);
    const check = checkPullToken(this.store, cred.user ?? '', cred.token, this.now());
    if (check.ok) return check;
    // As for a user token: an expired one is not a guess, a wrong one counts as a failed sign-in.
    if (!check.expired) this.countFailure(c);
    throw new ChallengeError(check.problem, realm);
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

/** Why an expired token is refused: when it expired, and how to get another. */
function expiredProblem(e: { id: number; at: string }): string {
  return `token ${e.id} expired at ${e.at}; make a new one (codehub-build token create <user> --expires 90d, or the tokens page)`;
}

/** The address the request came from (the socket's peer), or `local` for an in-process request. */
export function remoteAddress(c: Context): string {
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
  return env?.incoming?.socket?.remoteAddress ?? 'local';
}
