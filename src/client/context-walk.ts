/**
 * A workspace folder described as a build context, the workspace side of an upload build (issue 16,
 * docs/research/upload-builds.md): every entry BuildKit would be sent, in fsutil's order, each file with its
 * sha256, so that the server is asked only for the blobs it lacks.
 *
 * `.dockerignore` is applied here with BuildKit's own rules, so ignored files never leave the workspace and an
 * ignored folder (node_modules, a data set) is never even listed. BuildKit applies the patterns again to the
 * context it reads, so what is kept here may be a superset (the Dockerfile and .dockerignore always go) but never
 * less than the build sees.
 *
 * Hashes are kept per folder (`path -> size, mtime, inode, sha256`: context-hashes.ts), so a repeat walk reads only
 * what changed.
 */
import type { Dirent, Stats } from 'node:fs';
import { lstat, readdir, readFile, readlink, realpath, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { cleanPath, IgnoreMatcher, parseDockerignore } from '../context/dockerignore.js';

// Go's os.FileMode bits, which fsutil's Stat carries (tree.ts is constants and types only: allowed in the bundle).
import { MODE_DIR, MODE_SETGID, MODE_SETUID, MODE_STICKY, MODE_SYMLINK } from '../context/tree.js';
import type { ManifestEntry } from '../uploads/manifest.js';
import { mapLimit } from '../util/map-limit.js';
import { code, contextCachePath, hashFile, loadCache, racy, saveCache, WalkProblem, why, type CachedHash, type FileToHash } from './context-hashes.js';
export { contextCachePath, MODE_DIR, MODE_SYMLINK };

/** Files hashed at once: enough to overlap one file's read with another's hashing, few enough to keep the disk sequential. */
const HASH_CONCURRENCY = 4;
/** Entries of one folder stat'ed at once. */
const STAT_CONCURRENCY = 32;

/** An entry as the upload's manifest sends it (src/uploads/manifest.ts): a symlink's target is never followed. */
export type WalkEntry = ManifestEntry;

/** A file that cannot be part of a context (BuildKit's contexts hold files, folders and symlinks). */
export interface SkippedEntry {
  path: string;
  kind: 'socket' | 'fifo' | 'device';
}

export interface WalkOptions {
  /** The Dockerfile's path, relative to the folder (an absolute path inside it is accepted too). */
  dockerfile: string;
  /** Where hash caches live: default `$XDG_CACHE_HOME/codehub-build`, else `~/.cache/codehub-build`. */
  cacheDir?: string;
  /** Called as each file's hash is settled (read or taken from the cache): files so far and their bytes. */
  onProgress?: (files: number, bytes: number) => void;
}

export type WalkResult =
  | {
      ok: true;
      /** fsutil's order: bytes order within a folder, a folder's children right after it. */
      entries: WalkEntry[];
      /** Bytes of every regular file in `entries`. */
      totalBytes: number;
      /** Bytes actually read to hash them (the rest came from the cache). */
      hashedBytes: number;
      skipped: SkippedEntry[];
      /** The Dockerfile's path in `entries` (opts.dockerfile cleaned, or the file it leads to through symlinks). */
      dockerfile: string;
      /** Why the hash cache could not be written (the walk itself succeeded; the next one will read everything). */
      cacheProblem?: string;
    }
  | { ok: false; problem: string };

/** A file listed to send, with its entry to fill in once its hash is settled. */
interface ListedFile extends FileToHash {
  entry: WalkEntry;
}

/** Describes the folder `root` as a build context: the entries to send, and each file's sha256. */
export async function walkContext(root: string, opts: WalkOptions): Promise<WalkResult> {
  try {
    return await walk(root, opts);
  } catch (e) {
    if (e instanceof WalkProblem) return { ok: false, problem: e.message };
    throw e;
  }
}

async function walk(root: string, opts: WalkOptions): Promise<WalkResult> {
  let realRoot: string;
  try {
    realRoot = await realpath(root);
  } catch (e) {
    throw new WalkProblem(`cannot read the folder ${root}: ${why(e)}`);
  }
  if (!(await stat(realRoot)).isDirectory()) throw new WalkProblem(`${root} is not a folder: give the folder to build (the context), e.g. \`.\``);

  const given = dockerfileIn(root, opts.dockerfile);
  const dockerfile = await realDockerfile(root, realRoot, given);
  const forced = new Set([given, dockerfile]);
  const ignore = await readIgnore(realRoot);
  if (ignore) forced.add('.dockerignore');

  const out: WalkEntry[] = [];
  const files: ListedFile[] = [];
  const skipped: SkippedEntry[] = [];
  // The folders above the entry being looked at; an excluded one is sent only once something under it is.
  const chain: { entry: WalkEntry; sent: boolean }[] = [];
  const send = (e: WalkEntry) => {
    for (const c of chain)
      if (!c.sent) {
        out.push(c.entry);
        c.sent = true;
      }
    out.push(e);
  };
  const forcedList = [...forced];
  const leadsToForced = (dir: string) => forcedList.some((f) => f.startsWith(`${dir}/`));

  const visit = async (rel: string): Promise<void> => {
    const abs = rel ? join(realRoot, rel) : realRoot;
    let dirents: Dirent<Buffer>[];
    try {
      dirents = await readdir(abs, { withFileTypes: true, encoding: 'buffer' });
    } catch (e) {
      throw new WalkProblem(
        rel ? `cannot read the folder ${rel}: ${why(e)}: make it readable or add it to .dockerignore` : `cannot read the folder ${root}: ${why(e)}`,
      );
    }
    dirents.sort((a, b) => Buffer.compare(a.name, b.name));
    const kept: { path: string; excluded: boolean }[] = [];
    for (const d of dirents) {
      const name = UTF8.decode(d.name);
      const path = rel ? `${rel}/${name}` : name;
      const excluded = !!ignore && !forced.has(path) && ignore.matcher.matches(path);
      // An excluded folder is entered only if an exception or a forced file may lie inside it.
      if (excluded && !(d.isDirectory() && (ignore.mayInclude(path) || leadsToForced(path)))) continue;
      const bad = nameProblem(d.name, name);
      if (bad) throw new WalkProblem(`${JSON.stringify(path)} ${bad}: rename it or add it to .dockerignore`);
      kept.push({ path, excluded });
    }
    const stats = await mapLimit(kept, STAT_CONCURRENCY, async ({ path }) => {
      try {
        return await lstat(join(realRoot, path));
      } catch (e) {
        if (code(e) === 'ENOENT') return null; // removed since the folder was listed: it is not there to send
        throw new WalkProblem(`cannot read ${path}: ${why(e)}: make it readable or add it to .dockerignore`);
      }
    });
    for (const [i, { path, excluded }] of kept.entries()) {
      const st = stats[i];
      if (!st) continue;
      // Excluded and not a folder: it was a folder when listed, and is something else by now.
      if (excluded && !st.isDirectory()) continue;
      if (st.isDirectory()) {
        const entry: WalkEntry = { path, mode: goMode(st, MODE_DIR), size: 0 };
        if (!excluded) send(entry);
        chain.push({ entry, sent: !excluded });
        await visit(path);
        chain.pop();
      } else if (st.isFile()) {
        const entry: WalkEntry = { path, mode: goMode(st, 0), size: st.size };
        send(entry);
        files.push({ entry, path, abs: join(realRoot, path), stat: st });
      } else if (st.isSymbolicLink()) {
        const target = await readlink(join(realRoot, path), { encoding: 'buffer' }).catch((e: unknown) => {
          throw new WalkProblem(`cannot read the symlink ${path}: ${why(e)}`);
        });
        const linkname = UTF8.decode(target);
        if (!Buffer.from(linkname).equals(target))
          throw new WalkProblem(
            `the symlink ${path} points at a path that is not valid UTF-8 (${JSON.stringify(linkname)}): change it or add it to .dockerignore`,
          );
        send({ path, mode: goMode(st, MODE_SYMLINK), size: 0, linkname });
      } else {
        skipped.push({ path, kind: st.isSocket() ? 'socket' : st.isFIFO() ? 'fifo' : 'device' });
      }
    }
  };
  await visit('');

  const cacheFile = contextCachePath(realRoot, opts.cacheDir);
  const cached = await loadCache(cacheFile, realRoot);
  const fresh = new Map<string, CachedHash>();
  let changed = false;
  let hashedBytes = 0;
  let doneFiles = 0;
  let doneBytes = 0;
  await mapLimit(files, HASH_CONCURRENCY, async (f) => {
    const c = cached.get(f.entry.path);
    if (c && c.size === f.stat.size && c.mtimeMs === f.stat.mtimeMs && c.ino === f.stat.ino) {
      f.entry.sha256 = c.sha256;
      fresh.set(f.entry.path, c);
    } else {
      changed = true;
      const r = await hashFile(f);
      hashedBytes += r.hashed;
      f.entry.sha256 = r.sha256;
      f.entry.size = r.stat.size;
      f.entry.mode = goMode(r.stat, 0);
      if (!racy(r.stat.mtimeMs, r.checkedAt)) fresh.set(f.entry.path, { size: r.stat.size, mtimeMs: r.stat.mtimeMs, ino: r.stat.ino, sha256: r.sha256 });
    }
    doneFiles++;
    doneBytes += f.entry.size;
    opts.onProgress?.(doneFiles, doneBytes);
  });
  if (cached.size !== fresh.size) changed = true;
  // fromEntries defines own properties, so a file named __proto__ is written as one.
  const cacheProblem = changed ? await saveCache(cacheFile, { version: 1, folder: realRoot, files: Object.fromEntries(fresh) }) : undefined;
  const totalBytes = files.reduce((n, f) => n + f.entry.size, 0);
  return { ok: true, entries: out, totalBytes, hashedBytes, skipped, dockerfile, ...(cacheProblem ? { cacheProblem } : {}) };
}

/** The Dockerfile's path relative to the folder, cleaned; it must be inside the folder, since it is uploaded with it. */
function dockerfileIn(root: string, given: string): string {
  const rel = isAbsolute(given) ? relative(resolve(root), given).split(sep).join('/') : given;
  const p = cleanPath(rel);
  if (p === '.' || p === '..' || p.startsWith('../') || p.startsWith('/')) {
    throw new WalkProblem(
      `the Dockerfile ${given} is not inside the folder ${root}: the Dockerfile is uploaded with the folder, so give one inside it with -f`,
    );
  }
  return p;
}

/**
 * The Dockerfile's path in the folder with symlinks resolved, once it is known to be a file there (else a problem
 * naming the path and `-f`). Where a link is on the way, the file it leads to is what must be sent, and the
 * path the server should read.
 */
async function realDockerfile(root: string, realRoot: string, rel: string): Promise<string> {
  const shown = join(root, rel);
  const abs = join(realRoot, rel);
  let st: Stats;
  try {
    st = await stat(abs);
  } catch (e) {
    if (code(e) === 'ENOENT' || code(e) === 'ENOTDIR') {
      throw new WalkProblem(`there is no Dockerfile at ${shown}: give the Dockerfile's path with -f (e.g. codehub-build build -f docker/Dockerfile ${root})`);
    }
    throw new WalkProblem(`cannot read the Dockerfile ${shown}: ${why(e)}`);
  }
  if (!st.isFile()) throw new WalkProblem(`the Dockerfile ${shown} is not a file: give the Dockerfile's path with -f`);
  const target = relative(realRoot, await realpath(abs))
    .split(sep)
    .join('/');
  if (target.startsWith('../') || isAbsolute(target))
    throw new WalkProblem(`the Dockerfile ${shown} is a symlink to a file outside the folder: give a Dockerfile inside ${root} with -f`);
  return target;
}

/** The root `.dockerignore` as a matcher, and which excluded folders its exceptions may reach into; null without one. */
async function readIgnore(realRoot: string): Promise<{ matcher: IgnoreMatcher; mayInclude: (dir: string) => boolean } | null> {
  let text: string;
  try {
    text = await readFile(join(realRoot, '.dockerignore'), 'utf8');
  } catch (e) {
    if (code(e) === 'ENOENT') return null;
    throw new WalkProblem(`cannot read .dockerignore: ${why(e)}`);
  }
  const lines = parseDockerignore(text);
  const compiled = IgnoreMatcher.compile(lines);
  if (!compiled.ok) throw new WalkProblem(compiled.problems.join('; '));
  const reach = lines.filter((l) => l.pattern.startsWith('!')).map((l) => reachTest(l.pattern.slice(1)));
  return { matcher: compiled.matcher, mayInclude: (dir) => reach.some((r) => r(dir)) };
}

/**
 * Whether pattern `pattern` may match folder `dir`, a parent of it, or anything under it: compared component by
 * component, a `**` may match anything from there on. As git-tree.ts's mayReachUnder (which the client cannot
 * import), compiled once per pattern since it is asked about every excluded folder. Errs towards yes: a wrong
 * yes costs a listing, a wrong no would drop a file the build reads.
 */
function reachTest(pattern: string): (dir: string) => boolean {
  let p = cleanPath(pattern.trim());
  if (p.startsWith('/')) p = p.slice(1);
  if (p === '' || p === '.') return () => true;
  const parts = p.split('/').map((part) => {
    if (part.includes('**')) return null;
    const one = IgnoreMatcher.compile([{ line: 1, pattern: part }]);
    return one.ok ? one.matcher : undefined;
  });
  return (dir) => {
    const dp = dir.split('/');
    for (let i = 0; i < parts.length; i++) {
      const m = parts[i];
      if (i >= dp.length || m === null) return true;
      if (m && !m.matches(dp[i]!)) return false;
    }
    return true;
  };
}

const UTF8 = new TextDecoder('utf-8');

/** Why a name cannot travel in a manifest (JSON, one path a line in messages), or null. */
function nameProblem(raw: Buffer, decoded: string): string | null {
  if (!Buffer.from(decoded).equals(raw)) return 'is not valid UTF-8';
  if (decoded.includes('\n') || decoded.includes('\r')) return 'holds a line break';
  return null;
}

/** Go's FileMode of `st`: permission bits, setuid/setgid/sticky where Go keeps them, and `type`. */
function goMode(st: Stats, type: number): number {
  let m = (st.mode & 0o777) | type;
  if (st.mode & 0o4000) m |= MODE_SETUID;
  if (st.mode & 0o2000) m |= MODE_SETGID;
  if (st.mode & 0o1000) m |= MODE_STICKY;
  return m >>> 0;
}
