import type { PullTokenInfo } from '../store/pull-tokens.js';
import type { Store } from '../store/store.js';
import { labelProblem } from './accounts.js';
import { tokenExpiry, type ExpiryPolicy } from './expiry.js';
import { noRepo, refuse, type Outcome } from './outcome.js';
import { generateToken, hashToken, isPullToken, PULL_TOKEN_PREFIX } from './tokens.js';
import { isExpired } from '../store/credential-times.js';

/**
 * Pull tokens: a deployment's credential for one repo's images (DESIGN.md "Pull tokens for deployments"). Docker
 * logs in with the user name `pull-<id>` and the `chp_` token; the registry's token endpoint grants it pull on
 * that repo's images and nothing else, and git and the API refuse it. The routes check that the caller owns the
 * repo; these are the rules about the token. Nothing throws for a refused request (outcome.ts).
 */

/** The user name docker logs in with. */
export const pullUsername = (id: number): string => `pull-${id}`;
const USERNAME_RE = /^pull-([1-9][0-9]{0,15})$/;

export interface PullTokenRequest {
  /** What it is for (shown in the list). */
  label: string;
  /** How long it lives (`--expires 90d`, `expires_in_days`); undefined: the server's maximum, or never. */
  lifetimeMs?: number;
}

export interface PullTokenMade {
  id: number;
  username: string;
  /** The token, shown once: only its SHA-256 is kept. */
  token: string;
  label: string;
  /** ISO 8601, or null for a token that never expires. */
  expiresAt: string | null;
}

/**
 * Makes a pull token of owner/repo for `by` (its owner or an admin). Refused: a repo not pushed to yet (missing),
 * a bad label, a lifetime the site's rule refuses (expiry.ts: past CODEHUB_TOKEN_MAX_DAYS, naming it). Its expiry
 * is a user token's: without a lifetime asked, the maximum, or never without one.
 */
export function createPullToken(
  store: Store,
  target: { owner: string; repo: string; by: string },
  request: PullTokenRequest,
  policy: ExpiryPolicy,
): Outcome<PullTokenMade> {
  const row = store.repos.byName(target.owner, target.repo);
  if (!row) return noRepo(target.owner, target.repo);
  const expiry = tokenExpiry(request.lifetimeMs, policy);
  const problems = [labelProblem(request.label), 'problem' in expiry ? expiry.problem : null].filter((p): p is string => p !== null);
  if (problems.length || 'problem' in expiry) return refuse('invalid', problems.join('; '));
  const token = generateToken(PULL_TOKEN_PREFIX);
  const id = store.pullTokens.create(row.id, hashToken(token), request.label, target.by, expiry.expiresAt);
  return { ok: true, id, username: pullUsername(id), token, label: request.label, expiresAt: expiry.expiresAt };
}

/** A repo's pull tokens (never a token or its hash); a repo not pushed to yet is missing. */
export function listPullTokens(store: Store, owner: string, repo: string): Outcome<{ tokens: (PullTokenInfo & { username: string })[] }> {
  const row = store.repos.byName(owner, repo);
  if (!row) return noRepo(owner, repo);
  return { ok: true, tokens: store.pullTokens.list(row.id).map((t) => ({ ...t, username: pullUsername(t.id) })) };
}

/** Revokes pull token `id` of owner/repo: missing when the repo has no such token (another repo's too). */
export function revokePullToken(store: Store, owner: string, repo: string, id: number): Outcome<{ id: number; username: string; label: string }> {
  const row = store.repos.byName(owner, repo);
  if (!row) return noRepo(owner, repo);
  const gone = store.pullTokens.revoke(row.id, id);
  if (!gone) return refuse('missing', `${owner}/${repo} has no pull token ${id}`);
  return { ok: true, id, username: pullUsername(id), label: gone.label };
}

/**
 * A pull token checked at the registry's token endpoint: the repo it pulls from, or why it is refused (a 401);
 * `expired`: a real token past its time (not a guess, so not a failed sign-in).
 */
export type PullCheck = { ok: true; id: number; owner: string; repo: string } | { ok: false; problem: string; expired: boolean };

const WRONG =
  'wrong pull token: log in with the user name pull-<id> and the chp_ token `codehub-build repo pull-token create` printed (it may have been revoked)';

/**
 * Whether `username` and `token` are a live pull token. An expired one is refused saying when it expired; a wrong
 * or revoked one says only that (whether an id exists is nobody's business). A good one records its use.
 */
export function checkPullToken(store: Store, username: string, token: string, now: Date = new Date()): PullCheck {
  const m = USERNAME_RE.exec(username);
  if (!m || !isPullToken(token) || token.length > 512) return { ok: false, problem: WRONG, expired: false };
  const found = store.pullTokens.byHash(hashToken(token), { touch: true, now });
  if (!found || found.id !== Number(m[1])) return { ok: false, problem: WRONG, expired: false };
  if (isExpired(found.expiresAt, now))
    return {
      ok: false,
      problem: `pull token ${username} of ${found.repo} expired at ${found.expiresAt}: make a new one with codehub-build repo pull-token create ${found.repo}`,
      expired: true,
    };
  const [owner = '', repo = ''] = found.repo.split('/');
  return { ok: true, id: found.id, owner, repo };
}

/**
 * Why a pull token given to git or the API is refused, or null when `token` is no pull token: a deployment's
 * credential pulls images and does nothing else. Its use is not recorded (nothing was done with it).
 */
export function pullTokenMisuse(store: Store, token: string): string | null {
  if (!isPullToken(token) || token.length > 512) return null;
  const found = store.pullTokens.byHash(hashToken(token), { touch: false });
  if (!found) return null;
  return `this is a pull token (pull-${found.id} of ${found.repo}): it only pulls that repo's images from the registry (docker login); git and the API need your user name and a token from codehub-build token create`;
}
