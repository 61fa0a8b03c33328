/**
 * An image's inventory as an SPDX 2.3 JSON document, written by hand: the document is a flat list of packages and
 * relationships, and the official 2.3 JSON schema allows no field beyond its own (additionalProperties false), so
 * only its fields appear here.
 */
import { randomUUID } from 'node:crypto';
import type { ImageInventory, InventoryPackage } from './inventory.js';
import { imagePurl, osVersion, type SbomMeta, sortedPackages } from './sbom.js';

export interface SpdxExternalRef {
  referenceCategory: 'PACKAGE-MANAGER';
  referenceType: 'purl';
  referenceLocator: string;
}

export interface SpdxPackage {
  /** `SPDXRef-` and then only letters, digits, `.` and `-`, unique in the document. */
  SPDXID: string;
  name: string;
  versionInfo?: string;
  /** Always NOASSERTION: an inventory reads what is installed, not where it was downloaded from. */
  downloadLocation: 'NOASSERTION';
  /** Always false: packages are read from their databases, their files are not listed. */
  filesAnalyzed: false;
  licenseConcluded: 'NOASSERTION';
  licenseDeclared: 'NOASSERTION';
  primaryPackagePurpose: 'CONTAINER' | 'OPERATING_SYSTEM' | 'LIBRARY';
  externalRefs?: SpdxExternalRef[];
  /** Where in the image the package was found: the layer and the database file. */
  sourceInfo?: string;
  comment?: string;
}

export interface SpdxRelationship {
  spdxElementId: string;
  relationshipType: 'DESCRIBES' | 'CONTAINS';
  relatedSpdxElement: string;
}

export interface SpdxDocument {
  spdxVersion: 'SPDX-2.3';
  dataLicense: 'CC0-1.0';
  SPDXID: 'SPDXRef-DOCUMENT';
  /** `<repository>@<digest>`. */
  name: string;
  /** Unique per document written (it ends in a fresh UUID); not meant to be fetched. */
  documentNamespace: string;
  creationInfo: { created: string; creators: string[] };
  /** The image package's SPDXID, alone. */
  documentDescribes: string[];
  /** The image first, then the OS when known, then one per installed package in purl-then-path order. */
  packages: SpdxPackage[];
  relationships: SpdxRelationship[];
  /** What the inventory could not read, one sentence a line; absent when it read everything. */
  comment?: string;
}

/**
 * The SPDX 2.3 document of an image: the image as a CONTAINER package (name the repository, version the digest, an
 * oci purl), the OS as an OPERATING_SYSTEM package when the distro is known, one LIBRARY package per installed
 * package; the document DESCRIBES the image and the image CONTAINS each of the others.
 *
 * Two calls on the same inventory and meta differ only in documentNamespace.
 */
export function spdx(inv: ImageInventory, meta: SbomMeta): SpdxDocument {
  const imageId = `SPDXRef-Image-${slug(meta.name.split('/').at(-1) ?? meta.name)}`;
  const tags = meta.tags.length ? `tags: ${meta.tags.join(', ')}` : undefined;
  const manifest = inv.manifest !== meta.digest ? `linux/amd64 manifest: ${inv.manifest}` : undefined;
  const imageComment = [tags, manifest].filter((s) => s !== undefined).join('; ');
  const image: SpdxPackage = {
    ...base(imageId, meta.name, meta.digest, 'CONTAINER', imagePurl(meta)),
    ...(imageComment ? { comment: imageComment } : {}),
  };

  const packages: SpdxPackage[] = [image];
  if (inv.distro) {
    const version = osVersion(inv.distro);
    packages.push(base(`SPDXRef-OperatingSystem-${slug(inv.distro.id)}`, inv.distro.id, version, 'OPERATING_SYSTEM'));
  }
  for (const [i, p] of sortedPackages(inv.packages).entries()) packages.push(library(p, i + 1));

  const doc: SpdxDocument = {
    spdxVersion: 'SPDX-2.3',
    dataLicense: 'CC0-1.0',
    SPDXID: 'SPDXRef-DOCUMENT',
    name: `${meta.name}@${meta.digest}`,
    documentNamespace: namespace(meta),
    creationInfo: { created: spdxDate(meta.created), creators: [`Tool: ${meta.tool.name}-${meta.tool.version}`] },
    documentDescribes: [imageId],
    packages,
    relationships: [
      { spdxElementId: 'SPDXRef-DOCUMENT', relationshipType: 'DESCRIBES', relatedSpdxElement: imageId },
      ...packages.slice(1).map((p) => ({ spdxElementId: imageId, relationshipType: 'CONTAINS' as const, relatedSpdxElement: p.SPDXID })),
    ],
  };
  if (inv.problems.length) doc.comment = `The inventory is incomplete:\n${inv.problems.join('\n')}`;
  return doc;
}

/**
 * `[A-Za-z0-9.-]` only, as SPDX 2.3's idstring allows; anything else (`@`, `/`, `_`, `+`) becomes `-`. Two names
 * may slug alike (`@scope/name` and `scope-name`), which is why package IDs end in their index.
 */
export function slug(s: string): string {
  const out = s
    .replace(/[^A-Za-z0-9.-]+/g, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^-|-$/g, '');
  return out || 'x';
}

function library(p: InventoryPackage, index: number): SpdxPackage {
  const built = p.source ? `; built from source package ${p.source.name} ${p.source.version}` : '';
  return {
    ...base(`SPDXRef-Package-${p.ecosystem}-${slug(p.name)}-${index}`, p.name, p.version, 'LIBRARY', p.purl),
    sourceInfo: `found in layer ${p.layer} at ${p.path}${built}`,
  };
}

function base(SPDXID: string, name: string, version: string | undefined, purpose: SpdxPackage['primaryPackagePurpose'], purl?: string): SpdxPackage {
  return {
    SPDXID,
    name,
    ...(version ? { versionInfo: version } : {}),
    downloadLocation: 'NOASSERTION',
    filesAnalyzed: false,
    licenseConcluded: 'NOASSERTION',
    licenseDeclared: 'NOASSERTION',
    primaryPackagePurpose: purpose,
    ...(purl ? { externalRefs: [{ referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: purl }] } : {}),
  };
}

/**
 * SPDX asks for a URI unique to this document that need not resolve, in the form `https://<creator>/<path>/<name>-<uuid>`.
 * The host is under `.invalid` (RFC 2606) because codehub-build publishes nothing at such an address.
 */
function namespace(meta: SbomMeta): string {
  const path = meta.name.split('/').map(encodeURIComponent).join('/');
  return `https://codehub-build.invalid/spdx/${path}/${encodeURIComponent(meta.digest)}-${randomUUID()}`;
}

/** SPDX's `created` is `YYYY-MM-DDThh:mm:ssZ`: UTC, whole seconds, no fraction. */
function spdxDate(d: Date): string {
  return `${d.toISOString().slice(0, 19)}Z`;
}
