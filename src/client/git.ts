import { execFile } from 'node:child_process';

/**
 * git for the client commands. node:child_process rather than execa, which the server uses: the client ships
 * as one file that runs with nothing installed, and this is all it needs (an argument array, never a shell).
 */
export interface GitResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function git(args: string[], opts: { cwd?: string; input?: string } = {}): Promise<GitResult> {
  return new Promise((resolve, reject) => {
    const child = execFile('git', args, { cwd: opts.cwd, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
      if (code === null) return reject(new Error(`cannot run git: ${(err as Error).message}; is git installed?`));
      resolve({ code, stdout, stderr });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** The commit a revision names in the git checkout of the current folder, or null (no checkout, no such revision). */
export async function revParse(rev: string): Promise<string | null> {
  if (rev.startsWith('-')) return null; // never an option to git
  const r = await git(['rev-parse', '--verify', '--quiet', '--end-of-options', `${rev}^{commit}`]);
  return r.code === 0 && /^[0-9a-f]{40}$/.test(r.stdout.trim()) ? r.stdout.trim() : null;
}

/** The top folder of the git checkout the current folder is in, or null. */
export async function topLevel(): Promise<string | null> {
  const r = await git(['rev-parse', '--show-toplevel']);
  return r.code === 0 ? r.stdout.trim() : null;
}
