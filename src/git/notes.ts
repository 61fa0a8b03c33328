import { execa } from 'execa';
import type { Logger } from '../log.js';
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
 * lose no note.
 */
export class NoteWriter {
  private chains = new Map<string, Promise<void>>();

  constructor(private repos: RepoStore, private buildsOf: (repo: string, commit: string) => Build[], private publicUrl: string, private log: Logger) {}

  /** Queues the note of `b`'s commit for rewriting; resolves when it is written (never rejects). */
  record(b: Pick<PushBuild, 'repo' | 'commitSha'>): Promise<void> {
    // Not before the next turn of the event loop: a skipped push records its note from inside the hook
    // call, and the git process the note needs would otherwise start before the pusher gets the answer.
    const prev = this.chains.get(b.repo) ?? new Promise<void>((r) => setImmediate(r));
    const next = prev.then(() => this.write(b.repo, b.commitSha)).catch((e: Error) => {
      this.log.warn('writing the build note failed', { repo: b.repo, commit: b.commitSha, err: e });
    });
    this.chains.set(b.repo, next);
    void next.finally(() => { if (this.chains.get(b.repo) === next) this.chains.delete(b.repo); });
    return next;
  }

  private async write(repo: string, commit: string): Promise<void> {
    const builds = this.buildsOf(repo, commit);
    if (builds.length === 0) return;
    const [owner, name] = repo.split('/') as [string, string];
    await execa('git', ['--git-dir', this.repos.path(owner, name), 'notes', `--ref=${NOTES_REF}`, 'add', '-f', '-F', '-', commit], {
      input: noteText(commit, builds, this.publicUrl),
      env: gitEnv({ GIT_AUTHOR_NAME: 'codehub-build', GIT_AUTHOR_EMAIL: 'codehub-build@localhost', GIT_COMMITTER_NAME: 'codehub-build', GIT_COMMITTER_EMAIL: 'codehub-build@localhost' }),
      extendEnv: false,
    });
  }
}
