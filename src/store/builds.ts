import { and, asc, count, desc, eq, inArray, isNotNull, lt, max, ne, type SQL, sql } from 'drizzle-orm';
import { storableConfig } from '../logs/mask.js';
import type { Db } from './db.js';
import { builds, type Build, type BuildPlatform, type BuildStep, type NewBuild } from './schema.js';
import { BuildSearch, type BuildQuery } from './build-search.js';
import { slot } from './sql.js';

const p = sql.placeholder;

/**
 * The builds' records: writing a push's or an upload's builds, and every way they are looked up (by a query's
 * filters: build-search.ts). Claiming, ending and canceling builds is the queue's (queue.ts).
 */
export class BuildStore {
  private search: BuildSearch;

  constructor(private db: Db) {
    this.search = new BuildSearch(db);
  }

  private prepared: ReturnType<BuildStore['prepare']> | undefined;
  private get q() {
    return (this.prepared ??= this.prepare());
  }

  /** Statements every build, log or badge request runs, and the runner before each build: prepared once. */
  private prepare() {
    const d = this.db;
    /** The newest earlier build of the same repo and image with an insight, among the builds `line` picks. */
    const previousInsight = (line: SQL) =>
      d
        .select({ id: builds.id, insight: builds.insight })
        .from(builds)
        .where(and(eq(builds.repo, p('repo')), line, eq(builds.image, p('image')), lt(builds.id, p('beforeId')), isNotNull(builds.insight)))
        .orderBy(desc(builds.id))
        .limit(1)
        .prepare();
    return {
      byId: d
        .select()
        .from(builds)
        .where(eq(builds.id, p('id')))
        .prepare(),
      setRefs: d
        .update(builds)
        .set({ imageRefs: slot('refs') })
        .where(eq(builds.id, p('id')))
        .prepare(),
      latestPerLine: d
        .select()
        .from(builds)
        .where(
          inArray(
            builds.id,
            d
              .select({ id: max(builds.id) })
              .from(builds)
              .where(eq(builds.repo, p('repo')))
              .groupBy(builds.refName, builds.image),
          ),
        )
        .orderBy(desc(builds.id))
        .prepare(),
      newestOfBranch: d
        .select({ sha: builds.commitSha })
        .from(builds)
        .where(and(eq(builds.repo, p('repo')), eq(builds.refName, p('branch')), eq(builds.refType, 'branch'), ne(builds.status, 'skipped')))
        .orderBy(desc(builds.id))
        .limit(1)
        .prepare(),
      // By the commit index: the unary + keeps SQLite off the (repo, ref_name) index, which would walk every
      // build of the branch to find the few of one commit.
      ofCommitOnBranch: d
        .select()
        .from(builds)
        .where(
          and(
            eq(builds.commitSha, p('sha')),
            eq(sql`+${builds.repo}`, p('repo')),
            eq(sql`+${builds.refName}`, p('branch')),
            eq(builds.refType, 'branch'),
            ne(builds.status, 'skipped'),
          ),
        )
        .orderBy(desc(builds.id))
        .prepare(),
      builtImage: d
        .select({ one: sql`1` })
        .from(builds)
        .where(and(eq(builds.repo, p('repo')), eq(builds.image, p('image'))))
        .limit(1)
        .prepare(),
      // The branch's (ref's) builds by the (repo, ref_name) index; an upload's by its folder among the repo's uploads.
      previousInsightOfRef: previousInsight(and(eq(builds.refName, p('refName')), eq(builds.ref, p('ref')))!),
      previousInsightOfFolder: previousInsight(eq(builds.uploadFolder, p('folder'))),
      lastBuilder: d
        .select({ builder: builds.builder, identity: builds.builderIdentity, finishedAt: builds.finishedAt })
        .from(builds)
        .where(
          and(
            eq(builds.repo, p('repo')),
            lt(builds.id, p('beforeId')),
            eq(builds.image, p('image')),
            eq(builds.status, 'succeeded'),
            isNotNull(builds.builder),
          ),
        )
        .orderBy(desc(builds.id))
        .limit(1)
        .prepare(),
      withDigest: d
        .select()
        .from(builds)
        .where(and(eq(builds.digest, p('digest')), eq(builds.status, 'succeeded')))
        .orderBy(desc(builds.id))
        .limit(20)
        .prepare(),
      markLogExpired: d
        .update(builds)
        .set({ logExpiredAt: slot('at') })
        .where(eq(builds.id, p('id')))
        .prepare(),
    };
  }

  /** One build by id: every log and build request starts here. */
  byId(id: number): Build | undefined {
    return this.q.byId.get({ id });
  }

  /**
   * Inserts builds in one transaction: either all are recorded or none. `imageRefs` computes each build's image
   * references once its id is known (a tag may contain the build number).
   */
  insert<B extends Build = Build>(rows: NewBuild[], imageRefs: (b: B, index: number) => string[]): B[] {
    if (rows.length === 0) return [];
    return this.db.transaction(() =>
      rows.map((r, i) => {
        // Secret-looking build args are never stored: every build's row goes through here.
        const row = r.config ? { ...r, config: storableConfig(r.config) } : r;
        // The rows say what kind of build they are (a push's have ref and commit): B is the caller's to name.
        const b = this.insertOf(row).get(row) as B;
        const refs = imageRefs(b, i);
        if (refs.length === 0) return b;
        this.q.setRefs.run({ refs, id: b.id });
        return { ...b, imageRefs: refs };
      }),
    );
  }

  /**
   * A push's hot path: one prepared INSERT per set of columns given (the others take their defaults), so no
   * query is built per row. A null is part of the statement: drizzle would write a JSON column's null as 'null'.
   */
  private insertOf(r: NewBuild) {
    const fields = (Object.keys(r) as (keyof NewBuild)[]).filter((f) => r[f] !== undefined);
    const key = fields.map((f) => (r[f] === null ? `${f}=null` : f)).join(',');
    let insert = this.inserts.get(key);
    if (!insert) {
      insert = this.prepareInsert(Object.fromEntries(fields.map((f) => [f, r[f] === null ? null : p(f)])) as unknown as NewBuild);
      this.inserts.set(key, insert);
    }
    return insert;
  }

  private inserts = new Map<string, ReturnType<BuildStore['prepareInsert']>>();
  private prepareInsert(values: NewBuild) {
    return this.db.insert(builds).values(values).returning().prepare();
  }

  /** Builds matching a query, newest first (build-search.ts). */
  list(q: BuildQuery): Build[] {
    return this.search.list(q);
  }

  /** Distinct commits of a repo whose sha starts with `prefix`, at most `limit` (build-search.ts). */
  commitsByPrefix(repo: string, prefix: string, limit: number): string[] {
    return this.search.commitsByPrefix(repo, prefix, limit);
  }

  /** The newest build of each (branch or tag, image) of `repo`, newest first. */
  latestPerLine(repo: string): Build[] {
    return this.q.latestPerLine.all({ repo });
  }

  /**
   * The builds a branch's badge stands for: those of the newest commit built on the branch, skipped ones left
   * out (a push that built nothing says nothing about the branch). Empty when the branch has no build.
   */
  forBadge(repo: string, branch: string): Build[] {
    const newest = this.q.newestOfBranch.get({ repo, branch });
    if (!newest) return [];
    const seen = new Set<string>();
    // The newest build of each image of that commit (a rebuild replaces the build it repeats).
    return this.q.ofCommitOnBranch.all({ sha: newest.sha, repo, branch }).filter((b) => !seen.has(b.image) && seen.add(b.image));
  }

  /** Whether a git repo (owner/name) ever built an image of that name (for registry pull grants). */
  builtImage(repo: string, image: string): boolean {
    return this.q.builtImage.get({ repo, image }) !== undefined;
  }

  /**
   * The builder, its identity then (null: not known) and the end of the newest succeeded build of a repo's image
   * before build `beforeId`, or null: where that image's BuildKit cache is warm (the registry cache need not be
   * imported there), unless another BuildKit answers at that builder's address now.
   */
  lastBuilder(repo: string, image: string, beforeId: number): { builder: string; identity: string | null; finishedAt: string } | null {
    // The query asks for a builder, and a succeeded build has ended.
    return (this.q.lastBuilder.get({ repo, beforeId, image }) as { builder: string; identity: string | null; finishedAt: string } | undefined) ?? null;
  }

  /** Records who answered at the build's builder for this attempt (null: not known), for lastBuilder. */
  setBuilderIdentity(id: number, identity: string | null): void {
    this.db.update(builds).set({ builderIdentity: identity }).where(eq(builds.id, id)).run();
  }

  /** Records the vulnerability scan of the image the build pushed (src/scan's BuildScan as JSON). */
  setScan(id: number, scan: Record<string, unknown>): void {
    this.db.update(builds).set({ scan }).where(eq(builds.id, id)).run();
  }

  /**
   * The insight of the latest earlier build of the same branch or tag (an upload: the same folder) and image that
   * has one, and its id; null when there is none.
   */
  previousInsight(b: Build): { id: number; insight: Record<string, unknown> } | null {
    const row = (
      b.source === 'upload'
        ? this.q.previousInsightOfFolder.get({ repo: b.repo, folder: b.uploadFolder, image: b.image, beforeId: b.id })
        : this.q.previousInsightOfRef.get({ repo: b.repo, refName: b.refName, ref: b.ref, image: b.image, beforeId: b.id })
    ) as { id: number; insight: Record<string, unknown> | null } | undefined;
    return row?.insight ? { id: row.id, insight: row.insight } : null;
  }

  /** Records what a build's end made of its steps, context and image (src/insight's StoredInsight as JSON). */
  setInsight(id: number, insight: Record<string, unknown>): void {
    this.db.update(builds).set({ insight }).where(eq(builds.id, id)).run();
  }

  /**
   * Records the platforms of the multi-platform image a build pushed, each with its manifest's digest in the index;
   * null for a single-platform image (and clears a previous attempt's).
   */
  setPlatforms(id: number, platforms: BuildPlatform[] | null): void {
    this.db.update(builds).set({ platforms }).where(eq(builds.id, id)).run();
  }

  /**
   * The platforms of the multi-platform images these builds pushed, by build id, with the digest each build
   * pushed (a tag names a build's index only while it points at that digest); builds of one platform are left out.
   */
  platformsOf(ids: readonly number[]): Map<number, { digest: string | null; platforms: BuildPlatform[] }> {
    const found = new Map<number, { digest: string | null; platforms: BuildPlatform[] }>();
    const unique = [...new Set(ids)];
    // In slices: SQLite takes at most 32766 parameters to a statement.
    for (let i = 0; i < unique.length; i += 1000) {
      const rows = this.db
        .select({ id: builds.id, digest: builds.digest, platforms: builds.platforms })
        .from(builds)
        .where(and(inArray(builds.id, unique.slice(i, i + 1000)), isNotNull(builds.platforms)))
        .all();
      for (const r of rows) if (r.platforms?.length) found.set(r.id, { digest: r.digest, platforms: r.platforms });
    }
    return found;
  }

  /** Records the BuildKit steps of a build's latest attempt. */
  setSteps(id: number, steps: BuildStep[]): void {
    this.db.update(builds).set({ steps }).where(eq(builds.id, id)).run();
  }

  /** Succeeded builds that pushed the manifest `digest`, newest first (the reconcile attributes tags with this). */
  withDigest(digest: string): Build[] {
    return this.q.withDigest.all({ digest });
  }

  /** The image names a git repo (owner/name) has built: the registry repositories `<owner>/<image>` it pushes to. */
  imagesOf(repo: string): string[] {
    return this.db
      .selectDistinct({ image: builds.image })
      .from(builds)
      .where(eq(builds.repo, repo))
      .orderBy(asc(builds.image))
      .all()
      .map((r) => r.image);
  }

  countByStatus(): Record<string, number> {
    const rows = this.db.select({ status: builds.status, n: count() }).from(builds).groupBy(builds.status).all();
    return Object.fromEntries(rows.map((r) => [r.status, r.n]));
  }

  /**
   * Builds whose log may expire: finished before `cutoff`, log still kept, and not the newest build of their
   * branch and image (that one keeps its log whatever its age; of uploads, which have no branch: the newest of
   * the image), oldest first, at most `limit`.
   */
  expirableLogs(
    cutoff: string,
    limit: number,
    opts: { repo?: string | undefined; after?: { finishedAt: string; id: number } | undefined } = {},
  ): { id: number; finishedAt: string }[] {
    const after = opts.after ?? { finishedAt: '', id: 0 };
    // Raw SQL: drizzle's select has no INDEXED BY. Without it, SQLite reads a named repo's every build by the repo
    // index; the partial index of kept logs reads only those, already in finish order.
    return this.db.all<{ id: number; finishedAt: string }>(sql`SELECT b.id, b.finished_at AS finishedAt FROM builds b INDEXED BY builds_log_kept
      WHERE b.log_expired_at IS NULL AND b.finished_at < ${cutoff} AND (b.finished_at, b.id) > (${after.finishedAt}, ${after.id}) ${opts.repo ? sql`AND b.repo = ${opts.repo}` : sql``}
        AND b.id < (SELECT max(n.id) FROM builds n WHERE n.repo = b.repo AND n.ref_name IS b.ref_name AND n.image = b.image)
      ORDER BY b.finished_at, b.id LIMIT ${limit}`);
  }

  /** Records that these builds' logs were removed at `at`. */
  markLogsExpired(ids: number[], at: string): void {
    this.db.transaction(() => {
      for (const id of ids) this.q.markLogExpired.run({ at, id });
    });
  }
}
