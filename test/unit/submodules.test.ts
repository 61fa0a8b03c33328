/**
 * Submodules in a build context (src/context/submodules.ts): which URLs name a repo of this server (absolute,
 * relative, with userinfo; anything else is external), .gitmodules as git reads it, the resolver's answers by
 * the project's access rules against real bare repos and a real store, and where a submodule's entries land
 * in fsutil's order once spliced into the listing.
 */
import { execa } from 'execa';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fsutilOrder, GitTree } from '../../src/context/git-tree.js';
import { Access } from '../../src/auth/access.js';
import { maskUrl, parseGitmodules, parseSubmoduleUrl, readGitmodules, submoduleResolver, type SubmoduleResolver } from '../../src/context/submodules.js';
import type { TreeFilter } from '../../src/context/tree.js';
import { RepoStore } from '../../src/git/repos.js';
import { openDb } from '../../src/store/db.js';
import { Store } from '../../src/store/store.js';
import { WorkRepo } from '../helpers/git.js';

const PUBLIC = 'http://build.test:8080';
const parse = (url: string, superRepo = 'alice/app', publicUrl = PUBLIC) => parseSubmoduleUrl(url, { publicUrl, superRepo });
const none: TreeFilter = { includePatterns: [], excludePatterns: [], followPaths: [] };

/** A commit of a work repo with `links` as gitlinks (path -> commit) and `.gitmodules` naming their URLs. */
async function withSubmodules(repo: WorkRepo, links: Record<string, { commit: string; url: string }>, files: Record<string, string> = {}): Promise<string> {
  const modules = Object.entries(links)
    .map(([path, l]) => `[submodule "${path}"]\n\tpath = ${path}\n\turl = ${l.url}\n`)
    .join('');
  for (const [path, l] of Object.entries(links)) await execa('git', ['update-index', '--add', '--cacheinfo', `160000,${l.commit},${path}`], { cwd: repo.dir });
  return repo.commit({ ...files, '.gitmodules': modules }, 'submodules');
}

describe('which URLs name a repo of this server', () => {
  it("takes the public URL's host and port with /git/<owner>/<repo>, .git or not, any userinfo ignored", () => {
    const lib = { ok: true, owner: 'alice', repo: 'lib' };
    expect(parse('http://build.test:8080/git/alice/lib.git')).toEqual(lib);
    expect(parse('http://BUILD.test:8080/git/alice/lib')).toEqual(lib);
    expect(parse('http://build.test:8080/git/alice/lib.git/')).toEqual(lib);
    expect(parse('http://alice:chb_secret@build.test:8080/git/alice/lib.git')).toEqual(lib);
    expect(parse('https://build.test/git/bob/tools.git', 'alice/app', 'https://build.test')).toEqual({ ok: true, owner: 'bob', repo: 'tools' });
    expect(parse('https://build.test:443/x/git/bob/tools.git', 'alice/app', 'https://build.test/x/')).toEqual({ ok: true, owner: 'bob', repo: 'tools' });
  });

  it("resolves relative URLs against the superproject's own URL, as git does", () => {
    expect(parse('../lib.git')).toEqual({ ok: true, owner: 'alice', repo: 'lib' });
    expect(parse('../../bob/other.git')).toEqual({ ok: true, owner: 'bob', repo: 'other' });
    expect(parse('../../bob/other.git', 'alice/app', 'https://build.test/prefix')).toEqual({ ok: true, owner: 'bob', repo: 'other' });
    expect(parse('./lib.git').ok).toBe(false); // inside app.git: no repo
    expect(parse('../../../../../x.git')).toMatchObject({ ok: false, problem: expect.stringContaining('climbs above') });
    expect(parse('../../../x/y/z.git')).toMatchObject({ ok: false, problem: expect.stringContaining('not a repo URL of this server') });
  });

  it('calls everything else external, saying why', () => {
    expect(parse('https://github.com/x/y.git')).toMatchObject({
      ok: false,
      problem: expect.stringContaining('github.com is another host: codehub-build has no credentials for it'),
    });
    expect(parse('http://build.test:9090/git/alice/lib.git')).toMatchObject({ ok: false, problem: expect.stringContaining('another host') });
    expect(parse('https://build.test:8080/git/alice/lib.git').ok).toBe(true); // the port decides, not the scheme
    expect(parse('git@github.com:x/y.git')).toMatchObject({ ok: false, problem: expect.stringContaining('not an http(s) URL') });
    expect(parse('/srv/git/lib.git')).toMatchObject({ ok: false, problem: expect.stringContaining('not an http(s) URL') });
    expect(parse('ssh://git@build.test:8080/git/alice/lib.git')).toMatchObject({ ok: false, problem: expect.stringContaining('ssh URLs are not served') });
    expect(parse('http://build.test:8080/alice/lib.git')).toMatchObject({ ok: false, problem: expect.stringContaining('/git/<owner>/<repo>.git') });
    expect(parse('http://build.test:8080/git/Alice/lib.git')).toMatchObject({ ok: false, problem: expect.stringContaining('owner name "Alice" is invalid') });
  });

  it('masks passwords and http user names (tokens) in what it shows', () => {
    expect(maskUrl('https://alice:chb_secret@build.test/git/alice/lib.git')).toBe('https://alice:***@build.test/git/alice/lib.git');
    expect(maskUrl('https://ghp_token@github.com/x/y.git')).toBe('https://***@github.com/x/y.git');
    expect(maskUrl('ssh://git@github.com/x/y.git')).toBe('ssh://git@github.com/x/y.git');
    expect(maskUrl('git@github.com:x/y.git')).toBe('git@github.com:x/y.git');
    expect(maskUrl('../lib.git')).toBe('../lib.git');
  });
});

describe('.gitmodules', () => {
  it("maps each submodule's path to its URL from git config -z output, names with dots and case kept", () => {
    const out =
      'submodule.vendor/lib.path\nvendor/lib\0submodule.vendor/lib.url\n../lib.git\0submodule.My.Mod.path\nsrc/mod/\0submodule.My.Mod.url\nhttps://x/y\0submodule.half.path\nonly/path\0core.bare\nfalse\0';
    expect([...parseGitmodules(out)]).toEqual([
      ['vendor/lib', '../lib.git'],
      ['src/mod', 'https://x/y'],
    ]);
  });

  it("reads a commit's .gitmodules with git (no includes), and none without the file", async () => {
    const repo = await WorkRepo.create({ 'a.txt': 'a\n' });
    const plain = (await repo.git.revparse(['HEAD'])).trim();
    const sha = await withSubmodules(repo, { 'vendor/lib': { commit: plain, url: 'http://build.test:8080/git/alice/lib.git' } });
    // An include would read any file of the server that its path names: here one that adds a submodule.
    const other = join(mkdtempSync(join(tmpdir(), 'chb-inc-')), 'inc');
    writeFileSync(other, '[submodule "evil"]\n\tpath = evil\n\turl = https://evil.test/e.git\n');
    await repo.commit({ '.gitmodules': `[include]\n\tpath = ${other}\n[submodule "x"]\n\tpath = x\n\turl = ../x.git\n` });
    const included = (await repo.git.revparse(['HEAD'])).trim();
    const bad = await repo.commit({ '.gitmodules': '[submodule "x"\n' });
    const gitDir = join(repo.dir, '.git');
    expect(await readGitmodules(gitDir, sha)).toEqual({ ok: true, urls: new Map([['vendor/lib', 'http://build.test:8080/git/alice/lib.git']]) });
    expect(await readGitmodules(gitDir, plain)).toEqual({ ok: true, urls: new Map() });
    expect(await readGitmodules(gitDir, included)).toEqual({ ok: true, urls: new Map([['x', '../x.git']]) });
    expect(await readGitmodules(gitDir, bad)).toMatchObject({ ok: false, problem: expect.stringMatching(/^\.gitmodules at [0-9a-f]{12} cannot be read: /) });
  });
});

describe("the resolver for a build's pusher", () => {
  let store: Store;
  let repos: RepoStore;
  let libSha: string;
  let lostSha: string;
  let resolver: (pusher: string) => SubmoduleResolver;

  beforeAll(async () => {
    store = new Store(openDb(':memory:'));
    for (const u of ['alice', 'bob', 'carol']) store.accounts.createUser(u, `hash-${u}`);
    repos = new RepoStore(mkdtempSync(join(tmpdir(), 'chb-sub-')));
    const lib = await WorkRepo.create({ 'lib.txt': 'from lib\n' });
    libSha = (await lib.git.revparse(['HEAD'])).trim();
    await execa('git', ['push', '-q', await repos.ensure('alice', 'lib'), 'HEAD:main'], { cwd: lib.dir });
    lostSha = await lib.commit({ 'lib.txt': 'never pushed\n' });
    const repoId = store.repos.ensure('alice', 'lib').id;
    store.repos.share(repoId, store.accounts.userByName('carol')!.id, 'read');
    const access = new Access(store);
    resolver = (pusher) => submoduleResolver({ canRead: (p, o, r) => access.userMayRead(p, o, r), repos, publicUrl: `${PUBLIC}/` }, pusher);
  });

  const ref = (url: string, commit = libSha) => ({ path: 'vendor/lib', url, commit, superRepo: 'alice/app' });

  it("gives the owner and those it is shared with the repo's folder", async () => {
    const ok = { ok: true, gitDir: repos.path('alice', 'lib'), repo: 'alice/lib' };
    expect(await resolver('alice').resolve(ref('../lib.git'))).toEqual(ok);
    expect(await resolver('carol').resolve(ref('http://carol:chb_x@build.test:8080/git/alice/lib.git'))).toEqual(ok);
  });

  it('refuses a user it is not shared with, naming the submodule, the URL and the command that shares it', async () => {
    const r = await resolver('bob').resolve(ref('http://bob:chb_secret@build.test:8080/git/alice/lib.git'));
    expect(r).toEqual({
      ok: false,
      problem:
        'submodule vendor/lib (http://bob:***@build.test:8080/git/alice/lib.git): bob may not read alice/lib (it is not shared with bob, or does not exist); its owner can share it: codehub-build repo share alice/lib bob --role read',
    });
  });

  it('says what to push when the repo or the commit is missing, and why an external URL cannot be read', async () => {
    expect(await resolver('alice').resolve(ref('../nope.git'))).toMatchObject({
      ok: false,
      problem: `submodule vendor/lib (../nope.git): there is no repository alice/nope on this server; push it first: git push ${PUBLIC}/git/alice/nope.git`,
    });
    expect(await resolver('alice').resolve(ref('../lib.git', lostSha))).toMatchObject({
      ok: false,
      problem: expect.stringContaining(`commit ${lostSha} is not on a branch or tag of alice/lib; push ${lostSha} to alice/lib first`),
    });
    const ext = await resolver('alice').resolve(ref('https://ghp_token@github.com/x/y.git'));
    expect(ext).toMatchObject({
      ok: false,
      problem: expect.stringContaining('submodule vendor/lib (https://***@github.com/x/y.git) cannot be read: github.com is another host'),
    });
    expect(JSON.stringify(ext)).not.toContain('ghp_token');
    expect(await resolver('gone').resolve(ref('../lib.git'))).toMatchObject({
      ok: false,
      problem: expect.stringContaining("the build's pusher gone is no longer a user"),
    });
  });
});

describe('a submodule spliced into the listing', () => {
  const trees: GitTree[] = [];
  afterAll(() => {
    for (const t of trees) t.close();
  });

  it("puts its entries right after its folder, in fsutil's order around names that sort between", async () => {
    const lib = await WorkRepo.create({ 'a.txt': 'a\n', 'z/deep.txt': 'deep\n', 'b-c.txt': 'b\n' });
    const libSha = (await lib.git.revparse(['HEAD'])).trim();
    // `vendor/lib` beside `vendor/lib-x` and `vendor/lib.txt`, which git sorts before `vendor/lib/` and fsutil after.
    const app = await WorkRepo.create({ 'vendor/lib-x/k.txt': 'k\n', 'vendor/lib.txt': 't\n', 'vendor/a.txt': 'a\n', 'zzz.txt': 'z\n' });
    const appSha = await withSubmodules(app, { 'vendor/lib': { commit: libSha, url: '../lib.git' } });
    const resolver: SubmoduleResolver = { resolve: async () => ({ ok: true, gitDir: join(lib.dir, '.git'), repo: 'alice/lib' }) };
    const t = new GitTree(join(app.dir, '.git'), appSha, '.', { repo: 'alice/app', submodules: resolver });
    trees.push(t);
    const r = await t.entries(none);
    if (!r.ok) throw new Error(r.problem);
    const paths = r.entries.map((e) => e.path);
    expect(paths).toEqual([
      '.gitmodules',
      'vendor',
      'vendor/a.txt',
      'vendor/lib',
      'vendor/lib/a.txt',
      'vendor/lib/b-c.txt',
      'vendor/lib/z',
      'vendor/lib/z/deep.txt',
      'vendor/lib-x',
      'vendor/lib-x/k.txt',
      'vendor/lib.txt',
      'zzz.txt',
    ]);
    for (let i = 1; i < paths.length; i++) expect(fsutilOrder(paths[i - 1]!, paths[i]!)).toBeLessThan(0);
  });
});
