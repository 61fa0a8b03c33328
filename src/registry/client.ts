import { createHash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';

/** The manifest types a registry may hold; asking for all keeps it from converting schema2 to schema1. */
export const MANIFEST_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

export class RegistryError extends Error {}

/** How long a blob's stream may go without a byte (the reader paused, or the registry stalled) before it fails. */
const BLOB_IDLE_MS = 120_000;

/** A manifest as the registry returned it. */
export interface RawManifest {
  digest: string;
  mediaType: string;
  body: Buffer;
}

/** Where the write probe starts (and at once cancels) its uploads: the reserved `system` namespace. */
export const PROBE_REPOSITORY = 'system/codehub-build-probe';

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
  constructor(
    host: string,
    private timeoutMs = 5000,
    private bearer?: (scope: string) => string,
  ) {
    this.base = /^https?:\/\//.test(host) ? host : `http://${host}`;
    this.agent = this.base.startsWith('https:') ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true });
  }

  /** Requests sent so far (a token round trip counts as one more): what the benchmarks report. */
  requests = 0;

  private async get(path: string, init: { method?: string; headers?: Record<string, string>; body?: Uint8Array } = {}): Promise<Reply> {
    const first = await this.send(path, init);
    const challenge = first.status === 401 && this.bearer ? /scope="([^"]+)"/.exec(first.header('www-authenticate') ?? '')?.[1] : undefined;
    if (!challenge) return first;
    return this.send(path, { ...init, headers: { ...init.headers, authorization: `Bearer ${this.bearer!(challenge)}` } });
  }

  private send(path: string, init: { method?: string; headers?: Record<string, string>; body?: Uint8Array }): Promise<Reply> {
    this.requests++;
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
            status,
            ok: status >= 200 && status < 300,
            body,
            header: (name) => {
              const v = res.headers[name.toLowerCase()];
              return v === undefined ? null : String(v);
            },
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
    await Promise.all(
      tags.map(async (tag) => {
        const r = await this.get(`/v2/${name}/manifests/${tag}`, { method: 'PUT', headers: { 'content-type': type }, body: bytes });
        if (!r.ok) throw new RegistryError(`PUT manifest ${name}:${tag}: ${r.status} ${r.body.toString('utf8').slice(0, 200)}`);
        const got = r.header('docker-content-digest');
        if (got && got !== digest) throw new RegistryError(`PUT manifest ${name}:${tag} stored ${got}, not ${digest}`);
      }),
    );
  }

  /**
   * Whether the registry takes pushes now: it answers, and starting a blob upload (cancelled at once) is
   * allowed. A registry in maintenance (read-only, for its garbage collector) answers 405 to the upload.
   */
  async writable(): Promise<{ ok: boolean; detail: string }> {
    try {
      const r = await this.get(`/v2/${PROBE_REPOSITORY}/blobs/uploads/`, { method: 'POST', headers: { 'content-length': '0' } });
      if (r.status === 202) {
        const location = r.header('location');
        if (location) await this.get(this.pathOf(location), { method: 'DELETE' }).catch(() => {});
        return { ok: true, detail: 'answers and takes pushes' };
      }
      if (r.status === 405) return { ok: false, detail: 'read-only (maintenance: its garbage collector may be running); builds wait queued' };
      return { ok: false, detail: `starting an upload answered ${r.status}` };
    } catch (e) {
      return { ok: false, detail: (e as Error).message };
    }
  }

  /** Every repository of the registry (`GET /v2/_catalog`, followed page by page). */
  async catalog(pageSize = 1000): Promise<string[]> {
    const out: string[] = [];
    let path: string | null = `/v2/_catalog?n=${pageSize}`;
    while (path) {
      const r: Reply = await this.get(path);
      if (!r.ok) throw new RegistryError(`GET catalog: ${r.status} ${r.body.toString('utf8').slice(0, 200)}`);
      out.push(...(r.json<{ repositories: string[] | null }>().repositories ?? []));
      const next = /<([^>]+)>;\s*rel="next"/.exec(r.header('link') ?? '')?.[1];
      path = next ? this.pathOf(next) : null;
    }
    return out;
  }

  /** A manifest by tag or digest: its digest, media type and bytes; null if there is none. */
  async manifest(name: string, reference: string): Promise<RawManifest | null> {
    const r = await this.get(`/v2/${name}/manifests/${reference}`, { headers: { accept: MANIFEST_TYPES } });
    if (r.status === 404) return null;
    if (!r.ok) throw new RegistryError(`GET manifest ${name}:${reference}: ${r.status}`);
    const digest = r.header('docker-content-digest') ?? `sha256:${createHash('sha256').update(r.body).digest('hex')}`;
    return { digest, mediaType: r.header('content-type') ?? '', body: r.body };
  }

  /** Stores a manifest under `reference` (a tag, or its digest); returns the digest the registry gave it. */
  async putManifest(name: string, reference: string, mediaType: string, body: Buffer): Promise<string> {
    const r = await this.get(`/v2/${name}/manifests/${reference}`, { method: 'PUT', headers: { 'content-type': mediaType }, body });
    if (!r.ok) throw new RegistryError(`PUT manifest ${name}:${reference}: ${r.status} ${r.body.toString('utf8').slice(0, 200)}`);
    return r.header('docker-content-digest') ?? `sha256:${createHash('sha256').update(body).digest('hex')}`;
  }

  /**
   * Deletes a manifest by digest, and with it every tag of `name` pointing at it (Registry 2.8 has no
   * delete by tag). Resolves false when there was no such manifest.
   */
  async deleteManifest(name: string, digest: string): Promise<boolean> {
    const r = await this.get(`/v2/${name}/manifests/${digest}`, { method: 'DELETE' });
    if (r.status === 404) return false;
    if (r.status !== 202) throw new RegistryError(`DELETE manifest ${name}@${digest}: ${r.status} ${r.body.toString('utf8').slice(0, 200)}`);
    return true;
  }

  /** Makes sure repository `name` has a blob of these bytes (uploaded in one PUT when missing); returns its digest. */
  async ensureBlob(name: string, bytes: Buffer): Promise<string> {
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    const head = await this.get(`/v2/${name}/blobs/${digest}`, { method: 'HEAD' });
    if (head.ok) return digest;
    const start = await this.get(`/v2/${name}/blobs/uploads/`, { method: 'POST', headers: { 'content-length': '0' } });
    const location = start.header('location');
    if (start.status !== 202 || !location) throw new RegistryError(`starting a blob upload to ${name}: ${start.status}`);
    const path = this.pathOf(location);
    const put = await this.get(`${path}${path.includes('?') ? '&' : '?'}digest=${encodeURIComponent(digest)}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) },
      body: bytes,
    });
    if (put.status !== 201) throw new RegistryError(`uploading a blob to ${name}: ${put.status} ${put.body.toString('utf8').slice(0, 200)}`);
    return digest;
  }

  /** The path (and query) of a URL the registry gave, which may be absolute or relative to it. */
  private pathOf(location: string): string {
    const u = new URL(location, this.base);
    return u.pathname + u.search;
  }

  /**
   * A blob's bytes as a stream, never buffered (a layer may be gigabytes): the caller reads or destroys it. Null
   * when the repository has no such blob (404); a RegistryError for any other answer. A registry whose storage
   * serves blobs elsewhere (S3) answers with a redirect, followed once without this registry's credentials.
   */
  async blob(name: string, digest: string): Promise<Readable | null> {
    let res = await this.open(`${this.base}/v2/${name}/blobs/${digest}`, {});
    const scope = res.statusCode === 401 && this.bearer ? /scope="([^"]+)"/.exec(String(res.headers['www-authenticate'] ?? ''))?.[1] : undefined;
    if (scope) {
      res.resume();
      res = await this.open(`${this.base}/v2/${name}/blobs/${digest}`, { authorization: `Bearer ${this.bearer!(scope)}` });
    }
    const status = res.statusCode ?? 0;
    if ([301, 302, 303, 307, 308].includes(status) && res.headers.location) {
      res.resume();
      res = await this.open(new URL(res.headers.location, this.base).toString(), {});
    }
    if (res.statusCode === 404) {
      res.resume();
      return null;
    }
    if (res.statusCode !== 200) {
      res.resume();
      throw new RegistryError(`GET blob ${name}@${digest}: ${res.statusCode}`);
    }
    return res;
  }

  /** One GET whose answer is handed over unread. */
  private open(url: string, headers: Record<string, string>): Promise<http.IncomingMessage> {
    this.requests++;
    const u = new URL(url);
    const lib = u.protocol === 'https:' ? https : http;
    const sameHost = u.origin === new URL(this.base).origin;
    return new Promise((resolve, reject) => {
      const req = lib.request(u, { headers, ...(sameHost ? { agent: this.agent } : {}), timeout: this.timeoutMs }, (res) => {
        // Once it answers, the reader sets the pace: a scan that pauses the stream (a jar copied to disk) is not a
        // registry that stalled, so the idle limit grows to BLOB_IDLE_MS.
        req.setTimeout(Math.max(this.timeoutMs, BLOB_IDLE_MS));
        resolve(res);
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.timeoutMs} ms`)));
      req.on('error', (e) => reject(new RegistryError(`registry ${this.base} unreachable: ${e.message}`)));
      req.end();
    });
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
