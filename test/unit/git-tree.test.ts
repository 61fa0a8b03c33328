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
import { fsutilOrder, GitTree, MAX_SUBMODULE_DEPTH } from '../../src/context/git-tree.js';
import type { SubmoduleResolver } from '../../src/context/submodules.js';
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
    Dockerfile: 'FROM scratch\n',
    'a.txt': 'hello\n',
    'a/x.txt': 'x\n',
    'a/b/y.txt': 'y\n',
    'data/big.bin': 'big\n',
    'run.sh': '#!/bin/sh\n',
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
afterAll(() => {
  for (const t of trees) t.close();
});

describe('a commit as a build context', () => {
  it("lists every entry in fsutil's order, folders before what they hold", async () => {
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

  it("changes a file's mtime exactly when its content changes, from one commit to the next", async () => {
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
    expect(paths(await entries(tree(first), { ...none, excludePatterns: ['data', 'a', '!a/x.txt'] }))).toEqual([
      'Dockerfile',
      'a',
      'a/x.txt',
      'a.txt',
      'link',
      'run.sh',
    ]);
    const bad = await tree(first).entries({ ...none, excludePatterns: ['ok', '!'] });
    expect(bad).toEqual({ ok: false, problem: '.dockerignore:2: "!" with no pattern after it' });
  });

  it("takes a folder of the commit as the root, and reads a file's bytes", async () => {
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

describe('submodules spliced in from their own bare repos', () => {
  let lib: string;
  let leaf: string;
  let app: string;
  let appSha: string;
  let libSha: string;
  let chain: string;
  let chainSha: string;
  const asked: { path: string; url: string; superRepo: string }[] = [];
  const own: GitTree[] = [];

  /** Real bare repos by URL, as the server's resolver finds them; anything else is refused as external. */
  const resolver: SubmoduleResolver = {
    async resolve(sub) {
      asked.push({ path: sub.path, url: sub.url, superRepo: sub.superRepo });
      const gitDir = ({ '../lib.git': lib, '../leaf.git': leaf, '../chain.git': chain } as Record<string, string>)[sub.url];
      return gitDir ? { ok: true, gitDir, repo: `alice/${sub.url.slice(3, -4)}` } : { ok: false, problem: `submodule ${sub.path} (${sub.url}): external` };
    },
  };
  const subTree = (gitDir: string, commit: string, dir = '.', withResolver = true) => {
    const t = new GitTree(gitDir, commit, dir, withResolver ? { repo: 'alice/app', submodules: resolver } : {});
    own.push(t);
    return t;
  };
  /** A bare copy of a work repo. */
  const bareOf = async (repo: WorkRepo) => {
    const dir = mkdtempSync(join(tmpdir(), 'chb-subtree-'));
    await execa('git', ['clone', '-q', '--bare', repo.dir, dir]);
    return dir;
  };
  /** Adds gitlinks (path -> commit) with their URLs in .gitmodules, and commits. */
  const link = async (repo: WorkRepo, links: Record<string, [string, string]>, files: Record<string, string> = {}) => {
    for (const [path, [commit]] of Object.entries(links))
      await execa('git', ['update-index', '--add', '--cacheinfo', `160000,${commit},${path}`], { cwd: repo.dir });
    const modules = Object.entries(links)
      .map(([path, [, url]]) => `[submodule "${path}"]\n\tpath = ${path}\n\turl = ${url}\n`)
      .join('');
    return repo.commit({ ...files, '.gitmodules': modules });
  };

  beforeAll(async () => {
    const leafRepo = await WorkRepo.create({ 'leaf.txt': 'leaf\n' });
    leaf = await bareOf(leafRepo);
    const libRepo = await WorkRepo.create({ 'lib.txt': 'from lib\n', 'bin/tool': '#!/bin/sh\n' });
    await execa('chmod', ['+x', 'bin/tool'], { cwd: libRepo.dir });
    await execa('ln', ['-s', 'lib.txt', 'alias'], { cwd: libRepo.dir });
    await libRepo.git.add(['bin/tool', 'alias']);
    libSha = await link(libRepo, { 'deps/leaf': [(await leafRepo.git.revparse(['HEAD'])).trim(), '../leaf.git'] });
    lib = await bareOf(libRepo);
    const appRepo = await WorkRepo.create({ Dockerfile: 'FROM scratch\n', 'svc/Dockerfile': 'FROM scratch\n', 'hello.txt': 'hi\n' });
    appSha = await link(appRepo, {
      'vendor/lib': [libSha, '../lib.git'],
      'third_party/ext': [libSha, 'https://github.com/x/y.git'],
      'svc/lib': [libSha, '../lib.git'],
      'svc/ext': [libSha, 'https://github.com/x/y.git'],
    });
    app = await bareOf(appRepo);
    // Eleven commits, each holding the one before as the submodule `m`: nested deeper than the limit.
    const chainRepo = await WorkRepo.create({ 'a.txt': 'a\n' });
    chainSha = (await chainRepo.git.revparse(['HEAD'])).trim();
    for (let i = 0; i < 10; i++) chainSha = await link(chainRepo, { m: [chainSha, '../chain.git'] }, { 'a.txt': `a${i}\n` });
    chain = await bareOf(chainRepo);
  });
  afterAll(() => {
    for (const t of own) t.close();
  });

  it("lists a submodule's tree under its path, recursively, and reads its files from its own repo", async () => {
    const t = subTree(app, appSha);
    const es = await entries(t, { ...none, followPaths: ['vendor/lib'] });
    expect(paths(es)).toEqual([
      'vendor',
      'vendor/lib',
      'vendor/lib/.gitmodules',
      'vendor/lib/alias',
      'vendor/lib/bin',
      'vendor/lib/bin/tool',
      'vendor/lib/deps',
      'vendor/lib/deps/leaf',
      'vendor/lib/deps/leaf/leaf.txt',
      'vendor/lib/lib.txt',
    ]);
    const byPath = new Map(es.map((e) => [e.path, e]));
    expect(byPath.get('vendor/lib/bin/tool')!.mode).toBe(0o755);
    expect(byPath.get('vendor/lib/alias')).toMatchObject({ mode: (MODE_SYMLINK | 0o777) >>> 0, linkname: 'lib.txt' });
    expect((await t.read('vendor/lib/lib.txt')).toString()).toBe('from lib\n');
    expect((await t.read('vendor/lib/deps/leaf/leaf.txt')).toString()).toBe('leaf\n');
    expect((await t.read('hello.txt')).toString()).toBe('hi\n');
    // A nested submodule's relative URL is its own superproject's (alice/lib), named by its full path.
    expect(asked).toContainEqual({ path: 'vendor/lib/deps/leaf', url: '../leaf.git', superRepo: 'alice/lib' });
  });

  it('fails the listing with the problem when the build reads a submodule it cannot have', async () => {
    const problem = 'submodule third_party/ext (https://github.com/x/y.git): external';
    const t = subTree(app, appSha);
    // COPY . reads everything: every submodule that cannot be had is named at once.
    expect(await t.entries(none)).toEqual({ ok: false, problem: `submodule svc/ext (https://github.com/x/y.git): external; ${problem}` });
    expect(await t.entries({ ...none, excludePatterns: ['svc'] })).toEqual({ ok: false, problem });
    expect(await t.entries({ ...none, followPaths: ['third_party/ext/lib.txt'] })).toEqual({ ok: false, problem });
    expect(await t.entries({ ...none, followPaths: ['third_party'] })).toEqual({ ok: false, problem });
    expect(await t.entries({ ...none, followPaths: ['third_*/ext'] })).toEqual({ ok: false, problem });
    expect(await t.entries({ ...none, excludePatterns: ['svc', 'third_party', '!third_party/ext/keep.txt'] })).toEqual({ ok: false, problem });
  });

  it('serves a submodule it cannot have as an empty folder when the build does not read it', async () => {
    const t = subTree(app, appSha);
    expect(paths(await entries(t, { ...none, followPaths: ['Dockerfile', 'hello.txt'] }))).toEqual(['Dockerfile', 'hello.txt']);
    expect(paths(await entries(t, { ...none, followPaths: ['third_party/*.txt'] }))).toEqual([]);
    const ignored = paths(await entries(t, { ...none, excludePatterns: ['third_party', 'svc'] }));
    expect(ignored).toContain('vendor/lib/lib.txt');
    expect(ignored.filter((p) => p.startsWith('third_party'))).toEqual([]);
    expect(paths(await entries(t, { ...none, excludePatterns: ['*', '!Dockerfile'] }))).toEqual(['Dockerfile']);
  });

  it("takes .gitmodules paths from the repo's root when the context is a folder of it", async () => {
    const t = subTree(app, appSha, 'svc');
    expect(paths(await entries(t, { ...none, followPaths: ['lib/lib.txt'] }))).toEqual(['lib', 'lib/lib.txt']);
    expect(await t.entries({ ...none, followPaths: ['ext'] })).toEqual({ ok: false, problem: 'submodule svc/ext (https://github.com/x/y.git): external' });
  });

  it('leaves submodules empty without a resolver, as before', async () => {
    const es = await entries(subTree(app, appSha, '.', false));
    expect(paths(es).filter((p) => p.startsWith('vendor'))).toEqual(['vendor', 'vendor/lib']);
    expect(es.find((e) => e.path === 'vendor/lib')!.mode).toBe((MODE_DIR | 0o755) >>> 0);
  });

  it('stops nesting at the depth limit, failing only a build that reads that deep', async () => {
    const t = subTree(chain, chainSha);
    const deepest = Array.from({ length: MAX_SUBMODULE_DEPTH + 1 }, () => 'm').join('/');
    expect(await t.entries(none)).toEqual({ ok: false, problem: `submodule ${deepest}: submodules nest deeper than ${MAX_SUBMODULE_DEPTH} levels here` });
    const shallow = await entries(t, { ...none, followPaths: ['m/m/a.txt'] });
    expect(paths(shallow)).toEqual(['m', 'm/m', 'm/m/a.txt']);
    expect((await t.read('m/m/a.txt')).toString()).toBe('a7\n');
  });
});
