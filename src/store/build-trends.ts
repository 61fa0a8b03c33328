import { sql } from 'drizzle-orm';
import type { Db } from './db.js';
import type { BuildStatus } from './schema.js';

/** One finished build of a line, as a trend reads it. */
export interface TrendBuild {
  id: number;
  status: BuildStatus;
  startedAt: string;
  finishedAt: string;
  /** The pushed image's size from the build's insight (image_bytes); null when it has none. */
  imageBytes: number | null;
}

/** A branch and image of a repo: each image of a branch is a build of its own, with its own times and size. */
export interface TrendLine {
  branch: string;
  image: string;
  /** Its last finished builds, oldest first. */
  builds: TrendBuild[];
}

export interface TrendLimits {
  /** Lines, the most recently built first. */
  lines: number;
  /** Finished builds per line, the newest. */
  builds: number;
  /**
   * How far back the query looks: the repo's newest finished builds. It bounds the work on a repo with a long
   * history (the window functions sort what they read); a branch last built before them has no trend.
   */
  window: number;
}

export const TREND_LIMITS: TrendLimits = { lines: 5, builds: 30, window: 2000 };

/**
 * The trends of a repo's branches (its page's "Trends"): for each branch and image, its last finished builds
 * (started and finished, whatever the outcome: the page counts only the succeeded in its percentiles). Tag
 * builds and uploads are left out: a tag is built once, an upload has no branch.
 */
export class BuildTrends {
  constructor(private db: Db) {}

  /** The lines of `repo`, the most recently built first; none when it has no finished branch build. */
  of(repo: string, limits: TrendLimits = TREND_LIMITS): TrendLine[] {
    // Raw SQL: window functions (the newest builds per line, the lines by their newest build) in one statement.
    const rows = this.db.all<{ line: number; branch: string; image: string } & TrendBuild>(sql`
      WITH recent AS (
        SELECT id, ref_name, image, status, started_at, finished_at,
               CASE WHEN json_valid(insight) THEN json_extract(insight, '$.image_bytes') END AS image_bytes
        FROM builds
        WHERE repo = ${repo} AND ref_type = 'branch' AND started_at IS NOT NULL AND finished_at IS NOT NULL
        ORDER BY id DESC LIMIT ${limits.window}
      ), ranked AS (
        SELECT *, row_number() OVER (PARTITION BY ref_name, image ORDER BY id DESC) AS rn,
               max(id) OVER (PARTITION BY ref_name, image) AS newest
        FROM recent
      ), lined AS (
        SELECT *, dense_rank() OVER (ORDER BY newest DESC) AS line FROM ranked WHERE rn <= ${limits.builds}
      )
      SELECT line, ref_name AS branch, image, id, status, started_at AS startedAt, finished_at AS finishedAt, image_bytes AS imageBytes
      FROM lined WHERE line <= ${limits.lines} ORDER BY line, id`);
    const lines: TrendLine[] = [];
    for (const r of rows) {
      let l = lines[r.line - 1];
      if (!l) lines.push((l = { branch: r.branch, image: r.image, builds: [] }));
      l.builds.push({
        id: r.id,
        status: r.status,
        startedAt: r.startedAt,
        finishedAt: r.finishedAt,
        imageBytes: typeof r.imageBytes === 'number' ? r.imageBytes : null,
      });
    }
    return lines;
  }
}
