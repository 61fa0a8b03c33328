/**
 * The walk's file hashes (context-walk.ts): each file's sha256 read once, streamed and checked against the file,
 * and remembered per folder (`path -> size, mtime, inode, sha256`) so that a repeat walk reads only what changed.
 * Also the walk's problem and its phrases for system errors, which both modules raise.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Stats } from 'node:fs';
import { constants } from 'node:fs';
import { type FileHandle, lstat, mkdir, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';

/** One remembered hash: reused while the file's size, mtime and inode are the same. */
export interface CachedHash {
  size: number;
  mtimeMs: number;
  ino: number;
  sha256: string;
}

export interface CacheFile {
  version: 1;
  folder: string;
  files: Record<string, CachedHash>;
}

/** A regular file the walk lists: its path in the context (as messages name it), where it is, and its lstat then. */
export interface FileToHash {
  path: string;
  abs: string;
  stat: Stats;
}

/** A problem that ends the walk: walkContext answers its message as `{ ok: false, problem }`. */
export class WalkProblem extends Error {}

/** Where the hash cache of the folder `realRoot` (a realpath) lives. */
export function contextCachePath(realRoot: string, cacheDir?: string): string {
  const base =
    cacheDir ??
    (process.env.XDG_CACHE_HOME && isAbsolute(process.env.XDG_CACHE_HOME)
      ? join(process.env.XDG_CACHE_HOME, 'codehub-build')
      : join(homedir(), '.cache', 'codehub-build'));
  return join(base, 'contexts', `${createHash('sha256').update(realRoot).digest('hex')}.json`);
}

/**
 * A file's sha256, streamed. Read through one descriptor and checked against it afterwards: if its size, mtime
 * or inode moved while it was read (an editor saving, a build writing), it is read once more, then given up on.
 */
export async function hashFile(f: FileToHash): Promise<{ sha256: string; stat: Stats; hashed: number; checkedAt: number }> {
  let hashed = 0;
  let st = f.stat;
  for (let attempt = 0; attempt < 2; attempt++) {
    if (attempt > 0) {
      try {
        st = await lstat(f.abs);
      } catch (e) {
        throw new WalkProblem(`${f.path} ${code(e) === 'ENOENT' ? 'was removed' : `could not be read (${why(e)})`} while the folder was read: run again`);
      }
      if (!st.isFile()) throw new WalkProblem(`${f.path} stopped being a file while the folder was read: run again`);
    }
    const r = await hashOnce(f, st);
    hashed += r.bytes;
    if (r.sha256) return { sha256: r.sha256, stat: st, hashed, checkedAt: r.checkedAt };
  }
  throw new WalkProblem(`${f.path} changed while it was read, twice: wait for what writes it to finish (or add it to .dockerignore) and run again`);
}

/** One read of the file; `sha256` null when the file was not the one `st` describes from start to end. */
async function hashOnce(f: FileToHash, st: Stats): Promise<{ sha256: string | null; bytes: number; checkedAt: number }> {
  let fh: FileHandle;
  try {
    // O_NOFOLLOW: a file swapped for a symlink since it was stat'ed must not be read through the link.
    fh = await open(f.abs, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (e) {
    if (code(e) === 'ENOENT' || code(e) === 'ELOOP') return { sha256: null, bytes: 0, checkedAt: 0 };
    throw new WalkProblem(`cannot read ${f.path}: ${why(e)}: make it readable or add it to .dockerignore`);
  }
  try {
    const hash = createHash('sha256');
    let bytes = 0;
    for await (const chunk of fh.createReadStream({ autoClose: false, highWaterMark: 256 * 1024 }) as AsyncIterable<Buffer>) {
      hash.update(chunk);
      bytes += chunk.length;
    }
    const after = await fh.stat();
    const checkedAt = Date.now();
    const same = bytes === st.size && after.size === st.size && after.mtimeMs === st.mtimeMs && after.ino === st.ino;
    return { sha256: same ? hash.digest('hex') : null, bytes, checkedAt };
  } catch (e) {
    throw new WalkProblem(`cannot read ${f.path}: ${why(e)}`);
  } finally {
    await fh.close();
  }
}

/**
 * Whether a hash taken at `checkedAt` may not be trusted later on size and mtime alone: a write in the same
 * timestamp tick as the read would leave the mtime unchanged (git's "racily clean" entries). Such a file is not
 * cached, so the next walk reads it again. The tick is guessed from the mtime itself: a whole second means a
 * filesystem that keeps seconds (some keep two), anything else one with fine timestamps, stamped from a clock
 * that may lag by a scheduler tick.
 */
export function racy(mtimeMs: number, checkedAt: number): boolean {
  return checkedAt - mtimeMs < (mtimeMs % 1000 === 0 ? 2500 : 100);
}

/** The remembered hashes of the folder, or none if the file is missing, unreadable, corrupt or another folder's. */
export async function loadCache(file: string, realRoot: string): Promise<Map<string, CachedHash>> {
  // A Map, not an object: paths such as `__proto__` or `constructor` are file names like any other.
  const out = new Map<string, CachedHash>();
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8'));
  } catch {
    return out;
  }
  const c = parsed as Partial<CacheFile> | null;
  if (c?.version !== 1 || c.folder !== realRoot || typeof c.files !== 'object' || c.files === null) return out;
  for (const [path, h] of Object.entries(c.files as Record<string, unknown>)) {
    const v = h as Partial<CachedHash> | null;
    if (
      v &&
      typeof v.size === 'number' &&
      typeof v.mtimeMs === 'number' &&
      typeof v.ino === 'number' &&
      typeof v.sha256 === 'string' &&
      /^[0-9a-f]{64}$/.test(v.sha256)
    ) {
      out.set(path, { size: v.size, mtimeMs: v.mtimeMs, ino: v.ino, sha256: v.sha256 });
    }
  }
  return out;
}

/** Writes the cache whole or not at all (a temp file renamed over it), so a crash never leaves half a cache; returns why not. */
export async function saveCache(file: string, cache: CacheFile): Promise<string | undefined> {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await mkdir(dirname(file), { recursive: true, mode: 0o700 });
    await writeFile(tmp, JSON.stringify(cache), { mode: 0o600 });
    await rename(tmp, file);
    return undefined;
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => {});
    return `could not write the hash cache ${file}: ${why(e)}`;
  }
}

export function code(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | null)?.code;
}

/** A system error as a short phrase (`permission denied`), anything else as its message. */
export function why(e: unknown): string {
  const c = code(e);
  const known: Record<string, string> = {
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    ENOENT: 'no such file or folder',
    ENOTDIR: 'not a folder',
    ELOOP: 'too many symlinks',
    EIO: 'input/output error',
  };
  return (c && known[c]) ?? (e instanceof Error ? e.message : String(e));
}
