import git from 'isomorphic-git';
import { execa } from 'execa';
import * as fs from 'node:fs';
import { gitEnv } from './env.js';

const ZERO_SHA = '0'.repeat(40);
export const isZeroSha = (sha: string): boolean => sha === ZERO_SHA;

/**
 * Reads files at a commit straight from a bare repo, without a checkout. One reader per push shares
 * isomorphic-git's pack cache across the files it reads.
 */
export class CommitReader {
  private cache = {};
  constructor(private gitdir: string) {}

  /** The file's bytes at `sha`, or null if the commit has no such file (or it is a folder). */
  async readFile(sha: string, filepath: string): Promise<Buffer | null> {
    try {
      const { blob } = await git.readBlob({ fs, gitdir: this.gitdir, oid: sha, filepath, cache: this.cache });
      return Buffer.from(blob);
    } catch (e) {
      if (isGitNotFound(e)) return null;
      throw e;
    }
  }
}

function isGitNotFound(e: unknown): boolean {
  const code = (e as { code?: string })?.code;
  return code === 'NotFoundError' || code === 'ObjectTypeError';
}

/** Paths that differ between two commits (git diff-tree, renames as delete + add). */
export async function changedPaths(gitdir: string, from: string, to: string): Promise<string[]> {
  const { stdout } = await execa('git', ['--git-dir', gitdir, 'diff-tree', '-r', '-z', '--no-renames', '--name-only', from, to], {
    env: gitEnv(), extendEnv: false,
  });
  return stdout.split('\0').filter(Boolean);
}
