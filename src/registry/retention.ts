/**
 * Retention that knows git: which tags of one registry repository stay and which go, and how to remove
 * exactly those on Registry 2.8 (which deletes by manifest digest, taking every tag on it). Pure: the facts
 * come in, a plan comes out; retention-facts.ts gathers the facts; gc.ts carries the plan out.
 *
 * The rules (DESIGN.md "Registry operations"), for each tag, first match wins:
 *  - a branch's build cache (`<image>/buildcache:<branch tag>`) is judged as the image's tag of that name: it
 *    follows the branch, and goes at once if the image has no such tag;
 *  - `latest` stays; a tag on a tombstone manifest (left by an interrupted gc) goes; a tag no build of a commit
 *    pushed (docker push, an uploaded folder's build) stays: retention removes only what it can account for;
 *  - a git-tag build's tags stay while the git tag exists, and go `grace` after it was deleted;
 *  - a commit tag (rendered from {sha}, {short_sha} or {build}) stays while a live branch head or git tag
 *    names its commit;
 *  - a branch build's tags go `grace` after the branch was deleted; until then, and while it lives: its
 *    moving tags (the branch tag) stay, the newest build's tags stay, then the newest `keep` builds' and
 *    every tag pushed within `days`.
 * A manifest whose tags all go is deleted (with any untagged manifest the inventory knows and no kept index
 * lists); a tag that goes from a manifest that stays is removed alone, through a tombstone.
 */

export interface Policy {
  /** Builds per branch whose tags stay, newest first. */
  keep: number;
  /** Tags pushed within this many days stay. */
  days: number;
}

export interface TagFacts {
  tag: string;
  digest: string;
  pushedAt: string;
  /** The build of a commit that pushed it; null when another client (docker push) or an upload's build did. */
  build: null | {
    id: number;
    /** The git repo, owner/name. */
    repo: string;
    refType: 'branch' | 'tag';
    refName: string;
    commit: string;
    /** `commit` when the tag names one commit or build ({sha}, {short_sha}, {build}); `moving` otherwise ({branch}, {tag}, fixed text). */
    kind: 'commit' | 'moving';
  };
  /**
   * A standalone BuildKit's `mode=max` cache of one branch (`<image>/buildcache:<branch tag>`), given the facts of
   * the build that pushed the image's tag of the same name: it goes when that tag would (grace after its branch
   * was deleted), and at once when the image has no such tag any more.
   */
  cache?: boolean;
}

/** A git repo's refs as gc found them. */
export interface GitFacts {
  /** Live branch name -> head commit. */
  branches: Map<string, string>;
  /** Live git tag name -> the commit it names. */
  tags: Map<string, string>;
  /** Deleted ref (refs/heads/x, refs/tags/x) -> when it was deleted (ISO). */
  deletedAt: Map<string, string>;
}

export interface ManifestFacts {
  digest: string;
  /** Manifests an index lists. */
  children: string[];
  tombstone: boolean;
}

export interface RetentionInput {
  repository: string;
  tags: TagFacts[];
  /** The manifests the inventory knows in this repository, tagged or not. */
  manifests: ManifestFacts[];
  git: (repo: string) => GitFacts;
  policy: (repo: string) => Policy;
  graceMs: number;
  now: number;
}

export interface TagDecision {
  tag: string;
  digest: string;
  keep: boolean;
  reason: string;
}

export interface ManifestRemoval {
  digest: string;
  /** The tags that go with it (every one of its tags: all of them are tags to remove). */
  tags: string[];
  reason: string;
}

export interface RetentionPlan {
  repository: string;
  decisions: TagDecision[];
  /** Manifests to delete by digest, an index before the manifests it lists. */
  deletes: ManifestRemoval[];
  /** Tags to remove one at a time: their manifest stays for a kept tag or a kept index. */
  tombstones: TagDecision[];
}

const DAY = 86_400_000;
const date = (iso: string) => iso.slice(0, 16).replace('T', ' ') + ' UTC';
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

export function planRetention(input: RetentionInput): RetentionPlan {
  const ranks = rankBuilds(input.tags);
  const tombstones = new Set(input.manifests.filter((m) => m.tombstone).map((m) => m.digest));
  const decisions = input.tags.map((t) => decide(t, input, ranks, tombstones.has(t.digest)));
  return planRemovals(input.repository, decisions, input.manifests);
}

/**
 * How to carry out tag decisions exactly: the manifests to delete (those no kept tag and no kept index
 * needs, untagged ones included) and the tags to remove alone. Also what removes one tag by hand.
 */
export function planRemovals(repository: string, decisions: TagDecision[], known: ManifestFacts[]): RetentionPlan {
  const manifests = new Map(known.map((m) => [m.digest, m]));
  for (const d of decisions) if (!manifests.has(d.digest)) manifests.set(d.digest, { digest: d.digest, children: [], tombstone: false });
  // An index's platforms are manifests of the repository too, though the inventory keeps them only as its children:
  // they go with the last index that lists them, or the registry keeps them (and every layer) untagged for good.
  for (const m of [...manifests.values()]) for (const c of m.children) if (!manifests.has(c)) manifests.set(c, { digest: c, children: [], tombstone: false });
  // A manifest stays when a kept tag points at it or a manifest that stays lists it (an index's platforms).
  const stays = new Set(decisions.filter((d) => d.keep).map((d) => d.digest));
  const queue = [...stays];
  while (queue.length) {
    for (const child of manifests.get(queue.pop()!)?.children ?? []) {
      if (!stays.has(child)) {
        stays.add(child);
        queue.push(child);
      }
    }
  }

  const tagsOf = new Map<string, TagDecision[]>();
  for (const d of decisions) {
    const list = tagsOf.get(d.digest);
    if (list) list.push(d);
    else tagsOf.set(d.digest, [d]);
  }
  const listedBy = new Map<string, string>();
  for (const m of manifests.values()) for (const c of m.children) if (!stays.has(m.digest)) listedBy.set(c, m.digest);

  const deletes: ManifestRemoval[] = [];
  for (const m of manifests.values()) {
    if (stays.has(m.digest)) continue;
    const tags = tagsOf.get(m.digest) ?? [];
    const reason =
      tags[0]?.reason ??
      (m.tombstone
        ? 'a tombstone left by an interrupted gc'
        : listedBy.has(m.digest)
          ? `listed only by ${listedBy.get(m.digest)!.slice(0, 19)}, which goes`
          : 'untagged: its tags moved to newer builds');
    deletes.push({ digest: m.digest, tags: tags.map((t) => t.tag).sort(), reason });
  }
  // An index goes before the manifests it lists, so nothing is ever left pointing at a missing manifest.
  deletes.sort((a, b) => Number(listedBy.has(a.digest)) - Number(listedBy.has(b.digest)) || a.digest.localeCompare(b.digest));
  return { repository, decisions, deletes, tombstones: decisions.filter((d) => !d.keep && stays.has(d.digest)) };
}

/** Per (git repo, branch): the builds that still own tags here, newest first; a build's rank is its index. */
function rankBuilds(tags: TagFacts[]): Map<string, number[]> {
  const lines = new Map<string, Set<number>>();
  for (const t of tags) {
    if (t.build?.refType !== 'branch') continue;
    const key = `${t.build.repo}\0${t.build.refName}`;
    let ids = lines.get(key);
    if (!ids) lines.set(key, (ids = new Set()));
    ids.add(t.build.id);
  }
  return new Map([...lines].map(([k, ids]) => [k, [...ids].sort((a, b) => b - a)]));
}

function decide(t: TagFacts, input: RetentionInput, ranks: Map<string, number[]>, onTombstone: boolean): TagDecision {
  const keep = (reason: string): TagDecision => ({ tag: t.tag, digest: t.digest, keep: true, reason });
  const drop = (reason: string): TagDecision => ({ tag: t.tag, digest: t.digest, keep: false, reason });
  if (t.tag === 'latest') return keep('latest');
  if (onTombstone) return drop('a tombstone left by an interrupted gc');
  const b = t.build;
  if (!b && t.cache) return drop(`the build cache of a branch whose image tag ${t.tag} is gone`);
  if (!b) return keep('not pushed by a build of a commit (docker push, codehub-build build): never removed by retention');
  const git = input.git(b.repo);

  if (b.kind === 'commit') {
    for (const [branch, head] of git.branches) if (head === b.commit) return keep(`commit ${b.commit.slice(0, 12)} is the head of ${b.repo} branch ${branch}`);
    for (const [tag, commit] of git.tags) if (commit === b.commit) return keep(`commit ${b.commit.slice(0, 12)} is ${b.repo} git tag ${tag}`);
  }

  const ref = `refs/${b.refType === 'tag' ? 'tags' : 'heads'}/${b.refName}`;
  const live = b.refType === 'tag' ? git.tags.has(b.refName) : git.branches.has(b.refName);
  const what = `${b.refType === 'tag' ? 'git tag' : 'branch'} ${b.refName}`;
  let grace = '';
  if (!live) {
    const deleted = git.deletedAt.get(ref) ?? new Date(input.now).toISOString();
    const until = Date.parse(deleted) + input.graceMs;
    if (input.now >= until)
      return drop(`${what} was deleted ${date(deleted)}${input.graceMs ? `; its grace ended ${date(new Date(until).toISOString())}` : ''}`);
    grace = ` (deleted ${date(deleted)}; kept until ${date(new Date(until).toISOString())})`;
  }
  if (b.refType === 'tag') return keep(`${what}${grace}`);
  if (b.kind === 'moving') return keep(`the tag of ${what}${grace}`);

  const rank = ranks.get(`${b.repo}\0${b.refName}`)!.indexOf(b.id);
  const policy = input.policy(b.repo);
  if (rank === 0) return keep(`the newest build of ${what}${grace}`);
  if (rank < policy.keep) return keep(`one of the ${policy.keep} newest builds of ${what}${grace}`);
  const age = input.now - Date.parse(t.pushedAt);
  if (age < policy.days * DAY) return keep(`pushed within ${plural(policy.days, 'day')}${grace}`);
  return drop(
    `older than the ${plural(policy.keep, 'newest build')} of ${what} and pushed ${plural(Math.floor(age / DAY), 'day')} ago (keep ${policy.keep}, days ${policy.days})`,
  );
}
