/**
 * Removes the images a docker-driver build leaves in dockerd's image store (they are already in the
 * registry), once the builder has been idle for `idleMs`, so the disk does not fill. Not sooner: a tag (the
 * commit sha) may be shared by builds running at the same time, and removing it under one of them fails its
 * push; and a build started right after an image removal was seen to fail with "no local sources enabled"
 * (then retried as an infrastructure error), so pruning waits for a quiet moment, and builds starting
 * during a prune wait for it to finish. Besides tags, a driver may hand it image IDs (images of earlier builds
 * whose tags a build moved on, left `<none>`): removing a tag never reaches those, so they are removed by ID
 * at the same quiet moment.
 */
export class IdlePruner {
  private inFlight = 0;
  private tags = new Set<string>();
  private images = new Set<string>();
  private pruning: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;

  /**
   * `remove` deletes the given image references from the store, then the given image IDs (each only if it is
   * still what it was handed over as: the driver checks); its failures are its own to report.
   */
  constructor(
    private remove: (tags: string[], images: string[]) => Promise<void>,
    private idleMs = 30_000,
  ) {}

  /** Runs one build's work, counted as activity; the images it names with `add` are pruned after it. */
  async around<T>(work: () => Promise<T>): Promise<T> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    while (this.pruning) await this.pruning;
    this.inFlight++;
    try {
      return await work();
    } finally {
      if (--this.inFlight === 0 && this.pending) {
        this.timer = setTimeout(() => {
          this.timer = null;
          if (this.inFlight === 0) this.pruning = this.prune();
        }, this.idleMs);
        this.timer.unref();
      }
    }
  }

  /** Image references to remove, and image IDs (of images left untagged by this build) to remove by ID. */
  add(tags: readonly string[], images: readonly string[] = []): void {
    for (const t of tags) this.tags.add(t);
    for (const i of images) this.images.add(i);
  }

  /** Image references and IDs waiting to be removed. */
  get pending(): number {
    return this.tags.size + this.images.size;
  }

  private async prune(): Promise<void> {
    const tags = [...this.tags];
    const images = [...this.images];
    this.tags.clear();
    this.images.clear();
    try {
      await this.remove(tags, images);
    } finally {
      this.pruning = null;
    }
  }
}
