import { sql } from 'drizzle-orm';
import { index, integer, primaryKey, sqliteTable, text } from 'drizzle-orm/sqlite-core';
import { NOW } from './sql.js';

// The registry inventory's tables and gc's locks (src/store/inventory.ts reads and writes them), apart from
// schema.ts only to keep each file short: schema.ts exports them too, so drizzle-kit and every import see one schema.

/**
 * What codehub-build knows of the registry (its inventory): every tag of the namespaces it serves and the
 * manifest digest it points at. Written after each build from what it pushed, and made exact again by the
 * reconcile job, which reads the registry itself. The source of usage, quotas and retention.
 */
export const imageTags = sqliteTable(
  'image_tags',
  {
    /** The registry repository, `<owner>/<image>`. */
    repository: text('repository').notNull(),
    tag: text('tag').notNull(),
    digest: text('digest').notNull(),
    /** The namespace (first path component of the repository): whose usage the tag counts toward. */
    owner: text('owner').notNull(),
    /** The build that pushed the tag; null for a tag pushed otherwise (docker push), which retention keeps. */
    buildId: integer('build_id'),
    /** When the tag got this digest: the build's end, or when the reconcile first saw it. */
    pushedAt: text('pushed_at').notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.repository, t.tag] }),
    index('image_tags_owner').on(t.owner),
    index('image_tags_digest').on(t.repository, t.digest),
    index('image_tags_build').on(t.buildId),
  ],
);

/** Manifests of the inventory, tagged or not (a tag that moved leaves its old manifest untagged until gc). */
export const imageManifests = sqliteTable(
  'image_manifests',
  {
    repository: text('repository').notNull(),
    digest: text('digest').notNull(),
    mediaType: text('media_type').notNull(),
    /** Digests of the manifests an index lists (JSON array); empty for an image manifest. */
    children: text('children', { mode: 'json' }).notNull().$type<string[]>().default(sql`'[]'`),
    /** A throwaway manifest gc points a tag at to delete that one tag (Registry 2.8 deletes by digest only). */
    tombstone: integer('tombstone', { mode: 'boolean' }).notNull().default(false),
    seenAt: text('seen_at').notNull().default(NOW),
  },
  (t) => [primaryKey({ columns: [t.repository, t.digest] })],
);

/**
 * Every blob a manifest needs, with its size: the manifest itself, its config and layers; for an index, its
 * manifests and theirs. Usage is the sum over the distinct blobs of an owner's tagged manifests. The table is
 * WITHOUT ROWID (added by hand to its migration: drizzle-kit cannot say it), so the usage sum a push waits
 * for reads sizes straight from the key's b-tree: 1.1 ms rather than 1.7 for an owner of 1,000 tags.
 */
export const manifestBlobs = sqliteTable(
  'manifest_blobs',
  {
    repository: text('repository').notNull(),
    manifest: text('manifest').notNull(),
    blob: text('blob').notNull(),
    size: integer('size').notNull(),
  },
  (t) => [primaryKey({ columns: [t.repository, t.manifest, t.blob] })],
);

/**
 * A registry repository gc is deleting from: no build of it is claimed until the lock is released or expires,
 * and gc takes it only while none runs, so a deletion never meets a push (in this process or another).
 */
export const registryLocks = sqliteTable('registry_locks', {
  repository: text('repository').primaryKey(),
  holder: text('holder').notNull(),
  expiresAt: text('expires_at').notNull(),
});
