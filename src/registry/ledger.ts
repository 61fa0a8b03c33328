import type { BlobRef } from '../store/inventory.js';

/** What an owner's namespace holds before gc removes anything (gc.ts GarbageCollector.snapshot). */
export interface Snapshot {
  /** Repository -> the digests of its tagged manifests. */
  tagged: Map<string, Set<string>>;
  /** Repository -> manifest digest -> the blobs it lists. */
  blobs: Map<string, Map<string, BlobRef[]>>;
}

/** A removal as the ledger reads it (gc.ts's Removal): its `bytes` are what the ledger fills in. */
export interface Counted {
  repository: string;
  digest: string;
  how: 'delete' | 'tombstone';
  bytes: number;
}

/**
 * What an owner's removals free, step by step: a blob is freed by the removals that leave no tagged
 * manifest of the owner's (in any repository) needing it, and is counted once, with the first of them
 * that needed it. Summed, the removals' bytes are the fall in the owner's usage plus what untagged manifests
 * alone held.
 */
export class Ledger {
  private deleted = new Set<string>();
  private counted = new Set<string>();

  constructor(private s: Snapshot) {}

  /** Records removals (one repository's) and fills in their bytes. */
  add(removals: Counted[]): void {
    for (const r of removals) if (r.how === 'delete') this.deleted.add(`${r.repository}@${r.digest}`);
    const needed = this.needed(true);
    const seen = new Set<string>();
    for (const r of removals) {
      const key = `${r.repository}@${r.digest}`;
      if (r.how !== 'delete' || seen.has(key)) continue;
      seen.add(key);
      for (const b of this.s.blobs.get(r.repository)?.get(r.digest) ?? []) {
        if (needed.has(b.digest) || this.counted.has(b.digest)) continue;
        this.counted.add(b.digest);
        r.bytes += b.size;
      }
    }
  }

  /** The owner's usage before the run and after what was recorded. */
  usage(): { before: number; after: number } {
    const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
    return { before: sum(this.needed(false)), after: sum(this.needed(true)) };
  }

  /** Blobs the tagged manifests need (those still there, with `remaining`), digest -> size. */
  private needed(remaining: boolean): Map<string, number> {
    const out = new Map<string, number>();
    for (const [repository, digests] of this.s.tagged) {
      for (const d of digests) {
        if (remaining && this.deleted.has(`${repository}@${d}`)) continue;
        for (const b of this.s.blobs.get(repository)?.get(d) ?? []) out.set(b.digest, b.size);
      }
    }
    return out;
  }
}
