import { formatDuration } from '../units.js';

const DAY_MS = 86_400_000;

/** The site's rule for how long tokens live: `maxDays` is CODEHUB_TOKEN_MAX_DAYS (null: no maximum). */
export interface ExpiryPolicy {
  maxDays: number | null;
  /** The clock expiries are counted from (a fake one in unit tests). */
  now?: () => Date;
}

export const NO_MAXIMUM: ExpiryPolicy = { maxDays: null };

/**
 * When a token asked to live `lifetimeMs` expires under `policy`: `expiresAt` null for never (no lifetime asked
 * and no maximum); with a maximum, a token asked for none gets the maximum, as GitLab does under an expiry
 * policy, so no token outlives the site's rule. A lifetime past the maximum is refused, naming it.
 */
export function tokenExpiry(lifetimeMs: number | undefined, policy: ExpiryPolicy): { expiresAt: string | null } | { problem: string } {
  const now = (policy.now ?? (() => new Date()))().getTime();
  const maxMs = policy.maxDays === null ? null : policy.maxDays * DAY_MS;
  if (lifetimeMs === undefined) return { expiresAt: maxMs === null ? null : new Date(now + maxMs).toISOString() };
  if (!Number.isFinite(lifetimeMs) || lifetimeMs < 1000)
    return { problem: `an expiry must be at least 1 s from now (e.g. 90d, 12h, 30m, 10s); got ${formatDuration(Math.max(0, lifetimeMs))}` };
  if (maxMs !== null && lifetimeMs > maxMs)
    return {
      problem: `an expiry of ${formatDuration(lifetimeMs)} is past this server's maximum of ${policy.maxDays} days (CODEHUB_TOKEN_MAX_DAYS): choose at most ${policy.maxDays}d`,
    };
  return { expiresAt: new Date(now + lifetimeMs).toISOString() };
}

/** `expires_in_days` of an API request, as milliseconds (fractions allowed: 0.5 is 12 hours). */
export const daysToMs = (days: number): number => Math.round(days * DAY_MS);
