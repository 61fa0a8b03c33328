import { noRepo, type Outcome } from '../auth/outcome.js';
import type { RetentionRequest } from '../api/requests.js';
import type { Store } from '../store/store.js';
import type { Policy } from './retention.js';

/**
 * A repo's retention override, its owner's: how many builds per branch and how many days of its images stay,
 * each either set or left to the server's default. As in auth/outcome.ts, a refusal is returned, not thrown.
 */

export interface RetentionSettings {
  /** What applies: the override where set, else the default. */
  keep: number;
  days: number;
  /** What the owner set; null for the server's default. */
  override: { keep: number | null; days: number | null };
  /** The server's defaults (CODEHUB_RETENTION_KEEP, CODEHUB_RETENTION_DAYS). */
  defaults: Policy;
}

/** A change to the override: each of keep and days a number, null (back to the default) or absent (as it was). */
export type PolicyOverride = RetentionRequest;

/** owner/repo's settings; a repo not pushed to yet has the defaults. */
export function retentionOf(store: Store, defaults: Policy, owner: string, repo: string): RetentionSettings {
  const row = store.repos.byName(owner, repo);
  const keep = row?.retentionKeep ?? null;
  const days = row?.retentionDays ?? null;
  return { keep: keep ?? defaults.keep, days: days ?? defaults.days, override: { keep, days }, defaults };
}

/**
 * Sets the fields `change` names (null: back to the default) and keeps the other as it was. `missing` for a
 * repo not pushed to yet: it has no images to keep, and a push makes it.
 */
export function setRetention(store: Store, defaults: Policy, owner: string, repo: string, change: PolicyOverride): Outcome<RetentionSettings> {
  const row = store.repos.byName(owner, repo);
  if (!row) return noRepo(owner, repo);
  const keep = change.keep !== undefined ? change.keep : row.retentionKeep;
  const days = change.days !== undefined ? change.days : row.retentionDays;
  store.repos.setRetention(row.id, keep ?? null, days ?? null);
  return { ok: true, ...retentionOf(store, defaults, owner, repo) };
}
