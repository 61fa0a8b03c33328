/**
 * `codehub-build backup` while the server runs and builds: the copy is a data dir a new server starts on, with
 * the users, tokens, builds, logs and repos of the original, and its database passes SQLite's integrity check.
 */
import { execa } from 'execa';
import Database from 'better-sqlite3';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { WorkRepo } from '../helpers/git.js';
import { TestServer, uniqueName } from '../helpers/server.js';

const servers: TestServer[] = [];
afterAll(async () => {
  for (const s of servers) await s.stop();
});

describe('codehub-build backup', () => {
  it("copies a running server's data dir into one a new server starts on, consistent while builds write", async () => {
    const server = await TestServer.start();
    servers.push(server);
    const owner = uniqueName('backup');
    const token = server.addUser(owner);
    const repo = await WorkRepo.create({ Dockerfile: `FROM localhost:5000/cache/busybox:latest\nRUN echo backed-up-${owner}\n` });
    const first = (await repo.git.revparse(['HEAD'])).trim();
    expect((await repo.push(server.gitUrl(owner, token, owner, 'app'), ['main'], ['wait'])).exitCode).toBe(0);
    const [built] = await server.waitForBuilds(first, token);
    expect(built.status).toBe('succeeded');

    // A second push builds while the backup runs.
    const second = await repo.commit({ 'n.txt': 'two\n' });
    const pushing = repo.push(server.gitUrl(owner, token, owner, 'app'), ['main']);
    const dest = join(mkdtempSync(join(tmpdir(), 'chb-backup-')), 'copy');
    const backup = await server.cliAsync(['backup', dest]);
    expect(backup.status, backup.stderr).toBe(0);
    expect(backup.stdout).toMatch(/database: \d+ pages, consistent as of /);
    expect((await pushing).exitCode).toBe(0);
    await server.waitForBuilds(second, token);

    const db = new Database(join(dest, 'codehub.db'), { readonly: true });
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    db.close();
    expect(statSync(join(dest, 'secrets')).mode & 0o777).toBe(0o700);
    expect(statSync(join(dest, 'secrets', 'hook.key')).mode & 0o777).toBe(0o600);

    // A new server on the copy: the same user and token, the first build with its log, and the repo clones.
    const restored = await TestServer.start({ dataDir: dest });
    servers.push(restored);
    const { body } = await restored.api<{ builds: any[] }>(`/api/builds?commit=${first}`, token);
    expect(body.builds.map((b) => [b.id, b.status, b.digest])).toEqual([[built.id, 'succeeded', built.digest]]);
    expect((await restored.api(`/api/builds/${built.id}/log`, token)).body).toContain(`backed-up-${owner}`);
    const clone = mkdtempSync(join(tmpdir(), 'chb-backup-clone-'));
    const cloned = await execa('git', ['clone', '-q', restored.gitUrl(owner, token, owner, 'app'), clone], { reject: false, all: true });
    expect(cloned.exitCode, cloned.all).toBe(0);
    expect((await execa('git', ['-C', clone, 'cat-file', '-t', first])).stdout).toBe('commit');

    // Into a folder that is not empty it refuses, changing nothing.
    const again = server.cli(['backup', dest]);
    expect(again.status).not.toBe(0);
    expect(again.stderr).toContain(`${dest} is not empty`);
  });
});
