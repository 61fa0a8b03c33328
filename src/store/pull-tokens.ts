import { and, asc, eq, sql } from 'drizzle-orm';
import type { Db } from './db.js';
import { pullTokens, repos } from './schema.js';
import { slot } from './sql.js';
import { isExpired, lastUseDue } from './credential-times.js';

/** A pull token as it is listed: never the token or its hash. */
export interface PullTokenInfo {
  id: number;
  label: string;
  createdBy: string;
  createdAt: string;
  lastUsedAt: string | null;
  expiresAt: string | null;
}

/** What a pull token's hash names: the token's id, the repo it pulls from (`owner/name`) and when it stops working. */
export interface PullTokenGrant {
  id: number;
  repo: string;
  expiresAt: string | null;
}

/**
 * Pull tokens, deployments' registry credentials (one repo's images, pull only). Apart from AccountStore on
 * purpose: no lookup of a user token can find one. Only SHA-256 hashes are stored.
 */
export class PullTokenStore {
  constructor(private db: Db) {}

  private prepared: ReturnType<PullTokenStore['prepare']> | undefined;
  private get q() {
    return (this.prepared ??= this.prepare());
  }

  /** Every registry token request with a pull token asks byHash: its statements are prepared once. */
  private prepare() {
    const p = sql.placeholder;
    return {
      byHash: this.db
        .select({
          id: pullTokens.id,
          repo: sql<string>`${repos.owner} || '/' || ${repos.name}`,
          expiresAt: pullTokens.expiresAt,
          lastUsedAt: pullTokens.lastUsedAt,
        })
        .from(pullTokens)
        .innerJoin(repos, eq(repos.id, pullTokens.repoId))
        .where(eq(pullTokens.hash, p('hash')))
        .prepare(),
      touch: this.db
        .update(pullTokens)
        .set({ lastUsedAt: slot('at') })
        .where(eq(pullTokens.id, p('id')))
        .prepare(),
    };
  }

  /** Adds a pull token of repo `repoId` (its hash only); returns its id. `expiresAt` null: it never expires. */
  create(repoId: number, hash: string, label: string, createdBy: string, expiresAt: string | null): number {
    return this.db.insert(pullTokens).values({ repoId, hash, label, createdBy, expiresAt }).returning({ id: pullTokens.id }).get().id;
  }

  /** A repo's pull tokens, oldest first, expired ones included (they say when they expired). */
  list(repoId: number): PullTokenInfo[] {
    return this.db
      .select({
        id: pullTokens.id,
        label: pullTokens.label,
        createdBy: pullTokens.createdBy,
        createdAt: pullTokens.createdAt,
        lastUsedAt: pullTokens.lastUsedAt,
        expiresAt: pullTokens.expiresAt,
      })
      .from(pullTokens)
      .where(eq(pullTokens.repoId, repoId))
      .orderBy(asc(pullTokens.id))
      .all();
  }

  /** Deletes pull token `id` of repo `repoId`: its label, or undefined if the repo has no such token (another repo's id included). */
  revoke(repoId: number, id: number): { label: string } | undefined {
    return this.db
      .delete(pullTokens)
      .where(and(eq(pullTokens.repoId, repoId), eq(pullTokens.id, id)))
      .returning({ label: pullTokens.label })
      .get();
  }

  /**
   * What the token of this hash pulls, or undefined. Expired or not: the caller decides, so that it can say when
   * it expired. With `touch` (the registry's token endpoint, where the token is used) records the last use of a
   * token live at `now`, at most once a minute, so that each pull is not a database write.
   */
  byHash(hash: string, opts: { touch: boolean; now?: Date } = { touch: true }): PullTokenGrant | undefined {
    const row = this.q.byHash.get({ hash });
    if (!row) return undefined;
    const now = opts.now ?? new Date();
    if (opts.touch && !isExpired(row.expiresAt, now) && lastUseDue(row.lastUsedAt, now)) this.q.touch.run({ at: now.toISOString(), id: row.id });
    return { id: row.id, repo: row.repo, expiresAt: row.expiresAt };
  }
}
