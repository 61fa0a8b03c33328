/**
 * What the two SBOM formats (sbom-cyclonedx.ts, sbom-spdx.ts) share: the image they describe, the order packages
 * are listed in, and the image's own package URL. Both are written from an ImageInventory as it stands: nothing
 * here reads the registry again.
 */
import { DEFAULT_PLATFORM, type InventoryPackage } from './inventory.js';

/** The image an SBOM describes, and who wrote the SBOM when. */
export interface SbomMeta {
  /** The image's repository with its registry, no tag or digest: `127.0.0.1:5000/alice/app`. */
  name: string;
  /** The digest the image was pushed as (`sha256:<hex>`): the SBOM's subject. */
  digest: string;
  /** The platform image described (`linux/arm64`), its architecture the purl's `arch`; default linux/amd64. */
  platform?: string;
  /** The tags that named the digest when it was pushed (a branch's, a commit's); may be empty. */
  tags: string[];
  /** When the document is written: CycloneDX's metadata.timestamp, SPDX's creationInfo.created. */
  created: Date;
  tool: { name: 'codehub-build'; version: string };
}

/**
 * The packages by purl, then by file path (the same purl at two paths is two installs: two copies of lodash in two
 * node_modules), then by layer, so the same inventory always lists in the same order whatever order it was read in.
 */
export function sortedPackages(packages: readonly InventoryPackage[]): InventoryPackage[] {
  return [...packages].sort((a, b) => cmp(a.purl, b.purl) || cmp(a.path, b.path) || cmp(a.layer, b.layer));
}

/**
 * The image's purl per the purl spec's `oci` type: the repository's last segment, lower case, as the name; the
 * digest as the version (its colon encoded, as the spec's examples write it); `repository_url` the repository
 * with its registry (its `/` and `:` left bare, as the examples do); `arch` the architecture of the platform the
 * inventory read (an index's digest names every platform: `arch` says which one this SBOM lists). Tags
 * are left out: a purl has room for one, the digest already names the image, and the tags are listed beside it.
 */
export function imagePurl(meta: Pick<SbomMeta, 'name' | 'digest' | 'platform'>): string {
  const last = meta.name.split('/').at(-1) ?? meta.name;
  const url = encodeURIComponent(meta.name).replaceAll('%2F', '/').replaceAll('%3A', ':');
  const arch = (meta.platform ?? DEFAULT_PLATFORM).split('/')[1] ?? 'amd64';
  // Qualifiers sorted by key, as the spec's canonical form has them.
  return `pkg:oci/${encodeURIComponent(last.toLowerCase())}@${encodeURIComponent(meta.digest)}?arch=${encodeURIComponent(arch)}&repository_url=${url}`;
}

/** The OS component's name and version from the distro: os-release's ID, and VERSION_ID or else the codename. */
export function osVersion(distro: { versionId: string; versionCodename?: string }): string | undefined {
  return distro.versionId || distro.versionCodename || undefined;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
