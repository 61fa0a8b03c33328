/**
 * Issue 30, pushes on a full data disk, through the real git client, server and BuildKit with the server's
 * data dir on a small tmpfs (CI runs as root): a push is refused up front under CODEHUB_MIN_FREE with the
 * figures as `remote:` lines and nothing kept; a pack that does not fit gets git's error at once, not a hang;
 * and a push git accepted whose report never got through is recorded and built once space returns, without
 * a restart.
 */
import { execa } from 'execa';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { busyboxDockerfile, WorkRepo } from '../helpers/git.js';
import { TestServer, uniqueName, waitFor } from '../helpers/server.js';

const MiB = 1024 * 1024;
let mnt: string;
let server: TestServer;
let owner: string;
let token: string;

const free = () => {
  const s = statfsSync(mnt);
  return Number(s.bavail) * Number(s.bsize);
};
const ballast = () => join(mnt, 'ballast');
/** The server's own reading of the disk (/healthz reads it at most once a second): ok, degraded or failing. */
const diskStatus = async (): Promise<string> => ((await (await fetch(`${server.url}/healthz`)).json()) as any).checks?.disk?.status;

/** Fills the tmpfs until `left` bytes are free (0: full), and waits until the server sees it so. */
async function fill(left: number): Promise<void> {
  rmSync(ballast(), { force: true });
  const size = Math.max(0, free() - left);
  try {
    writeFileSync(ballast(), Buffer.alloc(size, 1));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e; // full is what was asked for
  }
  const expected = left === 0 ? 'failing' : left < 24 * MiB ? 'degraded' : 'ok';
  await waitFor(`the server to see the disk ${expected}`, diskStatus, (s) => s === expected, 10_000);
}
/** Frees the tmpfs again, and waits until the server sees it (it reads free space at most once a second). */
async function unfill(): Promise<void> {
  rmSync(ballast(), { force: true });
  await waitFor('the server to see the space back', diskStatus, (s) => s === 'ok', 10_000);
}
const bare = (repo: string) => join(server.dataDir, 'repos', owner, `${repo}.git`);
const headOf = (repo: string, ref = 'refs/heads/main') =>
  execFileSync('git', ['--git-dir', bare(repo), 'rev-parse', '--verify', '--quiet', ref], { stdio: ['ignore', 'pipe', 'ignore'] })
    .toString()
    .trim();

beforeAll(async () => {
  mnt = mkdtempSync(join(tmpdir(), 'chb-tmpfs-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=96m', 'tmpfs', mnt]);
  server = await TestServer.start({ dataDir: join(mnt, 'data'), env: { CODEHUB_MIN_FREE: '24MiB', CODEHUB_LATE_PUSH_INTERVAL_MS: '1000' } });
  owner = uniqueName('disk');
  token = server.addUser(owner);
});
// A test that fails while the disk is filled must not leave the next one a full disk.
afterEach(() => rmSync(ballast(), { force: true }));
afterAll(async () => {
  await server?.stop();
  try {
    execFileSync('umount', [mnt]);
  } catch {
    execFileSync('umount', ['-l', mnt]);
  }
  rmSync(mnt, { recursive: true, force: true });
});

describe('pushes on a full data disk', () => {
  it('refuses a push up front under CODEHUB_MIN_FREE, saying how much is free as remote: lines, keeps nothing, and takes it once space returns', async () => {
    const repo = await WorkRepo.create({ Dockerfile: busyboxDockerfile(), 'hello.txt': 'one\n' });
    const url = server.gitUrl(owner, token, owner, 'shop');
    expect((await repo.push(url, ['main'])).exitCode).toBe(0);
    const first = headOf('shop');

    await fill(10 * MiB);
    const sha = await repo.commit({ 'hello.txt': 'two\n' });
    const refused = await repo.push(url, ['main']);
    expect(refused.exitCode).not.toBe(0);
    expect(refused.output).toMatch(
      /remote: codehub-build: push refused: the server's data dir is low on space: \d+(\.\d+)? (MiB|KiB) free of \d+(\.\d+)? MiB \(the server keeps 24 MiB free: CODEHUB_MIN_FREE\)/,
    );
    expect(refused.output).toContain('remote: codehub-build: nothing of this push was kept');
    expect(refused.output).toContain('[remote rejected] (the server is low on disk space)');
    expect(headOf('shop')).toBe(first);
    expect(spawnSync('git', ['--git-dir', bare('shop'), 'cat-file', '-e', sha]).status, 'the refused commit is not in the repo').not.toBe(0);

    // A new repo is not even made.
    const other = await WorkRepo.create({ Dockerfile: busyboxDockerfile(), 'hello.txt': 'new\n' });
    const refusedNew = await other.push(server.gitUrl(owner, token, owner, 'fresh'), ['main']);
    expect(refusedNew.exitCode).not.toBe(0);
    expect(refusedNew.output).toContain("fatal: remote error: codehub-build: push refused: the server's data dir is low on space");
    expect(existsSync(bare('fresh'))).toBe(false);
    expect(readdirSync(join(server.dataDir, 'repos', owner)).filter((d) => d.includes('.tmp-'))).toEqual([]);

    await unfill();
    const again = await repo.push(url, ['main']);
    expect(again.exitCode, again.output).toBe(0);
    const [b] = await server.waitForBuilds(sha, token);
    expect(b.status, b.reason).toBe('succeeded');
  });

  it("a pack that does not fit gets git's error at once, not a hang, and leaves the branch where it was", async () => {
    const repo = await WorkRepo.create({ Dockerfile: busyboxDockerfile(), 'hello.txt': 'big\n' });
    const url = server.gitUrl(owner, token, owner, 'big');
    expect((await repo.push(url, ['main'])).exitCode).toBe(0);
    const before = headOf('big');
    await fill(30 * MiB); // above the threshold, below the pack
    try {
      await repo.commit({ 'blob.bin': randomBytes(40 * MiB).toString('base64') });
      const r = await repo.push(url, ['main']);
      expect(r.exitCode).not.toBe(0);
      expect(r.output).toMatch(/No space left on device|unpack failed|out of disk space/i);
      expect(headOf('big')).toBe(before);
      expect((await fetch(`${server.url}/healthz`)).status).toBeLessThan(600); // the process is up
    } finally {
      await unfill();
    }
  });

  it('records and builds a push git accepted whose report never got through, once space returns, without a restart', async () => {
    const repo = await WorkRepo.create({ Dockerfile: busyboxDockerfile(), 'hello.txt': 'late\n' });
    expect((await repo.push(server.gitUrl(owner, token, owner, 'late'), ['main'])).exitCode).toBe(0);
    const [firstBuild] = await server.waitForBuilds(headOf('late'), token);
    expect(firstBuild.status).toBe('succeeded');
    // Straight into the bare repo: git moves the ref, and its hook has no server to report to.
    const sha = await repo.commit({ 'hello.txt': 'landed without a report\n' });
    const direct = await execa('git', ['push', bare('late'), 'main'], {
      cwd: repo.dir,
      reject: false,
      all: true,
      env: { CODEHUB_HOOK_URL: 'http://127.0.0.1:9/none' },
    });
    expect(direct.exitCode, direct.all).toBe(0);
    expect(headOf('late')).toBe(sha);
    await fill(0); // and the disk is full, so nothing can be recorded now
    try {
      expect((await fetch(`${server.url}/api/builds?commit=${sha}`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200); // reads go on
    } finally {
      await unfill();
    }
    const [late] = await server.waitForBuilds(sha, token, { timeoutMs: 60_000 });
    expect(late).toMatchObject({ status: 'succeeded', pusher: owner, ref: 'refs/heads/main', commit: sha });
    expect(server.logs.some((l) => l.includes('push recorded late'))).toBe(true);
  });
});
