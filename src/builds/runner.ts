import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BuilderDriver, BuildOutcome } from '../builder/driver.js';
import type { ImageConfig } from '../config/types.js';
import { gitEnv } from '../git/env.js';
import type { RepoStore } from '../git/repos.js';
import type { Logger } from '../log.js';
import type { LogStore, LogWriter } from '../logs/store.js';
import type { Build } from '../store/schema.js';
import type { Store } from '../store/store.js';
import { imageLabels } from './tags.js';

/** Where a build's secret values come from; undefined means the repo has no such secret. */
export interface SecretSource {
  get(repo: string, name: string): string | undefined;
}
export const noSecrets: SecretSource = { get: () => undefined };

export interface RunnerDeps {
  store: Store;
  repos: RepoStore;
  logs: LogStore;
  driver: BuilderDriver;
  secrets: SecretSource;
  log: Logger;
  publicUrl: string;
  maxBuilds: number;
  defaultTimeoutMs: number;
}

/** How often a build left running by a dead server is tried again before it fails as interrupted. */
export const MAX_ATTEMPTS = 3;
const SHUTDOWN = 'shutdown: the server is stopping';

/**
 * Takes queued builds from the store and runs them, at most `maxBuilds` at once. The database is the queue:
 * `notify()` after enqueueing only makes the runner look sooner; nothing is held in memory that a crash
 * could lose.
 */
export class Runner {
  private active = new Map<number, AbortController>();
  private stopped = false;
  private idle: Promise<void> | null = null;
  private wake: (() => void) | null = null;

  constructor(private deps: RunnerDeps) {}

  /** Recovers builds stranded by a dead process, then starts taking work. */
  async start(): Promise<void> {
    const { requeued, failed } = this.deps.store.recoverRunning(MAX_ATTEMPTS);
    for (const b of requeued) {
      await this.deps.logs.append(b.id, [`--- the server stopped during attempt ${b.attempts}; the build was queued again`]);
      this.deps.log.warn('build re-queued after restart', { build: b.id, attempts: b.attempts });
    }
    for (const b of failed) {
      await this.deps.logs.append(b.id, [`--- the server stopped during attempt ${b.attempts}; no attempts left, the build failed as interrupted`]);
      this.deps.log.warn('build failed as interrupted', { build: b.id, attempts: b.attempts });
    }
    this.idle = this.loop();
  }

  notify(): void {
    this.wake?.();
  }

  /**
   * Stops taking work and stops the running builds' solves. Their records stay `running`, so the next
   * start's recovery queues them again (within MAX_ATTEMPTS) rather than losing them.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const c of this.active.values()) c.abort(SHUTDOWN);
    this.notify();
    await this.idle;
  }

  private async loop(): Promise<void> {
    const running = new Set<Promise<void>>();
    while (!this.stopped) {
      while (running.size < this.deps.maxBuilds && !this.stopped) {
        let b;
        try {
          b = this.deps.store.claimNext(this.deps.driver.name);
        } catch (e) {
          // A busy or failing database must not end the loop (and with it the process): try again shortly.
          this.deps.log.warn('claiming a build failed; retrying', { err: e });
          break;
        }
        if (!b) break;
        const p = this.run(b).catch((e) => this.deps.log.error('build crashed', { build: b.id, err: e })).finally(() => { running.delete(p); this.notify(); });
        running.add(p);
      }
      // Sleep until notified, or poll every second as a safety net.
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 1000);
        this.wake = () => { clearTimeout(t); this.wake = null; resolve(); };
      });
    }
    await Promise.all(running);
  }

  private async run(b: Build): Promise<void> {
    const { deps } = this;
    const log = deps.log.child({ build: b.id, repo: b.repo, commit: b.commitSha });
    const image = b.config as unknown as ImageConfig;
    const out = deps.logs.writer(b.id);
    const startedAt = Date.now();
    out.line(`build #${b.id} of ${b.repo} ${b.refType} ${b.refName} @ ${b.commitSha}, image ${image.name}, attempt ${b.attempts}, builder ${deps.driver.name}`);
    log.info('build started', { attempt: b.attempts });

    const outcome = await this.execute(b, image, out).catch((e: Error): BuildOutcome => ({ ok: false, code: 'infrastructure', reason: e.message, steps: [] }));
    const secs = ((Date.now() - startedAt) / 1000).toFixed(1);
    if (!outcome.ok && outcome.reason === SHUTDOWN) {
      out.line(`--- stopped after ${secs}s because the server is stopping; it runs again when the server starts`);
      await out.end();
      log.info('build interrupted by shutdown');
      return;
    }
    if (outcome.ok) {
      out.line(`--- succeeded in ${secs}s: pushed ${b.imageRefs.join(', ')} @ ${outcome.digest}`);
      deps.store.finishBuild(b.id, { status: 'succeeded', digest: outcome.digest });
    } else {
      out.line(`--- ${outcome.code === 'canceled' ? 'canceled' : 'failed'} after ${secs}s (${outcome.code}): ${outcome.reason}`);
      deps.store.finishBuild(b.id, {
        status: outcome.code === 'canceled' ? 'canceled' : 'failed', reason: outcome.reason, reasonCode: outcome.code,
      });
    }
    await out.end();
    log.info('build finished', { ok: outcome.ok, ...(outcome.ok ? { digest: outcome.digest } : { code: outcome.code, reason: outcome.reason }), seconds: Number(secs) });
  }

  private async execute(b: Build, image: ImageConfig, out: LogWriter): Promise<BuildOutcome> {
    const { deps } = this;
    const secrets: Record<string, string> = {};
    for (const name of image.secrets) {
      const v = deps.secrets.get(b.repo, name);
      if (v === undefined) return { ok: false, code: 'user', reason: `secret "${name}" is not set for ${b.repo}`, steps: [] };
      secrets[name] = v;
    }
    const [owner, repo] = b.repo.split('/') as [string, string];
    const gitdir = deps.repos.path(owner, repo);
    const workDir = await mkdtemp(join(tmpdir(), `codehub-build-${b.id}-`));
    const controller = new AbortController();
    this.active.set(b.id, controller);
    const timeoutMs = image.timeoutSeconds ? image.timeoutSeconds * 1000 : deps.defaultTimeoutMs;
    const timer = setTimeout(() => controller.abort(`timeout: the build ran longer than ${Math.round(timeoutMs / 1000)}s`), timeoutMs);
    // The commit's own tree as the context: `git archive <sha>:<context>` straight into buildx, no checkout.
    const treeish = image.context === '.' ? b.commitSha : `${b.commitSha}:${image.context}`;
    const archive = spawn('git', ['--git-dir', gitdir, 'archive', '--format=tar', treeish], { env: gitEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let archiveErr = '';
    archive.stderr.on('data', (d: Buffer) => { archiveErr += d.toString(); });
    try {
      const outcome = await deps.driver.build({
        dockerfile: image.dockerfile,
        target: image.target,
        args: image.args,
        labels: imageLabels({ sha: b.commitSha, sourceUrl: `${deps.publicUrl}/git/${b.repo}.git`, refName: b.refName, buildId: b.id, created: new Date() }),
        tags: b.imageRefs,
        platforms: image.platforms,
        secrets,
        workDir,
      }, { context: archive.stdout, onLog: (line) => out.line(line), signal: controller.signal });
      if (!outcome.ok && archiveErr) out.line(`git archive: ${archiveErr.trim()}`);
      return outcome;
    } finally {
      clearTimeout(timer);
      this.active.delete(b.id);
      if (archive.exitCode === null) archive.kill();
      await rm(workDir, { recursive: true, force: true });
    }
  }
}
