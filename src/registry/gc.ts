import { randomBytes } from 'node:crypto';
import type { RepoStore } from '../git/repos.js';
import type { Logger } from '../log.js';
import { expireLogs, type LogRetentionResult } from '../logs/retention.js';
import type { LogStore } from '../logs/store.js';
import type { InventoryStore } from '../store/inventory.js';
import type { Store } from '../store/store.js';
import { repoPathProblem } from '../names.js';
import { mapLimit } from '../util/map-limit.js';
import { ConflictError, NotFoundError } from '../errors.js';
import { RegistryError, type RegistryClient } from './client.js';
import { ownerOf, type Inventory } from './inventory.js';
import { ensureTombstoneConfig, removeTag } from './manifests.js';
import { cacheRepository } from './cache-refs.js';
import { Ledger, type Snapshot } from './ledger.js';
import { planRemovals, type Policy, type RetentionPlan } from './retention.js';
import { GitFactsCache, planRepository } from './retention-facts.js';

export interface GcSettings {
  /** The default policy (CODEHUB_RETENTION_KEEP, CODEHUB_RETENTION_DAYS). */
  keep: number;
  days: number;
  /** How long a deleted branch's or git tag's tags stay (CODEHUB_RETENTION_GRACE). */
  graceMs: number;
  /** CODEHUB_LOG_RETENTION_DAYS. */
  logRetentionDays: number;
}

export interface GcDeps {
  store: Store;
  inventory: InventoryStore;
  sync: Inventory;
  registry: RegistryClient;
  repos: RepoStore;
  logs: LogStore;
  log: Logger;
  settings: GcSettings;
  /** Names this process's gc locks (several processes may run gc against one database). */
  holder?: string;
}

export interface GcOptions {
  /** Say what would go; change nothing in the registry or the data dir. */
  dryRun?: boolean;
  /** Only the image repositories that git repo `owner/name` builds to (and `owner/name` itself). */
  repo?: string;
  /** Only the repositories of this namespace. */
  owner?: string;
  /** Plan from the inventory alone, with no registry request (implies a dry run): the quota message's estimate. */
  offline?: boolean;
  /** A policy for every repo instead of their own (what a smaller retention would free). */
  policy?: Policy;
  /** Also expire logs (the default, except with `offline`). */
  logs?: boolean;
}

export interface Removal {
  repository: string;
  /** The tag that goes; null for a manifest that had none. */
  tag: string | null;
  digest: string;
  reason: string;
  /** delete: the manifest goes, with every tag on it; tombstone: this one tag, the manifest stays for others. */
  how: 'delete' | 'tombstone';
  /** Bytes of the owner's that no manifest that stays needs any more; each blob counted with the first removal that frees it. */
  bytes: number;
}

export interface GcReport {
  dryRun: boolean;
  removals: Removal[];
  /** Sum of the removals' bytes. */
  bytes: number;
  /** Usage of each owner touched, before and after (after as planned, in a dry run). */
  owners: { owner: string; before: number; after: number }[];
  kept: number;
  repositories: number;
  skipped: { repository: string; reason: string }[];
  /** Repositories in scope named just after a user (no image part): counted toward that user (inventory.ts ownerOf). */
  topLevel: { repository: string; owner: string }[];
  logs: LogRetentionResult;
  /** Scans of images the registry no longer holds, forgotten with the layer inventories only they listed (a full, real run only). */
  scans: { images: number; layers: number };
  requests: number;
  ms: number;
}

/** How long a repository's lock is held at most: gc's deletions in one repository take far less. */
const LOCK_MS = 10 * 60_000;
/** A scan written within this long is kept whatever the inventory says: its build may not have recorded its push yet. */
const SCAN_GRACE_MS = 60 * 60_000;
/** Deletes in flight at once in one repository. */
const PARALLEL_DELETES = 8;

/**
 * Registry garbage collection by retention (retention.ts decides on the facts retention-facts.ts gathers; this
 * carries it out): for each image repository in scope, bring the inventory up to date with the registry, read the git
 * repos the tags came from, plan, then delete exactly what the plan says, logging each removal as one
 * JSON line. A repository with a build running is left for the next run; while gc works on one, no build
 * of it starts (registry_locks), so a deletion never meets a push. Blobs are freed later by the registry's
 * own collector (scripts/stack.sh gc).
 */
export class GarbageCollector {
  private holder: string;

  constructor(private deps: GcDeps) {
    this.holder = deps.holder ?? `gc-${process.pid}-${randomBytes(4).toString('hex')}`;
  }

  async run(opts: GcOptions = {}): Promise<GcReport> {
    const { deps } = this;
    const t0 = Date.now();
    const r0 = deps.registry.requests;
    const dryRun = opts.dryRun === true || opts.offline === true;
    const repositories = await this.scope(opts);
    const report: GcReport = {
      dryRun,
      removals: [],
      bytes: 0,
      owners: [],
      kept: 0,
      repositories: repositories.length,
      skipped: [],
      topLevel: repositories.filter((r) => !r.includes('/')).map((repository) => ({ repository, owner: ownerOf(repository) })),
      logs: { expired: 0, bytes: 0 },
      scans: { images: 0, layers: 0 },
      requests: 0,
      ms: 0,
    };
    const git = new GitFactsCache(deps, !dryRun);

    const byOwner = new Map<string, string[]>();
    for (const r of repositories) byOwner.set(ownerOf(r), [...(byOwner.get(ownerOf(r)) ?? []), r]);
    for (const [owner, list] of byOwner) {
      if (!opts.offline) for (const r of list) await this.sync(r, report);
      const ledger = new Ledger(this.snapshot(owner));
      // Each repository's removals are counted and logged as soon as they are done (or planned, in a dry run).
      const settle = (removals: Removal[]) => {
        ledger.add(removals);
        for (const r of removals) {
          report.removals.push(r);
          report.bytes += r.bytes;
          if (!dryRun)
            deps.log.info(r.tag === null ? 'gc removed an untagged manifest' : 'gc removed a tag', {
              repository: r.repository,
              tag: r.tag,
              digest: r.digest,
              how: r.how,
              bytes: r.bytes,
              reason: r.reason,
            });
        }
      };
      for (const repository of list) {
        if (report.skipped.some((s) => s.repository === repository)) continue;
        if (dryRun) {
          const plan = await planRepository(deps, repository, git, opts.policy);
          report.kept += plan.decisions.filter((d) => d.keep).length;
          settle(removalsOf(plan));
          continue;
        }
        const lock = deps.inventory.lock(repository, this.holder, LOCK_MS);
        if (!lock.ok) {
          report.skipped.push({
            repository,
            reason:
              'running' in lock
                ? `build${lock.running.length > 1 ? 's' : ''} ${lock.running.map((id) => `#${id}`).join(', ')} running: next run`
                : `another gc (${lock.heldBy}) holds it`,
          });
          continue;
        }
        try {
          await this.sync(repository, report);
          const plan = await planRepository(deps, repository, git, opts.policy);
          report.kept += plan.decisions.filter((d) => d.keep).length;
          settle(await this.execute(plan, report.skipped));
        } finally {
          deps.inventory.unlock(repository, this.holder);
        }
      }
      report.owners.push({ owner, ...ledger.usage() });
    }
    if (opts.logs ?? !opts.offline) {
      report.logs = expireLogs({
        store: deps.store,
        logs: deps.logs,
        log: deps.log,
        days: deps.settings.logRetentionDays,
        dryRun,
        ...(opts.repo ? { repo: opts.repo } : {}),
      });
    }
    // The scans of images gone from every repository: only after a full run, which has read every repository.
    if (!dryRun && !opts.repo) report.scans = deps.store.findings.forgetUnkept(new Date(Date.now() - SCAN_GRACE_MS).toISOString());
    report.requests = deps.registry.requests - r0;
    report.ms = Date.now() - t0;
    return report;
  }

  /**
   * Removes one tag by hand (`codehub-build image rm`, its owner's): exactly that tag, and its manifest too
   * (with what only it lists) when no other tag or kept index needs it. Returns what went, with the bytes it
   * frees. NotFoundError when the registry has no such tag; ConflictError while a build of the repository
   * runs or a gc holds it; RegistryError when the registry refuses.
   */
  async removeTag(repository: string, tag: string, by: string): Promise<Removal[]> {
    const { inventory, log } = this.deps;
    const lock = inventory.lock(repository, this.holder, LOCK_MS);
    if (!lock.ok) {
      throw new ConflictError(
        'running' in lock
          ? `build ${lock.running.map((id) => `#${id}`).join(', ')} is pushing to ${repository}; remove the tag once it ends`
          : `gc is working on ${repository}; try again in a moment`,
      );
    }
    try {
      await this.deps.sync.syncRepository(repository);
      const tags = inventory.tagsOf(repository);
      const target = tags.find((t) => t.tag === tag);
      if (!target) throw new NotFoundError(`${repository} has no tag ${tag}`);
      const manifests = inventory.manifestsOf(repository);
      const decisions = tags.map((t) => ({ tag: t.tag, digest: t.digest, keep: t.tag !== tag, reason: t.tag === tag ? `removed by ${by}` : 'kept' }));
      const plan = planRemovals(repository, decisions, manifests);
      // Only what this tag held: never the repository's other untagged manifests (gc's to judge).
      const mine = new Set([target.digest]);
      for (let grew = true; grew; ) {
        grew = false;
        for (const m of manifests)
          if (mine.has(m.digest))
            for (const c of m.children)
              if (!mine.has(c)) {
                mine.add(c);
                grew = true;
              }
      }
      plan.deletes = plan.deletes.filter((d) => mine.has(d.digest));
      const ledger = new Ledger(this.snapshot(ownerOf(repository)));
      const skipped: GcReport['skipped'] = [];
      const removals = await this.execute(plan, skipped);
      if (skipped.length) throw new RegistryError(`the registry refused to remove ${repository}:${tag}: ${skipped.map((s) => s.reason).join('; ')}`);
      ledger.add(removals);
      for (const r of removals)
        log.info(r.tag === null ? 'tag removal took an untagged manifest' : 'tag removed by hand', {
          repository,
          tag: r.tag,
          digest: r.digest,
          how: r.how,
          bytes: r.bytes,
          by,
        });
      return removals;
    } finally {
      inventory.unlock(repository, this.holder);
    }
  }

  /** The image repositories a run covers. Throws GcScopeError for a --repo that names nothing. */
  private async scope(opts: GcOptions): Promise<string[]> {
    const { store, inventory, registry } = this.deps;
    if (opts.repo) {
      const problem = repoPathProblem(opts.repo);
      if (problem) throw new GcScopeError(problem);
      const [owner] = opts.repo.split('/') as [string, string];
      const name = opts.repo.slice(owner.length + 1);
      if (!store.repos.byName(owner, name)) throw new GcScopeError(`no repository ${opts.repo}: nothing was ever pushed to it`);
      // Each image's build cache (a standalone BuildKit's mode=max export) goes with the image's branches.
      const images = store.builds.imagesOf(opts.repo).flatMap((i) => [`${owner}/${i}`, cacheRepository(`${owner}/${i}`)]);
      return [...new Set([...images, ...inventory.repositories(owner).filter((r) => r === opts.repo)])].sort();
    }
    if (opts.owner) return inventory.repositories(opts.owner);
    const known = new Set(inventory.repositories());
    if (!opts.offline) {
      // Repositories pushed to without a build (docker push) since the last reconcile, in namespaces served here.
      const namespaces = store.accounts.namespaces();
      for (const r of await registry.catalog()) if (namespaces.has(ownerOf(r))) known.add(r);
    }
    return [...known].sort();
  }

  private async sync(repository: string, report: GcReport): Promise<void> {
    try {
      await this.deps.sync.syncRepository(repository);
    } catch (e) {
      report.skipped.push({ repository, reason: `the registry could not be read: ${(e as Error).message}` });
    }
  }

  /**
   * Carries out one repository's plan: deletes (an index before what it lists) and tombstones. A removal the
   * registry refuses is logged and left for the next run; the rest go on. Returns what was removed.
   */
  private async execute(plan: RetentionPlan, skipped: GcReport['skipped']): Promise<Removal[]> {
    const { registry, inventory, log } = this.deps;
    const repository = plan.repository;
    const deleted: typeof plan.deletes = [];
    const tombstoned: typeof plan.tombstones = [];
    // Indexes first, then what they list (the plan's order), each wave a few deletes at a time.
    const going = new Set(plan.deletes.map((d) => d.digest));
    const listed = new Set(
      inventory
        .manifestsOf(repository)
        .filter((m) => going.has(m.digest))
        .flatMap((m) => m.children),
    );
    for (const wave of [plan.deletes.filter((d) => !listed.has(d.digest)), plan.deletes.filter((d) => listed.has(d.digest))]) {
      await mapLimit(wave, PARALLEL_DELETES, async (d) => {
        try {
          await registry.deleteManifest(repository, d.digest);
        } catch (e) {
          log.warn('gc could not delete a manifest; the next run tries again', { repository, digest: d.digest, err: e });
          skipped.push({ repository, reason: `${d.digest}: ${(e as Error).message}` });
          return;
        }
        inventory.removeManifest(repository, d.digest);
        deleted.push(d);
      });
    }
    if (plan.tombstones.length) {
      let config: string;
      try {
        config = await ensureTombstoneConfig(registry, repository);
      } catch (e) {
        skipped.push({ repository, reason: `could not upload the tombstone config: ${(e as Error).message}` });
        return removalsOf({ ...plan, deletes: deleted, tombstones: [] });
      }
      for (const t of plan.tombstones) {
        try {
          // The tag's old manifest keeps its other tags.
          await removeTag(registry, repository, t.tag, config);
        } catch (e) {
          log.warn('gc could not remove a tag; the next run tries again', { repository, tag: t.tag, err: e });
          skipped.push({ repository, reason: `${t.tag}: ${(e as Error).message}` });
          continue;
        }
        inventory.removeTags(repository, [t.tag]);
        tombstoned.push(t);
      }
    }
    return removalsOf({ ...plan, deletes: deleted, tombstones: tombstoned });
  }

  /** What an owner's namespace holds now: tagged manifests per repository and every manifest's blobs. */
  private snapshot(owner: string): Snapshot {
    const repositories = this.deps.inventory.repositories(owner);
    const tagged = new Map(repositories.map((r) => [r, new Set(this.deps.inventory.tagsOf(r).map((t) => t.digest))]));
    return { tagged, blobs: this.deps.inventory.blobsOf(repositories) };
  }
}

/** A --repo (or owner) that is malformed or names nothing: the CLI says so and changes nothing. */
export class GcScopeError extends Error {}

/** A plan's removals, one per tag (or per untagged manifest), bytes not yet measured. */
function removalsOf(plan: RetentionPlan): Removal[] {
  const out: Removal[] = [];
  const reasons = new Map(plan.decisions.map((x) => [x.tag, x.reason]));
  for (const d of plan.deletes) {
    if (d.tags.length === 0) out.push({ repository: plan.repository, tag: null, digest: d.digest, reason: d.reason, how: 'delete', bytes: 0 });
    for (const tag of d.tags) out.push({ repository: plan.repository, tag, digest: d.digest, reason: reasons.get(tag) ?? d.reason, how: 'delete', bytes: 0 });
  }
  for (const t of plan.tombstones) out.push({ repository: plan.repository, tag: t.tag, digest: t.digest, reason: t.reason, how: 'tombstone', bytes: 0 });
  return out;
}
