import { and, desc, eq, gte, inArray, sql } from 'drizzle-orm';
import type { Db } from './db.js';
import { builds, imageFindings, imageInventories, imageManifests, imageScans, layerInventories } from './schema.js';
import { NOW, slot } from './sql.js';

/** One stored finding: its platform and key, its JSON text as written by src/scan, and when it was first seen on the image. */
export interface FindingRow {
  platform: string;
  key: string;
  finding: string;
  firstSeen: string;
}

/** What replacing an image's findings changed: keys new to the image, and keys no longer found. */
export interface FindingsChange {
  added: string[];
  removed: string[];
}

/**
 * The scan's results per image and platform (tables image_scans, image_findings). Findings are opaque JSON text
 * here: their shape is src/scan's (the store sits below it and cannot name it).
 */
export class FindingsStore {
  constructor(private db: Db) {}

  /**
   * The image manifests whose inventories stand for image `digest`, one per platform (by platform); empty when it
   * was never scanned.
   */
  scansOf(digest: string): { platform: string; manifest: string; matchedAt: string }[] {
    return this.db
      .select({ platform: imageScans.platform, manifest: imageScans.manifest, matchedAt: imageScans.matchedAt })
      .from(imageScans)
      .where(eq(imageScans.digest, digest))
      .orderBy(imageScans.platform)
      .all();
  }

  /**
   * The scanned images the registry still holds (the registry inventory has their manifest in some repository),
   * each platform of an index apart: what an import matches again. An image gc removed drops out here, its rows
   * stay until `forget`.
   */
  kept(): { digest: string; platform: string; manifest: string }[] {
    return this.db
      .selectDistinct({ digest: imageScans.digest, platform: imageScans.platform, manifest: imageScans.manifest })
      .from(imageScans)
      .innerJoin(imageManifests, and(eq(imageManifests.digest, imageScans.digest), eq(imageManifests.tombstone, false)))
      .orderBy(imageScans.digest, imageScans.platform)
      .all();
  }

  /**
   * The findings first seen at or after `since` on images built from the repos `repos` (owner/name; undefined: every
   * repo), with the newest build of each image: what an import brought, for the people who own those images.
   */
  newSince(
    since: string,
    repos?: readonly string[],
  ): { digest: string; buildId: number; repo: string; platform: string; key: string; finding: string; firstSeen: string }[] {
    const newest = this.db
      .select({ digest: builds.digest, buildId: sql<number>`max(${builds.id})`.as('build_id'), repo: builds.repo })
      .from(builds)
      .where(sql`${builds.digest} IS NOT NULL`)
      .groupBy(builds.digest, builds.repo)
      .as('newest');
    const rows = this.db
      .select({
        digest: imageFindings.digest,
        buildId: newest.buildId,
        repo: newest.repo,
        platform: imageFindings.platform,
        key: imageFindings.key,
        finding: imageFindings.finding,
        firstSeen: imageFindings.firstSeen,
      })
      .from(imageFindings)
      .innerJoin(newest, eq(newest.digest, imageFindings.digest))
      .where(and(gte(imageFindings.firstSeen, since), repos ? inArray(newest.repo, [...repos]) : undefined))
      .orderBy(desc(imageFindings.firstSeen), imageFindings.digest, imageFindings.platform, imageFindings.key)
      .all();
    return rows.map((r) => ({ ...r, digest: r.digest }));
  }

  /**
   * Forgets the scans of images the registry no longer holds (no manifest of that digest in the registry inventory),
   * then the image inventories no scan stands on and the layer inventories no image inventory lists; only rows last
   * written before `before`, so a scan in flight (its image not recorded yet) keeps what it just wrote. One
   * transaction. Returns how many images' scans and how many layers went.
   */
  forgetUnkept(before: string): { images: number; layers: number } {
    return this.db.transaction((tx) => {
      const gone = sql`${imageScans.matchedAt} < ${before} AND NOT EXISTS (SELECT 1 FROM ${imageManifests} WHERE ${imageManifests.digest} = ${imageScans.digest} AND ${imageManifests.tombstone} = 0)`;
      tx.run(sql`DELETE FROM ${imageFindings} WHERE ${imageFindings.digest} IN (SELECT ${imageScans.digest} FROM ${imageScans} WHERE ${gone})`);
      const images = tx.run(sql`DELETE FROM ${imageScans} WHERE ${gone}`).changes;
      tx.run(
        sql`DELETE FROM ${imageInventories} WHERE ${imageInventories.createdAt} < ${before} AND ${imageInventories.digest} NOT IN (SELECT ${imageScans.manifest} FROM ${imageScans})`,
      );
      const layers = tx.run(
        sql`DELETE FROM ${layerInventories} WHERE ${layerInventories.readAt} < ${before} AND ${layerInventories.digest} NOT IN (SELECT j.value FROM ${imageInventories}, json_each(${imageInventories.layers}) AS j)`,
      ).changes;
      return { images, layers };
    });
  }

  /** Image `digest`'s findings as last matched, every platform's, in platform then key order. */
  findings(digest: string): FindingRow[] {
    return this.db
      .select({ platform: imageFindings.platform, key: imageFindings.key, finding: imageFindings.finding, firstSeen: imageFindings.firstSeen })
      .from(imageFindings)
      .where(eq(imageFindings.digest, digest))
      .orderBy(imageFindings.platform, imageFindings.key)
      .all();
  }

  private prepared: ReturnType<FindingsStore['prepare']> | undefined;
  private get q() {
    return (this.prepared ??= this.prepare());
  }

  /** A re-match runs these for every kept image: prepared once. */
  private prepare() {
    const d = this.db;
    const p = sql.placeholder;
    return {
      upsertScan: d
        .insert(imageScans)
        .values({ digest: slot('digest'), platform: slot('platform'), manifest: slot('manifest') })
        .onConflictDoUpdate({ target: [imageScans.digest, imageScans.platform], set: { manifest: sql`excluded.manifest`, matchedAt: NOW } })
        .prepare(),
      rows: d
        .select({ key: imageFindings.key, finding: imageFindings.finding })
        .from(imageFindings)
        .where(and(eq(imageFindings.digest, p('digest')), eq(imageFindings.platform, p('platform'))))
        .prepare(),
      insert: d
        .insert(imageFindings)
        .values({ digest: slot('digest'), platform: slot('platform'), key: slot('key'), finding: slot('finding'), firstSeen: slot('firstSeen') })
        .prepare(),
      update: d
        .update(imageFindings)
        .set({ finding: slot('finding') })
        .where(and(eq(imageFindings.digest, p('digest')), eq(imageFindings.platform, p('platform')), eq(imageFindings.key, p('key'))))
        .prepare(),
      remove: d
        .delete(imageFindings)
        .where(and(eq(imageFindings.digest, p('digest')), eq(imageFindings.platform, p('platform')), eq(imageFindings.key, p('key'))))
        .prepare(),
    };
  }

  /**
   * Makes the findings of image `digest`'s platform `platform` exactly `findings` (by key), in one transaction (the
   * other platforms' rows are left as they are): a key it had keeps its first
   * time (its JSON is replaced when it changed: a record's fixed versions or severity may have), a new key is first
   * seen `now`, a key not in `findings` goes; a row that is the same is not written. Records the manifest its
   * inventory is under.
   */
  replace(digest: string, platform: string, manifest: string, findings: readonly { key: string; finding: string }[], now: string): FindingsChange {
    const q = this.q;
    return this.db.transaction(() => {
      q.upsertScan.run({ digest, platform, manifest });
      const before = new Map(q.rows.all({ digest, platform }).map((r) => [r.key, r.finding]));
      const added: string[] = [];
      const seen = new Set<string>();
      for (const f of findings) {
        seen.add(f.key);
        const had = before.get(f.key);
        if (had === undefined) {
          q.insert.run({ digest, platform, key: f.key, finding: f.finding, firstSeen: now });
          added.push(f.key);
        } else if (had !== f.finding) q.update.run({ digest, platform, key: f.key, finding: f.finding });
      }
      const removed = [...before.keys()].filter((k) => !seen.has(k));
      for (const key of removed) q.remove.run({ digest, platform, key });
      return { added, removed };
    });
  }
}
