/** The extension's status bar model: what each state says, which build it names, and where settings come from. */
import { describe, expect, it } from 'vitest';
import { Backoff } from '../../extensions/vscode/src/backoff.js';
import { resolveSettings } from '../../extensions/vscode/src/settings.js';
import { currentBuilds, headline, pinnedReferences, view, type Build, type State } from '../../extensions/vscode/src/status.js';

const SHA = 'a1b2c3d4e5f6a7b8c9d0a1b2c3d4e5f6a7b8c9d0';
const build = (id: number, status: string, over: Partial<Build> = {}): Build => ({
  id,
  status: status as Build['status'],
  repo: 'alice/shop',
  ref: 'refs/heads/main',
  ref_name: 'main',
  commit: SHA,
  image: 'shop',
  image_refs: ['localhost:5000/alice/shop:main', `localhost:5000/alice/shop:${SHA}`],
  digest: null,
  reason: null,
  web_url: `http://build:8080/builds/${id}`,
  ...over,
});
const builds = (...bs: Build[]): State => ({ kind: 'builds', sha: SHA, branch: 'main', builds: currentBuilds(bs) });

describe('status bar text', () => {
  it.each([
    ['queued', '$(clock) build #12 queued'],
    ['running', '$(sync~spin) build #12 running'],
    ['succeeded', '$(check) #12 succeeded'],
    ['failed', '$(error) #12 failed'],
    ['canceled', '$(stop-circle) #12 canceled'],
    ['skipped', '$(debug-step-over) #12 skipped'],
  ])('a %s build', (status, text) => {
    const v = view(builds(build(12, status, { reason: status === 'failed' ? 'RUN exited with 1' : null })));
    expect(v.text).toBe(text);
    expect(v.tooltip).toContain(`HEAD ${SHA.slice(0, 12)} (main)`);
    expect(v.tooltip).toContain(`#12 alice/shop image shop (main): ${status}`);
    expect(v.tone).toBe(status === 'failed' ? 'error' : 'normal');
  });

  it('says what failed and what succeeded with its digest', () => {
    expect(view(builds(build(3, 'failed', { reason: 'RUN exited with 1' }))).tooltip).toContain('#3 alice/shop image shop (main): failed: RUN exited with 1');
    expect(view(builds(build(4, 'succeeded', { digest: 'sha256:abc' }))).tooltip).toContain('#4 alice/shop image shop (main): succeeded, sha256:abc');
  });

  it('names a running build before a finished one, and counts the others', () => {
    const v = view(builds(build(7, 'succeeded', { image: 'web' }), build(8, 'running', { image: 'api' }), build(9, 'failed', { image: 'db' })));
    expect(v.text).toBe('$(sync~spin) build #8 running (+2)');
    expect(v.tooltip.split('\n')).toHaveLength(5);
  });

  it('lets a rebuild supersede the earlier build of the same image and ref', () => {
    const current = currentBuilds([build(5, 'failed'), build(6, 'succeeded'), build(4, 'succeeded', { ref: 'refs/heads/other', ref_name: 'other' })]);
    expect(current.map((b) => b.id)).toEqual([6, 4]);
    expect(headline(current)?.id).toBe(6);
    expect(view({ kind: 'builds', sha: SHA, branch: 'main', builds: current }).text).toBe('$(check) #6 succeeded (+1)');
  });

  it('says what to do in every other state', () => {
    const settings = resolveSettings({}, {});
    expect(view({ kind: 'unconfigured', settings })).toMatchObject({
      text: '$(gear) codehub-build: not configured',
      tooltip:
        'codehub-build: no url and no token to reach the build server. Set codehub-build.url (or CODEHUB_URL) and codehub-build.token (or CODEHUB_TOKEN).',
      tone: 'warning',
    });
    expect(view({ kind: 'unconfigured', settings: resolveSettings({}, { CODEHUB_URL: 'http://b' }) }).tooltip).toContain(
      'Set codehub-build.token (or CODEHUB_TOKEN).',
    );
    expect(view({ kind: 'not-git', folder: '/w/notes' })).toMatchObject({
      text: '$(repo) not a git repository',
      tooltip: expect.stringContaining('/w/notes is not a git repository'),
    });
    expect(view({ kind: 'no-commit', folder: '/w' }).text).toBe('$(repo) no commits yet');
    expect(view({ kind: 'unreachable', url: 'http://b:8080', error: 'ECONNREFUSED', retryMs: 20_000 })).toMatchObject({
      text: '$(debug-disconnect) codehub-build unreachable',
      tooltip: 'codehub-build: http://b:8080 does not answer (ECONNREFUSED). Trying again in 20 s.',
    });
    const refused = view({ kind: 'token-refused', url: 'http://b:8080', tokenFrom: 'env' });
    expect(refused.text).toBe('$(key) codehub-build: token refused');
    expect(refused.tooltip).toContain('refused the token from CODEHUB_TOKEN (401)');
    expect(refused.tooltip).toContain('token refused: set codehub-build.token or CODEHUB_TOKEN');
    expect(view({ kind: 'not-pushed', url: 'http://b', sha: SHA, branch: 'main', remote: 'origin' })).toMatchObject({
      text: '$(circle-slash) not pushed',
      tooltip: `codehub-build: HEAD ${SHA.slice(0, 12)} (main) has no build on http://b. Push it to build it: git push origin main.`,
    });
    expect(view({ kind: 'not-pushed', url: 'http://b', sha: SHA, branch: null, remote: null }).tooltip).toMatch(/\(main\)|Push it to build it\.$/);
    expect(view({ kind: 'no-folder' }).hidden).toBe(true);
  });
});

describe('image references pinned to the digest', () => {
  it('gives the repository@digest first, then each tag@digest (a registry port is not a tag)', () => {
    expect(pinnedReferences(build(1, 'succeeded', { digest: 'sha256:ff' }))).toEqual([
      'localhost:5000/alice/shop@sha256:ff',
      'localhost:5000/alice/shop:main@sha256:ff',
      `localhost:5000/alice/shop:${SHA}@sha256:ff`,
    ]);
    expect(pinnedReferences(build(1, 'failed'))).toEqual([]);
  });
});

describe('settings', () => {
  it('takes a setting over the environment, the environment when the setting is empty, and trims a trailing /', () => {
    const env = { CODEHUB_URL: 'http://env:8080/', CODEHUB_TOKEN: 'envtoken' };
    expect(resolveSettings({ url: '', token: '' }, env)).toEqual({ url: 'http://env:8080', token: 'envtoken', urlFrom: 'env', tokenFrom: 'env', missing: [] });
    expect(resolveSettings({ url: 'http://set', token: 'settoken' }, env)).toMatchObject({
      url: 'http://set',
      token: 'settoken',
      urlFrom: 'setting',
      tokenFrom: 'setting',
    });
    expect(resolveSettings({ url: '  ' }, {}).missing).toEqual(['url', 'token']);
  });
});

describe('back-off', () => {
  it('waits 5 s, doubling to at most 60 s, and starts over after a success', () => {
    const b = new Backoff();
    expect(Array.from({ length: 7 }, () => b.next())).toEqual([5_000, 10_000, 20_000, 40_000, 60_000, 60_000, 60_000]);
    b.reset();
    expect(b.next()).toBe(5_000);
  });
});
