import { execa } from 'execa';
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { gitEnv } from './env.js';

export const ZERO_SHA = '0'.repeat(40);
export const isZeroSha = (sha: string): boolean => sha === ZERO_SHA;

/** A git object: its type and its content (without the `<type> <size>\0` header). */
interface GitObject {
  type: string;
  body: Buffer;
}

/**
 * Reads files at a commit straight from a bare repo, without a checkout. Loose objects (what a small push
 * leaves: git unpacks pushes of under 100 objects) are read and inflated here directly, a few hundred
 * microseconds for the commit, trees and blob of a path. Packed ones come from one `git cat-file --batch`
 * per reader, started on first need: git finds them through the pack index and reads only their bytes.
 * (isomorphic-git, used here before, reads and checksums the whole packfile on a reader's first packed object:
 * on a repo with a large history, every push would have read all of it.) Call `close()` when done.
 */
export class CommitReader {
  private batch: CatFileBatch | null = null;
  constructor(private gitdir: string) {}

  /** The file's bytes at `sha` (a commit, an annotated tag or a tree), or null if there is no such file (or it is a folder). */
  async readFile(sha: string, filepath: string): Promise<Buffer | null> {
    let obj = await this.object(sha);
    for (let hops = 0; obj && obj.type === 'tag' && hops < 10; hops++) obj = await this.object(header(obj.body, 'object'));
    if (obj?.type === 'commit') obj = await this.object(header(obj.body, 'tree'));
    if (obj?.type !== 'tree') return null;
    for (const part of filepath.split('/').filter(Boolean)) {
      if (obj.type !== 'tree') return null;
      const oid = treeEntry(obj.body, part);
      if (!oid) return null;
      obj = await this.object(oid);
      if (!obj) return null;
    }
    return obj.type === 'blob' ? obj.body : null;
  }

  close(): void {
    this.batch?.close();
    this.batch = null;
  }

  private async object(oid: string): Promise<GitObject | null> {
    if (!/^[0-9a-f]{40}$/.test(oid)) return null;
    try {
      // Synchronous on purpose: a loose object is a few hundred bytes in the page cache, and each await of the
      // thread pool would hand the event loop to the pushes being proxied meanwhile (profiled: 3-8 ms a push).
      const raw = inflateSync(fs.readFileSync(join(this.gitdir, 'objects', oid.slice(0, 2), oid.slice(2))));
      return { type: raw.subarray(0, raw.indexOf(32)).toString('latin1'), body: raw.subarray(raw.indexOf(0) + 1) };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    return (this.batch ??= new CatFileBatch(this.gitdir)).get(oid);
  }
}

/** One `git cat-file --batch`: an object id per line in, `<oid> <type> <size>\n<content>\n` (or `<oid> missing\n`) out. */
class CatFileBatch {
  private proc: ChildProcessByStdio<Writable, Readable, null>;
  private buf: Buffer = Buffer.alloc(0);
  private waiting: { resolve: (o: GitObject | null) => void; reject: (e: Error) => void }[] = [];
  private failed: Error | null = null;

  constructor(gitdir: string) {
    this.proc = spawn('git', ['--git-dir', gitdir, 'cat-file', '--batch'], { env: gitEnv(), stdio: ['pipe', 'pipe', 'ignore'] });
    this.proc.stdout.on('data', (d: Buffer) => {
      this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
      this.drain();
    });
    this.proc.stdin.on('error', () => {}); // reported through 'close'
    const fail = (e: Error) => {
      this.failed = e;
      for (const w of this.waiting.splice(0)) w.reject(e);
    };
    this.proc.on('error', fail);
    this.proc.on('close', (code) => fail(new Error(`git cat-file --batch in ${gitdir} exited (${code})`)));
  }

  get(oid: string): Promise<GitObject | null> {
    if (this.failed) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.proc.stdin.write(oid + '\n');
    });
  }

  close(): void {
    this.proc.stdin.end();
  }

  private drain(): void {
    while (this.waiting.length) {
      const nl = this.buf.indexOf(10);
      if (nl < 0) return;
      const head = this.buf.subarray(0, nl).toString('latin1').split(' ');
      if (head[1] === 'missing' || head[1] === 'ambiguous') {
        this.buf = this.buf.subarray(nl + 1);
        this.waiting.shift()!.resolve(null);
        continue;
      }
      const size = Number(head[2]);
      if (this.buf.length < nl + 1 + size + 1) return; // the rest of this object is still coming
      const body = Buffer.from(this.buf.subarray(nl + 1, nl + 1 + size));
      this.buf = this.buf.subarray(nl + 2 + size);
      this.waiting.shift()!.resolve({ type: head[1]!, body });
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

/** Paths that differ between two commits (git diff-tree, renames as delete + add). */
export async function changedPaths(gitdir: string, from: string, to: string): Promise<string[]> {
  const { stdout } = await execa('git', ['--git-dir', gitdir, 'diff-tree', '-r', '-z', '--no-renames', '--name-only', from, to], {
    env: gitEnv(),
    extendEnv: false,
  });
  return stdout.split('\0').filter(Boolean);
}

/**
 * The live branches and git tags of a bare repo, each with the commit it names (an annotated tag peeled to its
 * commit): one `git for-each-ref`. A repo that does not exist has none.
 */
export async function liveRefs(gitdir: string): Promise<{ branches: Map<string, string>; tags: Map<string, string> }> {
  const branches = new Map<string, string>();
  const tags = new Map<string, string>();
  if (!fs.existsSync(join(gitdir, 'HEAD'))) return { branches, tags };
  const { stdout } = await execa(
    'git',
    ['--git-dir', gitdir, 'for-each-ref', '--format=%(refname)%00%(objectname)%00%(*objectname)', 'refs/heads/', 'refs/tags/'],
    {
      env: gitEnv(),
      extendEnv: false,
    },
  );
  for (const line of stdout.split('\n')) {
    const [ref = '', oid = '', peeled = ''] = line.split('\0');
    if (ref.startsWith('refs/heads/')) branches.set(ref.slice(11), oid);
    else if (ref.startsWith('refs/tags/')) tags.set(ref.slice(10), peeled || oid);
  }
  return { branches, tags };
}

/**
 * The object id a branch or tag ref holds (an annotated tag's own object, unpeeled), or null when the repo
 * does not have it: read from the loose ref file, else from packed-refs, without starting git (a webhook
 * reads it on every delivery). `ref` must be a checked full ref name (refs/heads/... or refs/tags/...).
 */
export async function refValue(gitdir: string, ref: string): Promise<string | null> {
  if (!/^refs\/(heads|tags)\//.test(ref) || ref.split('/').some((c) => c === '..' || c === '.')) throw new Error(`not a branch or tag ref: ${ref}`);
  const oid = /^[0-9a-f]{40}(?:[0-9a-f]{24})?$/;
  try {
    const loose = (await fs.promises.readFile(join(gitdir, ref), 'utf8')).trim();
    if (oid.test(loose)) return loose;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT' && (e as NodeJS.ErrnoException).code !== 'ENOTDIR' && (e as NodeJS.ErrnoException).code !== 'EISDIR')
      throw e;
  }
  let packed: string;
  try {
    packed = await fs.promises.readFile(join(gitdir, 'packed-refs'), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  for (const line of packed.split('\n')) {
    const space = line.indexOf(' ');
    if (space > 0 && line.slice(space + 1) === ref && oid.test(line.slice(0, space))) return line.slice(0, space);
  }
  return null;
}

/** The commit `rev` names (a commit's own id, or the commit an annotated tag points at), or null when the repo has none. */
export async function commitOf(gitdir: string, rev: string): Promise<string | null> {
  const r = await execa('git', ['--git-dir', gitdir, 'rev-parse', '--verify', '--quiet', `${rev}^{commit}`], {
    env: gitEnv(),
    extendEnv: false,
    reject: false,
  });
  return r.exitCode === 0 ? r.stdout.trim() : null;
}

/** A branch or tag ref as the repo holds it: its object id (unpeeled) and when it last changed (0: packed, so old). */
export interface Head {
  sha: string;
  changedAtMs: number;
}

/**
 * Every branch and tag of a bare repo with its object id, read from packed-refs and the loose ref files
 * without starting git (the late-push check reads every repo on a schedule). Loose refs win over packed
 * ones, as in git; a ref file being written right now (not an object id yet) is left for the next read.
 */
export async function headsOf(gitdir: string): Promise<Map<string, Head>> {
  const heads = new Map<string, Head>();
  const oid = /^[0-9a-f]{40}(?:[0-9a-f]{24})?$/;
  try {
    for (const line of (await fs.promises.readFile(join(gitdir, 'packed-refs'), 'utf8')).split('\n')) {
      const space = line.indexOf(' ');
      const ref = line.slice(space + 1);
      if (space > 0 && /^refs\/(heads|tags)\//.test(ref) && oid.test(line.slice(0, space))) heads.set(ref, { sha: line.slice(0, space), changedAtMs: 0 });
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  for (const top of ['refs/heads', 'refs/tags']) {
    let entries: fs.Dirent[];
    try {
      entries = await fs.promises.readdir(join(gitdir, top), { withFileTypes: true, recursive: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw e;
    }
    for (const e of entries) {
      if (!e.isFile() || e.name.endsWith('.lock')) continue;
      const path = join(e.parentPath, e.name);
      const [text, st] = await Promise.all([fs.promises.readFile(path, 'utf8').catch(() => ''), fs.promises.stat(path).catch(() => null)]);
      if (!st || !oid.test(text.trim())) continue;
      heads.set(
        path
          .slice(gitdir.length + 1)
          .split('\\')
          .join('/'),
        { sha: text.trim(), changedAtMs: st.mtimeMs },
      );
    }
  }
  return heads;
}
