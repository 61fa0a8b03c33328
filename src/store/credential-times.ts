// The two time rules every stored credential (user tokens, pull tokens, web sessions) follows, kept in one place.

/** Whether a credential expiring at `expiresAt` (ISO 8601; null: never) has expired at `now`: the expiry instant is already past. */
export function isExpired(expiresAt: string | null, now: Date): boolean {
  return expiresAt !== null && Date.parse(expiresAt) <= now.getTime();
}

/**
 * Whether a use at `now` should be written as the credential's last use: at most once a minute, so that reading
 * the API, pulling or viewing pages is not a database write per request.
 */
export function lastUseDue(lastUsedAt: string | null, now: Date): boolean {
  return !lastUsedAt || now.getTime() - Date.parse(lastUsedAt) > 60_000;
}
