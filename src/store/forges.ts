import { and, asc, eq, inArray, isNotNull, lt, lte, sql } from 'drizzle-orm';
import type { Db } from './db.js';
import { NOW } from './sql.js';
import { commitStatuses, repos, upstreams, webhookDeliveries, type CommitStatusRow, type StatusStateName, type UpstreamRow } from './schema.js';

/** A link with the repo it belongs to. */
export interface LinkRow extends UpstreamRow {
  owner: string;
  name: string;
}

/** What a status owes, as `want` records it. */
export interface WantedStatus {
  buildId: number;
  repoId: number;
  sha: string;
  ref: string;
  context: string;
  state: StatusStateName;
  description: string;
}

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * The forge side of the database (issue 17): upstream links, the webhook deliveries already acted on, and
 * the commit statuses owed to forges. Every method is one statement or one transaction.
 */
export class ForgeStore {
  constructor(private db: Db) {}

  // ------------------------------------------------------------------------------------------------------
  // Links

  /** Creates or replaces the repo's link; `created` says which. Secrets arrive sealed. */
  putLink(row: Omit<UpstreamRow, 'createdAt' | 'updatedAt' | 'lastDeliveryAt' | 'lastDeliveryResult' | 'lastDeliveryError'>): {
    link: UpstreamRow;
    created: boolean;
  } {
    return this.db.transaction((tx) => {
      const before = tx.select({ repoId: upstreams.repoId }).from(upstreams).where(eq(upstreams.repoId, row.repoId)).get();
      const link = tx
        .insert(upstreams)
        .values(row)
        .onConflictDoUpdate({ target: upstreams.repoId, set: { ...row, updatedAt: NOW } })
        .returning()
        .get();
      return { link, created: before === undefined };
    });
  }

  link(repoId: number): UpstreamRow | undefined {
    return this.db.select().from(upstreams).where(eq(upstreams.repoId, repoId)).get();
  }

  /** The repo's link with the repo's owner and name. */
  linkWithRepo(repoId: number): LinkRow | undefined {
    const r = this.db
      .select({ link: upstreams, owner: repos.owner, name: repos.name })
      .from(upstreams)
      .innerJoin(repos, eq(repos.id, upstreams.repoId))
      .where(eq(upstreams.repoId, repoId))
      .get();
    return r && { ...r.link, owner: r.owner, name: r.name };
  }

  /** The links whose upstream URL has one of `keys` (Upstream URL keys), with their repo's owner and name. */
  linksByUrlKey(keys: string[]): LinkRow[] {
    if (keys.length === 0) return [];
    return this.db
      .select({ link: upstreams, owner: repos.owner, name: repos.name })
      .from(upstreams)
      .innerJoin(repos, eq(repos.id, upstreams.repoId))
      .where(inArray(upstreams.urlKey, keys))
      .orderBy(asc(upstreams.repoId))
      .all()
      .map((r) => ({ ...r.link, owner: r.owner, name: r.name }));
  }

  /** Removes the link; false if there was none. Statuses still owed stop with it (the sender finds no link). */
  removeLink(repoId: number): boolean {
    return this.db.delete(upstreams).where(eq(upstreams.repoId, repoId)).run().changes === 1;
  }

  // ------------------------------------------------------------------------------------------------------
  // Deliveries

  /**
   * Takes a delivery for work; false if it was taken before (a replay), unless that one never finished and
   * was taken before `staleBefore` (ISO time): the server stopped in its middle, and this is the redelivery.
   */
  takeDelivery(repoId: number, deliveryId: string, now: string, staleBefore: string): boolean {
    return this.db.transaction(
      (tx) => {
        const key = and(eq(webhookDeliveries.repoId, repoId), eq(webhookDeliveries.deliveryId, deliveryId));
        const seen = tx.select().from(webhookDeliveries).where(key).get();
        if (!seen) return tx.insert(webhookDeliveries).values({ repoId, deliveryId, receivedAt: now }).run().changes === 1;
        if (seen.doneAt !== null || seen.receivedAt >= staleBefore) return false;
        tx.update(webhookDeliveries).set({ receivedAt: now }).where(key).run();
        return true;
      },
      { behavior: 'immediate' },
    );
  }

  /** The delivery's push is recorded: a redelivery is a replay from now on. */
  finishDelivery(repoId: number, deliveryId: string): void {
    this.db
      .update(webhookDeliveries)
      .set({ doneAt: NOW })
      .where(and(eq(webhookDeliveries.repoId, repoId), eq(webhookDeliveries.deliveryId, deliveryId)))
      .run();
  }

  /** What came of the link's last push delivery, for its owner (GET upstream): a failure after a 202 reaches nobody else. */
  noteDelivery(repoId: number, result: string, error: string | null): void {
    this.db.update(upstreams).set({ lastDeliveryAt: NOW, lastDeliveryResult: result, lastDeliveryError: error }).where(eq(upstreams.repoId, repoId)).run();
  }

  /** Forgets a delivery whose work failed, so the forge's redelivery is acted on. */
  forgetDelivery(repoId: number, deliveryId: string): void {
    this.db
      .delete(webhookDeliveries)
      .where(and(eq(webhookDeliveries.repoId, repoId), eq(webhookDeliveries.deliveryId, deliveryId)))
      .run();
  }

  /** Removes deliveries received before `before` (ISO time); returns how many. */
  pruneDeliveries(before: string): number {
    return this.db.delete(webhookDeliveries).where(lt(webhookDeliveries.receivedAt, before)).run().changes;
  }

  // ------------------------------------------------------------------------------------------------------
  // Commit statuses

  /**
   * Records the state a build's status should now have, due at once. `onlyIfNew`: leave an existing row as
   * it is (the build's `pending` arriving after its end already did).
   */
  want(s: WantedStatus, nowMs: number, onlyIfNew = false): void {
    const now = iso(nowMs);
    // An older build's status for the same commit and context still owed (the forge was down) would land
    // after this one and overwrite it: it is not sent any more.
    this.db
      .update(commitStatuses)
      .set({ nextAttemptAt: null, gaveUp: true, error: `not sent: build #${s.buildId} reports on the same commit and context now` })
      .where(
        and(
          eq(commitStatuses.repoId, s.repoId),
          eq(commitStatuses.sha, s.sha),
          eq(commitStatuses.context, s.context),
          lt(commitStatuses.buildId, s.buildId),
          isNotNull(commitStatuses.nextAttemptAt),
        ),
      )
      .run();
    const q = this.db.insert(commitStatuses).values({ ...s, attempts: 0, error: null, nextAttemptAt: now, gaveUp: false, updatedAt: now });
    if (onlyIfNew) q.onConflictDoNothing().run();
    else {
      q.onConflictDoUpdate({
        target: commitStatuses.buildId,
        set: { state: s.state, description: s.description, attempts: 0, error: null, nextAttemptAt: now, gaveUp: false, updatedAt: now },
      }).run();
    }
  }

  status(buildId: number): CommitStatusRow | undefined {
    return this.db.select().from(commitStatuses).where(eq(commitStatuses.buildId, buildId)).get();
  }

  statusesOf(buildIds: number[]): Map<number, CommitStatusRow> {
    if (buildIds.length === 0) return new Map();
    return new Map(
      this.db
        .select()
        .from(commitStatuses)
        .where(inArray(commitStatuses.buildId, buildIds))
        .all()
        .map((r) => [r.buildId, r]),
    );
  }

  /** Statuses due by `nowMs`, oldest due first. */
  due(nowMs: number, limit: number): CommitStatusRow[] {
    return this.db
      .select()
      .from(commitStatuses)
      .where(and(isNotNull(commitStatuses.nextAttemptAt), lte(commitStatuses.nextAttemptAt, iso(nowMs))))
      .orderBy(asc(commitStatuses.nextAttemptAt))
      .limit(limit)
      .all();
  }

  /** When the next status falls due, or undefined when none is owed. */
  nextDue(): string | undefined {
    return (
      this.db
        .select({ at: sql<string | null>`min(${commitStatuses.nextAttemptAt})` })
        .from(commitStatuses)
        .get()?.at ?? undefined
    );
  }

  /**
   * The forge accepted `sent`. If a newer state was wanted meanwhile, it stays due; else nothing is owed.
   */
  delivered(buildId: number, sent: StatusStateName): void {
    // CASE: drizzle has no conditional expression.
    this.db
      .update(commitStatuses)
      .set({
        deliveredState: sent,
        error: null,
        attempts: sql`CASE WHEN ${commitStatuses.state} = ${sent} THEN 0 ELSE ${commitStatuses.attempts} END`,
        nextAttemptAt: sql`CASE WHEN ${commitStatuses.state} = ${sent} THEN NULL ELSE ${commitStatuses.nextAttemptAt} END`,
      })
      .where(eq(commitStatuses.buildId, buildId))
      .run();
  }

  /**
   * Delivering `tried` failed: the attempt is counted and the next is due at `nextMs`, or never (`null`: given
   * up). A newer state wanted meanwhile is left due as `want` made it.
   */
  failed(buildId: number, tried: StatusStateName, error: string, nextMs: number | null): void {
    this.db
      .update(commitStatuses)
      .set({
        attempts: sql`${commitStatuses.attempts} + 1`,
        error,
        nextAttemptAt: nextMs === null ? null : iso(nextMs),
        gaveUp: nextMs === null,
      })
      .where(and(eq(commitStatuses.buildId, buildId), eq(commitStatuses.state, tried)))
      .run();
  }
}
