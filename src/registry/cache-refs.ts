import type { BuildCache } from '../builder/driver.js';
import type { ImageConfig } from '../config/types.js';
import { parseImageRef, refInfo, tagKind, toImageTag } from '../images/tags.js';

/**
 * The repository a standalone BuildKit's `mode=max` cache goes to: beside the image, in its owner's namespace
 * (so usage counts it), and a path no image can have (image names hold no `/`), so it never meets a real tag.
 */
export const cacheRepository = (imageRepository: string): string => `${imageRepository}/buildcache`;

/**
 * Where one build's registry cache comes from and goes to: the cache follows the branch first, then the
 * default branch, so a builder that never built the repo, or a branch's first build, starts from what was
 * built before. Image references carry dockerd's inline cache: the build's own moving tags (its branch tag),
 * then `latest` (the default branch's newest build always has it). `mode=max` references are one tag per
 * branch in `cacheRepository`. Null when the build pushes nothing.
 */
export function buildCache(
  b: { ref: string; commitSha: string; id: number; imageRefs: string[] },
  image: ImageConfig,
  defaultBranch: string | null,
): BuildCache | null {
  const first = b.imageRefs[0];
  const ref = refInfo(b.ref);
  if (!first || !ref) return null;
  const { name: registryRepo, repository } = parseImageRef(first);
  const ctx = { ref, sha: b.commitSha, buildId: b.id, isDefaultBranch: ref.name === defaultBranch };
  const moving = b.imageRefs.filter((r) => {
    const p = parseImageRef(r);
    return p.repository === repository && p.tag !== null && p.tag !== 'latest' && tagKind(image.tags, ctx, p.tag) === 'moving';
  });
  const imageRefs = [...new Set([...moving, `${registryRepo}:latest`])];
  const cacheRepo = cacheRepository(registryRepo);
  const branchKey = toImageTag(ref.name) || 'unnamed';
  const cacheRefs = [...new Set([`${cacheRepo}:${branchKey}`, ...(defaultBranch ? [`${cacheRepo}:${toImageTag(defaultBranch) || 'unnamed'}`] : [])])];
  return { imageRefs, cacheRefs, exportRef: `${cacheRepo}:${branchKey}` };
}

/**
 * Whether a build imports the registry's cache, and the log line saying why. Importing costs every build a few
 * registry round trips (~0.25 s locally, ~0.6 s over TLS): worth it only where the builder's own cache is cold for
 * the image: the image's last successful build ran elsewhere (or never), another BuildKit answers at the builder's
 * address since (its `identity` changed: a buildkitd replaced with a new root), or the builder's cache was trimmed
 * or seen empty since (`prunedAt`). An unknown identity, now or then, counts as unchanged. A partial prune by hand
 * on the daemon is not seen: the next build there runs cold, once.
 */
export function cacheImport(p: {
  builder: string;
  image: string;
  prunedAt: number | undefined;
  identity: string | undefined;
  last: { builder: string; identity: string | null; finishedAt: string } | null;
}): { import: boolean; line: string } {
  const { builder, image, last } = p;
  const pruned = p.prunedAt !== undefined && last !== null && Date.parse(last.finishedAt) < p.prunedAt;
  const replaced = last?.builder === builder && !!last.identity && !!p.identity && last.identity !== p.identity;
  if (last?.builder === builder && !pruned && !replaced)
    return { import: false, line: `cache: ${builder} built ${image} last: its own cache is used, the registry's is not imported` };
  const why = !last
    ? `${builder} has not built ${image}`
    : last.builder !== builder
      ? `${image} was last built on ${last.builder}`
      : replaced
        ? `another BuildKit answers at ${builder} since it built ${image} (${last.identity}, now ${p.identity})`
        : `${builder}'s cache was trimmed since it built ${image}`; // by the driver, or found empty
  return { import: true, line: `cache: ${why}: importing the registry's cache` };
}
