import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CommitReader, refValue } from '../../src/git/read.js';

let work: string;
let bare: string;
let commit: string;
let tag: string;
const git = (cwd: string, ...args: string[]) =>
  execFileSync('git', args, {
    cwd,
    env: { ...process.env, GIT_AUTHOR_NAME: 'a', GIT_AUTHOR_EMAIL: 'a@b', GIT_COMMITTER_NAME: 'a', GIT_COMMITTER_EMAIL: 'a@b' },
  })
    .toString()
    .trim();

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'chb-read-'));
  git(work, 'init', '-q', '--initial-branch=main');
  mkdirSync(join(work, 'sub', 'dir'), { recursive: true });
  writeFileSync(join(work, 'Dockerfile'), 'FROM scratch\n');
  writeFileSync(join(work, 'sub', 'dir', 'ünï code.txt'), 'deep\n');
  writeFileSync(join(work, 'Docker'), 'a prefix of another name\n');
  git(work, 'add', '.');
  git(work, 'commit', '-qm', 'one');
  git(work, 'tag', '-a', 'v1', '-m', 'release');
  commit = git(work, 'rev-parse', 'HEAD');
  tag = git(work, 'rev-parse', 'v1');
  bare = join(mkdtempSync(join(tmpdir(), 'chb-read-bare-')), 'r.git');
  git(work, 'clone', '-q', '--bare', '--no-local', work, bare);
});

const ls = (glob: string) =>
  execFileSync('sh', ['-c', `ls ${glob} 2>/dev/null || true`])
    .toString()
    .trim();

/** A clone arrives packed: explode the pack into loose objects, as a small push leaves them. */
function explode() {
  for (const pack of ls(`${bare}/objects/pack/*.pack`).split('\n').filter(Boolean)) {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell's ${1%.pack}, not a template
    execFileSync('sh', ['-c', 'mv "$1" "$1.x" && git --git-dir "$2" unpack-objects -q < "$1.x" && rm "$1.x" "${1%.pack}.idx"', 'sh', pack, bare]);
  }
  expect(ls(`${bare}/objects/pack/*.pack`)).toBe('');
}

function repack() {
  git(bare, 'gc', '-q');
  expect(ls(`${bare}/objects/pack/*.pack`)).not.toBe('');
}

describe.each([
  ['loose objects', explode],
  ['packed objects', repack],
])('CommitReader on %s', (_label, prepare) => {
  it('reads files at a commit, an annotated tag and a tree, and null for what is not a file', async () => {
    prepare();
    const r = new CommitReader(bare);
    expect((await r.readFile(commit, 'Dockerfile'))?.toString()).toBe('FROM scratch\n');
    expect((await r.readFile(commit, 'sub/dir/ünï code.txt'))?.toString()).toBe('deep\n');
    expect((await r.readFile(tag, 'Dockerfile'))?.toString()).toBe('FROM scratch\n');
    const tree = git(work, 'rev-parse', 'HEAD:sub');
    expect((await r.readFile(tree, 'dir/ünï code.txt'))?.toString()).toBe('deep\n');
    expect(await r.readFile(commit, 'codehub-build.yaml')).toBeNull();
    expect(await r.readFile(commit, 'sub')).toBeNull(); // a folder
    expect(await r.readFile(commit, 'Dockerfile/x')).toBeNull(); // through a file
    expect(await r.readFile('f'.repeat(40), 'Dockerfile')).toBeNull(); // no such object
    r.close();
  });
});

describe('refValue', () => {
  it('reads a ref from packed-refs (a clone packs them) and from its loose file, as git does', async () => {
    // The clone left main and v1 in packed-refs only.
    expect(ls(`${bare}/refs/heads/main`)).toBe('');
    expect(await refValue(bare, 'refs/heads/main')).toBe(commit);
    expect(await refValue(bare, 'refs/tags/v1')).toBe(tag); // the annotated tag's own object, not its commit
    expect(tag).not.toBe(commit);
    git(bare, 'update-ref', 'refs/heads/loose', commit);
    expect(ls(`${bare}/refs/heads/loose`)).not.toBe('');
    expect(await refValue(bare, 'refs/heads/loose')).toBe(git(bare, 'rev-parse', 'refs/heads/loose'));
    // A loose file wins over packed-refs, as it does for git: main moved to a new commit is read from its file.
    const next = git(bare, 'commit-tree', '-p', commit, '-m', 'two', `${commit}^{tree}`);
    git(bare, 'update-ref', 'refs/heads/main', next);
    expect(ls(`${bare}/refs/heads/main`)).not.toBe('');
    expect(await refValue(bare, 'refs/heads/main')).toBe(next);
  });

  it('answers null for a ref the repo does not have, and refuses what is not a branch or tag ref', async () => {
    expect(await refValue(bare, 'refs/heads/nope')).toBeNull();
    expect(await refValue(bare, 'refs/heads/main/deeper')).toBeNull(); // main is a file: ENOTDIR
    expect(await refValue(join(bare, 'missing.git'), 'refs/heads/main')).toBeNull();
    await expect(refValue(bare, 'HEAD')).rejects.toThrow(/not a branch or tag ref/);
    await expect(refValue(bare, 'refs/heads/../../config')).rejects.toThrow(/not a branch or tag ref/);
  });
});
