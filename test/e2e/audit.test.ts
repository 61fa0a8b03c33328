/**
 * The audit log through the real server (issue 27): every action done through its real door (the server's CLI
 * as a child process, the client CLI, the API with tokens, the web forms with a cookie), then each event is
 * there exactly once with its actor; no secret value or token is in the audit rows of the real SQLite file, the
 * API's answers, the page or the server's log; an owner sees their repos' events only, a stranger nothing; the
 * log survives `codehub-build backup` and refuses DELETE and UPDATE on the live file.
 */
import Database from 'better-sqlite3';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkRepo } from '../helpers/git.js';
import { TestServer, uniqueName } from '../helpers/server.js';

let server: TestServer;
beforeAll(async () => {
  server = await TestServer.start();
});
afterAll(async () => {
  await server?.stop();
});

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Pushes a small image straight into the registry as its operator (no build): a config and one layer. */
async function pushImage(repository: string, tag: string): Promise<string> {
  const access = server.registryAccess;
  const auth = { authorization: `Bearer ${access.bearer!(`repository:${repository}:pull,push`)}` };
  const base = `http://${access.addr}`;
  const upload = async (blob: Buffer) => {
    const start = await fetch(`${base}/v2/${repository}/blobs/uploads/`, { method: 'POST', headers: auth });
    expect(start.status).toBe(202);
    const location = new URL(start.headers.get('location')!, base);
    location.searchParams.set('digest', sha256(blob));
    const put = await fetch(location, { method: 'PUT', headers: { ...auth, 'content-type': 'application/octet-stream' }, body: blob });
    expect(put.status, await put.text()).toBe(201);
    return { digest: sha256(blob), size: blob.length };
  };
  const config = Buffer.from(
    JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, nonce: randomBytes(8).toString('hex') }),
  );
  const layer = randomBytes(2048);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...(await upload(config)) },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...(await upload(layer)) }],
    }),
  );
  const put = await fetch(`${base}/v2/${repository}/manifests/${tag}`, {
    method: 'PUT',
    headers: { ...auth, 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
    body: manifest,
  });
  expect(put.status, await put.text()).toBe(201);
  return sha256(manifest);
}

async function call(method: string, path: string, token: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(server.url + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text.startsWith('{') ? JSON.parse(text) : text };
}

/** The CLI's run, failing the test with its stderr when it did not exit 0. */
function cli(args: string[], env: Record<string, string> = {}, input?: string) {
  const r = server.cli(args, env, input);
  expect(r.status, `codehub-build ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r;
}

const lastLine = (out: string) => out.trim().split('\n').pop()!;

/** A form posted with the web sign-in cookie; the answer unfollowed. */
const form = (path: string, token: string, fields: Record<string, string>) =>
  fetch(server.url + path, { method: 'POST', redirect: 'manual', headers: { cookie: `codehub_token=${token}` }, body: new URLSearchParams(fields) });
const pageOf = async (path: string, token: string) => (await fetch(server.url + path, { headers: { cookie: `codehub_token=${token}` } })).text();
const csrfOf = (html: string) => /name="csrf" value="([^"]+)"/.exec(html)![1]!;

describe('the audit log', () => {
  it('records every action once through each of its doors, with its actor, and nothing secret', async () => {
    const admin = server.firstAdminToken;
    const alice = uniqueName('alice');
    const bob = uniqueName('bob');
    const eve = uniqueName('eve');
    const temp = uniqueName('temp');
    const carol = uniqueName('carol');
    const app = `${alice}/app`;

    // Users and tokens through the server's CLI (run where the data dir is: the actor is `cli`).
    const aliceToken = server.addUser(alice);
    const bobToken = server.addUser(bob);
    const eveToken = server.addUser(eve);
    server.addUser(temp);
    cli(['user', 'remove', temp]);
    const made = cli(['token', 'create', alice, '--label', 'extra', '--scopes', 'read']);
    const extraToken = lastLine(made.stdout);
    const extraId = /token (\d+) for/.exec(made.stderr)![1]!;
    cli(['token', 'revoke', extraId]);
    cli(['user', 'quota', alice, '1GiB']);

    // The same through the admin API (the actor is the admin token's user).
    const carolMade = await call('POST', '/api/users', admin, { name: carol });
    expect(carolMade.status).toBe(201);
    const carolTok = await call('POST', `/api/users/${carol}/tokens`, admin, { scopes: ['read'], label: 'ci' });
    expect(carolTok.status).toBe(201);
    expect((await call('DELETE', `/api/tokens/${carolTok.body.id}`, admin)).status).toBe(200);
    expect((await call('DELETE', `/api/users/${carol}`, admin)).status).toBe(200);

    // A repo with one build that sleeps (so it is still cancelable): pushed with the real git client.
    // Its own RUN line, so that no cached layer of an earlier run lets it finish at once.
    const work = await WorkRepo.create({ Dockerfile: `FROM localhost:5000/cache/busybox:latest\nRUN echo ${randomUUID()} && sleep 60\n` });
    const pushed = await work.push(server.gitUrl(alice, aliceToken, alice, 'app'), ['main']);
    expect(pushed.exitCode, pushed.output).toBe(0);
    const builds = async () => (await call('GET', `/api/builds?repo=${app}`, aliceToken)).body.builds as { id: number }[];
    const b1 = (await builds())[0]!.id;

    // Secrets (client CLI and API), shares, retention (client CLI), an upstream link (API).
    const secretValue = `value-${randomBytes(12).toString('hex')}`;
    cli(['secret', 'set', app, 'NPM_TOKEN'], { CODEHUB_TOKEN: aliceToken }, `${secretValue}\n`);
    expect((await call('DELETE', `/api/repos/${app}/secrets/NPM_TOKEN`, aliceToken)).status).toBe(200);
    cli(['repo', 'share', app, bob, '--role', 'read'], { CODEHUB_TOKEN: aliceToken });
    cli(['repo', 'share', app, bob, '--role', 'write'], { CODEHUB_TOKEN: aliceToken });
    cli(['repo', 'unshare', app, bob], { CODEHUB_TOKEN: aliceToken });
    cli(['repo', 'retention', app, '--keep', '5'], { CODEHUB_TOKEN: aliceToken });
    const webhookSecret = `whsec-${randomBytes(12).toString('hex')}`;
    const statusToken = `ghp_${randomBytes(12).toString('hex')}`;
    const link = await call('PUT', `/api/repos/${app}/upstream`, aliceToken, {
      url: `https://github.com/${alice}/app`,
      forge: 'github',
      webhook_secret: webhookSecret,
      status_token: statusToken,
    });
    expect(link.status, JSON.stringify(link.body)).toBe(201);
    expect((await call('DELETE', `/api/repos/${app}/upstream`, aliceToken)).status).toBe(200);

    // Builds: canceled through the API, rebuilt through the client CLI, then both through the web forms.
    const c1 = await call('POST', `/api/builds/${b1}/cancel`, aliceToken);
    expect(c1.status, JSON.stringify(c1.body)).toBe(200);
    cli(['rebuild', String(b1)], { CODEHUB_TOKEN: aliceToken });
    const b2 = (await builds())[0]!.id;
    const signIn = await fetch(`${server.url}/login`, { method: 'POST', redirect: 'manual', body: new URLSearchParams({ token: aliceToken }) });
    expect(signIn.status).toBe(303);
    const csrf = csrfOf(await pageOf(`/builds/${b2}`, aliceToken));
    expect((await form(`/builds/${b2}/cancel`, aliceToken, { csrf })).status).toBe(303);
    expect((await form(`/builds/${b2}/rebuild`, aliceToken, { csrf })).status).toBe(303);
    const b3 = (await builds())[0]!.id;
    cli(['cancel', String(b3)], { CODEHUB_TOKEN: aliceToken });
    expect((await form('/logout', aliceToken, { csrf })).status).toBe(303);

    // Images: a tag removed through the API (alice's and bob's), then gc removing a build cache whose branch has no image tag.
    await pushImage(app, 'one');
    await pushImage(app, 'two');
    expect((await call('DELETE', `/api/images/${app}/tags/two`, aliceToken)).status).toBe(200);
    await pushImage(`${bob}/img`, 'x');
    expect((await call('DELETE', `/api/images/${bob}/img/tags/x`, bobToken)).status).toBe(200);
    const cache = `${app}/buildcache`;
    await pushImage(cache, 'main');
    const dry = cli(['gc', '--dry-run', '--repo', app]);
    expect(dry.stdout).toContain(`would remove ${cache}:main`);
    expect(dry.stdout).toContain('would remove 1 tag,');
    const gc = cli(['gc', '--repo', app]);
    expect(gc.stdout).toContain(`removed ${cache}:main`);

    // Every event, oldest first, as an admin sees it.
    const all = await call('GET', '/api/audit?limit=1000', admin);
    expect(all.status).toBe(200);
    const events = (all.body.events as any[]).slice().reverse();
    const a = '127.0.0.1';
    const got = events.map((e) => [e.actor, e.actor_kind, e.action, e.repo, e.target, e.address]);
    expect(got).toEqual([
      ['system', 'system', 'user.create', null, 'admin', null],
      ['cli', 'cli', 'user.create', null, alice, null],
      ['cli', 'cli', 'user.create', null, bob, null],
      ['cli', 'cli', 'user.create', null, eve, null],
      ['cli', 'cli', 'user.create', null, temp, null],
      ['cli', 'cli', 'user.remove', null, temp, null],
      ['cli', 'cli', 'token.create', null, extraId, null],
      ['cli', 'cli', 'token.revoke', null, extraId, null],
      ['cli', 'cli', 'user.quota', null, alice, null],
      ['admin', 'token', 'user.create', null, carol, a],
      ['admin', 'token', 'token.create', null, String(carolTok.body.id), a],
      ['admin', 'token', 'token.revoke', null, String(carolTok.body.id), a],
      ['admin', 'token', 'user.remove', null, carol, a],
      [alice, 'token', 'secret.set', app, 'NPM_TOKEN', a],
      [alice, 'token', 'secret.remove', app, 'NPM_TOKEN', a],
      [alice, 'token', 'repo.share', app, bob, a],
      [alice, 'token', 'repo.share', app, bob, a],
      [alice, 'token', 'repo.unshare', app, bob, a],
      [alice, 'token', 'repo.retention', app, app, a],
      [alice, 'token', 'repo.upstream.link', app, app, a],
      [alice, 'token', 'repo.upstream.unlink', app, app, a],
      [alice, 'token', 'build.cancel', app, `#${b1}`, a],
      [alice, 'token', 'build.rebuild', app, `#${b1}`, a],
      [alice, 'token', 'sign_in', null, alice, a],
      [alice, 'token', 'build.cancel', app, `#${b2}`, a],
      [alice, 'token', 'build.rebuild', app, `#${b2}`, a],
      [alice, 'token', 'build.cancel', app, `#${b3}`, a],
      [alice, 'token', 'sign_out', null, alice, a],
      [alice, 'token', 'image.remove', app, `${app}:two`, a],
      [bob, 'token', 'image.remove', `${bob}/img`, `${bob}/img:x`, a],
      ['cli', 'cli', 'gc.remove', cache, cache, null],
    ]);
    const detailOf = (action: string) => events.filter((e) => e.action === action).map((e) => e.detail);
    expect(detailOf('repo.share')).toEqual([{ role: 'read' }, { role: 'write' }]);
    expect(detailOf('repo.retention')).toEqual([{ override: { keep: 5, days: null } }]);
    expect(detailOf('user.quota')).toEqual([{ bytes: 1024 ** 3 }]);
    expect(detailOf('repo.upstream.link')).toEqual([{ url: `https://github.com/${alice}/app`, forge: 'github', created: true }]);
    expect(detailOf('build.rebuild')).toEqual([{ build: b2 }, { build: b3 }]);
    expect(detailOf('gc.remove')).toEqual([{ tags: ['main'], tag_count: 1, untagged_manifests: 0, bytes: expect.any(Number) }]);
    expect(detailOf('token.create')).toEqual([
      { user: alice, label: 'extra', scopes: ['read'], expires_at: null },
      { user: carol, label: 'ci', scopes: ['read'], expires_at: null },
    ]);
    // The token an event was done with: alice's own for all of hers.
    const aliceTokenId = events.find((e) => e.action === 'secret.set').token_id;
    expect(aliceTokenId).toEqual(expect.any(Number));
    expect(new Set(events.filter((e) => e.actor === alice).map((e) => e.token_id))).toEqual(new Set([aliceTokenId]));

    // Nothing secret anywhere: the rows of the real file, the API's answers, the page, the CLI, the server's log.
    const db = new Database(join(server.dataDir, 'codehub.db'), { readonly: true });
    const rows = db.prepare('SELECT * FROM audit_events ORDER BY id').all() as any[];
    db.close();
    expect(rows.map((r) => r.id)).toEqual(events.map((e) => e.id));
    const adminPage = await pageOf('/audit', admin);
    const cliJson = cli(['audit', '--json', '--limit', '1000'], { CODEHUB_TOKEN: admin }).stdout;
    const secrets = [secretValue, webhookSecret, statusToken, admin, aliceToken, bobToken, eveToken, extraToken, carolMade.body.token, carolTok.body.token];
    for (const [where, text] of [
      ['the audit rows', JSON.stringify(rows)],
      ['GET /api/audit', JSON.stringify(all.body)],
      ['the /audit page', adminPage],
      ['codehub-build audit --json', cliJson],
      ["the server's log", server.logs.join('\n')],
    ] as const) {
      for (const s of secrets) expect(text.includes(s), `${where} holds a secret or a token`).toBe(false);
    }

    // The page shows the admin every event; the CLI prints the table and names a bad filter.
    expect(adminPage.match(/<tr id="event-/g)).toHaveLength(events.length);
    expect(adminPage).toContain(`<td class="mono">${app}:two</td>`);
    expect(JSON.parse(cliJson).events).toHaveLength(events.length);
    const table = cli(['audit', '--action', 'gc.remove'], { CODEHUB_TOKEN: admin }).stdout;
    expect(table.split('\n')[0]).toMatch(/^ID +TIME +ACTOR +ACTION +REPO +TARGET +FROM +DETAIL$/);
    expect(table).toMatch(new RegExp(`cli +gc\\.remove +${cache} +${cache} +- +\\{"tags":\\["main"\\]`));
    const bad = server.cli(['audit', '--action', 'secret.steal'], { CODEHUB_TOKEN: admin });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('action must be one of sign_in, sign_out');

    // An owner sees their repos' events (whoever did them) and nothing else; a stranger nothing at all.
    const ids = (body: any) => (body.events as any[]).map((e) => e.id);
    const mine = await call('GET', '/api/audit?limit=1000', aliceToken);
    expect(ids(mine.body)).toEqual(
      events
        .filter((e) => e.repo?.startsWith(`${alice}/`))
        .map((e) => e.id)
        .reverse(),
    );
    expect(mine.body.events.length).toBe(15);
    const bobs = await call('GET', '/api/audit?limit=1000', bobToken);
    expect(bobs.body.events.map((e: any) => [e.action, e.repo])).toEqual([['image.remove', `${bob}/img`]]);
    expect((await call('GET', `/api/audit?repo=${app}`, bobToken)).body).toEqual({ events: [], next: null });
    expect((await call('GET', '/api/audit', eveToken)).body).toEqual({ events: [], next: null });
    expect(await pageOf('/audit', eveToken)).toContain('<p id="audit-none">No events match.</p>');
    const alicePage = await pageOf('/audit', aliceToken);
    expect(alicePage.match(/<tr id="event-/g)).toHaveLength(15);
    expect(alicePage).not.toContain(`${bob}/img`);

    // Kept through a backup: the copy holds the same rows, and its triggers too.
    const dest = join(mkdtempSync(join(tmpdir(), 'chb-audit-backup-')), 'copy');
    cli(['backup', dest]);
    const copy = new Database(join(dest, 'codehub.db'));
    expect(copy.prepare('SELECT * FROM audit_events ORDER BY id').all()).toEqual(rows);
    expect(() => copy.prepare('DELETE FROM audit_events').run()).toThrow('the audit log is append-only: events are never removed');
    copy.close();

    // Never removed: a DELETE or UPDATE on the live file is refused, and every event is still there.
    const live = new Database(join(server.dataDir, 'codehub.db'));
    try {
      expect(() => live.prepare('DELETE FROM audit_events WHERE id = ?').run(rows[0].id)).toThrow('events are never removed');
      expect(() => live.prepare("UPDATE audit_events SET actor = 'nobody'").run()).toThrow('events are never changed');
      expect(live.prepare('SELECT count(*) AS n FROM audit_events').get()).toEqual({ n: rows.length });
    } finally {
      live.close();
    }
  });
});
