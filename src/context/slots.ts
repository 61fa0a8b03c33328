/**
 * Shared keys for BuildKit's kept context snapshots, one build at a time per key. A build under a key whose
 * snapshot another build holds gets an empty one and re-sends everything (BuildKit cannot take a snapshot in
 * use), so two concurrent builds of one repo take two keys: `<base>#0`, `<base>#1`, each kept warm on its own.
 */
export class SnapshotSlots {
  private busy = new Map<string, Set<number>>();

  /** The lowest free key for `base`; release() gives it back (once). */
  take(base: string): { key: string; release(): void } {
    let used = this.busy.get(base);
    if (!used) this.busy.set(base, (used = new Set()));
    let slot = 0;
    while (used.has(slot)) slot++;
    used.add(slot);
    let released = false;
    return {
      key: `${base}#${slot}`,
      release: () => {
        if (released) return;
        released = true;
        used.delete(slot);
        if (used.size === 0) this.busy.delete(base);
      },
    };
  }
}
