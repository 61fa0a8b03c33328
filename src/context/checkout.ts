/**
 * Kept work trees of commits, for the BuildKit clients that send a folder (buildx, buildctl). BuildKit sends
 * only the files whose size or mtime differ from the snapshot it kept under the folder's shared key, so a
 * folder that persists between builds, where git rewrites only the files that changed, costs what the change
 * costs; a fresh folder per build costs the whole repo.
 *
 * Each work tree is filled from the served bare repo by git's own plumbing with an index file of its own
 * (outside the tree): no `.git` in the tree (BuildKit would send it), and nothing of the bare repo (HEAD, its
 * index, its config) is written. Two builds under one key at once take two slots, so neither ever sees a tree
 * the other is updating.
 */
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { mkdir, readdir, rm, stat, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gitEnv } from '../git/env.js';
import { SnapshotSlots } from './slots.js';

/** The commit to check out: a folder (`.` for the root) of a commit of a repo (bare or not). */
export interface CheckoutSource {
  gitDir: string;
  commit: string;
  dir: string;
}

/** A work tree leased to one build; `release` gives it back (once) and records when it was last used. */
export interface WorkTree {
  /** The work tree's absolute path: the context folder itself. */
  path: string;
  /** Its basename, `<hash of key>-<slot>`: stable per key and slot, which BuildKit's snapshot key needs. */
  name: string;
  /** How long bringing it to the commit took. */
  updateMs: number;
  /**
   * The files (relative to the tree) the update rewrote or removed, as git's index saw them before it; null when
   * the tree was made new (the builder has no copy of it either).
   */
  changed: string[] | null;
  release(): Promise<void>;
}

export interface CheckoutsOptions {
  /** The folder holding the work trees (`trees/`) and their index files (`index/`). */
  root: string;
  /** A work tree unused for longer than this is removed by the next sweep (default 24 h). */
  idleMs?: number;
  /** The most work trees kept; past it the longest unused ones are removed (default 64). */
  maxTrees?: number;
}

/** Where work trees live when no root is given: the server's data dir, else the system's temp folder. */
export function defaultCheckoutsDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.CODEHUB_DATA_DIR ? join(resolve(env.CODEHUB_DATA_DIR), 'checkouts') : join(tmpdir(), 'codehub-build-checkouts');
}

const shared = new Map<string, Checkouts>();

/**
 * The process's one Checkouts for a root: every driver using a root must share its leases, or one driver's
 * sweep could remove a tree another driver is building from.
 */
export function checkoutsAt(root: string): Checkouts {
  const abs = resolve(root);
  let c = shared.get(abs);
  if (!c) shared.set(abs, (c = new Checkouts({ root: abs })));
  return c;
}

const FULL_SHA = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

export class Checkouts {
  readonly root: string;
  private readonly idleMs: number;
  private readonly maxTrees: number;
  private slots = new SnapshotSlots();
  /** Names leased now: never swept. */
  private active = new Set<string>();
  /** Names being removed by a sweep: a take of one waits for the removal to finish. */
  private removing = new Map<string, Promise<void>>();
  private sweeping: Promise<void> | null = null;

  constructor(opts: CheckoutsOptions) {
    this.root = resolve(opts.root);
    this.idleMs = opts.idleMs ?? 24 * 3600_000;
    this.maxTrees = opts.maxTrees ?? 64;
  }

  private treePath = (name: string) => join(this.root, 'trees', name);
  private indexPath = (name: string) => join(this.root, 'index', name);

  /**
   * Leases the lowest free slot's work tree for `key` and brings it to the source's commit. Throws if git
   * cannot (the lease is then given back).
   */
  async take(key: string, source: CheckoutSource, signal?: AbortSignal): Promise<WorkTree> {
    if (!FULL_SHA.test(source.commit)) throw new Error(`not a full commit id: ${JSON.stringify(source.commit)}`);
    const lease = this.slots.take(key);
    const name = `${hashOf(key)}-${lease.key.slice(lease.key.lastIndexOf('#') + 1)}`;
    this.active.add(name);
    let released = false;
    const release = async () => {
      if (released) return;
      released = true;
      await this.stamp(name);
      this.active.delete(name);
      lease.release();
    };
    try {
      await this.removing.get(name);
      await this.stamp(name);
      const t0 = performance.now();
      const changed = await this.update(name, source, signal);
      const updateMs = Math.round(performance.now() - t0);
      void this.sweep().catch(() => {});
      return { path: this.treePath(name), name, updateMs, changed, release };
    } catch (e) {
      await release();
      throw e;
    }
  }

  /**
   * Removes work trees unused for longer than the idle limit, then the longest unused ones while more than
   * the limit in number are kept. Leased trees are never removed. One sweep at a time; a call during one
   * returns it.
   */
  sweep(): Promise<void> {
    this.sweeping ??= this.sweepOnce().finally(() => {
      this.sweeping = null;
    });
    return this.sweeping;
  }

  private async sweepOnce(): Promise<void> {
    const names = await readdir(join(this.root, 'trees')).catch(() => [] as string[]);
    const idle: { name: string; usedMs: number }[] = [];
    for (const name of names) if (!this.active.has(name) && !this.removing.has(name)) idle.push({ name, usedMs: await this.lastUsed(name) });
    idle.sort((a, b) => a.usedMs - b.usedMs);
    const now = Date.now();
    let kept = names.length;
    for (const t of idle) {
      if (now - t.usedMs <= this.idleMs && kept <= this.maxTrees) break;
      // Checked and claimed in one tick (remove() registers itself before its first await): a take of this
      // name either made it active first, or waits for the removal.
      if (this.active.has(t.name)) continue;
      await this.remove(t.name);
      kept--;
    }
  }

  private remove(name: string): Promise<void> {
    const p = (async () => {
      await rm(this.indexPath(name), { force: true });
      await rm(`${this.indexPath(name)}.lock`, { force: true });
      await rm(this.treePath(name), { recursive: true, force: true });
    })().finally(() => this.removing.delete(name));
    this.removing.set(name, p);
    return p;
  }

  /**
   * When the tree was last leased or given back: its folder's mtime, which BuildKit never compares (it is the
   * context's root) and git's racy-entry check never reads (the index file's would be).
   */
  private async lastUsed(name: string): Promise<number> {
    return (await stat(this.treePath(name)).catch(() => null))?.mtimeMs ?? 0;
  }

  private async stamp(name: string): Promise<void> {
    const now = new Date();
    await utimes(this.treePath(name), now, now).catch(() => {});
  }

  /**
   * Brings the tree to the commit: untracked leftovers (a crash mid-update) removed, then a one-tree reset
   * that rewrites only files whose content or mode changed, restores any that were touched, and deletes what
   * the commit no longer has. If git fails on what is there (a damaged index), the tree is made again.
   */
  private async update(name: string, source: CheckoutSource, signal?: AbortSignal): Promise<string[] | null> {
    try {
      return await this.sync(name, source, signal);
    } catch (e) {
      if (signal?.aborted) throw e;
      await rm(this.indexPath(name), { force: true });
      await rm(this.treePath(name), { recursive: true, force: true });
      await this.sync(name, source, signal);
      return null;
    }
  }

  private async sync(name: string, source: CheckoutSource, signal?: AbortSignal): Promise<string[] | null> {
    const tree = this.treePath(name);
    const index = this.indexPath(name);
    await mkdir(this.root, { recursive: true, mode: 0o700 });
    await mkdir(tree, { recursive: true });
    await mkdir(join(this.root, 'index'), { recursive: true });
    // The lease makes this process the tree's only user, so a lock can only be a crashed update's.
    await rm(`${index}.lock`, { force: true });
    const treeish = source.dir === '.' || source.dir === '' ? source.commit : `${source.commit}:${source.dir}`;
    const kept = await stat(index).then(
      () => true,
      () => false,
    );
    await git(source.gitDir, tree, index, ['clean', '-ffdxq'], signal);
    // What the reset below rewrites: the index (the tree as the last build left it) against the commit's tree.
    const changed = kept
      ? (await git(source.gitDir, tree, index, ['diff-index', '--cached', '--name-only', '-z', '--no-renames', treeish], signal)).split('\0').filter(Boolean)
      : null;
    await git(source.gitDir, tree, index, ['read-tree', '--reset', '-u', treeish], signal);
    await datePastFiles(index);
    return changed;
  }
}

/**
 * Dates the index file into the next whole second, after every file git just wrote. git takes a file whose mtime
 * is not older than its index's as "racily clean" and reads it whole at the next update to be sure (1.1-1.3 s for
 * a 200 MB file in a new tree), and files written in the same second as the index always are. What this gives
 * up is git seeing a same-size change made by something else within that second: the tree is leased to one
 * build, and BuildKit only reads it.
 */
async function datePastFiles(index: string): Promise<void> {
  const next = new Date((Math.floor(Date.now() / 1000) + 1) * 1000);
  await utimes(index, next, next);
}

async function git(gitDir: string, workTree: string, index: string, args: string[], signal?: AbortSignal): Promise<string> {
  const r = await execa('git', ['--git-dir', gitDir, '--work-tree', workTree, ...args], {
    env: gitEnv({ GIT_INDEX_FILE: index }),
    extendEnv: false,
    reject: false,
    timeout: 10 * 60_000,
    ...(signal ? { cancelSignal: signal } : {}),
  });
  if (r.exitCode !== 0) throw new Error(`git ${args[0]}: ${String(r.stderr || r.message).trim()}`);
  return String(r.stdout);
}

const hashOf = (key: string): string => createHash('sha256').update(key).digest('hex').slice(0, 16);
