// Scopes, roles and callers as the store keeps and returns them; src/auth/access.ts decides with them. They live
// here, below auth, so that the store imports nothing from auth (auth imports the Store).
import type { User } from './schema.js';

/**
 * What a token may do. read: clone, fetch and the read API; push: push, cancel, rebuild, secrets and sharing
 * (on repos where the user's role allows it); admin: all of that on every repo.
 */
export const SCOPES = ['read', 'push', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];
export const DEFAULT_SCOPES: readonly Scope[] = ['read', 'push'];

/** A role on a repo shared with a user; the owner's own role is 'owner'. */
export type MemberRole = 'read' | 'write';
export type Role = MemberRole | 'owner';

/** The authenticated side of a request: the token's user, the token and its scopes. */
export interface Caller {
  user: User;
  /** The token's id, or the session's when `via` is 'session'. */
  tokenId: number;
  scopes: readonly Scope[];
  /** How the caller signed in: a token (the default), or a web session of single sign-on. */
  via?: 'token' | 'session';
}

export interface TokenInfo {
  id: number;
  label: string;
  scopes: Scope[];
  createdAt: string;
  lastUsedAt: string | null;
  /** When it stops working; null for never. */
  expiresAt: string | null;
}

/** The scopes in a stored (or typed) comma list; unknown words are dropped. */
export function parseScopes(text: string): Scope[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s): s is Scope => (SCOPES as readonly string[]).includes(s));
}

/** Which repos a caller can read, for list queries: all of them (admin), or their own and those shared with them. */
export type Readable = { all: true } | { all: false; owner: string; shared: string[] };
