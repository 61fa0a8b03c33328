/**
 * Findings 2, 5 and 7 of the security review of forge links (issue 24), each through the real server, real
 * git and BuildKit against a fake forge (test/helpers/fake-forge.ts):
 *
 * 2. a signed push delivered again under a new delivery id (the id is not signed) builds nothing and sends
 *    no status; it answers with the build it already is. Real pushes, GitLab's A, B, A, B included, build.
 * 5. a hook request that no link verifies gets one answer, whether the repo is missing, not linked, linked
 *    to another forge, or linked with another secret: nobody learns which repos exist or where they link.
 * 7. link-local addresses (cloud metadata) are refused as an upstream or api_url in every spelling, when
 *    linking and again at every fetch and status of a link stored before the rule.
 */
import Database from 'better-sqlite3';
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dbFile } from '../../src/store/db.js';
import { FakeForge, FORGE_KINDS, signatureHeaders, type ForgeDelivery, type ForgeKind, deliverHook, type HookAnswer } from '../helpers/fake-forge.js';
import { WorkRepo } from '../helpers/git.js';
import { TestServer, uniqueName, waitFor } from '../helpers/server.js';

const FROM = 'FROM localhost:5000/cache/busybox:latest';
const TERMINAL = ['succeeded', 'failed', 'canceled', 'skipped'];

let server: TestServer;
let owner: string;
let token: string;
let fake: FakeForge;

const STATUS_TOKEN: Record<ForgeKind, string> = {
  github: `ghp_${randomBytes(18).toString('hex')}`,
  gitea: `gitea${randomBytes(18).toString('hex')}`,
  gitlab: `glpat-${randomBytes(12).toString('hex')}`,
};

beforeAll(async () => {
  server = await TestServer.start();
  owner = uniqueName('sec');
  token = server.addUser(owner);
  // One host stands in for all three forges: status calls are told apart by their API prefix.
  fake = await FakeForge.start();
});
afterAll(async () => {
  await server?.stop();
  await fake?.close();
});

// ---------------------------------------------------------------------------------------------------------
// Helpers

type Answer = HookAnswer;

async function call(method: string, path: string, json?: unknown): Promise<Answer> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (json !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(server.url + path, { method, headers, body: json === undefined ? undefined : JSON.stringify(json) });
  const text = await res.text();
  let body: any = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, text, body };
}

/** A delivery POSTed to this server (a path) or anywhere (a URL), as the forge sends it. */
const deliver = (target: string, d: Pick<ForgeDelivery, 'headers' | 'body'>): Promise<Answer> =>
  deliverHook(target.startsWith('http') ? target : server.url + target, d);

/** The same signed delivery under a fresh id in every delivery-id header: what anyone who saw it can send. */
function withNewId(d: Pick<ForgeDelivery, 'headers' | 'body'>): Pick<ForgeDelivery, 'headers' | 'body'> {
  const id = randomUUID();
  const headers = Object.fromEntries(Object.entries(d.headers).map(([k, v]) => [k, /-delivery$|^x-gitlab-event-uuid$|^idempotency-key$/i.test(k) ? id : v]));
  expect(headers).not.toEqual(d.headers);
  return { headers, body: d.body };
}

/** The same signed delivery with no delivery-id header at all (the server then keys it by the body's hash). */
function withoutId(d: Pick<ForgeDelivery, 'headers' | 'body'>): Pick<ForgeDelivery, 'headers' | 'body'> {
  return {
    headers: Object.fromEntries(Object.entries(d.headers).filter(([k]) => !/-delivery$|^x-gitlab-event-uuid$|^idempotency-key$/i.test(k))),
    body: d.body,
  };
}

async function buildsOf(repo: string): Promise<any[]> {
  const r = await call('GET', `/api/builds?repo=${owner}/${repo}&limit=200`);
  expect(r.status, r.text).toBe(200);
  return [...(r.body.builds as any[])].reverse();
}

/** Waits until `sha` has `count` builds in owner/repo, all ended; returns them oldest first. */
async function waitForBuilds(repo: string, sha: string, count = 1): Promise<any[]> {
  return waitFor(
    `${count} ended build(s) of ${sha.slice(0, 7)} in ${owner}/${repo}`,
    async () => (await buildsOf(repo)).filter((b) => b.commit === sha),
    (bs) => bs.length >= count && bs.every((b) => TERMINAL.includes(b.status)),
    120_000,
  );
}

interface Linked {
  kind: ForgeKind;
  repo: string;
  upOwner: string;
  upName: string;
  url: string;
  secret: string;
  hookUrl: string;
  work: WorkRepo | null;
}

async function linked(kind: ForgeKind, repo: string, extra: Record<string, unknown> = {}): Promise<Linked> {
  const upOwner = kind === 'gitlab' ? `${uniqueName('team')}/backend` : uniqueName('acme');
  const { url } = await fake.createRepo(upOwner, 'app');
  const secret = `whsec-${randomUUID()}`;
  const put = await call('PUT', `/api/repos/${owner}/${repo}/upstream`, {
    url,
    forge: kind,
    webhook_secret: secret,
    status_token: STATUS_TOKEN[kind],
    ...extra,
  });
  expect(put.status, put.text).toBe(201);
  return { kind, repo, upOwner, upName: 'app', url, secret, hookUrl: put.body.hook_url, work: null };
}

/** A commit pushed to the fake forge's branch (force: the branch may go back), its sha. */
async function pushUpstream(l: Linked, files: Record<string, string> = { 'README.md': `${randomUUID()}\n` }): Promise<string> {
  if (!l.work) l.work = await WorkRepo.create(files);
  else await l.work.commit(files);
  const sha = (await l.work.git.revparse(['HEAD'])).trim();
  await fake.pushFrom(l.work, l.upOwner, l.upName, ['+HEAD:refs/heads/main']);
  return sha;
}

/** Moves the fake forge's main to `sha` (a force push back or forth). */
async function moveUpstream(l: Linked, sha: string): Promise<void> {
  await fake.pushFrom(l.work!, l.upOwner, l.upName, [`+${sha}:refs/heads/main`]);
  expect(await fake.refSha(l.upOwner, l.upName, 'main')).toBe(sha);
}

const pushOf = (l: Linked, after: string, before?: string, secret: string | null = l.secret) =>
  fake.deliveryFor(l.kind, { owner: l.upOwner, name: l.upName, secret, after, ...(before ? { before } : {}) });

function expectTaken(r: Answer): void {
  expect([200, 202], r.text).toContain(r.status);
  expect(r.body.result, r.text).toBe(r.status === 200 ? 'queued' : 'accepted');
}

function withDb<T>(f: (db: Database.Database) => T): T {
  const db = new Database(dbFile(server.dataDir));
  try {
    return f(db);
  } finally {
    db.close();
  }
}

/** The server's log lines (JSON) whose msg is `msg`. */
const logged = (msg: string): Record<string, unknown>[] =>
  server.logs
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    })
    .filter((r) => r.msg === msg);

// ---------------------------------------------------------------------------------------------------------
// 2. A signed delivery replayed under a new id

describe.each(FORGE_KINDS)('%s: a signed push delivered again under a new delivery id', (kind) => {
  it('builds nothing, fetches nothing and sends no status; it answers with the build it already is', async () => {
    const l = await linked(kind, `${kind}-replay`);
    const sha = await pushUpstream(l, { Dockerfile: `${FROM}\nRUN echo replay-${randomUUID()}\n` });
    const first = pushOf(l, sha);
    expectTaken(await deliver(l.hookUrl, first));
    const [build] = await waitForBuilds(l.repo, sha);
    expect(build.status, build.reason).toBe('succeeded');
    const statuses = await waitFor(
      'the success status',
      async () => fake.statusesFor(sha),
      (s) => s.some((x) => x.body.state === 'success'),
      30_000,
    );
    const gitBefore = fake.gitRequestsFor(l.upOwner, l.upName).length;

    // Anyone who saw the delivery (a proxy, the forge's delivery log) sends it again under new ids, on both
    // hook paths, or with no id at all.
    for (const [target, d] of [
      [l.hookUrl, withNewId(first)],
      [`/hooks/${kind}`, withNewId(first)],
      [l.hookUrl, withoutId(first)],
    ] as const) {
      const again = await deliver(target, d);
      expect(again.status, again.text).toBe(200);
      expect(again.body).toMatchObject({
        result: 'duplicate',
        repo: `${owner}/${l.repo}`,
        ref: 'refs/heads/main',
        commit: sha,
        builds: [{ id: build.id, commit: sha, status: 'succeeded' }],
      });
      expect(again.body.message).toContain(`build ${build.id} (${l.repo}, succeeded)`);
      // Answered once the delivery was dealt with: nothing was fetched for it.
      expect(fake.gitRequestsFor(l.upOwner, l.upName).length).toBe(gitBefore);
    }

    // A real next push still builds; once it is built and reported, the replays have left no trace.
    const next = await pushUpstream(l, { Dockerfile: `${FROM}\nRUN echo next-${randomUUID()}\n` });
    expectTaken(await deliver(l.hookUrl, pushOf(l, next, sha)));
    await waitForBuilds(l.repo, next);
    await waitFor(
      "the next push's success status",
      async () => fake.statusesFor(next),
      (s) => s.some((x) => x.body.state === 'success'),
      30_000,
    );
    expect((await buildsOf(l.repo)).map((b) => b.commit)).toEqual([sha, next]);
    expect(fake.statusesFor(sha)).toEqual(statuses);
  }, 240_000);
});

describe('gitlab: genuine pushes A, B, A, B', () => {
  it('each build; the last one sent again builds nothing and names the build of B it already is', async () => {
    const l = await linked('gitlab', 'gitlab-abab');
    const a = await pushUpstream(l);
    expectTaken(await deliver(l.hookUrl, pushOf(l, a)));
    await waitForBuilds(l.repo, a, 1);
    const b = await pushUpstream(l);
    expectTaken(await deliver(l.hookUrl, pushOf(l, b, a)));
    await waitForBuilds(l.repo, b, 1);
    await moveUpstream(l, a);
    expectTaken(await deliver(l.hookUrl, pushOf(l, a, b)));
    await waitForBuilds(l.repo, a, 2);
    await moveUpstream(l, b);
    const last = pushOf(l, b, a);
    expectTaken(await deliver(l.hookUrl, last));
    const bBuilds = await waitForBuilds(l.repo, b, 2);
    expect((await buildsOf(l.repo)).map((x) => x.commit)).toEqual([a, b, a, b]);

    const replay = await deliver(l.hookUrl, withNewId(last));
    expect(replay.status, replay.text).toBe(200);
    expect(replay.body).toMatchObject({ result: 'duplicate', commit: b, builds: [{ id: bBuilds[1].id }] });

    // Barrier: the next real push is built; the replay added nothing before it.
    const c = await pushUpstream(l);
    expectTaken(await deliver(l.hookUrl, pushOf(l, c, b)));
    await waitForBuilds(l.repo, c);
    expect((await buildsOf(l.repo)).map((x) => x.commit)).toEqual([a, b, a, b, c]);
  }, 240_000);
});

// ---------------------------------------------------------------------------------------------------------
// 5. One answer for every delivery no link verifies

describe.each(FORGE_KINDS)('%s: a hook request no link verifies', (kind) => {
  it('gets the same 401 whether the repo is missing, unlinked, linked elsewhere or linked with another secret; a signed one still builds', async () => {
    const other: ForgeKind = kind === 'gitlab' ? 'gitea' : 'gitlab';
    const l = await linked(kind, `${kind}-hidden`);
    const elsewhere = await linked(other, `${kind}-elsewhere`);
    const gone = await linked(kind, `${kind}-unlinked`);
    expect((await call('DELETE', `/api/repos/${owner}/${gone.repo}/upstream`)).status).toBe(200);
    const sha = await pushUpstream(l);
    const unsigned = pushOf(l, sha, undefined, null);
    const wrong = pushOf(l, sha, undefined, `not-${l.secret}`);
    const issues = fake.deliveryFor(kind, { owner: l.upOwner, name: l.upName, secret: null, event: 'issues' });
    // An upstream no link names, on the bare path (found by the payload's URL).
    const unknown = fake.deliveryFor(kind, { owner: uniqueName('nobody'), name: 'app', secret: null, after: sha });

    const cases: [string, string, Pick<ForgeDelivery, 'headers' | 'body'>][] = [
      ['linked, unsigned', `/hooks/${kind}?repo=${owner}/${l.repo}`, unsigned],
      ['linked, wrong secret', `/hooks/${kind}?repo=${owner}/${l.repo}`, wrong],
      ['linked, an unsigned other event', `/hooks/${kind}?repo=${owner}/${l.repo}`, issues],
      ['no such repo', `/hooks/${kind}?repo=${owner}/nope-${randomUUID().slice(0, 8)}`, unsigned],
      ['no such owner', `/hooks/${kind}?repo=${uniqueName('ghost')}/app`, unsigned],
      ['no such repo, an unsigned other event', `/hooks/${kind}?repo=${owner}/nope`, issues],
      ['a repo whose link was removed', `/hooks/${kind}?repo=${owner}/${gone.repo}`, unsigned],
      [`a repo linked to ${other}`, `/hooks/${kind}?repo=${owner}/${elsewhere.repo}`, unsigned],
      ['bare path, linked upstream, unsigned', `/hooks/${kind}`, unsigned],
      ['bare path, linked upstream, wrong secret', `/hooks/${kind}`, wrong],
      ['bare path, upstream no link names', `/hooks/${kind}`, unknown],
    ];
    const answers: [string, number, string][] = [];
    for (const [label, target, d] of cases) {
      const r = await deliver(target, d);
      answers.push([label, r.status, r.text]);
    }
    expect(answers.map(([label, status]) => [label, status])).toEqual(cases.map(([label]) => [label, 401]));
    for (const [label, , text] of answers) {
      expect(text, label).toBe(answers[0]![2]);
      expect(text, label).not.toContain(l.secret);
    }
    expect(JSON.parse(answers[0]![2]).error).toEqual({
      code: 'unauthorized',
      message: expect.stringMatching(
        new RegExp(`^${kind} delivery refused: its (signature|token) \\(.*\\) does not verify for this repo's link, or the repo is not linked to ${kind} here`),
      ),
    });

    // The operator's log tells the cases apart, never with a secret.
    const refused = logged('webhook delivery refused').filter((r) => r.forge === kind);
    expect(refused.filter((r) => r.why === 'not linked').map((r) => r.reason)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/is not linked to an upstream$/),
        `${owner}/${elsewhere.repo} is linked to ${other}, not ${kind}`,
        expect.stringMatching(/^no repo is linked to /),
      ]),
    );
    expect(refused.filter((r) => r.why === 'signature').length).toBeGreaterThanOrEqual(4);
    expect(JSON.stringify(refused)).not.toContain(l.secret);

    // A rightly signed delivery still works; before it, none of the refused ones had fetched anything.
    expect(fake.gitRequestsFor(l.upOwner, l.upName)).toEqual([]);
    expectTaken(await deliver(l.hookUrl, pushOf(l, sha)));
    await waitForBuilds(l.repo, sha);
    expect((await buildsOf(l.repo)).map((b) => b.commit)).toEqual([sha]);
    expect(await buildsOf(elsewhere.repo)).toEqual([]);
    expect(await buildsOf(gone.repo)).toEqual([]);
  }, 120_000);
});

// ---------------------------------------------------------------------------------------------------------
// 7. Link-local addresses

/** Spellings of 169.254.169.254 and fe80::/10 a URL parser accepts (with the host it reads), and one it does not. */
const LINK_LOCAL: string[] = [
  'http://169.254.169.254',
  'http://2852039166',
  'http://0xa9fea9fe',
  'http://0251.0376.0251.0376',
  'http://169.254.43518',
  'http://169.254.169.254.',
  'http://0xA9.0xFE.0xA9.0xFE',
  'http://%31%36%39.254.169.254',
  'http://[::ffff:169.254.169.254]',
  'http://[::ffff:a9fe:a9fe]',
  'http://[fe80::1]',
  'http://[FE80::1%25eth0]',
  'https://169.254.0.1:8443',
];

describe('link-local upstreams and APIs', () => {
  it.each(LINK_LOCAL)('%s is refused as url and as api_url with 400 naming the field and the rule; no link is made', async (origin) => {
    const repo = `ll-${randomUUID().slice(0, 8)}`;
    const secret = `whsec-${randomUUID()}`;
    const zoned = origin.includes('%25');
    const asUrl = await call('PUT', `/api/repos/${owner}/${repo}/upstream`, { url: `${origin}/acme/app.git`, forge: 'gitea', webhook_secret: secret });
    expect(asUrl.status, asUrl.text).toBe(400);
    // A zone id is no URL host at all (refused as such); every other spelling by the rule.
    expect(asUrl.body.error.message).toMatch(
      zoned
        ? /upstream URL .* is not a valid URL/
        : /upstream URL .* names host .*, a link-local address; link-local addresses \(169\.254\.0\.0\/16, fe80::\/10.*\) are refused unless the operator lists the host in CODEHUB_UPSTREAM_HOSTS/,
    );
    const asApi = await call('PUT', `/api/repos/${owner}/${repo}/upstream`, {
      url: fake.repoUrl('acme', 'app'),
      forge: 'gitea',
      webhook_secret: secret,
      status_token: STATUS_TOKEN.gitea,
      api_url: `${origin}/api/v1`,
    });
    expect(asApi.status, asApi.text).toBe(400);
    expect(asApi.body.error.message).toMatch(
      zoned ? /api_url .* is not an absolute URL/ : /api_url .* names host .*, a link-local address; .*CODEHUB_UPSTREAM_HOSTS/,
    );
    expect((await call('GET', `/api/repos/${owner}/${repo}/upstream`)).status).toBe(404);
  });

  it('a link stored before the rule with a link-local url: its signed delivery is refused before any fetch, saying why', async () => {
    const l = await linked('gitea', 'll-stored-url');
    // As an earlier version stored it: the owner's spelling, and the key a payload is matched on.
    withDb((db) =>
      db
        .prepare('UPDATE upstreams SET url = ?, url_key = ? WHERE url = ?')
        .run(`http://2852039166/${l.upOwner}/app.git`, `169.254.169.254/${l.upOwner}/app`, l.url),
    );
    // The forge's signed push naming that upstream (what its webhook would send).
    const sha = await pushUpstream(l);
    const d = pushOf(l, sha);
    const body = Buffer.from(d.body.toString('utf8').split(fake.url).join('http://169.254.169.254'));
    const headers = { ...Object.fromEntries(Object.entries(d.headers).filter(([k]) => !/signature/i.test(k))), ...signatureHeaders('gitea', body, l.secret) };
    const r = await deliver(l.hookUrl, { headers, body });
    expect(r.status, r.text).toBe(400);
    expect(r.body.error.message).toMatch(
      /^upstream URL "http:\/\/169\.254\.169\.254\/.*" names host 169\.254\.169\.254, a link-local address; .*CODEHUB_UPSTREAM_HOSTS; nothing was fetched or built: link .* to an allowed upstream$/,
    );
    const view = await call('GET', `/api/repos/${owner}/${l.repo}/upstream`);
    expect(view.body.last_delivery).toMatchObject({ result: 'failed', error: expect.stringContaining('a link-local address') });
    expect(await buildsOf(l.repo)).toEqual([]);
  }, 60_000);

  it('a link stored before the rule with a link-local api_url: no status is sent there, and the build says why', async () => {
    const l = await linked('gitea', 'll-stored-api');
    withDb((db) => db.prepare('UPDATE upstreams SET api_url = ? WHERE url = ?').run('http://[::ffff:a9fe:a9fe]/api/v1', l.url));
    const sha = await pushUpstream(l, { Dockerfile: `${FROM}\nRUN echo ll-${randomUUID()}\n` });
    expectTaken(await deliver(l.hookUrl, pushOf(l, sha)));
    const [build] = await waitForBuilds(l.repo, sha);
    expect(build.status, build.reason).toBe('succeeded');
    // The final state too was refused at once (not retried for a day), and said so.
    const view = await waitFor(
      'the success status given up',
      async () => (await call('GET', `/api/builds/${build.id}`)).body,
      (b) => b.forge_status?.state === 'success' && b.forge_status.gave_up === true,
      30_000,
    );
    expect(view.forge_status).toMatchObject({ delivered: false, gave_up: true, next_attempt_at: null });
    expect(view.forge_status.error).toMatch(
      /^the status API names host \[::ffff:a9fe:a9fe\], a link-local address; .*CODEHUB_UPSTREAM_HOSTS; link the repo again$/,
    );
    expect(view.forge_status.error).not.toContain(STATUS_TOKEN.gitea);
    expect(fake.statusesFor(sha)).toEqual([]);
  }, 180_000);
});
