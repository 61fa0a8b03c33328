import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveArgs } from '../../src/builds/build-args.js';
import type { ImageConfig } from '../../src/config/types.js';
import { RepoStore } from '../../src/git/repos.js';
import type { Build } from '../../src/store/schema.js';
import { HeldSecrets } from '../../src/uploads/held-secrets.js';

const dataDir = mkdtempSync(join(tmpdir(), 'chb-args-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));
const repos = new RepoStore(dataDir);

const image = (args: Record<string, string>): ImageConfig => ({ name: 'app', args }) as unknown as ImageConfig;
const upload = { id: 7, source: 'upload', repo: 'alice/web' } as unknown as Build;

/** A bare repo alice/app whose one commit has `yaml` as its codehub-build.yaml; returns the commit. */
function commitWith(yaml: string): string {
  const work = mkdtempSync(join(tmpdir(), 'chb-args-work-'));
  const git = (...a: string[]) =>
    execFileSync('git', ['-C', work, '-c', 'user.name=t', '-c', 'user.email=t@t', ...a])
      .toString()
      .trim();
  git('init', '-q', '--initial-branch=main');
  writeFileSync(join(work, 'codehub-build.yaml'), yaml);
  git('add', '.');
  git('commit', '-q', '-m', 'x');
  const bare = repos.path('alice', 'app');
  mkdirSync(bare, { recursive: true });
  execFileSync('git', ['init', '-q', '--bare', bare]);
  git('push', '-q', bare, 'main');
  return git('rev-parse', 'HEAD');
}

describe('resolveArgs: the values stored as ***', () => {
  it('gives the args as stored when none was masked, with no lookup at all', async () => {
    expect(await resolveArgs(upload, image({ MODE: 'prod', EMPTY_TOKEN: '' }), { repos })).toEqual({ ok: true, values: { MODE: 'prod', EMPTY_TOKEN: '' } });
  });

  it("takes an upload's from memory, and says to run it again when the server restarted since", async () => {
    const held = new HeldSecrets();
    held.hold(7, {}, { API_TOKEN: 'tok-1' });
    expect(await resolveArgs(upload, image({ API_TOKEN: '***', MODE: 'x' }), { repos, held })).toEqual({ ok: true, values: { API_TOKEN: 'tok-1', MODE: 'x' } });
    const lost = await resolveArgs(upload, image({ API_TOKEN: '***' }), { repos, held: new HeldSecrets() });
    expect(lost).toEqual({ ok: false, problem: expect.stringContaining("build arg API_TOKEN was held in the server's memory only") });
    expect(!lost.ok && lost.problem).toContain('run codehub-build build again');
  });

  it("reads a push's from its commit's codehub-build.yaml, and names what is missing when it is not there", async () => {
    const sha = commitWith('version: 1\nimages:\n  - name: app\n    args:\n      DB_PASSWORD: s3cret-value\n      MODE: prod\n');
    const push = { id: 8, source: 'push', repo: 'alice/app', commitSha: sha } as unknown as Build;
    expect(await resolveArgs(push, image({ DB_PASSWORD: '***', MODE: 'prod' }), { repos })).toEqual({
      ok: true,
      values: { DB_PASSWORD: 's3cret-value', MODE: 'prod' },
    });
    const other = await resolveArgs(push, image({ API_TOKEN: '***' }), { repos });
    expect(other).toEqual({
      ok: false,
      problem: `the value of build arg API_TOKEN is not stored by the server (its name looks secret), and codehub-build.yaml at ${sha.slice(0, 12)} no longer gives it for image app`,
    });
  });
});
