/**
 * Security review (issue 24), through the real server, its CLI and the SQLite file: the last admin cannot be
 * removed or lose its last admin token, by any path or by two removals at once (6); user names that would
 * pass for the server's own build credentials are reserved (8a).
 */
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dbFile } from '../../src/store/db.js';
import { TestServer, uniqueName } from '../helpers/server.js';

let server: TestServer;
/** A token of a user who is an admin now (the first start's, until a test hands the role on). */
let admin: string;

beforeAll(async () => {
  // Deliberate 401s of removed users' tokens below: keep them clear of the sign-in rate limit.
  server = await TestServer.start({ env: { CODEHUB_AUTH_FAILURES_PER_MIN: '1000' } });
  admin = server.firstAdminToken;
});
afterAll(async () => {
  await server?.stop();
});

/** One API call; a body is sent as JSON. */
async function call(method: string, path: string, token: string, body?: unknown): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(server.url + path, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  const text = await res.text();
  try {
    return { status: res.status, body: JSON.parse(text) };
  } catch {
    return { status: res.status, body: text };
  }
}

/** The database as it is, read apart from the server: rows of `sql`. */
function query<T>(sql: string, ...params: unknown[]): T[] {
  const db = new Database(dbFile(server.dataDir), { readonly: true });
  try {
    return db.prepare(sql).all(...params) as T[];
  } finally {
    db.close();
  }
}

/** Names of the users holding an admin token, and how many such tokens there are. */
function admins(): { users: string[]; tokens: number } {
  const rows = query<{ name: string }>(
    "SELECT u.name FROM tokens t JOIN users u ON u.id = t.user_id WHERE instr(',' || t.scopes || ',', ',admin,') > 0 ORDER BY u.name",
  );
  return { users: [...new Set(rows.map((r) => r.name))], tokens: rows.length };
}

/** A new user with an admin token (made over the API by the current admin); returns its token. */
async function makeAdmin(name: string): Promise<string> {
  expect((await call('POST', '/api/users', admin, { name })).status).toBe(201);
  const made = await call('POST', `/api/users/${name}/tokens`, admin, { scopes: ['read', 'push', 'admin'], label: 'admin' });
  expect(made.status, JSON.stringify(made.body)).toBe(201);
  return made.body.token;
}

/** The id of a user's only admin token. */
async function adminTokenId(name: string): Promise<number> {
  const listed = await call('GET', `/api/users/${name}/tokens`, admin);
  const ids = listed.body.tokens.filter((t: any) => t.scopes.includes('admin')).map((t: any) => t.id);
  expect(ids).toHaveLength(1);
  return ids[0];
}

const MAKE_ANOTHER =
  'make another admin first (codehub-build token create <user> --scopes read,push,admin on the server, or POST /api/users/<user>/tokens with {"scopes": ["read", "push", "admin"]})';

describe('the last admin (issue 24, finding 6)', () => {
  it('refuses DELETE /api/users/admin by the only admin with 409, saying why and to make another admin first', async () => {
    expect(admins()).toEqual({ users: ['admin'], tokens: 1 });
    const r = await call('DELETE', '/api/users/admin', admin);
    expect(r).toEqual({
      status: 409,
      body: {
        error: { code: 'conflict', message: `user admin holds the last admin token: removing it would leave no admin; ${MAKE_ANOTHER}, then remove admin` },
      },
    });
    expect(await call('GET', '/api/user', admin)).toEqual({ status: 200, body: { name: 'admin', scopes: ['read', 'push', 'admin'] } });
    expect(admins()).toEqual({ users: ['admin'], tokens: 1 });
  });

  it('refuses to revoke the last admin token over the API, and lets a non-admin token of the same user go', async () => {
    const id = await adminTokenId('admin');
    const r = await call('DELETE', `/api/tokens/${id}`, admin);
    expect(r).toEqual({
      status: 409,
      body: {
        error: { code: 'conflict', message: `token ${id} is the last admin token: revoking it would leave no admin; ${MAKE_ANOTHER}, then revoke token ${id}` },
      },
    });
    expect((await call('GET', '/api/user', admin)).status).toBe(200);
    const plain = await call('POST', '/api/users/admin/tokens', admin, { scopes: ['read'] });
    expect(await call('DELETE', `/api/tokens/${plain.body.id}`, admin)).toEqual({ status: 200, body: { id: plain.body.id, revoked: true } });
  });

  it('refuses the same on the server CLI (user remove, token revoke), with the same reason', async () => {
    const id = await adminTokenId('admin');
    const removal = server.cli(['user', 'remove', 'admin']);
    expect(removal.status, removal.stderr).toBe(1);
    expect(removal.stderr).toBe(`codehub-build: user admin holds the last admin token: removing it would leave no admin; ${MAKE_ANOTHER}, then remove admin\n`);
    const revoke = server.cli(['token', 'revoke', String(id)]);
    expect(revoke.status, revoke.stderr).toBe(1);
    expect(revoke.stderr).toBe(
      `codehub-build: token ${id} is the last admin token: revoking it would leave no admin; ${MAKE_ANOTHER}, then revoke token ${id}\n`,
    );
    expect((await call('GET', '/api/user', admin)).status).toBe(200);
    expect(admins()).toEqual({ users: ['admin'], tokens: 1 });
  });

  it('lets the admin go once another admin exists, and then protects the new last one', async () => {
    const bob = uniqueName('sec-bob');
    const bobToken = await makeAdmin(bob);
    expect(await call('DELETE', '/api/users/admin', admin)).toEqual({ status: 200, body: { name: 'admin', removed: true } });
    expect((await call('GET', '/api/user', admin)).status).toBe(401);
    admin = bobToken;
    expect(admins()).toEqual({ users: [bob], tokens: 1 });
    const self = await call('DELETE', `/api/users/${bob}`, admin);
    expect(self.status).toBe(409);
    expect(self.body.error.message).toContain(`user ${bob} holds the last admin token`);
    // The CLI's token create is how an operator on the server makes another admin; then bob may go too.
    const made = server.cli(['token', 'create', bob, '--scopes', 'admin', '--label', 'spare']);
    expect(made.status, made.stderr).toBe(0);
    const spare = made.stdout.trim();
    expect(await call('DELETE', `/api/tokens/${await tokenIdLabelled(bob, 'admin')}`, spare)).toMatchObject({ status: 200 });
    admin = spare;
    expect(admins()).toEqual({ users: [bob], tokens: 1 });
  });

  it('keeps an admin when an admin removes itself over the API while the CLI removes the other', async () => {
    const carol = uniqueName('sec-carol');
    const carolToken = await makeAdmin(carol);
    const bob = admins().users.find((u) => u !== carol)!;
    // Each alone is allowed (the other admin stays); at once, exactly one of them must be refused.
    const [api, cli] = await Promise.all([call('DELETE', `/api/users/${carol}`, carolToken), server.cliAsync(['user', 'remove', bob])]);
    const left = admins();
    expect(left.users, `API ${api.status} ${JSON.stringify(api.body)}; CLI ${cli.status} ${cli.stderr}`).toHaveLength(1);
    if (api.status === 200) {
      expect(cli.status).toBe(1);
      expect(cli.stderr).toContain(`user ${bob} holds the last admin token`);
      expect(left.users).toEqual([bob]);
    } else {
      expect(api.status).toBe(409);
      expect(cli.status, cli.stderr).toBe(0);
      expect(left.users).toEqual([carol]);
      admin = carolToken;
    }
  });

  it('keeps an admin when two admins remove each other over the API at the same moment', async () => {
    const dave = uniqueName('sec-dave');
    const daveToken = await makeAdmin(dave);
    const other = admins().users.find((u) => u !== dave)!;
    const [a, b] = await Promise.all([call('DELETE', `/api/users/${dave}`, admin), call('DELETE', `/api/users/${other}`, daveToken)]);
    // One goes; the other request finds its own token gone (401) or its target the last admin (409).
    expect(
      [a.status, b.status].filter((s) => s === 200),
      JSON.stringify([a, b]),
    ).toHaveLength(1);
    for (const r of [a, b]) expect([200, 401, 409]).toContain(r.status);
    expect(admins().users).toHaveLength(1);
    if (a.status !== 200) admin = daveToken;
    expect((await call('GET', '/api/user', admin)).body.scopes).toContain('admin');
  });
});

/** The id of `user`'s token with this label. */
async function tokenIdLabelled(user: string, label: string): Promise<number> {
  const listed = await call('GET', `/api/users/${user}/tokens`, admin);
  return listed.body.tokens.find((t: any) => t.label === label).id;
}

describe('reserved user names (issue 24, finding 8a)', () => {
  const rule = (name: string) =>
    `user name "${name}" is reserved: "codehub-build" and names starting with "codehub-build-" are the server's own (its builds' registry credentials)`;

  it('refuses codehub-build and codehub-build-* over the admin API with 400 naming the rule', async () => {
    for (const name of ['codehub-build-x', 'codehub-build', 'codehub-build-12-0a1b2c3d', 'codehub-build-registry']) {
      expect(await call('POST', '/api/users', admin, { name }), name).toEqual({ status: 400, body: { error: { code: 'bad_request', message: rule(name) } } });
    }
    // Upper case and a trailing '-' never were names; a name that only contains the words is one.
    for (const name of ['CODEHUB-BUILD-x', 'codehub-build-']) {
      const r = await call('POST', '/api/users', admin, { name });
      expect(r.status, name).toBe(400);
      expect(r.body.error.message).toContain('is invalid');
    }
    const near = uniqueName('codehub-buildx');
    expect((await call('POST', '/api/users', admin, { name: near })).status).toBe(201);
    expect(query("SELECT name FROM users WHERE name LIKE 'codehub-build%' AND name != ?", near)).toEqual([]);
  });

  it('refuses them on the server CLI with the same sentence', () => {
    const r = server.cli(['user', 'add', 'codehub-build-7-cafebabe']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`codehub-build: ${rule('codehub-build-7-cafebabe')}`);
    expect(r.stdout).toBe('');
    expect(query("SELECT name FROM users WHERE name LIKE 'codehub-build-%'")).toEqual([]);
  });
});
