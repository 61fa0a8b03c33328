import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { enqueuePush } from '../../src/builds/enqueue.js';
import { ZERO_SHA } from '../../src/git/read.js';
import { RepoStore } from '../../src/git/repos.js';
import { LogStore } from '../../src/logs/store.js';
import { openDb } from '../../src/store/db.js';
import { Store } from '../../src/store/store.js';

const CONFIG = `version: 1
images:
  - name: web
    branches: ["rel-{a,b}"]
  - name: docs
    paths: ["docs/[0-9]"]
`;

/** A bare repo alice/shop with the config above, commits written straight into it, and the push's answer. */
async function setup() {
  const dataDir = mkdtempSync(join(tmpdir(), 'chb-globs-'));
  const repos = new RepoStore(dataDir);
  const gitdir = await repos.ensure('alice', 'shop');
  const store = new Store(openDb(':memory:'));
  const deps = { store, repos, logs: new LogStore(join(dataDir, 'logs')), registry: 'localhost:5000', publicUrl: 'http://build', maxQueuedPerOwner: 100 };
  const work = mkdtempSync(join(tmpdir(), 'chb-globs-work-'));
  const git = (...a: string[]) =>
    execFileSync('git', ['-C', work, '-c', 'user.name=t', '-c', 'user.email=t@t', ...a])
      .toString()
      .trim();
  git('init', '-q', '--initial-branch=main');
  const commit = (files: Record<string, string>) => {
    for (const [f, text] of Object.entries(files)) {
      mkdirSync(dirname(join(work, f)), { recursive: true });
      writeFileSync(join(work, f), text);
    }
    git('add', '.');
    git('commit', '-q', '-m', 'c');
    return git('rev-parse', 'HEAD');
  };
  const push = async (branch: string, old: string, sha: string) => {
    git('push', '-q', '-f', gitdir, `${sha}:refs/heads/${branch}`);
    return enqueuePush(deps, { owner: 'alice', repo: 'shop', pusher: 'alice', updates: [{ ref: `refs/heads/${branch}`, old, new: sha }], options: [] });
  };
  return { commit, push };
}

describe('push: globs that relied on a plain { or [', () => {
  it('still build what they built, and the pusher is warned; a real match is not', async () => {
    const { commit, push } = await setup();
    const first = commit({ 'codehub-build.yaml': CONFIG, Dockerfile: 'FROM busybox\n' });

    const literal = await push('rel-{a,b}', ZERO_SHA, first);
    expect(literal.builds.map((b) => b.image).sort()).toEqual(['docs', 'web']);
    expect(literal.lines).toContain(
      'web: warning: branches: "rel-{a,b}" matches branch rel-{a,b} only with { } [ ] read as plain characters, as before they were glob syntax; ' +
        'it still counts as a match, but write [{] or [[] for a plain { or [',
    );

    const real = await push('rel-a', ZERO_SHA, first);
    expect(real.builds.map((b) => b.image).sort()).toEqual(['docs', 'web']);
    expect(real.lines.filter((l) => l.includes('warning'))).toEqual([]);

    const second = commit({ 'docs/[0-9]/a.md': 'x\n' });
    const paths = await push('main', first, second);
    expect(paths.builds.map((b) => b.image)).toEqual(['docs']);
    expect(paths.lines.filter((l) => l.includes('warning'))).toEqual([
      'docs: warning: paths: "docs/[0-9]" matches docs/[0-9]/a.md only with { } [ ] read as plain characters, as before they were glob syntax; ' +
        'it still counts as a match, but write [{] or [[] for a plain { or [',
    ]);
  });
});
