/**
 * What BuildKit's filters leave of a build context, as fsutil's sender walks it: the followpaths (symlinks on
 * their way followed), the include patterns and the exclude patterns (`.dockerignore`), with the folders above
 * whatever is sent. One implementation for every ContextTree (a commit's, an upload's), so that the same files
 * give the same entries whichever way they reached the server.
 */
import { cleanPath, IgnoreMatcher } from './dockerignore.js';
import { MODE_SYMLINK, type TreeEntry, type TreeFilter } from './tree.js';

export type FilterResult = { ok: true; entries: TreeEntry[] } | { ok: false; problem: string };

/** A TreeFilter with its patterns compiled against one tree (whose symlinks the followpaths go through). */
export class ContextFilter {
  private constructor(
    /** The include patterns and the followpaths, as the patterns the build may read through. */
    private readonly include: readonly string[],
    private readonly excludePatterns: readonly string[],
    private readonly includes: IgnoreMatcher | null,
    private readonly excludes: IgnoreMatcher | null,
  ) {}

  /** The filter, or every malformed pattern as a problem for the build's log. `lookup` finds a tree's entry by path. */
  static compile(filter: TreeFilter, lookup: (path: string) => TreeEntry | undefined): { ok: true; filter: ContextFilter } | { ok: false; problem: string } {
    const include = [...filter.includePatterns, ...resolveFollowPaths(filter.followPaths, lookup)];
    const inc = include.length ? compile(include, 'include pattern') : null;
    const exc = filter.excludePatterns.length ? compile(filter.excludePatterns, '.dockerignore') : null;
    for (const m of [inc, exc]) if (m && !m.ok) return { ok: false, problem: m.problems.join('; ') };
    return { ok: true, filter: new ContextFilter(include, filter.excludePatterns, inc?.ok ? inc.matcher : null, exc?.ok ? exc.matcher : null) };
  }

  /**
   * Whether the build may read the folder `dir` or something under it. Errs towards yes: GitTree asks it of a
   * submodule it could not have, which fails the build only when read, and must never be sent empty by mistake.
   */
  mayRead(dir: string): boolean {
    const wanted = !this.includes || this.include.some((p) => mayReachUnder(p, dir));
    const dropped =
      !!this.excludes &&
      this.excludes.matches(dir) &&
      !this.excludePatterns.some((p) => p.trimStart().startsWith('!') && mayReachUnder(p.trimStart().slice(1), dir));
    return wanted && !dropped;
  }

  /**
   * The entries of `all` (a whole tree in fsutil's order) that pass, each preceded by the folders above it.
   * `byPath` must hold every folder above every entry of `all`.
   */
  select(all: readonly TreeEntry[], byPath: ReadonlyMap<string, TreeEntry>): TreeEntry[] {
    const out: TreeEntry[] = [];
    const sent = new Set<string>();
    for (const e of all) {
      if ((this.includes && !this.includes.matches(e.path)) || this.excludes?.matches(e.path)) continue;
      // fsutil sends a directory whenever something under it is sent, even one its patterns left out.
      const parts = e.path.split('/');
      for (let i = 1; i < parts.length; i++) {
        const parent = parts.slice(0, i).join('/');
        if (!sent.has(parent)) {
          sent.add(parent);
          out.push(byPath.get(parent)!);
        }
      }
      sent.add(e.path);
      out.push(e);
    }
    return out;
  }
}

/** `all` (a whole tree in fsutil's order, `byPath` its index) filtered as BuildKit asked: what ContextTree.entries returns. */
export function filterEntries(all: readonly TreeEntry[], byPath: ReadonlyMap<string, TreeEntry>, filter: TreeFilter): FilterResult {
  const c = ContextFilter.compile(filter, (p) => byPath.get(p));
  return c.ok ? { ok: true, entries: c.filter.select(all, byPath) } : c;
}

/**
 * The followpaths with the symlinks on their way resolved, as fsutil does (FollowLinks): a path through a link
 * includes the link and what it points at.
 */
function resolveFollowPaths(paths: readonly string[], lookup: (path: string) => TreeEntry | undefined): string[] {
  const out = new Set<string>();
  const visit = (p: string, depth: number): void => {
    if (depth > 40) return; // a link loop
    const parts = p.split('/').filter((x) => x && x !== '.');
    for (let i = 0; i < parts.length; i++) {
      const current = parts.slice(0, i + 1).join('/');
      const e = lookup(current);
      if (e && e.mode & MODE_SYMLINK && e.linkname !== undefined) {
        out.add(current);
        const base = e.linkname.startsWith('/') ? '' : parts.slice(0, i).join('/');
        visit(normalize(`${base}/${e.linkname}/${parts.slice(i + 1).join('/')}`), depth + 1);
        return;
      }
    }
    if (parts.length) out.add(parts.join('/'));
  };
  for (const p of paths) visit(p, 0);
  return [...out];
}

/**
 * Whether patternmatcher pattern `pattern` may match `dir` (a folder), a parent of it, or anything under it:
 * compared component by component, a `**` may match anything from there on. Errs towards yes, so that a
 * submodule a build may read is never quietly sent empty.
 */
export function mayReachUnder(pattern: string, dir: string): boolean {
  let p = cleanPath(pattern.trim());
  if (p.startsWith('/')) p = p.slice(1);
  if (p === '' || p === '.') return true;
  const pp = p.split('/');
  const dp = dir.split('/');
  for (let i = 0; i < pp.length; i++) {
    if (i >= dp.length || pp[i]!.includes('**')) return true;
    const one = IgnoreMatcher.compile([{ line: 1, pattern: pp[i]! }]);
    if (one.ok && !one.matcher.matches(dp[i]!)) return false;
  }
  return true;
}

function normalize(p: string): string {
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (!part || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  return out.join('/');
}

function compile(patterns: string[], file: string) {
  return IgnoreMatcher.compile(
    patterns.map((pattern, i) => ({ line: i + 1, pattern })),
    file,
  );
}
