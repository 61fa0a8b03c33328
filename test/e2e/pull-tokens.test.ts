/**
 * Pull tokens for deployments (issue 27) through the real server, its token registry, dockerd and the docker
 * and git clients: a token made with the CLI logs docker in as pull-<id> and pulls its repo's image, and nothing
 * else (another user's image, another repo of the same owner, a push, git, the API); `repo pull-secret` prints a
 * Secret Kubernetes' schema accepts whose credential pulls; a token past its expiry is refused, saying when it
 * expired; each made or revoked is in the audit log once, with who did it, and the token nowhere.
 */
import Database from 'better-sqlite3';
import { execa } from 'execa';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { dbFile } from '../../src/store/db.js';
import { WorkRepo } from '../helpers/git.js';
import { sleep, TestServer, uniqueName } from '../helpers/server.js';

let server: TestServer;
let alice: string;
let aliceToken: string;
let bob: string;
const pulled: string[] = [];

interface Made {
  id: number;
  username: string;
  token: string;
  label: string;
  expires_at: string | null;
  registry: string;
}

/** `codehub-build <args>` as alice, from a workspace. */
const asAlice = (...args: string[]) => server.cli(args, { CODEHUB_TOKEN: aliceToken });

function createToken(...extra: string[]): Made {
  const r = asAlice('repo', 'pull-token', 'create', `${alice}/app`, '--json', ...extra);
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Made;
}

/** docker with a config folder of its own holding `config` (a dockerconfigjson), as a kubelet would have it. */
function dockerWith(config: unknown) {
  const dir = mkdtempSync(join(tmpdir(), 'chb-pull-dcfg-'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  return async (...args: string[]) => {
    const r = await execa('docker', args, { env: { DOCKER_CONFIG: dir }, reject: false, all: true });
    return { exitCode: r.exitCode ?? -1, all: r.all ?? '' };
  };
}

/** `docker pull ref`, the image removed again afterwards (dockerd is shared). */
async function pull(docker: (...args: string[]) => Promise<{ exitCode: number; all: string }>, ref: string) {
  await docker('image', 'rm', ref);
  const r = await docker('pull', ref);
  if (r.exitCode === 0) pulled.push(ref);
  return r;
}

/** The registry token endpoint's answer to basic auth `user:secret` for `scope`. */
async function tokenEndpoint(user: string, secret: string, scope: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${server.url}/registry/token?service=codehub-build-registry&scope=${encodeURIComponent(scope)}`, {
    headers: { authorization: `Basic ${Buffer.from(`${user}:${secret}`).toString('base64')}` },
  });
  return { status: res.status, body: await res.json() };
}

/** The access a registry token grants, from its JWT's claims. */
const accessOf = (body: { token: string }): unknown => JSON.parse(Buffer.from(body.token.split('.')[1]!, 'base64url').toString()).access;

/** The audit log's rows in the server's SQLite file, read-only, as an operator would look. */
function auditRows(): Record<string, unknown>[] {
  const db = new Database(dbFile(server.dataDir), { readonly: true });
  try {
    return db.prepare('SELECT * FROM audit_events ORDER BY id').all() as Record<string, unknown>[];
  } finally {
    db.close();
  }
}

beforeAll(async () => {
  server = await TestServer.start();
  alice = uniqueName('alice');
  bob = uniqueName('bob');
  aliceToken = server.addUser(alice);
  const bobToken = server.addUser(bob);
  // One image each, pushed by their builds with the builds' own credentials.
  // Alice has a second repo, web: a pull token of alice/app must not reach it though the owner is the same.
  const pushes = [
    [alice, aliceToken, 'app'],
    [alice, aliceToken, 'web'],
    [bob, bobToken, 'app'],
  ].map(async ([user, token, name]) => {
    const repo = await WorkRepo.create({ Dockerfile: `FROM localhost:5000/cache/busybox:latest\nRUN echo pull-token-${user}-${name}\n` });
    const sha = (await repo.git.revparse(['HEAD'])).trim();
    const push = await repo.push(server.gitUrl(user!, token!, user!, name!), ['main']);
    expect(push.exitCode, push.output).toBe(0);
    const [b] = await server.waitForBuilds(sha, token!);
    expect(b.status, b.reason).toBe('succeeded');
  });
  await Promise.all(pushes);
});
afterAll(async () => {
  const docker = dockerWith({});
  for (const ref of pulled) await docker('image', 'rm', ref);
  await server?.stop();
});

describe('pull tokens', () => {
  it("log docker in as pull-<id> and pull their repo's image, and nothing else: not another's image, no push", async () => {
    const made = createToken('--label', 'prod');
    expect(made.username).toBe(`pull-${made.id}`);
    expect(made.token).toMatch(/^chp_/);
    expect(made.registry).toBe(server.registry);
    const docker = await server.docker(made.username, made.token); // docker login, a config folder of its own
    const own = await pull(docker, `${server.registry}/${alice}/app:main`);
    expect(own.exitCode, own.all).toBe(0);
    const other = await pull(docker, `${server.registry}/${bob}/app:main`);
    expect(other.exitCode).not.toBe(0);
    expect(other.all).toMatch(/denied|insufficient_scope|unauthorized|authentication required/i);
    expect((await docker('tag', 'localhost:5000/cache/busybox:latest', `${server.registry}/${alice}/app:pushed`)).exitCode).toBe(0);
    const push = await docker('push', `${server.registry}/${alice}/app:pushed`);
    await docker('image', 'rm', `${server.registry}/${alice}/app:pushed`);
    expect(push.exitCode).not.toBe(0);
    expect(push.all).toMatch(/denied|insufficient_scope|unauthorized|authentication required/i);
    // What the token endpoint signs: pull of its repo, whatever is asked.
    const granted = await tokenEndpoint(made.username, made.token, `repository:${alice}/app:pull,push`);
    expect(granted.status).toBe(200);
    expect(accessOf(granted.body)).toEqual([{ type: 'repository', name: `${alice}/app`, actions: ['pull'] }]);
    const list = asAlice('repo', 'pull-token', 'list', `${alice}/app`, '--json');
    const listed = (JSON.parse(list.stdout) as { tokens: { username: string; label: string; last_used_at: string | null }[] }).tokens;
    expect(listed.find((t) => t.username === made.username)).toMatchObject({ label: 'prod', last_used_at: expect.any(String) });
    expect(list.stdout).not.toContain(made.token);
    // After docker's login, pull and refused push: the token is in neither the server's log nor its database file.
    const file = dbFile(server.dataDir);
    const stored = [file, `${file}-wal`]
      .filter(existsSync)
      .map((f) => readFileSync(f).toString('latin1'))
      .join('');
    expect(stored).not.toContain(made.token);
    expect(server.logs.join('\n')).not.toContain(made.token);
  });

  it('is refused for another repo of the same owner: the token endpoint grants nothing on it and docker pull fails', async () => {
    const made = createToken('--label', 'app-only');
    const web = `${server.registry}/${alice}/web:main`;
    // The image is there and alice's own login pulls it: the refusal below is the pull token's.
    const asOwner = await pull(await server.docker(alice, aliceToken), web);
    expect(asOwner.exitCode, asOwner.all).toBe(0);
    const asked = await tokenEndpoint(made.username, made.token, `repository:${alice}/web:pull`);
    expect(asked.status).toBe(200);
    expect(accessOf(asked.body)).toEqual([]);
    const docker = await server.docker(made.username, made.token);
    const refused = await pull(docker, web);
    expect(refused.exitCode).not.toBe(0);
    expect(refused.all).toMatch(/denied|insufficient_scope|unauthorized|authentication required/i);
    // The same login still pulls its own repo's image.
    const own = await pull(docker, `${server.registry}/${alice}/app:main`);
    expect(own.exitCode, own.all).toBe(0);
  });

  it('is refused by git and the API with a 401 saying it is a pull token; refused by the registry once revoked', async () => {
    // Made through the API this time (its answer held to its schema by the test's fetch).
    const res = await fetch(`${server.url}/api/repos/${alice}/app/pull-tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${aliceToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ label: 'git-probe', expires_in_days: 1 }),
    });
    expect(res.status).toBe(201);
    const made = (await res.json()) as Made;
    const basic = { authorization: `Basic ${Buffer.from(`${made.username}:${made.token}`).toString('base64')}` };
    const message = `this is a pull token (${made.username} of ${alice}/app): it only pulls that repo's images`;
    const clone = await execa('git', ['clone', server.gitUrl(made.username, made.token, alice, 'app'), mkdtempSync(join(tmpdir(), 'chb-pull-clone-'))], {
      reject: false,
      all: true,
      env: { GIT_TERMINAL_PROMPT: '0' },
    });
    expect(clone.exitCode).not.toBe(0);
    const refs = await fetch(`${server.url}/git/${alice}/app.git/info/refs?service=git-upload-pack`, { headers: basic });
    expect(refs.status).toBe(401);
    expect(await refs.text()).toContain(message);
    for (const headers of [basic, { authorization: `Bearer ${made.token}` }]) {
      const api = await fetch(`${server.url}/api/builds`, { headers });
      expect(api.status).toBe(401);
      expect(((await api.json()) as any).error.message).toContain(message);
    }
    const revoke = asAlice('repo', 'pull-token', 'revoke', `${alice}/app`, made.username);
    expect(revoke.stdout, revoke.stderr).toContain(`revoked pull token ${made.username} of ${alice}/app`);
    const after = await tokenEndpoint(made.username, made.token, `repository:${alice}/app:pull`);
    expect(after.status).toBe(401);
    expect(after.body.error.message).toMatch(/^wrong pull token/);
  });

  it('makes a Kubernetes Secret its schema accepts, whose credential pulls the image', async () => {
    const r = asAlice('repo', 'pull-secret', `${alice}/app`, '--namespace', 'prod');
    expect(r.status, r.stderr).toBe(0);
    const secret = YAML.parse(r.stdout) as { metadata: { name: string; namespace: string }; type: string; data: Record<string, string> };
    const { Secret } = (await import('kubernetes-models/v1')) as { Secret: new (o: unknown) => { validate(): void } };
    expect(() => new Secret(secret).validate()).not.toThrow();
    expect(secret).toMatchObject({
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'kubernetes.io/dockerconfigjson',
      metadata: { name: 'app-pull', namespace: 'prod' },
    });
    const config = JSON.parse(Buffer.from(secret.data['.dockerconfigjson']!, 'base64').toString()) as {
      auths: Record<string, { username: string; password: string; auth: string }>;
    };
    const cred = config.auths[server.registry]!;
    expect(cred.username).toMatch(/^pull-\d+$/);
    expect(Buffer.from(cred.auth, 'base64').toString()).toBe(`${cred.username}:${cred.password}`);
    const own = await pull(dockerWith(config), `${server.registry}/${alice}/app:main`);
    expect(own.exitCode, own.all).toBe(0);
    // A name Kubernetes would refuse is refused before a token is made.
    const listPath = `/api/repos/${alice}/app/pull-tokens`;
    const before = (await server.api(listPath, aliceToken)).body.tokens.length;
    const bad = asAlice('repo', 'pull-secret', `${alice}/app`, '--name', 'App_Pull');
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toContain('--name "App_Pull" is not a valid Kubernetes name (DNS-1123');
    expect((await server.api(listPath, aliceToken)).body.tokens).toHaveLength(before);
  });

  it('pulls until it expires, then the token endpoint answers 401 naming when it expired', async () => {
    const made = createToken('--expires', '6s');
    const docker = await server.docker(made.username, made.token);
    const before = await pull(docker, `${server.registry}/${alice}/app:main`);
    expect(before.exitCode, before.all).toBe(0);
    // Waiting for the real expiry: the token's own time, nothing guessed.
    await sleep(Math.max(0, Date.parse(made.expires_at!) - Date.now()) + 200);
    const refused = await tokenEndpoint(made.username, made.token, `repository:${alice}/app:pull`);
    expect(refused.status).toBe(401);
    expect(refused.body.error.message).toContain(`pull token ${made.username} of ${alice}/app expired at ${made.expires_at}`);
    const after = await pull(docker, `${server.registry}/${alice}/app:main`);
    expect(after.exitCode).not.toBe(0);
  });

  it('puts each pull token made or revoked in the audit log once, with who did it (user and token id), and the token nowhere', async () => {
    const admin = server.firstAdminToken;
    const app = `${alice}/app`;
    const tokenIdOf = (user: string) => {
      const db = new Database(dbFile(server.dataDir), { readonly: true });
      try {
        return db.prepare('SELECT tokens.id FROM tokens JOIN users ON users.id = tokens.user_id WHERE users.name = ?').all(user) as { id: number }[];
      } finally {
        db.close();
      }
    };
    const [aliceTokenId] = tokenIdOf(alice).map((t) => t.id);
    const [adminTokenId] = tokenIdOf('admin').map((t) => t.id);
    expect([tokenIdOf(alice).length, tokenIdOf('admin').length]).toEqual([1, 1]);

    // One made with the CLI, one through the API; the API's one revoked with the CLI, the CLI's by an admin through the API.
    const viaCli = createToken('--label', 'audit-cli');
    const res = await fetch(`${server.url}/api/repos/${app}/pull-tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${aliceToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ label: 'audit-api', expires_in_days: 1 }),
    });
    expect(res.status).toBe(201);
    const viaApi = (await res.json()) as Made;
    const revoke = asAlice('repo', 'pull-token', 'revoke', app, viaApi.username);
    expect(revoke.status, revoke.stderr).toBe(0);
    const byAdmin = await fetch(`${server.url}/api/repos/${app}/pull-tokens/${viaCli.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${admin}` } });
    expect(byAdmin.status).toBe(200);
    const revokeAnswer = await byAdmin.text();

    // Exactly these four events for the two tokens, oldest first, as the owner sees her repo's log.
    const listed = await fetch(`${server.url}/api/audit?repo=${app}&limit=1000`, { headers: { authorization: `Bearer ${aliceToken}` } });
    expect(listed.status).toBe(200);
    const answer = await listed.text();
    const events = (JSON.parse(answer).events as any[]).filter((e) => [viaCli.username, viaApi.username].includes(e.target)).reverse();
    const a = '127.0.0.1';
    expect(events.map((e) => [e.actor, e.actor_kind, e.token_id, e.action, e.repo, e.target, e.detail, e.address])).toEqual([
      [alice, 'token', aliceTokenId, 'pull_token.create', app, viaCli.username, { label: 'audit-cli' }, a],
      [alice, 'token', aliceTokenId, 'pull_token.create', app, viaApi.username, { label: 'audit-api' }, a],
      [alice, 'token', aliceTokenId, 'pull_token.revoke', app, viaApi.username, { label: 'audit-api' }, a],
      ['admin', 'token', adminTokenId, 'pull_token.revoke', app, viaCli.username, { label: 'audit-cli' }, a],
    ]);
    // The action filter finds the same revocations.
    const revocations = await fetch(`${server.url}/api/audit?action=pull_token.revoke&repo=${app}`, { headers: { authorization: `Bearer ${admin}` } });
    const revoked = ((await revocations.json()) as { events: { id: number; target: string }[] }).events.filter((e) =>
      [viaCli.username, viaApi.username].includes(e.target),
    );
    expect(revoked.map((e) => e.id)).toEqual([events[3].id, events[2].id]);

    // The database rows are those events, column for column.
    const rows = auditRows();
    expect(
      rows
        .filter((r) => [viaCli.username, viaApi.username].includes(r.target as string))
        .map((r) => [r.id, r.actor, r.actor_kind, r.actor_token_id, r.action, r.repo, r.target, r.detail, r.address]),
    ).toEqual(events.map((e) => [e.id, e.actor, e.actor_kind, e.token_id, e.action, e.repo, e.target, JSON.stringify(e.detail), e.address]));

    // No pull token's value (these two, nor any made in this file) in the rows, the API's answers or the server's log.
    const whole = await fetch(`${server.url}/api/audit?limit=1000`, { headers: { authorization: `Bearer ${admin}` } });
    const anyPullToken = /chp_[A-Za-z0-9_-]{20,}/;
    for (const [where, text] of [
      ['the audit rows', JSON.stringify(rows)],
      ['GET /api/audit', answer + (await whole.text())],
      ['the revoke answer', revokeAnswer],
      ["the server's log", server.logs.join('\n')],
    ] as const) {
      for (const t of [viaCli.token, viaApi.token]) expect(text.includes(t), `${where} holds a pull token`).toBe(false);
      expect(text, `${where} holds a pull token`).not.toMatch(anyPullToken);
    }
  });
});
