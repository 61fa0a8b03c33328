import { integer, sqliteTable, text } from 'drizzle-orm/sqlite-core';
import { NOW } from './sql.js';

// The scan's inventory tables (src/store/layer-inventories.ts reads and writes them), apart from schema.ts only to
// keep each file short: schema.ts exports them too, so drizzle-kit and every import see one schema.

/**
 * Every layer read whole, by its blob digest: what its files list (src/scan/layer-inventory.ts's LayerInventory,
 * as JSON). A layer's bytes never change under its digest, so a row is never stale; it only goes when evicted.
 */
export const layerInventories = sqliteTable('layer_inventories', {
  /** The layer blob's digest (`sha256:…`), which its bytes were checked against when it was read. */
  digest: text('digest').primaryKey(),
  /** The LayerInventory as JSON text: read back as it was written. */
  inventory: text('inventory').notNull(),
  /** Bytes of `inventory` (UTF-8): what eviction weighs, summed without reading the text. */
  bytes: integer('bytes').notNull(),
  /** When the layer was read (or last read again): eviction's age. */
  readAt: text('read_at').notNull().default(NOW),
});

/**
 * An image's inventory by manifest digest: the layers it is made of, in order, and what was decided over all of
 * them (the distro, the problems), so matching it again reads its layers' rows here and nothing from the registry.
 */
export const imageInventories = sqliteTable('image_inventories', {
  /** The image manifest's digest (the one whose layers were read, never an index's). */
  digest: text('digest').primaryKey(),
  /** The manifest's layer digests, bottom first. */
  layers: text('layers', { mode: 'json' }).notNull().$type<string[]>(),
  /**
   * The distro the image's os-release names (src/scan/packages' Distro) as JSON text; SQL NULL when it names none.
   * Plain text, encoded by layer-inventories.ts: drizzle's JSON mode would write a null placeholder as `'null'`.
   */
  distro: text('distro'),
  /** The image's problems, sentences as the inventory wrote them. */
  problems: text('problems', { mode: 'json' }).notNull().$type<string[]>(),
  createdAt: text('created_at').notNull().default(NOW),
});
