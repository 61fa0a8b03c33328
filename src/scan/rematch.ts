/**
 * After an import, every image the registry still keeps is matched again from its stored inventory (its layers'
 * rows: no registry read), so a record that arrived today shows on an image built last month, first seen today.
 * The records of one (ecosystem, name) are read once for all images: a base layer's packages are in most of them.
 * An index is matched platform by platform, each from its own platform image's inventory.
 */
import type { Store } from '../store/store.js';
import { findingKey, matchImage } from './image-match.js';
import type { Matched, PackageRef } from './match.js';
import { storedInventory } from './inventory.js';
import { SqliteLayerCache } from './layer-cache.js';
import type { LayerInventory } from './layer-inventory.js';
import type { OsvRecord } from './osv.js';
import { recordsFor } from './vulndb.js';

export interface RematchResult {
  /** Platform images matched again (an index's platforms each count). */
  images: number;
  /** Findings new to an image (first seen now), and findings no longer found (a record withdrawn or fixed). */
  added: number;
  removed: number;
  /** Images that could not be matched again (an inventory row gone), each a sentence; they keep their findings. */
  skipped: string[];
  seconds: number;
}

/**
 * Matches every kept image again (see the module's comment); `now` is the first-seen time of what is new. Between
 * batches it yields to the event loop: in the server (an import through the API) other requests are answered
 * meanwhile, whatever the number of images.
 */
export async function rematchAll(store: Store, now = new Date(), onProgress?: (done: number, total: number) => void): Promise<RematchResult> {
  const t0 = performance.now();
  const images = store.findings.kept();
  const rows = new Map(images.map((i) => [i.manifest, store.layerInventories.image(i.manifest)]));
  const platforms = new Map<string, number>();
  for (const i of images) platforms.set(i.digest, (platforms.get(i.digest) ?? 0) + 1);
  // Only layers two kept images share are worth holding parsed: an image's own layers never come back in this run.
  const uses = new Map<string, number>();
  for (const r of rows.values()) for (const l of new Set(r?.layers ?? [])) uses.set(l, (uses.get(l) ?? 0) + 1);
  const layers = shared(new SqliteLayerCache(store.layerInventories), (d) => (uses.get(d) ?? 0) > 1);
  const records = new Map<string, OsvRecord[]>();
  const lookup = (ecosystem: string, name: string) => {
    const key = `${ecosystem}\n${name}`;
    let r = records.get(key);
    if (!r) records.set(key, (r = recordsFor(store, ecosystem, name)));
    return r;
  };
  // The records do not change during the run: a package at a version is matched once, whatever number of images hold it.
  const memo = new Map<string, Matched<PackageRef>>();
  const result: RematchResult = { images: 0, added: 0, removed: 0, skipped: [], seconds: 0 };
  const at = now.toISOString();
  for (let start = 0; start < images.length; start += BATCH) {
    // A batch of images per transaction: one commit for many small writes, short enough not to hold builds' writes up.
    store.transaction(() => {
      for (const image of images.slice(start, start + BATCH)) {
        const inv = storedInventory(image, rows.get(image.manifest), layers);
        if (!inv) {
          const which = (platforms.get(image.digest) ?? 0) > 1 ? `${image.digest} (${image.platform})` : image.digest;
          result.skipped.push(`${which}: its stored inventory is incomplete (a layer's row is gone); the next build of it scans it again`);
          continue;
        }
        const matched = matchImage(inv.packages, inv.distro, lookup, { layers: inv.layers.map((l) => l.digest), memo });
        const change = store.findings.replace(
          image.digest,
          image.platform,
          image.manifest,
          matched.findings.map((f) => ({ key: findingKey(f), finding: JSON.stringify(f) })),
          at,
        );
        result.images++;
        result.added += change.added.length;
        result.removed += change.removed.length;
      }
    });
    const done = Math.min(start + BATCH, images.length);
    if (done % 1000 === 0 || done === images.length) onProgress?.(done, images.length);
    await new Promise((resolve) => setImmediate(resolve));
  }
  result.seconds = (performance.now() - t0) / 1000;
  return result;
}

/** Images matched again per transaction. */
const BATCH = 100;

/** A layer cache that keeps what it parsed of the layers `keep` names (read each time otherwise). */
function shared(cache: { get(digest: string): LayerInventory | null }, keep: (digest: string) => boolean): { get(digest: string): LayerInventory | null } {
  const held = new Map<string, LayerInventory | null>();
  return {
    get(digest) {
      if (held.has(digest)) return held.get(digest)!;
      const v = cache.get(digest);
      if (keep(digest)) held.set(digest, v);
      return v;
    },
  };
}
