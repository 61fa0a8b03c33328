/**
 * A pushed image's SBOM from what its scan stored (the inventory's layer rows), reading nothing from the registry:
 * `GET /api/builds/:id/sbom` and `codehub-build sbom`. An SBOM lists one platform image: an index's is asked for
 * by platform, linux/amd64 (else its first platform) when none is named.
 */
import type { Store } from '../store/store.js';
import { defaultPlatform, type ImageInventory, storedInventory } from './inventory.js';
import { SqliteLayerCache } from './layer-cache.js';
import type { SbomMeta } from './sbom.js';
import { type CycloneDxBom, cycloneDx } from './sbom-cyclonedx.js';
import { type SpdxDocument, spdx } from './sbom-spdx.js';

/**
 * The platforms image `digest` was inventoried for: in `order` (the build's scan, the index's order) where it
 * names them, the rest after; empty when it was never scanned.
 */
export function scannedPlatforms(store: Store, digest: string, order: readonly string[] = []): string[] {
  const rank = (p: string) => (order.includes(p) ? order.indexOf(p) : order.length);
  return store.findings
    .scansOf(digest)
    .map((s) => s.platform)
    .sort((a, b) => rank(a) - rank(b));
}

/**
 * Image `digest`'s inventory for `platform` (default: linux/amd64 when scanned, else the first of `order`) from
 * the store, or null when it was never scanned whole for it (or a layer's row is gone).
 */
export function inventoryOf(store: Store, digest: string, platform?: string, order: readonly string[] = []): ImageInventory | null {
  const scans = store.findings.scansOf(digest);
  const chosen = platform ?? defaultPlatform(scannedPlatforms(store, digest, order));
  const scan = scans.find((s) => s.platform === chosen);
  if (!scan) return null;
  return storedInventory(
    { digest, platform: scan.platform, manifest: scan.manifest },
    store.layerInventories.image(scan.manifest),
    new SqliteLayerCache(store.layerInventories),
  );
}

/** The SBOM of image `digest`'s `platform` (see inventoryOf) in `format`, or null when that inventory is not in the store. */
export function imageSbom(
  store: Store,
  digest: string,
  format: 'cyclonedx' | 'spdx',
  image: Omit<SbomMeta, 'digest' | 'tool' | 'platform'> & { version: string; platform?: string },
): CycloneDxBom | SpdxDocument | null {
  const inv = inventoryOf(store, digest, image.platform);
  if (!inv) return null;
  const meta: SbomMeta = {
    name: image.name,
    tags: image.tags,
    created: image.created,
    digest,
    platform: inv.platform,
    tool: { name: 'codehub-build', version: image.version },
  };
  return format === 'spdx' ? spdx(inv, meta) : cycloneDx(inv, meta);
}
