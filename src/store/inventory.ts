import { and, asc, eq, gte, inArray, lt, sql } from 'drizzle-orm';
import type { Db } from './db.js';
import { builds, imageManifests, imageTags, manifestBlobs, refDeletions, registryLocks } from './schema.js';

/** A tag of the inventory with what is known of the build that pushed it. */
export interface TagRow {
  repository: string;
  tag: string;
  digest: string;
  owner: string;
  buildId: number | null;
  pushedAt: string;
}

export interface ManifestRow {
  repository: string;
  digest: string;
  mediaType: string;
  children: string[];
  tombstone: boolean;
}

/** A blob a manifest needs, with its size in bytes. */
export interface BlobRef {
  digest: string;
  size: number;
}

/** Bytes of an owner's namespace: in all, and per image repository with its tag count. */
export interface UsageRow {
  repository: string;
  bytes: number;
  tags: number;
}

/** Result of trying to take a repository's gc lock. */
export type LockResult = { ok: true } | { ok: false; running: number[] } | { ok: false; heldBy: string; until: string };

/**
 * The registry inventory's reads and writes (tables image_tags, image_manifests, manifest_blobs), branch
 * deletion times and gc locks: the SQL of registry operations in one file, beside the Store of builds.
 */
export class InventoryStore {
  constructor(readonly db: Db) {}

  private prepared: ReturnType<InventoryStore['prepare']> | undefined;
  private get q() {
    return (this.prepared ??= this.prepare());
  }

  private prepare() {
    const d = this.db;
    const p = sql.placeholder;
    return {
      tagsOf: d
        .select()
        .from(imageTags)
        .where(eq(imageTags.repository, p('repository')))
        .orderBy(asc(imageTags.tag))
        .prepare(),
      manifestsOf: d
        .select()
        .from(imageManifests)
        .where(eq(imageManifests.repository, p('repository')))
        .prepare(),
      hasManifest: d
        .select({ digest: imageManifests.digest })
        .from(imageManifests)
        .where(and(eq(imageManifests.repository, p('repository')), eq(imageManifests.digest, p('digest'))))
        .prepare(),
      // Raw SQL: drizzle's builder has no DISTINCT over a join in a subquery that a sum reads. A blob counts once
      // per owner however many of its tags, manifests and images need it.
      ownerBytes: d.$client.prepare(`SELECT coalesce(sum(size), 0) AS bytes FROM (SELECT DISTINCT mb.blob, mb.size FROM image_tags t
        JOIN manifest_blobs mb ON mb.repository = t.repository AND mb.manifest = t.digest WHERE t.owner = ?)`),
      repositoryBytes: d.$client.prepare(`SELECT r.repository, coalesce((SELECT sum(size) FROM (SELECT DISTINCT mb.blob, mb.size FROM image_tags t
          JOIN manifest_blobs mb ON mb.repository = t.repository AND mb.manifest = t.digest WHERE t.repository = r.repository)), 0) AS bytes,
        r.tags FROM (SELECT repository, count(*) AS tags FROM image_tags WHERE owner = ? GROUP BY repository) r ORDER BY r.repository`),
    };
  }

  // ---- tags

  tagsOf(repository: string): TagRow[] {
    return this.q.tagsOf.all({ repository });
  }

  /** Every repository with a tag or a manifest in the inventory, optionally only those of `owner`. */
  repositories(owner?: string): string[] {
    const tagged = this.db
      .select({ repository: imageTags.repository })
      .from(imageTags)
      .where(owner ? eq(imageTags.owner, owner) : undefined);
    // 'owner/…' sorts from 'owner/' up to 'owner0' ('0' follows '/'): the key's index serves it.
    const manifests = this.db
      .select({ repository: imageManifests.repository })
      .from(imageManifests)
      .where(owner ? and(gte(imageManifests.repository, `${owner}/`), lt(imageManifests.repository, `${owner}0`)) : undefined);
    return tagged
      .union(manifests)
      .orderBy(asc(imageTags.repository))
      .all()
      .map((r) => r.repository);
  }

  /** Records that `tag` points at `digest` (pushed by build `buildId`, or null when another client pushed it). */
  setTag(row: TagRow): void {
    this.db
      .insert(imageTags)
      .values(row)
      .onConflictDoUpdate({
        target: [imageTags.repository, imageTags.tag],
        set: { digest: row.digest, buildId: row.buildId, pushedAt: row.pushedAt, owner: row.owner },
      })
      .run();
  }

  removeTags(repository: string, tags: string[]): void {
    if (tags.length === 0) return;
    this.db
      .delete(imageTags)
      .where(and(eq(imageTags.repository, repository), inArray(imageTags.tag, tags)))
      .run();
  }

  /** The tags of every repository that a build pushed: what retention must never take from a build still being recorded. */
  tagsOfBuild(buildId: number): TagRow[] {
    return this.db.select().from(imageTags).where(eq(imageTags.buildId, buildId)).all();
  }

  // ---- manifests and their blobs

  hasManifest(repository: string, digest: string): boolean {
    return this.q.hasManifest.get({ repository, digest }) !== undefined;
  }

  manifestsOf(repository: string): ManifestRow[] {
    return this.q.manifestsOf
      .all({ repository })
      .map((m) => ({ repository: m.repository, digest: m.digest, mediaType: m.mediaType, children: m.children, tombstone: m.tombstone }));
  }

  /** Records a manifest (immutable by digest, so a second record is a no-op) with every blob it needs. */
  addManifest(m: ManifestRow, blobs: BlobRef[]): void {
    this.db.transaction((tx) => {
      const added = tx
        .insert(imageManifests)
        .values({ repository: m.repository, digest: m.digest, mediaType: m.mediaType, children: m.children, tombstone: m.tombstone })
        .onConflictDoNothing()
        .run().changes;
      if (!added) return;
      const unique = new Map(blobs.map((b) => [b.digest, b.size]));
      for (const [blob, size] of unique)
        tx.insert(manifestBlobs).values({ repository: m.repository, manifest: m.digest, blob, size }).onConflictDoNothing().run();
    });
  }

  /** Forgets a manifest the registry deleted, with its blobs and any tag still recorded on it. */
  removeManifest(repository: string, digest: string): void {
    this.db.transaction((tx) => {
      tx.delete(imageTags)
        .where(and(eq(imageTags.repository, repository), eq(imageTags.digest, digest)))
        .run();
      tx.delete(manifestBlobs)
        .where(and(eq(manifestBlobs.repository, repository), eq(manifestBlobs.manifest, digest)))
        .run();
      tx.delete(imageManifests)
        .where(and(eq(imageManifests.repository, repository), eq(imageManifests.digest, digest)))
        .run();
    });
  }

  /** The blobs of every manifest of these repositories (for figures computed before and after a removal). */
  blobsOf(repositories: string[]): Map<string, Map<string, BlobRef[]>> {
    const out = new Map<string, Map<string, BlobRef[]>>();
    if (repositories.length === 0) return out;
    const rows = this.db.select().from(manifestBlobs).where(inArray(manifestBlobs.repository, repositories)).all();
    for (const r of rows) {
      let byManifest = out.get(r.repository);
      if (!byManifest) out.set(r.repository, (byManifest = new Map()));
      let list = byManifest.get(r.manifest);
      if (!list) byManifest.set(r.manifest, (list = []));
      list.push({ digest: r.blob, size: r.size });
    }
    return out;
  }

  // ---- usage

  /** Each manifest's own size in a repository: the sum of every blob it needs (shared blobs count in each). */
  manifestSizes(repository: string): Map<string, number> {
    const rows = this.db
      .select({ manifest: manifestBlobs.manifest, bytes: sql<number>`sum(${manifestBlobs.size})` })
      .from(manifestBlobs)
      .where(eq(manifestBlobs.repository, repository))
      .groupBy(manifestBlobs.manifest)
      .all();
    return new Map(rows.map((r) => [r.manifest, r.bytes]));
  }

  /** Bytes of `owner`'s namespace: the distinct blobs of its tagged manifests, each counted once. */
  ownerBytes(owner: string): number {
    return (this.q.ownerBytes.get(owner) as { bytes: number }).bytes;
  }

  /** Per image repository of `owner`: its bytes (distinct blobs of its tagged manifests) and its tag count. */
  repositoryUsage(owner: string): UsageRow[] {
    return this.q.repositoryBytes.all(owner) as UsageRow[];
  }

  // ---- branch and git tag deletions

  /** Records that a ref was deleted at `at`, unless a deletion is recorded already (the grace counts from the first). */
  recordRefDeletion(repoId: number, ref: string, at: string): void {
    this.db.insert(refDeletions).values({ repoId, ref, deletedAt: at }).onConflictDoNothing().run();
  }

  /** A ref pushed again is live: its deletion is forgotten. */
  clearRefDeletion(repoId: number, ref: string): void {
    this.db
      .delete(refDeletions)
      .where(and(eq(refDeletions.repoId, repoId), eq(refDeletions.ref, ref)))
      .run();
  }

  /** When each deleted ref of a repo was deleted (full ref -> ISO time). */
  refDeletions(repoId: number): Map<string, string> {
    return new Map(
      this.db
        .select()
        .from(refDeletions)
        .where(eq(refDeletions.repoId, repoId))
        .all()
        .map((r) => [r.ref, r.deletedAt]),
    );
  }

  // ---- gc locks

  /**
   * Takes the gc lock of a registry repository for `ttlMs`, unless a build of it is running (their ids come
   * back) or another gc holds it. One immediate transaction, so it and a build's claim never both succeed.
   */
  lock(repository: string, holder: string, ttlMs: number, now = new Date()): LockResult {
    const slash = repository.indexOf('/');
    const owner = repository.slice(0, slash);
    const image = repository.slice(slash + 1);
    return this.db.transaction(
      (tx) => {
        const held = tx.select().from(registryLocks).where(eq(registryLocks.repository, repository)).get();
        if (held && held.holder !== holder && held.expiresAt > now.toISOString()) return { ok: false as const, heldBy: held.holder, until: held.expiresAt };
        const running = tx
          .select({ id: builds.id })
          .from(builds)
          .where(and(eq(builds.status, 'running'), eq(builds.owner, owner), eq(builds.image, image)))
          .all();
        if (running.length) return { ok: false as const, running: running.map((r) => r.id) };
        const expiresAt = new Date(now.getTime() + ttlMs).toISOString();
        tx.insert(registryLocks)
          .values({ repository, holder, expiresAt })
          .onConflictDoUpdate({ target: registryLocks.repository, set: { holder, expiresAt } })
          .run();
        return { ok: true as const };
      },
      { behavior: 'immediate' },
    );
  }

  unlock(repository: string, holder: string): void {
    this.db
      .delete(registryLocks)
      .where(and(eq(registryLocks.repository, repository), eq(registryLocks.holder, holder)))
      .run();
  }
}
