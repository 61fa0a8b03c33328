/**
 * Reads a registry directly, as a user checking codehub-build's figures would: tags, manifests and their blob
 * sizes. A registry is an address (an open one) or a RegistryAccess, whose token challenge is answered.
 */
import type { RegistryAccess } from './server.js';

export type Registry = string | RegistryAccess;

/** GET/HEAD on the registry, answering a 401's Bearer challenge with a token for its scope, as docker does. */
export async function registryFetch(registry: Registry, path: string, init: RequestInit = {}): Promise<Response> {
  const access = typeof registry === 'string' ? { addr: registry } : registry;
  const url = `http://${access.addr}${path}`;
  const first = await fetch(url, init);
  const scope = /scope="([^"]+)"/.exec(first.headers.get('www-authenticate') ?? '')?.[1];
  if (first.status !== 401 || !access.bearer || !scope) return first;
  return fetch(url, { ...init, headers: { ...(init.headers as Record<string, string>), authorization: `Bearer ${access.bearer(scope)}` } });
}
const ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

interface Manifest {
  config?: { digest: string; size: number };
  layers?: { digest: string; size: number }[];
  manifests?: { digest: string; size: number; mediaType: string }[];
}

export async function tagsOf(registry: Registry, repository: string): Promise<string[]> {
  const res = await registryFetch(registry, `/v2/${repository}/tags/list`);
  if (res.status === 404) return [];
  return (((await res.json()) as { tags: string[] | null }).tags ?? []).sort();
}

/** Every blob a tag needs (its manifest, config and layers; an index's manifests and theirs), digest -> size. */
export async function blobsOf(registry: Registry, repository: string, reference: string, into = new Map<string, number>()): Promise<Map<string, number>> {
  const res = await registryFetch(registry, `/v2/${repository}/manifests/${reference}`, { headers: { accept: ACCEPT } });
  if (!res.ok) throw new Error(`GET ${repository}:${reference}: ${res.status}`);
  const body = Buffer.from(await res.arrayBuffer());
  into.set(res.headers.get('docker-content-digest')!, body.length);
  const m = JSON.parse(body.toString('utf8')) as Manifest;
  if (m.config) into.set(m.config.digest, m.config.size);
  for (const l of m.layers ?? []) into.set(l.digest, l.size);
  for (const c of m.manifests ?? []) await blobsOf(registry, repository, c.digest, into);
  return into;
}

/** The sum of the unique blob sizes of every tag of these repositories: an owner's usage computed by hand. */
export async function uniqueBytes(registry: Registry, repositories: string[]): Promise<number> {
  const all = new Map<string, number>();
  for (const r of repositories) for (const t of await tagsOf(registry, r)) await blobsOf(registry, r, t, all);
  return [...all.values()].reduce((a, b) => a + b, 0);
}

/** HTTP status of a tag's manifest: 200 while it exists, 404 once removed. */
export async function tagStatus(registry: Registry, repository: string, tag: string): Promise<number> {
  return (await registryFetch(registry, `/v2/${repository}/manifests/${tag}`, { method: 'HEAD', headers: { accept: ACCEPT } })).status;
}

/** The digest a tag points at (Docker-Content-Digest of its manifest), or null when there is none. */
export async function tagDigest(registry: Registry, repository: string, tag: string): Promise<string | null> {
  const res = await registryFetch(registry, `/v2/${repository}/manifests/${tag}`, { method: 'HEAD', headers: { accept: ACCEPT } });
  return res.ok ? res.headers.get('docker-content-digest') : null;
}
