/**
 * An image's inventory read from a real registry (src/scan/inventory.ts): two images built and pushed with
 * `docker buildx build --push` to the stack's open registry, both FROM the stack's busybox, one adding a dpkg status
 * (the first stanzas of test/fixtures/packages/dpkg/status, Debian 12's; see that folder's README for the source),
 * Debian 12's os-release and lodash 4.17.20's package.json. The second shares the base: its layer comes from the
 * cache, and no blob GET is made for it.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/registry/client.js';
import { inventoryImage, MemoryLayerCache } from '../../src/scan/inventory.js';
import { parsePackages } from '../../src/scan/packages/index.js';
import { uniqueName } from '../helpers/server.js';

const REGISTRY = '127.0.0.1:5001';
const BASE = 'localhost:5000/cache/busybox:latest';
const FIX = (p: string) => readFileSync(fileURLToPath(new URL(`../fixtures/${p}`, import.meta.url)));

/** The real client, recording which blobs it was asked for. */
class CountingClient extends RegistryClient {
  blobGets: string[] = [];
  override async blob(name: string, digest: string): Promise<Readable | null> {
    this.blobGets.push(digest);
    return super.blob(name, digest);
  }
}

/** The config and layer digests of the linux/amd64 image `repo:tag` names, read straight from the registry. */
async function imageBlobs(repo: string, tag: string): Promise<{ config: string; layers: string[] }> {
  const res = await fetch(`http://${REGISTRY}/v2/${repo}/manifests/${tag}`, {
    headers: {
      accept:
        'application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json',
    },
  });
  const body = (await res.json()) as {
    manifests?: { digest: string; platform?: { os: string; architecture: string } }[];
    config?: { digest: string };
    layers?: { digest: string }[];
  };
  if (body.layers) return { config: body.config!.digest, layers: body.layers.map((l) => l.digest) };
  const amd = body.manifests?.find((m) => m.platform?.os === 'linux' && m.platform.architecture === 'amd64');
  if (!amd) throw new Error(`${repo}:${tag} has no linux/amd64 image`);
  return imageBlobs(repo, amd.digest);
}

const tmp = mkdtempSync(join(tmpdir(), 'scan-inventory-e2e-'));
const repo = `${uniqueName('scan')}/inventory`;
const STANZAS = `${FIX('packages/dpkg/status').toString('utf8').split('\n\n').slice(0, 3).join('\n\n')}\n`;

async function build(tag: string, files: Record<string, string | Buffer>, dockerfile: string): Promise<void> {
  const dir = join(tmp, tag);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  writeFileSync(join(dir, 'Dockerfile'), dockerfile);
  const r = await execa('docker', ['buildx', 'build', '--push', '--provenance=false', '-t', `${REGISTRY}/${repo}:${tag}`, dir], { reject: false, all: true });
  if (r.exitCode !== 0) throw new Error(`docker buildx build ${tag} failed:\n${r.all}`);
}

beforeAll(async () => {
  const ok = await fetch(`http://${REGISTRY}/v2/`).then(
    (r) => r.status === 200,
    () => false,
  );
  if (!ok) throw new Error(`no open registry answers at ${REGISTRY}: start the stack (scripts/stack.sh up, which npm test runs) and rerun`);
}, 30_000);

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('inventoryImage against the stack registry', () => {
  it('inventories a pushed image: dpkg packages of Debian 12, lodash, each from its layer; a second image reuses the base from the cache', async () => {
    await build(
      'one',
      { status: STANZAS, 'os-release': FIX('packages/os-release/debian-12'), 'package.json': '{"name":"lodash","version":"4.17.20"}\n' },
      `FROM ${BASE}\nCOPY status /var/lib/dpkg/status\nCOPY os-release /etc/os-release\nCOPY package.json /app/node_modules/lodash/package.json\n`,
    );
    const { config, layers } = await imageBlobs(repo, 'one');
    expect(layers.length).toBeGreaterThanOrEqual(4);
    const [statusLayer, , npmLayer] = layers.slice(-3);

    const client = new CountingClient(REGISTRY, 30_000);
    const cache = new MemoryLayerCache();
    const inv = await inventoryImage(client, repo, 'one', { cache });
    expect(inv.problems).toEqual([]);
    expect(inv.layers.map((l) => l.digest)).toEqual(layers);
    expect(inv.layers.every((l) => !l.cached && l.size > 0)).toBe(true);
    // The config (what says the image's platform), then each layer once.
    expect(client.blobGets).toEqual([config, ...layers]);
    expect(inv.distro).toEqual({ id: 'debian', versionId: '12', versionCodename: 'bookworm' });

    const expectedDeb = parsePackages('dpkg-status', 'var/lib/dpkg/status', Buffer.from(STANZAS), inv.distro).packages;
    expect(expectedDeb.map((p) => p.name)).toEqual(['base-files', 'bash', expect.any(String)]);
    expect(inv.packages).toEqual([
      { ecosystem: 'npm', name: 'lodash', version: '4.17.20', path: '/app/node_modules/lodash/package.json', purl: 'pkg:npm/lodash@4.17.20', layer: npmLayer },
      ...expectedDeb.map((p) => ({ ...p, layer: statusLayer })),
    ]);
    for (const p of inv.packages.filter((q) => q.ecosystem === 'deb')) expect(p.purl).toMatch(/^pkg:deb\/debian\/[^@]+@[^?]+\?arch=amd64&distro=debian-12$/);

    await build(
      'two',
      { 'package.json': '{"name":"left-pad","version":"1.3.0"}\n' },
      `FROM ${BASE}\nCOPY package.json /srv/node_modules/left-pad/package.json\n`,
    );
    const { config: config2, layers: layers2 } = await imageBlobs(repo, 'two');
    const shared = layers2.filter((d) => layers.includes(d));
    expect(shared.length).toBeGreaterThanOrEqual(1);
    client.blobGets = [];
    const two = await inventoryImage(client, repo, 'two', { cache });
    expect(two.problems).toEqual([]);
    expect(client.blobGets).toEqual([config2, ...layers2.filter((d) => !shared.includes(d))]);
    expect(two.layers.map((l) => [l.digest, l.cached])).toEqual(layers2.map((d) => [d, shared.includes(d)]));
    expect(two.distro).toBeUndefined();
    expect(two.packages.map((p) => [p.purl, p.layer])).toEqual([['pkg:npm/left-pad@1.3.0', layers2.at(-1)]]);
  }, 300_000);
});
