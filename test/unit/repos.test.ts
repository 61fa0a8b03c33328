import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RepoStore } from '../../src/git/repos.js';

describe('RepoStore.ensure', () => {
  it('creates a bare repo that accepts pushes with options and runs the shared hooks, once for concurrent callers', async () => {
    // A data dir whose path needs quoting in git's config file.
    const dataDir = join(mkdtempSync(join(tmpdir(), 'chb-repos-')), 'odd "dir" \\ with spaces');
    const repos = new RepoStore(dataDir);
    const dirs = await Promise.all(Array.from({ length: 5 }, () => repos.ensure('alice', 'shop')));
    expect(new Set(dirs)).toEqual(new Set([join(dataDir, 'repos', 'alice', 'shop.git')]));
    expect(readdirSync(join(dataDir, 'repos', 'alice'))).toEqual(['shop.git']); // no temporary folders left
    const config = (k: string) => execFileSync('git', ['--git-dir', dirs[0]!, 'config', '--get', k]).toString().trim();
    expect(config('http.receivepack')).toBe('true');
    expect(config('receive.advertisePushOptions')).toBe('true');
    expect(config('receive.denyNonFastForwards')).toBe('false');
    expect(config('core.hooksPath')).toBe(repos.hooksDir);
    expect(config('core.bare')).toBe('true');
    expect(config('gc.auto')).toBe('0');
    expect(execFileSync('git', ['--git-dir', dirs[0]!, 'symbolic-ref', 'HEAD']).toString().trim()).toBe('refs/heads/main');
    expect(await repos.ensure('alice', 'shop')).toBe(dirs[0]);
  });
});
