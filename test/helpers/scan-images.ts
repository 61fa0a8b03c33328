/**
 * Images for the scan tests: gzipped tar layers made in memory, and a registry of one process that serves them
 * (manifests by repo and reference, blobs by digest) and counts the blob GETs, so a test can show a cached layer
 * was not read again.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';

export const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export const GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
export type Entry = { name: string; body?: Buffer; mode?: number; type?: 'file' | 'symlink'; linkname?: string };

export async function layer(entries: Entry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => {
    chunks.push(c as Buffer);
  });
  const done = new Promise<void>((r) => pack.on('end', () => r()));
  for (const e of entries) {
    if (e.type === 'symlink') pack.entry({ name: e.name, type: 'symlink', linkname: e.linkname ?? '' });
    else pack.entry({ name: e.name, mode: e.mode ?? 0o644 }, e.body ?? Buffer.alloc(0));
  }
  pack.finalize();
  await done;
  return gzipSync(Buffer.concat(chunks));
}

/** A registry of one process: manifests by repo and reference, blobs by digest; counts blob GETs by digest. */
export class FakeRegistry {
  manifests = new Map<string, { type: string; body: Buffer }>();
  blobs = new Map<string, Buffer>();
  blobGets = new Map<string, number>();
  server = http.createServer((req, res) => {
    const m = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(req.url ?? '');
    if (!m) return void res.writeHead(404).end();
    const [, repo, kind, ref] = m as unknown as [string, string, string, string];
    if (kind === 'blobs') {
      this.blobGets.set(ref, (this.blobGets.get(ref) ?? 0) + 1);
      const b = this.blobs.get(ref);
      if (!b) return void res.writeHead(404).end();
      return void res.writeHead(200, { 'content-length': b.length }).end(b);
    }
    const man = this.manifests.get(`${repo}:${ref}`) ?? this.manifests.get(`${repo}@${ref}`);
    if (!man) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': man.type, 'docker-content-digest': sha(man.body) }).end(man.body);
  });

  blob(bytes: Buffer): string {
    const d = sha(bytes);
    this.blobs.set(d, bytes);
    return d;
  }

  /**
   * Stores an image of these layer blobs under repo:tag; `digests` overrides the digest a layer is named by, `config`
   * the image config's platform fields (linux/amd64's by default; `{}` for a config that names none).
   */
  image(
    repo: string,
    tag: string,
    layers: Buffer[],
    digests: (string | undefined)[] = [],
    config: Record<string, string> = { architecture: 'amd64', os: 'linux' },
  ): { digest: string; layers: string[]; config: string } {
    const configDigest = this.blob(Buffer.from(JSON.stringify({ ...config, rootfs: { type: 'layers', diff_ids: [] } })));
    const descs = layers.map((l, i) => ({ mediaType: GZIP, digest: digests[i] ?? this.blob(l), size: l.length }));
    const body = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: 10 },
        layers: descs,
      }),
    );
    const type = 'application/vnd.oci.image.manifest.v1+json';
    this.manifests.set(`${repo}:${tag}`, { type, body });
    this.manifests.set(`${repo}@${sha(body)}`, { type, body });
    return { digest: sha(body), layers: descs.map((d) => d.digest), config: configDigest };
  }

  /** Stores an OCI index of these image manifests under repo:tag (a platform of `unknown/unknown` is an attestation's). */
  index(repo: string, tag: string, entries: { digest: string; platform?: { os: string; architecture: string; variant?: string } }[]): string {
    const type = 'application/vnd.oci.image.index.v1+json';
    const manifests = entries.map((e) => ({
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: e.digest,
      size: 1,
      ...(e.platform ? { platform: e.platform } : {}),
    }));
    const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: type, manifests }));
    this.manifests.set(`${repo}:${tag}`, { type, body });
    this.manifests.set(`${repo}@${sha(body)}`, { type, body });
    return sha(body);
  }

  gets(digest: string): number {
    return this.blobGets.get(digest) ?? 0;
  }
}

/** Writes a zip of `entries` (deflated) with Python's zipfile at dir/name (yauzl only reads zips); returns its path. */
export function writeZip(dir: string, name: string, entries: { name: string; text: string }[]): string {
  const out = join(dir, name);
  const script = `import json, sys, zipfile
with zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED) as z:
    for e in json.load(sys.stdin):
        z.writestr(e['name'], e['text'])`;
  execFileSync('python3', ['-c', script, out], { input: JSON.stringify(entries) });
  return out;
}
