import { and, asc, eq, or, getTableColumns, gte, lt, sql, type SQL } from 'drizzle-orm';
import type { Db } from './db.js';
import { storableConfig } from '../logs/mask.js';
import { builds, repos, tokens, users, type Build, type BuildSource, type BuildStatus, type BuildStep, type NewBuild, type PushBuild, type Repo, type User } from './schema.js';
import { DEFAULT_SCOPES, parseScopes, type Caller, type MemberRole, type Readable, type Scope, type TokenInfo } from './scopes.js';

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

/** What finishing a build records. */
export interface BuildResult {
  status: Extract<BuildStatus, 'succeeded' | 'failed' | 'canceled'>;
  digest?: string | null;
  reason?: string | null;
  reasonCode?: string | null;
}

/**
 * Every read and write of the database goes through here, so that the SQL the server runs can be read in one
 * file. Methods are synchronous (better-sqlite3): each is one statement or one transaction.
 */
export class Store {
  constructor(readonly db: Db) {}

  // ---- users and tokens

  /** Creates a user with one token hash (scopes read and push, unless given). Returns null if the name is taken. */
  createUser(name: string, tokenHash: string, scopes: readonly Scope[] = DEFAULT_SCOPES): User | null {
    return this.db.transaction((tx) => {
      const user = tx.insert(users).values({ name }).onConflictDoNothing().returning().get();
      if (!user) return null;
      tx.insert(tokens).values({ userId: user.id, hash: tokenHash, scopes: scopes.join(',') }).run();
      return user;
    });
  }

  userByName(name: string): User | undefined {
    return this.db.select().from(users).where(eq(users.name, name)).get();
  }

  listUsers(): (User & { tokens: number })[] {
    return this.db.$client.prepare(`SELECT u.id, u.name, u.created_at AS createdAt, u.quota_bytes AS quotaBytes, count(t.id) AS tokens
      FROM users u LEFT JOIN tokens t ON t.user_id = u.id GROUP BY u.id ORDER BY u.name`).all() as (User & { tokens: number })[];
  }

  /**
   * Removes a user with their tokens and memberships (their repos and builds stay): 'missing' if there is none,
   * 'last_admin' (nothing removed) if every admin token left is theirs. The check and the delete are one
   * immediate transaction: two removals at once, in this process or another (the CLI beside the server), take
   * the write lock one after the other, so two admins removing each other cannot leave none.
   */
  removeUser(name: string): 'removed' | 'missing' | 'last_admin' {
    const c = this.db.$client;
    return c.transaction((): 'removed' | 'missing' | 'last_admin' => {
      const user = c.prepare('SELECT id FROM users WHERE name = ?').get(name) as { id: number } | undefined;
      if (!user) return 'missing';
      const admins = c.prepare(`SELECT count(*) AS total, coalesce(sum(user_id = ?), 0) AS theirs FROM tokens WHERE ${ADMIN_TOKEN}`).get(user.id) as { total: number; theirs: number };
      if (admins.theirs > 0 && admins.theirs === admins.total) return 'last_admin';
      c.prepare('DELETE FROM users WHERE id = ?').run(user.id);
      return 'removed';
    }).immediate();
  }

  /** Adds a token for a user; returns its id. */
  createToken(userId: number, tokenHash: string, label: string, scopes: readonly Scope[]): number {
    return Number(this.db.$client.prepare('INSERT INTO tokens (user_id, hash, label, scopes) VALUES (?, ?, ?, ?)').run(userId, tokenHash, label, scopes.join(',')).lastInsertRowid);
  }

  listTokens(userId: number): TokenInfo[] {
    return (this.db.$client.prepare('SELECT id, label, scopes, created_at AS createdAt, last_used_at AS lastUsedAt FROM tokens WHERE user_id = ? ORDER BY id')
      .all(userId) as (Omit<TokenInfo, 'scopes'> & { scopes: string })[]).map((t) => ({ ...t, scopes: parseScopes(t.scopes) }));
  }

  /**
   * Revokes a token by id: 'missing' if there is none, 'last_admin' (nothing revoked) if it is the only admin
   * token left. One immediate transaction, as removeUser.
   */
  revokeToken(id: number): 'revoked' | 'missing' | 'last_admin' {
    const c = this.db.$client;
    return c.transaction((): 'revoked' | 'missing' | 'last_admin' => {
      const token = c.prepare(`SELECT ${ADMIN_TOKEN} AS admin FROM tokens WHERE id = ?`).get(id) as { admin: number } | undefined;
      if (!token) return 'missing';
      if (token.admin && (c.prepare(`SELECT count(*) AS n FROM tokens WHERE ${ADMIN_TOKEN}`).get() as { n: number }).n === 1) return 'last_admin';
      c.prepare('DELETE FROM tokens WHERE id = ?').run(id);
      return 'revoked';
    }).immediate();
  }

  userCount(): number {
    return (this.db.$client.prepare('SELECT count(*) AS n FROM users').get() as { n: number }).n;
  }

  /**
   * Who a token hash belongs to and what the token may do, or undefined. Records the token's last use at most
   * once a minute, so that reading the API is not a database write per request.
   */
  tokenByHash(hash: string): Caller | undefined {
    const q = (this.authSql ??= {
      find: this.db.$client.prepare(`SELECT u.id, u.name, u.created_at AS createdAt, u.quota_bytes AS quotaBytes, t.id AS tokenId, t.scopes, t.last_used_at AS lastUsedAt
        FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.hash = ?`),
      touch: this.db.$client.prepare("UPDATE tokens SET last_used_at = ? WHERE id = ?"),
    });
    const row = q.find.get(hash) as (User & { tokenId: number; scopes: string; lastUsedAt: string | null }) | undefined;
    if (!row) return undefined;
    const now = new Date();
    if (!row.lastUsedAt || now.getTime() - Date.parse(row.lastUsedAt) > 60_000) q.touch.run(now.toISOString(), row.tokenId);
    return { user: { id: row.id, name: row.name, createdAt: row.createdAt, quotaBytes: row.quotaBytes }, tokenId: row.tokenId, scopes: parseScopes(row.scopes) };
  }

  // ---- sharing

  /** Shares a repo with a user (or changes their role). */
  share(repoId: number, userId: number, role: MemberRole): void {
    this.db.$client.prepare(`INSERT INTO repo_members (repo_id, user_id, role) VALUES (?, ?, ?)
      ON CONFLICT (repo_id, user_id) DO UPDATE SET role = excluded.role`).run(repoId, userId, role);
  }

  unshare(repoId: number, userId: number): boolean {
    return this.db.$client.prepare('DELETE FROM repo_members WHERE repo_id = ? AND user_id = ?').run(repoId, userId).changes > 0;
  }

  members(repoId: number): { user: string; role: MemberRole; createdAt: string }[] {
    return this.db.$client.prepare(`SELECT u.name AS user, m.role, m.created_at AS createdAt FROM repo_members m JOIN users u ON u.id = m.user_id
      WHERE m.repo_id = ? ORDER BY u.name`).all(repoId) as { user: string; role: MemberRole; createdAt: string }[];
  }

  /** The role a user has on a repo shared with them, or undefined. */
  memberRole(owner: string, repo: string, userId: number): MemberRole | undefined {
    const q = (this.memberSql ??= this.db.$client.prepare(`SELECT m.role FROM repo_members m JOIN repos r ON r.id = m.repo_id
      WHERE r.owner = ? AND r.name = ? AND m.user_id = ?`));
    return (q.get(owner, repo, userId) as { role: MemberRole } | undefined)?.role;
  }

  /** `owner/name` of every repo shared with a user. */
  sharedWith(userId: number): string[] {
    const q = (this.sharedSql ??= this.db.$client.prepare(`SELECT r.owner || '/' || r.name AS repo FROM repo_members m JOIN repos r ON r.id = m.repo_id
      WHERE m.user_id = ? ORDER BY repo`));
    return (q.all(userId) as { repo: string }[]).map((r) => r.repo);
  }

  private memberSql: import('better-sqlite3').Statement | undefined;
  private sharedSql: import('better-sqlite3').Statement | undefined;

  private authSql: { find: import('better-sqlite3').Statement; touch: import('better-sqlite3').Statement } | undefined;

  // ---- repos

  repo(owner: string, name: string): Repo | undefined {
    const q = (this.repoSql ??= {
      find: this.db.$client.prepare(`SELECT id, owner, name, default_branch AS defaultBranch, created_at AS createdAt, public_badge AS publicBadge,
        retention_keep AS retentionKeep, retention_days AS retentionDays, heads_tracked AS headsTracked FROM repos WHERE owner = ? AND name = ?`),
      add: this.db.$client.prepare('INSERT INTO repos (owner, name) VALUES (?, ?) ON CONFLICT DO NOTHING'),
    });
    const row = q.find.get(owner, name) as Repo | undefined;
    if (row) {
      row.publicBadge = Boolean(row.publicBadge);
      row.headsTracked = Boolean(row.headsTracked);
    }
    return row;
  }

  /** Repos the caller can read, by owner then name. */
  readableRepos(readable: Readable): Repo[] {
    const mine = readable.all ? undefined
      : or(eq(repos.owner, readable.owner), ...readable.shared.map((r) => and(eq(repos.owner, r.split('/')[0]!), eq(repos.name, r.split('/')[1]!))));
    return this.db.select().from(repos).where(mine).orderBy(asc(repos.owner), asc(repos.name)).all();
  }

  /** Makes a repo's badges readable without a token, or not. */
  setPublicBadge(repoId: number, on: boolean): void {
    this.db.update(repos).set({ publicBadge: on }).where(eq(repos.id, repoId)).run();
  }

  /** The newest build of each (branch or tag, image) of `repo`, newest first. */
  latestPerLine(repo: string): Build[] {
    return ((this.latestSql ??= this.db.$client.prepare(`SELECT b.* FROM builds b JOIN (SELECT max(id) AS id FROM builds WHERE repo = ? GROUP BY ref_name, image) m
      ON b.id = m.id ORDER BY b.id DESC`)).all(repo) as BuildRow[]).map(toBuild);
  }

  private latestSql: import('better-sqlite3').Statement | undefined;

  /**
   * The builds a branch's badge stands for: those of the newest commit built on the branch, skipped ones left
   * out (a push that built nothing says nothing about the branch). Empty when the branch has no build.
   */
  badgeBuilds(repo: string, branch: string): Build[] {
    const q = (this.badgeSql ??= {
      newest: this.db.$client.prepare(`SELECT commit_sha AS sha FROM builds WHERE repo = ? AND ref_name = ? AND ref_type = 'branch' AND status != 'skipped'
        ORDER BY id DESC LIMIT 1`),
      // By the commit index: the unary + keeps SQLite off the (repo, ref_name) index, which would walk every
      // build of the branch to find the few of one commit.
      ofCommit: this.db.$client.prepare(`SELECT * FROM builds WHERE commit_sha = ? AND +repo = ? AND +ref_name = ? AND ref_type = 'branch' AND status != 'skipped'
        ORDER BY id DESC`),
    });
    const newest = q.newest.get(repo, branch) as { sha: string } | undefined;
    if (!newest) return [];
    const seen = new Set<string>();
    // The newest build of each image of that commit (a rebuild replaces the build it repeats).
    return (q.ofCommit.all(newest.sha, repo, branch) as BuildRow[]).filter((r) => !seen.has(String(r.image)) && seen.add(String(r.image))).map(toBuild);
  }

  private badgeSql: { newest: import('better-sqlite3').Statement; ofCommit: import('better-sqlite3').Statement } | undefined;

  /** How many repos an owner name has (also after its user was removed). */
  reposOf(owner: string): number {
    return (this.db.$client.prepare('SELECT count(*) AS n FROM repos WHERE owner = ?').get(owner) as { n: number }).n;
  }

  /** Returns the repo, creating its row on first use. Every push asks, so both statements are prepared once. */
  /** Runs `fn` in one transaction (a savepoint inside another): every write in it lands, or none does. */
  atomically<T>(fn: () => T): T {
    return this.db.$client.transaction(fn)();
  }

  ensureRepo(owner: string, name: string): Repo {
    const found = this.repo(owner, name);
    if (found) return found;
    this.repoSql!.add.run(owner, name);
    return this.repo(owner, name)!;
  }

  private repoSql: { find: import('better-sqlite3').Statement; add: import('better-sqlite3').Statement } | undefined;

  /**
   * Sets the default branch unless one is set already (concurrent first pushes race here); returns the
   * branch that is the default afterwards.
   */
  setDefaultBranch(repoId: number, branch: string): string {
    this.db.update(repos).set({ defaultBranch: branch }).where(and(eq(repos.id, repoId), sql`${repos.defaultBranch} IS NULL`)).run();
    return this.db.select({ b: repos.defaultBranch }).from(repos).where(eq(repos.id, repoId)).get()!.b!;
  }

  // ---- secrets (values arrive and leave encrypted; see secrets/vault.ts)

  /** Creates or replaces a repo's secret. */
  putSecret(repoId: number, name: string, sealed: string): void {
    this.db.$client.prepare(`INSERT INTO secrets (repo_id, name, value) VALUES (?, ?, ?)
      ON CONFLICT (repo_id, name) DO UPDATE SET value = excluded.value, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')`).run(repoId, name, sealed);
  }

  /** The sealed value of a repo's secret, or undefined. */
  sealedSecret(repoId: number, name: string): string | undefined {
    return (this.db.$client.prepare('SELECT value FROM secrets WHERE repo_id = ? AND name = ?').get(repoId, name) as { value: string } | undefined)?.value;
  }

  /** A repo's secrets by name, without their values. */
  listSecrets(repoId: number): { name: string; createdAt: string; updatedAt: string }[] {
    return this.db.$client.prepare('SELECT name, created_at AS createdAt, updated_at AS updatedAt FROM secrets WHERE repo_id = ? ORDER BY name')
      .all(repoId) as { name: string; createdAt: string; updatedAt: string }[];
  }

  /** Removes a repo's secret; false if it had none of that name. */
  deleteSecret(repoId: number, name: string): boolean {
    return this.db.$client.prepare('DELETE FROM secrets WHERE repo_id = ? AND name = ?').run(repoId, name).changes > 0;
  }

  // ---- builds

  /** Whether a git repo (owner/name) ever built an image of that name (for registry pull grants). */
  builtImage(repo: string, image: string): boolean {
    const q = (this.builtSql ??= this.db.$client.prepare('SELECT 1 FROM builds WHERE repo = ? AND image = ? LIMIT 1'));
    return q.get(repo, image) !== undefined;
  }

  private builtSql: import('better-sqlite3').Statement | undefined;

  /**
   * The builder, its identity then (null: not known) and the end of the newest succeeded build of a repo's image
   * before build `beforeId`, or null: where that image's BuildKit cache is warm (the registry cache need not be
   * imported there), unless another BuildKit answers at that builder's address now.
   */
  lastBuilder(repo: string, image: string, beforeId: number): { builder: string; identity: string | null; finishedAt: string } | null {
    const q = (this.lastBuilderSql ??= this.db.$client.prepare("SELECT builder, builder_identity AS identity, finished_at AS finishedAt FROM builds WHERE repo = ? AND id < ? AND image = ? AND status = 'succeeded' AND builder IS NOT NULL ORDER BY id DESC LIMIT 1"));
    return (q.get(repo, beforeId, image) as { builder: string; identity: string | null; finishedAt: string } | undefined) ?? null;
  }

  private lastBuilderSql: import('better-sqlite3').Statement | undefined;

  /** Records who answered at the build's builder for this attempt (null: not known), for lastBuilder. */
  setBuilderIdentity(id: number, identity: string | null): void {
    this.db.update(builds).set({ builderIdentity: identity }).where(eq(builds.id, id)).run();
  }

  /** Succeeded builds that pushed the manifest `digest`, newest first (the reconcile attributes tags with this). */
  buildsWithDigest(digest: string): Build[] {
    const q = (this.digestSql ??= this.db.$client.prepare("SELECT * FROM builds WHERE digest = ? AND status = 'succeeded' ORDER BY id DESC LIMIT 20"));
    return (q.all(digest) as BuildRow[]).map(toBuild);
  }

  private digestSql: import('better-sqlite3').Statement | undefined;

  /** The image names a git repo (owner/name) has built: the registry repositories `<owner>/<image>` it pushes to. */
  imagesOf(repo: string): string[] {
    return (this.db.$client.prepare('SELECT DISTINCT image FROM builds WHERE repo = ? ORDER BY image').all(repo) as { image: string }[]).map((r) => r.image);
  }

  /** Every name that owns a registry namespace here: users, and owners of repos (a removed user's stay). */
  namespaces(): Set<string> {
    return new Set((this.db.$client.prepare('SELECT name FROM users UNION SELECT owner FROM repos').all() as { name: string }[]).map((r) => r.name));
  }

  /** Sets (or, with null, resets to the server's default) a repo's retention override. */
  setRetention(repoId: number, keep: number | null, days: number | null): void {
    this.db.update(repos).set({ retentionKeep: keep, retentionDays: days }).where(eq(repos.id, repoId)).run();
  }

  /** Sets a user's quota in bytes (NO_QUOTA for none, null for the server's default); false if there is no such user. */
  setQuota(name: string, bytes: number | null): boolean {
    return this.db.update(users).set({ quotaBytes: bytes }).where(eq(users.name, name)).run().changes > 0;
  }

  /**
   * Builds whose log may expire: finished before `cutoff`, log still kept, and not the newest build of their
   * branch and image (that one keeps its log whatever its age; of uploads, which have no branch: the newest of
   * the image), oldest first, at most `limit`.
   */
  expirableLogs(cutoff: string, limit: number, opts: { repo?: string | undefined; after?: { finishedAt: string; id: number } | undefined } = {}): { id: number; finishedAt: string }[] {
    const after = opts.after ?? { finishedAt: '', id: 0 };
    return this.db.$client.prepare(`SELECT b.id, b.finished_at AS finishedAt FROM builds b INDEXED BY builds_log_kept
      WHERE b.log_expired_at IS NULL AND b.finished_at < ? AND (b.finished_at, b.id) > (?, ?) ${opts.repo ? 'AND b.repo = ?' : ''}
        AND b.id < (SELECT max(n.id) FROM builds n WHERE n.repo = b.repo AND n.ref_name IS b.ref_name AND n.image = b.image)
      ORDER BY b.finished_at, b.id LIMIT ?`).all(cutoff, after.finishedAt, after.id, ...(opts.repo ? [opts.repo] : []), limit) as { id: number; finishedAt: string }[];
  }

  /** Records that these builds' logs were removed at `at`. */
  markLogsExpired(ids: number[], at: string): void {
    const q = this.db.$client.prepare('UPDATE builds SET log_expired_at = ? WHERE id = ?');
    this.db.$client.transaction(() => { for (const id of ids) q.run(at, id); })();
  }

  /** How many builds an owner has queued (the push-time limit's count). */
  queuedOf(owner: string): number {
    const q = (this.queuedSql ??= this.db.$client.prepare("SELECT count(*) AS n FROM builds WHERE status = 'queued' AND owner = ?"));
    return (q.get(owner) as { n: number }).n;
  }

  private queuedSql: import('better-sqlite3').Statement | undefined;

  /**
   * Inserts the builds of one push in one transaction: either all are recorded or none. `imageRefs` computes
   * each build's image references once its id is known (a tag may contain the build number).
   */
  insertBuilds<B extends Build = Build>(rows: NewBuild[], imageRefs: (b: B, index: number) => string[]): B[] {
    if (rows.length === 0) return [];
    const setRefs = (this.setRefsSql ??= this.db.$client.prepare('UPDATE builds SET image_refs = ? WHERE id = ?'));
    // A push's hot path: one prepared INSERT per set of columns given, no query building per row.
    return this.db.$client.transaction(() => rows.map((r, i) => {
      const fields = Object.keys(r).filter((k) => r[k as keyof NewBuild] !== undefined) as (keyof NewBuild)[];
      const key = fields.join(',');
      let insert = this.insertSql.get(key);
      if (!insert) {
        const columns = getTableColumns(builds);
        insert = this.db.$client.prepare(`INSERT INTO builds (${fields.map((f) => columns[f].name).join(', ')}) VALUES (${fields.map(() => '?').join(', ')})`);
        this.insertSql.set(key, insert);
      }
      // Secret-looking build args are never stored: every build's row goes through here.
      const values = fields.map((f) => (JSON_COLUMNS.has(f) && r[f] !== null ? JSON.stringify(f === 'config' ? storableConfig(r.config!) : r[f]) : r[f]));
      // The rows say what kind of build they are (a push's have ref and commit): B is the caller's to name.
      const b = this.build(Number(insert.run(...values).lastInsertRowid)) as B;
      const refs = imageRefs(b, i);
      if (refs.length === 0) return b;
      setRefs.run(JSON.stringify(refs), b.id);
      return { ...b, imageRefs: refs };
    }))();
  }

  private insertSql = new Map<string, import('better-sqlite3').Statement>();
  private setRefsSql: import('better-sqlite3').Statement | undefined;

  /** One build by id; a statement prepared once, as every log and build request starts here. */
  build(id: number): Build | undefined {
    const row = (this.buildById ??= this.db.$client.prepare('SELECT * FROM builds WHERE id = ?')).get(id) as BuildRow | undefined;
    return row && toBuild(row);
  }

  private buildById: import('better-sqlite3').Statement | null = null;

  /**
   * Builds matching a query, newest first. The SQL is written out and its statement prepared once per
   * combination of filters: lookups by commit are the API's hot path.
   */
  listBuilds(q: BuildQuery): Build[] {
    const where: string[] = [];
    const params: unknown[] = [];
    const key: string[] = [];
    const add = (name: string, sqlText: string, ...values: unknown[]) => { key.push(name); where.push(sqlText); params.push(...values); };
    // 'owner/…' sorts from 'owner/' up to 'owner0' ('0' follows '/'), so the repo index serves this; repos
    // shared with the caller are named one by one (a statement per count of them).
    if (q.readable && !q.readable.all) {
      const r = q.readable;
      const shared = r.shared.length ? ` OR repo IN (${r.shared.map(() => '?').join(', ')})` : '';
      add(`owner+${r.shared.length}`, `(repo >= ? AND repo < ?${shared})`, r.owner + '/', r.owner + '0', ...r.shared);
    }
    if (q.repo) add('repo', 'repo = ?', q.repo);
    // Every sha starting with p sorts at or after p and before p + 'g' ('g' follows every hex digit).
    if (q.commit) q.commit.length === 40 ? add('sha', 'commit_sha = ?', q.commit) : add('prefix', 'commit_sha >= ? AND commit_sha < ?', q.commit, q.commit + 'g');
    if (q.ref) add('ref', '(ref = ? OR ref_name = ?)', q.ref, q.ref);
    if (q.status) add('status', 'status = ?', q.status);
    if (q.source) add('source', 'source = ?', q.source);
    if (q.beforeId !== undefined) add('before', 'id < ?', q.beforeId);
    const k = key.join(',');
    let stmt = this.listSql.get(k);
    if (!stmt) {
      stmt = this.db.$client.prepare(`SELECT * FROM builds ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY id DESC LIMIT ?`);
      this.listSql.set(k, stmt);
    }
    return (stmt.all(...params, q.limit) as BuildRow[]).map(toBuild);
  }

  private listSql = new Map<string, import('better-sqlite3').Statement>();

  /** Distinct commits of a repo whose sha starts with `prefix`, at most `limit`. */
  commitsByPrefix(repo: string, prefix: string, limit: number): string[] {
    return this.db.selectDistinct({ sha: builds.commitSha }).from(builds)
      .where(and(eq(builds.repo, repo), ...commitPrefix(prefix))).orderBy(asc(builds.commitSha)).limit(limit).all()
      .map((r) => r.sha!); // a prefix matches no upload's null commit
  }

  /**
   * Claims the next build to run and marks it running on the builder `pickBuilder` names for it; returns
   * undefined when nothing can run now. One transaction, so two claimers never get the same build.
   *
   * Which build: queued and past its back-off; not on a line (repo, branch, image) that has a build running,
   * so an older build of a branch never finishes after a newer one; not the same commit and image as a
   * running build (BuildKit shares the identical context upload between the two solves and the second fails
   * with "no local sources enabled"; run after the first, it is all cache hits); from the owner with the fewest builds
   * running (one owner's burst does not starve the others); oldest first. `pickBuilder` may return null
   * (no builder free for that repo), and then nothing is claimed.
   */
  claimNext(pickBuilder: (b: Build) => string | null, now = new Date()): Build | undefined {
    const q = (this.claimSql ??= prepareClaim(this.db));
    // Immediate: gc (maybe another process) takes a repository's lock only while none of its builds runs; an
    // immediate transaction makes that check and this claim strictly one after the other.
    return this.db.transaction(() => {
      // Owners with work waiting, the least busy first, then the one waiting longest: each owner's oldest
      // eligible build is one walk of the builds_queue index, so a deep queue costs per owner, not per build.
      const load = new Map((q.load.all() as { owner: string; n: number }[]).map((r) => [r.owner, r.n]));
      const heads = (q.heads.all() as { owner: string; first: number }[])
        .sort((a, b) => (load.get(a.owner) ?? 0) - (load.get(b.owner) ?? 0) || a.first - b.first);
      const nowIso = now.toISOString();
      for (const { owner } of heads) {
        const row = q.candidate.get({ owner, now: nowIso }) as BuildRow | undefined;
        if (!row) continue;
        const builder = pickBuilder(toBuild(row));
        if (!builder) return undefined;
        return toBuild(q.claim.get(nowIso, builder, row.id) as BuildRow);
      }
      return undefined;
    }, { behavior: 'immediate' });
  }

  private claimSql: ReturnType<typeof prepareClaim> | undefined;

  /**
   * Cancels a queued or running build with `reason`. Returns the build as it was before, or undefined if it
   * does not exist; a build already ended is left as it is (check `status` of the result).
   */
  cancel(id: number, reason: string): Build | undefined {
    return this.db.transaction((tx) => {
      const before = tx.select().from(builds).where(eq(builds.id, id)).get();
      if (before && (before.status === 'queued' || before.status === 'running')) {
        tx.update(builds).set({ status: 'canceled', reason, reasonCode: 'canceled', finishedAt: sql`(strftime('%Y-%m-%dT%H:%M:%fZ','now'))` })
          .where(eq(builds.id, id)).run();
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
      const older = tx.select().from(builds).where(and(
        eq(builds.repo, newer.repo), eq(builds.refName, newer.refName), eq(builds.image, newer.image),
        sql`${builds.status} IN ('queued', 'running')`, lt(builds.id, newer.id),
      )).orderBy(asc(builds.id)).all();
      for (const b of older) {
        tx.update(builds).set({ status: 'canceled', reason: `superseded by #${newer.id}`, reasonCode: 'superseded', finishedAt: sql`(strftime('%Y-%m-%dT%H:%M:%fZ','now'))` })
          .where(eq(builds.id, b.id)).run();
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
    return this.db.update(builds).set({
      status: 'queued', notBefore: notBefore.toISOString(), reason, startedAt: null, builder: null,
      ...(opts.refund ? { attempts: sql`max(${builds.attempts} - 1, 0)` } : {}),
    }).where(and(eq(builds.id, id), eq(builds.status, 'running'))).run().changes === 1;
  }

  /** Records the BuildKit steps of a build's latest attempt. */
  setSteps(id: number, steps: BuildStep[]): void {
    this.db.update(builds).set({ steps }).where(eq(builds.id, id)).run();
  }

  /** Ends a running build. Returns false if it was not running (e.g. canceled meanwhile), leaving it as it is. */
  finishBuild(id: number, r: BuildResult): boolean {
    const res = this.db.update(builds).set({
      status: r.status,
      digest: r.digest ?? null,
      reason: r.reason ?? null,
      reasonCode: r.reasonCode ?? null,
      finishedAt: sql`(strftime('%Y-%m-%dT%H:%M:%fZ','now'))`,
    }).where(and(eq(builds.id, id), eq(builds.status, 'running'))).run();
    return res.changes === 1;
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
          tx.update(builds).set({
            status: 'failed', reasonCode: 'interrupted', finishedAt: sql`(strftime('%Y-%m-%dT%H:%M:%fZ','now'))`,
            reason: `the server stopped during the build ${b.attempts} times; giving up`,
          }).where(eq(builds.id, b.id)).run();
          failed.push(b);
        }
      }
      return { requeued, failed };
    });
  }

  countByStatus(): Record<string, number> {
    const rows = this.db.select({ status: builds.status, n: sql<number>`count(*)` }).from(builds).groupBy(builds.status).all();
    return Object.fromEntries(rows.map((r) => [r.status, r.n]));
  }

  /** The earliest back-off end among queued builds, or null. */
  nextNotBefore(): string | null {
    return this.db.select({ t: sql<string | null>`min(${builds.notBefore})` }).from(builds).where(eq(builds.status, 'queued')).get()?.t ?? null;
  }

  ping(): void {
    this.db.$client.prepare('SELECT 1').get();
  }
}

/** SQL true for a token row with the admin scope (scopes are stored as `read,push,admin`). */
const ADMIN_TOKEN = "instr(',' || scopes || ',', ',admin,') > 0";

/** The claim's queries, prepared once: claiming is the queue's hot path. */
function prepareClaim(db: Db) {
  const c = db.$client;
  return {
    load: c.prepare("SELECT owner, count(*) AS n FROM builds WHERE status = 'running' GROUP BY owner"),
    heads: c.prepare("SELECT owner, min(id) AS first FROM builds WHERE status = 'queued' GROUP BY owner"),
    candidate: c.prepare(`SELECT q.* FROM builds q WHERE q.status = 'queued' AND q.owner = @owner
      AND (q.not_before IS NULL OR q.not_before <= @now)
      AND NOT EXISTS (SELECT 1 FROM builds r WHERE r.status = 'running' AND r.repo = q.repo AND r.image = q.image
        AND (r.ref_name = q.ref_name OR r.commit_sha = q.commit_sha))
      AND NOT EXISTS (SELECT 1 FROM registry_locks l WHERE l.repository = q.owner || '/' || q.image AND l.expires_at > @now)
      ORDER BY q.id LIMIT 1`),
    claim: c.prepare(`UPDATE builds SET status = 'running', started_at = ?, attempts = attempts + 1, builder = ?, not_before = NULL
      WHERE id = ? AND status = 'queued' RETURNING *`),
  };
}

/** A builds row as SQLite returns it (snake_case, JSON as text). */
type BuildRow = Record<string, unknown> & { id: number };

/** Maps a raw row to the Build drizzle would return, for the hot paths that skip its query builder. */
/** Build fields stored as JSON text. */
const JSON_COLUMNS = new Set<keyof NewBuild>(['config', 'imageRefs', 'steps']);

function toBuild(r: BuildRow): Build {
  return {
    id: r.id, source: r.source as Build['source'], repoId: r.repo_id as number | null, repo: r.repo as string, owner: r.owner as string, ref: r.ref as string | null,
    refType: r.ref_type as Build['refType'], refName: r.ref_name as string | null, commitSha: r.commit_sha as string | null,
    uploadId: r.upload_id as string | null, uploadFolder: r.upload_folder as string | null, contextBytes: r.context_bytes as number | null, image: r.image as string,
    config: r.config === null ? null : JSON.parse(r.config as string), imageRefs: JSON.parse(r.image_refs as string),
    digest: r.digest as string | null, status: r.status as BuildStatus, reason: r.reason as string | null, reasonCode: r.reason_code as string | null,
    pusher: r.pusher as string, queuedAt: r.queued_at as string, startedAt: r.started_at as string | null, finishedAt: r.finished_at as string | null,
    attempts: r.attempts as number, notBefore: r.not_before as string | null, builder: r.builder as string | null,
    builderIdentity: r.builder_identity as string | null,
    steps: r.steps === null ? null : JSON.parse(r.steps as string), logExpiredAt: r.log_expired_at as string | null,
  };
}

/**
 * A prefix match that uses the commit index: every sha starting with `p` sorts at or after `p` and before
 * `p + 'g'` ('g' sorts after every hex digit). LIKE would scan the table.
 */
function commitPrefix(p: string): SQL[] {
  return p.length === 40 ? [eq(builds.commitSha, p)] : [gte(builds.commitSha, p), lt(builds.commitSha, p + 'g')];
}
