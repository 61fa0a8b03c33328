import { describe, expect, it } from 'vitest';
import { planRetention, type GitFacts, type RetentionInput, type TagFacts } from '../../src/registry/retention.js';

const DAY = 86_400_000;
const NOW = Date.parse('2026-11-27T12:00:00Z');
const sha = (n: number | string) => String(n).padStart(40, '0');
const dg = (n: number | string) => `sha256:${String(n).padStart(64, '0')}`;
const ago = (days: number) => new Date(NOW - days * DAY).toISOString();

/** A branch build's tags: its branch tag (moving) and its sha tag (commit), on its own digest. */
function branchBuild(id: number, branch: string, commit = sha(id), pushedDaysAgo = 0): TagFacts[] {
  const build = { id, repo: 'alice/shop', refType: 'branch' as const, refName: branch, commit };
  return [
    { tag: branch, digest: dg(id), pushedAt: ago(pushedDaysAgo), build: { ...build, kind: 'moving' } },
    { tag: commit, digest: dg(id), pushedAt: ago(pushedDaysAgo), build: { ...build, kind: 'commit' } },
  ];
}

/** Tags as the registry has them after the builds ran in order: a later build's tag replaces an earlier one. */
function registryAfter(...builds: TagFacts[][]): TagFacts[] {
  const byTag = new Map<string, TagFacts>();
  for (const b of builds) for (const t of b) byTag.set(t.tag, t);
  return [...byTag.values()];
}

function git(over: Partial<GitFacts> = {}): GitFacts {
  return { branches: new Map(), tags: new Map(), deletedAt: new Map(), ...over };
}

function input(tags: TagFacts[], over: Partial<RetentionInput> = {}): RetentionInput {
  const digests = [...new Set(tags.map((t) => t.digest))];
  return {
    repository: 'alice/shop',
    tags,
    manifests: digests.map((digest) => ({ digest, children: [], tombstone: false })),
    git: () => git(),
    policy: () => ({ keep: 10, days: 0 }),
    graceMs: 0,
    now: NOW,
    ...over,
  };
}

const removed = (p: ReturnType<typeof planRetention>) =>
  p.decisions
    .filter((d) => !d.keep)
    .map((d) => d.tag)
    .sort();

describe('retention plan', () => {
  it('keeps the branch tag and the 10 newest builds of 15 on a branch, and deletes the 5 oldest manifests whole', () => {
    const builds = Array.from({ length: 15 }, (_, i) => branchBuild(i + 1, 'main'));
    const tags = registryAfter(...builds);
    const plan = planRetention(input(tags, { git: () => git({ branches: new Map([['main', sha(15)]]) }) }));
    expect(removed(plan)).toEqual([1, 2, 3, 4, 5].map(sha).sort());
    expect(plan.deletes.map((d) => d.digest)).toEqual([1, 2, 3, 4, 5].map(dg));
    expect(plan.tombstones).toEqual([]);
    expect(plan.decisions.find((d) => d.tag === 'main')).toMatchObject({ keep: true, reason: 'the tag of branch main' });
    expect(plan.decisions.find((d) => d.tag === sha(15))!.reason).toContain('head of alice/shop branch main');
    expect(plan.decisions.find((d) => d.tag === sha(6))!.reason).toBe('one of the 10 newest builds of branch main');
    expect(plan.decisions.find((d) => d.tag === sha(5))!.reason).toBe('older than the 10 newest builds of branch main and pushed 0 days ago (keep 10, days 0)');
  });

  it('keeps every tag pushed within `days`, however many builds', () => {
    const builds = Array.from({ length: 5 }, (_, i) => branchBuild(i + 1, 'main', sha(i + 1), 10 - i));
    const plan = planRetention(
      input(registryAfter(...builds), { policy: () => ({ keep: 1, days: 8 }), git: () => git({ branches: new Map([['main', sha(5)]]) }) }),
    );
    // pushed 10, 9, 8, 7 and 6 days ago: those not within the last 8 days go
    expect(removed(plan)).toEqual([sha(1), sha(2), sha(3)]);
    expect(plan.decisions.find((d) => d.tag === sha(4))!.reason).toBe('pushed within 8 days');
  });

  it('keeps the newest build of a live branch even with keep 0', () => {
    const plan = planRetention(
      input(registryAfter(branchBuild(1, 'main'), branchBuild(2, 'main')), {
        policy: () => ({ keep: 0, days: 0 }),
        git: () => git({ branches: new Map([['main', sha(9)]]) }),
      }),
    );
    expect(removed(plan)).toEqual([sha(1)]);
    expect(plan.decisions.find((d) => d.tag === sha(2))!.reason).toBe('the newest build of branch main');
  });

  it("removes a deleted branch's tags after the grace, keeping a sha that is main's head and a git tag's tags", () => {
    const m = branchBuild(1, 'main', sha('a'));
    const fA = branchBuild(2, 'feat', sha('a'));
    const mA = branchBuild(3, 'main', sha('a'));
    const fX = branchBuild(4, 'feat', sha('x'));
    const tagBuild = { id: 5, repo: 'alice/shop', refType: 'tag' as const, refName: 'v1', commit: sha('b') };
    const v1: TagFacts[] = [
      { tag: 'v1', digest: dg(5), pushedAt: ago(0), build: { ...tagBuild, kind: 'moving' } },
      { tag: sha('b'), digest: dg(5), pushedAt: ago(0), build: { ...tagBuild, kind: 'commit' } },
    ];
    const fB = branchBuild(6, 'feat', sha('b'));
    const tags = registryAfter(m, fA, mA, fX, v1, fB);
    const deleted = git({ branches: new Map([['main', sha('a')]]), tags: new Map([['v1', sha('b')]]), deletedAt: new Map([['refs/heads/feat', ago(1)]]) });
    const plan = planRetention({
      ...input(tags, { git: () => deleted }),
      manifests: [1, 2, 3, 4, 5, 6].map((n) => ({ digest: dg(n), children: [], tombstone: false })),
    });
    expect(removed(plan)).toEqual(['feat', sha('x')].sort());
    // feat shares its manifest with sha b, which v1 still names: feat alone goes, through a tombstone.
    expect(plan.tombstones.map((t) => t.tag)).toEqual(['feat']);
    expect(plan.deletes).toEqual([
      { digest: dg(1), tags: [], reason: 'untagged: its tags moved to newer builds' },
      { digest: dg(2), tags: [], reason: 'untagged: its tags moved to newer builds' },
      { digest: dg(4), tags: [sha('x')], reason: 'branch feat was deleted 2026-11-26 12:00 UTC' },
    ]);
    const reasons = Object.fromEntries(plan.decisions.map((d) => [d.tag, d.reason]));
    expect(reasons[sha('a')]).toBe(`commit ${sha('a').slice(0, 12)} is the head of alice/shop branch main`);
    expect(reasons[sha('b')]).toBe(`commit ${sha('b').slice(0, 12)} is alice/shop git tag v1`);
    expect(reasons.v1).toBe('git tag v1');
  });

  it("keeps a deleted branch's tags during the grace, saying until when", () => {
    const g = git({ deletedAt: new Map([['refs/heads/feat', ago(0.5)]]) });
    const plan = planRetention(
      input(registryAfter(branchBuild(1, 'feat'), branchBuild(2, 'feat')), { git: () => g, graceMs: DAY, policy: () => ({ keep: 1, days: 0 }) }),
    );
    expect(removed(plan)).toEqual([sha(1)]);
    expect(plan.decisions.find((d) => d.tag === 'feat')!.reason).toBe('the tag of branch feat (deleted 2026-11-27 00:00 UTC; kept until 2026-11-28 00:00 UTC)');
  });

  it('counts a branch missing from git with no recorded deletion as deleted now: its grace starts now', () => {
    const plan = planRetention(input(branchBuild(1, 'gone'), { graceMs: DAY }));
    expect(removed(plan)).toEqual([]);
    expect(planRetention(input(branchBuild(1, 'gone'), { graceMs: 0 })).decisions.every((d) => !d.keep)).toBe(true);
  });

  it('never removes latest or a tag no build pushed, and removes tags left on a tombstone', () => {
    const tags: TagFacts[] = [
      { tag: 'latest', digest: dg(1), pushedAt: ago(400), build: null },
      { tag: 'by-hand', digest: dg(2), pushedAt: ago(400), build: null },
      { tag: 'stuck', digest: dg(3), pushedAt: ago(1), build: null },
    ];
    const plan = planRetention({
      ...input(tags),
      manifests: [
        { digest: dg(1), children: [], tombstone: false },
        { digest: dg(2), children: [], tombstone: false },
        { digest: dg(3), children: [], tombstone: true },
      ],
    });
    expect(removed(plan)).toEqual(['stuck']);
    expect(plan.deletes).toEqual([{ digest: dg(3), tags: ['stuck'], reason: 'a tombstone left by an interrupted gc' }]);
  });

  it('deletes an index before the manifests it lists, and keeps a manifest a kept index lists', () => {
    const build = { id: 1, repo: 'alice/shop', refType: 'branch' as const, refName: 'old', commit: sha(1), kind: 'commit' as const };
    const tags: TagFacts[] = [
      { tag: sha(1), digest: dg('i1'), pushedAt: ago(0), build },
      { tag: sha(2), digest: dg('i2'), pushedAt: ago(0), build: { ...build, id: 2, refName: 'kept', commit: sha(2) } },
    ];
    const manifests = [
      { digest: dg('i1'), children: [dg('amd'), dg('arm')], tombstone: false },
      { digest: dg('i2'), children: [dg('arm')], tombstone: false },
      { digest: dg('amd'), children: [], tombstone: false },
      { digest: dg('arm'), children: [], tombstone: false },
    ];
    const g = git({ branches: new Map([['kept', sha(2)]]), deletedAt: new Map([['refs/heads/old', ago(3)]]) });
    const plan = planRetention({ ...input(tags, { git: () => g }), manifests });
    expect(plan.deletes.map((d) => d.digest)).toEqual([dg('i1'), dg('amd')]);
    expect(plan.deletes[1]!.reason).toBe(`listed only by ${dg('i1').slice(0, 19)}, which goes`);
  });

  it("deletes a going index's platforms the inventory knows only as its children (after the index), keeping one a kept index lists", () => {
    const build = { id: 1, repo: 'alice/shop', refType: 'branch' as const, refName: 'old', commit: sha(1), kind: 'commit' as const };
    const tags: TagFacts[] = [
      { tag: sha(1), digest: dg('i1'), pushedAt: ago(0), build },
      { tag: sha(2), digest: dg('i2'), pushedAt: ago(0), build: { ...build, id: 2, refName: 'kept', commit: sha(2) } },
    ];
    const manifests = [
      { digest: dg('i1'), children: [dg('amd'), dg('arm')], tombstone: false },
      { digest: dg('i2'), children: [dg('arm'), dg('amd2')], tombstone: false },
    ];
    const g = git({ branches: new Map([['kept', sha(2)]]), deletedAt: new Map([['refs/heads/old', ago(3)]]) });
    const plan = planRetention({ ...input(tags, { git: () => g }), manifests });
    expect(plan.deletes.map((d) => d.digest)).toEqual([dg('i1'), dg('amd')]);
    expect(plan.deletes[1]).toMatchObject({ tags: [], reason: `listed only by ${dg('i1').slice(0, 19)}, which goes` });
  });

  it('removes one tag of a manifest that an index still lists through a tombstone, never the manifest', () => {
    const build = { id: 1, repo: 'alice/shop', refType: 'branch' as const, refName: 'old', commit: sha(1), kind: 'commit' as const };
    const tags: TagFacts[] = [
      { tag: 'platform-only', digest: dg('arm'), pushedAt: ago(0), build },
      { tag: 'index', digest: dg('i'), pushedAt: ago(0), build: null },
    ];
    const manifests = [
      { digest: dg('i'), children: [dg('arm')], tombstone: false },
      { digest: dg('arm'), children: [], tombstone: false },
    ];
    const plan = planRetention({ ...input(tags, { git: () => git({ deletedAt: new Map([['refs/heads/old', ago(3)]]) }) }), manifests });
    expect(plan.deletes).toEqual([]);
    expect(plan.tombstones.map((t) => t.tag)).toEqual(['platform-only']);
  });

  it('applies each git repo its own policy when two repos build into one image repository', () => {
    const other = (id: number): TagFacts => ({
      tag: sha(100 + id),
      digest: dg(100 + id),
      pushedAt: ago(0),
      build: { id: 100 + id, repo: 'alice/other', refType: 'branch', refName: 'main', commit: sha(100 + id), kind: 'commit' },
    });
    const tags = [...registryAfter(branchBuild(1, 'main'), branchBuild(2, 'main'), branchBuild(3, 'main')), other(1), other(2), other(3)];
    const plan = planRetention(
      input(tags, {
        policy: (repo) => (repo === 'alice/other' ? { keep: 3, days: 0 } : { keep: 1, days: 0 }),
        git: (repo) => git({ branches: new Map([['main', repo === 'alice/other' ? sha(103) : sha(3)]]) }),
      }),
    );
    expect(removed(plan)).toEqual([sha(1), sha(2)]);
  });
});

describe("retention of a branch's build cache (<image>/buildcache:<branch tag>)", () => {
  const cacheTag = (branch: string, from: TagFacts | null, n: number): TagFacts => ({
    tag: branch,
    digest: dg(`c${n}`),
    pushedAt: ago(0),
    build: from?.build ? { ...from.build, kind: 'moving' } : null,
    cache: true,
  });

  it('follows the branch: kept while it lives, gone after its grace, gone at once without an image tag', () => {
    const [main] = branchBuild(1, 'main');
    const [gone] = branchBuild(2, 'feature');
    const tags = [cacheTag('main', main!, 1), cacheTag('feature', gone!, 2), cacheTag('orphan', null, 3)];
    const plan = planRetention(
      input(tags, {
        repository: 'alice/shop/buildcache',
        git: () => git({ branches: new Map([['main', sha(1)]]), deletedAt: new Map([['refs/heads/feature', ago(2)]]) }),
        graceMs: DAY,
      }),
    );
    expect(plan.decisions.find((d) => d.tag === 'main')).toMatchObject({ keep: true, reason: 'the tag of branch main' });
    expect(plan.decisions.find((d) => d.tag === 'feature')).toMatchObject({ keep: false });
    expect(plan.decisions.find((d) => d.tag === 'feature')!.reason).toContain('branch feature was deleted');
    expect(plan.decisions.find((d) => d.tag === 'orphan')).toMatchObject({ keep: false, reason: 'the build cache of a branch whose image tag orphan is gone' });
    expect(plan.deletes.map((d) => d.digest).sort()).toEqual([dg('c2'), dg('c3')]);
  });
});
