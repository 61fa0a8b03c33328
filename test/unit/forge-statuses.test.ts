import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { defaultConfig } from '../../src/config/parse.js';
import type { HttpCall } from '../../src/forges/forge.js';
import { UpstreamLinks } from '../../src/forges/links.js';
import { httpSender, StatusReporter, statusFor, type LookupAll, type StatusReporterDeps, type StatusSender } from '../../src/forges/statuses.js';
import { RepoStore } from '../../src/git/repos.js';
import { createLogger } from '../../src/log.js';
import { openDb, type Db } from '../../src/store/db.js';
import { ForgeStore } from '../../src/store/forges.js';
import type { Build, BuildStatus, PushBuild } from '../../src/store/schema.js';
import { Store } from '../../src/store/store.js';
import { formatDuration } from '../../src/units.js';

const PUBLIC = 'https://build.example.com';
const TOKEN = 'ghp_statusToken0123456789abcdefABCDEF0123';
const SHA = '4d2ab4e76d0d405d17d1a0f2b8a6071394e3ab40';
const T0 = Date.parse('2030-01-01T00:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();

// ---------------------------------------------------------------------------------------------------------
// statusFor

function build(over: Partial<Build>): Build {
  return {
    id: 7,
    source: 'push',
    repoId: 1,
    repo: 'alice/shop',
    owner: 'alice',
    ref: 'refs/heads/main',
    refType: 'branch',
    refName: 'main',
    commitSha: SHA,
    uploadId: null,
    uploadFolder: null,
    contextBytes: null,
    image: 'shop',
    config: null,
    imageRefs: [],
    digest: null,
    status: 'queued',
    reason: null,
    reasonCode: null,
    pusher: 'alice',
    queuedAt: '2030-01-01T00:00:00.000Z',
    startedAt: null,
    finishedAt: null,
    attempts: 0,
    notBefore: null,
    builder: null,
    builderIdentity: null,
    steps: null,
    logExpiredAt: null,
    scan: null,
    insight: null,
    platforms: null,
    ...over,
  };
}

describe('statusFor', () => {
  it('is pending while queued or running, naming the builder', () => {
    expect(statusFor(build({ status: 'queued' }))).toEqual({ state: 'pending', description: 'queued' });
    expect(statusFor(build({ status: 'running', builder: 'bk-1' }))).toEqual({ state: 'pending', description: 'building on bk-1' });
    expect(statusFor(build({ status: 'running' }))).toEqual({ state: 'pending', description: 'building' });
  });

  it('is success when built, with the time it took', () => {
    const s = statusFor(build({ status: 'succeeded', startedAt: '2030-01-01T00:00:00.000Z', finishedAt: '2030-01-01T00:01:03.000Z' }));
    expect(s).toEqual({ state: 'success', description: `built shop in ${formatDuration(63_000)}` });
    expect(statusFor(build({ status: 'succeeded' }))).toEqual({ state: 'success', description: 'built shop' });
  });

  it.each(['infrastructure', 'interrupted'])('is error for a failure of the service (%s)', (reasonCode) => {
    expect(statusFor(build({ status: 'failed', reasonCode, reason: 'the builder went away' }))).toEqual({
      state: 'error',
      description: 'the builder went away',
    });
  });

  it.each(['config', 'user', 'quota', 'timeout', null])('is failure for a failure of the commit (%s)', (reasonCode) => {
    expect(statusFor(build({ status: 'failed', reasonCode, reason: 'RUN make exited 2' }))).toEqual({ state: 'failure', description: 'RUN make exited 2' });
  });

  it("carries the scan's counts: a success says what it found, a blocked image is a failure saying how many block", () => {
    const scan = (status: string, counts: Record<string, number>, blocking: string[]) => ({
      status,
      reason: null,
      counts: { critical: 0, high: 0, medium: 0, low: 0, unknown: 0, ...counts },
      fixable: 0,
      db_imported_at: '2030-01-01T00:00:00.000Z',
      fail_on: 'high',
      blocking,
      expired: [],
      packages: 9,
      policy: { failOn: 'high', failOnFrom: 'file', ignoreUnfixed: false, allow: [], vex: [] },
      vex: [],
    });
    expect(statusFor(build({ status: 'succeeded', scan: scan('passed', {}, []) }))).toEqual({
      state: 'success',
      description: 'built shop; vulnerabilities: none found',
    });
    expect(statusFor(build({ status: 'succeeded', scan: scan('passed', { medium: 2, low: 1 }, []) }))).toEqual({
      state: 'success',
      description: 'built shop; vulnerabilities: 2 medium, 1 low',
    });
    const blocked = build({
      status: 'failed',
      reasonCode: 'vulnerabilities',
      reason: 'long',
      scan: scan('failed', { high: 1, unknown: 1 }, ['CVE-2021-23337 (GHSA-35jh-r3h4-6jhm) in lodash 4.17.20: high, fixed in 4.17.21']),
    });
    expect(statusFor(blocked)).toEqual({ state: 'failure', description: 'shop blocked by its scan; vulnerabilities: 1 high, 1 blocking' });
    expect(statusFor(build({ status: 'succeeded', scan: { ...scan('error', {}, []), reason: 'x' } }))).toEqual({
      state: 'success',
      description: 'built shop; not scanned',
    });
  });

  it('describes a failure without a reason as failed', () => {
    expect(statusFor(build({ status: 'failed', reasonCode: 'user' }))).toEqual({ state: 'failure', description: 'failed' });
  });

  it('is error when canceled, with the reason if any', () => {
    expect(statusFor(build({ status: 'canceled', reasonCode: 'canceled', reason: 'canceled by alice' }))).toEqual({
      state: 'error',
      description: 'canceled: canceled by alice',
    });
    expect(statusFor(build({ status: 'canceled' }))).toEqual({ state: 'error', description: 'canceled' });
  });

  it('owes nothing for a commit with nothing to build, but an error for one skipped for lack of room', () => {
    expect(statusFor(build({ status: 'skipped', reasonCode: 'skipped', reason: 'no Dockerfile' }))).toBeNull();
    expect(statusFor(build({ status: 'skipped', reasonCode: 'queue_full', reason: 'alice has 100 builds queued' }))).toEqual({
      state: 'error',
      description: 'alice has 100 builds queued',
    });
    expect(statusFor(build({ status: 'skipped', reasonCode: 'queue_full' }))).toEqual({ state: 'error', description: 'not built' });
  });
});

// ---------------------------------------------------------------------------------------------------------
// StatusReporter

type Answer = { status: number; body?: string; retryAfter?: string } | Error | (() => Promise<{ status: number; body: string; retryAfter?: string }>);

/** A forge that answers from a script (the last answer repeats) and records each call with the (fake) time it came. */
class FakeForge {
  calls: { call: HttpCall; at: number; body: Record<string, unknown> }[] = [];
  constructor(private answers: Answer[] = [{ status: 201 }]) {}
  answer(...answers: Answer[]): void {
    this.answers = answers;
  }
  readonly send: StatusSender = (call) => {
    this.calls.push({ call, at: Date.now() - T0, body: JSON.parse(call.body) as Record<string, unknown> });
    const a = this.answers.length > 1 ? this.answers.shift()! : this.answers[0]!;
    if (a instanceof Error) return Promise.reject(a);
    if (typeof a === 'function') return a();
    return Promise.resolve({ status: a.status, body: a.body ?? '', ...(a.retryAfter !== undefined ? { retryAfter: a.retryAfter } : {}) });
  };
  get states(): unknown[] {
    return this.calls.map((c) => c.body.state);
  }
}

interface Env {
  db: Db;
  store: Store;
  forges: ForgeStore;
  links: UpstreamLinks;
  forge: FakeForge;
  reporter: StatusReporter;
  logLines: string[];
  /** A build of alice/shop (linked), recorded in the database. */
  addBuild(status?: BuildStatus, over?: Partial<Build>, repo?: string): PushBuild;
  newReporter(over?: Partial<StatusReporterDeps>): StatusReporter;
}

const reporters: StatusReporter[] = [];
const dbs: Db[] = [];

afterEach(async () => {
  for (const r of reporters.splice(0)) await r.stop();
  vi.useRealTimers();
  for (const db of dbs.splice(0)) db.$client.close();
});

/**
 * alice/shop linked to a GitHub repository with a status token (unless `link` says otherwise), a fake forge,
 * and a reporter started under fake timers at T0 (Date.now is the fake clock, and the reporter's `now`).
 */
async function setup(
  opts: { link?: Record<string, unknown> | null; deps?: Partial<StatusReporterDeps>; answers?: Answer[]; dbFile?: string; start?: boolean } = {},
): Promise<Env> {
  vi.useRealTimers();
  const db = openDb(opts.dbFile ?? ':memory:');
  dbs.push(db);
  const store = new Store(db);
  const forges = new ForgeStore(db);
  const repos = new RepoStore(mkdtempSync(join(tmpdir(), 'chb-statuses-')));
  const key = Buffer.alloc(32, 7);
  const links = new UpstreamLinks({ store, forges, repos, key, publicUrl: PUBLIC });
  if (opts.link !== null) {
    await links.set(
      'alice',
      'shop',
      opts.link ?? { url: 'https://github.com/acme/shop', forge: 'github', webhook_secret: 'hook secret 0123456789', status_token: TOKEN },
    );
  }
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'], now: T0 });
  const forge = new FakeForge(opts.answers);
  const logLines: string[] = [];
  const log = createLogger({ write: (l) => logLines.push(l), level: 'debug' });
  const newReporter = (over: Partial<StatusReporterDeps> = {}) => {
    const r = new StatusReporter({ forges, links, log, publicUrl: PUBLIC, send: forge.send, now: () => Date.now(), ...opts.deps, ...over });
    reporters.push(r);
    return r;
  };
  const reporter = newReporter();
  if (opts.start !== false) reporter.start();
  let n = 0;
  const addBuild = (status: BuildStatus = 'queued', over: Partial<Build> = {}, repo = 'alice/shop'): PushBuild => {
    const [owner, name] = repo.split('/') as [string, string];
    const repoId = store.repos.ensure(owner, name).id;
    const [b] = store.builds.insert(
      [
        {
          repoId,
          repo,
          owner,
          ref: 'refs/heads/main',
          refType: 'branch' as const,
          refName: 'main',
          commitSha: over.commitSha ?? SHA.slice(0, 38) + String(10 + n++).slice(-2),
          image: name,
          status,
          pusher: owner,
          config: { ...defaultConfig(name).images[0]! },
        },
      ],
      () => [],
    );
    return { ...b!, ...over } as PushBuild;
  };
  return { db, store, forges, links, forge, reporter, logLines, addBuild, newReporter };
}

/** Lets the reporter run what is due at the fake time `ms` from now (timers and the promises they start). */
const tick = (ms = 0) => vi.advanceTimersByTimeAsync(ms);
const ended = (b: PushBuild, status: BuildStatus, over: Partial<Build> = {}): PushBuild => ({ ...b, status, ...over }) as PushBuild;

describe('StatusReporter', () => {
  it("sends pending for a queued build of a linked repo: GitHub's URL, the build page, the image's context", async () => {
    const e = await setup();
    const b = e.addBuild();
    e.reporter.queued(b);
    await tick();
    expect(e.forge.calls).toHaveLength(1);
    const { call, body } = e.forge.calls[0]!;
    expect(call.method).toBe('POST');
    expect(call.url).toBe(`https://api.github.com/repos/acme/shop/statuses/${b.commitSha}`);
    expect(call.headers.Authorization).toBe(`Bearer ${TOKEN}`);
    expect(body).toEqual({ state: 'pending', target_url: `${PUBLIC}/builds/${b.id}`, description: 'queued', context: 'codehub-build/shop' });
    expect(e.forges.status(b.id)).toMatchObject({ state: 'pending', deliveredState: 'pending', attempts: 0, error: null, nextAttemptAt: null, gaveUp: false });
  });

  it.each([
    [
      'gitea',
      'https://gitea.example/acme/shop.git',
      undefined,
      (sha: string) => `https://gitea.example/api/v1/repos/acme/shop/statuses/${sha}`,
      `token ${TOKEN}`,
      'Authorization',
    ],
    [
      'gitlab',
      'https://gitlab.example/acme/sub/shop',
      undefined,
      (sha: string) => `https://gitlab.example/api/v4/projects/acme%2Fsub%2Fshop/statuses/${sha}`,
      TOKEN,
      'PRIVATE-TOKEN',
    ],
    [
      'github',
      'https://ghe.corp.example/acme/shop',
      undefined,
      (sha: string) => `https://ghe.corp.example/api/v3/repos/acme/shop/statuses/${sha}`,
      `Bearer ${TOKEN}`,
      'Authorization',
    ],
    [
      'gitea',
      'https://code.example/git/acme/shop',
      'https://api.code.example/v1/',
      (sha: string) => `https://api.code.example/v1/repos/acme/shop/statuses/${sha}`,
      `token ${TOKEN}`,
      'Authorization',
    ],
  ])('sends to %s at the API of %s (api_url %s)', async (forgeName, url, apiUrl, expected, auth, header) => {
    const e = await setup({ link: { url, forge: forgeName, webhook_secret: 's'.repeat(16), status_token: TOKEN, ...(apiUrl ? { api_url: apiUrl } : {}) } });
    const b = e.addBuild();
    e.reporter.queued(b);
    await tick();
    expect(e.forge.calls.map((c) => c.call.url)).toEqual([expected(b.commitSha)]);
    expect(e.forge.calls[0]!.call.headers[header]).toBe(auth);
    expect(e.forge.calls[0]!.body).toMatchObject({ target_url: `${PUBLIC}/builds/${b.id}` });
    if (forgeName === 'gitlab') expect(e.forge.calls[0]!.body).toMatchObject({ state: 'pending', name: 'codehub-build/shop', ref: 'main' });
    else expect(e.forge.calls[0]!.body).toMatchObject({ state: 'pending', context: 'codehub-build/shop' });
  });

  it('sends and records nothing for a repo without a link, a link without a status token, an upload, or a commit with nothing to build', async () => {
    const e = await setup({ link: { url: 'https://github.com/acme/shop', forge: 'github', webhook_secret: 's'.repeat(16) } });
    const noToken = e.addBuild();
    const unlinked = e.addBuild('queued', {}, 'bob/tool');
    e.reporter.queued(noToken);
    e.reporter.ended(ended(noToken, 'succeeded'));
    e.reporter.queued(unlinked);
    e.reporter.ended(ended(unlinked, 'failed', { reasonCode: 'user' }));
    e.reporter.ended({ ...ended(unlinked, 'succeeded'), source: 'upload', repoId: null, ref: null, refName: null, commitSha: null } as Build as PushBuild);
    await tick(60_000);
    expect(e.forge.calls).toEqual([]);
    expect(e.forges.status(noToken.id)).toBeUndefined();
    expect(e.forges.status(unlinked.id)).toBeUndefined();

    const linked = await setup();
    const nothing = linked.addBuild('skipped', { reasonCode: 'skipped', reason: 'no Dockerfile' });
    linked.reporter.queued(nothing);
    linked.reporter.ended(nothing);
    await tick(60_000);
    expect(linked.forge.calls).toEqual([]);
    expect(linked.forges.status(nothing.id)).toBeUndefined();
  });

  it('sends the result after the delivered pending', async () => {
    const e = await setup();
    const b = e.addBuild();
    e.reporter.queued(b);
    await tick();
    e.reporter.ended(ended(b, 'failed', { reasonCode: 'config', reason: 'codehub-build.yaml: bad key' }));
    await tick();
    expect(e.forge.calls.map((c) => [c.body.state, c.body.description])).toEqual([
      ['pending', 'queued'],
      ['failure', 'codehub-build.yaml: bad key'],
    ]);
    expect(e.forges.status(b.id)).toMatchObject({ state: 'failure', deliveredState: 'failure', nextAttemptAt: null, attempts: 0, gaveUp: false });
    await tick(3_600_000);
    expect(e.forge.calls).toHaveLength(2);
  });

  it('does not send pending for a build whose end is already owed (queued arriving after ended)', async () => {
    const e = await setup();
    const b = e.addBuild();
    e.reporter.ended(ended(b, 'succeeded'));
    e.reporter.queued(b);
    await tick(60_000);
    expect(e.forge.states).toEqual(['success']);
    expect(e.forges.status(b.id)).toMatchObject({ state: 'success', deliveredState: 'success', nextAttemptAt: null });

    const skipped = e.addBuild('skipped', { reasonCode: 'queue_full', reason: 'queue full' });
    e.reporter.queued(skipped);
    e.reporter.ended(skipped);
    await tick();
    expect(e.forge.calls.map((c) => [c.body.state, c.body.description])).toEqual([
      ['success', 'built shop'],
      ['error', 'queue full'],
    ]);
  });

  it('sends only the result when the build ends while its pending is being retried', async () => {
    const e = await setup({ answers: [{ status: 500 }] });
    const b = e.addBuild();
    e.reporter.queued(b);
    await tick();
    expect(e.forges.status(b.id)).toMatchObject({ state: 'pending', attempts: 1, deliveredState: null });
    e.forge.answer({ status: 201 });
    e.reporter.ended(ended(b, 'succeeded'));
    await tick();
    expect(e.forge.states).toEqual(['pending', 'success']);
    expect(e.forges.status(b.id)).toMatchObject({ state: 'success', deliveredState: 'success', attempts: 0, error: null, nextAttemptAt: null });
    await tick(3_600_000);
    expect(e.forge.states).toEqual(['pending', 'success']);
  });

  it('sends the result right after a pending that was in flight when the build ended, whether the pending was accepted or not', async () => {
    for (const pendingAnswer of [201, 500]) {
      const e = await setup();
      let release!: () => void;
      e.forge.answer(
        () =>
          new Promise((resolve) => {
            release = () => resolve({ status: pendingAnswer, body: '' });
          }),
        { status: 201 },
      );
      const b = e.addBuild();
      e.reporter.queued(b);
      await tick();
      expect(e.forge.states).toEqual(['pending']);
      e.reporter.ended(ended(b, 'canceled', { reason: 'superseded by #9' }));
      await tick();
      expect(e.forge.states).toEqual(['pending']); // one call at a time per build
      release();
      await tick();
      expect(e.forge.states, `pending answered ${pendingAnswer}`).toEqual(['pending', 'error']);
      expect(e.forges.status(b.id)).toMatchObject({ state: 'error', deliveredState: 'error', nextAttemptAt: null, attempts: 0, error: null });
      await e.reporter.stop();
      vi.useRealTimers();
    }
  });

  it('retries a forge that does not answer, doubling from baseMs up to maxMs, and records each failure', async () => {
    const refused = Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
    const e = await setup({ answers: [refused], deps: { baseMs: 1000, maxMs: 8000 } });
    const b = e.addBuild();
    e.reporter.queued(b);
    await tick();
    expect(e.forges.status(b.id)).toEqual(
      expect.objectContaining({
        state: 'pending',
        deliveredState: null,
        attempts: 1,
        gaveUp: false,
        nextAttemptAt: iso(T0 + 1000),
        error: 'github at api.github.com did not answer (ECONNREFUSED)',
      }),
    );
    await tick(999);
    expect(e.forge.calls).toHaveLength(1);
    await tick(1);
    expect(e.forge.calls).toHaveLength(2);
    await tick(60_000 - 1000);
    expect(e.forge.calls.map((c) => c.at)).toEqual([0, 1000, 3000, 7000, 15_000, 23_000, 31_000, 39_000, 47_000, 55_000]);
    expect(e.forges.status(b.id)).toMatchObject({ attempts: 10, nextAttemptAt: iso(T0 + 63_000), gaveUp: false, deliveredState: null });

    e.forge.answer({ status: 201 });
    await tick(8000);
    expect(e.forge.calls).toHaveLength(11);
    expect(e.forges.status(b.id)).toMatchObject({ deliveredState: 'pending', attempts: 0, error: null, nextAttemptAt: null, gaveUp: false });
  });

  it('uses the default back-off of 1 s doubling to 60 s', async () => {
    const e = await setup({ answers: [{ status: 502, body: '<html>Bad Gateway</html>' }] });
    const b = e.addBuild();
    e.reporter.queued(b);
    await tick(300_000);
    expect(e.forge.calls.map((c) => c.at)).toEqual([0, 1000, 3000, 7000, 15_000, 31_000, 63_000, 123_000, 183_000, 243_000]);
    // Only a forge's JSON message is shown (the error is on the build for all its readers): not a page's HTML.
    expect(e.forges.status(b.id)!.error).toBe('github at api.github.com answered HTTP 502');
  });

  it('says a call that timed out had no answer within timeoutMs', async () => {
    const timeout = Object.assign(new Error('The operation was aborted due to timeout'), { name: 'TimeoutError' });
    const e = await setup({ answers: [timeout], deps: { timeoutMs: 2500 } });
    const b = e.addBuild();
    e.reporter.queued(b);
    await tick();
    expect(e.forges.status(b.id)).toMatchObject({
      attempts: 1,
      error: 'github at api.github.com did not answer (no answer within 2.5 s)',
      nextAttemptAt: iso(T0 + 1000),
    });
  });

  it('waits as long as a 503 or 429 asks with Retry-After, bounded by ten times maxMs', async () => {
    const e = await setup({ answers: [{ status: 503, body: '{"message":"maintenance"}', retryAfter: '30' }] });
    const b = e.addBuild();
    e.reporter.queued(b);
    await tick();
    expect(e.forges.status(b.id)).toMatchObject({
      attempts: 1,
      error: 'github at api.github.com answered HTTP 503: maintenance',
      nextAttemptAt: iso(T0 + 30_000),
      gaveUp: false,
    });
    await tick(29_999);
    expect(e.forge.calls).toHaveLength(1);
    e.forge.answer({ status: 429, retryAfter: '100000' });
    await tick(1);
    expect(e.forge.calls).toHaveLength(2);
    expect(e.forges.status(b.id)).toMatchObject({ attempts: 2, nextAttemptAt: iso(T0 + 30_000 + 600_000) });
    // A Retry-After shorter than the back-off, or not a number of seconds, leaves the back-off.
    e.forge.answer({ status: 503, retryAfter: 'Wed, 21 Oct 2015 07:28:00 GMT' });
    await tick(600_000);
    expect(e.forges.status(b.id)).toMatchObject({ attempts: 3, nextAttemptAt: iso(T0 + 630_000 + 4000) });
  });

  it.each([
    [401, /refused the status \(HTTP 401: Bad credentials\); give the link a status_token that may set commit statuses/],
    [403, /refused the status \(HTTP 403: Bad credentials\); give the link a status_token/],
    [404, /refused the status \(HTTP 404: Bad credentials\); check the link's url \(and api_url\)/],
    [422, /refused the status \(HTTP 422: Bad credentials\); the forge does not accept this commit or state \(is the commit on the forge\?\)/],
    [400, /refused the status \(HTTP 400: Bad credentials\); check the link's url and api_url/],
  ])('gives up at once on HTTP %i, saying how to fix the link', async (status, why) => {
    const e = await setup({ answers: [{ status, body: '{"message": " Bad\\n  credentials ", "documentation_url": "https://docs.github.com/rest"}' }] });
    const b = e.addBuild();
    e.reporter.queued(b);
    await tick();
    const row = e.forges.status(b.id)!;
    expect(row).toMatchObject({ state: 'pending', deliveredState: null, gaveUp: true, nextAttemptAt: null, attempts: 1 });
    expect(row.error).toMatch(/^github at api\.github\.com refused/);
    expect(row.error).toMatch(why);
    await tick(86_400_000);
    expect(e.forge.calls).toHaveLength(1);
    expect(e.forges.nextDue()).toBeUndefined();
  });

  it('tries the result again after its pending was refused', async () => {
    const e = await setup({ answers: [{ status: 422 }] });
    const b = e.addBuild();
    e.reporter.queued(b);
    await tick();
    expect(e.forges.status(b.id)!.gaveUp).toBe(true);
    e.forge.answer({ status: 201 });
    e.reporter.ended(ended(b, 'succeeded'));
    await tick();
    expect(e.forge.states).toEqual(['pending', 'success']);
    expect(e.forges.status(b.id)).toMatchObject({ state: 'success', deliveredState: 'success', gaveUp: false, error: null });
  });

  it('gives up a state still not delivered giveUpAfterMs after it was wanted', async () => {
    const e = await setup({ answers: [{ status: 500, body: '{"error":"oops"}' }], deps: { baseMs: 1000, maxMs: 4000, giveUpAfterMs: 5000 } });
    const b = e.addBuild();
    e.reporter.queued(b);
    await tick(60_000);
    expect(e.forge.calls.map((c) => c.at)).toEqual([0, 1000, 3000, 7000]);
    const row = e.forges.status(b.id)!;
    expect(row).toMatchObject({ gaveUp: true, nextAttemptAt: null, attempts: 4, deliveredState: null });
    expect(row.error).toBe(`github at api.github.com answered HTTP 500: oops; gave up after ${formatDuration(5000)} of retries`);
  });

  it('counts the deadline from when the latest state was wanted, not the first', async () => {
    const e = await setup({ answers: [{ status: 500 }], deps: { baseMs: 1000, maxMs: 4000, giveUpAfterMs: 5000 } });
    const b = e.addBuild();
    e.reporter.queued(b);
    await tick(4000);
    e.reporter.ended(ended(b, 'succeeded'));
    await tick(4000); // 8 s after the pending, 4 s after the success: the success is still retried
    expect(e.forges.status(b.id)).toMatchObject({ state: 'success', gaveUp: false });
    await tick(60_000);
    expect(e.forges.status(b.id)).toMatchObject({ state: 'success', gaveUp: true });
  });

  it('never stores or logs the status token, even when the forge echoes it', async () => {
    for (const status of [401, 500]) {
      const e = await setup({ answers: [{ status, body: `{"message":"token ${TOKEN} is not valid","auth":"Bearer ${TOKEN}"}` }] });
      const b = e.addBuild();
      e.reporter.queued(b);
      await tick();
      const row = e.forges.status(b.id)!;
      expect(row.error).toContain('is not valid');
      expect(row.error).toContain('***');
      expect(row.error).not.toContain(TOKEN);
      expect(e.logLines.join('\n')).not.toContain(TOKEN);
      await e.reporter.stop();
      vi.useRealTimers();
    }
  });

  it("never stores part of the status token when the forge's echo is cut at the error's length", async () => {
    // The answer is cut to 200 characters before the token is masked: a token across the cut is left half in clear.
    const e = await setup({ answers: [{ status: 401, body: JSON.stringify({ message: `${'x'.repeat(180)} ${TOKEN}` }) }] });
    const b = e.addBuild();
    e.reporter.queued(b);
    await tick();
    const row = e.forges.status(b.id)!;
    expect(row.gaveUp).toBe(true);
    expect(row.error).not.toContain(TOKEN.slice(0, 12));
  });

  it('sends the status on the commit an annotated tag names (commitOf), not on the tag object the build recorded', async () => {
    const e = await setup({ start: false });
    const tagObject = 'a'.repeat(40);
    const commit = 'c'.repeat(40);
    const r = e.newReporter({ commitOf: async (owner, name, sha) => (owner === 'alice' && name === 'shop' && sha === tagObject ? commit : sha) });
    r.start();
    r.queued(e.addBuild('queued', { commitSha: tagObject }));
    await tick();
    expect(e.forge.calls.map((c) => c.call.url)).toEqual([`https://api.github.com/repos/acme/shop/statuses/${commit}`]);
  });

  it('sends no status to a host the operator does not allow, whatever the link says', async () => {
    const e = await setup({ start: false });
    const r = e.newReporter({ allowHost: (h) => h.endsWith('.corp.example') });
    r.start();
    const b = e.addBuild();
    r.queued(b);
    await tick();
    expect(e.forge.calls).toEqual([]);
    expect(e.forges.status(b.id)).toMatchObject({ gaveUp: true, error: expect.stringContaining('not among the hosts the operator allows') });
  });

  it.each([
    ['api_url', 'http://169.254.169.254/latest'],
    ['api_url', 'http://[::ffff:a9fe:a9fe]/api/v3'],
    ['api_url', 'http://[fe80::1]/api/v3'],
    ['url', 'http://2852039166/acme/shop'],
  ])('sends no status to a link-local %s stored before the rule (%s), and says why', async (column, value) => {
    const e = await setup({ start: false });
    e.db.$client.prepare(`UPDATE upstreams SET ${column === 'url' ? 'url' : 'api_url'} = ?`).run(value);
    const r = e.newReporter();
    r.start();
    const b = e.addBuild();
    r.queued(b);
    await tick();
    expect(e.forge.calls).toEqual([]);
    expect(e.forges.status(b.id)).toMatchObject({
      gaveUp: true,
      nextAttemptAt: null,
      error: expect.stringMatching(/a link-local address; link-local addresses .* are refused unless the operator lists the host in CODEHUB_UPSTREAM_HOSTS/),
    });
    // The operator listing the host lets it through.
    const host = new URL(value).hostname;
    const listed = e.newReporter({ allowHost: (h) => h === host });
    listed.start();
    const b2 = e.addBuild();
    listed.queued(b2);
    await tick();
    expect(e.forge.calls.map((c) => new URL(c.call.url).hostname)).toEqual([host]);
  });

  it("stops sending an older build's status for the same commit and context once a newer build reports on it", async () => {
    const e = await setup({ answers: [{ status: 503 }] });
    const older = e.addBuild('queued', { commitSha: SHA });
    e.reporter.ended(ended(older, 'failed', { reasonCode: 'user', reason: 'RUN false' }));
    await tick();
    expect(e.forges.status(older.id)).toMatchObject({ state: 'failure', gaveUp: false });
    // A rebuild of the same commit succeeds while the forge is still down: the old failure must not land after it.
    e.forge.answer({ status: 201 });
    const newer = e.addBuild('queued', { commitSha: SHA });
    e.reporter.ended(ended(newer, 'succeeded'));
    await tick(120_000);
    expect(e.forges.status(older.id)).toMatchObject({
      gaveUp: true,
      nextAttemptAt: null,
      error: `not sent: build #${newer.id} reports on the same commit and context now`,
    });
    expect(e.forge.states.at(-1)).toBe('success');
    expect(e.forge.states.filter((x) => x === 'failure')).toHaveLength(1); // only the attempt made before the newer build
  });

  it("retries a 403 that asks to wait (GitHub's rate limits answer 403 with Retry-After) instead of giving up", async () => {
    const e = await setup({ answers: [{ status: 403, body: 'You have exceeded a secondary rate limit', retryAfter: '60' }, { status: 201 }] });
    const b = e.addBuild();
    e.reporter.queued(b);
    await tick();
    expect(e.forges.status(b.id)).toMatchObject({ gaveUp: false, nextAttemptAt: iso(T0 + 60_000) });
    await tick(60_000);
    expect(e.forges.status(b.id)).toMatchObject({ deliveredState: 'pending' });
  });

  it('gives up a status whose repo was unlinked before it was sent', async () => {
    const e = await setup({ answers: [{ status: 500 }] });
    const b = e.addBuild();
    e.reporter.queued(b);
    await tick();
    e.links.remove('alice', 'shop');
    await tick(1000);
    expect(e.forge.calls).toHaveLength(1);
    expect(e.forges.status(b.id)).toMatchObject({ gaveUp: true, nextAttemptAt: null, error: 'the repo is no longer linked to an upstream' });
  });

  it('never throws into queued() or ended(), whatever the sender does', async () => {
    const e = await setup();
    const b = e.addBuild();
    const throwing: StatusSender = () => {
      throw new Error('sender exploded');
    };
    const r = e.newReporter({ send: throwing });
    r.start();
    expect(() => r.queued(b)).not.toThrow();
    await tick();
    expect(() => r.ended(ended(b, 'succeeded'))).not.toThrow();
    await tick();
    expect(e.forges.status(b.id)).toMatchObject({
      state: 'success',
      attempts: 1,
      error: 'github at api.github.com did not answer (sender exploded)',
      gaveUp: false,
    });

    const rejecting = e.newReporter({ send: () => Promise.reject(new Error('rejected')) });
    rejecting.start();
    const b2 = e.addBuild();
    expect(() => rejecting.queued(b2)).not.toThrow();
    await tick();
    expect(e.forges.status(b2.id)).toMatchObject({ attempts: 1, error: 'github at api.github.com did not answer (rejected)' });
  });

  it('records what is owed while stopped and sends it at start', async () => {
    const e = await setup({ start: false });
    const b = e.addBuild();
    e.reporter.queued(b);
    e.reporter.ended(ended(b, 'succeeded'));
    await tick(60_000);
    expect(e.forge.calls).toEqual([]);
    expect(e.forges.status(b.id)).toMatchObject({ state: 'success', deliveredState: null, nextAttemptAt: iso(T0) });
    e.reporter.start();
    await tick();
    expect(e.forge.states).toEqual(['success']);
  });

  it('sends nothing after stop()', async () => {
    const e = await setup({ answers: [{ status: 500 }] });
    const b = e.addBuild();
    e.reporter.queued(b);
    await tick();
    await e.reporter.stop();
    e.reporter.ended(ended(b, 'succeeded'));
    await tick(3_600_000);
    expect(e.forge.calls).toHaveLength(1);
    expect(e.forges.status(b.id)).toMatchObject({ state: 'success', deliveredState: null });
  });

  it('resumes after a restart: a new reporter over the same database file sends what the stopped one still owed', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'chb-statuses-db-')), 'codehub.db');
    const first = await setup({ dbFile: file, answers: [{ status: 503 }] });
    const failing = first.addBuild();
    const owed = first.addBuild();
    first.reporter.queued(failing);
    await tick();
    await first.reporter.stop();
    first.reporter.ended(ended(owed, 'failed', { reasonCode: 'timeout', reason: 'took longer than 1h' }));
    expect(first.forge.calls).toHaveLength(1);
    vi.useRealTimers();
    first.db.$client.close();
    dbs.splice(dbs.indexOf(first.db), 1);

    // The next process: its own database handle, links, forge and reporter.
    const db = openDb(file);
    dbs.push(db);
    const store = new Store(db);
    const forges = new ForgeStore(db);
    const links = new UpstreamLinks({
      store,
      forges,
      repos: new RepoStore(mkdtempSync(join(tmpdir(), 'chb-statuses-'))),
      key: Buffer.alloc(32, 7),
      publicUrl: PUBLIC,
    });
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'], now: T0 + 500 });
    const forge = new FakeForge([{ status: 201 }]);
    const second = new StatusReporter({ forges, links, log: createLogger({ write: () => {} }), publicUrl: PUBLIC, send: forge.send, now: () => Date.now() });
    reporters.push(second);
    second.start();
    await tick();
    expect(forge.calls.map((c) => [c.call.url, c.body.state])).toEqual([[`https://api.github.com/repos/acme/shop/statuses/${owed.commitSha}`, 'failure']]);
    await tick(500); // the retry of the first one falls due at T0 + 1 s
    expect(forge.calls.map((c) => [c.call.url, c.body.state])).toEqual([
      [`https://api.github.com/repos/acme/shop/statuses/${owed.commitSha}`, 'failure'],
      [`https://api.github.com/repos/acme/shop/statuses/${failing.commitSha}`, 'pending'],
    ]);
    expect(forges.status(failing.id)).toMatchObject({ deliveredState: 'pending', attempts: 0, nextAttemptAt: null });
    expect(forges.status(owed.id)).toMatchObject({ deliveredState: 'failure', nextAttemptAt: null });
  });

  it("sends many builds' statuses, a few at a time, each once", async () => {
    const e = await setup();
    let inFlight = 0;
    let most = 0;
    e.forge.answer(async () => {
      most = Math.max(most, ++inFlight);
      await new Promise((r) => setTimeout(r, 10));
      inFlight--;
      return { status: 201, body: '' };
    });
    const bs = Array.from({ length: 40 }, () => e.addBuild());
    for (const b of bs) e.reporter.queued(b);
    await tick(1000);
    expect(e.forge.calls).toHaveLength(40);
    expect(new Set(e.forge.calls.map((c) => c.body.target_url)).size).toBe(40);
    expect(most).toBeGreaterThan(1);
    expect(most).toBeLessThanOrEqual(4);
    for (const b of bs) expect(e.forges.status(b.id)!.deliveredState).toBe('pending');
  });
});

// ---------------------------------------------------------------------------------------------------------
// httpSender: what a status API's host name resolves to

describe('httpSender', () => {
  const call = (url: string): HttpCall => ({
    method: 'POST',
    url,
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${TOKEN}` },
    body: '{"state":"pending"}',
  });
  /** A resolver that knows some names only, as a DNS server an owner controls could answer. */
  const resolver = (names: Record<string, string[]>): { lookupAll: LookupAll; asked: string[] } => {
    const asked: string[] = [];
    const lookupAll: LookupAll = (host, _family, done) => {
      asked.push(host);
      const a = names[host];
      if (!a) return done(Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' }), []);
      return done(
        null,
        a.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })),
      );
    };
    return { lookupAll, asked };
  };

  async function withServer<T>(f: (port: number, seen: IncomingHttpHeaders[]) => Promise<T>): Promise<T> {
    const seen: IncomingHttpHeaders[] = [];
    const server = createServer((req, res) => {
      seen.push(req.headers);
      req.resume();
      req.on('end', () => res.writeHead(201, { 'content-type': 'application/json', 'x-ratelimit-remaining': '9' }).end('{"message":"created"}'));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      return await f((server.address() as AddressInfo).port, seen);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  }

  it('connects to the addresses it checked: a name resolving to a loopback address is reached there', async () => {
    await withServer(async (port, seen) => {
      const { lookupAll, asked } = resolver({ 'forge.test': ['127.0.0.1'] });
      const answer = await httpSender({ lookupAll })(call(`http://forge.test:${port}/api/v1/repos/a/b/statuses/${SHA}`), AbortSignal.timeout(5000));
      expect(answer).toMatchObject({ status: 201, body: '{"message":"created"}', rateLimited: false });
      expect(asked).toEqual(['forge.test']);
      expect(seen.map((h) => [h.host, h.authorization])).toEqual([[`forge.test:${port}`, `Bearer ${TOKEN}`]]);
    });
  });

  it.each([[['169.254.169.254']], [['10.0.0.8', '169.254.169.254']], [['fe80::1']], [['::ffff:169.254.169.254']]])(
    'refuses a name resolving to a link-local address (%j) without connecting, saying so',
    async (addresses) => {
      await withServer(async (port, seen) => {
        const { lookupAll } = resolver({ 'meta.test': addresses });
        const err = await httpSender({ lookupAll })(call(`http://meta.test:${port}/api/v1`), AbortSignal.timeout(5000)).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(Error);
        expect((err as Error).message).toMatch(/^host meta\.test resolves to .*, a link-local address; link-local addresses .* CODEHUB_UPSTREAM_HOSTS$/);
        expect(seen).toEqual([]);
      });
    },
  );

  it("answers a redirect as it is (the token never follows it), and rejects a silent host with the timeout's TimeoutError", async () => {
    const server = createServer((req, res) => {
      req.resume();
      if (req.url === '/moved') res.writeHead(301, { location: 'http://elsewhere.example/x' }).end();
      // /silent: never answered
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    try {
      const send = httpSender();
      expect(await send(call(`http://127.0.0.1:${port}/moved`), AbortSignal.timeout(5000))).toMatchObject({
        status: 301,
        location: 'http://elsewhere.example/x',
      });
      const err = await send(call(`http://127.0.0.1:${port}/silent`), AbortSignal.timeout(200)).catch((e: unknown) => e);
      expect((err as Error).name).toBe('TimeoutError');
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  it("lets the operator's list name such a host", async () => {
    const { lookupAll, asked } = resolver({ localhost: ['169.254.169.254'] });
    // Listed: the system's own lookup (localhost is 127.0.0.1 there), not the refusing one.
    await withServer(async (port) => {
      const answer = await httpSender({ allowHost: (h) => h === 'localhost', lookupAll })(call(`http://localhost:${port}/api/v1`), AbortSignal.timeout(5000));
      expect(answer.status).toBe(201);
      expect(asked).toEqual([]);
    });
  });

  it('gives up a status whose API name resolves to a link-local address, with the reason on the build', async () => {
    const e = await setup({
      start: false,
      link: { url: 'https://meta.test/acme/shop', forge: 'gitea', webhook_secret: 'hook secret 0123456789', status_token: TOKEN },
    });
    vi.useRealTimers();
    const { lookupAll } = resolver({ 'meta.test': ['169.254.169.254'] });
    const r = e.newReporter({ send: httpSender({ lookupAll }) });
    r.start();
    const b = e.addBuild();
    r.queued(b);
    const status = await (async () => {
      for (let i = 0; i < 200; i++) {
        const s = e.forges.status(b.id);
        if (s?.gaveUp) return s;
        await new Promise((res) => setTimeout(res, 10));
      }
      return e.forges.status(b.id);
    })();
    expect(status).toMatchObject({
      gaveUp: true,
      nextAttemptAt: null,
      error: expect.stringMatching(/^gitea at meta\.test: host meta\.test resolves to 169\.254\.169\.254, a link-local address; .*; link the repo again$/),
    });
  });
});
