import { nameProblem, newUserNameProblem } from '../names.js';
import type { Store } from '../store/store.js';
import { DEFAULT_SCOPES, SCOPES, type Scope, type TokenInfo } from '../store/scopes.js';
import { NO_MAXIMUM, tokenExpiry, type ExpiryPolicy } from './expiry.js';
import { refuse, type Outcome } from './outcome.js';
import { generateToken, hashToken } from './tokens.js';

/**
 * Users and their tokens, made and removed the same way by the command line (`user add|remove`, `token
 * create|list|revoke`) and the admin API. Nothing here throws for a refused request: every function returns
 * what it did, or a Refusal (outcome.ts) whose `problem` is the sentence to show (the CLI prints it, the API answers it).
 * A clear token exists only in a successful result; the store gets its SHA-256.
 */

export const MAX_LABEL_LENGTH = 100;

/**
 * A new user with one read,push token (`token` is the clear token, shown once: only its hash is stored). Under a
 * site maximum (CODEHUB_TOKEN_MAX_DAYS) the token expires at it; `expiresAt` null is never.
 */
export function addUser(
  store: Store,
  name: string,
  policy: ExpiryPolicy = NO_MAXIMUM,
): Outcome<{ name: string; token: string; scopes: readonly Scope[]; expiresAt: string | null }> {
  const problem = newUserNameProblem(name);
  if (problem) return refuse('invalid', problem);
  const expiry = tokenExpiry(undefined, policy);
  if ('problem' in expiry) return refuse('invalid', expiry.problem);
  if (store.accounts.userByName(name)) return refuse('conflict', `user ${name} already exists`);
  // A removed user's repos, builds and secrets stay: a new user of the same name must not inherit them.
  if (store.repos.countOf(name) > 0) return refuse('conflict', `the name ${name} still owns the repos of a removed user; choose another name`);
  const token = generateToken();
  // Null when another request took the name between the check above and here.
  if (!store.accounts.createUser(name, hashToken(token), DEFAULT_SCOPES, expiry.expiresAt)) return refuse('conflict', `user ${name} already exists`);
  return { ok: true, name, token, scopes: DEFAULT_SCOPES, expiresAt: expiry.expiresAt };
}

/**
 * What to do instead of removing the last admin: without an admin token nobody can make users or tokens over
 * the API, and a platform that makes workspaces would be stuck until someone ran the CLI on the server.
 */
const MAKE_ANOTHER_ADMIN =
  'make another admin first (codehub-build token create <user> --scopes read,push,admin on the server, ' +
  'or POST /api/users/<user>/tokens with {"scopes": ["read", "push", "admin"]})';

/**
 * Removes a user with their tokens and shares; their repos, builds and secrets stay, and so does the name's
 * claim on them. Refused while the user holds the last admin tokens (the CLI too: it can make another admin first).
 */
export function removeUser(store: Store, name: string): Outcome<{ name: string }> {
  const problem = nameProblem('user', name);
  if (problem) return refuse('invalid', problem);
  const removed = store.accounts.removeUser(name);
  if (removed === 'missing') return refuse('missing', `no user ${name}`);
  if (removed === 'last_admin')
    return refuse('conflict', `user ${name} holds the last admin token: removing it would leave no admin; ${MAKE_ANOTHER_ADMIN}, then remove ${name}`);
  return { ok: true, name };
}

export interface TokenRequest {
  /** Scope names, as a list or a comma-separated text (`read,push`); default read,push. */
  scopes?: readonly string[] | string;
  /** What the token is for, shown by `token list`; at most 100 characters, no control characters. */
  label: string;
  /** How long it lives from now (the CLI's `--expires 90d`, the API's `expires_in_days`); none: the policy's default. */
  lifetimeMs?: number;
}

/**
 * A new token for user `name`: `id` is what revokes it, `token` the clear token, shown once, `expiresAt` when it
 * stops working (null: never), under the site's expiry policy.
 */
export function createToken(
  store: Store,
  name: string,
  request: TokenRequest,
  policy: ExpiryPolicy = NO_MAXIMUM,
): Outcome<{ id: number; token: string; user: string; label: string; scopes: Scope[]; expiresAt: string | null }> {
  const scopes = scopesOf(request.scopes ?? DEFAULT_SCOPES);
  const expiry = tokenExpiry(request.lifetimeMs, policy);
  const problems = [
    nameProblem('user', name),
    'problem' in scopes ? scopes.problem : null,
    labelProblem(request.label),
    'problem' in expiry ? expiry.problem : null,
  ].filter((p): p is string => p !== null);
  if (problems.length || 'problem' in scopes || 'problem' in expiry) return refuse('invalid', problems.join('; '));
  const user = store.accounts.userByName(name);
  if (!user) return refuse('missing', `no user ${name}`);
  const token = generateToken();
  const id = store.accounts.createToken(user.id, hashToken(token), request.label, scopes.scopes, expiry.expiresAt);
  return { ok: true, id, token, user: name, label: request.label, scopes: scopes.scopes, expiresAt: expiry.expiresAt };
}

/** A user's tokens: ids, labels, scopes and times, never a token or its hash. */
export function listTokens(store: Store, name: string): Outcome<{ user: string; tokens: TokenInfo[] }> {
  const problem = nameProblem('user', name);
  if (problem) return refuse('invalid', problem);
  const user = store.accounts.userByName(name);
  if (!user) return refuse('missing', `no user ${name}`);
  return { ok: true, user: name, tokens: store.accounts.listTokens(user.id) };
}

/**
 * Revokes the token with this id (as `token list` shows it, or as text from a command line or URL); it stops
 * working at once. Refused for the last admin token, as removing the last admin is.
 */
export function revokeToken(store: Store, id: number | string): Outcome<{ id: number }> {
  const n = typeof id === 'number' ? id : /^\d{1,15}$/.test(id) ? Number(id) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) return refuse('invalid', `${JSON.stringify(String(id))} is not a token id: a whole number, as token list shows`);
  const revoked = store.accounts.revokeToken(n);
  if (revoked === 'missing') return refuse('missing', `no token ${n}`);
  if (revoked === 'last_admin')
    return refuse('conflict', `token ${n} is the last admin token: revoking it would leave no admin; ${MAKE_ANOTHER_ADMIN}, then revoke token ${n}`);
  return { ok: true, id: n };
}

/** The scopes named, in their canonical order and without repeats, or why they are refused. */
export function scopesOf(given: readonly string[] | string): { scopes: Scope[] } | { problem: string } {
  const words =
    typeof given === 'string'
      ? given
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
      : given;
  const bad = words.filter((w) => !(SCOPES as readonly string[]).includes(w));
  if (bad.length) return { problem: `unknown scope ${bad.map((b) => JSON.stringify(b)).join(', ')}: scopes are ${SCOPES.join(', ')}` };
  if (words.length === 0) return { problem: `no scopes given: choose from ${SCOPES.join(', ')}` };
  return { scopes: SCOPES.filter((s) => words.includes(s)) };
}

/** Why a token label is refused, or null. */
export function labelProblem(label: string): string | null {
  // Control characters would let a label rewrite the lines `token list` prints around it.
  if (label.length > MAX_LABEL_LENGTH || /[\x00-\x1f\x7f]/.test(label)) return `label: at most ${MAX_LABEL_LENGTH} characters, no control characters`;
  return null;
}
