/**
 * The manifest check of an upload build (src/uploads/manifest.ts) at the largest context the server takes:
 * MAX_UPLOAD_ENTRIES entries, validated and sorted into fsutil's order in the request that brings them. A
 * figure, not a unit test: its time depends on the machine.
 */
import { createHash } from 'node:crypto';
import { MODE_DIR } from '../src/context/tree.js';
import { MAX_UPLOAD_ENTRIES, type ManifestEntry, validateManifest } from '../src/uploads/manifest.js';
import { stats, type Stats } from './lib/stats.js';

export interface ManifestResult {
  entries: number;
  ms: Stats;
}

/** 200 folders of 999 files each, listed in reverse order (the sort has all the work), validated `runs` times after a warm-up. */
export function manifestBench(runs: number): ManifestResult {
  const sha = createHash('sha256').update('x').digest('hex');
  const entries: ManifestEntry[] = [];
  for (let a = 0; a < 200; a++) {
    entries.push({ path: `d${a}`, mode: (MODE_DIR | 0o755) >>> 0, size: 0 });
    for (let b = 0; b < 999; b++) entries.push({ path: `d${a}/f${b}.ts`, mode: 0o644, size: 1, sha256: sha });
  }
  entries.reverse();
  if (entries.length !== MAX_UPLOAD_ENTRIES) throw new Error(`${entries.length} entries, not the limit ${MAX_UPLOAD_ENTRIES}`);
  const once = (): number => {
    const t0 = performance.now();
    const r = validateManifest({ entries }, { maxBytes: 512 * 1024 * 1024 });
    const ms = performance.now() - t0;
    if (!r.ok || r.manifest.entries.length !== entries.length)
      throw new Error(`the manifest did not validate: ${r.ok ? 'entries lost' : r.problems.slice(0, 3).join('; ')}`);
    return ms;
  };
  once();
  return { entries: entries.length, ms: stats(Array.from({ length: runs }, once)) };
}
