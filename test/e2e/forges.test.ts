/**
 * Repos that live on an existing forge (issue 17, DESIGN.md "Existing forges"), end to end through the real
 * parts: a fake forge (test/helpers/fake-forge.ts: real `git http-backend`, the forges' status APIs, their
 * documented webhook payloads signed in their own schemes) stands in for GitHub Enterprise, Gitea and GitLab;
 * the real server links a repo to it, takes its push webhooks, fetches the pushed commit with real git,
 * builds it on BuildKit into its registry, and reports the result back as commit statuses.
 */
import { execa } from 'execa';
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  FakeForge,
  FORGE_KINDS,
  signatureHeaders,
  type ForgeDelivery,
  type ForgeKind,
  type StatusCall,
  deliverHook,
  type HookAnswer,
} from '../helpers/fake-forge.js';
import { WorkRepo } from '../helpers/git.js';
import { tagDigest } from '../helpers/registry.js';
import { TestServer, uniqueName, waitFor } from '../helpers/server.js';

const FROM = 'FROM localhost:5000/cache/busybox:latest';
const TERMINAL = ['succeeded', 'failed', 'canceled', 'skipped'];

let server: TestServer;
let owner: string;
let token: string;
let intruder: string;
let intruderToken: string;

/** One fake host per forge; every link to it carries that forge's status token. */
const fakes = {} as Record<ForgeKind, FakeForge>;
const STATUS_TOKEN: Record<ForgeKind, string> = {
  github: `ghp_${randomBytes(18).toString('hex')}`,
  gitea: `gitea${randomBytes(18).toString('hex')}`,
  gitlab: `glpat-${randomBytes(12).toString('hex')}`,
};
/**
 * Private upstreams: git serves them only to Basic auth with the link's status token and the user name the
 * forge wants beside a token (GitHub x-access-token, GitLab oauth2). Gitea's stays public.
 */
const PRIVATE: Partial<Record<ForgeKind, string>> = { github: 'x-access-token', gitlab: 'oauth2' };

/** The header a status call must authenticate with, per forge (src/forges/*.ts statusCall). */
function statusAuth(kind: ForgeKind, s: StatusCall): { header: string; value: string | undefined; expected: string } {
  if (kind === 'gitlab') return { header: 'private-token', value: s.headers['private-token'], expected: STATUS_TOKEN.gitlab };
  return {
    header: 'authorization',
    value: s.headers.authorization,
    expected: kind === 'github' ? `Bearer ${STATUS_TOKEN.github}` : `token ${STATUS_TOKEN.gitea}`,
  };
}
/** GitLab names a status `name`; GitHub and Gitea `context`. */
const contextOf = (s: StatusCall): unknown => s.body.context ?? s.body.name;

beforeAll(async () => {
  server = await TestServer.start();
  owner = uniqueName('forger');
  token = server.addUser(owner);
  intruder = uniqueName('mallory');
  intruderToken = server.addUser(intruder);
  for (const kind of FORGE_KINDS) {
    fakes[kind] = await FakeForge.start();
    const user = PRIVATE[kind];
    if (user) fakes[kind].requireToken(user, STATUS_TOKEN[kind]);
  }
});
afterAll(async () => {
  await server?.stop();
  for (const kind of FORGE_KINDS) await fakes[kind]?.close();
});

// ---------------------------------------------------------------------------------------------------------
// Helpers

type Answer = HookAnswer;

async function call(method: string, path: string, tok: string | null, json?: unknown): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (tok !== null) headers.authorization = `Bearer ${tok}`;
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

const upstreamPath = (repo: string) => `/api/repos/${owner}/${repo}/upstream`;
const linkRepo = (repo: string, body: Record<string, unknown>, tok: string | null = token) => call('PUT', upstreamPath(repo), tok, body);

/** A delivery POSTed to this server (a path) or anywhere (a URL), as the forge sends it. */
const deliver = (target: string, d: Pick<ForgeDelivery, 'headers' | 'body'>): Promise<Answer> =>
  deliverHook(target.startsWith('http') ? target : server.url + target, d);

/** The builds of owner/repo, oldest first. */
async function buildsOf(repo: string): Promise<any[]> {
  const r = await call('GET', `/api/builds?repo=${owner}/${repo}&limit=200`, token);
  expect(r.status, r.text).toBe(200);
  return [...(r.body.builds as any[])].reverse();
}

/** Waits for the one build of `sha` in owner/repo to end; returns it as GET /api/builds/:id gives it. */
async function waitForBuild(repo: string, sha: string, timeoutMs = 120_000): Promise<any> {
  const list = await waitFor(
    `the build of ${sha.slice(0, 7)} in ${owner}/${repo}`,
    async () => (await buildsOf(repo)).filter((b) => b.commit === sha),
    (bs) => bs.length > 0 && bs.every((b) => TERMINAL.includes(b.status)),
    timeoutMs,
  );
  expect(list.map((b) => b.id)).toHaveLength(1);
  const r = await call('GET', `/api/builds/${list[0].id}`, token);
  expect(r.status, r.text).toBe(200);
  return r.body;
}

/** The refs of codehub-build's own git repo owner/repo, as `git ls-remote` with the owner's token sees them. */
async function codehubRefs(repo: string): Promise<Map<string, string>> {
  const r = await execa('git', ['ls-remote', server.gitUrl(owner, token, owner, repo)], { env: { GIT_TERMINAL_PROMPT: '0' }, reject: false });
  expect(r.exitCode, r.stderr).toBe(0);
  return new Map(
    r.stdout
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [sha = '', ref = ''] = line.split('\t');
        return [ref, sha];
      }),
  );
}

interface Upstream {
  owner: string;
  name: string;
  url: string;
  dir: string;
}

/** A new repo on the fake forge; GitLab's under a nested group, as GitLab projects often are. */
async function upstreamRepo(fake: FakeForge, kind: ForgeKind): Promise<Upstream> {
  const upOwner = kind === 'gitlab' ? `${uniqueName('team')}/backend` : uniqueName('acme');
  const name = 'app';
  return { owner: upOwner, name, ...(await fake.createRepo(upOwner, name)) };
}

interface Linked {
  kind: ForgeKind;
  fake: FakeForge;
  repo: string;
  up: Upstream;
  secret: string;
  hookUrl: string;
}

/** owner/repo here linked to a new repo on `fake`, with a fresh webhook secret and the forge's status token. */
async function linked(kind: ForgeKind, repo: string, fake: FakeForge = fakes[kind]): Promise<Linked> {
  const up = await upstreamRepo(fake, kind);
  const secret = `whsec-${randomUUID()}`;
  const put = await linkRepo(repo, { url: up.url, forge: kind, webhook_secret: secret, status_token: STATUS_TOKEN[kind] });
  expect(put.status, put.text).toBe(201);
  return { kind, fake, repo, up, secret, hookUrl: put.body.hook_url };
}

/** A commit on the fake forge's branch; without a Dockerfile its build is "skipped" (no BuildKit): enough where only fetching and recording matter. */
async function pushUpstream(l: Linked, files: Record<string, string> = { 'README.md': `${randomUUID()}\n` }, branch = 'main'): Promise<string> {
  const work = await WorkRepo.create(files);
  const sha = (await work.git.revparse(['HEAD'])).trim();
  await l.fake.pushFrom(work, l.up.owner, l.up.name, [`HEAD:refs/heads/${branch}`]);
  expect(await l.fake.refSha(l.up.owner, l.up.name, branch)).toBe(sha);
  return sha;
}

/**
 * How many times this server contacted the upstream of `l` since its `from`-th git request: a fetch and an
 * ls-remote each begin with one GET of info/refs (the link's token goes with every request, so none is retried).
 */
const contactsSince = (l: Linked, from: number): number =>
  l.fake
    .gitRequestsFor(l.up.owner, l.up.name)
    .slice(from)
    .filter((g) => g.method === 'GET' && g.what.startsWith('info/refs')).length;

/**
 * A barrier: a new commit on a branch of its own, pushed on the forge, delivered rightly signed and built
 * (skipped: no Dockerfile). The deliveries of a repo are worked on one at a time, so whatever an earlier
 * delivery set off has happened by the time this one's build has ended. Returns its commit.
 */
async function barrier(l: Linked): Promise<string> {
  const branch = `barrier-${randomUUID().slice(0, 8)}`;
  const sha = await pushUpstream(l, undefined, branch);
  const sent = Date.now();
  expectTaken(await deliver(l.hookUrl, pushOf(l, sha, { ref: `refs/heads/${branch}` })));
  expect((await waitForBuild(l.repo, sha)).status).toBe('skipped');
  expect(await deliveryOutcome(l, sent)).toMatchObject({ result: 'queued', error: null });
  return sha;
}

/** What came of the link's first delivery done after `since` (ms), as its owner sees it: a 202's outcome too. */
const deliveryOutcome = (l: Linked, since: number) =>
  waitFor(
    "the delivery's outcome",
    async () => (await call('GET', upstreamPath(l.repo), token)).body.last_delivery,
    (d) => d !== null && Date.parse(d.at) >= since - 1000,
    30_000,
  );

const pushOf = (l: Linked, sha: string, extra: { secret?: string | null; deliveryId?: string; ref?: string; pusher?: string } = {}) =>
  l.fake.deliveryFor(l.kind, {
    owner: l.up.owner,
    name: l.up.name,
    secret: extra.secret === undefined ? l.secret : extra.secret,
    after: sha,
    ...(extra.ref ? { ref: extra.ref } : {}),
    ...(extra.deliveryId ? { deliveryId: extra.deliveryId } : {}),
    ...(extra.pusher ? { pusher: extra.pusher } : {}),
  });

/** A push was taken: 200 queued, or 202 accepted while the fetch is still running. */
function expectTaken(r: Answer): void {
  expect([200, 202], r.text).toContain(r.status);
  expect(r.body.result, r.text).toBe(r.status === 200 ? 'queued' : 'accepted');
}

// ---------------------------------------------------------------------------------------------------------
// 1. The whole way: push on the forge, webhook, fetch, build, registry, statuses

describe.each(FORGE_KINDS)('%s: a push on the forge', (kind) => {
  it('is fetched, built as a push of that commit and branch, and reported back: pending, then success', async () => {
    const fake = fakes[kind];
    const repo = `${kind}-app`;
    const up = await upstreamRepo(fake, kind);
    const secret = `whsec-${randomUUID()}`;
    const put = await linkRepo(repo, { url: up.url, forge: kind, webhook_secret: secret, status_token: STATUS_TOKEN[kind] });
    expect(put.status, put.text).toBe(201);
    expect(put.body).toMatchObject({
      repo: `${owner}/${repo}`,
      url: up.url,
      forge: kind,
      // Derived from the upstream URL's host: GitHub Enterprise /api/v3, Gitea /api/v1, GitLab /api/v4.
      api_url: fake.apiBase(kind),
      hook_url: `${server.url}/hooks/${kind}?repo=${owner}/${repo}`,
      statuses: true,
    });
    expect(put.text).not.toContain(secret);
    expect(put.text).not.toContain(STATUS_TOKEN[kind]);
    const l: Linked = { kind, fake, repo, up, secret, hookUrl: put.body.hook_url };

    const marker = `${kind}-${owner}-${randomUUID().slice(0, 8)}`;
    const sha = await pushUpstream(l, { Dockerfile: `${FROM}\nRUN echo built-${marker}\n` });
    const gitBefore = fake.gitRequestsFor(up.owner, up.name).length;

    // GitHub's delivery goes to the bare hook path, so the link is found by the payload's repository URLs;
    // Gitea's and GitLab's to the hook_url the link gives (?repo=), as an owner would paste it.
    const res = await deliver(kind === 'github' ? '/hooks/github' : l.hookUrl, pushOf(l, sha, { pusher: `dev-${kind}` }));
    expectTaken(res);
    if (res.status === 200) expect(res.body).toMatchObject({ repo: `${owner}/${repo}`, commit: sha });

    const build = await waitForBuild(repo, sha);
    expect(build.status, build.reason).toBe('succeeded');
    expect(build).toMatchObject({
      source: 'push',
      repo: `${owner}/${repo}`,
      ref: 'refs/heads/main',
      ref_name: 'main',
      commit: sha,
      image: repo,
      pusher: `${kind}:dev-${kind}`,
    });
    // Tagged as a push is: branch and sha, both the build's digest.
    expect(build.image_refs).toEqual(expect.arrayContaining([`${server.registry}/${owner}/${repo}:main`, `${server.registry}/${owner}/${repo}:${sha}`]));
    expect(build.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(await tagDigest(server.registryAccess, `${owner}/${repo}`, sha)).toBe(build.digest);
    expect(await tagDigest(server.registryAccess, `${owner}/${repo}`, 'main')).toBe(build.digest);
    // The RUN step's output line, not its header (`#5 [2/2] RUN echo built-…`), which names the marker too.
    const log = await server.api<string>(`/api/builds/${build.id}/log`, token);
    expect(log.body).toMatch(new RegExp(`^#\\d+ built-${marker}$`, 'm'));
    // The commit is in codehub-build's own repo, on the branch pushed.
    expect((await codehubRefs(repo)).get('refs/heads/main')).toBe(sha);
    const fetches = fake.gitRequestsFor(up.owner, up.name).slice(gitBefore);
    expect(
      fetches.some((g) => g.authorized && g.what.includes('git-upload-pack')),
      JSON.stringify(fetches),
    ).toBe(true);
    if (PRIVATE[kind]) {
      // The private upstream was fetched with the status token, as the user name the forge wants.
      expect(fetches.filter((g) => g.authorized).map((g) => g.user)).toEqual(fetches.filter((g) => g.authorized).map(() => PRIVATE[kind]));
    }

    // Back on the forge: pending when queued, then success, in that order, each linking the build page.
    const statuses = await waitFor(
      `a success status for ${sha.slice(0, 7)} on the fake ${kind}`,
      async () => fake.statusesFor(sha),
      (s) => s.some((x) => x.body.state === 'success'),
      30_000,
    );
    const states = statuses.map((s) => s.body.state);
    expect(states[0], JSON.stringify(states)).toBe('pending');
    expect(states.at(-1), JSON.stringify(states)).toBe('success');
    expect(
      states.slice(0, -1).every((s) => s === 'pending'),
      JSON.stringify(states),
    ).toBe(true);
    for (const s of statuses) {
      expect(s.forge).toBe(kind);
      expect(s.repo).toBe(`${up.owner}/${up.name}`);
      expect(s.body.target_url).toBe(`${server.url}/builds/${build.id}`);
      expect(s.body.target_url).toBe(build.web_url);
      expect(contextOf(s)).toBe(`codehub-build/${repo}`);
      const auth = statusAuth(kind, s);
      expect(auth.value, auth.header).toBe(auth.expected);
      if (kind === 'gitlab' && s.body.ref !== undefined) expect(s.body.ref).toBe('main');
    }

    const view = await waitFor(
      'forge_status delivered',
      async () => (await call('GET', `/api/builds/${build.id}`, token)).body,
      (b) => b.forge_status?.delivered === true && b.forge_status.state === 'success',
      30_000,
    );
    expect(view.forge_status).toMatchObject({
      context: `codehub-build/${repo}`,
      state: 'success',
      delivered: true,
      error: null,
      next_attempt_at: null,
      gave_up: false,
    });
    expect(typeof view.forge_status.attempts).toBe('number');
  }, 180_000);
});

// ---------------------------------------------------------------------------------------------------------
// 2. Signatures

describe.each(FORGE_KINDS)('%s: a delivery that does not verify', (kind) => {
  it('is refused with 401, and nothing is fetched, recorded or built', async () => {
    const l = await linked(kind, `${kind}-sig`);
    const sha = await pushUpstream(l);
    const gitBefore = l.fake.gitRequestsFor(l.up.owner, l.up.name).length;
    const wrong = pushOf(l, sha, { secret: `not-${l.secret}` });
    const unsigned = pushOf(l, sha, { secret: null });
    for (const [label, target, d] of [
      ['wrong secret, bare path', `/hooks/${kind}`, wrong],
      ['wrong secret, hook_url', l.hookUrl, wrong],
      ['no signature', l.hookUrl, unsigned],
    ] as const) {
      const r = await deliver(target, d);
      expect(r.status, `${label}: ${r.text}`).toBe(401);
      expect(r.body.error, label).toMatchObject({ code: 'unauthorized', message: expect.any(String) });
      expect(r.text).not.toContain(l.secret);
    }
    expect(await buildsOf(l.repo)).toEqual([]);
    expect(l.fake.gitRequestsFor(l.up.owner, l.up.name).slice(gitBefore)).toEqual([]);
    expect((await codehubRefs(l.repo)).get('refs/heads/main')).toBeUndefined();

    // The refused deliveries left no trace: the forge's redelivery of the same id, rightly signed, is acted on
    // (not a duplicate), and once its build ended it is the one build, after the one fetch, and no status was sent.
    const right = pushOf(l, sha, { deliveryId: wrong.deliveryId });
    const sent = Date.now();
    expectTaken(await deliver(l.hookUrl, right));
    const build = await waitForBuild(l.repo, sha);
    expect(build.status, build.reason).toBe('skipped'); // no Dockerfile: fetched and recorded, nothing to build
    expect(await deliveryOutcome(l, sent)).toMatchObject({ result: 'queued', error: null }); // the redelivery built it, not a refused one
    expect((await codehubRefs(l.repo)).get('refs/heads/main')).toBe(sha);
    expect((await buildsOf(l.repo)).map((b) => b.id)).toEqual([build.id]);
    expect(contactsSince(l, gitBefore)).toBe(1);
    expect(l.fake.statusesFor(sha)).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------------
// 3. Replays

describe.each(FORGE_KINDS)('%s: the same delivery twice', (kind) => {
  it('is acted on once: the second answers duplicate and builds nothing', async () => {
    const l = await linked(kind, `${kind}-replay`);
    const sha = await pushUpstream(l);
    const d = pushOf(l, sha);
    expectTaken(await deliver(l.hookUrl, d));
    await waitForBuild(l.repo, sha);
    const again = await deliver(l.hookUrl, d);
    expect(again.status, again.text).toBe(200);
    expect(again.body).toMatchObject({ result: 'duplicate', message: expect.any(String) });
    // Also on the bare path, found by URL: the same link, the same delivery.
    const third = await deliver(`/hooks/${kind}`, d);
    expect(third.status, third.text).toBe(200);
    expect(third.body.result).toBe('duplicate');
    const after = await barrier(l);
    expect((await buildsOf(l.repo)).map((b) => b.commit)).toEqual([sha, after]);
  });
});

// ---------------------------------------------------------------------------------------------------------
// 4. Pings, other events, unlinked repos

describe('deliveries that build nothing', () => {
  it('GitHub ping: 200 pong, and nothing is fetched, built or reported', async () => {
    const l = await linked('github', 'github-ping');
    const gitBefore = l.fake.gitRequestsFor(l.up.owner, l.up.name).length;
    const statusesBefore = l.fake.statuses.length;
    const r = await deliver(l.hookUrl, l.fake.deliveryFor('github', { owner: l.up.owner, name: l.up.name, secret: l.secret, event: 'ping' }));
    expect(r.status, r.text).toBe(200);
    expect(r.body).toMatchObject({ result: 'pong' });
    const after = await barrier(l);
    expect((await buildsOf(l.repo)).map((b) => b.commit)).toEqual([after]);
    expect(contactsSince(l, gitBefore)).toBe(1); // the barrier's fetch
    expect(l.fake.statuses.length).toBe(statusesBefore);
  });

  it("Gitea's Test Delivery (a push whose before and after are the branch head): 200 pong, nothing fetched or built", async () => {
    const l = await linked('gitea', 'gitea-test-delivery');
    const sha = await pushUpstream(l, { Dockerfile: `${FROM}\n` });
    const gitBefore = l.fake.gitRequestsFor(l.up.owner, l.up.name).length;
    const r = await deliver(l.hookUrl, l.fake.deliveryFor('gitea', { owner: l.up.owner, name: l.up.name, secret: l.secret, before: sha, after: sha }));
    expect(r.status, r.text).toBe(200);
    expect(r.body).toMatchObject({ result: 'pong' });
    const after = await barrier(l);
    expect((await buildsOf(l.repo)).map((b) => b.commit)).toEqual([after]);
    expect(contactsSince(l, gitBefore)).toBe(1); // the barrier's fetch
  });

  it.each(FORGE_KINDS)('%s: an issues event is ignored', async (kind) => {
    const l = await linked(kind, `${kind}-events`);
    const gitBefore = l.fake.gitRequestsFor(l.up.owner, l.up.name).length;
    const r = await deliver(l.hookUrl, l.fake.deliveryFor(kind, { owner: l.up.owner, name: l.up.name, secret: l.secret, event: 'issues' }));
    expect(r.status, r.text).toBe(200);
    expect(r.body).toMatchObject({ result: 'ignored', message: expect.any(String) });
    const after = await barrier(l);
    expect((await buildsOf(l.repo)).map((b) => b.commit)).toEqual([after]);
    expect(contactsSince(l, gitBefore)).toBe(1); // the barrier's fetch
  });

  it.each(FORGE_KINDS)('%s: a push for a repository no link names is refused as a wrong signature is (401, the same answer), and not fetched', async (kind) => {
    const fake = fakes[kind];
    const up = await upstreamRepo(fake, kind);
    const work = await WorkRepo.create({ 'README.md': 'unlinked\n' });
    await fake.pushFrom(work, up.owner, up.name, ['main']);
    const sha = (await work.git.revparse(['HEAD'])).trim();
    const r = await deliver(`/hooks/${kind}`, fake.deliveryFor(kind, { owner: up.owner, name: up.name, secret: `whsec-${randomUUID()}`, after: sha }));
    // Issue 24: a 200 here against a 401 for a linked upstream would tell anyone which upstreams are linked.
    expect(r.status, r.text).toBe(401);
    expect(r.body.error).toMatchObject({ code: 'unauthorized', message: expect.stringContaining(`or the repo is not linked to ${kind} here`) });
    // A linked repo's delivery on the same forge, sent after it and built, before looking for traces.
    await barrier(await linked(kind, `${kind}-unlinked-barrier`));
    expect(fake.gitRequestsFor(up.owner, up.name)).toEqual([]);
    expect((await call('GET', `/api/builds?commit=${sha}`, token)).body.builds).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------------
// 5. Branch deletion

describe.each(FORGE_KINDS)('%s: a branch deleted on the forge', (kind) => {
  it('is deleted here too: 200 deleted, the branch is gone from the repo, nothing is built', async () => {
    const l = await linked(kind, `${kind}-del`);
    const sha = await pushUpstream(l, undefined, 'feature');
    expectTaken(await deliver(l.hookUrl, pushOf(l, sha, { ref: 'refs/heads/feature' })));
    await waitForBuild(l.repo, sha);
    expect((await codehubRefs(l.repo)).get('refs/heads/feature')).toBe(sha);

    await l.fake.deleteRef(l.up.owner, l.up.name, 'feature');
    // GitHub and GitLab: a push with an all-zero after; Gitea: its delete event (it sends no push for it).
    const d = l.fake.deliveryFor(kind, { owner: l.up.owner, name: l.up.name, secret: l.secret, event: 'delete', ref: 'refs/heads/feature', before: sha });
    const r = await deliver(l.hookUrl, d);
    expect(r.status, r.text).toBe(200);
    expect(r.body).toMatchObject({ result: 'deleted' });
    await waitFor(
      'the branch to be gone here',
      async () => [...(await codehubRefs(l.repo)).keys()],
      (refs) => !refs.includes('refs/heads/feature'),
      10_000,
    );
    const after = await barrier(l);
    expect((await buildsOf(l.repo)).map((b) => b.commit)).toEqual([sha, after]);
    expect([...(await codehubRefs(l.repo)).keys()]).not.toContain('refs/heads/feature');
  });
});

describe('deliveries that come late', () => {
  it('a push delivered after a newer one builds nothing and moves no branch back; a deletion of a branch made again deletes nothing', async () => {
    const l = await linked('gitea', 'gitea-late');
    const work = await WorkRepo.create({ 'README.md': 'a\n' });
    const a = (await work.git.revparse(['HEAD'])).trim();
    await l.fake.pushFrom(work, l.up.owner, l.up.name, ['HEAD:refs/heads/main']);
    const b = await work.commit({ 'README.md': 'b\n' });
    await l.fake.pushFrom(work, l.up.owner, l.up.name, ['HEAD:refs/heads/main']);
    expectTaken(await deliver(l.hookUrl, pushOf(l, b)));
    await waitForBuild(l.repo, b);
    // A's delivery arrives last (or is replayed under a new id): main stays at B here.
    const late = await deliver(l.hookUrl, pushOf(l, a));
    expect(late.status, late.text).toBe(200);
    expect(late.body).toMatchObject({ result: 'ignored', message: expect.stringContaining('stale delivery') });
    expect((await codehubRefs(l.repo)).get('refs/heads/main')).toBe(b);
    const afterLate = await barrier(l);
    expect((await codehubRefs(l.repo)).get('refs/heads/main'), 'main after the late delivery and a barrier').toBe(b);

    // main deleted and pushed again on the forge; the deletion's delivery comes after. C's build is also the
    // barrier for A's late delivery: built nothing.
    await l.fake.deleteRef(l.up.owner, l.up.name, 'main');
    const c = await work.commit({ 'README.md': 'c\n' });
    await l.fake.pushFrom(work, l.up.owner, l.up.name, ['HEAD:refs/heads/main']);
    expectTaken(await deliver(l.hookUrl, pushOf(l, c)));
    await waitForBuild(l.repo, c);
    expect((await buildsOf(l.repo)).map((x) => x.commit)).toEqual([b, afterLate, c]);
    const del = await deliver(
      l.hookUrl,
      l.fake.deliveryFor('gitea', { owner: l.up.owner, name: l.up.name, secret: l.secret, event: 'delete', ref: 'refs/heads/main', before: b }),
    );
    expect(del.status, del.text).toBe(200);
    expect(del.body).toMatchObject({ result: 'ignored', message: expect.stringContaining('stale deletion') });
    expect((await codehubRefs(l.repo)).get('refs/heads/main')).toBe(c);
    // What the owner sees of the last delivery.
    const view = await call('GET', `/api/repos/${owner}/${l.repo}/upstream`, token);
    expect(view.body.last_delivery).toMatchObject({ result: 'ignored', error: null });
    await barrier(l);
    expect((await codehubRefs(l.repo)).get('refs/heads/main'), 'main after the stale deletion and a barrier').toBe(c);
  });
});

// ---------------------------------------------------------------------------------------------------------
// 6. The forge's API down

describe('commit statuses while the forge is down', () => {
  it('the build does not wait; the status is retried and arrives once the forge is back', async () => {
    const kind: ForgeKind = 'gitea';
    const fake = await FakeForge.start(); // a host of its own: its status API is dead, its git serving is not
    try {
      const l = await linked(kind, 'gitea-down', fake);
      const marker = `down-${owner}-${randomUUID().slice(0, 8)}`;
      const sha = await pushUpstream(l, { Dockerfile: `${FROM}\nRUN echo built-${marker}\n` });
      fake.setStatusDown('refuse');
      expectTaken(await deliver(l.hookUrl, pushOf(l, sha)));

      const build = await waitForBuild(l.repo, sha);
      expect(build.status, build.reason).toBe('succeeded');
      expect(fake.statuses).toEqual([]);
      const failing = await waitFor(
        'forge_status to show the failed delivery',
        async () => (await call('GET', `/api/builds/${build.id}`, token)).body,
        (b) =>
          b.forge_status?.state === 'success' && b.forge_status.delivered === false && b.forge_status.attempts > 0 && typeof b.forge_status.error === 'string',
        30_000,
      );
      expect(failing.forge_status).toMatchObject({
        context: `codehub-build/${l.repo}`,
        state: 'success',
        delivered: false,
        error: expect.any(String),
        next_attempt_at: expect.any(String),
        gave_up: false,
      });
      expect(failing.forge_status.error).not.toContain(STATUS_TOKEN[kind]);

      // Down: retried meanwhile (back-off from 1 s), never delivered.
      await waitFor(
        'a second failed status attempt',
        async () => fake.failedStatusAttempts,
        (n) => n >= 2,
        30_000,
      );
      expect(fake.statuses).toEqual([]);
      fake.setStatusDown(null);

      const got = await waitFor(
        'the success status once the forge is back',
        async () => fake.statusesFor(sha),
        (s) => s.some((x) => x.body.state === 'success'),
        60_000,
      );
      const last = got.at(-1)!;
      expect(last.body.state).toBe('success');
      expect(last.body.target_url).toBe(`${server.url}/builds/${build.id}`);
      expect(contextOf(last)).toBe(`codehub-build/${l.repo}`);
      expect(statusAuth(kind, last).value).toBe(statusAuth(kind, last).expected);
      const view = await waitFor(
        'forge_status delivered',
        async () => (await call('GET', `/api/builds/${build.id}`, token)).body,
        (b) => b.forge_status?.delivered === true,
        10_000,
      );
      expect(view.forge_status).toMatchObject({ state: 'success', delivered: true, error: null, next_attempt_at: null, gave_up: false });
    } finally {
      await fake.close();
    }
  }, 180_000);
});

// ---------------------------------------------------------------------------------------------------------
// 7. The link API

describe('PUT/GET/DELETE /api/repos/:owner/:repo/upstream', () => {
  it.each([
    ['a local path', '/srv/git/app.git', /local path/],
    ['a file:// URL', 'file:///srv/git/app.git', /file:\/\//],
    ['ext::', 'ext::sh -c touch% /tmp/pwned', /whitespace|ext::/],
    ['ext:: without spaces', 'ext::sh%20-c%20touch', /ext::/],
    ['a git option', '--upload-pack=touch', /starts with "-"/],
    ['a git option inside the path', 'https://git.example.com/acme/--upload-pack=touch', /git option/],
    ['credentials in the URL', 'https://user:pw@git.example.com/acme/app.git', /credentials/],
  ])('refuses %s with 400 naming the problem, and makes no link', async (_label, url, why) => {
    const repo = 'bad-url';
    const r = await linkRepo(repo, { url, forge: 'gitea', webhook_secret: 'whsec-x-0123456789', status_token: 'tok-x' });
    expect(r.status, r.text).toBe(400);
    expect(r.body.error.code).toBe('bad_request');
    expect(r.body.error.message).toMatch(/upstream URL/);
    expect(r.body.error.message).toMatch(why);
    expect((await call('GET', upstreamPath(repo), token)).status).toBe(404);
  });

  it('only the owner links, reads and removes; the secrets are never shown', async () => {
    const fake = fakes.gitea;
    const repo = 'linked-api';
    const up = await upstreamRepo(fake, 'gitea');
    const secret = `whsec-${randomUUID()}`;
    const body = { url: up.url, forge: 'gitea', webhook_secret: secret, status_token: STATUS_TOKEN.gitea };

    expect((await linkRepo(repo, body, null)).status).toBe(401);
    expect([403, 404]).toContain((await linkRepo(repo, body, intruderToken)).status);

    const made = await linkRepo(repo, body);
    expect(made.status, made.text).toBe(201);
    expect(made.body).toMatchObject({ repo: `${owner}/${repo}`, url: up.url, forge: 'gitea', api_url: fake.apiBase('gitea'), statuses: true });
    expect(made.body.created_at).toEqual(expect.any(String));
    expect(made.body.updated_at).toEqual(expect.any(String));

    const got = await call('GET', upstreamPath(repo), token);
    expect(got.status, got.text).toBe(200);
    expect(got.body).toEqual(made.body);
    for (const text of [made.text, got.text]) {
      expect(text).not.toContain(secret);
      expect(text).not.toContain(STATUS_TOKEN.gitea);
    }
    expect(got.body).not.toHaveProperty('webhook_secret');
    expect(got.body).not.toHaveProperty('status_token');

    // Another user neither reads, replaces nor removes it.
    expect([403, 404]).toContain((await call('GET', upstreamPath(repo), intruderToken)).status);
    expect([403, 404]).toContain((await linkRepo(repo, { ...body, url: fakes.github.repoUrl('evil', 'app') }, intruderToken)).status);
    expect([403, 404]).toContain((await call('DELETE', upstreamPath(repo), intruderToken)).status);
    expect((await call('GET', upstreamPath(repo), token)).body.url).toBe(up.url);

    // Replaced: 200; without a status token no statuses; an explicit api_url is the one shown.
    const secret2 = `whsec-${randomUUID()}`;
    const apiUrl = `${fake.url}/custom/api/v1`;
    const replaced = await linkRepo(repo, { url: up.url, forge: 'gitea', webhook_secret: secret2, api_url: apiUrl });
    expect(replaced.status, replaced.text).toBe(200);
    expect(replaced.body).toMatchObject({
      repo: `${owner}/${repo}`,
      url: up.url,
      forge: 'gitea',
      api_url: apiUrl,
      statuses: false,
      created_at: made.body.created_at,
    });
    expect(replaced.text).not.toContain(secret2);
    expect((await call('GET', upstreamPath(repo), token)).text).not.toContain(secret2);

    const removed = await call('DELETE', upstreamPath(repo), token);
    expect([200, 204], removed.text).toContain(removed.status);
    expect((await call('GET', upstreamPath(repo), token)).status).toBe(404);
    // Unlinked: a push naming that upstream matches nothing any more.
    const work = await WorkRepo.create({ 'README.md': 'after unlink\n' });
    await fake.pushFrom(work, up.owner, up.name, ['main']);
    const sha = (await work.git.revparse(['HEAD'])).trim();
    const r = await deliver('/hooks/gitea', fake.deliveryFor('gitea', { owner: up.owner, name: up.name, secret: secret2, after: sha }));
    expect(r.status, r.text).toBe(401);
    expect(r.body.error.code).toBe('unauthorized');
    expect(await buildsOf(repo)).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------------
// 8. What a hook URL names

describe("the hook URL's ?repo=", () => {
  it('refuses with 400 a payload naming another repository than the link of ?repo=, and builds nothing', async () => {
    const a = await linked('github', 'hook-a');
    const b = await linked('github', 'hook-b');
    const sha = await pushUpstream(b);
    const gitBefore = [a, b].map((l) => l.fake.gitRequestsFor(l.up.owner, l.up.name).length);
    // B's push, signed with A's secret, sent to A's hook URL.
    const d = b.fake.deliveryFor('github', { owner: b.up.owner, name: b.up.name, secret: a.secret, after: sha });
    const r = await deliver(a.hookUrl, d);
    expect(r.status, r.text).toBe(400);
    expect(r.body.error).toMatchObject({ code: 'bad_request', message: expect.any(String) });
    const [afterA, afterB] = [await barrier(a), await barrier(b)];
    expect((await buildsOf(a.repo)).map((x) => x.commit)).toEqual([afterA]);
    expect((await buildsOf(b.repo)).map((x) => x.commit)).toEqual([afterB]);
    expect([a, b].map((l, i) => contactsSince(l, gitBefore[i]!))).toEqual([1, 1]); // the barriers' fetches
    expect([...(await codehubRefs(a.repo)).keys()].filter((ref) => ref.startsWith('refs/heads/'))).toEqual([expect.stringMatching(/^refs\/heads\/barrier-/)]);
  });

  it('refuses a body over 5 MiB with 413', async () => {
    const l = await linked('github', 'hook-big');
    const body = Buffer.from(JSON.stringify({ ref: 'refs/heads/main', padding: 'x'.repeat(5 * 1024 * 1024 + 1) }));
    const headers = {
      'X-GitHub-Event': 'push',
      'X-GitHub-Delivery': randomUUID(),
      'Content-Type': 'application/json',
      ...signatureHeaders('github', body, l.secret),
    };
    const r = await deliver(l.hookUrl, { headers, body });
    expect(r.status, r.text.slice(0, 500)).toBe(413);
    expect(await buildsOf(l.repo)).toEqual([]);
  });
});
