/**
 * Removes the images a docker-driver build leaves in dockerd's image store (they are already in the
 * registry), once the builder has been idle for `idleMs`, so the disk does not fill. Not sooner: a tag (the
 * commit sha) may be shared by builds running at the same time, and removing it under one of them fails its
 * push; and a build started right after an image removal was seen to fail with "no local sources enabled"
 * (then retried as an infrastructure error), so pruning waits for a quiet moment, and builds starting
 * during a prune wait for it to finish.
 */
export class IdlePruner {
  private inFlight = 0;
  private tags = new Set<string>();
  private pruning: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;

  /** `remove` deletes the given image references from the store; its failures are its own to report. */
  constructor(private remove: (tags: string[]) => Promise<void>, private idleMs = 30_000) {}

  /** Runs one build's work, counted as activity; the images it names with `add` are pruned after it. */
  async around<T>(work: () => Promise<T>): Promise<T> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    while (this.pruning) await this.pruning;
    this.inFlight++;
    try {
      return await work();
    } finally {
      if (--this.inFlight === 0 && this.tags.size) {
        this.timer = setTimeout(() => { this.timer = null; if (this.inFlight === 0) this.pruning = this.prune(); }, this.idleMs);
        this.timer.unref();
      }
    }
  }

  add(tags: readonly string[]): void {
    for (const t of tags) this.tags.add(t);
  }

  /** Image references waiting to be removed. */
  get pending(): number {
    return this.tags.size;
  }

  private async prune(): Promise<void> {
    const tags = [...this.tags];
    this.tags.clear();
    try {
      await this.remove(tags);
    } finally {
      this.pruning = null;
    }
  }
}
