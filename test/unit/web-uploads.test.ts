import { jsx } from 'hono/jsx';
import { generateToken, hashToken } from '../../src/auth/tokens.js';
import { beforeEach, describe, expect, it } from 'vitest';
import { BuildPage } from '../../src/http/web/build-page.js';
import { BuildsTable } from '../../src/http/web/builds.js';
import { HomePage } from '../../src/http/web/home-page.js';
import { html } from '../../src/http/web/layout.js';
import type { Build, PushBuild, UploadBuild } from '../../src/store/schema.js';
import { memoryApp } from '../helpers/memory-app.js';

// The web pages for builds of uploaded workspace folders (`codehub-build build .`, issue 16): an upload has no
// repo page, branch or commit, and cannot be rebuilt. First the components rendered alone, then the routes
// over an in-memory app.

const now = Date.parse('2026-03-01T12:10:00Z');
const viewer = { name: 'alice', csrf: 'csrf-token' };
const sha = 'c0ffee'.padEnd(40, '1');

const common = {
  owner: 'alice',
  config: null,
  digest: null,
  reason: null,
  reasonCode: null,
  pusher: 'alice',
  queuedAt: '2026-03-01T12:00:00Z',
  startedAt: '2026-03-01T12:00:02Z',
  finishedAt: '2026-03-01T12:01:00Z',
  attempts: 1,
  notBefore: null,
  builder: 'tcp://buildkitd:1234',
  builderIdentity: null,
  steps: null,
  logExpiredAt: null,
  scan: null,
  insight: null,
  platforms: null,
} as const;

function uploadBuild(over: Partial<UploadBuild> = {}): UploadBuild {
  return {
    ...common,
    id: 12,
    source: 'upload',
    repoId: null,
    repo: 'alice/web',
    ref: null,
    refType: null,
    refName: null,
    commitSha: null,
    uploadId: 'u-123',
    uploadFolder: 'my-site',
    contextBytes: 5_300_000,
    image: 'web',
    imageRefs: ['localhost:5000/alice/web:try1'],
    status: 'succeeded',
    ...over,
  };
}

function pushBuild(over: Partial<PushBuild> = {}): PushBuild {
  return {
    ...common,
    id: 11,
    source: 'push',
    repoId: 1,
    repo: 'alice/shop',
    ref: 'refs/heads/main',
    refType: 'branch',
    refName: 'main',
    commitSha: sha,
    uploadId: null,
    uploadFolder: null,
    contextBytes: null,
    image: 'shop',
    imageRefs: ['localhost:5000/alice/shop:main'],
    status: 'succeeded',
    ...over,
  };
}

const render = (component: unknown, props: Record<string, unknown>): string => html(jsx(component as never, props));
const buildPage = (b: Build, canWrite = true) => render(BuildPage, { viewer, b, lines: [], hidden: 0, canWrite, now });
const rows = (page: string) => page.match(/<tr>[\s\S]*?<\/tr>/g)!.slice(1);

describe('BuildsTable with uploads', () => {
  it("shows an upload's folder for its ref, a dash for its commit, and its uploader", () => {
    const page = render(BuildsTable, { builds: [uploadBuild({ pusher: 'alice' }), pushBuild()], now });
    const [upload, push] = rows(page);
    expect(upload).toContain('<td>upload: <span class="mono">my-site</span></td>');
    expect(upload).toContain('<td><span class="muted" title="an uploaded folder has no commit">—</span></td>');
    expect(upload).not.toContain('/commits/');
    expect(upload).toContain('<td class="hide-narrow">alice</td>');
    expect(upload).toContain('<a href="/builds/12">#12</a>');
    // A push's row is as before: its branch, and its short commit linking the commit's page.
    expect(push).toContain('<td>main</td>');
    expect(push).toContain(`<a class="mono" href="/repos/alice/shop/commits/${sha}" title="${sha}">c0ffee1</a>`);
  });

  it("names an upload's registry repository without linking a repo page that does not exist", () => {
    const [upload, push] = rows(render(BuildsTable, { builds: [uploadBuild(), pushBuild()], now, showRepo: true }));
    expect(upload).toContain('<td>alice/web</td>');
    expect(upload).not.toContain('href="/repos/');
    expect(push).toContain('<td><a href="/repos/alice/shop">alice/shop</a></td>');
  });
});

describe('BuildPage of an upload', () => {
  it('has no repo or commit crumbs, says where the folder came from and its size, and has no branch or commit', () => {
    const page = buildPage(uploadBuild());
    expect(page).toContain('<title>#12 upload my-site · codehub-build</title>');
    expect(page).toContain('<p class="crumbs"><a href="/#uploads">Uploads</a> / <span aria-current="page">#12</span></p>');
    expect(page).not.toContain('href="/repos/');
    expect(page).not.toContain('/commits/');
    expect(page).toContain('<dt>Source</dt><dd>folder <span class="mono">my-site</span> uploaded by alice</dd>');
    expect(page).toContain('<dt>Context</dt><dd>5.05 MiB</dd>');
    expect(page).not.toMatch(/<dt>(Branch|Tag|Commit|Repository|Pushed by)<\/dt>/);
    expect(page).not.toContain('null');
    // What it pushed, as for any build.
    expect(page).toContain('<dt>Tags (not pushed)</dt>');
    expect(page).toContain('localhost:5000/alice/web:try1');
  });

  it('offers no Rebuild (the server does not keep the folder), but Cancel while it is queued or running', () => {
    const ended = buildPage(uploadBuild());
    expect(ended).not.toContain('/rebuild');
    expect(ended).not.toContain('Rebuild');
    for (const status of ['queued', 'running'] as const) {
      const active = buildPage(uploadBuild({ status, finishedAt: null }));
      expect(active).toContain(
        '<form method="post" action="/builds/12/cancel"><input type="hidden" name="csrf" value="csrf-token"/><button type="submit" class="danger">Cancel build</button></form>',
      );
      expect(active).not.toContain('/rebuild');
    }
  });

  it("leaves a pushed build's page as it was: repo and commit crumbs, branch and commit rows, Rebuild", () => {
    const page = buildPage(pushBuild());
    expect(page).toContain('<title>#11 alice/shop main · codehub-build</title>');
    expect(page).toContain(
      `<p class="crumbs"><a href="/">Repositories</a> / <a href="/repos/alice/shop">alice/shop</a> / <a href="/repos/alice/shop/commits/${sha}">c0ffee1</a></p>`,
    );
    expect(page).toContain('<dt>Branch</dt><dd><a href="/repos/alice/shop?branch=main">main</a></dd>');
    expect(page).toContain(`<dt>Commit</dt><dd><a class="mono" href="/repos/alice/shop/commits/${sha}">${sha}</a></dd>`);
    expect(page).toContain('<dt>Pushed by</dt><dd>alice</dd>');
    expect(page).toContain('<form method="post" action="/builds/11/rebuild">');
    expect(page).not.toContain('<dt>Source</dt>');
    expect(page).not.toContain('<dt>Context</dt>');
  });
});

describe('HomePage with uploads', () => {
  const home = (uploads?: Build[]) => render(HomePage, { viewer, repos: [], more: 0, publicUrl: 'http://x', now, ...(uploads ? { uploads } : {}) });

  it("lists the viewer's uploads in a card of their own", () => {
    const page = home([uploadBuild()]);
    expect(page).toContain('<section class="card" aria-labelledby="uploads"><h2 id="uploads">Your uploads</h2>');
    expect(page).toContain('upload: <span class="mono">my-site</span>');
    expect(page).toContain('<th scope="col">Commit</th>');
  });

  it('has no uploads card for a viewer without uploads', () => {
    for (const page of [home([]), home()]) {
      expect(page).not.toContain('Your uploads');
      expect(page).not.toContain('id="uploads"');
    }
  });

  it("shows an upload that shares a repo's name in that repo's card without a branch or commit link", () => {
    const repo = { id: 1, owner: 'alice', name: 'web', defaultBranch: null, createdAt: '', publicBadge: false, retentionKeep: null, retentionDays: null };
    const page = render(HomePage, { viewer, repos: [{ repo, lines: [uploadBuild()] }], more: 0, publicUrl: 'http://x', now });
    const [row] = rows(page);
    expect(row).toContain('<td>upload: <span class="mono">my-site</span></td>');
    expect(row).not.toContain('?branch=');
    expect(row).not.toContain('/commits/');
  });
});

describe('upload pages over the app', () => {
  let m: ReturnType<typeof memoryApp>;
  let alice: string;
  let bob: string;
  let admin: string;
  const page = async (path: string, token: string, init: RequestInit = {}) => {
    const headers = new Headers(init.headers);
    headers.set('cookie', `codehub_token=${token}`);
    const res = await m.app.request(path, { ...init, headers });
    return { status: res.status, location: res.headers.get('location'), body: await res.text() };
  };
  const csrfOf = (body: string) => /name="csrf" value="([^"]+)"/.exec(body)![1]!;
  const post = (path: string, token: string, form: Record<string, string>) => page(path, token, { method: 'POST', body: new URLSearchParams(form) });
  const addUpload = (uploader: string, image: string, folder: string, status: Build['status'] = 'succeeded') =>
    m.store.builds.insert<UploadBuild>(
      [
        {
          source: 'upload',
          repo: `${uploader}/${image}`,
          owner: uploader,
          uploadId: `u-${folder}`,
          uploadFolder: folder,
          contextBytes: 2048,
          image,
          status,
          pusher: uploader,
        },
      ],
      (b) => [`localhost:5000/${b.repo}:try${b.id}`],
    )[0]!;

  beforeEach(() => {
    m = memoryApp();
    alice = m.addUser('alice');
    bob = m.addUser('bob');
    admin = generateToken();
    m.store.accounts.createUser('root', hashToken(admin), ['read', 'push', 'admin']);
  });

  it("lists the viewer's newest 10 uploads on the home page, and nobody else's", async () => {
    for (let i = 1; i <= 11; i++) addUpload('alice', 'web', `site${i}`);
    addUpload('bob', 'api', 'bobs-folder');
    m.addBuilds('alice', 'shop', [sha]);
    const home = (await page('/', alice)).body;
    expect(home).toContain('<h2 id="uploads">Your uploads</h2>');
    const card = home.slice(home.indexOf('id="uploads"'), home.indexOf('id="workspace"'));
    expect(card.match(/upload: <span class="mono">site\d+<\/span>/g)).toHaveLength(10);
    expect(card).toContain('site11');
    expect(card).not.toContain('>site1<');
    expect(card).not.toContain('shop');
    expect(home).not.toContain('bobs-folder');
    // The pushed repo's card is still there.
    expect(home).toContain('<a href="/repos/alice/shop">alice/shop</a>');

    const bobs = (await page('/', bob)).body;
    expect(bobs).toContain('bobs-folder');
    expect(bobs).not.toContain('site11');
    // An admin may read every build, but "Your uploads" are their own: none here.
    expect((await page('/', admin)).body).not.toContain('Your uploads');
  });

  it('has no uploads card for a viewer with pushes only', async () => {
    m.addBuilds('alice', 'shop', [sha]);
    expect((await page('/', alice)).body).not.toContain('Your uploads');
  });

  it("shows an upload's page to its uploader (not to others), and refuses its rebuild but cancels it", async () => {
    const b = addUpload('alice', 'web', 'my-site', 'queued');
    const view = await page(`/builds/${b.id}`, alice);
    expect(view.status).toBe(200);
    expect(view.body).toContain(`<title>#${b.id} upload my-site · codehub-build</title>`);
    expect(view.body).toContain('<dt>Source</dt><dd>folder <span class="mono">my-site</span> uploaded by alice</dd>');
    expect(view.body).toContain('<dt>Context</dt><dd>2 KiB</dd>');
    expect(view.body).toContain(`localhost:5000/alice/web:try${b.id}`);
    expect(view.body).toContain(`action="/builds/${b.id}/cancel"`);
    expect(view.body).not.toContain('/rebuild');
    expect((await page(`/builds/${b.id}`, bob)).status).toBe(404);

    const csrf = csrfOf(view.body);
    // The form is not offered, and the server would refuse it anyway: the folder is not kept.
    expect((await post(`/builds/${b.id}/rebuild`, alice, { csrf })).status).toBe(409);
    expect(await post(`/builds/${b.id}/cancel`, alice, { csrf })).toMatchObject({ status: 303, location: `/builds/${b.id}` });
    const canceled = (await page(`/builds/${b.id}`, alice)).body;
    expect(canceled).toContain('canceled');
    expect(canceled).not.toContain('/cancel"');
    expect(canceled).not.toContain('/rebuild');
  });
});
