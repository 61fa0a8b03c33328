/**
 * A commit's tree as a build context (src/context/git-tree.ts), read from a real bare repo: fsutil's order,
 * BuildKit's filters (followpaths, include and exclude patterns) with the folders above what is sent, file
 * modes and symlinks, mtimes that change exactly when a file's content does, and the bytes of a file.
 */
import { execa } from 'execa';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fsutilOrder, GitTree } from '../../src/context/git-tree.js';
import { MODE_DIR, MODE_SYMLINK, type TreeEntry, type TreeFilter } from '../../src/context/tree.js';
import { WorkRepo } from '../helpers/git.js';

let bare: string;
let first: string;
let second: string;
const trees: GitTree[] = [];

const none: TreeFilter = { includePatterns: [], excludePatterns: [], followPaths: [] };
const paths = (es: TreeEntry[]) => es.map((e) => e.path);
function tree(commit: string, dir = '.') {
  const t = new GitTree(bare, commit, dir);
  trees.push(t);
  return t;
}
async function entries(t: GitTree, filter = none) {
  const r = await t.entries(filter);
  if (!r.ok) throw new Error(r.problem);
  return r.entries;
}

beforeAll(async () => {
  const repo = await WorkRepo.create({
    Dockerfile: 'FROM scratch\n', 'a.txt': 'hello\n', 'a/x.txt': 'x\n', 'a/b/y.txt': 'y\n', 'data/big.bin': 'big\n', 'run.sh': '#!/bin/sh\n',
  });
  await execa('chmod', ['+x', 'run.sh'], { cwd: repo.dir });
  await execa('ln', ['-s', 'a/b', 'link'], { cwd: repo.dir });
  await repo.git.add(['run.sh', 'link']);
  await repo.git.commit('an executable and a symlink');
  first = (await repo.git.revparse(['HEAD'])).trim();
  second = await repo.commit({ 'a.txt': 'howdy\n' });
  bare = mkdtempSync(join(tmpdir(), 'chb-tree-'));
  await execa('git', ['clone', '-q', '--bare', repo.dir, bare]);
});
afterAll(() => { for (const t of trees) t.close(); });

describe('a commit as a build context', () => {
  it('lists every entry in fsutil\'s order, folders before what they hold', async () => {
    expect(paths(await entries(tree(first)))).toEqual(['Dockerfile', 'a', 'a/b', 'a/b/y.txt', 'a/x.txt', 'a.txt', 'data', 'data/big.bin', 'link', 'run.sh']);
    expect(['a.txt', 'a', 'a/x'].sort(fsutilOrder)).toEqual(['a', 'a/x', 'a.txt']);
  });

  it('carries modes, sizes and symlink targets as BuildKit compares them', async () => {
    const byPath = new Map((await entries(tree(first))).map((e) => [e.path, e]));
    expect(byPath.get('a')!.mode).toBe((MODE_DIR | 0o755) >>> 0);
    expect(byPath.get('run.sh')!.mode).toBe(0o755);
    expect(byPath.get('a.txt')).toMatchObject({ mode: 0o644, size: 6 });
    expect(byPath.get('link')).toMatchObject({ mode: (MODE_SYMLINK | 0o777) >>> 0, linkname: 'a/b' });
  });

  it('changes a file\'s mtime exactly when its content changes, from one commit to the next', async () => {
    const before = new Map((await entries(tree(first))).map((e) => [e.path, e.mtimeNs]));
    const after = new Map((await entries(tree(second))).map((e) => [e.path, e.mtimeNs]));
    const changed = [...after].filter(([p, t]) => before.get(p) !== t).map(([p]) => p);
    expect(changed).toEqual(['a.txt']);
  });

  it('sends only the followpaths, what is under them and the folders above them; symlinks on the way followed', async () => {
    expect(paths(await entries(tree(first), { ...none, followPaths: ['a/x.txt'] }))).toEqual(['a', 'a/x.txt']);
    expect(paths(await entries(tree(first), { ...none, followPaths: ['a/b'] }))).toEqual(['a', 'a/b', 'a/b/y.txt']);
    expect(paths(await entries(tree(first), { ...none, followPaths: ['link/y.txt'] }))).toEqual(['a', 'a/b', 'a/b/y.txt', 'link']);
  });

  it('leaves out what .dockerignore excludes, keeps its exceptions and their folders', async () => {
    expect(paths(await entries(tree(first), { ...none, excludePatterns: ['data', 'a', '!a/x.txt'] }))).toEqual(['Dockerfile', 'a', 'a/x.txt', 'a.txt', 'link', 'run.sh']);
    const bad = await tree(first).entries({ ...none, excludePatterns: ['ok', '!'] });
    expect(bad).toEqual({ ok: false, problem: '.dockerignore:2: "!" with no pattern after it' });
  });

  it('takes a folder of the commit as the root, and reads a file\'s bytes', async () => {
    const t = tree(second, 'a');
    expect(paths(await entries(t))).toEqual(['b', 'b/y.txt', 'x.txt']);
    expect((await t.read('x.txt')).toString()).toBe('x\n');
    expect((await tree(second).read('a.txt')).toString()).toBe('howdy\n');
    await expect(t.read('b')).rejects.toThrow('b is not a file of the context');
  });
});

describe('snapshot keys for concurrent builds', () => {
  it('gives concurrent builds of one repo different keys and reuses the lowest free one', async () => {
    const { SnapshotSlots } = await import('../../src/context/slots.js');
    const slots = new SnapshotSlots();
    const a = slots.take('alice/shop:.:Dockerfile');
    const b = slots.take('alice/shop:.:Dockerfile');
    const other = slots.take('bob/app:.:Dockerfile');
    expect([a.key, b.key, other.key]).toEqual(['alice/shop:.:Dockerfile#0', 'alice/shop:.:Dockerfile#1', 'bob/app:.:Dockerfile#0']);
    a.release();
    a.release();
    expect(slots.take('alice/shop:.:Dockerfile').key).toBe('alice/shop:.:Dockerfile#0');
    expect(slots.take('alice/shop:.:Dockerfile').key).toBe('alice/shop:.:Dockerfile#2');
  });
});
