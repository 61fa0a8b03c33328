/**
 * Kept work trees (src/context/checkout.ts) with real git: what BuildKit's snapshot comparison needs (unchanged
 * files keep their mtimes, deleted ones go, nothing but the commit's files in the folder), recovery from a
 * crash mid-update, one tree per concurrent build, reclaiming, and the served bare repo left as it was.
 */
import { execa } from 'execa';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { keptContext } from '../../src/builder/buildx.js';
import type { BuildIO, BuildRequest } from '../../src/builder/driver.js';
import { Checkouts, checkoutsAt, defaultCheckoutsDir, type WorkTree } from '../../src/context/checkout.js';
import { WorkRepo } from '../helpers/git.js';

let bare: string;
let first: string;
let second: string;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  const repo = await WorkRepo.create({
    Dockerfile: 'FROM scratch\n',
    'keep.txt': 'same in both\n',
    'change.txt': 'one\n',
    'gone/only.txt': 'removed later\n',
    'app/main.js': 'x\n',
  });
  first = (await repo.git.revparse(['HEAD'])).trim();
  second = await repo.commit({ 'change.txt': 'two\n', 'gone/only.txt': null, 'added.txt': 'new\n' });
  bare = mkdtempSync(join(tmpdir(), 'chb-co-bare-'));
  await execa('git', ['clone', '-q', '--bare', repo.dir, bare]);
});

const newRoot = () => mkdtempSync(join(tmpdir(), 'chb-co-'));
const src = (commit: string, dir = '.') => ({ gitDir: bare, commit, dir });
/** Every path under `dir`, folders with a trailing slash, sorted. */
function listing(dir: string, prefix = ''): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? [`${prefix}${e.name}/`, ...listing(join(dir, e.name), `${prefix}${e.name}/`)] : [`${prefix}${e.name}`]))
    .sort();
}
const mtimeNs = (p: string) => statSync(p, { bigint: true }).mtimeNs;

describe('a kept work tree', () => {
  it("holds exactly the commit's files: no .git, no index file inside", async () => {
    const c = new Checkouts({ root: newRoot() });
    const t = await c.take('k', src(first));
    expect(listing(t.path)).toEqual(['Dockerfile', 'app/', 'app/main.js', 'change.txt', 'gone/', 'gone/only.txt', 'keep.txt']);
    expect(readFileSync(join(t.path, 'change.txt'), 'utf8')).toBe('one\n');
    expect(t.name).toMatch(/^[0-9a-f]{16}-0$/);
    expect(basename(t.path)).toBe(t.name);
    await t.release();
  });

  it('is the context folder itself for a subfolder context', async () => {
    const c = new Checkouts({ root: newRoot() });
    const t = await c.take('k', src(first, 'app'));
    expect(listing(t.path)).toEqual(['main.js']);
    await t.release();
  });

  it('rewrites only what changed: unchanged files keep their mtimes, deleted files and emptied folders vanish', async () => {
    const c = new Checkouts({ root: newRoot() });
    const a = await c.take('k', src(first));
    const before = { keep: mtimeNs(join(a.path, 'keep.txt')), change: mtimeNs(join(a.path, 'change.txt')), docker: mtimeNs(join(a.path, 'Dockerfile')) };
    await a.release();
    await sleep(20);
    const b = await c.take('k', src(second));
    expect(b.path).toBe(a.path);
    expect(mtimeNs(join(b.path, 'keep.txt'))).toBe(before.keep);
    expect(mtimeNs(join(b.path, 'Dockerfile'))).toBe(before.docker);
    expect(mtimeNs(join(b.path, 'change.txt'))).not.toBe(before.change);
    expect(readFileSync(join(b.path, 'change.txt'), 'utf8')).toBe('two\n');
    expect(listing(b.path)).toEqual(['Dockerfile', 'added.txt', 'app/', 'app/main.js', 'change.txt', 'keep.txt']);
    await b.release();
  });

  it('says which files its update rewrote or removed (what BuildKit will be sent), and nothing for a tree made new', async () => {
    const c = new Checkouts({ root: newRoot() });
    const a = await c.take('k', src(first));
    expect(a.changed).toBeNull();
    await a.release();
    const b = await c.take('k', src(second));
    expect([...b.changed!].sort()).toEqual(['added.txt', 'change.txt', 'gone/only.txt']);
    await b.release();
    const same = await c.take('k', src(second));
    expect(same.changed).toEqual([]);
    await same.release();
    const sub = new Checkouts({ root: newRoot() });
    await (await sub.take('k', src(first, 'app'))).release();
    expect((await sub.take('k', src(second, 'app'))).changed).toEqual([]);
  });

  it('leaves no file racily clean: its index is dated past every file, so the next update trusts what git wrote', async () => {
    // git re-reads (hashes) every file whose mtime is not older than the index's, in whole seconds: the whole of
    // a new tree when the index is written in the same second as its files (1.1-1.3 s for a 200 MB file).
    const root = newRoot();
    const c = new Checkouts({ root });
    const a = await c.take('k', src(first));
    const seconds = (p: string) => statSync(p, { bigint: true }).mtimeNs / 1_000_000_000n;
    const indexSecond = seconds(join(root, 'index', a.name));
    for (const f of listing(a.path).filter((f) => !f.endsWith('/'))) expect(seconds(join(a.path, f))).toBeLessThan(indexSecond);
    const { stdout } = await execa('git', ['--git-dir', bare, '--work-tree', a.path, 'ls-files', '--debug'], {
      env: { ...process.env, GIT_INDEX_FILE: join(root, 'index', a.name) },
    });
    expect(stdout).not.toMatch(/size: 0\b/); // nor smudged (a racily clean entry written again has its size zeroed)
    await a.release();
  });

  it('removes untracked leftovers and restores touched files (a crash mid-update, or anything else writing there)', async () => {
    const c = new Checkouts({ root: newRoot() });
    const a = await c.take('k', src(first));
    writeFileSync(join(a.path, 'junk.tmp'), 'x');
    mkdirSync(join(a.path, 'half/deep'), { recursive: true });
    writeFileSync(join(a.path, 'half/deep/file'), 'x');
    writeFileSync(join(a.path, 'keep.txt'), 'tampered\n');
    await a.release();
    const b = await c.take('k', src(first));
    expect(listing(b.path)).toEqual(['Dockerfile', 'app/', 'app/main.js', 'change.txt', 'gone/', 'gone/only.txt', 'keep.txt']);
    expect(readFileSync(join(b.path, 'keep.txt'), 'utf8')).toBe('same in both\n');
    await b.release();
  });

  it('recovers from a stale index.lock and from a damaged index', async () => {
    const root = newRoot();
    const c = new Checkouts({ root });
    const a = await c.take('k', src(first));
    const keep = mtimeNs(join(a.path, 'keep.txt'));
    await a.release();
    writeFileSync(join(root, 'index', `${a.name}.lock`), '');
    const b = await c.take('k', src(second));
    expect(readFileSync(join(b.path, 'change.txt'), 'utf8')).toBe('two\n');
    expect(mtimeNs(join(b.path, 'keep.txt'))).toBe(keep); // the lock was cleared, not the whole tree made again
    await b.release();
    writeFileSync(join(root, 'index', a.name), 'not an index');
    const d = await c.take('k', src(first));
    expect(listing(d.path)).toEqual(['Dockerfile', 'app/', 'app/main.js', 'change.txt', 'gone/', 'gone/only.txt', 'keep.txt']);
    await d.release();
  });

  it('gives concurrent builds of one key their own trees, and each key its own stable name', async () => {
    const root = newRoot();
    const c = new Checkouts({ root });
    const a = await c.take('k', src(first));
    const b = await c.take('k', src(second));
    expect(b.path).not.toBe(a.path);
    expect(b.name).toBe(`${a.name.slice(0, -2)}-1`);
    // The second build's update did not touch the first's tree.
    expect(readFileSync(join(a.path, 'change.txt'), 'utf8')).toBe('one\n');
    expect(readFileSync(join(b.path, 'change.txt'), 'utf8')).toBe('two\n');
    await a.release();
    await b.release();
    const again = await c.take('k', src(first));
    expect(again.name).toBe(a.name); // the lowest free slot, kept warm
    const other = await c.take('other', src(first));
    expect(other.name).not.toBe(again.name);
    await again.release();
    await other.release();
    // A restarted server finds the same trees under the same names.
    const later = await new Checkouts({ root }).take('k', src(first));
    expect(later.name).toBe(a.name);
    await later.release();
  });

  it('refuses anything but a full commit id', async () => {
    const c = new Checkouts({ root: newRoot() });
    await expect(c.take('k', src('--upload-pack=x'))).rejects.toThrow(/not a full commit id/);
    await expect(c.take('k', src(first.slice(0, 12)))).rejects.toThrow(/not a full commit id/);
  });

  it('fails and gives the slot back when the commit is not in the repo', async () => {
    const c = new Checkouts({ root: newRoot() });
    await expect(c.take('k', src('0'.repeat(40)))).rejects.toThrow(/read-tree/);
    const t = await c.take('k', src(first));
    expect(t.name).toMatch(/-0$/);
    await t.release();
  });

  it("leaves the bare repo's HEAD, config, refs and (absent) index as they were", async () => {
    const snapshot = async () => ({
      head: readFileSync(join(bare, 'HEAD'), 'utf8'),
      config: readFileSync(join(bare, 'config'), 'utf8'),
      refs: (await execa('git', ['--git-dir', bare, 'for-each-ref'])).stdout,
      files: readdirSync(bare).sort(),
    });
    const before = await snapshot();
    const c = new Checkouts({ root: newRoot() });
    for (const commit of [first, second, first]) await (await c.take('k', src(commit))).release();
    await (await c.take('k', src(second, 'app'))).release();
    expect(await snapshot()).toEqual(before);
    expect(existsSync(join(bare, 'index'))).toBe(false);
  });
});

describe('reclaiming work trees', () => {
  const trees = (root: string) => readdirSync(join(root, 'trees')).sort();

  it('removes trees idle longer than the limit when a build takes one, never a leased one', async () => {
    const root = newRoot();
    const c = new Checkouts({ root, idleMs: 150 });
    const old = await c.take('old', src(first));
    await old.release();
    const held = await c.take('held', src(first));
    await sleep(300);
    const fresh = await c.take('fresh', src(first));
    await c.sweep();
    expect(trees(root)).toEqual([held.name, fresh.name].sort());
    expect(existsSync(join(root, 'index', old.name))).toBe(false);
    await held.release();
    await fresh.release();
  });

  it('keeps at most the limit in number, removing the longest unused first', async () => {
    const root = newRoot();
    const c = new Checkouts({ root, maxTrees: 2 });
    const names: string[] = [];
    for (const key of ['a', 'b', 'c']) {
      const t: WorkTree = await c.take(key, src(first));
      names.push(t.name);
      await t.release();
      await c.sweep();
      await sleep(20); // distinct last-use times
    }
    expect(trees(root)).toEqual([names[1], names[2]].sort());
    // Taking the oldest again makes it the newest: the next sweep removes the other.
    await (await c.take('b', src(first))).release();
    await sleep(20);
    await (await c.take('a', src(first))).release();
    await c.sweep();
    expect(trees(root)).toEqual([names[0], names[1]].sort());
  });
});

describe('where work trees live', () => {
  it('defaults to the data dir, else the temp folder, one Checkouts per root', () => {
    expect(defaultCheckoutsDir({ CODEHUB_DATA_DIR: '/srv/codehub' })).toBe('/srv/codehub/checkouts');
    expect(defaultCheckoutsDir({})).toBe(join(tmpdir(), 'codehub-build-checkouts'));
    expect(checkoutsAt('/tmp/x/../y')).toBe(checkoutsAt('/tmp/y'));
  });
});

describe("a driver's kept context (keptContext)", () => {
  const req = (dockerfile: string): BuildRequest => ({
    dockerfile,
    target: null,
    args: {},
    labels: {},
    tags: [],
    platforms: [],
    secrets: {},
    workDir: '/unused',
  });
  const io = (commit: string, lines: string[]): BuildIO => ({
    context: null as never,
    source: { kind: 'commit', gitDir: bare, commit, dir: '.', repo: 'o/r' },
    onLog: (l) => lines.push(l),
    signal: new AbortController().signal,
    processEnv: {},
  });

  it("logs the tree, the commit and the update time, and gives the Dockerfile's path in the tree", async () => {
    const lines: string[] = [];
    const kept = await keptContext(new Checkouts({ root: newRoot() }), 'b', req('Dockerfile'), io(first, lines));
    expect(kept!.dockerfile).toBe(join(kept!.tree.path, 'Dockerfile'));
    expect(lines).toEqual([`context: work tree ${kept!.tree.name} at ${first.slice(0, 7)} (updated in ${kept!.tree.updateMs} ms)`]);
    await kept!.tree.release();
  });

  it('falls back to the archive for a Dockerfile that links out of the tree, or a commit git cannot check out', async () => {
    const repo = await WorkRepo.create({ 'a.txt': 'a\n' });
    await execa('ln', ['-s', '/etc/passwd', 'Dockerfile'], { cwd: repo.dir });
    await repo.git.add('Dockerfile');
    await repo.git.commit('a link out');
    const commit = (await repo.git.revparse(['HEAD'])).trim();
    const lines: string[] = [];
    const c = new Checkouts({ root: newRoot() });
    const linked = { ...io(commit, lines), source: { kind: 'commit' as const, gitDir: join(repo.dir, '.git'), commit, dir: '.', repo: 'o/linked' } };
    expect(await keptContext(c, 'b', req('Dockerfile'), linked)).toBeNull();
    expect(lines).toEqual(['context: Dockerfile leads out of the context; sending the whole context']);
    expect(await keptContext(c, 'b', req('Dockerfile'), io('f'.repeat(40), lines))).toBeNull();
    expect(lines[1]).toMatch(/^context: the kept work tree could not be updated \(git read-tree: .*\); sending the whole context$/);
  });
});
