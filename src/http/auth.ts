import type { Context } from 'hono';
import { hashToken, parseAuthorization } from '../auth/tokens.js';
import { UnauthorizedError } from '../errors.js';
import type { Store } from '../store/store.js';
import type { User } from '../store/schema.js';

/** 401 that asks the client for credentials (git prompts, or uses its credential helper, on this). */
export class ChallengeError extends UnauthorizedError {
  constructor(message: string, readonly realm: string) {
    super(message);
  }
}

/** Resolves the caller of a request from its token. */
export class Authenticator {
  constructor(private store: Store) {}

  /** The user the request's token belongs to, or undefined (no token, unknown token, or name/token mismatch). */
  user(c: Context): User | undefined {
    const cred = parseAuthorization(c.req.header('authorization'));
    if (!cred || cred.token.length === 0 || cred.token.length > 512) return undefined;
    const user = this.store.userByTokenHash(hashToken(cred.token));
    // With basic auth the user name must match the token's owner, so a token cannot be used under another name.
    if (!user || (cred.user !== undefined && cred.user !== user.name)) return undefined;
    return user;
  }

  /** The caller, or a 401 with a Basic challenge naming `realm`. */
  basicOrChallenge(c: Context, realm: string): User {
    const user = this.user(c);
    if (user) return user;
    const had = c.req.header('authorization') !== undefined;
    throw new ChallengeError(
      had ? 'wrong user name or token: use your user name and a token from `codehub-build user add`' : 'authentication required: give your user name and token',
      realm,
    );
  }

  /** The caller of an API request, or a 401. */
  require(c: Context): User {
    return this.basicOrChallenge(c, 'codehub-build');
  }
}
