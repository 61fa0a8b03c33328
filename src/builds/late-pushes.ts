import { headsOf, ZERO_SHA } from '../git/read.js';
import type { RepoStore } from '../git/repos.js';
import type { Logger } from '../log.js';
import type { HeadStore } from '../store/heads.js';
import type { Store } from '../store/store.js';
import { isNoSpace } from '../util/disk.js';
import type { Push, PushResult, RefUpdate } from './enqueue.js';

export interface LatePushesDeps {
  store: Store;
  heads: HeadStore;
  repos: RepoStore;
  log: Logger;
  /** Records a push as the post-receive hook's report does (BuildService.push: one at a time per repo). */
  push: (p: Push) => Promise<PushResult>;
  /** How often to look; 0: only when asked (`runOnce`). */
  intervalMs: number;
  /**
   * How long a ref must have stood where it is before it counts as unreported: the hook's report of a push
   * that just landed may still be on its way, and the pusher should see that push's answer, not this.
   */
  graceMs?: number;
}

export interface LatePushesResult {
  /** Repos looked at. */
  repos: number;
  /** Repos whose unreported ref changes were recorded as a push now. */
  recorded: number;
  /** Repos made before heads were recorded, taken as they are (nothing built). */
  adopted: number;
  /** Repos that could not be recorded now (a full disk, say): tried again next time. */
  failed: number;
}

const DEFAULT_GRACE_MS = 10_000;

/**
 * "An accepted push never loses its builds", whatever happened to the hook's report of it: git had moved the
 * ref, then the server could not record the builds (a full disk: "database or disk is full"), crashed, or
 * never got the request. The repo on disk is the truth: at start and on a schedule each repo's branches and
 * tags are compared with where their last recorded push left them (recorded_heads), and what differs is
 * recorded as a push of the repo's owner, through the same path as the hook's. A report that arrives after
 * all builds nothing twice (enqueue.ts notYetRecorded).
 */
export class LatePushes {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;
  private failing = false;

  constructor(private deps: LatePushesDeps) {}

  /**
   * Looks at once, then every `intervalMs`. The first look ignores the grace: no report can be on its way from
   * before this process started, so every difference then is one that was lost.
   */
  start(): void {
    this.tick(Number.POSITIVE_INFINITY);
  }

  /** Stops the schedule and waits for a look in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  private tick(now?: number): void {
    this.running = this.runOnce(now).then(() => {
      this.running = null;
      if (this.stopped || this.deps.intervalMs <= 0) return;
      this.timer = setTimeout(() => this.tick(), this.deps.intervalMs);
      this.timer.unref();
    });
  }

  /** One look at every repo; never rejects (a repo that fails is counted, logged once a streak, and tried next time). */
  async runOnce(now?: number): Promise<LatePushesResult> {
    const result: LatePushesResult = { repos: 0, recorded: 0, adopted: 0, failed: 0 };
    let firstError: unknown = null;
    for (const { owner, repo } of await this.deps.repos.list()) {
      if (this.stopped) break;
      result.repos++;
      try {
        const done = await this.checkRepo(owner, repo, now ?? Date.now());
        if (done === 'recorded') result.recorded++;
        if (done === 'adopted') result.adopted++;
      } catch (e) {
        result.failed++;
        firstError ??= e;
      }
    }
    // While the disk stays full every run fails the same way: said once when it starts and once when it ends.
    if (firstError && !this.failing) {
      this.deps.log.warn('could not record pushes git accepted; trying again on the next check', {
        failed: result.failed,
        ...(isNoSpace(firstError) ? { cause: 'the data dir is full' } : { err: firstError }),
      });
    } else if (!firstError && this.failing) this.deps.log.info('unreported pushes can be recorded again');
    this.failing = firstError !== null;
    return result;
  }

  private async checkRepo(owner: string, repo: string, now: number): Promise<'recorded' | 'adopted' | 'same'> {
    const heads = await headsOf(this.deps.repos.path(owner, repo));
    const row = this.deps.store.repos.byName(owner, repo);
    if (row && !row.headsTracked) {
      this.deps.heads.adopt(
        row.id,
        [...heads].map(([ref, h]) => ({ ref, new: h.sha })),
      );
      return 'adopted';
    }
    const recorded = row ? this.deps.heads.of(row.id) : new Map<string, string>();
    const grace = this.deps.graceMs ?? DEFAULT_GRACE_MS;
    const updates: RefUpdate[] = [];
    for (const [ref, h] of heads) {
      const was = recorded.get(ref);
      if (was !== h.sha && now - h.changedAtMs >= grace) updates.push({ ref, old: was ?? ZERO_SHA, new: h.sha });
    }
    for (const [ref, sha] of recorded) if (!heads.has(ref)) updates.push({ ref, old: sha, new: ZERO_SHA });
    if (updates.length === 0) return 'same';
    const r = await this.deps.push({ owner, repo, pusher: owner, updates, options: [] });
    this.deps.log.warn('push recorded late: git had accepted it, but its report never got through', {
      repo: `${owner}/${repo}`,
      refs: updates.map((u) => `${u.ref} ${u.old.slice(0, 12)}..${u.new.slice(0, 12)}`),
      builds: r.builds.map((b) => b.id),
    });
    return 'recorded';
  }
}
