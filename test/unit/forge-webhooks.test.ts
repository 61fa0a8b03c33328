import { execa } from 'execa';
import { createHash, createHmac } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import type { Push, PushResult } from '../../src/builds/enqueue.js';
import { defaultConfig } from '../../src/config/parse.js';
import { type AppError, BadGatewayError, BadRequestError, UnauthorizedError } from '../../src/errors.js';
import type { PushEvent, WebhookRequest } from '../../src/forges/forge.js';
import { UpstreamLinks } from '../../src/forges/links.js';
import type { FetchUpstreamOptions, FetchUpstreamResult } from '../../src/forges/upstream.js';
import { alreadyBuilt, refusalMessage, WebhookService, type HookAnswer } from '../../src/forges/webhooks.js';
import { gitEnv } from '../../src/git/env.js';
import { RepoStore } from '../../src/git/repos.js';
import { createLogger, silentLogger } from '../../src/log.js';
import { openDb } from '../../src/store/db.js';
import { ForgeStore } from '../../src/store/forges.js';
import type { PushBuild } from '../../src/store/schema.js';
import { Store } from '../../src/store/store.js';
import { WorkRepo } from '../helpers/git.js';

const ZERO = '0'.repeat(40);
const SECRET = 'alice-hook-secret-3e9f';
const TOKEN = 'alice-status-token-77aa';
const GITHUB = 'https://github.com/acme/shop';

const git = async (gitDir: string, ...args: string[]) => execa('git', ['--git-dir', gitDir, ...args], { env: gitEnv(), extendEnv: false, reject: false });
const localSha = async (gitDir: string, ref: string): Promise<string | null> => {
  const r = await git(gitDir, 'rev-parse', '--verify', '--quiet', ref);
  return r.exitCode === 0 ? r.stdout.trim() : null;
};

// ---------------------------------------------------------------------------------------------------------
// Deliveries, signed here as each forge signs them

interface GithubPush {
  ref?: string;
  before?: string;
  after: string;
  url?: string;
  pusher?: string | null;
}
function githubPushBody(p: GithubPush): Record<string, unknown> {
  const url = p.url ?? GITHUB;
  const path = new URL(url).pathname.slice(1);
  return {
    ref: p.ref ?? 'refs/heads/main',
    before: p.before ?? ZERO,
    after: p.after,
    created: (p.before ?? ZERO) === ZERO,
    deleted: p.after === ZERO,
    repository: { full_name: path, html_url: url, clone_url: `${url}.git`, ssh_url: `git@github.com:${path}.git`, git_url: `git://github.com/${path}.git` },
    ...(p.pusher === null ? {} : { pusher: { name: p.pusher ?? 'octo-cat', email: 'o@example.com' } }),
    sender: { login: 'octo-cat' },
  };
}

function github(event: string, body: unknown, opts: { secret?: string; delivery?: string | null } = {}): WebhookRequest {
  const raw = Buffer.from(JSON.stringify(body));
  const headers: Record<string, string> = {
    'Content-Type': 'application/json',
    'X-GitHub-Event': event,
    'X-Hub-Signature-256': `sha256=${createHmac('sha256', opts.secret ?? SECRET)
      .update(raw)
      .digest('hex')}`,
  };
  if (opts.delivery !== null) headers['X-GitHub-Delivery'] = opts.delivery ?? `delivery-${Math.random().toString(16).slice(2)}`;
  return { headers, body: raw };
}

function gitea(event: string, body: unknown, opts: { secret: string; delivery: string }): WebhookRequest {
  const raw = Buffer.from(JSON.stringify(body));
  return {
    headers: {
      'Content-Type': 'application/json',
      'X-Gitea-Event': event,
      'X-Gitea-Delivery': opts.delivery,
      'X-Gitea-Signature': createHmac('sha256', opts.secret).update(raw).digest('hex'),
    },
    body: raw,
  };
}

// ---------------------------------------------------------------------------------------------------------
// The service over a real database, real bare repos, and a fake upstream fetch and push

let store: Store;
let forges: ForgeStore;
let repos: RepoStore;
let links: UpstreamLinks;
let upstream: WorkRepo;
let pushes: Push[];
let fetches: FetchUpstreamOptions[];
/** What the next fetches do; by default a real `git fetch` of the refs from `upstream`'s folder. */
let fetchImpl: (o: FetchUpstreamOptions) => Promise<FetchUpstreamResult>;
let svc: WebhookService;
/** What the service logged (warn and up), one parsed JSON object per line. */
let logged: Record<string, unknown>[];
const log = createLogger({ level: 'warn', write: (line) => logged.push(JSON.parse(line) as Record<string, unknown>) });

/** Fetches the refs from the upstream work repo into the bare repo with real git, as fetchUpstream would over http. */
async function gitFetch(o: FetchUpstreamOptions): Promise<FetchUpstreamResult> {
  const r = await git(o.gitDir, 'fetch', '--quiet', '--no-tags', '--atomic', '--', upstream.dir, ...o.refs.map((ref) => `+${ref}:${ref}`));
  if (r.exitCode !== 0) {
    const missing = o.refs.filter((ref) => r.stderr.includes(`couldn't find remote ref ${ref}`));
    return missing.length ? { ok: false, problem: `the upstream has no ${missing.join(', ')}`, missing } : { ok: false, problem: r.stderr };
  }
  return { ok: true, updated: await Promise.all(o.refs.map(async (ref) => ({ ref, sha: (await localSha(o.gitDir, ref))! }))) };
}

const deliveries = () =>
  store.db.$client.prepare('SELECT repo_id, delivery_id FROM webhook_deliveries ORDER BY delivery_id').all() as { repo_id: number; delivery_id: string }[];
const shopDir = () => repos.path('alice', 'shop');

function service(now?: () => number): WebhookService {
  return new WebhookService({
    links,
    forges,
    repos,
    log,
    push: async (p: Push): Promise<PushResult> => {
      pushes.push(p);
      return { builds: [], lines: [`recorded ${p.updates.map((u) => `${u.ref} ${u.old.slice(0, 7)}..${u.new.slice(0, 7)}`).join(', ')}`] };
    },
    fetch: (o) => {
      fetches.push(o);
      return fetchImpl(o);
    },
    // What the upstream work repo has now, as `git ls-remote` over http would say.
    remoteRef: async (o) => {
      const r = await git(upstream.dir, 'rev-parse', '--verify', '--quiet', o.ref);
      return { ok: true, sha: r.exitCode === 0 ? r.stdout.trim() : null };
    },
    ...(now ? { now } : {}),
  });
}

beforeEach(async () => {
  store = new Store(openDb(':memory:'));
  forges = new ForgeStore(store.db);
  repos = new RepoStore(mkdtempSync(join(tmpdir(), 'chb-hooks-')));
  links = new UpstreamLinks({ store, forges, repos, key: Buffer.alloc(32, 9), publicUrl: 'https://build.example.com' });
  await links.set('alice', 'shop', { url: GITHUB, forge: 'github', webhook_secret: SECRET, status_token: TOKEN });
  upstream = await WorkRepo.create({ Dockerfile: 'FROM scratch\n' });
  pushes = [];
  fetches = [];
  logged = [];
  fetchImpl = gitFetch;
  svc = service();
});

const head = async () => (await upstream.git.revparse(['HEAD'])).trim();

describe('WebhookService: pushes', () => {
  it("fetches the pushed ref from the upstream with the link's token and records the push as github:<pusher>", async () => {
    const sha = await head();
    const answer = await svc.receive('github', github('push', githubPushBody({ after: sha })));
    expect(answer).toEqual({
      result: 'queued',
      repo: 'alice/shop',
      ref: 'refs/heads/main',
      commit: sha,
      builds: [],
      lines: [`recorded refs/heads/main 0000000..${sha.slice(0, 7)}`],
    });
    expect(fetches).toEqual([{ gitDir: shopDir(), url: new URL(GITHUB), token: TOKEN, username: 'x-access-token', refs: ['refs/heads/main'] }]);
    expect(await localSha(shopDir(), 'refs/heads/main')).toBe(sha);
    expect(pushes).toEqual([
      { owner: 'alice', repo: 'shop', pusher: 'github:octo-cat', updates: [{ old: ZERO, new: sha, ref: 'refs/heads/main' }], options: [] },
    ]);
  });

  it("gives the forge's before as old when this repo has it, else what the ref was here", async () => {
    const first = await head();
    await svc.receive('github', github('push', githubPushBody({ after: first })));
    const second = await upstream.commit({ 'a.txt': 'a' });
    await svc.receive('github', github('push', githubPushBody({ before: first, after: second })));
    expect(pushes[1]!.updates).toEqual([{ old: first, new: second, ref: 'refs/heads/main' }]);

    // A before this repo never saw (a delivery missed): the ref's value here.
    const third = await upstream.commit({ 'b.txt': 'b' });
    await svc.receive('github', github('push', githubPushBody({ before: 'e'.repeat(40), after: third })));
    expect(pushes[2]!.updates).toEqual([{ old: second, new: third, ref: 'refs/heads/main' }]);
  });

  it('records the pusher as <forge>:<user>, made safe, and unknown when the payload names none', async () => {
    const sha = await head();
    await svc.receive('github', github('push', githubPushBody({ after: sha, pusher: 'Eve Smith/../x;rm' })));
    const other = await upstream.commit({ 'a.txt': 'a' });
    await svc.receive('github', github('push', { ...githubPushBody({ after: other, pusher: null }), sender: undefined }));
    expect(pushes.map((p) => p.pusher)).toEqual(['github:Eve_Smith_.._x_rm', 'github:unknown']);
  });

  it('fetches a tag onto the same name', async () => {
    const sha = await head();
    await upstream.git.addTag('v1.0.0');
    const answer = await svc.receive('github', github('push', githubPushBody({ ref: 'refs/tags/v1.0.0', after: sha })));
    expect(answer).toMatchObject({ result: 'queued', ref: 'refs/tags/v1.0.0', commit: sha });
    expect(await localSha(shopDir(), 'refs/tags/v1.0.0')).toBe(sha);
    expect(pushes[0]!.updates).toEqual([{ old: ZERO, new: sha, ref: 'refs/tags/v1.0.0' }]);
  });

  it("finds the link by the payload's URLs in any case and form", async () => {
    const sha = await head();
    const body = githubPushBody({ after: sha, url: 'https://github.com/ACME/Shop' });
    const answer = await svc.receive('github', github('push', body));
    expect(answer).toMatchObject({ result: 'queued', repo: 'alice/shop' });
  });

  it('builds nothing when the upstream no longer has the pushed commit (a force push since)', async () => {
    const gone = 'f'.repeat(40);
    const answer = await svc.receive('github', github('push', githubPushBody({ after: gone })));
    expect(answer).toMatchObject({ result: 'ignored', message: expect.stringContaining(`not ${gone}: a stale delivery`) });
    expect(fetches).toHaveLength(1);
    expect(pushes).toEqual([]);
  });

  it('fetches one delivery of a repo at a time', async () => {
    let inFlight = 0;
    let most = 0;
    fetchImpl = async (o) => {
      most = Math.max(most, ++inFlight);
      await new Promise((r) => setTimeout(r, 20));
      const r = await gitFetch(o);
      inFlight--;
      return r;
    };
    const a = await head();
    const b = await upstream.commit({ 'a.txt': 'a' });
    // Two deliveries of the head (a push, and the forge's redelivery under a new id), at once.
    await Promise.all([
      svc.receive('github', github('push', githubPushBody({ before: a, after: b }))),
      svc.receive('github', github('push', githubPushBody({ before: a, after: b }))),
    ]);
    expect(most).toBe(1);
    expect(pushes).toHaveLength(2);
  });

  it("builds nothing for a push delivered after a newer one (the branch's tags never move back)", async () => {
    const a = await head();
    const b = await upstream.commit({ 'a.txt': 'a' });
    expect(await svc.receive('github', github('push', githubPushBody({ before: a, after: b })))).toMatchObject({ result: 'queued', commit: b });
    // A's delivery arrives late: A is in the repo (an ancestor of B), but the upstream's main is at B.
    const late = await svc.receive('github', github('push', githubPushBody({ after: a })));
    expect(late).toMatchObject({ result: 'ignored', message: expect.stringContaining(`is at ${b} now, not ${a}: a stale delivery`) });
    expect(pushes.map((p) => p.updates[0]!.new)).toEqual([b]);
    expect(await localSha(shopDir(), 'refs/heads/main')).toBe(b);
    // A replay of an old signed push under a new delivery id can therefore not roll the branch back either.
  });

  it("fixes the repo's default branch (the one tagged latest) from the forge's, not from the first branch delivered", async () => {
    const calls: string[][] = [];
    const withDefault = new WebhookService({
      links,
      forges,
      repos,
      log: silentLogger,
      fetch: gitFetch,
      remoteRef: async () => ({ ok: true, sha: null }),
      push: async (p) => {
        pushes.push(p);
        return { builds: [], lines: [] };
      },
      defaultBranch: async (owner, name, branch) => {
        calls.push([owner, name, branch]);
      },
    });
    const sha = await head();
    const body = githubPushBody({ after: sha });
    (body.repository as Record<string, unknown>).default_branch = 'trunk';
    await withDefault.receive('github', github('push', body));
    expect(calls).toEqual([['alice', 'shop', 'trunk']]);
    // A payload naming something that is no branch name fixes nothing.
    (body.repository as Record<string, unknown>).default_branch = '../x';
    await withDefault.receive('github', github('push', body));
    expect(calls).toHaveLength(1);
  });

  it("refuses a SHA-256 upstream's push, naming it, before anything is taken", async () => {
    await expect(svc.receive('github', github('push', githubPushBody({ after: 'a'.repeat(64) }), { delivery: 'd-256' }))).rejects.toThrow(/SHA-256 repository/);
    expect(fetches).toEqual([]);
    expect(deliveries()).toEqual([]);
  });

  it("tells the link's owner what came of the last delivery, a failure included", async () => {
    const sha = await head();
    await svc.receive('github', github('push', githubPushBody({ after: sha })));
    expect(links.get('alice', 'shop').last_delivery).toMatchObject({ result: 'queued', error: null });
    fetchImpl = async () => ({ ok: false, problem: 'fetch from https://github.com/acme/shop: the upstream refused the token' });
    await expect(svc.receive('github', github('push', githubPushBody({ after: sha })))).rejects.toThrow(/refused the token; nothing was built/);
    expect(links.get('alice', 'shop').last_delivery).toMatchObject({ result: 'failed', error: expect.stringContaining('refused the token') });
  });
});

describe('WebhookService: a delivery cut off by a stop', () => {
  it('takes the redelivery of a delivery taken but never finished once it is older than any fetch, and not before', async () => {
    const sha = await head();
    let t = Date.parse('2026-11-27T12:00:00Z');
    const clock = service(() => t);
    // The server stopped in the middle: the delivery was taken, its push never recorded.
    expect(forges.takeDelivery(store.repos.byName('alice', 'shop')!.id, 'd-cut', new Date(t).toISOString(), new Date(t - 600_000).toISOString())).toBe(true);
    const req = github('push', githubPushBody({ after: sha }), { delivery: 'd-cut' });
    expect(await clock.receive('github', req)).toMatchObject({ result: 'duplicate' });
    expect(pushes).toEqual([]);
    t += 11 * 60_000;
    expect(await clock.receive('github', req)).toMatchObject({ result: 'queued', commit: sha });
    // Finished now: a replay again.
    t += 11 * 60_000;
    expect(await clock.receive('github', req)).toMatchObject({ result: 'duplicate' });
    expect(pushes).toHaveLength(1);
  });
});

describe('WebhookService: verification and replays', () => {
  it('refuses a delivery signed with another secret: nothing fetched, pushed or recorded', async () => {
    const sha = await head();
    const req = github('push', githubPushBody({ after: sha }), { secret: 'not the secret', delivery: 'd-1' });
    await expect(svc.receive('github', req)).rejects.toThrow(UnauthorizedError);
    await expect(svc.receive('github', req)).rejects.toThrow(refusalMessage('github'));
    await expect(svc.receive('github', req, 'alice/shop')).rejects.toThrow(UnauthorizedError);
    const unsigned = { headers: { 'X-GitHub-Event': 'push', 'X-GitHub-Delivery': 'd-2', 'Content-Type': 'application/json' }, body: req.body };
    await expect(svc.receive('github', unsigned)).rejects.toThrow(refusalMessage('github'));
    // Which check failed is for the operator's log only.
    expect(logged.map((l) => [l.msg, l.why, l.repos, l.reason])).toEqual([
      ...Array(3).fill([
        'webhook delivery refused',
        'signature',
        ['alice/shop'],
        "X-Hub-Signature-256 does not match the body signed with this link's webhook secret",
      ]),
      ['webhook delivery refused', 'signature', ['alice/shop'], 'X-Hub-Signature-256 header is missing'],
    ]);
    expect(fetches).toEqual([]);
    expect(pushes).toEqual([]);
    expect(deliveries()).toEqual([]);
    expect(await localSha(shopDir(), 'refs/heads/main')).toBeNull();
    // The refusal never repeats the secret.
    const err = await svc.receive('github', req).catch((e: Error) => e);
    expect(String((err as Error).message)).not.toContain(SECRET);
    expect(JSON.stringify(logged)).not.toContain(SECRET);
  });

  it('refuses a delivery whose body was changed after signing', async () => {
    const sha = await head();
    const req = github('push', githubPushBody({ after: sha }));
    const forged = Buffer.from(req.body.toString().replace('refs/heads/main', 'refs/heads/evil'));
    await expect(svc.receive('github', { headers: req.headers, body: forged })).rejects.toThrow(UnauthorizedError);
    expect(pushes).toEqual([]);
  });

  it('acts on a delivery once: its replay (same id) is a duplicate', async () => {
    const sha = await head();
    const req = github('push', githubPushBody({ after: sha }), { delivery: 'd-7' });
    expect(await svc.receive('github', req)).toMatchObject({ result: 'queued' });
    expect(await svc.receive('github', req)).toEqual({ result: 'duplicate', message: 'delivery d-7 was acted on before; nothing new is built' });
    // A new service (a restart) still knows it.
    expect(await service().receive('github', req, 'alice/shop')).toMatchObject({ result: 'duplicate' });
    expect(pushes).toHaveLength(1);
    expect(fetches).toHaveLength(1);
    expect(deliveries()).toEqual([{ repo_id: store.repos.byName('alice', 'shop')!.id, delivery_id: 'd-7' }]);
  });

  it('knows a replay without a delivery id by its body', async () => {
    const sha = await head();
    const req = github('push', githubPushBody({ after: sha }), { delivery: null });
    expect(await svc.receive('github', req)).toMatchObject({ result: 'queued' });
    expect(await svc.receive('github', req)).toMatchObject({ result: 'duplicate' });
    expect(deliveries().map((d) => d.delivery_id)).toEqual([`sha256:${createHash('sha256').update(req.body).digest('hex')}`]);
    expect(pushes).toHaveLength(1);
  });

  it('forgets delivery ids after 30 days', async () => {
    const sha = await head();
    const req = github('push', githubPushBody({ after: sha }), { delivery: 'd-old' });
    await svc.receive('github', req);
    const later = service(() => Date.now() + 31 * 86_400_000);
    expect(await later.receive('github', req)).toMatchObject({ result: 'queued' });
    expect(pushes).toHaveLength(2);
  });

  it("says a failed fetch is a bad gateway and forgets the delivery, so the forge's redelivery is acted on", async () => {
    const sha = await head();
    fetchImpl = async () => ({ ok: false, problem: 'fetch from https://github.com/acme/shop: the upstream refused the token' });
    const req = github('push', githubPushBody({ after: sha }), { delivery: 'd-9' });
    const err = await svc.receive('github', req).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BadGatewayError);
    expect((err as AppError).message).toBe(
      "fetch from https://github.com/acme/shop: the upstream refused the token; nothing was built (use Redeliver in the forge's webhook log once this is fixed)",
    );
    expect(pushes).toEqual([]);
    expect(deliveries()).toEqual([]);

    fetchImpl = gitFetch;
    expect(await svc.receive('github', req)).toMatchObject({ result: 'queued', commit: sha });
    expect(pushes).toHaveLength(1);
    expect(deliveries().map((d) => d.delivery_id)).toEqual(['d-9']);
  });

  it('forgets the delivery when recording the push fails', async () => {
    const sha = await head();
    const failing = new WebhookService({
      links,
      forges,
      repos,
      log: silentLogger,
      fetch: gitFetch,
      push: async () => {
        throw new Error('database is locked');
      },
    });
    const req = github('push', githubPushBody({ after: sha }), { delivery: 'd-10' });
    await expect(failing.receive('github', req)).rejects.toThrow('database is locked');
    expect(deliveries()).toEqual([]);
    expect(await svc.receive('github', req)).toMatchObject({ result: 'queued' });
  });

  it('builds only the links whose secret signed the delivery when several repos link one upstream', async () => {
    await links.set('bob', 'mirror', { url: `${GITHUB}.git`, forge: 'github', webhook_secret: 'bob-secret-0123456789' });
    const sha = await head();
    const answer = await svc.receive('github', github('push', githubPushBody({ after: sha }), { secret: 'bob-secret-0123456789' }));
    expect(answer).toMatchObject({ result: 'queued', repo: 'bob/mirror' });
    expect(pushes.map((p) => `${p.owner}/${p.repo}`)).toEqual(['bob/mirror']);
    expect(fetches[0]).toMatchObject({ gitDir: repos.path('bob', 'mirror'), token: undefined });
    expect(await localSha(shopDir(), 'refs/heads/main')).toBeNull();
  });
});

// ---------------------------------------------------------------------------------------------------------
// A push delivered again under a new id (issue 24): the id is not signed, the ref and the builds tell

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
let nextId = 1;
const built = (commit: string, over: Partial<PushBuild> = {}): PushBuild =>
  ({ id: nextId++, ref: 'refs/heads/main', commitSha: commit, image: 'shop', status: 'succeeded', ...over }) as PushBuild;
const pushTo = (after: string, over: Partial<PushEvent> = {}): PushEvent => ({
  kind: 'push',
  deliveryId: null,
  repoUrls: [GITHUB],
  repoFullName: 'acme/shop',
  ref: 'refs/heads/main',
  before: ZERO,
  after,
  pusher: 'octo',
  deleted: false,
  created: false,
  ...over,
});

describe('alreadyBuilt', () => {
  it('acts on a push whose ref here is elsewhere: new, moved on, or moved back to a commit built before', () => {
    expect(alreadyBuilt(null, pushTo(A), [])).toBeNull();
    expect(alreadyBuilt(A, pushTo(B, { before: A }), [built(A)])).toBeNull();
    expect(alreadyBuilt(B, pushTo(A, { before: B }), [built(A), built(B)])).toBeNull();
  });

  it('acts on a push whose ref is already here but never built (a fetch whose push was not recorded, or one a replay of an older push fetched)', () => {
    expect(alreadyBuilt(A, pushTo(A), [])).toBeNull();
    // Built for another ref only: this ref's build is still owed (its tags differ).
    expect(alreadyBuilt(A, pushTo(A), [built(A, { ref: 'refs/heads/feature' }), built(B)])).toBeNull();
    expect(alreadyBuilt(A, pushTo(A, { ref: 'refs/tags/v1' }), [built(A)])).toBeNull();
  });

  it('answers a push whose ref is here at its commit, built, with the newest build of each image, whatever its state', () => {
    const old = built(A, { status: 'canceled' });
    const api = built(A, { image: 'api', status: 'queued' });
    const newer = built(A, { status: 'running' });
    expect(alreadyBuilt(A, pushTo(A), [newer, api, old, built(B)])).toEqual([api, newer]);
    expect(alreadyBuilt(A, pushTo(A, { before: B }), [old])).toEqual([old]);
  });

  it('never holds back a deletion', () => {
    expect(alreadyBuilt(ZERO, pushTo(ZERO, { deleted: true, before: A }), [built(ZERO)])).toBeNull();
  });

  it("builds GitLab's genuine A, B, A, B pushes each, and not the replay of the last one", () => {
    let here: string | null = null;
    const builds: PushBuild[] = [];
    const deliver = (e: PushEvent): PushBuild[] | 'built' => {
      const done = alreadyBuilt(here, e, builds);
      if (done) return done;
      builds.push(built(e.after));
      here = e.after;
      return 'built';
    };
    const pushes = [pushTo(A), pushTo(B, { before: A }), pushTo(A, { before: B }), pushTo(B, { before: A })];
    expect(pushes.map(deliver)).toEqual(['built', 'built', 'built', 'built']);
    // The last push sent again (GitLab signs no id; any id): our ref is at B and B has builds.
    expect(deliver(pushes[3]!)).toEqual([builds[3]]);
    // Even the first push of B (before: zero) replayed: nothing.
    expect(deliver(pushTo(B))).toEqual([builds[3]]);
    expect(builds.map((b) => b.commitSha)).toEqual([A, B, A, B]);
  });
});

describe('WebhookService: a push delivered again under a new id', () => {
  /** A service whose pushes record real builds (one per push, image shop), as BuildService does. */
  function recording(): { svc: WebhookService; recorded: PushBuild[] } {
    const recorded: PushBuild[] = [];
    const s = new WebhookService({
      links,
      forges,
      repos,
      log,
      fetch: (o) => {
        fetches.push(o);
        return gitFetch(o);
      },
      push: async (p) => {
        pushes.push(p);
        const repoId = store.repos.ensure(p.owner, p.repo).id;
        const u = p.updates[0]!;
        const rows = store.builds.insert<PushBuild>(
          [
            {
              repoId,
              repo: `${p.owner}/${p.repo}`,
              owner: p.owner,
              ref: u.ref,
              refType: 'branch',
              refName: u.ref.replace(/^refs\/heads\//, ''),
              commitSha: u.new,
              image: 'shop',
              status: 'queued',
              pusher: p.pusher,
              config: { ...defaultConfig('shop').images[0]! },
            },
          ],
          () => [],
        );
        recorded.push(...rows);
        return { builds: rows, lines: [] };
      },
    });
    return { svc: s, recorded };
  }

  it('builds nothing, fetches nothing, and names the build it already is', async () => {
    const { svc: s, recorded } = recording();
    const sha = await head();
    const body = githubPushBody({ after: sha });
    expect(await s.receive('github', github('push', body, { delivery: 'first' }))).toMatchObject({ result: 'queued', builds: [{ id: recorded[0]!.id }] });
    const again = await s.receive('github', github('push', body, { delivery: 'second' }));
    expect(again).toMatchObject({
      result: 'duplicate',
      repo: 'alice/shop',
      ref: 'refs/heads/main',
      commit: sha,
      builds: [{ id: recorded[0]!.id, commitSha: sha }],
    });
    expect((again as { message: string }).message).toContain(`build ${recorded[0]!.id} (shop, queued)`);
    // Also on ?repo, and without any id: the same push serialised otherwise (signed anew) has a body hash never seen.
    const spaced = Buffer.from(JSON.stringify(body, null, 1));
    const resigned = {
      headers: {
        'Content-Type': 'application/json',
        'X-GitHub-Event': 'push',
        'X-Hub-Signature-256': `sha256=${createHmac('sha256', SECRET).update(spaced).digest('hex')}`,
      },
      body: spaced,
    };
    expect(await s.receive('github', resigned, 'alice/shop')).toMatchObject({ result: 'duplicate', builds: [{ id: recorded[0]!.id }] });
    expect(pushes).toHaveLength(1);
    expect(fetches).toHaveLength(1);
    expect(links.get('alice', 'shop').last_delivery).toMatchObject({ result: 'duplicate', error: null });
  });

  it('builds the next real push, and a push back to a commit built before (A, B, A, B), each; only a replay of the last is nothing', async () => {
    const { svc: s, recorded } = recording();
    const a = await head();
    const b = await upstream.commit({ 'b.txt': 'b' });
    const moveTo = async (sha: string) => {
      await upstream.git.raw(['reset', '--hard', sha]);
    };
    const answers: HookAnswer[] = [];
    await moveTo(a);
    answers.push(await s.receive('github', github('push', githubPushBody({ after: a }))));
    await moveTo(b);
    answers.push(await s.receive('github', github('push', githubPushBody({ before: a, after: b }))));
    await moveTo(a);
    answers.push(await s.receive('github', github('push', githubPushBody({ before: b, after: a }))));
    await moveTo(b);
    const last = githubPushBody({ before: a, after: b });
    answers.push(await s.receive('github', github('push', last)));
    expect(answers.map((x) => x.result)).toEqual(['queued', 'queued', 'queued', 'queued']);
    expect(recorded.map((x) => x.commitSha)).toEqual([a, b, a, b]);
    const replay = await s.receive('github', github('push', last));
    expect(replay).toMatchObject({ result: 'duplicate', builds: [{ id: recorded[3]!.id }] });
    expect(recorded).toHaveLength(4);
    expect(fetches).toHaveLength(4);
  });

  it('tells a push and its replay sent at once apart: one is built, the other answers with its build', async () => {
    const { svc: s, recorded } = recording();
    const sha = await head();
    const body = githubPushBody({ after: sha });
    const both = await Promise.all([s.receive('github', github('push', body)), s.receive('github', github('push', body))]);
    expect(both.map((x) => x.result).sort()).toEqual(['duplicate', 'queued']);
    expect(recorded).toHaveLength(1);
    expect(both.map((x) => ('builds' in x ? x.builds.map((y) => y.id) : []))).toEqual([[recorded[0]!.id], [recorded[0]!.id]]);
  });
});

describe('WebhookService: deletions', () => {
  it('deletes the ref here and records a zero update for a deleted branch, without fetching', async () => {
    const sha = await head();
    await upstream.git.checkoutLocalBranch('feature');
    const feature = await upstream.commit({ 'f.txt': 'f' });
    await svc.receive('github', github('push', githubPushBody({ ref: 'refs/heads/feature', after: feature })));
    expect(await localSha(shopDir(), 'refs/heads/feature')).toBe(feature);
    fetches = [];

    const answer = await svc.receive('github', github('push', githubPushBody({ ref: 'refs/heads/feature', before: feature, after: ZERO })));
    expect(answer).toEqual({
      result: 'deleted',
      repo: 'alice/shop',
      ref: 'refs/heads/feature',
      commit: ZERO,
      builds: [],
      lines: [`recorded refs/heads/feature ${feature.slice(0, 7)}..0000000`],
    });
    expect(fetches).toEqual([]);
    expect(await localSha(shopDir(), 'refs/heads/feature')).toBeNull();
    expect(pushes[1]).toEqual({
      owner: 'alice',
      repo: 'shop',
      pusher: 'github:octo-cat',
      updates: [{ old: feature, new: ZERO, ref: 'refs/heads/feature' }],
      options: [],
    });
    expect(sha).not.toBe(feature);
  });

  it("records the deletion of a ref this repo never had with the forge's before", async () => {
    const before = 'a'.repeat(40);
    const answer = await svc.receive('github', github('push', githubPushBody({ ref: 'refs/heads/gone', before, after: ZERO })));
    expect(answer).toMatchObject({ result: 'deleted', ref: 'refs/heads/gone' });
    expect(pushes[0]!.updates).toEqual([{ old: before, new: ZERO, ref: 'refs/heads/gone' }]);
  });

  it('treats a ref the upstream no longer has at fetch time as deleted', async () => {
    await upstream.git.checkoutLocalBranch('feature');
    const feature = await upstream.commit({ 'f.txt': 'f' });
    await svc.receive('github', github('push', githubPushBody({ ref: 'refs/heads/feature', after: feature })));
    await upstream.git.checkout('main');
    await upstream.git.deleteLocalBranch('feature', true);

    // A push to feature whose fetch finds it gone (deleted between the push and the fetch).
    const next = await upstream.commit({ 'g.txt': 'g' });
    const answer = await svc.receive('github', github('push', githubPushBody({ ref: 'refs/heads/feature', before: feature, after: next })));
    expect(fetches).toHaveLength(2);
    expect(answer).toMatchObject({ result: 'deleted', ref: 'refs/heads/feature', commit: ZERO });
    expect(await localSha(shopDir(), 'refs/heads/feature')).toBeNull();
    expect(pushes[1]!.updates).toEqual([{ old: feature, new: ZERO, ref: 'refs/heads/feature' }]);
  });

  it("reads Gitea's branch delete event (no shas) as the deletion of refs/heads/<name>", async () => {
    await links.set('carol', 'app', { url: 'https://gitea.example/team/app', forge: 'gitea', webhook_secret: 'carol-secret-0123456789' });
    const sha = await head();
    const gitDir = await repos.ensure('carol', 'app');
    await git(gitDir, 'fetch', '--quiet', upstream.dir, '+refs/heads/main:refs/heads/develop');
    expect(await localSha(gitDir, 'refs/heads/develop')).toBe(sha);
    const body = {
      ref: 'develop',
      ref_type: 'branch',
      pusher_type: 'user',
      repository: {
        full_name: 'team/app',
        html_url: 'https://gitea.example/team/app',
        clone_url: 'https://gitea.example/team/app.git',
        ssh_url: 'git@gitea.example:team/app.git',
      },
      sender: { login: 'carol' },
    };
    const answer = await svc.receive('gitea', gitea('delete', body, { secret: 'carol-secret-0123456789', delivery: 'g-1' }));
    expect(answer).toMatchObject({ result: 'deleted', repo: 'carol/app', ref: 'refs/heads/develop' });
    expect(await localSha(gitDir, 'refs/heads/develop')).toBeNull();
    expect(pushes).toEqual([
      { owner: 'carol', repo: 'app', pusher: 'gitea:carol', updates: [{ old: sha, new: ZERO, ref: 'refs/heads/develop' }], options: [] },
    ]);
    expect(fetches).toEqual([]);
  });
});

describe('WebhookService: ?repo, pings and other events', () => {
  it('refuses a delivery for another upstream than the link named by ?repo, doing nothing', async () => {
    const sha = await head();
    const req = github('push', githubPushBody({ after: sha, url: 'https://github.com/acme/other' }), { delivery: 'd-x' });
    const err = await svc.receive('github', req, 'alice/shop').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BadRequestError);
    expect((err as Error).message).toMatch(
      /the delivery is for acme\/other \(https:\/\/github\.com\/acme\/other\), but alice\/shop is linked to https:\/\/github\.com\/acme\/shop; nothing was done/,
    );
    expect(fetches).toEqual([]);
    expect(pushes).toEqual([]);
    expect(deliveries()).toEqual([]);
  });

  it('builds the ?repo link from a payload whose URLs match it in another form', async () => {
    const sha = await head();
    const answer = await svc.receive('github', github('push', githubPushBody({ after: sha, url: 'https://github.com/Acme/Shop' })), 'alice/shop');
    expect(answer).toMatchObject({ result: 'queued', repo: 'alice/shop' });
  });

  it('refuses ?repo naming no repo, a repo with no link, or one linked to another forge, exactly as a wrong signature', async () => {
    const sha = await head();
    const req = github('push', githubPushBody({ after: sha }), { secret: 'whatever' });
    store.repos.ensure('bob', 'unlinked');
    await links.set('bob', 'lab', { url: 'https://gitlab.example/g/lab', forge: 'gitlab', webhook_secret: 'x'.repeat(16) });
    // An unsigned request must not learn which repos exist here, nor whether and where they are linked.
    for (const repo of ['bob/none', 'bob/unlinked', 'bob/lab', 'alice/shop']) {
      const err = await svc.receive('github', req, repo).catch((e: unknown) => e);
      expect(err, repo).toBeInstanceOf(UnauthorizedError);
      expect((err as Error).message, repo).toBe(refusalMessage('github'));
    }
    // The operator's log tells them apart.
    expect(logged.map((l) => [l.why, l.reason])).toEqual([
      ['not linked', 'bob/none is not linked to an upstream'],
      ['not linked', 'bob/unlinked is not linked to an upstream'],
      ['not linked', 'bob/lab is linked to gitlab, not github'],
      ['signature', "X-Hub-Signature-256 does not match the body signed with this link's webhook secret"],
    ]);
    expect(fetches).toEqual([]);
    expect(pushes).toEqual([]);
    expect(deliveries()).toEqual([]);
  });

  it('refuses a ?repo that is not owner/name', async () => {
    const req = github('ping', { zen: 'hi' });
    for (const bad of ['../etc', 'alice', 'alice/shop/x', 'alice/../shop']) {
      await expect(svc.receive('github', req, bad), bad).rejects.toThrow(BadRequestError);
    }
  });

  it('refuses a push no link matches as a wrong signature, so the bare hook path tells no linked upstream either', async () => {
    const sha = await head();
    const unknown = github('push', githubPushBody({ after: sha, url: 'https://github.com/acme/unknown' }));
    await expect(svc.receive('github', unknown)).rejects.toThrow(refusalMessage('github'));
    // A link to the same URL on another forge is not this forge's.
    await links.set('bob', 'tea', { url: 'https://github.com/acme/unknown', forge: 'gitea', webhook_secret: SECRET });
    await expect(svc.receive('github', unknown)).rejects.toThrow(refusalMessage('github'));
    await expect(svc.receive('github', github('push', githubPushBody({ after: sha }), { secret: 'wrong' }))).rejects.toThrow(refusalMessage('github'));
    expect(logged.map((l) => [l.why, l.reason])).toEqual([
      ['not linked', 'no repo is linked to github https://github.com/acme/unknown'],
      ['not linked', 'no repo is linked to github https://github.com/acme/unknown'],
      ['signature', "X-Hub-Signature-256 does not match the body signed with this link's webhook secret"],
    ]);
    expect(pushes).toEqual([]);
  });

  it('answers a ping with pong, checking the secret when ?repo names the link', async () => {
    const ping = { zen: 'Keep it logically awesome.', hook_id: 1 };
    expect(await svc.receive('github', github('ping', ping, { secret: 'anything' }))).toMatchObject({ result: 'pong' });
    expect(await svc.receive('github', github('ping', ping), 'alice/shop')).toEqual({ result: 'pong', message: 'the hook works: deliveries build alice/shop' });
    await expect(svc.receive('github', github('ping', ping, { secret: 'wrong' }), 'alice/shop')).rejects.toThrow(UnauthorizedError);
    expect(deliveries()).toEqual([]);
  });

  it('ignores other events, after checking the secret when ?repo names the link', async () => {
    const issue = { action: 'opened', issue: { number: 1 }, repository: { full_name: 'acme/shop', html_url: GITHUB } };
    const expected: HookAnswer = { result: 'ignored', message: 'issues: only pushes of branches and tags build; nothing to do' };
    expect(await svc.receive('github', github('issues', issue), 'alice/shop')).toEqual(expected);
    expect(await svc.receive('github', github('issues', issue))).toMatchObject({ result: 'ignored' });
    await expect(svc.receive('github', github('issues', issue, { secret: 'wrong' }), 'alice/shop')).rejects.toThrow(UnauthorizedError);
    // A push to a ref that is neither a branch nor a tag.
    const sha = await head();
    expect(await svc.receive('github', github('push', githubPushBody({ ref: 'refs/pull/1/head', after: sha })), 'alice/shop')).toMatchObject({
      result: 'ignored',
    });
    expect(fetches).toEqual([]);
    expect(pushes).toEqual([]);
    expect(deliveries()).toEqual([]);
  });

  it('refuses a verified delivery it cannot read', async () => {
    const req = github('push', { ref: 'refs/heads/main' });
    await expect(svc.receive('github', req, 'alice/shop')).rejects.toThrow(/github delivery: /);
    await expect(svc.receive('github', req)).rejects.toThrow(BadRequestError);
    expect(pushes).toEqual([]);
  });
});
