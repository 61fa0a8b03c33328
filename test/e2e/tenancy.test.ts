/**
 * Who may do what, through the real git client, server, API, CLI and SQLite file: a user's repos are theirs
 * until they share them (read or write), tokens carry scopes, and guessing tokens is slowed down.
 */
import { execa } from 'execa';
import { mkdtempSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { busyboxDockerfile, WorkRepo } from '../helpers/git.js';
import { TestServer, uniqueName } from '../helpers/server.js';

let server: TestServer;
let alice: string;
let aliceToken: string;
let bob: string;
let bobToken: string;

beforeAll(async () => {
  server = await TestServer.start({ env: { CODEHUB_AUTH_FAILURES_PER_MIN: '5' } });
  alice = uniqueName('alice');
  bob = uniqueName('bob');
  aliceToken = server.addUser(alice);
  bobToken = server.addUser(bob);
});
afterAll(async () => {
  await server?.stop();
});

/** A GET of the server from a given source address (127.0.0.x: Linux answers on all of 127/8). */
function getFrom(address: string, path: string, token: string): Promise<{ status: number; retryAfter: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = httpGet(`${server.url}${path}`, { localAddress: address, headers: { authorization: `Bearer ${token}` } }, (res) => {
      res.resume();
      const retry = res.headers['retry-after'];
      resolve({ status: res.statusCode ?? 0, retryAfter: Array.isArray(retry) ? retry[0] : retry });
    });
    req.on('error', reject);
  });
}

const clone = (url: string) =>
  execa('git', ['clone', url, join(mkdtempSync(join(tmpdir(), 'chb-t-')), 'c')], { reject: false, env: { GIT_TERMINAL_PROMPT: '0' } });
const as = (token: string) => ({ CODEHUB_TOKEN: token });

describe('tenancy', () => {
  it("keeps bob out of alice's repo until she shares it, then lets him as far as his role", async () => {
    const repo = await WorkRepo.create({ Dockerfile: busyboxDockerfile(), 'hello.txt': `${alice}\n` });
    const sha = (await repo.git.revparse(['HEAD'])).trim();
    expect((await repo.push(server.gitUrl(alice, aliceToken, alice, 'shop'), ['main'])).exitCode).toBe(0);
    const [b] = await server.waitForBuilds(sha, aliceToken);
    expect(b.status).toBe('succeeded');
    const bobUrl = server.gitUrl(bob, bobToken, alice, 'shop');

    // Not shared: bob can neither clone, push, list, read the build or its log, nor follow it.
    expect((await clone(bobUrl)).stderr).toContain(`repository ${alice}/shop does not exist`);
    const bobPush = await repo.push(bobUrl, ['main:refs/heads/bob']);
    expect(bobPush.exitCode).not.toBe(0);
    expect(bobPush.output).toContain(`${bob} may not push to ${alice}/shop: it belongs to ${alice}`);
    expect((await server.api(`/api/builds?repo=${alice}/shop`, bobToken)).body.builds).toEqual([]);
    expect((await server.api(`/api/builds?commit=${sha}`, bobToken)).body.builds).toEqual([]);
    expect((await server.api(`/api/builds/${b.id}`, bobToken)).status).toBe(404);
    expect((await server.api(`/api/builds/${b.id}/log`, bobToken)).status).toBe(404);
    expect((await server.api(`/api/repos/${alice}/shop/commits/${sha}/builds`, bobToken)).status).toBe(404);
    expect(server.cli(['logs', sha.slice(0, 8)], as(bobToken)).status).not.toBe(0);
    // nor share it with himself
    expect(server.cli(['repo', 'share', `${alice}/shop`, bob, '--role', 'write'], as(bobToken)).status).not.toBe(0);

    // Shared read: clone, list, log; still no push, cancel or rebuild.
    const shared = server.cli(['repo', 'share', `${alice}/shop`, bob, '--role', 'read'], as(aliceToken));
    expect(shared, shared.stderr).toMatchObject({ status: 0, stdout: `shared ${alice}/shop with ${bob} (read)\n` });
    expect(server.cli(['repo', 'members', `${alice}/shop`], as(aliceToken)).stdout).toMatch(new RegExp(`${bob}\\s+read`));
    expect((await clone(bobUrl)).exitCode).toBe(0);
    expect((await server.api(`/api/builds?commit=${sha}`, bobToken)).body.builds.map((x: any) => x.id)).toEqual([b.id]);
    expect((await server.api<string>(`/api/builds/${b.id}/log`, bobToken)).body).toContain('step-ran');
    expect(server.cli(['logs', sha.slice(0, 8)], as(bobToken)).stdout).toContain('step-ran');
    const readOnly = await repo.push(bobUrl, ['main:refs/heads/bob']);
    expect(readOnly.exitCode).not.toBe(0);
    expect(readOnly.output).toContain('it is shared with');
    expect(server.cli(['rebuild', String(b.id)], as(bobToken)).stderr).toContain('needs write access');

    // Shared write: bob pushes a branch, and it builds as his push.
    expect(server.cli(['repo', 'share', `${alice}/shop`, bob, '--role', 'write'], as(aliceToken)).status).toBe(0);
    const bobSha = await repo.commit({ 'hello.txt': `${bob}\n` });
    const pushed = await repo.push(bobUrl, ['HEAD:refs/heads/bob']);
    expect(pushed.exitCode, pushed.output).toBe(0);
    const [bb] = await server.waitForBuilds(bobSha, bobToken);
    expect(bb).toMatchObject({ status: 'succeeded', repo: `${alice}/shop`, pusher: bob });

    // Unshared: out again.
    expect(server.cli(['repo', 'unshare', `${alice}/shop`, bob], as(aliceToken)).status).toBe(0);
    expect((await clone(bobUrl)).exitCode).not.toBe(0);
    expect((await server.api(`/api/builds/${bb.id}`, bobToken)).status).toBe(404);
  });

  it('gives tokens scopes: a read token clones and reads but cannot push; revoked tokens stop at once', async () => {
    const made = server.cli(['token', 'create', alice, '--scopes', 'read', '--label', 'ci reader']);
    expect(made.status, made.stderr).toBe(0);
    const readToken = made.stdout.trim().split('\n').pop()!;
    const listed = server.cli(['token', 'list', alice]).stdout;
    expect(listed).toMatch(/ci reader\s+read\s/);
    expect(listed).not.toContain(readToken);
    const repo = await WorkRepo.create({ Dockerfile: busyboxDockerfile(), 'hello.txt': 'scopes\n' });
    expect((await repo.push(server.gitUrl(alice, aliceToken, alice, 'scoped'), ['main'])).exitCode).toBe(0);
    expect((await clone(server.gitUrl(alice, readToken, alice, 'scoped'))).exitCode).toBe(0);
    const refused = await repo.push(server.gitUrl(alice, readToken, alice, 'scoped'), ['main:refs/heads/x']);
    expect(refused.exitCode).not.toBe(0);
    expect(refused.output).toContain('this token has no push scope');
    expect((await server.api('/api/builds', readToken)).status).toBe(200);

    const id = /^\s*(\d+)\s+ci reader/m.exec(listed)![1]!;
    expect(server.cli(['token', 'revoke', id]).status).toBe(0);
    expect((await server.api('/api/builds', readToken)).status).toBe(401);
    expect(server.cli(['token', 'create', alice, '--scopes', 'read,root']).stderr).toContain('unknown scope "root"');
  });

  it('made an admin token on first start that sees every repo, and refuses reserved and invalid user names', async () => {
    const admin = server.stdout.match(/first start: created user admin[^\n]*\n(chb_\S+)/)?.[1];
    expect(admin, server.stdout).toBeDefined();
    expect(server.logs.join('\n')).not.toContain(admin!);
    const { body } = await server.api('/api/builds?limit=200', admin!);
    expect(new Set(body.builds.map((x: any) => x.repo.split('/')[0]))).toEqual(new Set([alice]));
    for (const name of ['system', 'cache', 'Bad Name', '../x']) {
      const r = server.cli(['user', 'add', name]);
      expect(r.status, name).not.toBe(0);
      expect(r.stderr).toMatch(/reserved|invalid/);
    }
    expect(server.cli(['user', 'list']).stdout).toMatch(new RegExp(`^${bob}\\s+1 token `, 'm'));
  });

  it('removes a user with their tokens, and never hands their repos to a new user of the same name', async () => {
    const carol = uniqueName('carol');
    const carolToken = server.addUser(carol);
    const repo = await WorkRepo.create({ 'README.md': 'carol\n' });
    expect((await repo.push(server.gitUrl(carol, carolToken, carol, 'mine'), ['main'])).exitCode).toBe(0);
    expect(server.cli(['user', 'remove', carol]).status).toBe(0);
    expect((await server.api('/api/builds', carolToken)).status).toBe(401);
    const again = server.cli(['user', 'add', carol]);
    expect(again.status).not.toBe(0);
    expect(again.stderr).toContain(`the name ${carol} still owns the repos of a removed user`);
  });

  it('answers 429 to an address that keeps failing to sign in, then nothing is let through for it', async () => {
    // An address of its own on the loopback, so that no failed sign-in of the tests above counts here.
    const address = `127.0.0.${2 + Math.floor(Math.random() * 250)}`;
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await getFrom(address, '/api/builds', `chb_guess${i}`)).status);
    // Wrong tokens get 401 until the address has failed CODEHUB_AUTH_FAILURES_PER_MIN (5) times in the minute, then 429 whatever it sends.
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429, 429]);
    const res = await getFrom(address, '/api/builds', aliceToken);
    expect(res.status).toBe(429); // even a right token waits out the minute from that address
    expect(Number(res.retryAfter)).toBeGreaterThan(0);
    // Another address is not held back by it.
    expect((await server.api('/api/builds', aliceToken)).status).toBe(200);
  });
});
