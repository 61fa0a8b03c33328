/**
 * After an import, every image the registry still keeps is matched again from its stored inventory (its layers'
 * rows: no registry read), so a record that arrived today shows on an image built last month, first seen today.
 * The records of one (ecosystem, name) are read once for all images: a base layer's packages are in most of them.
 */
import type { Store } from '../store/store.js';
import { findingKey, matchImage } from './image-match.js';
import { storedInventory } from './inventory.js';
import { SqliteLayerCache } from './layer-cache.js';
import type { LayerInventory } from './layer-inventory.js';
import type { OsvRecord } from './osv.js';
import { recordsFor } from './vulndb.js';

export interface RematchResult {
  /** Images matched again. */
  images: number;
  /** Findings new to an image (first seen now), and findings no longer found (a record withdrawn or fixed). */
  added: number;
  removed: number;
  /** Images that could not be matched again (an inventory row gone), each a sentence; they keep their findings. */
  skipped: string[];
  seconds: number;
}

/** Matches every kept image again (see the module's comment); `now` is the first-seen time of what is new. */
export function rematchAll(store: Store, now = new Date(), onProgress?: (done: number, total: number) => void): RematchResult {
  const t0 = performance.now();
  const images = store.findings.kept();
  const layers = memo(new SqliteLayerCache(store.layerInventories), MEMO_LAYERS);
  const records = new Map<string, OsvRecord[]>();
  const lookup = (ecosystem: string, name: string) => {
    const key = `${ecosystem}\n${name}`;
    let r = records.get(key);
    if (!r) records.set(key, (r = recordsFor(store, ecosystem, name)));
    return r;
  };
  const result: RematchResult = { images: 0, added: 0, removed: 0, skipped: [], seconds: 0 };
  const at = now.toISOString();
  for (const [i, image] of images.entries()) {
    const inv = storedInventory(image.digest, image.manifest, store.layerInventories.image(image.manifest), layers);
    if (!inv) {
      result.skipped.push(`${image.digest}: its stored inventory is incomplete (a layer's row is gone); the next build of it scans it again`);
      continue;
    }
    const matched = matchImage(inv.packages, inv.distro, lookup, { layers: inv.layers.map((l) => l.digest) });
    const change = store.findings.replace(
      image.digest,
      image.manifest,
      matched.findings.map((f) => ({ key: findingKey(f), finding: JSON.stringify(f) })),
      at,
    );
    result.images++;
    result.added += change.added.length;
    result.removed += change.removed.length;
    if (onProgress && (i + 1) % 500 === 0) onProgress(i + 1, images.length);
  }
  result.seconds = (performance.now() - t0) / 1000;
  return result;
}

/** Layers parsed once per run while they are among the last this many used: base layers are shared by most images. */
const MEMO_LAYERS = 2000;

function memo(cache: { get(digest: string): LayerInventory | null }, max: number): { get(digest: string): LayerInventory | null } {
  const seen = new Map<string, LayerInventory | null>();
  return {
    get(digest) {
      if (seen.has(digest)) {
        const v = seen.get(digest)!;
        seen.delete(digest); // re-inserted below: a Map keeps insertion order, so the oldest is first
        seen.set(digest, v);
        return v;
      }
      const v = cache.get(digest);
      seen.set(digest, v);
      if (seen.size > max) seen.delete(seen.keys().next().value!);
      return v;
    },
  };
}
