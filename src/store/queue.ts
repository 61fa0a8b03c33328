import { and, asc, count, eq, gt, inArray, isNull, lt, lte, min, notExists, or, sql } from 'drizzle-orm';
import { alias } from 'drizzle-orm/sqlite-core';
import type { Db } from './db.js';
import { builds, registryLocks, type Build, type BuildStatus, type PushBuild } from './schema.js';
import { NOW, slot } from './sql.js';

/** What finishing a build records. */
export interface BuildResult {
  status: Extract<BuildStatus, 'succeeded' | 'failed' | 'canceled'>;
  digest?: string | null;
  reason?: string | null;
  reasonCode?: string | null;
}

const p = sql.placeholder;

/**
 * The build queue: claiming the next build to run, and every change of a build's state after it was recorded
 * (canceled, superseded, put back, finished, recovered after a crash).
 */
export class QueueStore {
  constructor(private db: Db) {}

  private prepared: ReturnType<QueueStore['prepare']> | undefined;
  private get q() {
    return (this.prepared ??= this.prepare());
  }

  /** Claiming and finishing are the queue's hot path, and every push counts its owner's queue: prepared once. */
  private prepare() {
    const d = this.db;
    const running = alias(builds, 'r');
    return {
      load: d.select({ owner: builds.owner, n: count() }).from(builds).where(eq(builds.status, 'running')).groupBy(builds.owner).prepare(),
      heads: d
        .select({ owner: builds.owner, first: min(builds.id).mapWith(Number) })
        .from(builds)
        .where(eq(builds.status, 'queued'))
        .groupBy(builds.owner)
        .prepare(),
      candidate: d
        .select()
        .from(builds)
        .where(
          and(
            eq(builds.status, 'queued'),
            eq(builds.owner, p('owner')),
            or(isNull(builds.notBefore), lte(builds.notBefore, p('now'))),
            notExists(
              d
                .select({ one: sql`1` })
                .from(running)
                .where(
                  and(
                    eq(running.status, 'running'),
                    eq(running.repo, builds.repo),
                    eq(running.image, builds.image),
                    or(eq(running.refName, builds.refName), eq(running.commitSha, builds.commitSha)),
                  ),
                ),
            ),
            // A build pushes to the registry repository `<owner>/<image>`; gc may hold it locked.
            notExists(
              d
                .select({ one: sql`1` })
                .from(registryLocks)
                .where(and(eq(registryLocks.repository, sql`${builds.owner} || '/' || ${builds.image}`), gt(registryLocks.expiresAt, p('now')))),
            ),
          ),
        )
        .orderBy(asc(builds.id))
        .limit(1)
        .prepare(),
      claim: d
        .update(builds)
        .set({ status: 'running', startedAt: slot('now'), attempts: sql`${builds.attempts} + 1`, builder: slot('builder'), notBefore: null })
        .where(and(eq(builds.id, p('id')), eq(builds.status, 'queued')))
        .returning()
        .prepare(),
      finish: d
        .update(builds)
        .set({ status: slot('status'), digest: slot('digest'), reason: slot('reason'), reasonCode: slot('reasonCode'), finishedAt: NOW })
        .where(and(eq(builds.id, p('id')), eq(builds.status, 'running')))
        .prepare(),
      queuedOf: d
        .select({ n: count() })
        .from(builds)
        .where(and(eq(builds.status, 'queued'), eq(builds.owner, p('owner'))))
        .prepare(),
    };
  }

  /**
   * Claims the next build to run and marks it running on the builder `pickBuilder` names for it; returns
   * undefined when nothing can run now. One transaction, so two claimers never get the same build.
   *
   * Which build: queued and past its back-off; not on a line (repo, branch, image) that has a build running,
   * so an older build of a branch never finishes after a newer one; not the same commit and image as a
   * running build (BuildKit shares the identical context upload between the two solves and the second fails
   * with "no local sources enabled"; run after the first, it is all cache hits); not of a registry repository
   * gc holds locked; from the owner with the fewest builds running (one owner's burst does not starve the
   * others); oldest first. `pickBuilder` may return null (no builder free for that repo), and then nothing is
   * claimed.
   */
  claimNext(pickBuilder: (b: Build) => string | null, now = new Date()): Build | undefined {
    const q = this.q;
    // Immediate: gc (maybe another process) takes a repository's lock only while none of its builds runs; an
    // immediate transaction makes that check and this claim strictly one after the other.
    return this.db.transaction(
      () => {
        // Owners with work waiting, the least busy first, then the one waiting longest: each owner's oldest
        // eligible build is one walk of the builds_queue index, so a deep queue costs per owner, not per build.
        const load = new Map(q.load.all().map((r) => [r.owner, r.n]));
        const heads = q.heads.all().sort((a, b) => (load.get(a.owner) ?? 0) - (load.get(b.owner) ?? 0) || a.first - b.first);
        const nowIso = now.toISOString();
        for (const { owner } of heads) {
          const build = q.candidate.get({ owner, now: nowIso });
          if (!build) continue;
          const builder = pickBuilder(build);
          if (!builder) return undefined;
          return q.claim.get({ now: nowIso, builder, id: build.id });
        }
        return undefined;
      },
      { behavior: 'immediate' },
    );
  }

  /** Ends a running build. Returns false if it was not running (e.g. canceled meanwhile), leaving it as it is. */
  finish(id: number, r: BuildResult): boolean {
    return this.q.finish.run({ id, status: r.status, digest: r.digest ?? null, reason: r.reason ?? null, reasonCode: r.reasonCode ?? null }).changes === 1;
  }

  /**
   * Cancels a queued or running build with `reason`. Returns the build as it was before, or undefined if it
   * does not exist; a build already ended is left as it is (check `status` of the result).
   */
  cancel(id: number, reason: string): Build | undefined {
    return this.db.transaction((tx) => {
      const before = tx.select().from(builds).where(eq(builds.id, id)).get();
      if (before && (before.status === 'queued' || before.status === 'running')) {
        tx.update(builds).set({ status: 'canceled', reason, reasonCode: 'canceled', finishedAt: NOW }).where(eq(builds.id, id)).run();
      }
      return before;
    });
  }

  /**
   * Cancels the queued or running builds that `newer` supersedes: same repo, branch or tag and image, older.
   * Returns them as they were before (their status says whether they were running).
   */
  supersede(newer: PushBuild): PushBuild[] {
    return this.db.transaction((tx) => {
      const older = tx
        .select()
        .from(builds)
        .where(
          and(
            eq(builds.repo, newer.repo),
            eq(builds.refName, newer.refName),
            eq(builds.image, newer.image),
            inArray(builds.status, ['queued', 'running']),
            lt(builds.id, newer.id),
          ),
        )
        .orderBy(asc(builds.id))
        .all();
      for (const b of older) {
        tx.update(builds)
          .set({ status: 'canceled', reason: `superseded by #${newer.id}`, reasonCode: 'superseded', finishedAt: NOW })
          .where(eq(builds.id, b.id))
          .run();
      }
      // The same ref_name: builds of pushes alone.
      return older as PushBuild[];
    });
  }

  /**
   * Puts a running build back in the queue, not to be claimed before `notBefore`. With `refund` the attempt
   * does not count (the registry was down or read-only: not the build's doing). False if it was not running.
   */
  requeue(id: number, notBefore: Date, reason: string, opts: { refund?: boolean } = {}): boolean {
    return (
      this.db
        .update(builds)
        .set({
          status: 'queued',
          notBefore: notBefore.toISOString(),
          reason,
          startedAt: null,
          builder: null,
          ...(opts.refund ? { attempts: sql`max(${builds.attempts} - 1, 0)` } : {}),
        })
        .where(and(eq(builds.id, id), eq(builds.status, 'running')))
        .run().changes === 1
    );
  }

  /**
   * Start-up recovery: builds left running by a dead process go back to the queue while they have attempts
   * left, else fail as interrupted. Returns what happened to each.
   */
  recoverRunning(maxAttempts: number): { requeued: Build[]; failed: Build[] } {
    return this.db.transaction((tx) => {
      const stranded = tx.select().from(builds).where(eq(builds.status, 'running')).all();
      const requeued: Build[] = [];
      const failed: Build[] = [];
      for (const b of stranded) {
        if (b.attempts < maxAttempts) {
          tx.update(builds).set({ status: 'queued', startedAt: null, builder: null }).where(eq(builds.id, b.id)).run();
          requeued.push(b);
        } else {
          tx.update(builds)
            .set({
              status: 'failed',
              reasonCode: 'interrupted',
              finishedAt: NOW,
              reason: `the server stopped during the build ${b.attempts} times; giving up`,
            })
            .where(eq(builds.id, b.id))
            .run();
          failed.push(b);
        }
      }
      return { requeued, failed };
    });
  }

  /** The earliest back-off end among queued builds, or null. */
  nextNotBefore(): string | null {
    return (
      this.db
        .select({ t: min(builds.notBefore) })
        .from(builds)
        .where(eq(builds.status, 'queued'))
        .get()?.t ?? null
    );
  }

  /** How many builds an owner has queued (the push-time limit's count). */
  queuedOf(owner: string): number {
    return this.q.queuedOf.get({ owner })!.n;
  }
}
