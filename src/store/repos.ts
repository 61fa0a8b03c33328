import { and, asc, count, eq, isNull, or, sql } from 'drizzle-orm';
import type { Db } from './db.js';
import { repoMembers, repos, users, type Repo } from './schema.js';
import type { MemberRole, Readable } from './scopes.js';

/** `owner/name`, as builds.repo holds it. */
const FULL_NAME = sql<string>`${repos.owner} || '/' || ${repos.name}`;

/**
 * The rows of git repos (their settings: default branch, badge, retention) and whom each is shared with; the
 * repos on disk are src/git/repos.ts's.
 */
export class RepoRecordStore {
  constructor(private db: Db) {}

  private prepared: ReturnType<RepoRecordStore['prepare']> | undefined;
  private get q() {
    return (this.prepared ??= this.prepare());
  }

  /** Every push and most requests find a repo by name, and requests of a shared repo ask for the role. */
  private prepare() {
    const p = sql.placeholder;
    return {
      byName: this.db
        .select()
        .from(repos)
        .where(and(eq(repos.owner, p('owner')), eq(repos.name, p('name'))))
        .prepare(),
      add: this.db
        .insert(repos)
        .values({ owner: p('owner'), name: p('name') })
        .onConflictDoNothing()
        .prepare(),
      memberRole: this.db
        .select({ role: repoMembers.role })
        .from(repoMembers)
        .innerJoin(repos, eq(repos.id, repoMembers.repoId))
        .where(and(eq(repos.owner, p('owner')), eq(repos.name, p('name')), eq(repoMembers.userId, p('userId'))))
        .prepare(),
      sharedWith: this.db
        .select({ repo: FULL_NAME })
        .from(repoMembers)
        .innerJoin(repos, eq(repos.id, repoMembers.repoId))
        .where(eq(repoMembers.userId, p('userId')))
        .orderBy(FULL_NAME)
        .prepare(),
    };
  }

  byName(owner: string, name: string): Repo | undefined {
    return this.q.byName.get({ owner, name });
  }

  /** Returns the repo, creating its row on first use. */
  ensure(owner: string, name: string): Repo {
    const found = this.byName(owner, name);
    if (found) return found;
    this.q.add.run({ owner, name });
    return this.byName(owner, name)!;
  }

  /** Repos the caller can read, by owner then name. */
  readable(readable: Readable): Repo[] {
    const mine = readable.all
      ? undefined
      : or(eq(repos.owner, readable.owner), ...readable.shared.map((r) => and(eq(repos.owner, r.split('/')[0]!), eq(repos.name, r.split('/')[1]!))));
    return this.db.select().from(repos).where(mine).orderBy(asc(repos.owner), asc(repos.name)).all();
  }

  /** How many repos an owner name has (also after its user was removed). */
  countOf(owner: string): number {
    return this.db.select({ n: count() }).from(repos).where(eq(repos.owner, owner)).get()!.n;
  }

  /** Makes a repo's badges readable without a token, or not. */
  setPublicBadge(repoId: number, on: boolean): void {
    this.db.update(repos).set({ publicBadge: on }).where(eq(repos.id, repoId)).run();
  }

  /**
   * Sets the default branch unless one is set already (concurrent first pushes race here); returns the
   * branch that is the default afterwards.
   */
  setDefaultBranch(repoId: number, branch: string): string {
    this.db
      .update(repos)
      .set({ defaultBranch: branch })
      .where(and(eq(repos.id, repoId), isNull(repos.defaultBranch)))
      .run();
    return this.db.select({ b: repos.defaultBranch }).from(repos).where(eq(repos.id, repoId)).get()!.b!;
  }

  /** Sets (or, with null, resets to the server's default) a repo's retention override. */
  setRetention(repoId: number, keep: number | null, days: number | null): void {
    this.db.update(repos).set({ retentionKeep: keep, retentionDays: days }).where(eq(repos.id, repoId)).run();
  }

  // ---- sharing

  /** Shares a repo with a user (or changes their role). */
  share(repoId: number, userId: number, role: MemberRole): void {
    this.db
      .insert(repoMembers)
      .values({ repoId, userId, role })
      .onConflictDoUpdate({ target: [repoMembers.repoId, repoMembers.userId], set: { role } })
      .run();
  }

  unshare(repoId: number, userId: number): boolean {
    return (
      this.db
        .delete(repoMembers)
        .where(and(eq(repoMembers.repoId, repoId), eq(repoMembers.userId, userId)))
        .run().changes > 0
    );
  }

  members(repoId: number): { user: string; role: MemberRole; createdAt: string }[] {
    return this.db
      .select({ user: users.name, role: repoMembers.role, createdAt: repoMembers.createdAt })
      .from(repoMembers)
      .innerJoin(users, eq(users.id, repoMembers.userId))
      .where(eq(repoMembers.repoId, repoId))
      .orderBy(asc(users.name))
      .all();
  }

  /** The role a user has on a repo shared with them, or undefined. */
  memberRole(owner: string, repo: string, userId: number): MemberRole | undefined {
    return this.q.memberRole.get({ owner, name: repo, userId })?.role;
  }

  /** `owner/name` of every repo shared with a user. */
  sharedWith(userId: number): string[] {
    return this.q.sharedWith.all({ userId }).map((r) => r.repo);
  }
}
