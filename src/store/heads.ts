import { and, eq } from 'drizzle-orm';
import type { Db } from './db.js';
import { recordedHeads, repos } from './schema.js';

/** A ref's update as a push reports it (`new` all zeros: deleted). */
export interface HeadUpdate {
  ref: string;
  new: string;
}

const ZERO = /^0+$/;

/**
 * Where each branch and tag stood when its push was recorded (recorded_heads): written in the same
 * transaction as that push's builds, read by the late-push check, which compares it with the repo on disk.
 */
export class HeadStore {
  constructor(private db: Db) {}

  /** Records where a push left its refs (a deletion removes the row). Call inside the push's transaction. */
  record(repoId: number, updates: readonly HeadUpdate[], at = new Date().toISOString()): void {
    for (const u of updates) {
      const key = and(eq(recordedHeads.repoId, repoId), eq(recordedHeads.ref, u.ref));
      if (ZERO.test(u.new)) this.db.delete(recordedHeads).where(key).run();
      else
        this.db
          .insert(recordedHeads)
          .values({ repoId, ref: u.ref, sha: u.new, recordedAt: at })
          .onConflictDoUpdate({ target: [recordedHeads.repoId, recordedHeads.ref], set: { sha: u.new, recordedAt: at } })
          .run();
    }
  }

  /** The recorded sha of each ref of the repo. */
  of(repoId: number): Map<string, string> {
    const rows = this.db.select({ ref: recordedHeads.ref, sha: recordedHeads.sha }).from(recordedHeads).where(eq(recordedHeads.repoId, repoId)).all();
    return new Map(rows.map((r) => [r.ref, r.sha]));
  }

  /**
   * Takes a repo made before heads were recorded as it is now: its heads recorded, nothing built, and the repo
   * tracked from here on. One transaction.
   */
  adopt(repoId: number, heads: readonly HeadUpdate[]): void {
    this.db.transaction(() => {
      this.record(repoId, heads);
      this.db.update(repos).set({ headsTracked: true }).where(eq(repos.id, repoId)).run();
    });
  }
}
