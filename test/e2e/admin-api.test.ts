/**
 * The admin API (users and tokens, admin scope), GET /api/user and GET /api/openapi.json, through the real
 * server, the real git client and the SQLite file: what the platform that makes workspaces relies on.
 */
import Database from 'better-sqlite3';
import { execa } from 'execa';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashToken } from '../../src/auth/tokens.js';
import { dbFile } from '../../src/store/db.js';
import { busyboxDockerfile, WorkRepo } from '../helpers/git.js';
import { TestServer, uniqueName } from '../helpers/server.js';

let server: TestServer;
let admin: string;
const alice = uniqueName('ws-alice');
let aliceToken: string;
let buildId: number;
let readerToken: string;

beforeAll(async () => {
  // Many deliberate 401s below: keep them clear of the sign-in rate limit.
  // Tokens here may live at most 400 days (CODEHUB_TOKEN_MAX_DAYS): those made without an expiry get it.
  server = await TestServer.start({ env: { CODEHUB_AUTH_FAILURES_PER_MIN: '1000', CODEHUB_TOKEN_MAX_DAYS: '400' } });
  admin = server.firstAdminToken;
});
afterAll(async () => {
  await server?.stop();
});

/** One API call; a body that is not a string is sent as JSON. */
async function call(method: string, path: string, token?: string, body?: unknown): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(server.url + path, {
    method,
    headers,
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  try {
    return { status: res.status, body: JSON.parse(text) };
  } catch {
    return { status: res.status, body: text };
  }
}

const clone = (url: string) =>
  execa('git', ['clone', url, join(mkdtempSync(join(tmpdir(), 'chb-a-')), 'c')], { reject: false, env: { GIT_TERMINAL_PROMPT: '0' } });

/** Every byte of the database (with its write-ahead log, where fresh writes are), as text to search. */
function databaseBytes(): string {
  const file = dbFile(server.dataDir);
  return [file, `${file}-wal`]
    .filter(existsSync)
    .map((f) => readFileSync(f).toString('latin1'))
    .join('');
}

describe('admin API', () => {
  it('makes a user whose token pushes a commit that builds; the database keeps only its hash', async () => {
    expect(await call('GET', '/api/user', admin)).toEqual({ status: 200, body: { name: 'admin', scopes: ['read', 'push', 'admin'] } });
    const made = await call('POST', '/api/users', admin, { name: alice });
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    expect(Object.keys(made.body).sort()).toEqual(['expires_at', 'name', 'token']);
    expect(made.body.name).toBe(alice);
    // The site's maximum, counted from now (a minute's leeway for a slow machine).
    expect(Math.abs(Date.parse(made.body.expires_at) - (Date.now() + 400 * 86_400_000))).toBeLessThan(60_000);
    aliceToken = made.body.token;
    expect(await call('GET', '/api/user', aliceToken)).toEqual({ status: 200, body: { name: alice, scopes: ['read', 'push'] } });

    const repo = await WorkRepo.create({ Dockerfile: busyboxDockerfile(), 'hello.txt': `${alice}\n` });
    const sha = (await repo.git.revparse(['HEAD'])).trim();
    const pushed = await repo.push(server.gitUrl(alice, aliceToken, alice, 'app'), ['main']);
    expect(pushed.exitCode, pushed.output).toBe(0);
    const [b] = await server.waitForBuilds(sha, aliceToken);
    expect(b).toMatchObject({ status: 'succeeded', repo: `${alice}/app`, pusher: alice });
    buildId = b.id;

    const db = new Database(dbFile(server.dataDir), { readonly: true });
    try {
      const hashes = (db.prepare('SELECT t.hash FROM tokens t JOIN users u ON u.id = t.user_id WHERE u.name = ?').all(alice) as { hash: string }[]).map(
        (r) => r.hash,
      );
      expect(hashes).toEqual([hashToken(aliceToken)]);
    } finally {
      db.close();
    }
    expect(databaseBytes()).not.toContain(aliceToken);
    expect(databaseBytes()).not.toContain(admin);
  });

  it('makes tokens with their scopes: a read token clones and reads, and gets 403 on push, cancel and rebuild', async () => {
    const made = await call('POST', `/api/users/${alice}/tokens`, admin, { scopes: ['read'], label: 'ci reader' });
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    expect(made.body).toMatchObject({ id: expect.any(Number), token: expect.stringMatching(/^chb_/), label: 'ci reader', scopes: ['read'] });
    readerToken = made.body.token;
    expect(await call('GET', '/api/user', readerToken)).toEqual({ status: 200, body: { name: alice, scopes: ['read'] } });

    expect((await clone(server.gitUrl(alice, readerToken, alice, 'app'))).exitCode).toBe(0);
    expect((await call('GET', `/api/builds/${buildId}`, readerToken)).body.status).toBe('succeeded');
    expect((await call('GET', `/api/builds/${buildId}/log`, readerToken)).body).toContain('step-ran');
    const repo = await WorkRepo.create({ Dockerfile: busyboxDockerfile(), 'hello.txt': 'reader\n' });
    const refused = await repo.push(server.gitUrl(alice, readerToken, alice, 'app'), ['main:refs/heads/reader']);
    expect(refused.exitCode).not.toBe(0);
    expect(refused.output).toContain('this token has no push scope');
    for (const action of ['cancel', 'rebuild']) {
      const r = await call('POST', `/api/builds/${buildId}/${action}`, readerToken);
      expect(r.status, action).toBe(403);
      expect(r.body.error.message).toContain('no push scope');
    }

    // An empty body takes both defaults.
    const plain = await call('POST', `/api/users/${alice}/tokens`, admin);
    expect(plain).toMatchObject({ status: 201, body: { label: 'api', scopes: ['read', 'push'] } });

    const listed = await call('GET', `/api/users/${alice}/tokens`, admin);
    expect(listed.status).toBe(200);
    expect(listed.body.user).toBe(alice);
    expect(listed.body.tokens.map((t: any) => [t.id, t.label, t.scopes])).toEqual([
      [expect.any(Number), 'default', ['read', 'push']],
      [made.body.id, 'ci reader', ['read']],
      [plain.body.id, 'api', ['read', 'push']],
    ]);
    for (const t of listed.body.tokens) expect(Object.keys(t).sort()).toEqual(['created_at', 'expires_at', 'id', 'label', 'last_used_at', 'scopes']);
    expect(listed.body.tokens[1].last_used_at).not.toBeNull();
    const text = JSON.stringify(listed.body);
    for (const t of [aliceToken, readerToken, plain.body.token]) {
      expect(text).not.toContain(t);
      expect(text).not.toContain(hashToken(t));
      expect(databaseBytes()).not.toContain(t);
    }
  });

  it('answers 403 naming the admin scope on every admin route to a token without it, and 401 to none', async () => {
    const routes: [string, string, unknown?][] = [
      ['POST', '/api/users', { name: uniqueName('nope') }],
      ['DELETE', `/api/users/${alice}`],
      ['POST', `/api/users/${alice}/tokens`, { scopes: ['admin'] }],
      ['GET', `/api/users/${alice}/tokens`],
      ['DELETE', '/api/tokens/1'],
    ];
    for (const [method, path, body] of routes) {
      const r = await call(method, path, aliceToken, body);
      expect(r.status, `${method} ${path}`).toBe(403);
      expect(r.body.error).toMatchObject({ code: 'forbidden', message: expect.stringContaining('no admin scope') });
      expect((await call(method, path, undefined, body)).status, `${method} ${path} without a token`).toBe(401);
    }
    // Nothing of it happened.
    expect((await call('GET', '/api/user', aliceToken)).status).toBe(200);
    expect((await call('GET', `/api/users/${alice}/tokens`, admin)).body.tokens).toHaveLength(3);
  });

  it('refuses taken, reserved and invalid names, and the name of a removed user who still owns repos', async () => {
    const again = await call('POST', '/api/users', admin, { name: alice });
    expect(again).toEqual({ status: 409, body: { error: { code: 'conflict', message: `user ${alice} already exists` } } });
    expect(await call('POST', '/api/users', admin, { name: 'system' })).toEqual({
      status: 400,
      body: { error: { code: 'bad_request', message: 'user name "system" is reserved' } },
    });
    const bad = await call('POST', '/api/users', admin, { name: 'Bad Name' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toContain('user name "Bad Name" is invalid');

    const carol = uniqueName('ws-carol');
    const carolToken = (await call('POST', '/api/users', admin, { name: carol })).body.token;
    const repo = await WorkRepo.create({ 'README.md': 'carol\n' });
    expect((await repo.push(server.gitUrl(carol, carolToken, carol, 'mine'), ['main'])).exitCode).toBe(0);
    expect(await call('DELETE', `/api/users/${carol}`, admin)).toEqual({ status: 200, body: { name: carol, removed: true } });
    expect((await call('GET', '/api/user', carolToken)).status).toBe(401);
    const reused = await call('POST', '/api/users', admin, { name: carol });
    expect(reused.status).toBe(409);
    expect(reused.body.error.message).toBe(`the name ${carol} still owns the repos of a removed user; choose another name`);
  });

  it('answers bad bodies and parameters with 400 or 413, saying which field is wrong', async () => {
    const cases: [string, string, unknown, number, RegExp][] = [
      ['POST', '/api/users', 'not json', 400, /the body is not JSON/],
      ['POST', '/api/users', { name: 5 }, 400, /^name must be a string/],
      ['POST', '/api/users', {}, 400, /^name must be a string.*got nothing/],
      ['POST', '/api/users', ['x'], 400, /the body must be a JSON object like \{"name": "alice"\}/],
      ['POST', '/api/users', { name: 'fine-name', admin: true }, 400, /^unknown field "admin": the fields are name$/],
      ['POST', '/api/users', { name: 'a'.repeat(2048) }, 413, /at most 1024 bytes/],
      ['POST', `/api/users/${alice}/tokens`, { scopes: ['read', 'root'] }, 400, /^unknown scope "root": scopes are read, push, admin$/],
      ['POST', `/api/users/${alice}/tokens`, { scopes: 'read,push' }, 400, /^scopes must be a list of scope names/],
      ['POST', `/api/users/${alice}/tokens`, { scopes: [] }, 400, /^no scopes given/],
      ['POST', `/api/users/${alice}/tokens`, { label: 'x'.repeat(101) }, 400, /^label: at most 100 characters/],
      ['POST', `/api/users/${alice}/tokens`, { label: 'a\u0007b' }, 400, /^label: .*no control characters/],
      ['POST', `/api/users/${alice}/tokens`, { scopes: ['read'], expires: 3600 }, 400, /^unknown field "expires"/],
      ['POST', `/api/users/${alice}/tokens`, '{"scopes": [', 400, /the body is not JSON/],
      ['POST', '/api/users/nobody-here/tokens', {}, 404, /^no user nobody-here$/],
      ['GET', '/api/users/nobody-here/tokens', undefined, 404, /^no user nobody-here$/],
      ['GET', '/api/users/system/tokens', undefined, 400, /reserved/],
      ['DELETE', '/api/users/nobody-here', undefined, 404, /^no user nobody-here$/],
      ['DELETE', '/api/tokens/abc', undefined, 400, /"abc" is not a token id/],
      ['DELETE', '/api/tokens/999999', undefined, 404, /^no token 999999$/],
    ];
    for (const [method, path, body, status, message] of cases) {
      const r = await call(method, path, admin, body);
      const what = `${method} ${path} ${JSON.stringify(body)?.slice(0, 40)}`;
      expect(r.status, `${what}: ${JSON.stringify(r.body)}`).toBe(status);
      expect(r.body.error.message, what).toMatch(message);
    }
    // Every problem of one body at once, each in details.problems too.
    const both = await call('POST', `/api/users/${alice}/tokens`, admin, { scopes: 'read', label: 7 });
    expect(both.body.error.details.problems).toHaveLength(2);
  });

  it('revokes a token with DELETE /api/tokens/:id, and it stops working at once', async () => {
    const made = await call('POST', `/api/users/${alice}/tokens`, admin, { label: 'short-lived' });
    expect((await call('GET', '/api/user', made.body.token)).status).toBe(200);
    expect(await call('DELETE', `/api/tokens/${made.body.id}`, admin)).toEqual({ status: 200, body: { id: made.body.id, revoked: true } });
    expect((await call('GET', '/api/user', made.body.token)).status).toBe(401);
    expect((await clone(server.gitUrl(alice, made.body.token, alice, 'app'))).exitCode).not.toBe(0);
    expect((await call('DELETE', `/api/tokens/${made.body.id}`, admin)).status).toBe(404);
  });

  it('stops a token at its expiry on git, the API and the registry token endpoint, each saying when it expired', async () => {
    const made = await call('POST', `/api/users/${alice}/tokens`, admin, { label: 'expiring', expires_in_days: 3 / 86_400 });
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    const { id, token, expires_at: expiresAt } = made.body as { id: number; token: string; expires_at: string };
    const listed = (await call('GET', `/api/users/${alice}/tokens`, admin)).body.tokens.find((t: { id: number }) => t.id === id);
    expect(listed).toMatchObject({ label: 'expiring', expires_at: expiresAt });
    const basic = { authorization: `Basic ${Buffer.from(`${alice}:${token}`).toString('base64')}` };
    const infoRefs = () => fetch(`${server.url}/git/${alice}/app.git/info/refs?service=git-upload-pack`, { headers: basic });
    const registryToken = () => fetch(`${server.url}/registry/token?service=codehub-build-registry&scope=repository:${alice}/app:pull`, { headers: basic });
    const lsRemote = () => execa('git', ['ls-remote', server.gitUrl(alice, token, alice, 'app')], { reject: false, env: { GIT_TERMINAL_PROMPT: '0' } });

    expect((await lsRemote()).exitCode).toBe(0);
    expect((await call('GET', '/api/user', token)).status).toBe(200);
    const granted = (await (await registryToken()).json()) as { token: string };
    const claims = JSON.parse(Buffer.from(granted.token.split('.')[1]!, 'base64url').toString()) as { access: { actions: string[] }[] };
    expect(claims.access[0]!.actions).toEqual(['pull']);

    // The token's real expiry: nothing here moves a clock.
    while (Date.now() <= Date.parse(expiresAt) + 20) await new Promise((r) => setTimeout(r, 100));
    const said = `token ${id} expired at ${expiresAt}`;
    const git = await lsRemote();
    expect(git.exitCode).not.toBe(0);
    const refs = await infoRefs();
    expect(refs.status).toBe(401);
    expect(await refs.text()).toContain(said);
    const api = await call('GET', '/api/user', token);
    expect(api.status).toBe(401);
    expect(api.body.error.message).toContain(said);
    const reg = await registryToken();
    expect(reg.status).toBe(401);
    expect(((await reg.json()) as { error: { message: string } }).error.message).toContain(said);
  });

  it("refuses an expiry past the site's maximum, on the API and the server's CLI, and lists expiries", async () => {
    const over = await call('POST', `/api/users/${alice}/tokens`, admin, { label: 'too-long', expires_in_days: 401 });
    expect(over.status).toBe(400);
    expect(over.body.error.message).toContain("past this server's maximum of 400 days (CODEHUB_TOKEN_MAX_DAYS)");
    const cliOver = server.cli(['token', 'create', alice, '--expires', '401d']);
    expect(cliOver.status).not.toBe(0);
    expect(cliOver.stderr).toContain('maximum of 400 days');
    const made = server.cli(['token', 'create', alice, '--label', 'cli-week', '--expires', '7d']);
    expect(made.status, made.stderr).toBe(0);
    expect(made.stderr).toMatch(/expires at \d{4}-\d\d-\d\dT/);
    const list = server.cli(['token', 'list', alice]);
    const line = list.stdout.split('\n').find((l) => l.includes('cli-week'));
    const at = Date.parse(line?.match(/expires (\S+)/)?.[1] ?? '');
    expect(Math.abs(at - (Date.now() + 7 * 86_400_000))).toBeLessThan(60_000);
  });

  it('removes a user with DELETE /api/users/:name: their tokens stop, their builds stay', async () => {
    expect(await call('DELETE', `/api/users/${alice}`, admin)).toEqual({ status: 200, body: { name: alice, removed: true } });
    for (const t of [aliceToken, readerToken]) expect((await call('GET', '/api/user', t)).status).toBe(401);
    expect((await call('GET', `/api/users/${alice}/tokens`, admin)).status).toBe(404);
    expect((await call('GET', `/api/builds/${buildId}`, admin)).body).toMatchObject({ id: buildId, status: 'succeeded' });
    expect((await call('DELETE', `/api/users/${alice}`, admin)).status).toBe(404);
  });

  it('describes itself at /api/openapi.json, without a token', async () => {
    const r = await call('GET', '/api/openapi.json');
    expect(r.status).toBe(200);
    expect(r.body.openapi).toBe('3.1.0');
    expect(r.body.servers).toEqual([{ url: server.url }]);
    expect(Object.keys(r.body.paths)).toEqual(
      expect.arrayContaining(['/api/users', '/api/users/{name}', '/api/users/{name}/tokens', '/api/tokens/{id}', '/api/user']),
    );
  });
});
