import { createHash, randomBytes } from 'node:crypto';

const PREFIX = 'chb_';
/** A pull token's prefix (a deployment's registry credential, src/auth/pull-tokens.ts): never a user token's. */
export const PULL_TOKEN_PREFIX = 'chp_';
/** The prefix of a single sign-on session's cookie value (src/auth/sso.ts makes them); no token has it. */
export const SESSION_PREFIX = 'chs_';

/**
 * A new token: 256 random bits, prefixed so leaked tokens are easy to recognise and scan for: `chb_` for an
 * API/git token, `chp_` (PULL_TOKEN_PREFIX) for a pull token.
 */
export function generateToken(prefix: string = PREFIX): string {
  return prefix + randomBytes(32).toString('base64url');
}

/** Whether `token` has a pull token's prefix (it may still be wrong, revoked or expired). */
export const isPullToken = (token: string): boolean => token.startsWith(PULL_TOKEN_PREFIX);

/** What the database stores instead of the token. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export interface Credentials {
  /** The user name given with basic auth; undefined for a bearer token. */
  user?: string;
  token: string;
}

/** Reads `Authorization: Bearer <token>` or `Basic base64(user:token)`; undefined when absent or malformed. */
export function parseAuthorization(header: string | undefined): Credentials | undefined {
  if (!header) return undefined;
  const [scheme, value] = header.split(' ', 2) as [string, string | undefined];
  if (!value) return undefined;
  if (/^bearer$/i.test(scheme)) return { token: value.trim() };
  if (/^basic$/i.test(scheme)) {
    const decoded = Buffer.from(value.trim(), 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    if (i < 0) return undefined;
    return { user: decoded.slice(0, i), token: decoded.slice(i + 1) };
  }
  return undefined;
}
