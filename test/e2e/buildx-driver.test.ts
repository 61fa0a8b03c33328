import { execa } from 'execa';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BuildxDriver } from '../../src/builder/buildx.js';
import type { BuildRequest } from '../../src/builder/driver.js';
import { Checkouts } from '../../src/context/checkout.js';
import { describeDriverContract } from '../helpers/driver-contract.js';
import { WorkRepo } from '../helpers/git.js';
import { OPEN_REGISTRY, requireStack, uniqueName } from '../helpers/server.js';

requireStack();
describeDriverContract('buildx, local docker driver', () => new BuildxDriver(), { clientProcess: true });
describeDriverContract(
  'buildx, local docker driver, kept work tree',
  () =>
    new BuildxDriver({
      contextTransfer: 'session',
      checkouts: new Checkouts({ root: mkdtempSync(join(tmpdir(), 'chb-checkouts-')) }),
    }),
  { clientProcess: true, reportsChanges: true },
);

describe('buildx docker driver housekeeping', () => {
  it("removes pushed images from dockerd's store once the builder has been idle", async () => {
    const driver = new BuildxDriver({ pruneIdleMs: 200 });
    const dir = mkdtempSync(join(tmpdir(), 'chb-prune-'));
    const owner = uniqueName('prune');
    writeFileSync(join(dir, 'Dockerfile'), `FROM localhost:5000/cache/busybox:latest\nRUN echo ${owner}\n`);
    const tag = `${OPEN_REGISTRY}/${owner}/pruned:x`;
    const out = await driver.build(
      { dockerfile: 'Dockerfile', target: null, args: {}, labels: {}, tags: [tag], platforms: [], secrets: {}, workDir: mkdtempSync(join(tmpdir(), 'chb-w-')) },
      {
        context: spawn('tar', ['-c', '-C', dir, '.']).stdout,
        onLog: () => {},
        signal: new AbortController().signal,
        processEnv: {},
      },
    );
    expect(out.ok).toBe(true);
    expect((await execa('docker', ['image', 'inspect', tag], { reject: false })).exitCode).toBe(0); // still there right after
    expect(driver.pendingPrune).toBe(1);
    for (let i = 0; i < 100 && driver.pendingPrune > 0; i++) await new Promise((r) => setTimeout(r, 50));
    for (let i = 0; i < 100 && (await execa('docker', ['image', 'inspect', tag], { reject: false })).exitCode === 0; i++)
      await new Promise((r) => setTimeout(r, 50));
    expect((await execa('docker', ['image', 'inspect', tag], { reject: false })).exitCode).not.toBe(0);
  });
});

/** The bytes BuildKit reported sending for the `context` local, from the build's log (the largest count). */
const contextBytes = (lines: string[]): number => Math.max(-1, ...lines.map((l) => Number(/ transferring context: (\d+) bytes done$/.exec(l)?.[1] ?? -1)));

describe('buildx with a kept work tree', () => {
  it('sends only what changed: a one-line change beside a 20 MB file, and never a .dockerignored 20 MB file', async () => {
    const MB = 1024 * 1024;
    const dir = mkdtempSync(join(tmpdir(), 'chb-incremental-'));
    const owner = uniqueName('incr');
    // base64 of random bytes: 20 MB that nothing on the way can shrink.
    const big = randomBytes(15 * MB).toString('base64');
    const work = await WorkRepo.create({
      Dockerfile:
        'FROM localhost:5000/cache/busybox:latest\nCOPY . /ctx/\nRUN cat /ctx/app/version.txt && test ! -e /ctx/ignored.bin && echo no-ignored-file\n',
      '.dockerignore': 'ignored.bin\n',
      'big.bin': big,
      'ignored.bin': randomBytes(15 * MB).toString('base64'),
      'app/version.txt': `version 1 of ${owner}\n`,
    });
    const bare = join(dir, 'repo.git');
    await execa('git', ['clone', '-q', '--bare', work.dir, bare]);
    const driver = new BuildxDriver({ contextTransfer: 'session', checkouts: new Checkouts({ root: join(dir, 'checkouts') }) });
    const build = async (tag: string) => {
      const commit = (await execa('git', ['--git-dir', bare, 'rev-parse', 'main'])).stdout.trim();
      const req: BuildRequest = {
        dockerfile: 'Dockerfile',
        target: null,
        args: {},
        labels: {},
        tags: [`${OPEN_REGISTRY}/${owner}/big:${tag}`],
        platforms: [],
        secrets: {},
        workDir: mkdtempSync(join(tmpdir(), 'chb-w-')),
        // A per-build DOCKER_CONFIG, as with a token registry: buildx's node id (half the snapshot key) must not follow it.
        registryAuth: { server: OPEN_REGISTRY, username: 'unused', password: 'unused' },
      };
      const lines: string[] = [];
      const out = await driver.build(req, {
        context: spawn('false').stdout!,
        source: { kind: 'commit', gitDir: bare, commit, dir: '.', repo: `${owner}/big` },
        onLog: (l) => lines.push(l),
        signal: new AbortController().signal,
        processEnv: {},
      });
      expect(out.ok, JSON.stringify(out) + lines.join('\n')).toBe(true);
      return { commit, lines, bytes: contextBytes(lines) };
    };

    const first = await build('one');
    expect(first.lines.join('\n')).toMatch(new RegExp(`^context: work tree [0-9a-f]{16}-0 at ${first.commit.slice(0, 7)} \\(updated in \\d+ ms\\)$`, 'm'));
    expect(first.lines.join('\n')).toMatch(/^#\d+ transferring context: \d+ bytes done$/m);
    expect(first.lines.join('\n')).toContain('no-ignored-file');
    expect(first.bytes).toBeGreaterThan(big.length); // big.bin went, once
    expect(first.bytes).toBeLessThan(big.length + 2 * MB); // ignored.bin never did

    await work.commit({ 'app/version.txt': `version 2 of ${owner}\n` });
    await execa('git', ['push', '-q', bare, 'main'], { cwd: work.dir });
    const second = await build('two');
    expect(second.lines.join('\n')).toContain(`version 2 of ${owner}`);
    expect(second.bytes).toBeGreaterThan(0); // the changed file went
    expect(second.bytes).toBeLessThan(64 * 1024);
  }, 120_000);
});
