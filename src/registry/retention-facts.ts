import { refInfo, tagKind } from '../images/tags.js';
import type { ImageConfig } from '../config/types.js';
import type { RepoStore } from '../git/repos.js';
import { liveRefs } from '../git/read.js';
import type { InventoryStore } from '../store/inventory.js';
import { isPush, type Build, type PushBuild } from '../store/schema.js';
import type { Store } from '../store/store.js';
import { cacheRepository } from './cache-refs.js';
import { planRetention, type GitFacts, type Policy, type RetentionPlan, type TagFacts } from './retention.js';

// The facts retention judges a repository by, gathered for gc.ts (retention.ts decides on them, gc.ts carries
// the plan out): its tags with the builds that pushed them, and the git refs those builds came from.

/** What gathering the facts needs of gc's dependencies (GcDeps has them all). */
export interface FactsDeps {
  store: Store;
  inventory: InventoryStore;
  repos: RepoStore;
  /** The default policy and a deleted ref's grace (GcSettings). */
  settings: { keep: number; days: number; graceMs: number };
}

/** The tags, manifests, builds and git refs of one repository, and the plan for them. */
export async function planRepository(deps: FactsDeps, repository: string, git: GitFactsCache, policy?: Policy): Promise<RetentionPlan> {
  const { store, inventory, settings } = deps;
  const rows = inventory.tagsOf(repository);
  const builds = new Map<number, Build>();
  const buildOf = (id: number | null) => {
    if (id === null) return undefined;
    if (!builds.has(id)) {
      const b = store.builds.byId(id);
      if (b) builds.set(id, b);
    }
    return builds.get(id);
  };
  // A branch's build cache is judged as the image's tag of the same name (its branch tag): it follows the branch.
  const image = repository.endsWith(CACHE_SUFFIX) ? new Map(inventory.tagsOf(repository.slice(0, -CACHE_SUFFIX.length)).map((t) => [t.tag, t])) : null;
  // Only a pushed commit's build has git refs to judge by; an upload's tags are kept like a docker push's.
  const pushOf = (id: number | null) => {
    const b = buildOf(id);
    return b && isPush(b) ? b : undefined;
  };
  const tags: TagFacts[] = rows.map((t) => {
    if (image) {
      const b = pushOf(image.get(t.tag)?.buildId ?? null);
      return { tag: t.tag, digest: t.digest, pushedAt: t.pushedAt, build: b ? { ...buildFacts(b, t.tag), kind: 'moving' } : null, cache: true };
    }
    const b = pushOf(t.buildId);
    return { tag: t.tag, digest: t.digest, pushedAt: t.pushedAt, build: b ? buildFacts(b, t.tag) : null };
  });
  const gitRepos = [...new Set(tags.flatMap((t) => (t.build ? [t.build.repo] : [])))];
  const facts = new Map(await Promise.all(gitRepos.map(async (r) => [r, await git.get(r, tags)] as const)));
  const policies = new Map(
    gitRepos.map((r) => {
      const [owner = '', name = ''] = r.split('/');
      const row = store.repos.byName(owner, name);
      return [r, policy ?? { keep: row?.retentionKeep ?? settings.keep, days: row?.retentionDays ?? settings.days }] as const;
    }),
  );
  return planRetention({
    repository,
    tags,
    manifests: inventory.manifestsOf(repository),
    git: (r) => facts.get(r)!,
    policy: (r) => policies.get(r)!,
    graceMs: settings.graceMs,
    now: Date.now(),
  });
}

/** What `cacheRepository` adds to an image's repository. */
const CACHE_SUFFIX = cacheRepository('');

/** A build as retention sees it, for one of the tags it pushed. */
function buildFacts(b: PushBuild, tag: string): NonNullable<TagFacts['build']> {
  const image = b.config as unknown as ImageConfig | null;
  const ref = refInfo(b.ref) ?? { ref: b.ref, type: b.refType, name: b.refName };
  const kind = tagKind(image?.tags ?? [], { ref, sha: b.commitSha, buildId: b.id, isDefaultBranch: false }, tag);
  return { id: b.id, repo: b.repo, refType: b.refType, refName: b.refName, commit: b.commitSha, kind };
}

/**
 * Git refs per git repo, read once per run: live branches and tags from the bare repo, deletions from the
 * database. A ref a tag's build came from that is neither live nor recorded as deleted (deleted before this
 * server recorded deletions, or its repo is gone) is recorded as deleted now, so its grace starts now.
 */
export class GitFactsCache {
  private cache = new Map<string, Promise<GitFacts>>();
  constructor(
    private deps: FactsDeps,
    private record: boolean,
  ) {}

  get(repo: string, tags: TagFacts[]): Promise<GitFacts> {
    let p = this.cache.get(repo);
    if (!p) this.cache.set(repo, (p = this.read(repo)));
    return p.then((facts) => this.noteMissing(repo, facts, tags));
  }

  private async read(repo: string): Promise<GitFacts> {
    const [owner = '', name = ''] = repo.split('/');
    const { branches, tags } = await liveRefs(this.deps.repos.path(owner, name));
    const row = this.deps.store.repos.byName(owner, name);
    return { branches, tags, deletedAt: row ? this.deps.inventory.refDeletions(row.id) : new Map() };
  }

  private noteMissing(repo: string, facts: GitFacts, tags: TagFacts[]): GitFacts {
    const [owner = '', name = ''] = repo.split('/');
    const row = this.deps.store.repos.byName(owner, name);
    const now = new Date().toISOString();
    for (const t of tags) {
      const b = t.build;
      if (!b || b.repo !== repo) continue;
      const live = b.refType === 'tag' ? facts.tags.has(b.refName) : facts.branches.has(b.refName);
      const ref = `refs/${b.refType === 'tag' ? 'tags' : 'heads'}/${b.refName}`;
      if (live || facts.deletedAt.has(ref)) continue;
      facts.deletedAt.set(ref, now);
      if (this.record && row) this.deps.inventory.recordRefDeletion(row.id, ref, now);
    }
    return facts;
  }
}
