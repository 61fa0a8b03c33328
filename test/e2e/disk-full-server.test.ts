/**
 * The server's own half of a full data disk (issue 30), through the real server with its data dir on a small
 * tmpfs: a build writing its log when the disk fills fails naming the full disk while the process stays up,
 * /healthz says full, and once space is freed it all works again without a restart; a server killed at a full
 * disk (and one stopped cleanly there) starts again while it is still full, and serves reads.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkRepo } from '../helpers/git.js';
import { TestServer, uniqueName, waitFor } from '../helpers/server.js';

const FROM = 'FROM localhost:5000/cache/busybox:latest';

/** Mounts a 16 MiB tmpfs for the data dir. It needs root, as the suite does (scripts/stack.sh up): without it the file fails rather than skips. */
function mountTmpfs(): string {
  const dir = mkdtempSync(join(tmpdir(), 'chb-diskfull-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status === 0) return dir;
  rmSync(dir, { recursive: true, force: true });
  throw new Error(`mount -t tmpfs failed${process.getuid?.() !== 0 ? ' (it needs root: run the suite as root, as CI does)' : ''}: ${r.stderr}`);
}

const mnt = mountTmpfs();

/** Fills the tmpfs to its last page: large blocks, then pages for what a large block no longer fits (dd stops with ENOSPC). */
function fill(name: string): void {
  spawnSync('dd', ['if=/dev/zero', `of=${join(mnt, name)}`, 'bs=64k'], { stdio: 'ignore' });
  spawnSync('dd', ['if=/dev/zero', `of=${join(mnt, `${name}-tail`)}`, 'bs=4k'], { stdio: 'ignore' });
}
const free = (name: string) => {
  rmSync(join(mnt, name), { force: true });
  rmSync(join(mnt, `${name}-tail`), { force: true });
};

let server: TestServer;
let owner: string;
let token: string;

const health = async () => {
  const res = await fetch(`${server.url}/healthz`);
  return { status: res.status, body: (await res.json()) as any };
};
const running = async () => (await server.api<{ builds: any[] }>('/api/builds?status=running&limit=200', token)).body.builds ?? [];

describe('a full data disk, server side', () => {
  beforeAll(async () => {
    mkdirSync(join(mnt, 'data'));
    // One attempt: a build stopped by the full disk fails at once, naming it, instead of backing off.
    server = await TestServer.start({ dataDir: join(mnt, 'data'), env: { CODEHUB_MIN_FREE: '1MiB', CODEHUB_MAX_ATTEMPTS: '1' } });
    owner = uniqueName('full');
    token = server.addUser(owner);
  });
  afterAll(async () => {
    await server?.stop('SIGKILL');
    if (mnt) {
      execFileSync('umount', [mnt]);
      rmSync(mnt, { recursive: true, force: true });
    }
  });

  it('stays up when the disk fills while a build writes its log, fails that build naming the full disk, and recovers without a restart', async () => {
    // A build that prints slowly, so the disk fills while it writes its log.
    const repo = await WorkRepo.create({ Dockerfile: `${FROM}\nRUN for i in $(seq 1 600); do echo "${owner} line $i ${'x'.repeat(100)}"; sleep 0.05; done\n` });
    const sha = (await repo.git.revparse(['HEAD'])).trim();
    expect((await repo.push(server.gitUrl(owner, token, owner, 'chatty'), ['main'])).exitCode).toBe(0);
    const [b] = await waitFor(
      'the build to print into its log',
      async () => (await server.api<{ builds: any[] }>(`/api/builds?commit=${sha}`, token)).body.builds,
      (l) => l?.[0]?.status === 'running',
      60_000,
    );
    await waitFor(
      'its log to hold RUN output',
      async () => (await server.api<string>(`/api/builds/${b.id}/log`, token)).body,
      (t) => typeof t === 'string' && t.includes(`${owner} line 5 `),
      60_000,
    );

    fill('fill');
    const full = await waitFor('/healthz to say the disk is full', health, (h) => h.body.checks.disk?.status === 'failing', 10_000);
    expect(full.status).toBe(503);
    expect(full.body.checks.disk).toMatchObject({ ok: false, free_bytes: expect.any(Number), min_free_bytes: 1 << 20 });
    expect(full.body.checks.disk.detail).toContain('the data dir is full');
    // The build's log cannot grow: the build is stopped (its end recorded now, or as soon as the database can).
    await waitFor(
      'the build to stop',
      async () => server.logs.join('\n'),
      (t) => t.includes("the build's log could not be written"),
      60_000,
    );
    expect(server.proc!.exitCode).toBeNull();
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/codehub_data_free_bytes \d+/);

    free('fill');
    const [ended] = await server.waitForBuilds(sha, token);
    expect(ended.status).toBe('failed');
    expect(ended.reason).toMatch(/^the data dir is full: its log could not be written \(ENOSPC/);
    expect(await running()).toEqual([]);
    const h = await waitFor('/healthz to be ok again', health, (x) => x.status === 200 && x.body.checks.disk.status === 'ok', 10_000);
    expect(h.body.checks.disk.free_bytes).toBeGreaterThan(1 << 20);

    // No restart: the same process takes a new push and builds it.
    const next = await repo.commit({ Dockerfile: `${FROM}\nRUN echo "${owner} after the disk was freed"\n` });
    expect((await repo.push(server.gitUrl(owner, token, owner, 'chatty'), ['main'])).exitCode).toBe(0);
    const [again] = await server.waitForBuilds(next, token);
    expect(again.status, again.reason).toBe('succeeded');
    expect(server.proc!.exitCode).toBeNull();
  });

  it('starts at a full disk, after a kill -9 there and after the disk filled while it was stopped, and serves reads', async () => {
    const { builds } = (await server.api<{ builds: any[] }>('/api/builds?limit=10', token)).body;
    expect(builds.length).toBeGreaterThan(0);
    fill('fill');
    await server.stop('SIGKILL');
    await server.boot(); // throws if it exits or does not answer
    const afterCrash = await health();
    expect(afterCrash.body.checks.disk.status).toBe('failing');
    expect(afterCrash.body.checks.database.ok).toBe(true);
    const read = await server.api<{ builds: any[] }>('/api/builds?limit=10', token);
    expect(read.status).toBe(200);
    expect(read.body.builds.map((b: any) => b.id)).toEqual(builds.map((b: any) => b.id));
    expect((await server.api<string>(`/api/builds/${builds[0].id}/log`, token)).status).toBe(200);
    expect(await running()).toEqual([]);

    // Stopped cleanly with room (SQLite removes its -shm file, which opening the database needs room to make
    // again), then the disk fills while it is down: the reserve file gives that room.
    free('fill');
    await server.stop('SIGTERM');
    fill('fill2');
    await server.boot();
    expect(server.logs.join('\n')).toContain('gave back its reserve file');
    const read2 = await server.api<{ builds: any[] }>('/api/builds?limit=10', token);
    expect(read2.status).toBe(200);
    expect(read2.body.builds.map((b: any) => b.id)).toEqual(builds.map((b: any) => b.id));
    free('fill2');
  });
});
