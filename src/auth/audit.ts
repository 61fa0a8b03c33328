import type { AuditEvent } from '../store/schema.js';
import type { Caller } from '../store/scopes.js';
import type { Store } from '../store/store.js';
import type { AuditAction } from './audit-actions.js';

export { AUDIT_ACTIONS, type AuditAction } from './audit-actions.js';

/** Who did it: a signed-in caller (with the token or session they used), the server's CLI, or the server itself. */
export interface Actor {
  actor: string;
  actorKind: 'token' | 'session' | 'cli' | 'system';
  actorTokenId: number | null;
  address: string | null;
}

/** The server's own command line (`codehub-build user add` on the server): whoever can run it owns the data dir. */
export const CLI_ACTOR: Actor = { actor: 'cli', actorKind: 'cli', actorTokenId: null, address: null };
/** The server acting on its own schedule (retention, gc). */
export const SYSTEM_ACTOR: Actor = { actor: 'system', actorKind: 'system', actorTokenId: null, address: null };

export function actorOf(caller: Caller, address: string | null): Actor {
  return { actor: caller.user.name, actorKind: caller.via ?? 'token', actorTokenId: caller.tokenId || null, address };
}

/** What a listing asks for (GET /api/audit, the /audit page, `codehub-build audit`). */
export interface AuditFilter {
  actor?: string;
  action?: AuditAction;
  /** `owner/name`: a git repo's, or an image repository's. */
  repo?: string;
  /** ISO 8601, as the database writes it (`toISOString()`): events at or after it. */
  since?: string;
  /** An id from a page's `next`: the events older than it. */
  before?: number;
  limit: number;
}

/** One gc removal, as far as the log needs it (registry/gc.ts's Removal). */
export interface RemovedByGc {
  repository: string;
  tag: string | null;
  bytes: number;
}

/** Tag names one gc event lists at most; the count says how many went. */
const GC_TAGS_LISTED = 100;

/** A `token.create` event's detail, the same from the admin API, the CLI and the tokens page: never the token. */
export function tokenCreatedDetail(t: { user: string; label: string; scopes: readonly string[]; expiresAt: string | null }): Record<string, unknown> {
  return { user: t.user, label: t.label, scopes: t.scopes, expires_at: t.expiresAt };
}

/** Appends events to the audit log. `detail` holds names and numbers only: never a secret's value or a token. */
export class AuditLog {
  constructor(private store: Store) {}

  record(who: Actor, action: AuditAction, target: string, more: { repo?: string | null; detail?: Record<string, unknown> } = {}): void {
    this.store.audit.append({ ...who, action, target, repo: more.repo ?? null, detail: more.detail ?? null });
  }

  /**
   * A gc run's removals: one event per image repository it removed something from. Per repository rather than
   * one per run, so the repository's owner sees it (an owner's view is their repos' events) and one owner's
   * event never names another's images; rather than one per manifest, because a first run on an old server may
   * remove thousands and the log stays readable. Nothing is recorded for a repository that lost nothing.
   */
  gcRemovals(who: Actor, removals: readonly RemovedByGc[]): void {
    const byRepository = new Map<string, RemovedByGc[]>();
    for (const r of removals) byRepository.set(r.repository, [...(byRepository.get(r.repository) ?? []), r]);
    for (const [repository, list] of byRepository) {
      const tags = list.flatMap((r) => (r.tag === null ? [] : [r.tag]));
      this.record(who, 'gc.remove', repository, {
        repo: repository,
        detail: {
          tags: tags.slice(0, GC_TAGS_LISTED),
          tag_count: tags.length,
          untagged_manifests: list.length - tags.length,
          bytes: list.reduce((a, r) => a + r.bytes, 0),
        },
      });
    }
  }

  /**
   * The events `caller` may see that match `f`, newest first: an admin every event, anyone else the events of
   * the repos in their own namespace (`<name>/*`) and nothing else. `next` is the `before` of the next page,
   * null on the last.
   */
  list(caller: Caller, f: AuditFilter): { events: AuditEvent[]; next: number | null } {
    const admin = caller.scopes.includes('admin');
    const rows = this.store.audit.list({ ...f, ...(admin ? {} : { owner: caller.user.name }), limit: f.limit + 1 });
    const events = rows.slice(0, f.limit);
    return { events, next: rows.length > f.limit ? events[events.length - 1]!.id : null };
  }
}
