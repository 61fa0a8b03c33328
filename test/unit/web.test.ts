import { beforeEach, describe, expect, it } from 'vitest';
import { hashToken } from '../../src/auth/tokens.js';
import { ansiToHtml } from '../../src/http/web/ansi.js';
import { badgeState, badgeSvg } from '../../src/http/web/badge.js';
import { ago, duration } from '../../src/http/web/format.js';
import { memoryApp } from '../helpers/memory-app.js';

// The pages over an in-memory app: what each shows to whom, the sign-in and its cookie, the CSRF checks, and
// escaping. The browser tests (test/browser) drive the same pages in Chromium against the real server.

describe('ansiToHtml', () => {
  it('renders SGR colours and styles as classes and resets them', () => {
    expect(ansiToHtml('\u001b[31mred\u001b[0m plain')).toBe('<span class="fg1">red</span> plain');
    expect(ansiToHtml('\u001b[1;92;44mx\u001b[22my\u001b[39;49mz')).toBe('<span class="fg10 bg4 b">x</span><span class="fg10 bg4">y</span>z');
    expect(ansiToHtml('\u001b[38;5;3mfive\u001b[38;5;200mbig\u001b[38;2;1;2;3mtrue\u001b[m')).toBe('<span class="fg3">five</span>bigtrue');
  });
  it('escapes HTML and drops escapes that are not colours', () => {
    expect(ansiToHtml('<img src=x onerror="a()"> & \u001b[2K\u001b[1Gdone\u001b]0;title\u0007!')).toBe('&lt;img src=x onerror=&quot;a()&quot;&gt; &amp; done!');
    expect(ansiToHtml('\u001b[4m<b>\u001b[0m')).toBe('<span class="u">&lt;b&gt;</span>');
  });
  it('is the same function the build page script carries', async () => {
    const { ASSETS } = await import('../../src/http/web/assets.js');
    const script = ASSETS['build.js']!.body;
    // eslint-disable-next-line no-new-func
    const fromScript = new Function(
      `${script.slice(script.indexOf('function ansiToHtml'), script.indexOf('(function ()'))}; return ansiToHtml;`,
    )() as typeof ansiToHtml;
    const line = '\u001b[1;31merror\u001b[0m: <x> & \u001b[38;5;12mblue';
    expect(fromScript(line)).toBe(ansiToHtml(line));
  });
});

describe('format', () => {
  it('says times relative and durations the way people do', () => {
    const now = Date.parse('2026-11-22T12:00:00Z');
    expect(ago('2026-11-22T11:59:58Z', now)).toBe('just now');
    expect(ago('2026-11-22T11:59:18Z', now)).toBe('42 s ago');
    expect(ago('2026-11-22T11:55:00Z', now)).toBe('5 min ago');
    expect(ago('2026-11-22T09:00:00Z', now)).toBe('3 h ago');
    expect(ago('2026-11-21T12:00:00Z', now)).toBe('1 day ago');
    expect(ago('2026-01-01T00:00:00Z', now)).toBe('2026-01-01');
    expect([duration(850), duration(12_340), duration(245_000), duration(7_380_000)]).toEqual(['850 ms', '12.3 s', '4 min 05 s', '2 h 03 min']);
  });
});

describe('badges', () => {
  it('say what the newest commit of the branch did, in the shields.io colours', () => {
    const b = (status: string) => ({ status }) as never;
    expect(badgeState([])).toEqual({ text: 'no builds', color: '#9f9f9f' });
    expect(badgeState([b('succeeded'), b('failed')])).toEqual({ text: 'failing', color: '#e05d44' });
    expect(badgeState([b('succeeded'), b('running')]).text).toBe('running');
    expect(badgeState([b('succeeded')])).toEqual({ text: 'passing', color: '#4c1' });
    const svg = badgeSvg('build', 'passing', '#4c1');
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg" width="\d+" height="20" role="img" aria-label="build: passing">/);
    expect(svg).toContain('fill="#4c1"');
  });
});

describe('web pages', () => {
  let m: ReturnType<typeof memoryApp>;
  let alice: string;
  let bob: string;
  const page = async (path: string, token?: string, init: RequestInit = {}) => {
    const headers = new Headers(init.headers);
    if (token) headers.set('cookie', `codehub_token=${token}`);
    const res = await m.app.request(path, { ...init, headers });
    return { status: res.status, location: res.headers.get('location'), headers: res.headers, body: await res.text() };
  };
  const csrfOf = (html: string) => /name="csrf" value="([^"]+)"/.exec(html)![1]!;
  const post = (path: string, token: string | undefined, form: Record<string, string>) =>
    page(path, token, { method: 'POST', body: new URLSearchParams(form) });

  beforeEach(() => {
    m = memoryApp();
    alice = m.addUser('alice');
    bob = m.addUser('bob');
  });

  it('sends a browser without a sign-in to the sign-in page, and back where it was going after', async () => {
    const [b] = m.addBuilds('alice', 'shop', ['a'.repeat(40)]);
    const anon = await page(`/builds/${b!.id}?x=1`);
    expect(anon).toMatchObject({ status: 303, location: `/login?next=${encodeURIComponent(`/builds/${b!.id}?x=1`)}` });
    const form = await page(anon.location!);
    expect(form.body).toContain('<input type="hidden" name="next" value="/builds/1?x=1"/>');
    expect(form.headers.get('content-security-policy')).toContain("default-src 'none'");

    const signedIn = await post('/login', undefined, { token: alice, next: `/builds/${b!.id}` });
    expect(signedIn).toMatchObject({ status: 303, location: `/builds/${b!.id}` });
    const cookie = signedIn.headers.get('set-cookie')!;
    expect(cookie).toMatch(/^codehub_token=chb_[^;]+; Max-Age=\d+; Path=\/; HttpOnly; SameSite=Lax$/);
    expect((await page(`/builds/${b!.id}`, alice)).status).toBe(200);
  });

  it('says when a token typed into the sign-in form expired, and sets no cookie; its page view stops at the expiry too', async () => {
    const user = m.store.accounts.userByName('alice')!;
    const id = m.store.accounts.createToken(user.id, hashToken('chb_old'), 'old', ['read'], '2020-01-02T03:04:05.000Z');
    const refused = await post('/login', undefined, { token: 'chb_old', next: '/' });
    expect(refused.status).toBe(401);
    expect(refused.body).toContain(`token ${id} expired at 2020-01-02T03:04:05.000Z`);
    expect(refused.headers.get('set-cookie')).toBeNull();
    expect(await page('/', 'chb_old')).toMatchObject({ status: 303, location: '/login?next=%2F' });
  });

  it('refuses a wrong token with a message, never redirects off-site, and slows down guessing', async () => {
    const wrong = await post('/login', undefined, { token: 'chb_wrong', next: '/' });
    expect(wrong.status).toBe(401);
    expect(wrong.body).toContain('That token is not valid');
    expect(wrong.headers.get('set-cookie')).toBeNull();
    for (const next of ['//evil.example/x', '/\\evil.example', 'https://evil.example/', 'javascript:alert(1)']) {
      expect((await post('/login', undefined, { token: alice, next })).location).toBe('/');
    }
    for (let i = 0; i < 29; i++) await post('/login', undefined, { token: `chb_guess${i}` });
    const limited = await post('/login', undefined, { token: alice });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(limited.body).toContain('too many failed sign-ins');
  });

  it("lists the repos the caller can read with the newest build of each branch, and nobody else's", async () => {
    m.addBuilds('alice', 'shop', ['a'.repeat(40)], 'failed');
    m.addBuilds('alice', 'shop', ['b'.repeat(40)], 'succeeded');
    m.addBuilds('alice', 'shop', ['c'.repeat(40)], 'running', 'feature/x');
    m.addBuilds('bob', 'secret-plans', ['d'.repeat(40)]);
    const home = await page('/', alice);
    expect(home.body).toContain('<a href="/repos/alice/shop">alice/shop</a>');
    expect(home.body).toContain('bbbbbbb');
    expect(home.body).not.toContain('aaaaaaa');
    expect(home.body).toContain('feature/x');
    expect(home.body).not.toContain('secret-plans');
  });

  it("shows how a workspace starts, with this server's URL and the downloads, and never a token", async () => {
    const home = await page('/', alice);
    expect(home.body).toContain('<h2 id="workspace">In a workspace</h2>');
    expect(home.body).toContain('<code>CODEHUB_URL=http://x</code>');
    expect(home.body).toContain('curl -fsSL &quot;$CODEHUB_URL/downloads/codehub-build&quot; -o ~/.local/bin/codehub-build');
    expect(home.body).toContain('<a href="/downloads/codehub-build.vsix">');
    expect(home.body).not.toContain(alice);
  });

  it('shows the first 100 repos on the repositories page and says how many more there are', async () => {
    for (let i = 0; i < 101; i++) m.store.repos.ensure('alice', `r${String(i).padStart(3, '0')}`);
    const home = (await page('/', alice)).body;
    expect(home.match(/<section class="card" aria-labelledby="repo-/g)).toHaveLength(100);
    expect(home).toContain('And 1 more repositories');
    expect(home).not.toContain('alice/r100');
  });

  it("filters and pages a repo's builds", async () => {
    const shas = Array.from({ length: 60 }, (_, i) => i.toString(16).padStart(2, '0') + 'f'.repeat(38));
    m.addBuilds('alice', 'shop', shas.slice(0, 55));
    m.addBuilds('alice', 'shop', shas.slice(55), 'failed');
    const first = await page('/repos/alice/shop', alice);
    expect(first.body.match(/<tr><td><a href="\/builds\/\d+">/g)).toHaveLength(50);
    const older = /href="(\/repos\/alice\/shop\?before=\d+)" rel="next"/.exec(first.body)![1]!;
    const second = await page(older.replace(/&amp;/g, '&'), alice);
    expect(second.body.match(/<tr><td><a href="\/builds\/\d+">/g)).toHaveLength(10);
    expect(second.body).not.toContain('rel="next"');
    const failed = await page('/repos/alice/shop?status=failed', alice);
    expect(failed.body.match(/<tr><td>/g)).toHaveLength(5);
    const byCommit = await page(`/repos/alice/shop?commit=${shas[7]!.slice(0, 6)}`, alice);
    expect(byCommit.body.match(/<tr><td>/g)).toHaveLength(1);
    const bad = await page('/repos/alice/shop?commit=xyz', alice);
    expect(bad.status).toBe(400);
    expect(bad.body).toContain('commit must be 4 to 40 hex digits');
  });

  it('finds a commit by prefix and says when a prefix is ambiguous', async () => {
    m.addBuilds('alice', 'shop', ['abcd1' + '0'.repeat(35), 'abcd2' + '0'.repeat(35)]);
    const one = await page('/repos/alice/shop/commits/abcd1', alice);
    expect(one.status).toBe(200);
    expect(one.body).toContain('abcd1' + '0'.repeat(35));
    const two = await page('/repos/alice/shop/commits/abcd', alice);
    expect(two.status).toBe(409);
    expect(two.body).toContain('give more digits');
  });

  it("applies the API's authorization: another user's build does not exist until it is shared, and only write shows the buttons", async () => {
    const [b] = m.addBuilds('alice', 'shop', ['a'.repeat(40)], 'queued');
    await m.logs.append(b!.id, ['step-output']);
    for (const path of [`/builds/${b!.id}`, '/repos/alice/shop', `/repos/alice/shop/commits/${'a'.repeat(7)}`]) {
      const refused = await page(path, bob);
      expect(refused.status).toBe(404);
      expect(refused.body).not.toContain('step-output');
    }
    const repoId = m.store.repos.byName('alice', 'shop')!.id;
    m.store.repos.share(repoId, m.store.accounts.userByName('bob')!.id, 'read');
    const read = await page(`/builds/${b!.id}`, bob);
    expect(read.status).toBe(200);
    expect(read.body).toContain('step-output');
    expect(read.body).not.toContain('Cancel build');
    expect((await post(`/builds/${b!.id}/cancel`, bob, { csrf: csrfOf(read.body) })).status).toBe(403);
    m.store.repos.share(repoId, m.store.accounts.userByName('bob')!.id, 'write');
    expect((await page(`/builds/${b!.id}`, bob)).body).toContain('Cancel build');
  });

  it("runs cancel and rebuild only with the page's CSRF token, and never on a cookie alone through the API", async () => {
    const [b] = m.addBuilds('alice', 'shop', ['a'.repeat(40)], 'queued');
    const html = (await page(`/builds/${b!.id}`, alice)).body;
    expect((await post(`/builds/${b!.id}/cancel`, alice, {})).status).toBe(403);
    expect((await post(`/builds/${b!.id}/cancel`, alice, { csrf: csrfOf(html).replace(/^./, (c) => (c === 'A' ? 'B' : 'A')) })).status).toBe(403);
    expect((await page(`/api/builds/${b!.id}/cancel`, alice, { method: 'POST' })).status).toBe(401);
    expect(m.store.builds.byId(b!.id)!.status).toBe('queued');

    const canceled = await post(`/builds/${b!.id}/cancel`, alice, { csrf: csrfOf(html) });
    expect(canceled).toMatchObject({ status: 303, location: `/builds/${b!.id}` });
    expect(m.store.builds.byId(b!.id)!.status).toBe('canceled');
    const after = (await page(`/builds/${b!.id}`, alice)).body;
    expect(after).toContain('Rebuild');
    const rebuilt = await post(`/builds/${b!.id}/rebuild`, alice, { csrf: csrfOf(after) });
    expect(rebuilt.status).toBe(303);
    const id = Number(/\/builds\/(\d+)$/.exec(rebuilt.location!)![1]);
    expect(id).toBeGreaterThan(b!.id);
    expect(m.store.builds.byId(id)).toMatchObject({ status: 'queued', commitSha: 'a'.repeat(40), pusher: 'alice' });
    // The cookie does read the API (the build page's live log uses it).
    expect((await page(`/api/builds/${b!.id}`, alice)).status).toBe(200);
  });

  it('shows the tail of a long log, and the whole of it on request', async () => {
    const [b] = m.addBuilds('alice', 'shop', ['a'.repeat(40)], 'failed');
    await m.logs.append(
      b!.id,
      Array.from({ length: 5010 }, (_, i) => `line ${i + 1}`),
    );
    const tail = (await page(`/builds/${b!.id}`, alice)).body;
    expect(tail).toContain('<div class="line" id="L11">');
    expect(tail).not.toContain('id="L10"');
    expect(tail).toContain('Lines 1 to 10 are not shown');
    expect(tail).toContain(`<a href="/builds/${b!.id}?full=1">Show the whole log</a>`);
    const whole = (await page(`/builds/${b!.id}?full=1`, alice)).body;
    expect(whole).toContain('<div class="line" id="L1">');
    expect(whole).not.toContain('are not shown');
  });

  it("shows where the commit status a linked repo's build owes its forge stands: delivered, retrying and why, given up", async () => {
    const [b] = m.addBuilds('alice', 'shop', ['a'.repeat(40)], 'succeeded');
    expect((await page(`/builds/${b!.id}`, alice)).body).not.toContain('Forge status');
    const now = Date.now();
    m.forges.want(
      { buildId: b!.id, repoId: b!.repoId!, sha: b!.commitSha!, ref: 'main', context: 'codehub-build/shop', state: 'success', description: 'built shop' },
      now,
    );
    m.forges.failed(b!.id, 'success', 'gitea at git.example did not answer (ECONNREFUSED)', now + 8000);
    const retrying = (await page(`/builds/${b!.id}`, alice)).body;
    expect(retrying).toContain('Forge status');
    expect(retrying).toMatch(
      /codehub-build\/shop<\/span> success, <strong>not delivered yet<\/strong> \(1 attempt\): gitea at git\.example did not answer \(ECONNREFUSED\); next try in \d/,
    );
    m.forges.delivered(b!.id, 'success');
    expect((await page(`/builds/${b!.id}`, alice)).body).toContain('codehub-build/shop</span> success, delivered');
    m.forges.want(
      { buildId: b!.id, repoId: b!.repoId!, sha: b!.commitSha!, ref: 'main', context: 'codehub-build/shop', state: 'failure', description: 'x' },
      now,
    );
    m.forges.failed(b!.id, 'failure', 'gitea refused the status (HTTP 401); give the link a status_token', null);
    expect((await page(`/builds/${b!.id}`, alice)).body).toContain(
      'failure, <strong>not delivered</strong>: gitea refused the status (HTTP 401); give the link a status_token',
    );
  });

  it('escapes what users control: branch names, log lines, reasons', async () => {
    const evil = `x"><script>alert(1)</script>`;
    const [b] = m.addBuilds('alice', 'shop', ['a'.repeat(40)], 'failed', evil);
    await m.logs.append(b!.id, ['<img src=x onerror=alert(2)>']);
    for (const path of [`/builds/${b!.id}`, '/', '/repos/alice/shop']) {
      const body = (await page(path, alice)).body;
      expect(body).not.toContain('<script>alert');
      expect(body).not.toContain('<img src=x');
    }
    expect((await page(`/builds/${b!.id}`, alice)).body).toContain('&lt;img src=x onerror=alert(2)&gt;');
  });

  it("refuses forms posted from another site's page, sign-in included", async () => {
    const evil = { origin: 'https://evil.example' };
    const signIn = await page('/login', undefined, { method: 'POST', headers: evil, body: new URLSearchParams({ token: alice }) });
    expect(signIn.status).toBe(403);
    expect(signIn.body).toContain('a form posted from https://evil.example is refused');
    expect(signIn.headers.get('set-cookie')).toBeNull();
    const same = await page('/login', undefined, { method: 'POST', headers: { origin: 'http://localhost' }, body: new URLSearchParams({ token: alice }) });
    expect(same.status).toBe(303);
  });

  it('signs out only with the CSRF token, and clears the cookie', async () => {
    const html = (await page('/', alice)).body;
    expect((await post('/logout', alice, { csrf: 'forged' })).status).toBe(403);
    const out = await post('/logout', alice, { csrf: csrfOf(html) });
    expect(out).toMatchObject({ status: 303, location: '/login' });
    expect(out.headers.get('set-cookie')).toMatch(/^codehub_token=; Max-Age=0; Path=\//);
  });

  it("serves a private repo's badge only to those who may read it, and anyone's once the owner makes it public", async () => {
    m.addBuilds('alice', 'shop', ['a'.repeat(40)], 'failed', 'feature/x');
    m.addBuilds('alice', 'shop', ['b'.repeat(40)], 'succeeded');
    expect((await page('/badge/alice/shop/main.svg')).status).toBe(404);
    expect((await page('/badge/alice/shop/main.svg', bob)).status).toBe(404);
    const own = await page('/badge/alice/shop/main.svg', alice);
    expect(own.status).toBe(200);
    expect(own.headers.get('content-type')).toBe('image/svg+xml; charset=utf-8');
    expect(own.body).toContain('aria-label="build: passing"');
    expect((await page('/badge/alice/shop/feature/x.svg', alice)).body).toContain('aria-label="build: failing"');
    expect((await page('/badge/alice/shop/nope.svg', alice)).body).toContain('aria-label="build: no builds"');

    const put = (token: string, body: unknown) =>
      m.app.request('/api/repos/alice/shop/badge', { method: 'PUT', headers: { authorization: `Bearer ${token}` }, body: JSON.stringify(body) });
    expect((await put(bob, { public: true })).status).toBe(404);
    expect((await put(alice, { public: 'yes' })).status).toBe(400);
    expect((await put(alice, { public: true })).status).toBe(200);
    const anon = await page('/badge/alice/shop/main.svg');
    expect(anon.status).toBe(200);
    expect(anon.headers.get('cache-control')).toBe('no-cache');
    // Public covers the badge only: the builds stay private.
    expect((await page('/repos/alice/shop', bob)).status).toBe(404);
  });

  it("shows an owner their images with sizes, builds and pull commands, lists a repo's images on its page, and says when a log expired", async () => {
    const [b] = m.addBuilds('alice', 'shop', ['a'.repeat(40)]);
    const digest = `sha256:${'1'.repeat(64)}`;
    m.inventory.addManifest({ repository: 'alice/shop', digest, mediaType: 'application/vnd.oci.image.manifest.v1+json', children: [], tombstone: false }, [
      { digest, size: 1000 },
      { digest: `sha256:${'2'.repeat(64)}`, size: 2 * 1024 * 1024 },
    ]);
    for (const tag of ['main', '<script>'])
      m.inventory.setTag({ repository: 'alice/shop', tag, digest, owner: 'alice', buildId: tag === 'main' ? b!.id : null, pushedAt: new Date().toISOString() });
    const images = await page('/images/alice', alice);
    expect(images.status).toBe(200);
    expect(images.body).toContain('alice/shop');
    expect(images.body).toContain('2 MiB');
    expect(images.body).toContain(`href="/builds/${b!.id}"`);
    expect(images.body).toContain('docker pull reg:5000/alice/shop:main');
    expect(images.body).toContain('docker push');
    expect(images.body).toContain('&lt;script&gt;');
    expect(images.body).not.toContain('<script>');
    expect((await page('/images/alice', bob)).status).toBe(404);
    expect((await page('/images/Not_A_Name', alice)).status).toBe(400);
    const repo = await page('/repos/alice/shop', alice);
    expect(repo.body).toContain('Images in the registry');
    expect(repo.body).toContain('href="/images/alice#image-shop"');

    m.store.builds.markLogsExpired([b!.id], '2026-02-03T00:00:00.000Z');
    const build = await page(`/builds/${b!.id}`, alice);
    expect(build.body).toContain(`the log of build #${b!.id} expired on 2026-02-03`);
    expect(build.body).not.toContain('id="log"');
  });
});
