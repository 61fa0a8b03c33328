import { eq, sql } from 'drizzle-orm';
import type { Db } from './db.js';
import { imageInventories, layerInventories } from './schema.js';
import { NOW, slot } from './sql.js';

const p = sql.placeholder;

/** One stored layer: its inventory's JSON text as written, that text's UTF-8 bytes, and when it was read. */
export interface LayerInventoryRow {
  digest: string;
  inventory: string;
  bytes: number;
  readAt: string;
}

/** An image's inventory result by manifest digest: what matching it again needs beside its layers' rows. */
export interface ImageInventoryRow {
  /** The image manifest's digest. */
  digest: string;
  /** Its layer digests, bottom first. */
  layers: string[];
  /** The distro its os-release names; null when none. */
  distro: { id: string; versionId: string; versionCodename?: string } | null;
  problems: string[];
}

/**
 * The scan's inventories (tables layer_inventories, image_inventories). The store keeps a layer's inventory as
 * opaque JSON text: its shape is src/scan's, which parses it (the store sits below the scan and cannot name it).
 */
export class LayerInventoryStore {
  constructor(private db: Db) {}

  private prepared: ReturnType<LayerInventoryStore['prepare']> | undefined;
  private get q() {
    return (this.prepared ??= this.prepare());
  }

  /** A scan runs these once per layer of every image: prepared once. */
  private prepare() {
    const d = this.db;
    return {
      layer: d
        .select()
        .from(layerInventories)
        .where(eq(layerInventories.digest, p('digest')))
        .prepare(),
      putLayer: d
        .insert(layerInventories)
        .values({ digest: slot('digest'), inventory: slot('inventory'), bytes: slot('bytes') })
        .onConflictDoUpdate({
          target: layerInventories.digest,
          set: { inventory: sql`excluded.inventory`, bytes: sql`excluded.bytes`, readAt: NOW },
        })
        .prepare(),
      image: d
        .select({ digest: imageInventories.digest, layers: imageInventories.layers, distro: imageInventories.distro, problems: imageInventories.problems })
        .from(imageInventories)
        .where(eq(imageInventories.digest, p('digest')))
        .prepare(),
      putImage: d
        .insert(imageInventories)
        .values({ digest: slot('digest'), layers: slot('layers'), distro: slot('distro'), problems: slot('problems') })
        .onConflictDoUpdate({
          target: imageInventories.digest,
          set: { layers: sql`excluded.layers`, distro: sql`excluded.distro`, problems: sql`excluded.problems`, createdAt: NOW },
        })
        .prepare(),
    };
  }

  /** The layer stored under `digest`, or undefined when it was never stored. */
  layer(digest: string): LayerInventoryRow | undefined {
    return this.q.layer.get({ digest });
  }

  /**
   * Stores layer `digest`'s inventory (JSON text); a second put of the same digest replaces the first and moves
   * its read time to now (one row per digest).
   */
  putLayer(digest: string, inventory: string): void {
    this.q.putLayer.run({ digest, inventory, bytes: Buffer.byteLength(inventory, 'utf8') });
  }

  /** The image inventory stored under manifest `digest`, or undefined when there is none. */
  image(digest: string): ImageInventoryRow | undefined {
    const row = this.q.image.get({ digest });
    return row && { ...row, distro: row.distro === null ? null : (JSON.parse(row.distro) as ImageInventoryRow['distro']) };
  }

  /** Stores an image's inventory result; a second put of the same digest replaces it. */
  putImage(row: ImageInventoryRow): void {
    // The JSON columns' mapping encodes the arrays when the statement runs (placeholders included).
    this.q.putImage.run({ ...row, distro: row.distro === null ? null : JSON.stringify(row.distro) });
  }
}
