import { and, desc, eq, inArray, isNull, lt } from 'drizzle-orm';
import type { ManifestEntry, UploadManifest } from '../uploads/manifest.js';
import type { Db } from './db.js';
import { builds, uploads, type Upload } from './schema.js';

/** An upload with its entries parsed. */
export interface StoredUpload extends Omit<Upload, 'entries'> {
  entries: ManifestEntry[];
}

/**
 * The manifests of uploaded folders (table uploads): written when a workspace sends one, read when its build
 * runs (a queued build survives a restart), removed once that build ended or, never built, after a day.
 */
export class UploadStore {
  constructor(private db: Db) {}

  create(id: string, owner: string, folder: string, manifest: UploadManifest): StoredUpload {
    const row = this.db
      .insert(uploads)
      .values({
        id,
        owner,
        folder,
        entries: JSON.stringify(manifest.entries),
        files: manifest.entries.filter((e) => e.sha256 !== undefined).length,
        bytes: manifest.totalBytes,
      })
      .returning()
      .get();
    return { ...row, entries: manifest.entries };
  }

  /** The upload, or undefined (never sent, expired, or its build ended). */
  get(id: string): StoredUpload | undefined {
    const row = this.db.select().from(uploads).where(eq(uploads.id, id)).get();
    return row && { ...row, entries: JSON.parse(row.entries) as ManifestEntry[] };
  }

  /** Who sent the upload, without reading its entries (each file's request asks). */
  ownerOf(id: string): { owner: string; buildId: number | null } | undefined {
    return this.db.select({ owner: uploads.owner, buildId: uploads.buildId }).from(uploads).where(eq(uploads.id, id)).get();
  }

  /**
   * Leaves the owner at most `keep` uploads waiting for their build request, removing the oldest others;
   * returns how many went.
   */
  dropPending(owner: string, keep: number): number {
    const pending = this.db
      .select({ id: uploads.id })
      .from(uploads)
      .where(and(eq(uploads.owner, owner), isNull(uploads.buildId)))
      .orderBy(desc(uploads.createdAt), desc(uploads.id))
      .all();
    const gone = pending.slice(Math.max(0, keep)).map((r) => r.id);
    return gone.length ? this.db.delete(uploads).where(inArray(uploads.id, gone)).run().changes : 0;
  }

  /** Records the build made from the upload; false if it has one already (a second build request). */
  attach(id: string, buildId: number): boolean {
    return (
      this.db
        .update(uploads)
        .set({ buildId })
        .where(and(eq(uploads.id, id), isNull(uploads.buildId)))
        .run().changes === 1
    );
  }

  remove(id: string): void {
    this.db.delete(uploads).where(eq(uploads.id, id)).run();
  }

  /**
   * Removes the uploads that no build needs any more: never built and created before `before`, or whose build
   * ended (a crash between a build's end and its upload's removal leaves such rows). Returns how many went.
   */
  sweep(before: string): number {
    const ended = this.db
      .select({ id: uploads.id })
      .from(uploads)
      .innerJoin(builds, eq(builds.id, uploads.buildId))
      .where(inArray(builds.status, ['succeeded', 'failed', 'canceled', 'skipped']))
      .all()
      .map((r) => r.id);
    let n = ended.length ? this.db.delete(uploads).where(inArray(uploads.id, ended)).run().changes : 0;
    n += this.db
      .delete(uploads)
      .where(and(isNull(uploads.buildId), lt(uploads.createdAt, before)))
      .run().changes;
    return n;
  }

  /** The blobs the owner's live uploads name: what trimming the owner's blob store must keep. */
  blobsInUse(owner: string): Set<string> {
    const out = new Set<string>();
    for (const r of this.db.select({ entries: uploads.entries }).from(uploads).where(eq(uploads.owner, owner)).all()) {
      for (const e of JSON.parse(r.entries) as ManifestEntry[]) if (e.sha256) out.add(e.sha256);
    }
    return out;
  }
}
