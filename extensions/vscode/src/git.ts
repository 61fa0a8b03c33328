import { execFile } from 'node:child_process';

/** Where a checkout keeps what the watcher looks at. */
export interface RepoDirs {
  /** The work tree's top folder. */
  top: string;
  /** This work tree's git dir (its HEAD). */
  gitDir: string;
  /** The dir shared by every worktree (refs/, packed-refs); the git dir itself outside a linked worktree. */
  commonDir: string;
}

export interface Head {
  sha: string;
  /** The branch checked out, or null on a detached HEAD. */
  branch: string | null;
}

export class GitError extends Error {}

/**
 * Runs git with an argument array (no shell). GIT_OPTIONAL_LOCKS=0 keeps these background reads from taking
 * the index lock a user's own git command might want at the same moment; GIT_TERMINAL_PROMPT=0 because
 * nobody can answer a prompt here.
 */
function git(cwd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      'git',
      args,
      {
        cwd,
        timeout: 10_000,
        maxBuffer: 1 << 20,
        encoding: 'utf8',
        env: { ...process.env, GIT_OPTIONAL_LOCKS: '0', GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C' },
      },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== 'number') {
          reject(new GitError(err.code === 'ENOENT' ? 'git is not installed (or not on PATH)' : `git ${args[0]} failed: ${err.message}`));
          return;
        }
        resolve({ code: err ? (err.code as number) : 0, stdout, stderr });
      },
    );
  });
}

/** The repository `folder` is in, or null when it is in none. Throws GitError when git itself cannot tell. */
export async function repoDirs(folder: string): Promise<RepoDirs | null> {
  const r = await git(folder, ['rev-parse', '--path-format=absolute', '--show-toplevel', '--git-dir', '--git-common-dir']);
  if (r.code !== 0) {
    if (/not a git repository/i.test(r.stderr)) return null;
    // E.g. "detected dubious ownership": a repository, but one git refuses to read; say so rather than "not git".
    throw new GitError(r.stderr.trim().split('\n')[0] ?? `git rev-parse exited with ${r.code}`);
  }
  const [top, gitDir, commonDir] = r.stdout.trim().split('\n');
  if (!top || !gitDir || !commonDir) return null; // inside a .git dir or a bare repository: no work tree to speak of
  return { top, gitDir, commonDir };
}

/** The commit checked out, or null in a repository with no commit yet. */
export async function headOf(top: string): Promise<Head | null> {
  const sha = await git(top, ['rev-parse', '--verify', '--quiet', 'HEAD^{commit}']);
  if (sha.code !== 0) return null;
  const branch = await git(top, ['symbolic-ref', '--quiet', '--short', 'HEAD']);
  return { sha: sha.stdout.trim(), branch: branch.code === 0 ? branch.stdout.trim() : null };
}

/**
 * The remote that points at a codehub-build server (its URL path is /git/<owner>/<repo>.git), for the hint
 * on how to push; null when none does.
 */
export async function buildRemote(top: string): Promise<string | null> {
  const r = await git(top, ['config', '--get-regexp', '^remote\\..*\\.url$']);
  if (r.code !== 0) return null;
  for (const line of r.stdout.split('\n')) {
    const m = /^remote\.(.+)\.url (.+)$/.exec(line.trim());
    if (m && /\/git\/[^/]+\/[^/]+\.git\/?$/.test(m[2]!)) return m[1]!;
  }
  return null;
}
