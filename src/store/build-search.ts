import { and, asc, desc, eq, gte, inArray, lt, or, sql, type SQL, type SQLWrapper } from 'drizzle-orm';
import type { Db } from './db.js';
import { builds, type Build, type BuildSource, type BuildStatus } from './schema.js';
import type { Readable } from './scopes.js';

export interface BuildQuery {
  /** Only builds of repos the caller can read (Access.readable); absent is every repo. */
  readable?: Readable;
  repo?: string;
  /** A full sha or a hex prefix. */
  commit?: string;
  ref?: string;
  status?: BuildStatus;
  /** Only pushed commits' builds, or only uploaded folders'. */
  source?: BuildSource;
  limit: number;
  /** Return builds with an id below this one (pages go newest first). */
  beforeId?: number;
}

const p = sql.placeholder;

/**
 * Builds found by a query's filters (the API's and the pages' lists) and commits by a sha prefix: store.builds
 * (builds.ts) answers with them.
 */
export class BuildSearch {
  constructor(private db: Db) {}

  /**
   * Builds matching a query, newest first. Its statement is prepared once per combination of filters: lookups
   * by commit are the API's hot path.
   */
  list(q: BuildQuery): Build[] {
    const filters: [string, () => SQL | undefined][] = [];
    const values: Record<string, unknown> = { limit: q.limit };
    const add = (key: string, v: Record<string, unknown>, where: () => SQL | undefined) => {
      filters.push([key, where]);
      Object.assign(values, v);
    };
    // 'owner/…' sorts from 'owner/' up to 'owner0' ('0' follows '/'), so the repo index serves this; repos
    // shared with the caller are named one by one (a statement per count of them).
    if (q.readable && !q.readable.all) {
      const shared = q.readable.shared;
      add(
        `owner+${shared.length}`,
        Object.assign({ ownerFrom: q.readable.owner + '/', ownerTo: q.readable.owner + '0' }, ...shared.map((r, i) => ({ [`shared${i}`]: r }))),
        () =>
          or(
            and(gte(builds.repo, p('ownerFrom')), lt(builds.repo, p('ownerTo'))),
            ...(shared.length
              ? [
                  inArray(
                    builds.repo,
                    shared.map((_, i) => p(`shared${i}`)),
                  ),
                ]
              : []),
          ),
      );
    }
    if (q.repo) add('repo', { repo: q.repo }, () => eq(builds.repo, p('repo')));
    if (q.commit?.length === 40) add('sha', { sha: q.commit }, () => eq(builds.commitSha, p('sha')));
    else if (q.commit) add('prefix', { shaFrom: q.commit, shaTo: q.commit + 'g' }, () => and(...commitPrefix(p('shaFrom'), p('shaTo'))));
    if (q.ref) add('ref', { ref: q.ref }, () => or(eq(builds.ref, p('ref')), eq(builds.refName, p('ref'))));
    if (q.status) add('status', { status: q.status }, () => eq(builds.status, p('status')));
    if (q.source) add('source', { source: q.source }, () => eq(builds.source, p('source')));
    if (q.beforeId !== undefined) add('before', { beforeId: q.beforeId }, () => lt(builds.id, p('beforeId')));
    const key = filters.map(([k]) => k).join(',');
    let list = this.lists.get(key);
    if (!list) {
      list = this.prepareList(filters.map(([, f]) => f()));
      this.lists.set(key, list);
    }
    return list.all(values);
  }

  private lists = new Map<string, ReturnType<BuildSearch['prepareList']>>();
  private prepareList(where: (SQL | undefined)[]) {
    return this.db
      .select()
      .from(builds)
      .where(and(...where))
      .orderBy(desc(builds.id))
      .limit(p('limit'))
      .prepare();
  }

  /** Distinct commits of a repo whose sha starts with `prefix`, at most `limit`. */
  commitsByPrefix(repo: string, prefix: string, limit: number): string[] {
    const range = prefix.length === 40 ? [eq(builds.commitSha, prefix)] : commitPrefix(prefix, prefix + 'g');
    return this.db
      .selectDistinct({ sha: builds.commitSha })
      .from(builds)
      .where(and(eq(builds.repo, repo), ...range))
      .orderBy(asc(builds.commitSha))
      .limit(limit)
      .all()
      .map((r) => r.sha!); // a prefix matches no upload's null commit
  }
}

/**
 * A prefix match that uses the commit index: every sha starting with `p` sorts at or after `p` and before
 * `p + 'g'` ('g' sorts after every hex digit). LIKE would scan the table.
 */
function commitPrefix(from: string | SQLWrapper, to: string | SQLWrapper): SQL[] {
  return [gte(builds.commitSha, from), lt(builds.commitSha, to)];
}
