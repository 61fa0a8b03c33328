import { and, eq, gt, lte, sql } from 'drizzle-orm';
import type { Db } from './db.js';
import { sessions, users } from './schema.js';
import { parseScopes, type Caller, type Scope } from './scopes.js';
import { slot } from './sql.js';
import { isExpired, lastUseDue } from './credential-times.js';

/** Web sessions of single sign-on: the cookie's random id is looked up by its SHA-256, as tokens are. */
export class SessionStore {
  constructor(private db: Db) {}

  private prepared: ReturnType<SessionStore['prepare']> | undefined;
  private get q() {
    return (this.prepared ??= this.prepare());
  }

  /** Every page view of a signed-in user asks byHash: prepared once. */
  private prepare() {
    const p = sql.placeholder;
    return {
      byHash: this.db
        .select({ user: users, id: sessions.id, scopes: sessions.scopes, expiresAt: sessions.expiresAt, lastSeenAt: sessions.lastSeenAt })
        .from(sessions)
        .innerJoin(users, eq(users.id, sessions.userId))
        .where(eq(sessions.hash, p('hash')))
        .prepare(),
      touch: this.db
        .update(sessions)
        .set({ lastSeenAt: slot('at') })
        .where(eq(sessions.id, p('id')))
        .prepare(),
    };
  }

  /** Starts a session for a user; returns its id. */
  create(userId: number, hash: string, scopes: readonly Scope[], expiresAt: string): number {
    return this.db
      .insert(sessions)
      .values({ userId, hash, scopes: scopes.join(','), expiresAt })
      .returning({ id: sessions.id })
      .get().id;
  }

  /**
   * The caller a session belongs to (via 'session', tokenId the session's id), or undefined when there is none
   * or it expired before `now`. Records the last use at most once a minute.
   */
  callerByHash(hash: string, now = new Date()): Caller | undefined {
    const row = this.q.byHash.get({ hash });
    if (!row || isExpired(row.expiresAt, now)) return undefined;
    if (lastUseDue(row.lastSeenAt, now)) this.q.touch.run({ at: now.toISOString(), id: row.id });
    return { user: row.user, tokenId: row.id, scopes: parseScopes(row.scopes), via: 'session' };
  }

  /** Ends a session (signing out); false when there was none. */
  end(hash: string): boolean {
    return this.db.delete(sessions).where(eq(sessions.hash, hash)).run().changes > 0;
  }

  /** Ends every session of a user (an admin taking their access away); returns how many. */
  endAllOf(userId: number): number {
    return this.db.delete(sessions).where(eq(sessions.userId, userId)).run().changes;
  }

  /** Forgets sessions that expired before `now`; returns how many. */
  forgetExpired(now = new Date()): number {
    return this.db.delete(sessions).where(lte(sessions.expiresAt, now.toISOString())).run().changes;
  }

  /** The live sessions of a user (for tests and the admin's view). */
  countOf(userId: number, now = new Date()): number {
    return this.db
      .select({ id: sessions.id })
      .from(sessions)
      .where(and(eq(sessions.userId, userId), gt(sessions.expiresAt, now.toISOString())))
      .all().length;
  }
}
