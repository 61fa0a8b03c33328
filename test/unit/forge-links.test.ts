import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { BadRequestError, NotFoundError } from '../../src/errors.js';
import { repoUrlKey } from '../../src/forges/forge.js';
import { checkLinkInput, UpstreamLinks } from '../../src/forges/links.js';
import { RepoStore } from '../../src/git/repos.js';
import { MAX_SECRET_BYTES } from '../../src/limits.js';
import { SecretError } from '../../src/secrets/vault.js';
import { hostAllowed, loadSettings, SettingsError } from '../../src/settings.js';
import { openDb } from '../../src/store/db.js';
import { ForgeStore } from '../../src/store/forges.js';
import { Store } from '../../src/store/store.js';

const VALID = { url: 'https://github.com/acme/shop', forge: 'github', webhook_secret: 'hook secret 0123456789' };
const problemsOf = (body: unknown, opts?: Parameters<typeof checkLinkInput>[1]): string[] => {
  const r = checkLinkInput(body, opts);
  return r.ok ? [] : r.problems;
};

describe('checkLinkInput', () => {
  it('refuses a body that is not an object', () => {
    for (const body of [null, [], 'x', 3, undefined]) {
      expect(problemsOf(body), JSON.stringify(body)).toEqual([expect.stringMatching(/the body must be a JSON object/)]);
    }
  });

  it('names each missing required field', () => {
    expect(problemsOf({})).toEqual(['url is required', 'forge is required', 'webhook_secret is required']);
    expect(problemsOf({ ...VALID, webhook_secret: null })).toEqual(['webhook_secret is required']);
  });

  it('collects every problem at once rather than the first', () => {
    const problems = problemsOf({ url: 'ext::sh -c x', forge: 'bitbucket', extra: 1, status_token: 'a b', api_url: 'ftp://x' });
    expect(problems).toHaveLength(6);
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^unknown field "extra": the fields are url, forge, webhook_secret, status_token, api_url$/),
        'webhook_secret is required',
        expect.stringMatching(/^forge "bitbucket" is not one of github, gitea, gitlab/),
        expect.stringMatching(/^upstream URL "ext::sh -c x" /),
        expect.stringMatching(/^api_url "ftp:\/\/x" is not http\(s\)/),
        expect.stringMatching(/^status_token must be .* without spaces or control characters/),
      ]),
    );
  });

  it('refuses fields of the wrong type or empty', () => {
    expect(problemsOf({ url: 5, forge: ['github'], webhook_secret: '', status_token: {}, api_url: false })).toEqual([
      'url must be a non-empty string',
      'forge must be a non-empty string',
      'webhook_secret must be a non-empty string',
      'status_token must be a non-empty string',
      'api_url must be a non-empty string',
    ]);
  });

  it.each([
    ['/srv/git/shop.git', /is a local path/],
    ['file:///srv/git/shop.git', /uses file:\/\/; only http/],
    ['ext::sh -c x', /<transport>::<address>|whitespace/],
    ['ext::sh%20-c%20x', /ext:: runs commands/],
    ['--upload-pack=x', /starts with "-", which git would read as an option/],
    ['https://github.com/acme/--upload-pack=x', /contains a git option/],
    ['git@github.com:acme/shop.git', /looks like an ssh address/],
    ['ssh://git@github.com/acme/shop.git', /uses ssh:\/\//],
    ['https://user:tok@github.com/acme/shop', /contains credentials/],
    ['https://tok@github.com/acme/shop', /contains credentials/],
    ['https://github.com/acme/shop?x=1', /has a query or fragment/],
    ['https://github.com/acme/shop#main', /has a query or fragment/],
    ['https://github.com/acme/shop/extra', /is not a GitHub repository URL \(https:\/\/host\/owner\/repo\)/],
    ['https://github.com/acme', /is not a GitHub repository URL|does not name a repository/],
    ['https://github.com/acme/sh op', /whitespace/],
  ])('refuses the url %j', (url, why) => {
    const problems = problemsOf({ ...VALID, url });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(why);
  });

  it('does not repeat the credentials of a refused URL', () => {
    const problems = problemsOf({ ...VALID, url: 'https://user:s3cret-tok@github.com/acme/shop' });
    expect(problems).toEqual([expect.stringMatching(/contains credentials/)]);
    expect(problems[0]).not.toContain('s3cret-tok');
  });

  it('accepts a deeper path where the forge allows one (GitLab groups, a Gitea under a sub-path)', () => {
    expect(checkLinkInput({ ...VALID, url: 'https://gitlab.example/group/sub/shop.git', forge: 'gitlab' }).ok).toBe(true);
    expect(checkLinkInput({ ...VALID, url: 'https://code.example/gitea/acme/shop', forge: 'gitea' }).ok).toBe(true);
  });

  it.each([
    ['not a url', /api_url "not a url" is not an absolute URL/],
    ['ftp://api.example/v1', /is not http\(s\)/],
    ['https://u:p@api.example/v3', /must not carry credentials/],
    ['https://api.example/v3?x=1', /has a query or fragment/],
  ])('refuses the api_url %j', (apiUrl, why) => {
    expect(problemsOf({ ...VALID, api_url: apiUrl })).toEqual([expect.stringMatching(why)]);
  });

  it('names a bad api_url once, whichever the forge', () => {
    for (const forge of ['github', 'gitea', 'gitlab']) {
      const url = forge === 'gitlab' ? 'https://gitlab.example/group/shop' : 'https://git.example/acme/shop';
      expect(problemsOf({ ...VALID, url, forge, api_url: 'not a url' }), forge).toEqual(['api_url "not a url" is not an absolute URL']);
    }
  });

  it.each([
    ['a space', 'tok en'],
    ['a tab', 'tok\ten'],
    ['a newline', 'tok\n'],
    ['a leading space', ' token'],
    ['4097 characters', 'x'.repeat(4097)],
  ])('refuses a status_token with %s', (_, token) => {
    expect(problemsOf({ ...VALID, status_token: token })).toEqual([
      expect.stringMatching(/^status_token must be at most 4096 characters without spaces or control characters$/),
    ]);
  });

  it('refuses a webhook_secret over the limit', () => {
    expect(problemsOf({ ...VALID, webhook_secret: 'x'.repeat(MAX_SECRET_BYTES + 1) })).toEqual([`webhook_secret is longer than ${MAX_SECRET_BYTES} bytes`]);
    expect(checkLinkInput({ ...VALID, webhook_secret: 'x'.repeat(MAX_SECRET_BYTES) }).ok).toBe(true);
  });

  it('refuses a webhook secret shorter than 16 characters (GitLab sends it as it is; a short one is guessed)', () => {
    expect(problemsOf({ ...VALID, webhook_secret: 'x'.repeat(15) })).toEqual([expect.stringMatching(/webhook_secret must be at least 16 characters/)]);
    expect(checkLinkInput({ ...VALID, webhook_secret: 'x'.repeat(16) }).ok).toBe(true);
  });

  it('accepts a valid link, with api_url normalised and absent fields null', () => {
    expect(checkLinkInput(VALID)).toEqual({
      ok: true,
      value: { url: VALID.url, forge: 'github', webhookSecret: 'hook secret 0123456789', statusToken: null, apiUrl: null },
    });
    expect(
      checkLinkInput({ ...VALID, url: 'https://ghe.corp.example/acme/shop.git', status_token: 'ghp_x', api_url: 'https://GHE.corp.example/api/v3///' }),
    ).toEqual({
      ok: true,
      value: {
        url: 'https://ghe.corp.example/acme/shop.git',
        forge: 'github',
        webhookSecret: 'hook secret 0123456789',
        statusToken: 'ghp_x',
        apiUrl: 'https://ghe.corp.example/api/v3',
      },
    });
    expect(checkLinkInput({ ...VALID, status_token: null, api_url: null })).toMatchObject({ ok: true, value: { statusToken: null, apiUrl: null } });
  });

  it("applies the operator's host restriction to the url", () => {
    const opts = { allowHosts: (h: string) => hostAllowed(['*.corp.example'], h) };
    expect(checkLinkInput({ ...VALID, url: 'https://git.corp.example/acme/shop' }, opts).ok).toBe(true);
    expect(problemsOf(VALID, opts)).toEqual([expect.stringMatching(/names host github\.com, which the operator's setting does not allow/)]);
  });

  it("applies the operator's host restriction to the api_url too (the status token is sent there)", () => {
    const opts = { allowHosts: (h: string) => hostAllowed(['*.corp.example'], h) };
    const r = checkLinkInput({ ...VALID, url: 'https://git.corp.example/acme/shop', status_token: 'tok', api_url: 'http://169.254.169.254/latest' }, opts);
    expect(r.ok).toBe(false);
  });
});

describe('checkLinkInput: link-local hosts (issue 24)', () => {
  const RULE =
    'a link-local address; link-local addresses (169.254.0.0/16, fe80::/10: cloud metadata services answer there) are refused unless the operator lists the host in CODEHUB_UPSTREAM_HOSTS';

  it.each([
    ['http://169.254.169.254/acme/shop', '169.254.169.254'],
    ['http://2852039166/acme/shop', '169.254.169.254'],
    ['http://0xa9fea9fe/acme/shop', '169.254.169.254'],
    ['http://0251.0376.0251.0376/acme/shop', '169.254.169.254'],
    ['http://169.254.43518/acme/shop', '169.254.169.254'],
    ['http://169.254.169.254./acme/shop', '169.254.169.254'],
    ['http://[::ffff:169.254.169.254]/acme/shop', '[::ffff:a9fe:a9fe]'],
    ['http://[fe80::1]/acme/shop', '[fe80::1]'],
  ])('refuses the url %s, naming the field and the rule', (url, host) => {
    expect(problemsOf({ ...VALID, url })).toEqual([`upstream URL ${JSON.stringify(url)} names host ${host}, ${RULE}`]);
  });

  it.each([
    ['http://169.254.169.254/latest', '169.254.169.254'],
    ['http://2852039166/api/v3', '169.254.169.254'],
    ['http://[::ffff:a9fe:a9fe]/api/v3', '[::ffff:a9fe:a9fe]'],
    ['http://[FE80::1]/api/v3', '[fe80::1]'],
  ])('refuses the api_url %s (the status token goes there, its message comes back), naming the field and the rule', (apiUrl, host) => {
    expect(problemsOf({ ...VALID, status_token: 'tok', api_url: apiUrl })).toEqual([`api_url ${JSON.stringify(apiUrl)} names host ${host}, ${RULE}`]);
  });

  it('takes them when the operator lists the host, and internal hosts always', () => {
    const opts = { allowHosts: (h: string) => hostAllowed(['169.254.169.254', 'fe80::1'], h) };
    expect(checkLinkInput({ ...VALID, url: 'http://2852039166/acme/shop', api_url: 'http://[fe80::1]/api/v3' }, opts).ok).toBe(true);
    expect(checkLinkInput({ ...VALID, url: 'http://10.0.0.5:3000/acme/shop', api_url: 'http://localhost:3000/api/v3' }).ok).toBe(true);
  });
});

describe('repoUrlKey', () => {
  it.each([
    ['https://github.com/acme/shop', 'github.com/acme/shop'],
    ['https://GitHub.com/Acme/Shop.git', 'github.com/acme/shop'],
    ['https://github.com/acme/shop/', 'github.com/acme/shop'],
    ['https://github.com/acme/shop.git/', 'github.com/acme/shop'],
    ['http://github.com/acme/shop', 'github.com/acme/shop'],
    ['https://github.com:443/acme/shop', 'github.com/acme/shop'],
    ['http://gitea.internal:3000/acme/shop.git', 'gitea.internal:3000/acme/shop'],
    ['https://user@github.com/acme/shop', 'github.com/acme/shop'],
    ['git@github.com:acme/shop.git', 'github.com/acme/shop'],
    ['git@GitHub.com:Acme/Shop', 'github.com/acme/shop'],
    ['github.com:acme/shop.git', 'github.com/acme/shop'],
    ['ssh://git@github.com/acme/shop.git', 'github.com/acme/shop'],
    ['ssh://git@gitea.internal:2222/acme/shop.git', 'gitea.internal/acme/shop'],
    ['git://github.com/acme/shop.git', 'github.com/acme/shop'],
    ['https://gitlab.example/group/sub/shop.git', 'gitlab.example/group/sub/shop'],
  ])('%s -> %s', (raw, key) => {
    expect(repoUrlKey(raw)).toBe(key);
  });

  it.each([
    'ftp://github.com/acme/shop',
    'file:///srv/acme/shop.git',
    'https://github.com',
    'https://github.com/',
    'not a url',
    '/srv/acme/shop',
    '',
    'https://[/a/b',
  ])('%j -> null', (raw) => {
    expect(repoUrlKey(raw)).toBeNull();
  });
});

describe('CODEHUB_UPSTREAM_HOSTS', () => {
  it('is empty (every host) by default, and a trimmed, lower-cased list when set', () => {
    expect(loadSettings({}).upstreamHosts).toEqual([]);
    expect(loadSettings({ CODEHUB_UPSTREAM_HOSTS: '' }).upstreamHosts).toEqual([]);
    expect(loadSettings({ CODEHUB_UPSTREAM_HOSTS: ' Git.Corp.Example, *.corp.example ,,10.0.0.5,[::1],fd00::5 ' }).upstreamHosts).toEqual([
      'git.corp.example',
      '*.corp.example',
      '10.0.0.5',
      '[::1]',
      'fd00::5',
    ]);
  });

  it.each([
    'https://git.corp.example',
    'git.corp.example/x',
    'a b',
    '*',
    '*.',
    'foo.*.example',
    '*example.com',
    'a_b.example',
    '-x.example',
    'git.corp.example:3000',
    '10.0.0.5:3000',
    '.',
  ])('refuses %j, naming the variable', (value) => {
    expect(() => loadSettings({ CODEHUB_UPSTREAM_HOSTS: `git.example,${value}` })).toThrow(SettingsError);
    expect(() => loadSettings({ CODEHUB_UPSTREAM_HOSTS: `git.example,${value}` })).toThrow(/CODEHUB_UPSTREAM_HOSTS/);
  });
});

describe('hostAllowed', () => {
  const patterns = loadSettings({ CODEHUB_UPSTREAM_HOSTS: 'git.corp.example,*.dev.example,10.0.0.5,[::1],fd00::5' }).upstreamHosts;
  it.each([
    ['git.corp.example', true],
    ['GIT.Corp.Example', true],
    ['corp.example', false],
    ['x.git.corp.example', false],
    ['evilgit.corp.example', false],
    ['a.dev.example', true],
    ['a.b.dev.example', true],
    ['dev.example', false],
    ['evildev.example', false],
    ['dev.example.evil.com', false],
    ['10.0.0.5', true],
    ['10.0.0.50', false],
    ['[::1]', true],
    ['::1', true],
    ['[fd00::5]', true],
    ['github.com', false],
  ])('%s: %s', (host, allowed) => {
    expect(hostAllowed(patterns, host)).toBe(allowed);
  });

  it('allows nothing with no patterns (the caller skips the check when the list is empty)', () => {
    expect(hostAllowed([], 'github.com')).toBe(false);
  });
});

describe('UpstreamLinks', () => {
  let store: Store;
  let forges: ForgeStore;
  let repos: RepoStore;
  let links: UpstreamLinks;
  const key = Buffer.alloc(32, 3);
  const PUBLIC = 'https://build.example.com';
  const SECRET = 'webhook-secret-5f1e2d';
  const TOKEN = 'status-token-a9b8c7';

  beforeEach(() => {
    store = new Store(openDb(':memory:'));
    forges = new ForgeStore(store.db);
    repos = new RepoStore(mkdtempSync(join(tmpdir(), 'chb-links-')));
    links = new UpstreamLinks({ store, forges, repos, key, publicUrl: PUBLIC });
  });

  const link = { url: 'https://github.com/Acme/Shop', forge: 'github', webhook_secret: SECRET, status_token: TOKEN };
  const rawRow = (owner: string, name: string) =>
    store.db.$client.prepare('SELECT u.* FROM upstreams u JOIN repos r ON r.id = u.repo_id WHERE r.owner = ? AND r.name = ?').get(owner, name) as Record<
      string,
      unknown
    >;

  it('creates the repo and its bare git repo, shows the link without secrets, and says whether it was created', async () => {
    const first = await links.set('alice', 'shop', link);
    expect(first.created).toBe(true);
    expect(repos.exists('alice', 'shop')).toBe(true);
    expect(store.repos.byName('alice', 'shop')).toBeDefined();
    expect(first.view).toEqual({
      repo: 'alice/shop',
      url: 'https://github.com/Acme/Shop',
      forge: 'github',
      api_url: 'https://api.github.com',
      hook_url: `${PUBLIC}/hooks/github?repo=alice/shop`,
      statuses: true,
      created_at: expect.any(String),
      updated_at: expect.any(String),
      last_delivery: null,
    });
    expect(JSON.stringify(first.view)).not.toContain(SECRET);
    expect(JSON.stringify(first.view)).not.toContain(TOKEN);
    expect(links.get('alice', 'shop')).toEqual(first.view);

    const second = await links.set('alice', 'shop', { url: 'https://gitea.example/sub/acme/shop.git', forge: 'gitea', webhook_secret: 'other-0123456789' });
    expect(second.created).toBe(false);
    expect(second.view).toMatchObject({
      forge: 'gitea',
      api_url: 'https://gitea.example/sub/api/v1',
      hook_url: `${PUBLIC}/hooks/gitea?repo=alice/shop`,
      statuses: false,
    });
    expect(second.view.created_at).toBe(first.view.created_at);
    expect(links.openByName('alice', 'shop')).toMatchObject({ webhookSecret: 'other-0123456789', statusToken: undefined });
  });

  it('refuses a bad link with every problem, and creates nothing', async () => {
    const err = await links.set('alice', 'shop', { url: 'file:///x', forge: 'svn' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BadRequestError);
    expect((err as BadRequestError).message).toMatch(/^upstream link of alice\/shop: /);
    expect((err as BadRequestError).details).toEqual({
      problems: [expect.stringMatching(/webhook_secret is required/), expect.stringMatching(/forge "svn"/), expect.stringMatching(/file:\/\//)],
    });
    expect(store.repos.byName('alice', 'shop')).toBeUndefined();
    expect(repos.exists('alice', 'shop')).toBe(false);
  });

  it('seals both secrets in the database, bound to the repo and the column', async () => {
    await links.set('alice', 'shop', link);
    const row = rawRow('alice', 'shop');
    expect(row.webhook_secret).toMatch(/^v1:/);
    expect(row.status_token).toMatch(/^v1:/);
    const dump = JSON.stringify(store.db.$client.prepare('SELECT * FROM upstreams').all());
    expect(dump).not.toContain(SECRET);
    expect(dump).not.toContain(TOKEN);
    expect(dump).not.toContain(Buffer.from(SECRET).toString('base64').slice(0, 12));
    expect(links.openByName('alice', 'shop')).toMatchObject({
      owner: 'alice',
      name: 'shop',
      webhookSecret: SECRET,
      statusToken: TOKEN,
      url: new URL('https://github.com/Acme/Shop'),
    });

    // Copied onto another repo's link, the sealed values do not open.
    await links.set('bob', 'shop', { ...link, webhook_secret: 'bob secret 0123456789', status_token: 'bob-token' });
    const bob = store.repos.byName('bob', 'shop')!;
    store.db.$client.prepare('UPDATE upstreams SET webhook_secret = ?, status_token = ? WHERE repo_id = ?').run(row.webhook_secret, row.status_token, bob.id);
    expect(() => links.openByName('bob', 'shop')).toThrow(SecretError);
    expect(() => links.openById(bob.id)).toThrow(/cannot be decrypted/);
    // Nor does the token in the secret's column of its own repo.
    store.db.$client.prepare('UPDATE upstreams SET webhook_secret = ? WHERE repo_id = ?').run(row.status_token, store.repos.byName('alice', 'shop')!.id);
    expect(() => links.openByName('alice', 'shop')).toThrow(SecretError);
  });

  it("does not open with another server's key", async () => {
    await links.set('alice', 'shop', link);
    const other = new UpstreamLinks({ store, forges, repos, key: Buffer.alloc(32, 4), publicUrl: PUBLIC });
    expect(() => other.openByName('alice', 'shop')).toThrow(SecretError);
  });

  it('get and remove say NotFound for a repo without a link', async () => {
    expect(() => links.get('alice', 'shop')).toThrow(NotFoundError);
    expect(() => links.remove('alice', 'shop')).toThrow(NotFoundError);
    store.repos.ensure('alice', 'shop');
    expect(() => links.get('alice', 'shop')).toThrow(/alice\/shop is not linked to an upstream; link it with PUT \/api\/repos\/alice\/shop\/upstream/);
    await links.set('alice', 'shop', link);
    links.remove('alice', 'shop');
    expect(() => links.get('alice', 'shop')).toThrow(NotFoundError);
    expect(() => links.remove('alice', 'shop')).toThrow(NotFoundError);
    expect(links.openByName('alice', 'shop')).toBeUndefined();
    expect(links.openByUrls(['https://github.com/acme/shop'])).toEqual([]);
    expect(links.openByName('nobody', 'nothing')).toBeUndefined();
  });

  it("finds a link by any of the payload's URLs: web, clone, ssh, any case, with or without .git", async () => {
    await links.set('alice', 'shop', link);
    await links.set('alice', 'tool', { ...link, url: 'https://github.com/acme/tool.git' });
    await links.set('bob', 'site', { ...link, url: 'https://gitlab.example/Group/Sub/Site', forge: 'gitlab' });
    const found = (urls: string[]) => links.openByUrls(urls).map((l) => `${l.owner}/${l.name}`);
    expect(found(['https://github.com/acme/shop'])).toEqual(['alice/shop']);
    expect(found(['https://github.com/ACME/SHOP.git'])).toEqual(['alice/shop']);
    expect(found(['git@github.com:acme/shop.git'])).toEqual(['alice/shop']);
    expect(found(['ssh://git@github.com/acme/shop.git'])).toEqual(['alice/shop']);
    expect(found(['git://github.com/acme/shop.git'])).toEqual(['alice/shop']);
    expect(found(['https://github.com/acme/tool'])).toEqual(['alice/tool']);
    expect(found(['git@gitlab.example:group/sub/site.git'])).toEqual(['bob/site']);
    expect(found(['https://github.com/acme/shop', 'https://github.com/acme/shop.git', 'git@github.com:acme/shop.git'])).toEqual(['alice/shop']);
    expect(found(['https://github.com/acme/other', 'https://github.com/acme', 'not a url'])).toEqual([]);
    expect(found(['https://gitlab.example/group/site'])).toEqual([]);
    expect(found([])).toEqual([]);
    const opened = links.openByUrls(['git@github.com:acme/shop.git'])[0]!;
    expect(opened).toMatchObject({ repoId: store.repos.byName('alice', 'shop')!.id, webhookSecret: SECRET, statusToken: TOKEN, apiUrl: undefined });
    expect(opened.forge.name).toBe('github');
  });

  it('finds every repo linked to the same upstream', async () => {
    await links.set('alice', 'shop', link);
    await links.set('bob', 'shop-mirror', { ...link, url: 'https://github.com/acme/shop.git', webhook_secret: 'bob-0123456789abcdef' });
    expect(links.openByUrls(['https://github.com/acme/shop']).map((l) => [`${l.owner}/${l.name}`, l.webhookSecret])).toEqual([
      ['alice/shop', SECRET],
      ['bob/shop-mirror', 'bob-0123456789abcdef'],
    ]);
  });

  it('refuses hosts the operator did not allow', async () => {
    const restricted = new UpstreamLinks({
      store,
      forges,
      repos,
      key,
      publicUrl: PUBLIC,
      urlOptions: { allowHosts: (h) => hostAllowed(['*.corp.example', '10.0.0.5'], h) },
    });
    const err = await restricted.set('alice', 'shop', link).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BadRequestError);
    expect((err as BadRequestError).details).toEqual({
      problems: [expect.stringMatching(/names host github\.com, which the operator's setting does not allow/)],
    });
    expect(store.repos.byName('alice', 'shop')).toBeUndefined();
    expect((await restricted.set('alice', 'shop', { ...link, url: 'https://git.corp.example/acme/shop' })).created).toBe(true);
    expect((await restricted.set('alice', 'tool', { ...link, url: 'http://10.0.0.5:3000/acme/tool', forge: 'gitea' })).created).toBe(true);
  });
});
