/**
 * An image's inventory, read from the registry: its manifest (an index's: each platform image's), then each layer in order (from the layer cache by
 * digest, else streamed once through layer-inventory.ts and stored), then the layers applied as the container
 * would see them, so a package a later layer removed is gone and each remaining one names the layer that last
 * wrote its database file.
 *
 * The distro is decided last, from the applied image's os-release: it may sit in another layer than the dpkg
 * status (a base layer's os-release, a later `apt-get install`'s status), and a layer's cached result must hold for
 * every image that shares it. So OS packages are kept distro-free per layer and their purls spelled here.
 *
 * An index is read platform by platform through the same cache, so a layer two platforms share (a copied file, a
 * platform-independent base) is read from the registry once.
 */
import { PackageURL } from 'packageurl-js';
import { z } from 'zod';
import { formatPlatform } from '../limits.js';
import { type RegistryClient, RegistryError } from '../registry/client.js';
import { applyLayers, type LayerChanges } from './image-files.js';
import { inventoryLayer, type LayerCache, type LayerFileFacts, type LayerInventory } from './layer-inventory.js';
import type { Distro, Package } from './packages/index.js';
import { distroQualifier } from './packages/types.js';

export { type LayerCache, type LayerInventory, MemoryLayerCache } from './layer-inventory.js';

/** A single-platform image's platform when its config names none, and an index's default platform when it has it. */
export const DEFAULT_PLATFORM = 'linux/amd64';

/** The platform an image's SBOM and inventory default to among `platforms`: linux/amd64 when present, else the first. */
export function defaultPlatform(platforms: readonly string[]): string | undefined {
  return platforms.includes(DEFAULT_PLATFORM) ? DEFAULT_PLATFORM : platforms[0];
}

export interface InventoryProgress {
  /** The platform image the layer belongs to (`linux/arm64`), and how many platform images are read in all. */
  platform: string;
  platforms: number;
  /** 0-based position of the layer in the manifest, and how many there are. */
  index: number;
  count: number;
  digest: string;
  /** True when the layer came from the cache and no byte of it was read. */
  cached: boolean;
}

export interface InventoryOptions {
  cache: LayerCache;
  /** Called once per layer when it is done (read or taken from the cache), in order. Must not throw. */
  onProgress?: (p: InventoryProgress) => void;
}

export type InventoryPackage = Package & { layer: string };

export interface ImageInventory {
  /** The digest `reference` resolved to: the image manifest's, or the index's when it named an index. */
  digest: string;
  /** The manifest whose layers were read (the index's entry for `platform`, or `digest` itself). */
  manifest: string;
  /** `os/arch[/variant]`: the index entry's platform, or the image config's (linux/amd64 when it names none). */
  platform: string;
  distro?: Distro;
  /** Every installed package of the image as its container sees it, each with the digest of the layer that last wrote its file. */
  packages: InventoryPackage[];
  /** The manifest's layers in order; `cached`: taken from the cache, not read. */
  layers: { digest: string; size: number; cached: boolean }[];
  /**
   * Sentences naming what could not be read and where. A layer that could not be read whole (its blob missing, its
   * bytes not its digest, a compression not supported) is left out of the image and named here: the inventory is
   * then of the other layers only.
   */
  problems: string[];
}

/** Every platform image of what a reference named. */
export interface ImageInventories {
  /** The digest the reference resolved to (the index's, or the single image's). */
  digest: string;
  /** One per platform image, in the index's order; one for a single-platform image. */
  platforms: ImageInventory[];
  /** What is wrong with the index itself (an entry with no platform, a platform listed twice); each platform's are its own. */
  problems: string[];
}

const INDEX_TYPES = ['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json'];
const descriptor = z.object({ mediaType: z.string().optional(), digest: z.string().regex(/^[a-z0-9]+:[0-9a-f]+$/), size: z.number().int().nonnegative() });
const imageManifest = z.object({ mediaType: z.string().optional(), config: descriptor, layers: z.array(descriptor) });
const platformObject = z.object({ os: z.string(), architecture: z.string(), variant: z.string().optional() });
const indexManifest = z.object({
  mediaType: z.string().optional(),
  manifests: z.array(descriptor.extend({ platform: platformObject.optional() })),
});
const imageConfig = z.object({ os: z.string().min(1), architecture: z.string().min(1), variant: z.string().optional() });

/** One platform image of what a reference named: its platform and where to read it. */
interface PlatformImage {
  platform: string;
  digest: string;
  /** What could not be read of its platform (an unreadable config), said in its inventory's problems. */
  problems: string[];
}

/**
 * The inventory of every platform image of `repo:reference` (a tag or a digest), in the index's order (one for a
 * single-platform image). Throws RegistryError only when there is no image to read (no manifest, an unreadable
 * one, an index with no platform image, a registry that does not answer); everything that goes wrong after that
 * is a problem in the result, and each inventory holds all that could be read.
 */
export async function inventoryImages(client: RegistryClient, repo: string, reference: string, opts: InventoryOptions): Promise<ImageInventories> {
  const { top, images, problems } = await platformImages(client, repo, reference);
  const platforms: ImageInventory[] = [];
  // One platform after the other: a layer the first read is in the cache when the next one asks.
  for (const image of images) platforms.push(await inventoryPlatform(client, repo, top, image, images.length, opts));
  return { digest: top.digest, platforms, problems };
}

/**
 * The inventory of one platform image of `repo:reference`: an index's linux/amd64 image (else its first), or the
 * image itself; reads no other platform's layers. Throws as inventoryImages does.
 */
export async function inventoryImage(client: RegistryClient, repo: string, reference: string, opts: InventoryOptions): Promise<ImageInventory> {
  const { top, images } = await platformImages(client, repo, reference);
  const chosen = defaultPlatform(images.map((i) => i.platform));
  return inventoryPlatform(client, repo, top, images.find((i) => i.platform === chosen)!, 1, opts);
}

/**
 * The platform images a reference names, without reading their manifests: an index's entries (buildx's
 * attestation manifests, platform unknown/unknown, are never images and are passed over), or the image itself,
 * whose config says its platform.
 */
async function platformImages(
  client: RegistryClient,
  repo: string,
  reference: string,
): Promise<{ top: { digest: string; body: Buffer; mediaType: string }; images: PlatformImage[]; problems: string[] }> {
  const top = await client.manifest(repo, reference);
  if (!top) throw new RegistryError(`${repo}:${reference} has no manifest`);
  if (!INDEX_TYPES.includes(top.mediaType.split(';')[0]!.trim()) && !isIndex(top.body)) {
    const problems: string[] = [];
    const platform = await configPlatform(client, repo, top, problems);
    return { top, images: [{ platform, digest: top.digest, problems }], problems: [] };
  }
  const index = indexManifest.safeParse(parseJson(top.body));
  if (!index.success) throw new RegistryError(`${repo}@${top.digest} is an index that does not parse: ${z.prettifyError(index.error)}`);
  const images: PlatformImage[] = [];
  const problems: string[] = [];
  for (const m of index.data.manifests) {
    if (m.platform?.os === 'unknown' && m.platform.architecture === 'unknown') continue;
    if (!m.platform) {
      problems.push(`${repo}@${top.digest} lists ${m.digest} with no platform: it is not scanned`);
      continue;
    }
    const platform = formatPlatform(m.platform);
    // Two entries of one platform: a pull takes the first, so the first is the one scanned.
    if (images.some((i) => i.platform === platform)) {
      problems.push(`${repo}@${top.digest} lists ${platform} again (${m.digest}): only its first image, which a pull takes, is scanned`);
      continue;
    }
    images.push({ platform, digest: m.digest, problems: [] });
  }
  if (images.length === 0) throw new RegistryError(`${repo}@${top.digest} is an index without a platform image (only attestation manifests)`);
  return { top, images, problems };
}

/** One platform image's inventory (see the module's comment). */
async function inventoryPlatform(
  client: RegistryClient,
  repo: string,
  top: { digest: string; body: Buffer },
  image: PlatformImage,
  platforms: number,
  opts: InventoryOptions,
): Promise<ImageInventory> {
  let raw = top;
  if (image.digest !== top.digest) {
    const chosen = await client.manifest(repo, image.digest);
    if (!chosen) throw new RegistryError(`${repo}@${top.digest} names ${image.digest} for ${image.platform}, which the registry does not have`);
    raw = chosen;
  }
  const manifest = imageManifest.safeParse(parseJson(raw.body));
  if (!manifest.success) throw new RegistryError(`${repo}@${image.digest} is not an image manifest: ${z.prettifyError(manifest.error)}`);

  const layers = manifest.data.layers;
  const out: ImageInventory = { digest: top.digest, manifest: image.digest, platform: image.platform, packages: [], layers: [], problems: [...image.problems] };
  const read: LayerInventory[] = [];
  for (const [index, layer] of layers.entries()) {
    const cached = await opts.cache.get(layer.digest);
    let inv: LayerInventory | null = cached;
    if (!inv) inv = await readLayer(client, repo, layer.digest, layer.mediaType ?? '', opts.cache, out.problems);
    if (inv) {
      read.push(inv);
      out.problems.push(...inv.problems.map((p) => `layer ${layer.digest}: ${p}`));
    }
    out.layers.push({ digest: layer.digest, size: layer.size, cached: cached !== null });
    opts.onProgress?.({ platform: image.platform, platforms, index, count: layers.length, digest: layer.digest, cached: cached !== null });
  }

  return assemble(out, read);
}

/** A config is a few KiB; one this large is not an image config, and is not read whole. */
const MAX_CONFIG_BYTES = 4 * 1024 * 1024;

/** A single-platform image's platform, from its config's os and architecture; linux/amd64 (and a problem) when it says none. */
async function configPlatform(client: RegistryClient, repo: string, raw: { digest: string; body: Buffer }, problems: string[]): Promise<string> {
  const manifest = imageManifest.safeParse(parseJson(raw.body));
  // Not an image manifest: inventoryPlatform says so, and throws.
  if (!manifest.success) return DEFAULT_PLATFORM;
  const config = manifest.data.config.digest;
  let why: string;
  try {
    const stream = await client.blob(repo, config);
    if (!stream) why = 'the registry has no such blob';
    else {
      const body = await readCapped(stream, MAX_CONFIG_BYTES);
      const c = body ? imageConfig.safeParse(parseJson(body)) : null;
      if (c?.success) return formatPlatform(c.data);
      why = body ? 'it names no os and architecture' : `it is over ${MAX_CONFIG_BYTES} bytes`;
    }
  } catch (err) {
    why = `it could not be fetched: ${(err as Error).message}`;
  }
  problems.push(`image config ${config}: ${why}; the image is taken to be ${DEFAULT_PLATFORM}`);
  return DEFAULT_PLATFORM;
}

/** A stream's bytes, or null (the stream destroyed) past `max`. */
async function readCapped(stream: AsyncIterable<Buffer> & { destroy(): void }, max: number): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of stream) {
    n += c.length;
    if (n > max) {
      stream.destroy();
      return null;
    }
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

/**
 * Fills `out`'s distro and packages from its layers' inventories (bottom first), applied as the container sees
 * them: what both a scan and a match again from stored rows (storedInventory) do last.
 */
function assemble(out: ImageInventory, read: readonly LayerInventory[]): ImageInventory {
  const applied = applyLayers(read.map(changesOf));
  const distro = distroOf(applied);
  if (distro) out.distro = distro;
  for (const [, file] of [...applied].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (file.kind !== 'found' || file.found.kind !== 'packages') continue;
    for (const p of file.found.packages) {
      const spelled = distro ? withDistro(p, distro) : { ok: true as const, pkg: p };
      if (!spelled.ok) out.problems.push(`${p.path}: ${spelled.problem}`);
      else out.packages.push({ ...spelled.pkg, layer: file.layer });
    }
  }
  return out;
}

/**
 * One platform image's inventory again from what a scan stored (its manifest's layer list, each layer's inventory by
 * digest), reading nothing from the registry: null when a row is missing (the image was never inventoried whole,
 * or a layer's row was evicted since), so the caller knows to read the image again instead.
 */
export function storedInventory(
  image: { digest: string; platform: string; manifest: string },
  rows: { layers: string[]; problems: string[] } | undefined,
  cache: { get(digest: string): LayerInventory | null },
): ImageInventory | null {
  if (!rows) return null;
  const read: LayerInventory[] = [];
  for (const layer of rows.layers) {
    const inv = cache.get(layer);
    if (!inv) return null;
    read.push(inv);
  }
  // Sizes are the registry's and not kept; nothing that matches needs them.
  const { digest, platform, manifest } = image;
  const out: ImageInventory = {
    digest,
    manifest,
    platform,
    packages: [],
    layers: rows.layers.map((d) => ({ digest: d, size: 0, cached: true })),
    problems: [],
  };
  // The stored problems already hold what assembling says again (a package without a purl): said once.
  const assembled = assemble(out, read);
  assembled.problems = [...new Set([...rows.problems, ...assembled.problems])];
  return assembled;
}

/** Streams one layer and stores its inventory when it was read whole; null (and a problem) when it was not. */
async function readLayer(
  client: RegistryClient,
  repo: string,
  digest: string,
  mediaType: string,
  cache: LayerCache,
  problems: string[],
): Promise<LayerInventory | null> {
  let stream: Awaited<ReturnType<RegistryClient['blob']>>;
  try {
    stream = await client.blob(repo, digest);
  } catch (err) {
    problems.push(`layer ${digest}: could not be fetched: ${(err as Error).message}; its packages are not in this inventory`);
    return null;
  }
  if (!stream) {
    problems.push(`layer ${digest}: the registry has no such blob in ${repo}; its packages are not in this inventory`);
    return null;
  }
  const { inventory, complete } = await inventoryLayer(stream, mediaType, digest);
  if (!complete) {
    // Bytes that are not the digest's, or a layer cut short, would put packages in the image that are not its own.
    const why = inventory.problems.at(-1) ?? 'it could not be read to its end';
    problems.push(`layer ${digest}: refused: ${why}; its packages are not in this inventory`);
    return null;
  }
  await cache.set(inventory);
  return inventory;
}

function changesOf(inv: LayerInventory): LayerChanges<LayerFileFacts> {
  return {
    digest: inv.digest,
    files: new Map(inv.files.map((f) => [f.path, f.kind === 'shadow' ? { kind: 'shadow' } : { kind: 'found', found: f }])),
    whiteouts: inv.whiteouts,
    opaque: inv.opaque,
  };
}

/** /etc/os-release, else /usr/lib/os-release (Debian's /etc one is a symlink to it), as os-release(5) reads them. */
function distroOf(image: ReturnType<typeof applyLayers<LayerFileFacts>>): Distro | undefined {
  for (const path of ['etc/os-release', 'usr/lib/os-release']) {
    const f = image.get(path);
    if (f?.kind === 'found' && f.found.kind === 'os-release' && f.found.distro) return f.found.distro;
  }
  return undefined;
}

/** The purl namespace and `distro` qualifier of an OS package, from the image's distro (as its parser would with it). */
function withDistro(p: Package, distro: Distro): { ok: true; pkg: Package } | { ok: false; problem: string } {
  if (p.ecosystem !== 'deb' && p.ecosystem !== 'apk' && p.ecosystem !== 'rpm') return { ok: true, pkg: p };
  try {
    const u = PackageURL.fromString(p.purl);
    const qualifiers = { ...(u.qualifiers ?? {}) };
    const q = distroQualifier(distro);
    if (q) qualifiers.distro = q;
    const purl = new PackageURL(u.type, distro.id, u.name, u.version, qualifiers, u.subpath).toString().replaceAll('+', '%2B');
    return { ok: true, pkg: { ...p, purl } };
  } catch (err) {
    return { ok: false, problem: `no package URL for ${p.ecosystem} ${JSON.stringify(p.name)} in ${distro.id}: ${(err as Error).message}` };
  }
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return null;
  }
}

/** A registry that answers a generic content type: an index is what has `manifests` and no `layers`. */
function isIndex(body: Buffer): boolean {
  const j = parseJson(body);
  return typeof j === 'object' && j !== null && 'manifests' in j && !('layers' in j);
}
