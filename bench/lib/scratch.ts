/**
 * What a benchmark section makes under the temporary folder (work repos, server data dirs, docker configs,
 * bare repos), removed in the section's `finally` (the large-repo case once left 400 MB repos behind). Only
 * what was handed to it is removed: tests running beside the benchmark make folders with the same prefixes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export class Scratch {
  private paths: string[] = [];

  /** A new folder under the temporary folder, removed with the rest. */
  dir(prefix: string): string {
    return this.add(mkdtempSync(join(tmpdir(), prefix)));
  }

  /** A path made elsewhere (a docker config folder, a file), removed with the rest. */
  add(path: string): string {
    this.paths.push(path);
    return path;
  }

  /** A work repo (test/helpers/git.ts), its folder removed with the rest. */
  repo<T extends { dir: string }>(r: T): T {
    this.add(r.dir);
    return r;
  }

  /** Removes everything handed to it, newest first; after the servers using them have stopped. */
  remove(): void {
    for (const p of this.paths.reverse()) rmSync(p, { recursive: true, force: true });
    this.paths = [];
  }
}
