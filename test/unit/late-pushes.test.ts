import { execFileSync } from 'node:child_process';
import { mkdtempSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { enqueuePush, type Push } from '../../src/builds/enqueue.js';
import { LatePushes } from '../../src/builds/late-pushes.js';
import { headsOf, ZERO_SHA } from '../../src/git/read.js';
import { RepoStore } from '../../src/git/repos.js';
import { createLogger } from '../../src/log.js';
import { LogStore } from '../../src/logs/store.js';
import { openDb } from '../../src/store/db.js';
import { HeadStore } from '../../src/store/heads.js';
import { Store } from '../../src/store/store.js';

/** A data dir with one bare repo alice/shop, and the parts the late-push check works with. */
async function setup() {
  const dataDir = mkdtempSync(join(tmpdir(), 'chb-late-'));
  const repos = new RepoStore(dataDir);
  const gitdir = await repos.ensure('alice', 'shop');
  const db = openDb(':memory:');
  const store = new Store(db);
  const heads = new HeadStore(db);
  const deps = {
    store,
    heads,
    repos,
    logs: new LogStore(join(dataDir, 'logs')),
    registry: 'localhost:5000',
    publicUrl: 'http://build',
    maxQueuedPerOwner: 100,
  };
  const pushes: Push[] = [];
  const late = new LatePushes({
    store,
    heads,
    repos,
    log: createLogger({ level: 'error' }),
    intervalMs: 0,
    graceMs: 10_000,
    push: (p) => {
      pushes.push(p);
      return enqueuePush(deps, p);
    },
  });
  const work = mkdtempSync(join(tmpdir(), 'chb-late-work-'));
  const git = (...a: string[]) =>
    execFileSync('git', ['-C', work, '-c', 'user.name=t', '-c', 'user.email=t@t', ...a])
      .toString()
      .trim();
  git('init', '-q', '--initial-branch=main');
  /** A commit with a Dockerfile, pushed straight into the bare repo (no hook runs: the report never came). */
  const commitAndPush = (text: string, ref = 'main') => {
    writeFileSync(join(work, 'Dockerfile'), `FROM busybox\nRUN echo ${text}\n`);
    git('add', '.');
    git('commit', '-q', '-m', text);
    git('push', '-q', '-f', gitdir, `HEAD:refs/heads/${ref}`);
    return git('rev-parse', 'HEAD');
  };
  return { store, heads, late, pushes, gitdir, git, commitAndPush, deps };
}

describe('late pushes: what git accepted and nothing recorded', () => {
  it("records a head git moved without a report as the owner's push once its grace passed, and only once", async () => {
    const { store, late, pushes, commitAndPush, gitdir } = await setup();
    const sha = commitAndPush('one');
    const changedAt = (await headsOf(gitdir)).get('refs/heads/main')!.changedAtMs;
    // The hook's report may still be on its way: within the grace nothing is done.
    expect(await late.runOnce(changedAt + 1000)).toEqual({ repos: 1, recorded: 0, adopted: 0, failed: 0 });
    expect(await late.runOnce(changedAt + 10_000)).toEqual({ repos: 1, recorded: 1, adopted: 0, failed: 0 });
    expect(pushes).toEqual([{ owner: 'alice', repo: 'shop', pusher: 'alice', updates: [{ ref: 'refs/heads/main', old: ZERO_SHA, new: sha }], options: [] }]);
    expect(store.builds.list({ repo: 'alice/shop', limit: 100 }).map((b) => [b.status, b.commitSha, b.ref])).toEqual([['queued', sha, 'refs/heads/main']]);
    expect(await late.runOnce(changedAt + 60_000)).toEqual({ repos: 1, recorded: 0, adopted: 0, failed: 0 });
    expect(store.builds.list({ repo: 'alice/shop', limit: 100 })).toHaveLength(1);
  });

  it('a hook report that comes after the late check builds nothing twice; a new push after it builds', async () => {
    const { store, late, commitAndPush, gitdir, deps } = await setup();
    const sha = commitAndPush('two');
    await late.runOnce(Date.now() + 60_000);
    const report = await enqueuePush(deps, {
      owner: 'alice',
      repo: 'shop',
      pusher: 'bob',
      updates: [{ ref: 'refs/heads/main', old: ZERO_SHA, new: sha }],
      options: [],
    });
    expect(report.builds).toEqual([]);
    expect(report.lines[0]).toContain(`refs/heads/main: recorded already at ${sha.slice(0, 12)}`);
    const next = commitAndPush('three');
    const normal = await enqueuePush(deps, {
      owner: 'alice',
      repo: 'shop',
      pusher: 'alice',
      updates: [{ ref: 'refs/heads/main', old: sha, new: next }],
      options: [],
    });
    expect(normal.builds.map((b) => b.commitSha)).toEqual([next]);
    expect(store.builds.list({ repo: 'alice/shop', limit: 100 })).toHaveLength(2);
    // Recorded in the push's own transaction: the check finds nothing left.
    utimesSync(join(gitdir, 'refs', 'heads', 'main'), new Date(0), new Date(0));
    expect((await late.runOnce()).recorded).toBe(0);
  });

  it('records a deletion git accepted without a report', async () => {
    const { store, late, commitAndPush, gitdir, deps } = await setup();
    const sha = commitAndPush('four', 'feature');
    await enqueuePush(deps, { owner: 'alice', repo: 'shop', pusher: 'alice', updates: [{ ref: 'refs/heads/feature', old: ZERO_SHA, new: sha }], options: [] });
    execFileSync('git', ['--git-dir', gitdir, 'update-ref', '-d', 'refs/heads/feature']);
    expect((await late.runOnce()).recorded).toBe(1);
    expect(deps.heads.of(store.repos.byName('alice', 'shop')!.id).has('refs/heads/feature')).toBe(false);
    expect(store.builds.list({ repo: 'alice/shop', limit: 100 })).toHaveLength(1); // a deletion builds nothing
  });

  it('takes a repo made before heads were recorded as it is: heads recorded, nothing built', async () => {
    const { store, heads, late, commitAndPush } = await setup();
    const sha = commitAndPush('five');
    const repo = store.repos.ensure('alice', 'shop');
    store.db.$client.prepare('UPDATE repos SET heads_tracked = 0 WHERE id = ?').run(repo.id);
    expect(await late.runOnce(Date.now() + 60_000)).toEqual({ repos: 1, recorded: 0, adopted: 1, failed: 0 });
    expect(heads.of(repo.id)).toEqual(new Map([['refs/heads/main', sha]]));
    expect(store.builds.list({ repo: 'alice/shop', limit: 100 })).toEqual([]);
    expect(store.repos.byName('alice', 'shop')!.headsTracked).toBe(true);
  });

  it('reads loose and packed refs (loose ones win), branches and tags, without git', async () => {
    const { gitdir, commitAndPush, git } = await setup();
    const a = commitAndPush('six');
    git('tag', '-a', 'v1', '-m', 'v1');
    git('push', '-q', gitdir, 'v1');
    execFileSync('git', ['--git-dir', gitdir, 'pack-refs', '--all']);
    const b = commitAndPush('seven');
    const h = await headsOf(gitdir);
    expect(h.get('refs/heads/main')!.sha).toBe(b);
    expect(h.get('refs/heads/main')!.changedAtMs).toBeGreaterThan(0);
    expect(h.get('refs/tags/v1')).toEqual({ sha: execFileSync('git', ['--git-dir', gitdir, 'rev-parse', 'refs/tags/v1']).toString().trim(), changedAtMs: 0 });
    expect(b).not.toBe(a);
  });
});
