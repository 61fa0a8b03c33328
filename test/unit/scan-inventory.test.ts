import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeRegistry, layer, sha } from '../helpers/scan-images.js';
import { RegistryClient } from '../../src/registry/client.js';
import { goPackages } from '../../src/scan/layer-inventory.js';
import { type InventoryProgress, inventoryImage, MemoryLayerCache } from '../../src/scan/inventory.js';
import { parsePackages } from '../../src/scan/packages/index.js';

const FIX = (p: string) => readFileSync(fileURLToPath(new URL(`../fixtures/${p}`, import.meta.url)));
const DPKG_STATUS = FIX('packages/dpkg/status');
const DEBIAN_12 = FIX('packages/os-release/debian-12');
const LODASH = FIX('packages/npm/lodash-package.json');
const BIOME = FIX('packages/npm/biome-package.json');
const LODASH_VERSION: string = JSON.parse(LODASH.toString('utf8')).version;
const JAR = FIX('scan/accessors-smart-2.5.2.jar');
const ESBUILD = fileURLToPath(new URL(`../../node_modules/@esbuild/${process.platform}-${process.arch}/bin/esbuild`, import.meta.url));

const reg = new FakeRegistry();
let client: RegistryClient;
beforeAll(async () => {
  await new Promise<void>((r) => reg.server.listen(0, '127.0.0.1', r));
  client = new RegistryClient(`127.0.0.1:${(reg.server.address() as AddressInfo).port}`);
});
afterAll(() => new Promise<void>((r) => reg.server.close(() => r())));

describe('inventoryImage', () => {
  it('applies layers in order: a package added in layer 2 and removed in layer 3 is gone, the others name their layer', async () => {
    const l1 = await layer([{ name: 'etc/hostname', body: Buffer.from('x\n') }]);
    const l2 = await layer([
      { name: 'app/node_modules/lodash/package.json', body: LODASH },
      { name: 'app/node_modules/@biomejs/biome/package.json', body: BIOME },
    ]);
    const l3 = await layer([{ name: 'app/node_modules/.wh.lodash' }]);
    const img = reg.image('t/remove', 'v1', [l1, l2, l3]);
    const inv = await inventoryImage(client, 't/remove', 'v1', { cache: new MemoryLayerCache() });
    expect(inv.digest).toBe(img.digest);
    expect(inv.manifest).toBe(img.digest);
    expect(inv.packages.map((p) => [p.ecosystem, p.name, p.layer])).toEqual([['npm', '@biomejs/biome', img.layers[1]]]);
    expect(inv.layers).toEqual(img.layers.map((digest, i) => ({ digest, size: [l1, l2, l3][i]!.length, cached: false })));
    expect(inv.problems).toEqual([]);
    expect(inv.distro).toBeUndefined();

    // Without the third layer lodash is there, from layer 2: the whiteout is what removed it.
    reg.image('t/remove', 'v0', [l1, l2]);
    const before = await inventoryImage(client, 't/remove', 'v0', { cache: new MemoryLayerCache() });
    expect(before.packages.map((p) => `${p.name}@${p.version} ${p.purl} ${p.layer}`).sort()).toEqual(
      [
        `@biomejs/biome@${JSON.parse(BIOME.toString()).version} pkg:npm/%40biomejs/biome@${JSON.parse(BIOME.toString()).version} ${img.layers[1]}`,
        `lodash@${LODASH_VERSION} pkg:npm/lodash@${LODASH_VERSION} ${img.layers[1]}`,
      ].sort(),
    );
  });

  it('spells dpkg packages with the distro of an os-release in an earlier layer, as the parser would with it', async () => {
    const l1 = await layer([
      { name: 'usr/lib/os-release', body: DEBIAN_12 },
      { name: 'etc/os-release', type: 'symlink', linkname: '../usr/lib/os-release' },
    ]);
    const l2 = await layer([{ name: 'var/lib/dpkg/status', body: DPKG_STATUS }]);
    const img = reg.image('t/debian', 'v1', [l1, l2]);
    const inv = await inventoryImage(client, 't/debian', 'v1', { cache: new MemoryLayerCache() });
    expect(inv.distro).toEqual({ id: 'debian', versionId: '12', versionCodename: 'bookworm' });
    const direct = parsePackages('dpkg-status', 'var/lib/dpkg/status', DPKG_STATUS, { id: 'debian', versionId: '12', versionCodename: 'bookworm' });
    expect(direct.packages.length).toBeGreaterThan(3);
    expect(inv.packages).toEqual(direct.packages.map((p) => ({ ...p, layer: img.layers[1] })));
    expect(inv.packages.every((p) => p.ecosystem === 'deb' && p.purl.startsWith('pkg:deb/debian/') && p.purl.includes('distro=debian-12'))).toBe(true);
  });

  it('a later dpkg status replaces the earlier one whole: the packages name the layer that last wrote it', async () => {
    const text = DPKG_STATUS.toString('utf8');
    const first = Buffer.from(`${text.split('\n\n')[0]}\n`);
    const l1 = await layer([
      { name: 'var/lib/dpkg/status', body: first },
      { name: 'etc/os-release', body: DEBIAN_12 },
    ]);
    const l2 = await layer([{ name: 'var/lib/dpkg/status', body: DPKG_STATUS }]);
    const img = reg.image('t/rewrite', 'v1', [l1, l2]);
    const inv = await inventoryImage(client, 't/rewrite', 'v1', { cache: new MemoryLayerCache() });
    const names = inv.packages.map((p) => p.name);
    expect(new Set(names).size).toBe(names.length);
    expect(names).toContain('base-files');
    expect(new Set(inv.packages.map((p) => p.layer))).toEqual(new Set([img.layers[1]]));
  });

  it('reads a cached layer never again: the second image sharing the base fetches only its own layer', async () => {
    const base = await layer([
      { name: 'etc/os-release', body: DEBIAN_12 },
      { name: 'var/lib/dpkg/status', body: DPKG_STATUS },
    ]);
    const a = await layer([{ name: 'srv/node_modules/lodash/package.json', body: LODASH }]);
    const b = await layer([{ name: 'srv/node_modules/@biomejs/biome/package.json', body: BIOME }]);
    const one = reg.image('t/cache-a', 'v1', [base, a]);
    const two = reg.image('t/cache-b', 'v1', [base, b]);
    const cache = new MemoryLayerCache();
    const progress: InventoryProgress[] = [];
    const first = await inventoryImage(client, 't/cache-a', 'v1', { cache, onProgress: (p) => progress.push(p) });
    expect(reg.gets(one.layers[0]!)).toBe(1);
    expect(cache.size).toBe(2);
    const second = await inventoryImage(client, 't/cache-b', 'v1', { cache, onProgress: (p) => progress.push(p) });
    expect(reg.gets(one.layers[0]!)).toBe(1);
    expect(reg.gets(two.layers[1]!)).toBe(1);
    expect(second.layers.map((l) => l.cached)).toEqual([true, false]);
    expect(progress.map((p) => [p.index, p.count, p.cached])).toEqual([
      [0, 2, false],
      [1, 2, false],
      [0, 2, true],
      [1, 2, false],
    ]);
    // The base's packages are the same from the cache as read, and named by the base layer in both images.
    const deb = (i: typeof first) => i.packages.filter((p) => p.ecosystem === 'deb');
    expect(deb(second)).toEqual(deb(first));
    expect(deb(second).every((p) => p.layer === one.layers[0])).toBe(true);
    expect(second.packages.filter((p) => p.ecosystem === 'npm').map((p) => p.name)).toEqual(['@biomejs/biome']);

    // The same image again: not one blob read.
    await inventoryImage(client, 't/cache-b', 'v1', { cache });
    expect(reg.gets(two.layers[1]!)).toBe(1);
  });

  it('refuses a layer whose bytes are not its digest: a problem, none of its packages, nothing cached', async () => {
    const good = await layer([{ name: 'etc/os-release', body: DEBIAN_12 }]);
    const real = await layer([{ name: 'var/lib/dpkg/status', body: DPKG_STATUS }]);
    const other = await layer([{ name: 'x/node_modules/lodash/package.json', body: LODASH }]);
    // The manifest names `real`'s digest, the registry serves `other`'s bytes under it (a corrupted store, a proxy).
    const claimed = sha(real);
    reg.blobs.set(claimed, other);
    const img = reg.image('t/bad', 'v1', [good, real], [undefined, claimed]);
    const cache = new MemoryLayerCache();
    const inv = await inventoryImage(client, 't/bad', 'v1', { cache });
    expect(inv.packages).toEqual([]);
    expect(inv.distro?.id).toBe('debian');
    expect(inv.problems).toHaveLength(1);
    expect(inv.problems[0]).toMatch(new RegExp(`^layer ${claimed}: refused: the layer's bytes hash to sha256:[0-9a-f]{64}, not to its digest ${claimed}`));
    expect(cache.get(claimed)).toBeNull();
    expect(cache.get(img.layers[0]!)).not.toBeNull();
  });

  it('names a layer the registry does not have, and reads the others', async () => {
    const l1 = await layer([{ name: 'a/node_modules/lodash/package.json', body: LODASH }]);
    const missing = `sha256:${'0'.repeat(64)}`;
    reg.image('t/missing', 'v1', [l1, Buffer.from('gone')], [undefined, missing]);
    const inv = await inventoryImage(client, 't/missing', 'v1', { cache: new MemoryLayerCache() });
    expect(inv.packages.map((p) => p.name)).toEqual(['lodash']);
    expect(inv.problems).toEqual([`layer ${missing}: the registry has no such blob in t/missing; its packages are not in this inventory`]);
  });

  it("takes an index's linux/amd64 image, never buildx's attestation manifest", async () => {
    const l1 = await layer([{ name: 'n/node_modules/lodash/package.json', body: LODASH }]);
    const amd = reg.image('t/index', 'amd', [l1]);
    const att = reg.image('t/index', 'att', [await layer([{ name: 'p/node_modules/@biomejs/biome/package.json', body: BIOME }])]);
    const body = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [
          { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: att.digest, size: 1, platform: { os: 'unknown', architecture: 'unknown' } },
          { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: amd.digest, size: 1, platform: { os: 'linux', architecture: 'amd64' } },
        ],
      }),
    );
    reg.manifests.set('t/index:multi', { type: 'application/vnd.oci.image.index.v1+json', body });
    const inv = await inventoryImage(client, 't/index', 'multi', { cache: new MemoryLayerCache() });
    expect(inv.digest).toBe(sha(body));
    expect(inv.manifest).toBe(amd.digest);
    expect(inv.platform).toBe('linux/amd64');
    expect(inv.packages.map((p) => p.name)).toEqual(['lodash']);

    const armOnly = Buffer.from(
      JSON.stringify({ schemaVersion: 2, manifests: [{ digest: amd.digest, size: 1, platform: { os: 'linux', architecture: 'arm64' } }] }),
    );
    reg.manifests.set('t/index:arm', { type: 'application/vnd.oci.image.index.v1+json', body: armOnly });
    // Without linux/amd64 the index's first platform stands for it; an index of attestations alone has no image.
    expect((await inventoryImage(client, 't/index', 'arm', { cache: new MemoryLayerCache() })).platform).toBe('linux/arm64');
    reg.index('t/index', 'att-only', [{ digest: att.digest, platform: { os: 'unknown', architecture: 'unknown' } }]);
    await expect(inventoryImage(client, 't/index', 'att-only', { cache: new MemoryLayerCache() })).rejects.toThrow(/index without a platform image/);
    await expect(inventoryImage(client, 't/index', 'nope', { cache: new MemoryLayerCache() })).rejects.toThrow('t/index:nope has no manifest');
  });

  it("finds a Go binary's modules and a jar's Maven coordinates in a layer, and a later layer's script over the binary hides it", async () => {
    const l1 = await layer([
      { name: 'usr/local/bin/esbuild', body: readFileSync(ESBUILD), mode: 0o755 },
      { name: 'opt/app/lib/accessors-smart-2.5.2.jar', body: JAR },
      { name: 'usr/bin/script.sh', body: Buffer.from('#!/bin/sh\necho hi\n'), mode: 0o755 },
    ]);
    const img = reg.image('t/lang', 'v1', [l1]);
    const inv = await inventoryImage(client, 't/lang', 'v1', { cache: new MemoryLayerCache() });
    expect(inv.problems).toEqual([]);
    const maven = inv.packages.filter((p) => p.ecosystem === 'maven');
    expect(maven).toEqual([
      {
        ecosystem: 'maven',
        name: 'net.minidev:accessors-smart',
        version: '2.5.2',
        path: '/opt/app/lib/accessors-smart-2.5.2.jar!/META-INF/maven/net.minidev/accessors-smart/pom.properties',
        purl: 'pkg:maven/net.minidev/accessors-smart@2.5.2',
        layer: img.layers[0],
      },
    ]);
    const go = inv.packages.filter((p) => p.ecosystem === 'golang');
    expect(go.find((p) => p.name === 'stdlib')?.version).toMatch(/^1\.\d+(\.\d+)?$/);
    expect(go.every((p) => p.path === '/usr/local/bin/esbuild' && p.layer === img.layers[0])).toBe(true);
    expect(go.find((p) => p.name === 'golang.org/x/sys')?.purl).toMatch(/^pkg:golang\/golang.org\/x\/sys@v0\./);

    const l2 = await layer([{ name: 'usr/local/bin/esbuild', body: Buffer.from('#!/bin/sh\nexit 0\n'), mode: 0o755 }]);
    reg.image('t/lang', 'v2', [l1, l2]);
    const later = await inventoryImage(client, 't/lang', 'v2', { cache: new MemoryLayerCache() });
    expect(later.packages.filter((p) => p.ecosystem === 'golang')).toEqual([]);
    expect(later.packages.filter((p) => p.ecosystem === 'maven')).toHaveLength(1);
  });
});

describe('goPackages', () => {
  it('lists stdlib by its toolchain and the modules with a version, not a (devel) main module nor a local replacement', () => {
    const r = goPackages('/bin/app', {
      goVersion: 'go1.22.5 X:nocoverageredesign',
      path: 'example.com/app',
      main: { path: 'example.com/app', version: '(devel)' },
      deps: [
        { path: 'github.com/gorilla/mux', version: 'v1.8.1' },
        { path: 'example.com/local', version: '' },
      ],
    });
    expect(r).toEqual({
      packages: [
        { ecosystem: 'golang', name: 'stdlib', version: '1.22.5', path: '/bin/app', purl: 'pkg:golang/stdlib@1.22.5' },
        { ecosystem: 'golang', name: 'github.com/gorilla/mux', version: 'v1.8.1', path: '/bin/app', purl: 'pkg:golang/github.com/gorilla/mux@v1.8.1' },
      ],
      problems: [],
    });
  });
});

describe('RegistryClient.blob', () => {
  it('answers a token challenge, follows the storage redirect without the token, and streams the bytes', async () => {
    const bytes = Buffer.from('layer bytes '.repeat(1000));
    const seen: { url: string; auth: string | undefined }[] = [];
    const storage = http.createServer((req, res) => {
      seen.push({ url: req.url ?? '', auth: req.headers.authorization });
      res.writeHead(200).end(bytes);
    });
    await new Promise<void>((r) => storage.listen(0, '127.0.0.1', r));
    const storageUrl = `http://127.0.0.1:${(storage.address() as AddressInfo).port}/bucket/blob?sig=1`;
    const registry = http.createServer((req, res) => {
      seen.push({ url: req.url ?? '', auth: req.headers.authorization });
      if (req.headers.authorization !== 'Bearer token-for repository:r/x:pull') {
        return void res.writeHead(401, { 'www-authenticate': 'Bearer realm="http://auth",service="s",scope="repository:r/x:pull"' }).end();
      }
      if (req.url?.endsWith('/missing')) return void res.writeHead(404).end();
      if (req.url?.endsWith('/broken')) return void res.writeHead(500).end();
      res.writeHead(307, { location: storageUrl }).end();
    });
    await new Promise<void>((r) => registry.listen(0, '127.0.0.1', r));
    try {
      const c = new RegistryClient(`127.0.0.1:${(registry.address() as AddressInfo).port}`, 5000, (scope) => `token-for ${scope}`);
      const stream = await c.blob('r/x', 'sha256:abc');
      const chunks: Buffer[] = [];
      for await (const chunk of stream!) chunks.push(chunk as Buffer);
      expect(Buffer.concat(chunks).equals(bytes)).toBe(true);
      expect(seen).toEqual([
        { url: '/v2/r/x/blobs/sha256:abc', auth: undefined },
        { url: '/v2/r/x/blobs/sha256:abc', auth: 'Bearer token-for repository:r/x:pull' },
        { url: '/bucket/blob?sig=1', auth: undefined },
      ]);
      expect(await c.blob('r/x', 'missing')).toBeNull();
      await expect(c.blob('r/x', 'broken')).rejects.toThrow('GET blob r/x@broken: 500');
    } finally {
      await new Promise((r) => registry.close(r));
      await new Promise((r) => storage.close(r));
    }
  });
});
