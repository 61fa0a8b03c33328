import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Entry, FakeRegistry, GZIP, layer, sha } from '../helpers/scan-images.js';
import { RegistryClient } from '../../src/registry/client.js';
import { inventoryImage } from '../../src/scan/inventory.js';
import { imageInventoryRow, SqliteLayerCache } from '../../src/scan/layer-cache.js';
import { inventoryLayer, type LayerInventory } from '../../src/scan/layer-inventory.js';
import { openDb } from '../../src/store/db.js';
import { Store } from '../../src/store/store.js';

const FIX = (p: string) => readFileSync(fileURLToPath(new URL(`../fixtures/${p}`, import.meta.url)));
const DPKG_STATUS = FIX('packages/dpkg/status');
const DEBIAN_12 = FIX('packages/os-release/debian-12');
const LODASH = FIX('packages/npm/lodash-package.json');
const BIOME = FIX('packages/npm/biome-package.json');

/** A layer read for real: its inventory as the scan makes it. */
async function readInventory(entries: Entry[]): Promise<LayerInventory> {
  const bytes = await layer(entries);
  const r = await inventoryLayer(Readable.from([bytes]), GZIP, sha(bytes));
  expect(r.complete).toBe(true);
  return r.inventory;
}

let dir: string;
let dbPath: string;
let store: Store;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'chb-layercache-'));
  dbPath = join(dir, 'codehub.db');
  store = new Store(openDb(dbPath));
});
afterEach(() => {
  store.db.$client.close();
  rmSync(dir, { recursive: true, force: true });
});
const reopen = () => {
  store.db.$client.close();
  store = new Store(openDb(dbPath));
};
const rows = (table: string): number => (store.db.$client.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;

describe('SqliteLayerCache', () => {
  it('gives back every field of what was set, from the file after reopening it too; bytes is the JSON text length', async () => {
    const inv = await readInventory([
      { name: 'etc/os-release', body: DEBIAN_12 },
      { name: 'var/lib/dpkg/status', body: DPKG_STATUS },
      { name: 'srv/node_modules/lodash/package.json', body: LODASH },
      { name: 'srv/node_modules/@biomejs/biome/package.json', type: 'symlink', linkname: '/elsewhere' },
      { name: 'usr/share/doc/.wh.gone' },
      { name: 'opt/app/.wh..wh..opq' },
    ]);
    // The inventory has every kind of fact, so the round trip is of each.
    expect(inv.files.map((f) => f.kind).sort()).toEqual(['os-release', 'packages', 'packages', 'shadow']);
    expect(inv.files.find((f) => f.kind === 'os-release')).toMatchObject({ distro: { id: 'debian', versionId: '12' } });
    expect(inv.whiteouts).toEqual(['usr/share/doc/gone']);
    expect(inv.opaque).toEqual(['opt/app']);
    const dpkg = inv.files.find((f) => f.path === 'var/lib/dpkg/status');
    expect(dpkg?.kind === 'packages' && dpkg.packages.some((p) => p.source !== undefined && p.arch !== undefined)).toBe(true);

    const cache = new SqliteLayerCache(store.layerInventories);
    expect(cache.get(inv.digest)).toBeNull();
    cache.set(inv);
    expect(cache.get(inv.digest)).toStrictEqual(inv);
    const row = store.layerInventories.layer(inv.digest)!;
    expect(row.bytes).toBe(Buffer.byteLength(row.inventory, 'utf8'));
    expect(row.readAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

    reopen();
    expect(new SqliteLayerCache(store.layerInventories).get(inv.digest)).toStrictEqual(inv);
  });

  it('keeps one row per digest: a second set replaces the first', async () => {
    const inv = await readInventory([{ name: 'srv/node_modules/lodash/package.json', body: LODASH }]);
    const cache = new SqliteLayerCache(store.layerInventories);
    cache.set({ ...inv, problems: ['an earlier reading'] });
    cache.set(inv);
    expect(rows('layer_inventories')).toBe(1);
    expect(cache.get(inv.digest)).toStrictEqual(inv);
  });

  it('answers a miss, and names the problem, for a row that does not read back as that layer', () => {
    const problems: string[] = [];
    const cache = new SqliteLayerCache(store.layerInventories, (p) => problems.push(p));
    const d1 = `sha256:${'1'.repeat(64)}`;
    const d2 = `sha256:${'2'.repeat(64)}`;
    const d3 = `sha256:${'3'.repeat(64)}`;
    store.layerInventories.putLayer(d1, '{"digest":');
    store.layerInventories.putLayer(d2, JSON.stringify({ digest: d2, files: [{ path: 'x', kind: 'packages' }], whiteouts: [], opaque: [], problems: [] }));
    store.layerInventories.putLayer(d3, JSON.stringify({ digest: d1, files: [], whiteouts: [], opaque: [], problems: [] }));
    expect([cache.get(d1), cache.get(d2), cache.get(d3)]).toEqual([null, null, null]);
    expect(problems).toHaveLength(3);
    expect(problems[0]).toContain(`stored inventory of layer ${d1} is not JSON`);
    expect(problems[1]).toMatch(/is not a layer inventory:[\s\S]*packages/);
    expect(problems[2]).toBe(`stored inventory of layer ${d3} names another layer, ${d1}`);
  });
});

describe('store.layerInventories images', () => {
  it('keeps an image by manifest digest: ordered layers, distro (or none), problems; one row per digest; after reopening', () => {
    const li = store.layerInventories;
    const layers = [`sha256:${'b'.repeat(64)}`, `sha256:${'a'.repeat(64)}`];
    const debian = {
      digest: `sha256:${'d'.repeat(64)}`,
      layers,
      distro: { id: 'debian', versionId: '12', versionCodename: 'bookworm' },
      problems: ['one', 'two'],
    };
    const scratch = { digest: `sha256:${'e'.repeat(64)}`, layers: [], distro: null, problems: [] };
    expect(li.image(debian.digest)).toBeUndefined();
    li.putImage({ ...debian, problems: [] });
    li.putImage(debian);
    li.putImage(scratch);
    expect(rows('image_inventories')).toBe(2);
    // Stored as JSON once (readable in the sqlite3 shell), and no distro as SQL NULL.
    const raw = store.db.$client.prepare('SELECT layers, distro, problems FROM image_inventories ORDER BY digest').all();
    expect(raw).toEqual([
      { layers: JSON.stringify(layers), distro: JSON.stringify(debian.distro), problems: '["one","two"]' },
      { layers: '[]', distro: null, problems: '[]' },
    ]);
    reopen();
    expect(store.layerInventories.image(debian.digest)).toStrictEqual(debian);
    expect(store.layerInventories.image(scratch.digest)).toStrictEqual(scratch);
  });
});

describe('inventoryImage over the SQLite cache', () => {
  const reg = new FakeRegistry();
  let client: RegistryClient;
  beforeAll(async () => {
    await new Promise<void>((r) => reg.server.listen(0, '127.0.0.1', r));
    client = new RegistryClient(`127.0.0.1:${(reg.server.address() as AddressInfo).port}`);
  });
  afterAll(() => new Promise<void>((r) => reg.server.close(() => r())));

  it('reads a shared base layer once, and no layer again after the database is reopened', async () => {
    const base = await layer([
      { name: 'etc/os-release', body: DEBIAN_12 },
      { name: 'var/lib/dpkg/status', body: DPKG_STATUS },
    ]);
    const a = await layer([{ name: 'srv/node_modules/lodash/package.json', body: LODASH }]);
    const b = await layer([{ name: 'srv/node_modules/@biomejs/biome/package.json', body: BIOME }]);
    const one = reg.image('t/cache-a', 'v1', [base, a]).layers;
    const two = reg.image('t/cache-b', 'v1', [base, b]).layers;

    const first = await inventoryImage(client, 't/cache-a', 'v1', { cache: new SqliteLayerCache(store.layerInventories) });
    expect(one.map((d) => reg.gets(d))).toEqual([1, 1]);
    expect(rows('layer_inventories')).toBe(2);
    const second = await inventoryImage(client, 't/cache-b', 'v1', { cache: new SqliteLayerCache(store.layerInventories) });
    expect(reg.gets(one[0]!)).toBe(1);
    expect(reg.gets(two[1]!)).toBe(1);
    expect(second.layers.map((l) => l.cached)).toEqual([true, false]);
    const deb = (i: typeof first) => i.packages.filter((p) => p.ecosystem === 'deb');
    expect(deb(first).length).toBeGreaterThan(0);
    expect(deb(second)).toStrictEqual(deb(first));
    expect(second.packages.filter((p) => p.ecosystem === 'npm').map((p) => p.name)).toEqual(['@biomejs/biome']);

    store.layerInventories.putImage(imageInventoryRow(second));
    reopen();
    expect(store.layerInventories.image(second.manifest)).toStrictEqual({
      digest: second.manifest,
      layers: [one[0], two[1]],
      distro: { id: 'debian', versionId: '12', versionCodename: 'bookworm' },
      problems: second.problems,
    });
    const again = await inventoryImage(client, 't/cache-b', 'v1', { cache: new SqliteLayerCache(store.layerInventories) });
    expect(again.layers.map((l) => l.cached)).toEqual([true, true]);
    expect([...two, ...one].map((d) => reg.gets(d))).toEqual([1, 1, 1, 1]);
    expect(again.packages).toStrictEqual(second.packages);
    expect(again.distro).toStrictEqual(second.distro);
  });
});
