import http from 'node:http';
import https from 'node:https';

/** The manifest types a registry may hold; asking for all keeps it from converting schema2 to schema1. */
export const MANIFEST_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

export class RegistryError extends Error {}

/** A whole registry answer; bodies here are small (manifests, tag lists, image configs). */
interface Reply {
  status: number;
  ok: boolean;
  header(name: string): string | null;
  body: Buffer;
  json<T>(): T;
}

/**
 * A small Docker Registry v2 client over node:http with keep-alive (the internal registry). Not fetch: in a
 * long-running server its first use costs about 20 MB of resident memory, and these calls need none of it.
 */
export class RegistryClient {
  readonly base: string;
  private agent: http.Agent;

  /**
   * `host` is host[:port], as in image references. `bearer`, for a registry with token auth, gives a token
   * for a scope (`repository:<name>:pull,push`) the registry asked for in its 401.
   */
  constructor(host: string, private timeoutMs = 5000, private bearer?: (scope: string) => string) {
    this.base = /^https?:\/\//.test(host) ? host : `http://${host}`;
    this.agent = this.base.startsWith('https:') ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true });
  }

  private async get(path: string, init: { method?: string; headers?: Record<string, string>; body?: Uint8Array } = {}): Promise<Reply> {
    const first = await this.send(path, init);
    const challenge = first.status === 401 && this.bearer ? /scope="([^"]+)"/.exec(first.header('www-authenticate') ?? '')?.[1] : undefined;
    if (!challenge) return first;
    return this.send(path, { ...init, headers: { ...init.headers, authorization: `Bearer ${this.bearer!(challenge)}` } });
  }

  private send(path: string, init: { method?: string; headers?: Record<string, string>; body?: Uint8Array }): Promise<Reply> {
    const url = new URL(this.base + path);
    const lib = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const fail = (e: Error) => reject(new RegistryError(`registry ${this.base} unreachable: ${e.message}`));
      const req = lib.request(url, { method: init.method ?? 'GET', headers: init.headers, agent: this.agent, timeout: this.timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', fail);
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          const body = Buffer.concat(chunks);
          resolve({
            status, ok: status >= 200 && status < 300, body,
            header: (name) => { const v = res.headers[name.toLowerCase()]; return v === undefined ? null : String(v); },
            json: <T>() => JSON.parse(body.toString('utf8')) as T,
          });
        });
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.timeoutMs} ms`)));
      req.on('error', fail);
      req.end(init.body);
    });
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
    const body = r.json<{ tags: string[] | null }>();
    return body.tags ?? [];
  }

  /** The manifest digest a tag points at, or null if the tag does not exist. */
  async digest(name: string, reference: string): Promise<string | null> {
    const r = await this.get(`/v2/${name}/manifests/${reference}`, { method: 'HEAD', headers: { accept: MANIFEST_TYPES } });
    if (r.status === 404) return null;
    if (!r.ok) throw new RegistryError(`HEAD manifest ${name}:${reference}: ${r.status}`);
    return r.header('docker-content-digest');
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
    const type = m.header('content-type') ?? 'application/vnd.docker.distribution.manifest.v2+json';
    const bytes = m.body;
    await Promise.all(tags.map(async (tag) => {
      const r = await this.get(`/v2/${name}/manifests/${tag}`, { method: 'PUT', headers: { 'content-type': type }, body: bytes });
      if (!r.ok) throw new RegistryError(`PUT manifest ${name}:${tag}: ${r.status} ${r.body.toString('utf8').slice(0, 200)}`);
      const got = r.header('docker-content-digest');
      if (got && got !== digest) throw new RegistryError(`PUT manifest ${name}:${tag} stored ${got}, not ${digest}`);
    }));
  }

  /** The image config's labels of a single-platform image. */
  async labels(name: string, reference: string): Promise<Record<string, string>> {
    const m = await this.get(`/v2/${name}/manifests/${reference}`, { headers: { accept: MANIFEST_TYPES } });
    if (!m.ok) throw new RegistryError(`GET manifest ${name}:${reference}: ${m.status}`);
    const manifest = m.json<{ config?: { digest: string } }>();
    if (!manifest.config) throw new RegistryError(`${name}:${reference} is an index, not a single image`);
    const c = await this.get(`/v2/${name}/blobs/${manifest.config.digest}`);
    if (!c.ok) throw new RegistryError(`GET config blob of ${name}:${reference}: ${c.status}`);
    const config = c.json<{ config?: { Labels?: Record<string, string> } }>();
    return config.config?.Labels ?? {};
  }
}
