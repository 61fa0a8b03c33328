import { randomBytes } from 'node:crypto';
import type { BlobRef } from '../store/inventory.js';
import { RegistryError, type RawManifest, type RegistryClient } from './client.js';

/** Manifest media types that point at other manifests (an index) or at a config and layers (an image). */
const INDEX_TYPES = new Set(['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json']);
const MANIFEST_TYPES = new Set([...INDEX_TYPES, 'application/vnd.oci.image.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v2+json']);

/** The annotation that marks gc's throwaway manifests (see `tombstoneManifest`). */
export const TOMBSTONE_ANNOTATION = 'dev.codehub.build.tombstone';

interface Descriptor {
  mediaType?: string;
  digest: string;
  size: number;
}

interface ManifestJson {
  mediaType?: string;
  config?: Descriptor;
  layers?: Descriptor[];
  manifests?: Descriptor[];
  annotations?: Record<string, string>;
}

/** What the inventory records of a manifest: its type, the manifests an index lists, and every blob it needs. */
export interface ManifestFacts {
  digest: string;
  mediaType: string;
  children: string[];
  tombstone: boolean;
  /** The manifest itself, its config and layers; for an index, its manifests and all of theirs. */
  blobs: BlobRef[];
}

/**
 * Reads a manifest (and, for an index, the manifests it lists) from the registry and says what it needs.
 * A build cache index (BuildKit's registry cache) lists layer blobs directly; they count as blobs. Throws
 * RegistryError when a manifest the index names is missing.
 */
export async function describeManifest(client: RegistryClient, repository: string, raw: RawManifest): Promise<ManifestFacts> {
  const json = parse(raw);
  const mediaType = json.mediaType ?? raw.mediaType;
  const blobs: BlobRef[] = [{ digest: raw.digest, size: raw.body.length }];
  const children: string[] = [];
  if (json.config) blobs.push(ref(json.config));
  for (const l of json.layers ?? []) blobs.push(ref(l));
  for (const m of json.manifests ?? []) {
    if (!m.mediaType || !MANIFEST_TYPES.has(m.mediaType)) {
      blobs.push(ref(m));
      continue;
    }
    children.push(m.digest);
    const child = await client.manifest(repository, m.digest);
    if (!child) throw new RegistryError(`${repository}@${raw.digest} lists ${m.digest}, which the registry does not have`);
    blobs.push(...(await describeManifest(client, repository, child)).blobs);
  }
  return { digest: raw.digest, mediaType, children, tombstone: json.annotations?.[TOMBSTONE_ANNOTATION] !== undefined, blobs };
}

const ref = (d: Descriptor): BlobRef => ({ digest: d.digest, size: Number(d.size) || 0 });

function parse(raw: RawManifest): ManifestJson {
  try {
    return JSON.parse(raw.body.toString('utf8')) as ManifestJson;
  } catch {
    throw new RegistryError(`manifest ${raw.digest} is not JSON`);
  }
}

/** The config blob of every tombstone: an empty image config, uploaded once per repository. */
export const TOMBSTONE_CONFIG = Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}');

/**
 * A manifest that exists only to be deleted: Registry 2.8 deletes by digest, which takes every tag on that
 * digest, so to remove one tag and keep the others gc first points that tag at a manifest of its own (unique
 * by its annotation) and then deletes that. No layers; its config is shared by all tombstones.
 */
export function tombstoneManifest(configDigest: string, tag: string, nonce: string): { mediaType: string; body: Buffer } {
  const mediaType = 'application/vnd.oci.image.manifest.v1+json';
  const body = {
    schemaVersion: 2,
    mediaType,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: TOMBSTONE_CONFIG.length },
    layers: [],
    annotations: { [TOMBSTONE_ANNOTATION]: `${tag} ${nonce}` },
  };
  return { mediaType, body: Buffer.from(JSON.stringify(body)) };
}

/** What writing and removing manifests needs of a registry client (RegistryClient has it all). */
export type ManifestWriter = Pick<RegistryClient, 'manifest' | 'putManifest' | 'deleteManifest' | 'ensureBlob'>;

/**
 * Removes one tag and keeps the manifest it named (Registry 2.8 deletes only by digest, which takes every tag on
 * it): the tag is pointed at a throwaway manifest of its own, which is then deleted. `config` is the tombstone
 * config's digest in `repository` (ensureTombstoneConfig), uploaded once per repository.
 */
export async function removeTag(registry: ManifestWriter, repository: string, tag: string, config: string): Promise<void> {
  const m = tombstoneManifest(config, tag, randomBytes(8).toString('hex'));
  const digest = await registry.putManifest(repository, tag, m.mediaType, m.body);
  await registry.deleteManifest(repository, digest);
}

/** The tombstone config blob in `repository` (uploaded when missing); its digest. */
export const ensureTombstoneConfig = (registry: ManifestWriter, repository: string): Promise<string> => registry.ensureBlob(repository, TOMBSTONE_CONFIG);
