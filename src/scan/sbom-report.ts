/**
 * A pushed image's SBOM from what its scan stored (the inventory's layer rows), reading nothing from the registry:
 * `GET /api/builds/:id/sbom` and `codehub-build sbom`.
 */
import type { Store } from '../store/store.js';
import { type ImageInventory, storedInventory } from './inventory.js';
import { SqliteLayerCache } from './layer-cache.js';
import type { SbomMeta } from './sbom.js';
import { type CycloneDxBom, cycloneDx } from './sbom-cyclonedx.js';
import { type SpdxDocument, spdx } from './sbom-spdx.js';

/** Image `digest`'s inventory from the store, or null when it was never scanned whole (or a layer's row is gone). */
export function inventoryOf(store: Store, digest: string): ImageInventory | null {
  const scan = store.findings.scanOf(digest);
  if (!scan) return null;
  return storedInventory(digest, scan.manifest, store.layerInventories.image(scan.manifest), new SqliteLayerCache(store.layerInventories));
}

/** The SBOM of image `digest` in `format`, or null when its inventory is not in the store. */
export function imageSbom(
  store: Store,
  digest: string,
  format: 'cyclonedx' | 'spdx',
  image: Omit<SbomMeta, 'digest' | 'tool'> & { version: string },
): CycloneDxBom | SpdxDocument | null {
  const inv = inventoryOf(store, digest);
  if (!inv) return null;
  const meta: SbomMeta = { name: image.name, tags: image.tags, created: image.created, digest, tool: { name: 'codehub-build', version: image.version } };
  return format === 'spdx' ? spdx(inv, meta) : cycloneDx(inv, meta);
}
