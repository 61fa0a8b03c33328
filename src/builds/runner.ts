import type { BuilderDriver, BuildOutcome, PlatformImage } from '../builder/driver.js';
import type { BuilderPool } from '../builder/pool.js';
import type { ImageConfig } from '../config/types.js';
import type { RepoStore } from '../git/repos.js';
import type { Logger } from '../log.js';
import type { LogStore, LogWriter } from '../logs/store.js';
import { cacheHits, type BuildMetrics } from '../metrics.js';
import { isPush, TERMINAL_STATUSES, type Build, type BuildStep } from '../store/schema.js';
import { collectInsight, type InsightDeps } from '../insight/collect.js';
import type { StoredInsight } from '../insight/types.js';
import type { RawManifest } from '../registry/client.js';
import type { UploadStore } from '../store/uploads.js';
import type { BlobStore } from '../uploads/blobs.js';
import type { HeldSecrets } from '../uploads/held-secrets.js';
import type { Store } from '../store/store.js';
import { removeWorkDirs, stopOrphans } from './orphans.js';
import { isNoSpace } from '../util/disk.js';
import { failureFields, RepeatedFailure } from '../util/repeated-failure.js';
import { masker, secretValues } from '../logs/mask.js';
import { decideOutcome, needsRegistryCheck } from './outcome.js';
import { resolveArgs, type Resolved } from './build-args.js';
import { resolveSecrets } from './build-secrets.js';
import { writeEnd } from './end-write.js';
import type { ManifestWriter } from '../registry/manifests.js';
import { type Executed, type ExecuteDeps, executeBuild, type RegistryCredentials, type Tagger } from './execute.js';
import { parseImageRef } from '../images/tags.js';
import type { SecretSource } from '../secrets/source.js';

export interface RetryPolicy {
  /** Attempts a build gets in all: after an infrastructure error, or after the server died during it. */
  maxAttempts: number;
  /** Back-off before attempt n+1 is baseMs * 2^(n-1), at most 5 minutes. */
  baseMs: number;
}

export interface RunnerDeps {
  store: Store;
  repos: RepoStore;
  logs: LogStore;
  pool: BuilderPool;
  secrets: SecretSource;
  tagger: Tagger;
  /** Writes the index of a multi-platform image built one platform at a time (src/builds/platforms.ts); absent, such a build fails saying so. */
  manifests?: ManifestWriter;
  /** With registry token auth: makes each build a credential for exactly the repositories it pushes. */
  registryCredentials?: RegistryCredentials;
  log: Logger;
  metrics: BuildMetrics;
  publicUrl: string;
  /** Marks this server's client processes (the data dir's identity), for finding orphans after a crash. */
  instance: string;
  maxBuilds: number;
  defaultTimeoutMs: number;
  retry: RetryPolicy;
  /** Called after a build reached a terminal state (not after a retry or a shutdown). */
  onEnded?: (b: Build) => void;
  /**
   * Whether the registry takes pushes (registry/gate.ts). While it does not, builds wait queued; a build whose
   * push failed while it did not is queued again without using up an attempt. Absent: always open.
   */
  registryGate?: { readonly open: boolean; check(): Promise<boolean>; readonly detail: string };
  /** Scanning of pushed images before their tags move (issue 26); absent, nothing is scanned. */
  scan?: ExecuteDeps['scan'];
  /** Whether builds export and import their cache through the registry (settings.registryCache). */
  registryCache?: boolean;
  /**
   * Records what a build pushed before it is reported succeeded (the registry inventory), so usage is current;
   * resolves with the image's manifest when it read it (insight then reads no second copy).
   */
  onPushed?: (b: Build, digest: string, refs: readonly string[]) => Promise<RawManifest | null | undefined>;
  /** Records a `mode=max` cache a build exported (registry repository, e.g. alice/web/buildcache), for usage likewise. */
  onCacheExported?: (repository: string) => Promise<void>;
  /** Uploaded folders' manifests and files (`codehub-build build`); absent, such a build fails saying so. */
  uploads?: { store: UploadStore; blobs: BlobStore };
  /** The secrets an upload's build was sent, held in memory until it ends. */
  held?: HeldSecrets;
  /** Build insight (issue 28): what a build's end makes of its steps, context and image; absent, none is kept. */
  insight?: InsightDeps;
  /** First wait before a build's end the database refused (a full disk) is written again; doubling, at most 30 s. Default 1 s. */
  endRetryBaseMs?: number;
}

const SHUTDOWN = 'shutdown: the server is stopping';

/** Why a build stopped when its log could not be written: the cause first, as a user reads the reason. */
function logFailure(e: Error): string {
  return isNoSpace(e) ? `the data dir is full: its log could not be written (${e.message})` : `its log could not be written (${e.message})`;
}

interface Active {
  controller: AbortController;
  done: Promise<void>;
}

/**
 * Takes queued builds from the store and runs them on the builder pool, at most `maxBuilds` at once. The
 * database is the queue: `notify()` after enqueueing only makes the runner look sooner; nothing is held in
 * memory that a crash could lose.
 */
export class Runner {
  private active = new Map<number, Active>();
  private stopping = false;
  private loopDone: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  /** Aborted when stop's grace period is over: builds' end writes still being retried give up then. */
  private halt = new AbortController();
  /** Whether builds a dead process left running are recovered yet (not while the database cannot be written). */
  private recovered = false;
  private claimFailures: RepeatedFailure;
  private recoveryFailures: RepeatedFailure;

  constructor(private deps: RunnerDeps) {
    this.claimFailures = new RepeatedFailure(deps.log, 'claiming a build failed; retrying every second');
    this.recoveryFailures = new RepeatedFailure(
      deps.log,
      'queueing again the builds a previous server process left running failed; retrying before any build is claimed',
    );
  }

  /**
   * Recovers builds stranded by a dead process (stopping clients it left behind, removing their work
   * folders), then starts taking work. With the database unwritable (a full disk) the server still starts:
   * recovery is retried by the loop, and no build is claimed until it is done.
   */
  async start(): Promise<void> {
    const removed = await removeWorkDirs(this.deps.instance).catch((e: Error) => {
      this.deps.log.warn('removing the work folders of builds a previous server process left failed', { err: e });
      return 0;
    });
    if (removed) this.deps.log.info('removed work folders left by a previous server process', { count: removed });
    await this.recover();
    this.loopDone = this.loop();
  }

  private async recover(): Promise<void> {
    try {
      await this.recoverStranded();
      this.recovered = true;
      this.recoveryFailures.succeeded();
    } catch (e) {
      this.recoveryFailures.failed(e);
    }
  }

  private async recoverStranded(): Promise<void> {
    const { store, logs, log, retry } = this.deps;
    const stranded = store.builds.list({ status: 'running', limit: 10_000 });
    const stopped = await stopOrphans(
      this.deps.instance,
      stranded.map((b) => b.id),
    );
    if (stopped) log.warn('stopped build clients left by a previous server process', { count: stopped });
    const { requeued, failed } = store.queue.recoverRunning(retry.maxAttempts);
    for (const b of requeued) {
      await logs.append(b.id, [`--- the server stopped during attempt ${b.attempts}; the build was queued again`]);
      log.warn('build re-queued after restart', { build: b.id, attempts: b.attempts });
    }
    for (const b of failed) {
      await logs.append(b.id, [`--- the server stopped during attempt ${b.attempts}; no attempts left, the build failed as interrupted`]);
      log.warn('build failed as interrupted', { build: b.id, attempts: b.attempts });
      this.deps.onEnded?.(b);
    }
  }

  /**
   * Makes the loop look at the queue. On the next turn of the event loop, not now: a push's hook call
   * notifies and then answers, and starting a build (a process spawn, a request to the daemon) before that
   * answer is written would make the pusher wait for it.
   */
  notify(): void {
    if (this.wakeScheduled) return;
    this.wakeScheduled = true;
    setImmediate(() => {
      this.wakeScheduled = false;
      this.wake?.();
    });
  }

  private wakeScheduled = false;

  /**
   * Stops a running build's solve with `reason` (its record must already say canceled) and resolves once
   * its client has exited. False if this runner is not running that build.
   */
  async cancel(id: number, reason: string): Promise<boolean> {
    const a = this.active.get(id);
    if (!a) return false;
    a.controller.abort(reason);
    await a.done;
    return true;
  }

  /**
   * Stops taking work; lets running builds finish for up to `graceMs`, then stops their solves. Builds
   * stopped that way stay `running` in the store, so the next start queues them again.
   */
  async stop(graceMs = 0): Promise<void> {
    this.stopping = true;
    this.notify();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const all = () => Promise.all([...this.active.values()].map((a) => a.done));
    if (this.active.size && graceMs > 0) {
      this.deps.log.info('waiting for running builds before stopping', { builds: [...this.active.keys()], graceMs });
      await Promise.race([all(), new Promise((r) => setTimeout(r, graceMs).unref())]);
    }
    this.halt.abort();
    for (const a of this.active.values()) a.controller.abort(SHUTDOWN);
    await all();
    await this.loopDone;
  }

  private async loop(): Promise<void> {
    while (!this.stopping) {
      if (!this.recovered) await this.recover();
      while (this.recovered && this.active.size < this.deps.maxBuilds && this.deps.pool.hasRoom() && (this.deps.registryGate?.open ?? true) && !this.stopping) {
        let driver: BuilderDriver | null = null;
        let b: Build | undefined;
        try {
          b = this.deps.store.queue.claimNext((c) => (driver = this.deps.pool.acquire(c.repo))?.name ?? null);
        } catch (e) {
          // A busy or failing database must not end the loop (and with it the process): try again shortly.
          if (driver) this.deps.pool.release((driver as BuilderDriver).name);
          this.claimFailures.failed(e);
          break;
        }
        this.claimFailures.succeeded();
        if (!b) {
          if (driver) this.deps.pool.release((driver as BuilderDriver).name);
          break;
        }
        this.launch(b, driver!);
      }
      this.scheduleBackoffWake();
      // Sleep until notified, or poll every second as a safety net.
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 1000);
        this.wake = () => {
          clearTimeout(t);
          this.wake = null;
          resolve();
        };
      });
    }
  }

  /** Wakes the loop when the earliest backed-off build becomes due, rather than waiting for the next poll. */
  private scheduleBackoffWake(): void {
    if (this.retryTimer) return;
    const next = this.deps.store.queue.nextNotBefore();
    if (!next) return;
    const ms = Math.max(0, Date.parse(next) - Date.now());
    if (ms >= 1000) return; // the poll comes sooner
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.notify();
    }, ms + 5);
  }

  private launch(b: Build, driver: BuilderDriver): void {
    const controller = new AbortController();
    const done = this.run(b, driver, controller)
      .catch(async (e: Error) => {
        // Not a build's failure but the runner's: still, no build may stay running with nothing behind it.
        this.deps.log.error('build crashed', { build: b.id, err: e });
        const reason = `internal error in the build runner: ${e.message}`;
        if (
          await this.persist(
            () => {
              this.deps.store.queue.finish(b.id, { status: 'failed', reason, reasonCode: 'infrastructure' });
            },
            this.deps.log.child({ build: b.id }),
          )
        ) {
          const after = this.deps.store.builds.byId(b.id);
          if (after && TERMINAL_STATUSES.includes(after.status)) this.deps.onEnded?.(after);
        }
      })
      .finally(() => {
        this.active.delete(b.id);
        this.deps.pool.release(driver.name);
        this.notify();
      });
    this.active.set(b.id, { controller, done });
  }

  private async run(b: Build, driver: BuilderDriver, controller: AbortController): Promise<void> {
    const { deps } = this;
    const log = deps.log.child({ build: b.id, repo: b.repo, commit: b.commitSha });
    const stored = b.config as unknown as ImageConfig;
    const args = await resolveArgs(b, stored, deps);
    const image: ImageConfig = args.ok ? { ...stored, args: args.values } : stored;
    const secrets = resolveSecrets(b, image, deps);
    // Secret values and secret-looking build args never reach the stored log.
    const mask = masker(secretValues(secrets.ok ? secrets.values : {}, image.args));
    // A log that cannot be written (a full data dir) stops the build: its output would be lost.
    const out = deps.logs.writer(b.id, mask, (e) => {
      log.warn("the build's log could not be written; the build is stopped", failureFields(e));
      controller.abort(logFailure(e));
    });
    try {
      await this.attempt(b, driver, controller, out, image, secrets, args, mask, log);
    } finally {
      await out.end();
    }
  }

  /** One attempt of a build, from its first log line to its end recorded in the store. */
  private async attempt(
    b: Build,
    driver: BuilderDriver,
    controller: AbortController,
    out: LogWriter,
    image: ImageConfig,
    secrets: Resolved,
    args: Awaited<ReturnType<typeof resolveArgs>>,
    mask: (t: string) => string,
    log: Logger,
  ): Promise<void> {
    const { deps } = this;
    const started = Date.now();
    deps.metrics.queueWait.observe((started - Date.parse(b.queuedAt)) / 1000);
    const what = isPush(b) ? `${b.repo} ${b.refType} ${b.refName} @ ${b.commitSha}` : `folder ${b.uploadFolder} uploaded by ${b.pusher}`;
    out.line(`build #${b.id} of ${what}, image ${image.name}, attempt ${b.attempts}, builder ${driver.name}`);
    log.info('build started', { attempt: b.attempts, builder: driver.name });

    const refused = !args.ok ? args.problem : !secrets.ok ? secrets.problem : null;
    const executed: Executed =
      refused !== null || !secrets.ok
        ? { ok: false as const, code: 'user' as const, problem: refused ?? '', steps: [] }
        : await executeBuild(deps, b, image, secrets.values, driver, controller, out).catch(
            (e: Error): BuildOutcome => ({ ok: false, code: 'infrastructure', problem: e.message, steps: [] }),
          );
    // A build stopped because its log could not be written failed for that, whatever its client said when stopped.
    const result: BuildOutcome =
      !executed.ok && out.failed ? { ok: false, code: 'infrastructure', problem: logFailure(out.failed), steps: executed.steps } : executed;
    // A problem may quote BuildKit's error, which quotes the Dockerfile with its args expanded: stored masked.
    const outcome = result.ok ? result : { ...result, problem: mask(result.problem) };
    // BuildKit names steps with build args expanded, so step names and errors are masked like the log.
    const steps = outcome.steps.map((st) => ({
      n: st.n,
      name: mask(st.name),
      cached: st.cached,
      started: st.started,
      completed: st.completed,
      ...(st.error ? { error: mask(st.error) } : {}),
    }));
    const hits = cacheHits(outcome.steps);
    if (hits.steps) out.line(`cache: ${hits.cached} of ${hits.steps} step${hits.steps === 1 ? '' : 's'} cached`);
    deps.metrics.recordSteps(driver.name, hits);
    const secs = (Date.now() - started) / 1000;
    deps.metrics.duration.observe(secs);
    // What the attempt's end means (outcome.ts); carried out below: the log says it, then the store is told.
    const stopping = !outcome.ok && outcome.problem === SHUTDOWN;
    const gate = deps.registryGate;
    const registryOpen = gate && needsRegistryCheck(outcome, stopping) ? await gate.check() : true;
    const decision = decideOutcome({
      outcome,
      stopping,
      attempts: b.attempts,
      maxAttempts: deps.retry.maxAttempts,
      retryBaseMs: deps.retry.baseMs,
      registryOpen,
      registryDetail: gate?.detail ?? '',
      seconds: secs,
      imageRefs: b.imageRefs,
    });
    if (decision.kind === 'stopped') log.info('build interrupted by shutdown');
    const manifest = outcome.ok || outcome.digest ? await deps.onPushed?.(b, outcome.digest!, executed.pushedRefs ?? b.imageRefs) : null;
    const platforms = pushedPlatforms(outcome);
    if (outcome.ok && outcome.cacheExportedTo) await deps.onCacheExported?.(parseImageRef(outcome.cacheExportedTo).repository);
    const insight = stopping
      ? null
      : await this.insight(
          b,
          outcome,
          steps,
          { image, args: args.ok ? args.values : image.args, mask, refs: executed.pushedRefs, manifest: manifest ?? null },
          log,
        );
    for (const line of decision.lines) out.line(line, true);
    const action = decision.store;
    // The back-off counts from when the record is written: a write retried for minutes must not make it due at once.
    const end = () => {
      if (action.kind === 'finish') {
        deps.store.queue.finish(
          b.id,
          action.status === 'succeeded'
            ? { status: 'succeeded', digest: action.digest }
            : { status: action.status, reason: action.reason, reasonCode: action.reasonCode, ...(action.digest ? { digest: action.digest } : {}) },
        );
      } else if (action.kind === 'requeue') {
        const at = new Date(Date.now() + action.delayMs);
        if (action.refund) deps.store.queue.requeue(b.id, at, action.reason, { refund: true });
        else deps.store.queue.requeue(b.id, at, action.reason);
      }
    };
    if (decision.recheckBuilder) void deps.pool.recheck(driver.name);
    const record = () => {
      if (steps.length) deps.store.builds.setSteps(b.id, steps);
      if (insight) deps.store.builds.setInsight(b.id, insight as unknown as Record<string, unknown>);
      // Written before the end, which is what followers (wait, the pages) wait for; an earlier attempt's cleared.
      if (platforms || b.platforms) deps.store.builds.setPlatforms(b.id, platforms);
      end();
    };
    // The image may be pushed already: an end the database cannot take now (a full disk) is written when it can.
    const written = await this.persist(record, log, async () => {
      out.line("--- the build's end could not be recorded yet (the server's database cannot be written); it is recorded as soon as it can be", true);
      await out.end(); // followers wait for the record alone, not for a log that will not grow
    });
    if (!written) return;
    const after = deps.store.builds.byId(b.id);
    if (after && TERMINAL_STATUSES.includes(after.status)) deps.onEnded?.(after);
    log.info('build ended', { ok: outcome.ok, ...(outcome.ok ? { digest: outcome.digest } : { code: outcome.code, reason: outcome.problem }), seconds: secs });
  }

  /**
   * The attempt's insight (src/insight/collect.ts), or null when insight is off, the attempt had no steps and pushed
   * nothing, or the registry could not be read (logged: the build's end does not wait on it).
   */
  private async insight(
    b: Build,
    outcome: BuildOutcome,
    steps: BuildStep[],
    ctx: { image: ImageConfig; args: Record<string, string>; mask: (t: string) => string; refs: string[] | undefined; manifest: RawManifest | null },
    log: Logger,
  ): Promise<StoredInsight | null> {
    const deps = this.deps.insight;
    const digest = outcome.ok ? outcome.digest : outcome.digest;
    if (!deps || (!steps.length && !digest)) return null;
    const t0 = performance.now();
    try {
      const ref = ctx.refs?.[0] ?? b.imageRefs[0];
      const insight = await collectInsight(
        deps,
        {
          steps,
          contextChanged: outcome.contextChanged,
          args: ctx.args,
          noCache: ctx.image.noCache === true,
          mask: ctx.mask,
          image: digest && ref ? { repository: parseImageRef(ref).repository, digest, manifest: ctx.manifest } : null,
        },
        this.deps.store.builds.previousInsight(b),
      );
      log.debug('build insight', { ms: Math.round((performance.now() - t0) * 100) / 100 });
      return insight;
    } catch (e) {
      log.warn("the build's insight could not be made; it has none", failureFields(e));
      return null;
    }
  }

  /** A build's end written until it lands, or the runner stops (end-write.ts). */
  private persist(write: () => void, log: Logger, onFirstFailure?: () => Promise<void>): Promise<boolean> {
    return writeEnd(write, log, { baseMs: this.deps.endRetryBaseMs ?? 1000, halt: this.halt.signal, onFirstFailure });
  }
}

/**
 * The platforms of the multi-platform image an attempt pushed (a failure that kept its digest, such as a blocked
 * scan, pushed it too), each with its manifest in the index; null when it pushed nothing or one platform.
 */
function pushedPlatforms(outcome: BuildOutcome): PlatformImage[] | null {
  if (!outcome.ok && !outcome.digest) return null;
  return outcome.platforms?.length ? outcome.platforms : null;
}
