import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { execa } from 'execa';
import { ContextFilter } from './filter.js';
import { readGitmodules, type SubmoduleResolver } from './submodules.js';
import { MODE_DIR, MODE_SYMLINK, type ContextTree, type TreeEntry, type TreeFilter } from './tree.js';

// The filter moved to filter.ts (UploadTree shares it); what was exported here still is.
export { mayReachUnder } from './filter.js';

/** How deep submodules of submodules are followed, and how many one context may hold in all. */
export const MAX_SUBMODULE_DEPTH = 8;
export const MAX_SUBMODULES = 256;

export interface GitTreeOptions {
  /** The repo (`owner/name`) of `gitDir`: what relative submodule URLs are resolved against. */
  repo?: string;
  /**
   * Finds submodules' repos. With it a submodule's tree is spliced in at its path, read from its own bare repo
   * (recursively); without it, or where it says no and the build does not read that path, a submodule is an
   * empty folder, as in `git archive`.
   */
  submodules?: SubmoduleResolver;
}

/**
 * A commit's tree (or a folder of it) as a build context, read from the bare repo with no work tree written:
 * nothing can be half-updated, concurrent builds of two commits need nothing, a crash leaves nothing behind.
 *
 * git keeps no file times, and BuildKit re-sends a file when its size or mtime differs from the snapshot it
 * kept: each file's mtime is derived from its blob id (a fixed date plus up to ~3 days of nanoseconds), so an
 * unchanged file is never sent again and a changed one always is. COPY's cache keys leave mtime out, so this
 * costs no cache hit; files in the image carry those dates.
 */
export class GitTree implements ContextTree {
  private listing: Promise<Listed[]> | null = null;
  private blobs = new Map<string, BlobReader>();
  private files: Map<string, Listed> | null = null;
  private closed = false;

  /** `gitDir` a bare repo, `commit` a full sha, `dir` the context folder in it (`.` for the root). */
  constructor(
    private readonly gitDir: string,
    private readonly commit: string,
    private readonly dir: string,
    private readonly opts: GitTreeOptions = {},
  ) {}

  async entries(filter: TreeFilter): Promise<{ ok: true; entries: TreeEntry[] } | { ok: false; problem: string }> {
    const all = await this.list();
    const byPath = new Map(all.map((e) => [e.path, e.entry]));
    const compiled = ContextFilter.compile(filter, (p) => byPath.get(p));
    if (!compiled.ok) return compiled;
    // A submodule that could not be had fails the build only when the build reads it; otherwise it stays the
    // empty folder `git archive` makes, so an unused (or .dockerignore'd) external submodule costs nothing.
    const missing = all.filter((e) => e.problem !== undefined && compiled.filter.mayRead(e.path));
    if (missing.length) return { ok: false, problem: missing.map((e) => e.problem).join('; ') };
    return {
      ok: true,
      entries: compiled.filter.select(
        all.map((e) => e.entry),
        byPath,
      ),
    };
  }

  async read(path: string): Promise<Buffer> {
    this.files ??= new Map((await this.list()).map((x) => [x.path, x]));
    const e = this.files.get(path);
    if (!e?.oid || e.entry.mode & (MODE_DIR | MODE_SYMLINK)) throw new Error(`${path} is not a file of the context`);
    if (this.closed) throw new Error('the context tree is closed');
    let reader = this.blobs.get(e.gitDir);
    if (!reader) this.blobs.set(e.gitDir, (reader = new BlobReader(e.gitDir)));
    return reader.read(e.oid);
  }

  /** Ends the blob readers (one per repo read from); the tree cannot read files after this. */
  close(): void {
    this.closed = true;
    for (const r of this.blobs.values()) r.close();
    this.blobs.clear();
  }

  private list(): Promise<Listed[]> {
    this.listing ??= this.listAll();
    return this.listing;
  }

  private async listAll(): Promise<Listed[]> {
    const top = await listTree(this.gitDir, this.dir === '.' ? this.commit : `${this.commit}:${this.dir}`);
    const resolver = this.opts.submodules;
    if (!resolver || !top.some((e) => e.gitlink)) return top;
    const budget = { left: MAX_SUBMODULES };
    const repoPrefix = this.dir === '.' ? '' : `${this.dir.replace(/^\.\/|\/+$/g, '')}/`;
    const all = await this.splice(
      top,
      { gitDir: this.gitDir, commit: this.commit, repo: this.opts.repo ?? '', repoPrefix, shownPrefix: repoPrefix, depth: 0 },
      resolver,
      budget,
    );
    // One order over the whole: a submodule's entries all start with its path, so they land right after it.
    return all.sort((a, b) => fsutilOrder(a.path, b.path));
  }

  /**
   * `listed` (a tree of the repo `at`) with each gitlink's own tree added under it, or the gitlink marked with
   * why it could not be. `repoPrefix` is where `listed` sits in its repo (what .gitmodules paths are relative
   * to), `shownPrefix` where it sits in the pushed repo (what messages name).
   */
  private async splice(
    listed: Listed[],
    at: { gitDir: string; commit: string; repo: string; repoPrefix: string; shownPrefix: string; depth: number },
    resolver: SubmoduleResolver,
    budget: { left: number },
  ): Promise<Listed[]> {
    const links = listed.filter((e) => e.gitlink);
    if (!links.length) return listed;
    const out = [...listed];
    const modules = await readGitmodules(at.gitDir, at.commit);
    for (const link of links) {
      const inRepo = at.repoPrefix + link.rel;
      const shown = at.shownPrefix + link.rel;
      if (!modules.ok) {
        link.problem = `submodule ${shown}: ${modules.problem}`;
        continue;
      }
      const url = modules.urls.get(inRepo);
      if (url === undefined) {
        link.problem = `submodule ${shown} (commit ${link.gitlink}) has no url in .gitmodules, so nothing says which repo holds it`;
        continue;
      }
      if (at.depth >= MAX_SUBMODULE_DEPTH) {
        link.problem = `submodule ${shown}: submodules nest deeper than ${MAX_SUBMODULE_DEPTH} levels here`;
        continue;
      }
      if (budget.left-- <= 0) {
        link.problem = `submodule ${shown}: the context holds more than ${MAX_SUBMODULES} submodules`;
        continue;
      }
      const r = await resolver.resolve({ path: shown, url, commit: link.gitlink!, superRepo: at.repo });
      if (!r.ok) {
        link.problem = r.problem;
        continue;
      }
      const sub = await listTree(r.gitDir, link.gitlink!, `${link.path}/`);
      out.push(
        ...(await this.splice(
          sub,
          { gitDir: r.gitDir, commit: link.gitlink!, repo: r.repo, repoPrefix: '', shownPrefix: `${shown}/`, depth: at.depth + 1 },
          resolver,
          budget,
        )),
      );
    }
    return out;
  }
}

interface Listed {
  /** The path in the context. */
  path: string;
  /** The path in the tree it was listed from (the path in the context, less the submodule it is in). */
  rel: string;
  /** The bare repo that holds the entry's objects: the pushed one, or a submodule's. */
  gitDir: string;
  oid: string | null;
  entry: TreeEntry;
  /** A submodule's commit. */
  gitlink?: string;
  /** Why a submodule's content cannot be had: reported if the build reads it. */
  problem?: string;
}

/** 2000-01-01T00:00:00Z in nanoseconds: the date every context file carries, plus its blob-derived offset. */
const BASE_NS = 946_684_800_000_000_000n;

/** Every entry of `treeish` in `gitDir`, its paths put under `prefix` (a submodule's path and `/`). */
async function listTree(gitDir: string, treeish: string, prefix = ''): Promise<Listed[]> {
  const r = await execa('git', ['--git-dir', gitDir, 'ls-tree', '-r', '-t', '-l', '-z', '--end-of-options', treeish], { encoding: 'buffer', reject: false });
  if (r.exitCode !== 0) throw new Error(`git ls-tree ${treeish}: ${Buffer.from(r.stderr).toString().trim()}`);
  const out: Listed[] = [];
  for (const rec of Buffer.from(r.stdout).toString('utf8').split('\0')) {
    if (!rec) continue;
    // "<mode> SP <type> SP <object> SP+ <size or -> TAB <path>"
    const tab = rec.indexOf('\t');
    const [mode = '', type = '', oid = '', size = '-'] = rec.slice(0, tab).split(/ +/);
    const rel = rec.slice(tab + 1);
    const path = prefix + rel;
    const mtimeNs = BASE_NS + (BigInt(`0x${oid.slice(0, 12)}`) & 0x3ffffffffffffn);
    if (type === 'tree' || type === 'commit') {
      // A submodule is an empty folder until its own tree is spliced in under it (GitTree.splice).
      out.push({
        path,
        rel,
        gitDir,
        oid: null,
        entry: { path, mode: (MODE_DIR | 0o755) >>> 0, size: 0, mtimeNs: BASE_NS },
        ...(type === 'commit' ? { gitlink: oid } : {}),
      });
    } else if (mode === '120000') {
      out.push({ path, rel, gitDir, oid, entry: { path, mode: (MODE_SYMLINK | 0o777) >>> 0, size: 0, mtimeNs, linkname: '' } });
    } else {
      out.push({ path, rel, gitDir, oid, entry: { path, mode: mode === '100755' ? 0o755 : 0o644, size: Number(size), mtimeNs } });
    }
  }
  const links = out.filter((e) => e.entry.mode & MODE_SYMLINK && !(e.entry.mode & MODE_DIR));
  if (links.length) {
    const reader = new BlobReader(gitDir);
    try {
      for (const l of links) l.entry.linkname = (await reader.read(l.oid!)).toString('utf8');
    } finally {
      reader.close();
    }
  }
  return out.sort((a, b) => fsutilOrder(a.path, b.path));
}

/**
 * fsutil's walk order: paths compared component by component in bytes order, so a folder's children follow it
 * right away (`a`, `a/x`, `a.txt`; git lists `a.txt` before `a/`). fsutil refuses anything else.
 */
export function fsutilOrder(a: string, b: string): number {
  const pa = a.split('/');
  const pb = b.split('/');
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const c = Buffer.compare(Buffer.from(pa[i]!), Buffer.from(pb[i]!));
    if (c !== 0) return c;
  }
  return pa.length - pb.length;
}

/** Blob contents through one `git cat-file --batch`, one request at a time. */
class BlobReader {
  private proc: ChildProcessWithoutNullStreams;
  private queue: Promise<unknown> = Promise.resolve();
  private buf = Buffer.alloc(0);
  private waiting: (() => void) | null = null;
  private failed: Error | null = null;

  constructor(gitDir: string) {
    this.proc = spawn('git', ['--git-dir', gitDir, 'cat-file', '--batch'], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.proc.stdout.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.waiting?.();
    });
    const fail = (e: Error) => {
      this.failed ??= e;
      this.waiting?.();
    };
    this.proc.on('error', fail);
    this.proc.on('exit', () => fail(new Error('git cat-file ended')));
    this.proc.stdin.on('error', fail);
  }

  read(oid: string): Promise<Buffer> {
    const next = this.queue.then(() => this.readOne(oid));
    this.queue = next.catch(() => {});
    return next;
  }

  close(): void {
    this.proc.stdin.end();
    this.proc.kill();
  }

  private async readOne(oid: string): Promise<Buffer> {
    this.proc.stdin.write(`${oid}\n`);
    const header = await this.take((b) => {
      const i = b.indexOf(10);
      return i < 0 ? -1 : i + 1;
    });
    const m = /^[0-9a-f]+ (\w+) (\d+)\n$/.exec(header.toString());
    if (!m) throw new Error(`git cat-file: ${header.toString().trim()}`);
    const size = Number(m[2]);
    const body = await this.take((b) => (b.length >= size + 1 ? size + 1 : -1));
    return body.subarray(0, size);
  }

  /** Waits until `end(buf)` says how many buffered bytes make the next piece, then takes them. */
  private async take(end: (b: Buffer) => number): Promise<Buffer> {
    for (;;) {
      const n = end(this.buf);
      if (n >= 0) {
        const piece = this.buf.subarray(0, n);
        this.buf = this.buf.subarray(n);
        return piece;
      }
      if (this.failed) throw this.failed;
      await new Promise<void>((r) => {
        this.waiting = r;
      });
      this.waiting = null;
    }
  }
}
