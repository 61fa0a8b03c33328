/** The manifest types a registry may hold; asking for all keeps it from converting schema2 to schema1. */
export const MANIFEST_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

export class RegistryError extends Error {}

/** A small Docker Registry v2 client over plain HTTP (the internal registry). */
export class RegistryClient {
  readonly base: string;

  /** `host` is host[:port], as in image references. */
  constructor(host: string, private timeoutMs = 5000) {
    this.base = /^https?:\/\//.test(host) ? host : `http://${host}`;
  }

  private async get(path: string, init: RequestInit = {}): Promise<Response> {
    try {
      return await fetch(this.base + path, { ...init, signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (e) {
      throw new RegistryError(`registry ${this.base} unreachable: ${(e as Error).message}`);
    }
  }

  async ping(): Promise<{ ok: boolean; detail: string }> {
    try {
      const r = await this.get('/v2/');
      return { ok: r.status === 200 || r.status === 401, detail: `GET /v2/ ${r.status}` };
    } catch (e) {
      return { ok: false, detail: (e as Error).message };
    }
  }

  /** Tags of a repository (unsorted, as the registry gives them); [] if it has none or does not exist. */
  async tags(name: string): Promise<string[]> {
    const r = await this.get(`/v2/${name}/tags/list`);
    if (r.status === 404) return [];
    if (!r.ok) throw new RegistryError(`GET tags of ${name}: ${r.status}`);
    const body = (await r.json()) as { tags: string[] | null };
    return body.tags ?? [];
  }

  /** The manifest digest a tag points at, or null if the tag does not exist. */
  async digest(name: string, reference: string): Promise<string | null> {
    const r = await this.get(`/v2/${name}/manifests/${reference}`, { method: 'HEAD', headers: { accept: MANIFEST_TYPES } });
    if (r.status === 404) return null;
    if (!r.ok) throw new RegistryError(`HEAD manifest ${name}:${reference}: ${r.status}`);
    return r.headers.get('docker-content-digest');
  }

  /**
   * Points more tags of repository `name` at the manifest `digest` already in it: one GET of the manifest and
   * one PUT of the same bytes per tag, a few ms each, where a client pushing every tag would walk all the
   * layers once per tag. Resolves with no value; throws RegistryError saying which tag failed and why.
   */
  async tag(name: string, digest: string, tags: string[]): Promise<void> {
    if (!tags.length) return;
    const m = await this.get(`/v2/${name}/manifests/${digest}`, { headers: { accept: MANIFEST_TYPES } });
    if (!m.ok) throw new RegistryError(`GET manifest ${name}@${digest}: ${m.status}`);
    const type = m.headers.get('content-type') ?? 'application/vnd.docker.distribution.manifest.v2+json';
    const bytes = new Uint8Array(await m.arrayBuffer());
    await Promise.all(tags.map(async (tag) => {
      const r = await this.get(`/v2/${name}/manifests/${tag}`, { method: 'PUT', headers: { 'content-type': type }, body: bytes });
      if (!r.ok) throw new RegistryError(`PUT manifest ${name}:${tag}: ${r.status} ${(await r.text()).slice(0, 200)}`);
      const got = r.headers.get('docker-content-digest');
      if (got && got !== digest) throw new RegistryError(`PUT manifest ${name}:${tag} stored ${got}, not ${digest}`);
    }));
  }

  /** The image config's labels of a single-platform image. */
  async labels(name: string, reference: string): Promise<Record<string, string>> {
    const m = await this.get(`/v2/${name}/manifests/${reference}`, { headers: { accept: MANIFEST_TYPES } });
    if (!m.ok) throw new RegistryError(`GET manifest ${name}:${reference}: ${m.status}`);
    const manifest = (await m.json()) as { config?: { digest: string } };
    if (!manifest.config) throw new RegistryError(`${name}:${reference} is an index, not a single image`);
    const c = await this.get(`/v2/${name}/blobs/${manifest.config.digest}`);
    if (!c.ok) throw new RegistryError(`GET config blob of ${name}:${reference}: ${c.status}`);
    const config = (await c.json()) as { config?: { Labels?: Record<string, string> } };
    return config.config?.Labels ?? {};
  }
}
