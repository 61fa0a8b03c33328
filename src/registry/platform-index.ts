/**
 * Joining images built one platform at a time into one multi-platform image, through the registry API (what
 * `docker manifest create` and manifest-tool do): dockerd's overlay2 image store holds one platform under a name,
 * so each platform is built and pushed alone under a staging tag, and the server writes the index that lists them.
 */
import { formatPlatform, type Platform } from '../limits.js';
import { RegistryError } from './client.js';
import type { ManifestWriter } from './manifests.js';

const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
const DOCKER_IMAGE = 'application/vnd.docker.distribution.manifest.v2+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const INDEXES = new Set([DOCKER_LIST, OCI_INDEX]);

interface Entry {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { os?: string; architecture?: string; variant?: string };
}

/** One platform's image as pushed: the platform it was built for and the manifest its staging tag names. */
export interface PlatformPush {
  platform: Platform;
  /** The staging tag (or digest) the platform's build pushed. */
  reference: string;
}

/** The index as written: its digest, and each platform's own manifest digest in the request's order. */
export interface JoinedIndex {
  digest: string;
  mediaType: string;
  platforms: { platform: string; digest: string }[];
}

/**
 * Writes one index listing each platform's image under `tag` of `repository`. A platform's push that is itself an
 * index (a builder that adds attestations) gives its image for that platform. The index is a Docker manifest list
 * when every image is a Docker manifest (what dockerd pushes), else an OCI index: each pairs with its own kind.
 * Throws RegistryError naming the platform whose image is missing or built for another platform.
 */
export async function writePlatformIndex(registry: ManifestWriter, repository: string, tag: string, pushes: readonly PlatformPush[]): Promise<JoinedIndex> {
  const entries: Entry[] = [];
  for (const p of pushes) entries.push(await imageFor(registry, repository, p));
  const mediaType = entries.every((e) => e.mediaType === DOCKER_IMAGE) ? DOCKER_LIST : OCI_INDEX;
  const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType, manifests: entries }));
  const digest = await registry.putManifest(repository, tag, mediaType, body);
  return { digest, mediaType, platforms: entries.map((e, i) => ({ platform: formatPlatform(pushes[i]!.platform), digest: e.digest })) };
}

async function imageFor(registry: ManifestWriter, repository: string, p: PlatformPush): Promise<Entry> {
  const name = formatPlatform(p.platform);
  const raw = await registry.manifest(repository, p.reference);
  if (!raw) throw new RegistryError(`the ${name} image (${repository}:${p.reference}) is not in the registry`);
  const json = JSON.parse(raw.body.toString('utf8')) as { mediaType?: string; manifests?: Entry[] };
  const mediaType = json.mediaType ?? raw.mediaType;
  if (!INDEXES.has(mediaType)) return { mediaType, digest: raw.digest, size: raw.body.length, platform: descriptorPlatform(p.platform) };
  const found = (json.manifests ?? []).find(
    (m) => m.platform?.os === p.platform.os && m.platform.architecture === p.platform.architecture && (m.platform.variant ?? '') === (p.platform.variant ?? ''),
  );
  if (!found) throw new RegistryError(`the ${name} build pushed ${repository}@${raw.digest}, which has no ${name} image`);
  return { mediaType: found.mediaType, digest: found.digest, size: found.size, platform: descriptorPlatform(p.platform) };
}

const descriptorPlatform = (p: Platform): Entry['platform'] => ({ architecture: p.architecture, os: p.os, ...(p.variant ? { variant: p.variant } : {}) });
