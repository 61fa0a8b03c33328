import type { Caller } from '../store/scopes.js';
import type { Store } from '../store/store.js';

/**
 * What the audit log records (DESIGN.md, "Identity and access"). One name per kind of event, so a filter by
 * action finds all of them whichever door (CLI, API, web page) the event came through.
 */
export const AUDIT_ACTIONS = [
  'sign_in',
  'sign_out',
  'user.create',
  'user.remove',
  'token.create',
  'token.revoke',
  'pull_token.create',
  'pull_token.revoke',
  'secret.set',
  'secret.remove',
  'repo.share',
  'repo.unshare',
  'repo.retention',
  'user.quota',
  'repo.upstream.link',
  'repo.upstream.unlink',
  'image.remove',
  'gc.remove',
  'build.cancel',
  'build.rebuild',
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

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

/** Appends events to the audit log. `detail` holds names and numbers only: never a secret's value or a token. */
export class AuditLog {
  constructor(private store: Store) {}

  record(who: Actor, action: AuditAction, target: string, more: { repo?: string | null; detail?: Record<string, unknown> } = {}): void {
    this.store.audit.append({ ...who, action, target, repo: more.repo ?? null, detail: more.detail ?? null });
  }
}
