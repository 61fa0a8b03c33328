import type { ImageConfig } from '../config/types.js';

/** A pushed ref as a build sees it. */
export interface RefInfo {
  /** Full ref, e.g. refs/heads/feature/x or refs/tags/v1.2. */
  ref: string;
  type: 'branch' | 'tag';
  /** The ref without refs/heads/ or refs/tags/. */
  name: string;
}

/** Only branches and tags build; other refs (notes, pull refs) return null. */
export function refInfo(ref: string): RefInfo | null {
  if (ref.startsWith('refs/heads/')) return { ref, type: 'branch', name: ref.slice('refs/heads/'.length) };
  if (ref.startsWith('refs/tags/')) return { ref, type: 'tag', name: ref.slice('refs/tags/'.length) };
  return null;
}

/**
 * A branch or tag name as an image tag (DESIGN.md): runs of characters outside [A-Za-z0-9._-] become one
 * `-`, leading `.` and `-` are dropped, and the result is cut to 128 characters.
 */
export function toImageTag(name: string): string {
  return name
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^[.-]+/, '')
    .slice(0, 128);
}

/** What the registry takes as a tag. */
export const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

export interface TagContext {
  ref: RefInfo;
  sha: string;
  buildId: number;
  isDefaultBranch: boolean;
}

/**
 * The tags one build pushes: the image's templates rendered, plus `latest` on the default branch. A template
 * whose placeholder is empty here ({tag} on a branch push) is left out; duplicates are dropped.
 */
export function renderTags(templates: readonly string[], ctx: TagContext): string[] {
  const values: Record<string, string> = {
    // On a tag push {branch} is the tag's name, so the default templates tag a release `v1.2` as `v1.2`.
    branch: toImageTag(ctx.ref.name),
    sha: ctx.sha,
    short_sha: ctx.sha.slice(0, 12),
    tag: ctx.ref.type === 'tag' ? toImageTag(ctx.ref.name) : '',
    build: String(ctx.buildId),
  };
  const out = new Set<string>();
  for (const t of templates) {
    let empty = false;
    const tag = t.replace(/\{([a-z_]+)\}/g, (_, k: string) => {
      const v = values[k] ?? '';
      if (v === '') empty = true;
      return v;
    });
    if (!empty && TAG_RE.test(tag)) out.add(tag);
  }
  if (ctx.isDefaultBranch && ctx.ref.type === 'branch') out.add('latest');
  return [...out];
}

/** The full references one build pushes: `<registry>/<owner>/<image>:<tag>` for each rendered tag. */
export function imageRefs(
  registry: string,
  b: { id: number; owner: string; ref: string; commitSha: string },
  image: ImageConfig,
  defaultBranch: string | null,
): string[] {
  const ref = refInfo(b.ref);
  if (!ref) return [];
  const tags = renderTags(image.tags, { ref, sha: b.commitSha, buildId: b.id, isDefaultBranch: ref.name === defaultBranch });
  return tags.map((t) => `${registry}/${b.owner}/${image.name}:${t}`);
}

/** The OCI labels every image carries (DESIGN.md). */
export function imageLabels(p: { sha: string; sourceUrl: string; refName: string; buildId: number; created: Date }): Record<string, string> {
  return {
    'org.opencontainers.image.revision': p.sha,
    'org.opencontainers.image.source': p.sourceUrl,
    'org.opencontainers.image.created': p.created.toISOString(),
    'org.opencontainers.image.ref.name': p.refName,
    'dev.codehub.build.id': String(p.buildId),
  };
}

/** The labels of an uploaded folder's image: no commit or repo to name, so the folder and the build instead. */
export function uploadLabels(p: { folder: string; buildId: number; created: Date }): Record<string, string> {
  return {
    'org.opencontainers.image.created': p.created.toISOString(),
    'dev.codehub.build.id': String(p.buildId),
    'dev.codehub.build.upload': p.folder,
  };
}

/**
 * An image reference `host[:port]/path[:tag]` in parts: `name` is everything before the tag (what a push
 * names), `repository` the path inside the registry, `tag` null when there is none.
 */
export function parseImageRef(ref: string): { name: string; repository: string; tag: string | null } {
  const i = ref.lastIndexOf(':');
  const tagged = i > ref.lastIndexOf('/');
  const name = tagged ? ref.slice(0, i) : ref;
  return { name, repository: name.slice(name.indexOf('/') + 1), tag: tagged ? ref.slice(i + 1) : null };
}

/**
 * Splits a build's references into the one BuildKit pushes and the rest, which point at the same manifest
 * by a registry manifest PUT each (`Tagger`): a BuildKit client pushes tag after tag, walking every layer
 * again for each. Only tags in the same repository as the first can be added that way; others stay with BuildKit.
 */
export function splitRefs(refs: readonly string[]): { push: string[]; repository: string; extraTags: string[] } {
  const [first, ...rest] = refs;
  if (!first) return { push: [], repository: '', extraTags: [] };
  const head = parseImageRef(first);
  const push = [first];
  const extraTags: string[] = [];
  for (const r of rest) {
    const p = parseImageRef(r);
    if (p.tag !== null && p.name === head.name) extraTags.push(p.tag);
    else push.push(r);
  }
  return { push, repository: head.repository, extraTags };
}

/**
 * Whether a tag a build pushed names that one commit or build (its template has {sha}, {short_sha} or
 * {build}: retention keeps it while git names the commit) or moves on with the branch ({branch}, {tag},
 * `latest`, fixed text).
 */
export function tagKind(templates: readonly string[], ctx: TagContext, tag: string): 'commit' | 'moving' {
  for (const t of templates) {
    if (/\{(sha|short_sha|build)\}/.test(t) && renderTags([t], { ...ctx, isDefaultBranch: false }).includes(tag)) return 'commit';
  }
  return 'moving';
}
