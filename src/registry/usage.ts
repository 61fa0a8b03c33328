import type { UsageAnswer } from '../api/answers.js';
import type { InventoryStore } from '../store/inventory.js';
import type { Quotas } from './quota.js';

/** An owner's usage as the API answers it (DESIGN.md): bytes, quota (null: none), and per image. */
export type UsageView = UsageAnswer;

/** A tag of an owner's image, as the images page shows it. */
export interface ImageTag {
  tag: string;
  digest: string;
  /** The manifest's own size (its config and layers), whatever other images share. */
  bytes: number;
  pushedAt: string;
  /** The build that pushed it, or null (docker push). */
  buildId: number | null;
  /** What to run to pull it. */
  pull: string;
}

/**
 * Usage figures from the registry inventory, the same for the API, the CLI and the web pages: an owner's
 * bytes count each blob once however many images and tags share it; an image's count it once within it.
 */
export class UsageService {
  constructor(
    private inventory: InventoryStore,
    private quotas: Quotas,
    private registry: string,
  ) {}

  of(owner: string): UsageView {
    // A top-level repository named after the owner (pushed before such names were refused) is the image "".
    const images = this.inventory.repositoryUsage(owner).map((r) => ({ image: r.repository.slice(owner.length + 1), bytes: r.bytes, tags: r.tags }));
    return { owner, bytes: this.inventory.ownerBytes(owner), quota: this.quotas.quotaOf(owner), images };
  }

  /** Every image of `owner` with its tags, newest pushed first (only `images` when given). */
  tags(owner: string, images?: string[]): { image: string; tags: ImageTag[] }[] {
    const repositories = this.inventory.repositories(owner).filter((r) => !images || images.includes(r.slice(owner.length + 1)));
    return repositories
      .map((repository) => {
        const sizes = this.inventory.manifestSizes(repository);
        const tags = this.inventory
          .tagsOf(repository)
          .map((t) => ({
            tag: t.tag,
            digest: t.digest,
            bytes: sizes.get(t.digest) ?? 0,
            pushedAt: t.pushedAt,
            buildId: t.buildId,
            pull: `docker pull ${this.registry}/${repository}:${t.tag}`,
          }))
          .sort((a, b) => b.pushedAt.localeCompare(a.pushedAt) || a.tag.localeCompare(b.tag));
        return { image: repository.slice(owner.length + 1), tags };
      })
      .filter((i) => i.tags.length > 0);
  }
}
