/**
 * The layer cache of issue 26 in the server's database: a layer's inventory kept by its digest (table
 * layer_inventories), so a base layer shared by a thousand images is read once, across restarts too.
 */
import { z } from 'zod';
import type { ImageInventoryRow, LayerInventoryStore } from '../store/layer-inventories.js';
import type { ImageInventory } from './inventory.js';
import type { LayerCache, LayerInventory } from './layer-inventory.js';

const distro = z.object({ id: z.string(), versionId: z.string(), versionCodename: z.string().optional() });
const pkg = z.object({
  ecosystem: z.enum(['deb', 'apk', 'rpm', 'npm', 'pypi', 'golang', 'maven']),
  name: z.string(),
  version: z.string(),
  source: z.object({ name: z.string(), version: z.string() }).optional(),
  arch: z.string().optional(),
  path: z.string(),
  purl: z.string(),
});
const layerInventory = z.object({
  digest: z.string(),
  files: z.array(
    z.discriminatedUnion('kind', [
      z.object({ path: z.string(), kind: z.literal('packages'), packages: z.array(pkg) }),
      z.object({ path: z.string(), kind: z.literal('os-release'), distro: distro.optional() }),
      z.object({ path: z.string(), kind: z.literal('shadow') }),
    ]),
  ),
  whiteouts: z.array(z.string()),
  opaque: z.array(z.string()),
  problems: z.array(z.string()),
});

/**
 * Reads a stored layer's JSON back into its inventory, checking its shape (a row written by an older reader, or
 * edited by hand, must not reach the image as something else). A problem names the layer and what was wrong.
 */
export function parseLayerInventory(digest: string, text: string): { ok: true; inventory: LayerInventory } | { ok: false; problem: string } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return { ok: false, problem: `stored inventory of layer ${digest} is not JSON: ${(err as Error).message}` };
  }
  const r = layerInventory.safeParse(json);
  if (!r.success) return { ok: false, problem: `stored inventory of layer ${digest} is not a layer inventory: ${z.prettifyError(r.error)}` };
  if (r.data.digest !== digest) return { ok: false, problem: `stored inventory of layer ${digest} names another layer, ${r.data.digest}` };
  return { ok: true, inventory: r.data };
}

/**
 * A LayerCache over store.layerInventories. A row that does not read back as an inventory is a miss (`get`
 * answers null, so the layer is read again and its row replaced) and its problem goes to `onProblem`.
 */
export class SqliteLayerCache implements LayerCache {
  constructor(
    private layers: LayerInventoryStore,
    private onProblem: (problem: string) => void = () => {},
  ) {}

  get(digest: string): LayerInventory | null {
    const row = this.layers.layer(digest);
    if (!row) return null;
    const r = parseLayerInventory(digest, row.inventory);
    if (r.ok) return r.inventory;
    this.onProblem(r.problem);
    return null;
  }

  set(inventory: LayerInventory): void {
    this.layers.putLayer(inventory.digest, JSON.stringify(inventory));
  }
}

/**
 * What store.layerInventories.putImage keeps of an image's inventory: by the manifest whose layers were read (not
 * an index's digest), its layer digests in order, its distro (null for none) and its problems as written. With its
 * layers' rows, that is the whole inventory: matching it again reads no registry.
 */
export function imageInventoryRow(inv: ImageInventory): ImageInventoryRow {
  return { digest: inv.manifest, layers: inv.layers.map((l) => l.digest), distro: inv.distro ?? null, problems: inv.problems };
}
