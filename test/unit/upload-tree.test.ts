/**
 * An uploaded folder as a build context (src/context/upload-tree.ts): the same files pushed as a commit
 * (GitTree) and uploaded as a manifest and blobs (UploadTree) give BuildKit the same entries under every filter,
 * since both go through filter.ts; mtimes follow content; file bytes come from the owner's blob store.
 */
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GitTree } from '../../src/context/git-tree.js';
import { MODE_DIR, MODE_SYMLINK, type TreeEntry, type TreeFilter } from '../../src/context/tree.js';
import { UploadTree } from '../../src/context/upload-tree.js';
import { BlobNotFoundError, BlobStore } from '../../src/uploads/blobs.js';
import { validateManifest, type ManifestEntry, type UploadManifest } from '../../src/uploads/manifest.js';
import { WorkRepo } from '../helpers/git.js';

/** The folder, as files (content), executables (`+x` content) and symlinks (`-> target`). */
const FILES: Record<string, string> = {
  Dockerfile: 'FROM scratch\nCOPY . /\n',
  '.dockerignore': 'data\n',
  'a.txt': 'hello\n',
  'a-b.txt': 'dash\n',
  'a/x.txt': 'x\n',
  'a/b/y.txt': 'y\n',
  'a/b/z.md': 'z\n',
  'a.d/inner.txt': 'dotted folder\n',
  'data/big.bin': 'big\n',
  'data/keep.txt': 'keep\n',
  'src/main.go': 'package main\n',
  'src/lib/util.go': 'package lib\n',
  'run.sh': '+x#!/bin/sh\n',
  link: '-> a/b',
  'src/up': '-> ../a',
  'empty.txt': '',
};

const none: TreeFilter = { includePatterns: [], excludePatterns: [], followPaths: [] };
const made: string[] = [];
let bare: string;
let commit: string;
let gitTree: GitTree;
let store: BlobStore;
let uploadTree: UploadTree;

const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const isLink = (v: string) => v.startsWith('-> ');
const isExec = (v: string) => v.startsWith('+x');
const content = (v: string) => (isExec(v) ? v.slice(2) : v);

/** The manifest a workspace would send for `files`, unsorted (the server sorts), with git's modes. */
function manifestOf(files: Record<string, string>): UploadManifest {
  const entries: ManifestEntry[] = [];
  const dirs = new Set<string>();
  for (const [path, v] of Object.entries(files).reverse()) {
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
    if (isLink(v)) entries.push({ path, mode: (MODE_SYMLINK | 0o777) >>> 0, size: 0, linkname: v.slice(3) });
    else entries.push({ path, mode: isExec(v) ? 0o755 : 0o644, size: Buffer.byteLength(content(v)), sha256: sha(content(v)) });
  }
  for (const d of dirs) entries.push({ path: d, mode: (MODE_DIR | 0o755) >>> 0, size: 0 });
  const r = validateManifest({ entries }, { maxBytes: 1024 * 1024 });
  if (!r.ok) throw new Error(r.problems.join('\n'));
  return r.manifest;
}

async function upload(owner: string, files: Record<string, string>): Promise<UploadManifest> {
  for (const v of Object.values(files)) {
    if (isLink(v)) continue;
    const c = Buffer.from(content(v));
    await store.write(owner, sha(content(v)), c.length, Readable.from([c]));
  }
  return manifestOf(files);
}

async function entries(t: GitTree | UploadTree, filter: TreeFilter): Promise<TreeEntry[]> {
  const r = await t.entries(filter);
  if (!r.ok) throw new Error(r.problem);
  return r.entries;
}

/** What BuildKit compares apart from the mtime (which each tree derives from its own hashes). */
const shape = (es: TreeEntry[]) => es.map((e) => ({ path: e.path, mode: e.mode, size: e.size, linkname: e.linkname }));

beforeAll(async () => {
  const plain = Object.fromEntries(
    Object.entries(FILES)
      .filter(([, v]) => !isLink(v))
      .map(([p, v]) => [p, content(v)]),
  );
  const repo = await WorkRepo.create(plain);
  await execa('chmod', ['+x', ...Object.keys(FILES).filter((p) => isExec(FILES[p]!))], { cwd: repo.dir });
  for (const [p, v] of Object.entries(FILES)) if (isLink(v)) await execa('ln', ['-s', v.slice(3), p], { cwd: repo.dir });
  await repo.git.add(['-A']);
  await repo.git.commit('modes and links');
  commit = (await repo.git.revparse(['HEAD'])).trim();
  bare = mkdtempSync(join(tmpdir(), 'chb-upload-git-'));
  made.push(repo.dir, bare);
  await execa('git', ['clone', '-q', '--bare', repo.dir, bare]);
  gitTree = new GitTree(bare, commit, '.');

  const root = mkdtempSync(join(tmpdir(), 'chb-upload-blobs-'));
  made.push(root);
  store = new BlobStore(root);
  uploadTree = new UploadTree(store, 'alice', await upload('alice', FILES));
});
afterAll(() => {
  gitTree?.close();
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

describe('the same folder pushed and uploaded', () => {
  const filters: [string, TreeFilter][] = [
    ['everything', none],
    ["the Dockerfile's own call", { ...none, followPaths: ['Dockerfile', 'Dockerfile.dockerignore', '.dockerignore'] }],
    ['a followpath to a file', { ...none, followPaths: ['a/x.txt'] }],
    ['a followpath to a folder', { ...none, followPaths: ['a/b'] }],
    ['a followpath through a symlink', { ...none, followPaths: ['link/y.txt'] }],
    ['a followpath through a relative symlink in a folder', { ...none, followPaths: ['src/up/x.txt'] }],
    ['a followpath that matches nothing', { ...none, followPaths: ['nope'] }],
    ['several followpaths with a wildcard', { ...none, followPaths: ['src/*.go', 'a.*'] }],
    ['.dockerignore with an exception', { ...none, excludePatterns: ['data', 'a', '!a/x.txt'] }],
    ['.dockerignore of everything but the Dockerfile', { ...none, excludePatterns: ['*', '!Dockerfile'] }],
    ['a ** exclude', { ...none, excludePatterns: ['**/*.txt'] }],
    ['include patterns', { ...none, includePatterns: ['a/**', 'src'] }],
    ['include and exclude together', { ...none, includePatterns: ['a', 'data'], excludePatterns: ['a/b', 'data/big.bin'] }],
    ['followpaths and excludes together', { ...none, followPaths: ['a', 'src'], excludePatterns: ['**/*.md', 'src/lib'] }],
  ];

  it.each(filters)('gives the same entries: %s', async (_, filter) => {
    const fromGit = await entries(gitTree, filter);
    const fromUpload = await entries(uploadTree, filter);
    expect(shape(fromUpload)).toEqual(shape(fromGit));
  });

  it('lists what a check of the filters expects, not only what GitTree does', async () => {
    expect((await entries(uploadTree, { ...none, followPaths: ['link/y.txt'] })).map((e) => e.path)).toEqual(['a', 'a/b', 'a/b/y.txt', 'link']);
    expect((await entries(uploadTree, { ...none, excludePatterns: ['*', '!Dockerfile'] })).map((e) => e.path)).toEqual(['Dockerfile']);
    expect((await entries(uploadTree, none)).map((e) => e.path)).toContain('empty.txt');
  });

  it('refuses a malformed pattern with the same problem', async () => {
    const bad: TreeFilter = { ...none, excludePatterns: ['ok', '!'], includePatterns: ['[x'] };
    const fromUpload = await uploadTree.entries(bad);
    expect(fromUpload).toEqual(await gitTree.entries(bad));
    expect(fromUpload.ok).toBe(false);
  });
});

describe('an uploaded folder as a context', () => {
  it("reads a file's bytes from the owner's store, as a Buffer or a stream", async () => {
    expect((await uploadTree.read('a/b/y.txt')).toString()).toBe('y\n');
    expect((await uploadTree.read('run.sh')).toString()).toBe('#!/bin/sh\n');
    expect((await uploadTree.read('empty.txt')).length).toBe(0);
    expect(await text(await uploadTree.open('a.txt'))).toBe('hello\n');
    await expect(uploadTree.read('a')).rejects.toThrow('a is not a file of the context');
    await expect(uploadTree.read('link')).rejects.toThrow('link is not a file of the context');
    await expect(uploadTree.read('nope')).rejects.toThrow('nope is not a file of the context');
  });

  it("fails a read whose blob is not in the owner's store (another owner's copy does not count)", async () => {
    const t = new UploadTree(store, 'bob', manifestOf(FILES));
    await expect(t.read('a.txt')).rejects.toThrow(BlobNotFoundError);
  });

  it("changes a file's mtime exactly when its content changes, and a symlink's when its target does", async () => {
    const before = new Map((await entries(uploadTree, none)).map((e) => [e.path, e.mtimeNs]));
    const changedFiles = { ...FILES, 'a.txt': 'howdy\n', link: '-> a' };
    const after = new Map((await entries(new UploadTree(store, 'alice', await upload('alice', changedFiles)), none)).map((e) => [e.path, e.mtimeNs]));
    expect([...after].filter(([p, t]) => before.get(p) !== t).map(([p]) => p)).toEqual(['a.txt', 'link']);
    // Same content at another path: the same time, as git-tree gives the same blob the same time.
    expect(before.get('a/x.txt')).not.toBe(before.get('a/b/y.txt'));
    const copy = new Map(
      (await entries(new UploadTree(store, 'alice', await upload('alice', { ...FILES, 'copy.txt': 'hello\n' })), none)).map((e) => [e.path, e.mtimeNs]),
    );
    expect(copy.get('copy.txt')).toBe(copy.get('a.txt'));
    // Folders carry the fixed date: 2000-01-01.
    expect(before.get('a')).toBe(946_684_800_000_000_000n);
  });
});
