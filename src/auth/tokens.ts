import { createHash, randomBytes } from 'node:crypto';

const PREFIX = 'chb_';

/** A new API/git token: 256 random bits, prefixed so leaked tokens are easy to recognise and scan for. */
export function generateToken(): string {
  return PREFIX + randomBytes(32).toString('base64url');
}

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
