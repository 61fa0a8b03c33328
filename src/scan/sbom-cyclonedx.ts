/**
 * An image's inventory as a CycloneDX 1.6 JSON document, built with the CycloneDX library's models and written by
 * its JSON serializer, so the shape is the library's reading of the spec and not ours.
 */
import { randomUUID } from 'node:crypto';
import { Enums, Models, Serialize, Spec } from '@cyclonedx/cyclonedx-library';
import type { ImageInventory, InventoryPackage } from './inventory.js';
import { imagePurl, osVersion, type SbomMeta, sortedPackages } from './sbom.js';

/** The JSON a CycloneDX 1.6 document parses to, as the library types it. */
export type CycloneDxBom = Serialize.JSON.Types.Normalized.Bom;

/** The namespace of our component properties (CycloneDX's taxonomy leaves a tool's own names to the tool). */
const NS = 'codehub-build';

/**
 * The CycloneDX 1.6 document of an image: metadata.component is the image (a container named by its repository,
 * its version the digest, an oci purl), then one library component per package, in purl-then-path order, each
 * with its purl and the layer and file it was found in; the OS as an operating-system component when the
 * inventory knows the distro; and dependencies in which the image depends on every one of them.
 *
 * Two calls on the same inventory and meta differ only in serialNumber (a fresh urn:uuid each time). What the
 * inventory could not read is listed in metadata.properties (`codehub-build:problem`), so a reader can tell an
 * incomplete SBOM from a small image.
 */
export function cycloneDx(inv: ImageInventory, meta: SbomMeta): CycloneDxBom {
  const image = new Models.Component(Enums.ComponentType.Container, meta.name, {
    bomRef: imagePurl(meta),
    version: meta.digest,
    purl: imagePurl(meta),
  });
  for (const tag of meta.tags) image.properties.add(new Models.Property(`${NS}:tag`, tag));
  // An index's digest names the image; the manifest read is the linux/amd64 one under it.
  if (inv.manifest !== meta.digest) image.properties.add(new Models.Property(`${NS}:manifest`, inv.manifest));

  const bom = new Models.Bom({ serialNumber: `urn:uuid:${randomUUID()}` });
  bom.metadata.timestamp = meta.created;
  bom.metadata.component = image;
  bom.metadata.tools.components.add(new Models.Component(Enums.ComponentType.Application, meta.tool.name, { version: meta.tool.version }));
  for (const p of inv.problems) bom.metadata.properties.add(new Models.Property(`${NS}:problem`, p));

  if (inv.distro) {
    const version = osVersion(inv.distro);
    const os = new Models.Component(Enums.ComponentType.OperatingSystem, inv.distro.id, {
      bomRef: `os:${inv.distro.id}${version ? `@${version}` : ''}`,
      ...(version ? { version } : {}),
    });
    bom.components.add(os);
    image.dependencies.add(os.bomRef);
  }

  const refs = new Set<string>();
  for (const p of sortedPackages(inv.packages)) {
    const c = component(p, uniqueRef(`${p.purl}|${p.path}`, refs));
    bom.components.add(c);
    image.dependencies.add(c.bomRef);
  }

  const serializer = new Serialize.JsonSerializer(new Serialize.JSON.Normalize.Factory(Spec.Spec1dot6));
  // sortLists off: the components keep the order added (purl, then path); the library's own sort is by its
  // Component.compare, which would put the OS and the packages in another order than the one documented above.
  const parsed: CycloneDxBom = JSON.parse(serializer.serialize(bom, { sortLists: false }));
  return parsed;
}

function component(p: InventoryPackage, bomRef: string): Models.Component {
  const c = new Models.Component(Enums.ComponentType.Library, p.name, { bomRef, version: p.version, purl: p.purl });
  c.properties.add(new Models.Property(`${NS}:layer`, p.layer));
  c.properties.add(new Models.Property(`${NS}:path`, p.path));
  c.properties.add(new Models.Property(`${NS}:ecosystem`, p.ecosystem));
  // Distributions file advisories by source package (expat, not libexpat1): a reader matching by hand needs it.
  if (p.source) {
    c.properties.add(new Models.Property(`${NS}:source-name`, p.source.name));
    c.properties.add(new Models.Property(`${NS}:source-version`, p.source.version));
  }
  return c;
}

/**
 * A bom-ref not yet taken: purl plus path is unique for every inventory the parsers make, but one file listing the
 * same purl twice (a dpkg status written twice by hand) must still not give two components one ref.
 */
function uniqueRef(base: string, taken: Set<string>): string {
  let ref = base;
  for (let n = 2; taken.has(ref); n++) ref = `${base}|${n}`;
  taken.add(ref);
  return ref;
}
