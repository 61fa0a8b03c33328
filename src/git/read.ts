import git from 'isomorphic-git';
import { execa } from 'execa';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { gitEnv } from './env.js';

const ZERO_SHA = '0'.repeat(40);
export const isZeroSha = (sha: string): boolean => sha === ZERO_SHA;

/** A git object: its type and its content (without the `<type> <size>\0` header). */
interface GitObject {
  type: string;
  body: Buffer;
}

/**
 * Reads files at a commit straight from a bare repo, without a checkout. Loose objects (what a small push
 * leaves: git unpacks pushes of under 100 objects) are read and inflated here directly, a few hundred
 * microseconds for the commit, trees and blob of a path; packed ones through isomorphic-git, whose pack
 * cache one reader (one push) shares across the files it reads.
 */
export class CommitReader {
  private cache = {};
  constructor(private gitdir: string) {}

  /** The file's bytes at `sha` (a commit, an annotated tag or a tree), or null if there is no such file (or it is a folder). */
  async readFile(sha: string, filepath: string): Promise<Buffer | null> {
    let obj = await this.object(sha);
    for (let hops = 0; obj && obj.type === 'tag' && hops < 10; hops++) obj = await this.object(header(obj.body, 'object'));
    if (obj?.type === 'commit') obj = await this.object(header(obj.body, 'tree'));
    if (!obj || obj.type !== 'tree') return null;
    for (const part of filepath.split('/').filter(Boolean)) {
      if (obj.type !== 'tree') return null;
      const oid = treeEntry(obj.body, part);
      if (!oid) return null;
      obj = await this.object(oid);
      if (!obj) return null;
    }
    return obj.type === 'blob' ? obj.body : null;
  }

  private async object(oid: string): Promise<GitObject | null> {
    try {
      const raw = inflateSync(await fs.promises.readFile(join(this.gitdir, 'objects', oid.slice(0, 2), oid.slice(2))));
      const nul = raw.indexOf(0);
      return { type: raw.subarray(0, raw.indexOf(32)).toString('latin1'), body: raw.subarray(nul + 1) };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    try {
      const o = await git.readObject({ fs, gitdir: this.gitdir, oid, format: 'content', cache: this.cache });
      return { type: o.type, body: Buffer.from(o.object as Uint8Array) };
    } catch (e) {
      if (isGitNotFound(e)) return null;
      throw e;
    }
  }
}

/** The value of a `<name> <oid>` header line of a commit or tag. */
function header(body: Buffer, name: string): string {
  const m = new RegExp(`^${name} ([0-9a-f]{40})$`, 'm').exec(body.subarray(0, 1024).toString('latin1'));
  if (!m) throw new Error(`git object without a ${name} line`);
  return m[1]!;
}

/** The oid of the entry `name` in a tree (`<mode> <name>\0<20-byte oid>` each), or null. */
function treeEntry(tree: Buffer, name: string): string | null {
  const want = Buffer.from(name, 'utf8');
  let i = 0;
  while (i < tree.length) {
    const space = tree.indexOf(32, i);
    const nul = tree.indexOf(0, space);
    if (space < 0 || nul < 0) return null;
    if (nul - space - 1 === want.length && tree.compare(want, 0, want.length, space + 1, nul) === 0) return tree.subarray(nul + 1, nul + 21).toString('hex');
    i = nul + 21;
  }
  return null;
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
