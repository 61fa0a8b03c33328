import { execa } from 'execa';
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import { RepeatedFailure } from '../util/repeated-failure.js';
import type { Build, PushBuild } from '../store/schema.js';
import { gitEnv } from './env.js';
import type { RepoStore } from './repos.js';

export const NOTES_REF = 'refs/notes/builds';

/** The note of one commit: every build of it, newest first, with where its image and log are. */
export function noteText(commit: string, builds: Build[], publicUrl: string): string {
  const lines = [`codehub-build: ${builds.length} build${builds.length === 1 ? '' : 's'} of ${commit.slice(0, 12)}`];
  for (const b of builds) {
    lines.push(`#${b.id} ${b.image} (${b.refName}): ${b.status}${b.reason ? ` - ${b.reason}` : ''}`);
    if (b.status === 'succeeded') lines.push(...b.imageRefs.map((r) => `    ${r}`), `    digest ${b.digest}`);
    lines.push(`    page: ${publicUrl}/builds/${b.id}`);
  }
  return lines.join('\n') + '\n';
}

/**
 * Writes build results as git notes under refs/notes/builds in the bare repos, so that
 * `git fetch <remote> refs/notes/builds:refs/notes/builds && git log --notes=builds` shows them. Each note is
 * rewritten whole from the database, and writes to one repo run one at a time, so builds that end together
 * lose no note. A note that could not be written (a full disk) is owed: written again after `retryMs`, or
 * sooner once another note is written, the temporary object git left of it removed first.
 */
export class NoteWriter {
  private chains = new Map<string, Promise<void>>();
  /** Commits whose note is owed, per repo. */
  private owed = new Map<string, Set<string>>();
  private retryTimer: NodeJS.Timeout | null = null;
  private failures: RepeatedFailure;

  constructor(
    private repos: RepoStore,
    private buildsOf: (repo: string, commit: string) => Build[],
    private publicUrl: string,
    private log: Logger,
    private retryMs = 30_000,
  ) {
    this.failures = new RepeatedFailure(log, 'writing build notes failed; they are written again once it works');
  }

  /** Queues the note of `b`'s commit for rewriting; resolves when it is written (never rejects). */
  record(b: Pick<PushBuild, 'repo' | 'commitSha'>): Promise<void> {
    // Not before the next turn of the event loop: a skipped push records its note from inside the hook
    // call, and the git process the note needs would otherwise start before the pusher gets the answer.
    const prev = this.chains.get(b.repo) ?? new Promise<void>((r) => setImmediate(r));
    const next = prev
      .then(() => this.write(b.repo, b.commitSha))
      .then(
        () => {
          this.failures.succeeded();
          if (this.owed.size) this.retry(); // whatever stopped the owed ones has passed
        },
        (e: Error) => {
          this.failures.failed(e, { repo: b.repo, commit: b.commitSha });
          this.owe(b.repo, b.commitSha);
        },
      );
    this.chains.set(b.repo, next);
    void next.finally(() => {
      if (this.chains.get(b.repo) === next) this.chains.delete(b.repo);
    });
    return next;
  }

  /** How many notes are owed (for tests and the log). */
  get owing(): number {
    let n = 0;
    for (const commits of this.owed.values()) n += commits.size;
    return n;
  }

  private owe(repo: string, commit: string): void {
    const commits = this.owed.get(repo) ?? new Set<string>();
    commits.add(commit);
    this.owed.set(repo, commits);
    this.retryTimer ??= setTimeout(() => {
      this.retryTimer = null;
      this.retry();
    }, this.retryMs);
    this.retryTimer.unref();
  }

  /** Writes every owed note again (each rewritten whole from the database, so the latest state goes). */
  retry(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const owed = this.owed;
    this.owed = new Map();
    for (const [repo, commits] of owed) {
      void this.removeTempObjects(repo);
      for (const commit of commits) void this.record({ repo, commitSha: commit });
    }
  }

  /**
   * Removes the temporary object files a failed note write left (`objects/<xx>/tmp_obj_*`: git dies on a full
   * disk without removing them). Only those older than 10 s: a git writing one now (a fetch) renames it in
   * milliseconds, and owns it until then.
   */
  private async removeTempObjects(repo: string, olderThanMs = 10_000): Promise<void> {
    const [owner, name] = repo.split('/') as [string, string];
    const objects = join(this.repos.path(owner, name), 'objects');
    try {
      for (const dir of (await readdir(objects)).filter((d) => /^[0-9a-f]{2}$/.test(d))) {
        for (const f of (await readdir(join(objects, dir))).filter((n) => n.startsWith('tmp_obj_'))) {
          const file = join(objects, dir, f);
          if (Date.now() - (await stat(file)).mtimeMs > olderThanMs) await rm(file, { force: true });
        }
      }
    } catch (e) {
      this.log.debug('removing temporary objects a failed note left failed', { repo, err: e });
    }
  }

  private async write(repo: string, commit: string): Promise<void> {
    const builds = this.buildsOf(repo, commit);
    if (builds.length === 0) return;
    const [owner, name] = repo.split('/') as [string, string];
    await execa('git', ['--git-dir', this.repos.path(owner, name), 'notes', `--ref=${NOTES_REF}`, 'add', '-f', '-F', '-', commit], {
      input: noteText(commit, builds, this.publicUrl),
      env: gitEnv({
        GIT_AUTHOR_NAME: 'codehub-build',
        GIT_AUTHOR_EMAIL: 'codehub-build@localhost',
        GIT_COMMITTER_NAME: 'codehub-build',
        GIT_COMMITTER_EMAIL: 'codehub-build@localhost',
      }),
      extendEnv: false,
    });
  }
}
