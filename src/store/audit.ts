import { and, desc, eq, gte, inArray, lt, sql, type SQL } from 'drizzle-orm';
import type { Db } from './db.js';
import { auditEvents, type AuditEvent } from './schema.js';
import { slot } from './sql.js';

/** One event as it is appended: everything but its id and time, which the database gives. */
export interface NewAuditEvent {
  actor: string;
  actorKind: 'token' | 'session' | 'cli' | 'system';
  actorTokenId?: number | null;
  action: string;
  repo?: string | null;
  target: string;
  /** Names and numbers only: never a secret's value or a token. */
  detail?: Record<string, unknown> | null;
  address?: string | null;
}

export interface AuditQuery {
  actor?: string;
  action?: string;
  repo?: string;
  /** Events at or after this time (ISO 8601). */
  since?: string;
  /** Events with an id below this one: the next page of a newest-first listing. */
  before?: number;
  /** Only events of these repos; undefined for every event (an admin's). */
  repos?: readonly string[];
  /** Only events of repos in this namespace (`owner/*`): an owner's view. */
  owner?: string;
  limit: number;
}

/** The append-only audit log (table audit_events; its triggers refuse UPDATE and DELETE). */
export class AuditStore {
  constructor(private db: Db) {}

  private prepared: ReturnType<AuditStore['prepare']> | undefined;
  private prepare() {
    // Every audited request appends one row: the statement is prepared once.
    return this.db
      .insert(auditEvents)
      .values({
        actor: slot('actor'),
        actorKind: slot('actorKind'),
        actorTokenId: slot('actorTokenId'),
        action: slot('action'),
        repo: slot('repo'),
        target: slot('target'),
        detail: slot('detail'),
        address: slot('address'),
      })
      .returning({ id: auditEvents.id })
      .prepare();
  }

  /** Appends one event; returns its id. */
  append(e: NewAuditEvent): number {
    this.prepared ??= this.prepare();
    return this.prepared.get({
      actor: e.actor,
      actorKind: e.actorKind,
      actorTokenId: e.actorTokenId ?? null,
      action: e.action,
      repo: e.repo ?? null,
      target: e.target,
      detail: e.detail ? JSON.stringify(e.detail) : null,
      address: e.address ?? null,
    })!.id;
  }

  /** Events matching `q`, newest first. */
  list(q: AuditQuery): AuditEvent[] {
    const where: (SQL | undefined)[] = [
      q.actor !== undefined ? eq(auditEvents.actor, q.actor) : undefined,
      q.action !== undefined ? eq(auditEvents.action, q.action) : undefined,
      q.repo !== undefined ? eq(auditEvents.repo, q.repo) : undefined,
      q.since !== undefined ? gte(auditEvents.at, q.since) : undefined,
      q.before !== undefined ? lt(auditEvents.id, q.before) : undefined,
    ];
    // The repos `<owner>/...` as a range of the repo index (`0` is the character after `/`): an owner's view reads
    // only their events, however large the log (a prefix test read the whole table for an owner with few events;
    // LIKE would take a name's `_` as a wildcard).
    if (q.owner !== undefined) where.push(gte(auditEvents.repo, `${q.owner}/`), lt(auditEvents.repo, `${q.owner}0`));
    if (q.repos) where.push(q.repos.length ? inArray(auditEvents.repo, [...q.repos]) : sql`0`);
    return this.db
      .select()
      .from(auditEvents)
      .where(and(...where))
      .orderBy(desc(auditEvents.id))
      .limit(q.limit)
      .all();
  }
}
