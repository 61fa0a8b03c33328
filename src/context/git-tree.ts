import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { execa } from 'execa';
import { IgnoreMatcher } from './dockerignore.js';
import { MODE_DIR, MODE_SYMLINK, type ContextTree, type TreeEntry, type TreeFilter } from './tree.js';

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
  private blobs: BlobReader | null = null;
  private files: Map<string, Listed> | null = null;

  /** `gitDir` a bare repo, `commit` a full sha, `dir` the context folder in it (`.` for the root). */
  constructor(private readonly gitDir: string, private readonly commit: string, private readonly dir: string) {}

  async entries(filter: TreeFilter): Promise<{ ok: true; entries: TreeEntry[] } | { ok: false; problem: string }> {
    const all = await this.list();
    const byPath = new Map(all.map((e) => [e.path, e]));
    const include = [...filter.includePatterns, ...resolveFollowPaths(filter.followPaths, byPath)];
    const inc = include.length ? compile(include, 'include pattern') : null;
    const exc = filter.excludePatterns.length ? compile(filter.excludePatterns, '.dockerignore') : null;
    for (const m of [inc, exc]) if (m && !m.ok) return { ok: false, problem: m.problems.join('; ') };
    const includes = inc?.ok ? inc.matcher : null;
    const excludes = exc?.ok ? exc.matcher : null;
    const out: TreeEntry[] = [];
    const sent = new Set<string>();
    for (const e of all) {
      if ((includes && !includes.matches(e.path)) || (excludes && excludes.matches(e.path))) continue;
      // fsutil sends a directory whenever something under it is sent, even one its patterns left out.
      const parts = e.path.split('/');
      for (let i = 1; i < parts.length; i++) {
        const parent = parts.slice(0, i).join('/');
        if (!sent.has(parent)) { sent.add(parent); out.push(byPath.get(parent)!.entry); }
      }
      sent.add(e.path);
      out.push(e.entry);
    }
    return { ok: true, entries: out };
  }

  async read(path: string): Promise<Buffer> {
    this.files ??= new Map((await this.list()).map((x) => [x.path, x]));
    const e = this.files.get(path);
    if (!e?.oid || e.entry.mode & (MODE_DIR | MODE_SYMLINK)) throw new Error(`${path} is not a file of the context`);
    this.blobs ??= new BlobReader(this.gitDir);
    return this.blobs.read(e.oid);
  }

  /** Ends the blob reader; the tree cannot read files after this. */
  close(): void {
    this.blobs?.close();
  }

  private list(): Promise<Listed[]> {
    this.listing ??= listTree(this.gitDir, this.dir === '.' ? this.commit : `${this.commit}:${this.dir}`);
    return this.listing;
  }
}

interface Listed {
  path: string;
  oid: string | null;
  entry: TreeEntry;
}

/** 2000-01-01T00:00:00Z in nanoseconds: the date every context file carries, plus its blob-derived offset. */
const BASE_NS = 946_684_800_000_000_000n;

async function listTree(gitDir: string, treeish: string): Promise<Listed[]> {
  const r = await execa('git', ['--git-dir', gitDir, 'ls-tree', '-r', '-t', '-l', '-z', '--end-of-options', treeish], { encoding: 'buffer', reject: false });
  if (r.exitCode !== 0) throw new Error(`git ls-tree ${treeish}: ${Buffer.from(r.stderr).toString().trim()}`);
  const out: Listed[] = [];
  for (const rec of Buffer.from(r.stdout).toString('utf8').split('\0')) {
    if (!rec) continue;
    // "<mode> SP <type> SP <object> SP+ <size or -> TAB <path>"
    const tab = rec.indexOf('\t');
    const [mode = '', type = '', oid = '', size = '-'] = rec.slice(0, tab).split(/ +/);
    const path = rec.slice(tab + 1);
    const mtimeNs = BASE_NS + (BigInt(`0x${oid.slice(0, 12)}`) & 0x3ffffffffffffn);
    if (type === 'tree' || type === 'commit') {
      // A submodule is an empty folder here, as in `git archive`.
      out.push({ path, oid: null, entry: { path, mode: (MODE_DIR | 0o755) >>> 0, size: 0, mtimeNs: BASE_NS } });
    } else if (mode === '120000') {
      out.push({ path, oid, entry: { path, mode: (MODE_SYMLINK | 0o777) >>> 0, size: 0, mtimeNs, linkname: '' } });
    } else {
      out.push({ path, oid, entry: { path, mode: mode === '100755' ? 0o755 : 0o644, size: Number(size), mtimeNs } });
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

/**
 * The followpaths with the symlinks on their way resolved, as fsutil does (FollowLinks): a path through a link
 * includes the link and what it points at.
 */
function resolveFollowPaths(paths: readonly string[], byPath: Map<string, Listed>): string[] {
  const out = new Set<string>();
  const visit = (p: string, depth: number): void => {
    if (depth > 40) return; // a link loop
    const parts = p.split('/').filter((x) => x && x !== '.');
    for (let i = 0; i < parts.length; i++) {
      const current = parts.slice(0, i + 1).join('/');
      const e = byPath.get(current)?.entry;
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
  return IgnoreMatcher.compile(patterns.map((pattern, i) => ({ line: i + 1, pattern })), file);
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
    this.proc.stdout.on('data', (d: Buffer) => { this.buf = Buffer.concat([this.buf, d]); this.waiting?.(); });
    const fail = (e: Error) => { this.failed ??= e; this.waiting?.(); };
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
    const header = await this.take((b) => { const i = b.indexOf(10); return i < 0 ? -1 : i + 1; });
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
      await new Promise<void>((r) => { this.waiting = r; });
      this.waiting = null;
    }
  }
}
