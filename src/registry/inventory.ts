import type { Logger } from '../log.js';
import type { Build } from '../store/schema.js';
import type { InventoryStore, TagRow } from '../store/inventory.js';
import type { Store } from '../store/store.js';
import { mapLimit } from '../util/map-limit.js';
import { parseImageRef } from '../images/tags.js';
import type { RawManifest, RegistryClient } from './client.js';
import { describeManifest } from './manifests.js';

/** Registry requests in flight at once during a sync or reconcile. */
const PARALLEL = 8;

export interface SyncResult {
  /** Tags the repository has now. */
  tags: number;
  /** Tags read from the registry (HEAD or GET) because they were new, moved, or `full` asked for all. */
  read: number;
  /** Tags the inventory had and the registry no longer does. */
  gone: number;
}

export interface ReconcileResult {
  repositories: number;
  tags: number;
  /** Registry requests the reconcile made. */
  requests: number;
  ms: number;
  /**
   * Repositories named just after a user (`alice`, no image part), which the token server granted before it
   * was fixed to grant only `<user>/<image>`: counted toward that user, and listed for the operator to remove.
   */
  topLevel: { repository: string; owner: string; tags: number }[];
}

export interface InventoryDeps {
  inventory: InventoryStore;
  store: Store;
  registry: RegistryClient;
  log: Logger;
}

/**
 * Keeps the inventory (what the registry holds in the namespaces this server serves) in step with the
 * registry: after each build from what it pushed (one manifest read), and fully by `reconcile`, which reads
 * every tag. Usage, quotas and retention all read the inventory, never the registry, on their hot paths.
 */
export class Inventory {
  constructor(private deps: InventoryDeps) {}

  /**
   * Records what a finished build pushed: each of its tags now points at `digest`. Resolves when recorded, with
   * the manifest when it had to read it (insight reads its layers from it rather than the registry again); a
   * registry that cannot be read now is logged and left to the next reconcile (the build still succeeded).
   */
  async recordPush(b: Build, digest: string, refs: readonly string[] = b.imageRefs, at = new Date()): Promise<RawManifest | null> {
    let read: RawManifest | null = null;
    const byRepository = new Map<string, string[]>();
    for (const r of refs) {
      const { repository, tag } = parseImageRef(r);
      if (!tag) continue;
      byRepository.set(repository, [...(byRepository.get(repository) ?? []), tag]);
    }
    try {
      for (const [repository, tags] of byRepository) {
        const known = await this.ensureManifest(repository, digest);
        if (!known) throw new Error(`the registry has no manifest ${digest}`);
        if (known !== true) read ??= known;
        for (const tag of tags) this.deps.inventory.setTag({ repository, tag, digest, owner: ownerOf(repository), buildId: b.id, pushedAt: at.toISOString() });
      }
    } catch (e) {
      this.deps.log.warn('could not record what a build pushed; the next reconcile will', { build: b.id, digest, err: e });
    }
    return read;
  }

  /**
   * Makes the inventory of one repository match the registry: tags it no longer has are forgotten; tags it
   * has that the inventory does not know (or, with `full`, every tag) are read and their manifests described.
   */
  async syncRepository(repository: string, full = false): Promise<SyncResult> {
    const { inventory, registry } = this.deps;
    const known = new Map(inventory.tagsOf(repository).map((t) => [t.tag, t]));
    const present = await registry.tags(repository);
    const gone = [...known.keys()].filter((t) => !present.includes(t));
    inventory.removeTags(repository, gone);
    const toRead = full ? present : present.filter((t) => !known.has(t));
    await mapLimit(toRead, PARALLEL, async (tag) => {
      const before = known.get(tag);
      // A known tag needs only its digest (HEAD); a new one its manifest too, so one GET.
      if (before) {
        const digest = await registry.digest(repository, tag);
        if (digest === null) {
          inventory.removeTags(repository, [tag]);
          return;
        }
        if (digest === before.digest) return;
        await this.ensureManifest(repository, digest);
        this.noteTag(repository, tag, digest);
        return;
      }
      const raw = await registry.manifest(repository, tag);
      if (!raw) return; // deleted between the list and now
      await this.ensureManifest(repository, raw.digest, raw);
      this.noteTag(repository, tag, raw.digest);
    });
    return { tags: present.length, read: toRead.length, gone: gone.length };
  }

  /**
   * Reads the whole registry: every repository of the catalog whose namespace `include` accepts (default:
   * all), every tag of each. Repositories that vanished from the registry are forgotten.
   */
  async reconcile(include: (owner: string) => boolean = () => true): Promise<ReconcileResult> {
    const t0 = Date.now();
    const r0 = this.deps.registry.requests;
    const listed = (await this.deps.registry.catalog()).filter((r) => include(ownerOf(r)));
    const all = new Set([...listed, ...this.deps.inventory.repositories().filter((r) => include(ownerOf(r)))]);
    let tags = 0;
    const topLevel: { repository: string; owner: string; tags: number }[] = [];
    for (const repository of all) {
      const synced = await this.syncRepository(repository, true);
      tags += synced.tags;
      if (!repository.includes('/') && synced.tags) topLevel.push({ repository, owner: ownerOf(repository), tags: synced.tags });
    }
    return { repositories: all.size, tags, requests: this.deps.registry.requests - r0, ms: Date.now() - t0, topLevel };
  }

  /** Records a tag found in the registry, attributed to the build that pushed that digest under that tag, if any. */
  private noteTag(repository: string, tag: string, digest: string): void {
    const build = this.deps.store.builds.withDigest(digest).find((b) =>
      b.imageRefs.some((r) => {
        const p = parseImageRef(r);
        return p.repository === repository && p.tag === tag;
      }),
    );
    const row: TagRow = {
      repository,
      tag,
      digest,
      owner: ownerOf(repository),
      buildId: build?.id ?? null,
      pushedAt: build?.finishedAt ?? new Date().toISOString(),
    };
    this.deps.inventory.setTag(row);
  }

  /** Makes sure the inventory describes a manifest (reading it, and an index's manifests, when new). False when the registry has none. */
  /** True when the inventory knew the manifest already, the manifest once read and recorded, false when the registry has none. */
  private async ensureManifest(repository: string, digest: string, raw?: RawManifest): Promise<RawManifest | boolean> {
    if (this.deps.inventory.hasManifest(repository, digest)) return true;
    const m = raw ?? (await this.deps.registry.manifest(repository, digest));
    if (!m) return false;
    const facts = await describeManifest(this.deps.registry, repository, m);
    this.deps.inventory.addManifest(
      { repository, digest: facts.digest, mediaType: facts.mediaType, children: facts.children, tombstone: facts.tombstone },
      facts.blobs,
    );
    return m;
  }
}

/**
 * The namespace of a registry repository: the owner whose usage it counts toward. A top-level repository
 * (`alice`, pushed before such names were refused) counts toward the user it is named after.
 */
export const ownerOf = (repository: string): string => (repository.includes('/') ? repository.slice(0, repository.indexOf('/')) : repository);
