/**
 * Hostile input, through the real server: every case gets its documented answer, and afterwards the
 * database, the bare repos on disk and the registry are as they were (or hold exactly the one failed build
 * record that is the documented answer to a bad config).
 */
import Database from 'better-sqlite3';
import { createHmac, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registryFetch } from '../helpers/registry.js';
import { WorkRepo } from '../helpers/git.js';
import { TestServer, uniqueName } from '../helpers/server.js';

let server: TestServer;
let alice: string;
let aliceToken: string;
let bob: string;
let bobToken: string;
let sha: string;
let work: WorkRepo;

interface Answer {
  status: number;
  text: string;
}

/** One raw HTTP request: the path goes out exactly as written (fetch would normalize `..`); a redirect's target leads the text. */
function raw(method: string, path: string, opts: { headers?: Record<string, string>; body?: string | Buffer } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: server.port, method, path, headers: opts.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          text: (res.headers.location ? `location: ${res.headers.location}\n` : '') + Buffer.concat(chunks).toString('utf8'),
        }),
      );
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
/** A browser signed in with token t, posting a form when given one. */
const cookie = (t: string, form?: Record<string, string>) => ({
  cookie: `codehub_token=${t}`,
  ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
});
const form = (f: Record<string, string>) => new URLSearchParams(f).toString();
/** The CSRF token of t's pages. */
async function csrfOf(t: string): Promise<string> {
  return /name="csrf" value="([^"]+)"/.exec((await raw('GET', '/', { headers: cookie(t) })).text)![1]!;
}
const basic = (u: string, t: string) => ({ authorization: `Basic ${Buffer.from(`${u}:${t}`).toString('base64')}` });

function signedHook(body: object | string, opts: { key?: Buffer; tamper?: boolean } = {}): Promise<Answer> {
  const key = opts.key ?? Buffer.from(readFileSync(join(server.dataDir, 'secrets', 'hook.key'), 'utf8').trim(), 'hex');
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  const sig = 'sha256=' + createHmac('sha256', key).update(text).digest('hex');
  return raw('POST', '/hooks/post-receive', {
    headers: { 'content-type': 'application/json', 'x-codehub-signature-256': sig },
    body: opts.tamper ? text.replace('main', 'evil') : text,
  });
}
const hookBody = (over: Record<string, unknown> = {}) => ({
  repo: `${alice}/shop`,
  pusher: alice,
  options: [],
  sentAt: new Date().toISOString(),
  updates: [{ old: '0'.repeat(40), new: sha, ref: 'refs/heads/main' }],
  ...over,
});

/** What must not change: row counts, bare repos on disk, and this test's repositories in the registry. */
async function snapshot() {
  const db = new Database(join(server.dataDir, 'codehub.db'), { readonly: true });
  const counts = Object.fromEntries(
    ['users', 'tokens', 'repos', 'builds', 'secrets', 'repo_members'].map((t) => [t, (db.prepare(`SELECT count(*) AS n FROM ${t}`).get() as { n: number }).n]),
  );
  db.close();
  const root = join(server.dataDir, 'repos');
  const dirs = existsSync(root)
    ? readdirSync(root)
        .flatMap((o) => readdirSync(join(root, o)).map((r) => `${o}/${r}`))
        .sort()
    : [];
  // The catalog is sorted and paged: start right after each owner's name to get that owner's repositories.
  const registry: string[] = [];
  for (const o of [alice, bob]) {
    const page = (await (await registryFetch(server.registryAccess, `/v2/_catalog?n=100&last=${o}`)).json()) as { repositories: string[] };
    registry.push(...page.repositories.filter((r) => r.startsWith(`${o}/`)));
  }
  const refs = readdirSync(join(root, alice, 'shop.git', 'refs', 'heads')).sort();
  return { counts, dirs, registry, refs };
}

type Case = [name: string, run: () => Promise<Answer>, status: number | number[], says?: string | RegExp, records?: { status: string; code: string }];

beforeAll(async () => {
  server = await TestServer.start({ env: { CODEHUB_MAX_PUSH_BYTES: String(1024 * 1024), CODEHUB_AUTH_FAILURES_PER_MIN: '100000' } });
  alice = uniqueName('alice');
  bob = uniqueName('bob');
  aliceToken = server.addUser(alice);
  bobToken = server.addUser(bob);
  work = await WorkRepo.create({ Dockerfile: 'FROM localhost:5000/cache/busybox:latest\nRUN echo hostile\n' });
  sha = (await work.git.revparse(['HEAD'])).trim();
  expect((await work.push(server.gitUrl(alice, aliceToken, alice, 'shop'), ['main'])).exitCode).toBe(0);
  await server.waitForBuilds(sha, aliceToken);
});
afterAll(async () => {
  await server?.stop();
});

/** A push of a commit with these files to alice/shop on a new branch; its answer is git's exit code. */
async function pushFiles(files: Record<string, string>, branch: string): Promise<Answer> {
  await work.commit(files, branch);
  const r = await work.push(server.gitUrl(alice, aliceToken, alice, 'shop'), [`HEAD:refs/heads/${branch}`]);
  await work.git.raw(['reset', '--hard', 'HEAD~1']);
  return { status: r.exitCode === 0 ? 200 : 500, text: r.output };
}

const cases: Case[] = [
  // the post-receive hook endpoint
  ['hook without a signature', () => raw('POST', '/hooks/post-receive', { body: JSON.stringify(hookBody()) }), 401, 'missing or wrong x-codehub-signature-256'],
  ['hook signed with another key', () => signedHook(hookBody(), { key: Buffer.alloc(32, 7) }), 401, 'missing or wrong'],
  ['hook body changed after signing', () => signedHook(hookBody(), { tamper: true }), 401, 'missing or wrong'],
  ['hook replayed after 10 minutes', () => signedHook(hookBody({ sentAt: new Date(Date.now() - 600_000).toISOString() })), 401, 'stale'],
  ['hook without sentAt', () => signedHook(hookBody({ sentAt: undefined })), 401, 'stale or undated'],
  ['hook body over 1 MB', () => signedHook(hookBody({ pad: 'x'.repeat(1024 * 1024) })), 413, 'larger than'],
  ['hook body that is not JSON', () => signedHook('not json {'), 400, 'not JSON'],
  ['hook repo escaping the repos folder', () => signedHook(hookBody({ repo: '../../etc' })), 400, 'invalid'],
  ['hook for the reserved owner system', () => signedHook(hookBody({ repo: 'system/shop' })), 400, 'reserved'],
  ['hook with updates that are not a list', () => signedHook(hookBody({ updates: 'refs/heads/main' })), 400, 'needs repo, pusher and updates'],
  // paths and names
  [
    'git path with .. segments',
    () => raw('GET', `/git/${alice}/../../etc/passwd.git/info/refs?service=git-upload-pack`, { headers: basic(alice, aliceToken) }),
    [400, 404],
  ],
  [
    'git owner with an encoded slash',
    () => raw('GET', `/git/..%2F..%2Fetc/shop.git/info/refs?service=git-upload-pack`, { headers: basic(alice, aliceToken) }),
    400,
    'invalid',
  ],
  [
    'git repo with a NUL byte',
    () => raw('GET', `/git/${alice}/shop%00x.git/info/refs?service=git-upload-pack`, { headers: basic(alice, aliceToken) }),
    400,
    'invalid',
  ],
  [
    'git owner in capitals',
    () => raw('GET', `/git/${alice.toUpperCase()}/shop.git/info/refs?service=git-receive-pack`, { headers: basic(alice, aliceToken) }),
    400,
    'invalid',
  ],
  [
    'git push into the reserved owner cache',
    () => raw('GET', '/git/cache/busybox.git/info/refs?service=git-receive-pack', { headers: basic(alice, aliceToken) }),
    400,
    'reserved',
  ],
  ['API repo with .. in it', () => raw('GET', `/api/repos/${alice}/..%2F..%2Fx/secrets`, { headers: bearer(aliceToken) }), [400, 404]],
  // configs that try to leave the repo, or to blow up the parser
  [
    'config context outside the repo',
    () => pushFiles({ 'codehub-build.yaml': 'version: 1\nimages:\n  - name: up\n    context: ../..\n' }, 'ctx-escape'),
    200,
    /context/,
    { status: 'failed', code: 'config' },
  ],
  [
    'config dockerfile outside the context',
    () => pushFiles({ 'codehub-build.yaml': 'version: 1\nimages:\n  - name: up\n    dockerfile: ../../etc/passwd\n' }, 'df-escape'),
    200,
    /dockerfile/,
    { status: 'failed', code: 'config' },
  ],
  [
    'config dockerfile as an absolute path',
    () => pushFiles({ 'codehub-build.yaml': 'version: 1\nimages:\n  - name: up\n    dockerfile: /etc/passwd\n' }, 'df-abs'),
    200,
    /dockerfile/,
    { status: 'failed', code: 'config' },
  ],
  [
    'YAML bomb (nested aliases)',
    () =>
      pushFiles(
        {
          'codehub-build.yaml':
            'a: &a ["x","x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\nversion: 1\nimages: [*d]\n',
        },
        'bomb',
      ),
    200,
    /codehub-build\.yaml/,
    { status: 'failed', code: 'config' },
  ],
  [
    'config file over 64 KiB',
    () => pushFiles({ 'codehub-build.yaml': `version: 1\n# ${'x'.repeat(70_000)}\n` }, 'bigconfig'),
    200,
    /larger than 65536 bytes/,
    { status: 'failed', code: 'config' },
  ],
  // sizes
  [
    'push over CODEHUB_MAX_PUSH_BYTES (chunked)',
    () => pushFiles({ 'big.bin': randomBytes(3 * 1024 * 1024).toString('latin1') }, 'toobig'),
    500,
    /larger than 1048576 bytes|413/,
  ],
  ['request headers over 16 KiB', () => raw('GET', '/api/builds', { headers: { ...bearer(aliceToken), 'x-pad': 'y'.repeat(20_000) } }), 431],
  [
    'secret value over 64 KiB',
    () => raw('PUT', `/api/repos/${alice}/shop/secrets/BIG`, { headers: bearer(aliceToken), body: 'z'.repeat(70_000) }),
    413,
    'at most 65536 bytes',
  ],
  // tokens in the wrong place or under the wrong name
  [
    "bob's token under alice's name",
    () => raw('GET', `/git/${alice}/shop.git/info/refs?service=git-upload-pack`, { headers: basic(alice, bobToken) }),
    401,
    'wrong user name or token',
  ],
  [
    "bob's token on alice's repo",
    () => raw('GET', `/git/${alice}/shop.git/info/refs?service=git-upload-pack`, { headers: basic(bob, bobToken) }),
    404,
    'does not exist',
  ],
  ['a token in the query string', () => raw('GET', `/api/builds?token=${aliceToken}&access_token=${aliceToken}`), 401, 'authentication required'],
  ["bob cancelling alice's build", () => raw('POST', '/api/builds/1/cancel', { headers: bearer(bobToken) }), 404, 'no build #1'],
  [
    "bob setting a secret on alice's repo",
    () => raw('PUT', `/api/repos/${alice}/shop/secrets/X`, { headers: bearer(bobToken), body: 'v' }),
    404,
    'no repository',
  ],
  // the web pages: forms without their CSRF token, cookies where they do not count, redirects off-site
  [
    'web rebuild form without a CSRF token',
    () => raw('POST', '/builds/1/rebuild', { headers: cookie(aliceToken, {}), body: form({}) }),
    403,
    'came from another site',
  ],
  [
    "web rebuild form with bob's CSRF token",
    async () => raw('POST', '/builds/1/rebuild', { headers: cookie(aliceToken, {}), body: form({ csrf: await csrfOf(bobToken) }) }),
    403,
    'came from another site',
  ],
  [
    'API rebuild with the sign-in cookie alone',
    () => raw('POST', '/api/builds/1/rebuild', { headers: cookie(aliceToken, {}) }),
    401,
    'authentication required',
  ],
  [
    'web cancel form with a forged cookie',
    () => raw('POST', '/builds/1/cancel', { headers: cookie('chb_forged', {}), body: form({ csrf: 'x' }) }),
    403,
    'sign in first',
  ],
  [
    'sign-in that would redirect off-site',
    () =>
      raw('POST', '/login', { headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form({ token: aliceToken, next: '//evil.example/x' }) }),
    303,
    /^location: \/\n/,
  ],
  [
    'sign-in form over 4 KiB',
    () => raw('POST', '/login', { headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form({ token: 'x'.repeat(5000) }) }),
    413,
    'a sign-in form',
  ],
  ["bob's cookie on alice's build page", () => raw('GET', '/builds/1', { headers: cookie(bobToken) }), 404, 'no build #1'],
  ['badge owner with .. in it', () => raw('GET', '/badge/..%2F..%2Fetc/shop/main.svg'), 400, 'repo must be <owner>/<name>'],
  [
    'repo page status filter with SQL',
    () => raw('GET', `/repos/${alice}/shop?status=${encodeURIComponent('queued; DROP TABLE builds')}`, { headers: cookie(aliceToken) }),
    400,
    'status must be one of',
  ],
  [
    'repo page commit filter with SQL',
    () => raw('GET', `/repos/${alice}/shop?commit=${encodeURIComponent("' OR 1=1 --")}`, { headers: cookie(aliceToken) }),
    400,
    'hex digits',
  ],
  // SQL in query parameters
  ['commit prefix with SQL', () => raw('GET', `/api/builds?commit=${encodeURIComponent("' OR 1=1 --")}`, { headers: bearer(aliceToken) }), 400, 'hex digits'],
  ['repo with SQL', () => raw('GET', `/api/builds?repo=${encodeURIComponent(`${alice}/x' OR '1'='1`)}`, { headers: bearer(aliceToken) }), 400, 'invalid'],
  [
    'ref with SQL finds nothing',
    () => raw('GET', `/api/builds?ref=${encodeURIComponent("main' OR 1=1 --")}`, { headers: bearer(aliceToken) }),
    200,
    '"builds":[]',
  ],
  [
    'status with a second statement',
    () => raw('GET', `/api/builds?status=${encodeURIComponent('queued; DROP TABLE builds')}`, { headers: bearer(aliceToken) }),
    400,
    'status must be one of',
  ],
  [
    'limit with SQL',
    () => raw('GET', `/api/builds?limit=${encodeURIComponent('1; DELETE FROM builds')}`, { headers: bearer(aliceToken) }),
    400,
    'limit must be',
  ],
  ['build id with SQL', () => raw('GET', `/api/builds/${encodeURIComponent('1 OR 1=1')}`, { headers: bearer(aliceToken) }), 400, 'build id must be a number'],
  [
    'commit lookup with SQL',
    () => raw('GET', `/api/repos/${alice}/shop/commits/${encodeURIComponent("abcd' OR 1=1")}/builds`, { headers: bearer(aliceToken) }),
    400,
    'hex digits',
  ],
];

describe('hostile input', () => {
  it(`has at least 30 cases (${cases.length})`, () => {
    expect(cases.length).toBeGreaterThanOrEqual(30);
  });

  it.each(cases)('%s', async (_name, run, status, says, records) => {
    const before = await snapshot();
    const answer = await run();
    expect([status].flat(), answer.text.slice(0, 300)).toContain(answer.status);
    if (says) expect(answer.text).toMatch(says);
    const after = await snapshot();
    if (!records) {
      expect(after).toEqual(before);
      return;
    }
    // A bad config is answered with one failed build record, and nothing else: no image, no other row.
    expect(after).toEqual({ ...before, counts: { ...before.counts, builds: before.counts.builds! + 1 }, refs: after.refs });
    const db = new Database(join(server.dataDir, 'codehub.db'), { readonly: true });
    const last = db.prepare('SELECT status, reason_code AS code FROM builds ORDER BY id DESC LIMIT 1').get();
    db.close();
    expect(last).toEqual(records);
  });

  it("records a push beyond the owner's queue limit as skipped, saying why, and queues the rest", async () => {
    // No builder can run here, so builds stay queued.
    const s = await TestServer.start({ env: { CODEHUB_MAX_QUEUED_PER_OWNER: '2', CODEHUB_BUILDERS: 'tcp://127.0.0.1:9' } });
    try {
      const o = uniqueName('carol');
      const t = s.addUser(o);
      const r = await work.push(s.gitUrl(o, t, o, 'q'), ['HEAD:refs/heads/a', 'HEAD:refs/heads/b', 'HEAD:refs/heads/c']);
      expect(r.exitCode, r.output).toBe(0);
      expect(r.output).toContain('CODEHUB_MAX_QUEUED_PER_OWNER');
      const { body } = await s.api<{ builds: { status: string; reason_code: string | null }[] }>(`/api/builds?repo=${o}/q`, t);
      expect(body.builds.map((b) => b.status).sort()).toEqual(['queued', 'queued', 'skipped']);
      expect(body.builds.find((b) => b.status === 'skipped')!.reason_code).toBe('queue_full');
    } finally {
      await s.stop();
    }
  });

  it('the registry client sees nothing of the refused pushes', async () => {
    expect(await server.registryClient().tags(`${alice}/up`)).toEqual([]);
  });
});
