import type { ImageConfig } from '../config/types.js';
import { ConflictError, NotFoundError } from '../errors.js';
import type { Logger } from '../log.js';
import type { LogStore } from '../logs/store.js';
import { isPush, type Build, type PushBuild } from '../store/schema.js';
import type { Store } from '../store/store.js';
import { enqueuePush, type EnqueueDeps, type Push, type PushResult } from './enqueue.js';
import type { Runner } from './runner.js';
import { imageRefs } from '../images/tags.js';
import { KeyedLock } from '../util/keyed-lock.js';

export interface BuildServiceDeps extends EnqueueDeps {
  store: Store;
  logs: LogStore;
  runner: Runner;
  log: Logger;
  /** Called for builds that end without running (skipped, config errors, canceled while queued). */
  onEnded?: (b: Build) => void;
  /** Called for every build a push or rebuild records, before any of them ends (commit statuses: `pending`). */
  onRecorded?: (b: PushBuild) => void;
}

/** What routes may do to builds: record a push, cancel, rebuild. Each keeps store, logs and runner in step. */
export class BuildService {
  constructor(private deps: BuildServiceDeps) {}

  /** One push recorded at a time per repo: the hook's report and the late-push check may carry the same one. */
  private pushLock = new KeyedLock();

  /** Records a push's builds, cancels what they supersede, and wakes the runner. */
  async push(push: Push): Promise<PushResult> {
    const result = await this.pushLock.run(`${push.owner}/${push.repo}`, () => enqueuePush(this.deps, push));
    for (const b of result.builds) this.deps.onRecorded?.(b);
    for (const b of result.builds) {
      if (b.status !== 'queued') {
        this.deps.onEnded?.(b);
        continue;
      }
      for (const old of await this.supersede(b))
        result.lines.push(`  build #${old.id} (${old.commitSha.slice(0, 7)}) was ${old.status} and is canceled: superseded by #${b.id}`);
    }
    this.deps.runner.notify();
    return result;
  }

  /** Cancels a queued or running build; resolves once a running one's client has stopped. */
  async cancel(id: number, by: string): Promise<Build> {
    const reason = `canceled by ${by}`;
    const before = this.deps.store.queue.cancel(id, reason);
    if (!before) throw new NotFoundError(`no build #${id}`);
    if (before.status !== 'queued' && before.status !== 'running') throw new ConflictError(`build #${id} already ended: ${before.status}`);
    await this.stopped(before, reason);
    this.deps.log.info('build canceled', { build: id, by, was: before.status });
    return this.deps.store.builds.byId(id)!;
  }

  /** Queues the same commit and resolved config again, as a new build by `by`. */
  async rebuild(id: number, by: string): Promise<Build> {
    const b = this.deps.store.builds.byId(id);
    if (!b) throw new NotFoundError(`no build #${id}`);
    // The upload's files may be gone from the server, and its secrets were never kept: the workspace has both.
    if (!isPush(b))
      throw new ConflictError(
        `build #${id} built an uploaded folder (${b.uploadFolder}), which the server does not keep: run codehub-build build in that folder again`,
      );
    if (!b.config) throw new ConflictError(`build #${id} has no resolved image config to run again (${b.reason ?? b.status}); fix the cause and push`);
    const image = b.config as unknown as ImageConfig;
    const repo = this.deps.store.repos.ensure(b.owner, b.repo.slice(b.owner.length + 1));
    const verdict = this.deps.quota ? await this.deps.quota.check(b.repo) : null;
    const over = verdict?.over ? { status: 'failed' as const, reason: verdict.reason, reasonCode: 'quota', finishedAt: new Date().toISOString() } : null;
    const [nb] = this.deps.store.builds.insert(
      [
        {
          repoId: b.repoId,
          repo: b.repo,
          owner: b.owner,
          ref: b.ref,
          refType: b.refType,
          refName: b.refName,
          commitSha: b.commitSha,
          image: b.image,
          config: b.config,
          status: 'queued',
          pusher: by,
          ...over,
        },
      ],
      (row: PushBuild) => imageRefs(this.deps.registry, row, image, repo.defaultBranch),
    );
    await this.deps.logs.append(nb!.id, [`build #${nb!.id} is a rebuild of #${id}, requested by ${by}`, ...(over ? [over.reason] : [])]);
    this.deps.onRecorded?.(nb!);
    if (over) {
      this.deps.onEnded?.(nb!);
      return nb!;
    }
    await this.supersede(nb!);
    this.deps.runner.notify();
    return nb!;
  }

  /** Cancels the older builds of `b`'s branch and image, unless its config opts out. Returns them as they were. */
  private async supersede(b: PushBuild): Promise<PushBuild[]> {
    if ((b.config as unknown as ImageConfig | null)?.cancelSuperseded === false) return [];
    const older = this.deps.store.queue.supersede(b);
    const reason = `superseded by #${b.id}`;
    await Promise.all(older.map((o) => this.stopped(o, reason)));
    if (older.length) this.deps.log.info('builds superseded', { by: b.id, builds: older.map((o) => o.id) });
    return older;
  }

  /** After a build's record says canceled: a queued one gets a log line, a running one's solve is stopped. */
  private async stopped(before: Build, reason: string): Promise<void> {
    if (before.status === 'queued') {
      await this.deps.logs.append(before.id, [`--- canceled before it started: ${reason}`]);
      this.deps.onEnded?.(this.deps.store.builds.byId(before.id)!);
    } else if (before.status === 'running') await this.deps.runner.cancel(before.id, reason);
  }
}
