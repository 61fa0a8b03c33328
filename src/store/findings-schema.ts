import { index, primaryKey, sqliteTable, text } from 'drizzle-orm/sqlite-core';
import { NOW } from './sql.js';

// The scan's results per image (src/store/findings.ts reads and writes them), apart from schema.ts only to keep
// each file short: schema.ts exports them too, so drizzle-kit and every import see one schema.

/**
 * Every image a build pushed and the scan inventoried, by the digest the build reports (an index's when BuildKit
 * pushed one) and platform: which image manifest's inventory stands for it (table image_inventories), so matching
 * it again after an import reads its layers' rows and nothing from the registry. A single-platform image has one
 * row; an index one per platform image it lists (its attestation manifests are no platform's).
 */
export const imageScans = sqliteTable(
  'image_scans',
  {
    digest: text('digest').notNull(),
    /** `os/arch[/variant]`: the index entry's platform, or a single image's config's (linux/amd64 when it names none). */
    platform: text('platform').notNull(),
    /** The image manifest whose layers were read (image_inventories.digest). */
    manifest: text('manifest').notNull(),
    /** When its findings were last matched (the build's scan, or a re-match after an import). */
    matchedAt: text('matched_at').notNull().default(NOW),
  },
  (t) => [primaryKey({ columns: [t.digest, t.platform] })],
);

/**
 * An image's findings as last matched: one row per platform and (advisory, package, version), the finding as JSON
 * (src/scan/image-match.ts's shape, read back by src/scan), and when it was first seen on this image: a finding a
 * later import brings keeps the time of that import, one matched again keeps its first time.
 */
export const imageFindings = sqliteTable(
  'image_findings',
  {
    digest: text('digest').notNull(),
    /** The platform image it was found in (image_scans.platform): the same package in two platforms is two rows. */
    platform: text('platform').notNull(),
    /** `id|ecosystem|package|version` (image-match.ts's findingKey). */
    key: text('key').notNull(),
    finding: text('finding').notNull(),
    firstSeen: text('first_seen').notNull(),
  },
  (t) => [primaryKey({ columns: [t.digest, t.platform, t.key] }), index('image_findings_first_seen').on(t.firstSeen)],
);
