import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { BadRequestError } from '../../src/errors.js';
import type { Forge, PushEvent, StatusUpdate, WebhookRequest } from '../../src/forges/forge.js';
import { FORGE_NAMES, forgeNamed, isForgeName } from '../../src/forges/index.js';

/** The documented payloads and headers of each forge; test/fixtures/forges/README.md says where each comes from. */
const FIXTURES = fileURLToPath(new URL('../fixtures/forges/', import.meta.url));
const SECRET = "the link's webhook secret: 7c1d0f";
const TOKEN = 'status-token-9b2e4a';
const ZERO = '0'.repeat(40);

const hmacHex = (body: Buffer | string, secret: string) => createHmac('sha256', secret).update(body).digest('hex');

/** A delivery: `<payload>.json` as raw bytes (what the forge signs) and the headers in `<headers>.headers.json`. */
interface Delivery {
  forge: string;
  payload: string;
  headers: string;
}
function load(d: Delivery): { body: Buffer; headers: Record<string, string> } {
  const dir = join(FIXTURES, d.forge);
  return {
    body: readFileSync(join(dir, `${d.payload}.json`)),
    headers: JSON.parse(readFileSync(join(dir, `${d.headers}.headers.json`), 'utf8')) as Record<string, string>,
  };
}

const UPDATE: StatusUpdate = {
  sha: '4d2ab4e76d0d405d17d1a0f2b8a6071394e3ab40',
  state: 'success',
  targetUrl: 'https://build.example.com/alice/shop/builds/42',
  description: 'Built alice/shop:main in 1m 3s',
  context: 'codehub-build/shop',
};

interface StatusCase {
  label: string;
  upstream: string;
  apiUrl?: string;
  update?: Partial<StatusUpdate>;
  url: string;
  headers: Record<string, string>;
  /** In the order the forge's body is written. */
  body: Record<string, unknown>;
}

interface ForgeContract {
  /** The headers that authenticate `body` with `secret` as the forge sends them, computed here, not by the code under test. */
  sign(body: Buffer, secret: string): Record<string, string>;
  /** The header a refusal must name. */
  signatureHeader: string;
  /** Whether the scheme covers the body (HMAC) or only proves the sender knows the secret (GitLab's token). */
  bindsBody: boolean;
  push: Delivery & { event: PushEvent };
  tag: Delivery & { ref: string; deleted: boolean };
  deletion: Delivery & { ref: string };
  /** The delivery the forge's "test"/"ping" button sends, and what it is here. */
  test: Delivery & { kind: 'ping' | 'push' };
  other: Delivery & { event: string };
  /** At least one cloud and one self-hosted URL. */
  status: StatusCase[];
}

/** Upstream URLs no forge may turn into an API call: not http(s), credentials, options, no repository. */
const BAD_UPSTREAMS = [
  '/srv/git/shop.git',
  'file:///srv/git/shop.git',
  'ext::sh -c touch% /tmp/pwned',
  'git@example.com:platform/shop.git',
  'ssh://git@example.com/platform/shop.git',
  'https://user:secret@example.com/platform/shop.git',
  'https://example.com/platform/shop.git?x=--upload-pack=touch',
  'https://example.com/platform/shop#main',
  '--upload-pack=touch /tmp/pwned',
  'https://example.com/shop',
  'https://example.com/platform/shop%2F..%2Fother',
];

/**
 * The behaviour every Forge must have, against the payloads its own documentation gives. Each forge's
 * block below calls this with its fixtures; a new forge passes this suite before it is used.
 */
function describeForgeContract(forge: Forge, c: ForgeContract): void {
  const signed = (d: Delivery, secret = SECRET): WebhookRequest => {
    const { body, headers } = load(d);
    return { body, headers: { ...headers, ...c.sign(body, secret) } };
  };
  const deliveries = { push: c.push, tag: c.tag, deletion: c.deletion, test: c.test, other: c.other };

  describe(`Forge contract: ${forge.name}`, () => {
    it("verifies each documented delivery signed with the link's secret, with headers as a record or a fetch Headers", () => {
      for (const [label, d] of Object.entries(deliveries)) {
        const req = signed(d);
        expect(forge.verify(req, SECRET), label).toEqual({ ok: true });
        expect(forge.verify({ body: req.body, headers: new Headers(req.headers as Record<string, string>) }, SECRET), label).toEqual({ ok: true });
      }
    });

    it(c.bindsBody ? 'refuses the body with one byte changed' : 'cannot see a changed body: the token does not sign it', () => {
      const req = signed(c.push);
      const body = Buffer.from(req.body);
      const at = body.indexOf(c.push.event.after); // the commit to build: what an attacker would change
      body[at] = body[at] === 0x61 ? 0x62 : 0x61;
      const v = forge.verify({ ...req, body }, SECRET);
      if (c.bindsBody) expect(v).toEqual({ ok: false, problem: expect.stringContaining(c.signatureHeader) });
      else expect(v).toEqual({ ok: true });
    });

    it('refuses a delivery signed with another secret, naming the header and neither secret', () => {
      const v = forge.verify(signed(c.push, 'another secret'), SECRET);
      expect(v).toEqual({ ok: false, problem: expect.stringContaining(c.signatureHeader) });
      if (!v.ok) {
        expect(v.problem).not.toContain(SECRET);
        expect(v.problem).not.toContain('another secret');
      }
    });

    it('refuses a delivery without the signature header, naming it', () => {
      const { body, headers } = load(c.push);
      expect(forge.verify({ body, headers }, SECRET)).toEqual({ ok: false, problem: expect.stringContaining(c.signatureHeader) });
    });

    it('refuses a signature header of the wrong length or not hex, naming it', () => {
      const { body, headers } = load(c.push);
      for (const bad of ['abc', 'sha256=abc', 'sha256=' + 'z'.repeat(64), 'z'.repeat(64), hmacHex(body, SECRET).slice(0, 63)]) {
        const forged = Object.fromEntries(Object.keys(c.sign(body, SECRET)).map((k) => [k, bad]));
        expect(forge.verify({ body, headers: { ...headers, ...forged } }, SECRET), bad).toEqual({
          ok: false,
          problem: expect.stringContaining(c.signatureHeader),
        });
      }
    });

    it('verifies nothing when the link has no secret', () => {
      expect(forge.verify(signed(c.push, ''), '').ok).toBe(false);
    });

    it('parses the documented push: ref, before, after and every URL of the repository', () => {
      expect(forge.parse(load(c.push))).toEqual({ ok: true, event: c.push.event });
    });

    it('parses a tag push', () => {
      const r = forge.parse(load(c.tag));
      expect(r).toMatchObject({ ok: true, event: { kind: 'push', ref: c.tag.ref, deleted: c.tag.deleted } });
    });

    it('parses a branch deletion as a push with deleted set and an all-zero after', () => {
      expect(forge.parse(load(c.deletion))).toMatchObject({
        ok: true,
        event: { kind: 'push', ref: c.deletion.ref, after: ZERO, deleted: true, created: false },
      });
    });

    it(`parses the forge's test delivery as a ${c.test.kind}`, () => {
      expect(forge.parse(load(c.test))).toMatchObject({ ok: true, event: { kind: c.test.kind } });
    });

    it('ignores another event, naming it', () => {
      expect(forge.parse(load(c.other))).toEqual({ ok: true, event: { kind: 'ignored', event: c.other.event, deliveryId: expect.any(String) } });
    });

    it('answers a body that is not a JSON object with a problem, never a throw', () => {
      const { headers } = load(c.push);
      for (const body of ['{"ref": ', '', 'null', '[]', '"push"', '\u0000\xff']) {
        expect(forge.parse({ headers, body: Buffer.from(body) }), JSON.stringify(body)).toEqual({ ok: false, problem: expect.any(String) });
      }
    });

    it('answers a delivery without its event header with a problem', () => {
      const { body, headers } = load(c.push);
      const without = Object.fromEntries(Object.entries(headers).filter(([k]) => !/-event$/i.test(k)));
      expect(forge.parse({ body, headers: without })).toEqual({ ok: false, problem: expect.stringMatching(/Event/) });
    });

    it('answers a push missing what the forge documents, or with a ref that is no ref name, with a problem', () => {
      const { body, headers } = load(c.push);
      const payload = JSON.parse(body.toString()) as Record<string, unknown>;
      const variants: Record<string, unknown>[] = [
        { ...payload, repository: undefined, project: undefined },
        { ...payload, ref: undefined },
        { ...payload, ref: 'refs/heads/a..b' },
        { ...payload, ref: 'refs/heads/x:refs/heads/y' },
        { ...payload, after: 'main' },
        { ...payload, before: 42 },
        { ...payload, before: ZERO, after: ZERO },
      ];
      for (const v of variants) {
        expect(forge.parse({ headers, body: Buffer.from(JSON.stringify(v)) }), JSON.stringify(v).slice(0, 80)).toEqual({
          ok: false,
          problem: expect.any(String),
        });
      }
    });

    it('ignores a push to a ref that is neither a branch nor a tag', () => {
      const { body, headers } = load(c.push);
      const payload = { ...(JSON.parse(body.toString()) as object), ref: 'refs/notes/commits' };
      expect(forge.parse({ headers, body: Buffer.from(JSON.stringify(payload)) })).toMatchObject({ ok: true, event: { kind: 'ignored' } });
    });

    it('builds the exact status call for cloud and self-hosted URLs, the token in a header and never in the URL', () => {
      for (const s of c.status) {
        const call = forge.statusCall(s.upstream, s.apiUrl, TOKEN, { ...UPDATE, ...s.update });
        expect(call, s.label).toEqual({ method: 'POST', url: s.url, headers: s.headers, body: JSON.stringify(s.body) });
        expect(call.url, s.label).not.toContain(TOKEN);
        expect(forge.apiBase(s.upstream, s.apiUrl), s.label).toBe(s.url.slice(0, s.url.indexOf(forge.name === 'gitlab' ? '/projects/' : '/repos/')));
      }
    });

    it('refuses upstream URLs that are not an http(s) repository URL', () => {
      for (const bad of BAD_UPSTREAMS) {
        expect(() => forge.apiBase(bad), bad).toThrow(BadRequestError);
        expect(() => forge.statusCall(bad, undefined, TOKEN, UPDATE), bad).toThrow(BadRequestError);
      }
    });

    it('refuses a sha that is not a full hex sha, a token with a line break, and an api_url with credentials', () => {
      const upstream = c.status[0]!.upstream;
      for (const sha of ['main', '4d2ab4e', '../../user', UPDATE.sha.toUpperCase(), `${UPDATE.sha}/x`]) {
        expect(() => forge.statusCall(upstream, undefined, TOKEN, { ...UPDATE, sha }), sha).toThrow(BadRequestError);
      }
      expect(() => forge.statusCall(upstream, undefined, 'tok\r\nX-Injected: 1', UPDATE)).toThrow(BadRequestError);
      expect(() => forge.statusCall(upstream, undefined, '', UPDATE)).toThrow(BadRequestError);
      expect(() => forge.statusCall(upstream, 'https://u:p@api.example.com/', TOKEN, UPDATE)).toThrow(BadRequestError);
      expect(() => forge.statusCall(upstream, 'file:///api', TOKEN, UPDATE)).toThrow(BadRequestError);
    });

    it('reaches private and loopback hosts as they are: on-premises is the normal case', () => {
      for (const host of ['127.0.0.1:3000', 'localhost', '10.0.0.7', '[::1]:8443']) {
        expect(forge.apiBase(`http://${host}/platform/shop.git`)).toMatch(new RegExp(`^http://${host.replace(/[[\].]/g, '\\$&')}/`));
      }
    });
  });
}

// ---------------------------------------------------------------------------------------------------------
// GitHub

const github = forgeNamed('github');
const GH_JSON = { Accept: 'application/vnd.github+json', 'Content-Type': 'application/json', 'User-Agent': 'codehub-build', Authorization: `Bearer ${TOKEN}` };
const ghBody = (over: Partial<Record<string, unknown>> = {}) => ({
  state: 'success',
  target_url: UPDATE.targetUrl,
  description: UPDATE.description,
  context: UPDATE.context,
  ...over,
});
const gh = (payload: string, headers = 'push'): Delivery => ({ forge: 'github', payload, headers });

describeForgeContract(github, {
  sign: (body, secret) => ({ 'X-Hub-Signature-256': `sha256=${hmacHex(body, secret)}` }),
  signatureHeader: 'X-Hub-Signature-256',
  bindsBody: true,
  push: {
    ...gh('push'),
    event: {
      kind: 'push',
      deliveryId: '72d3162e-cc78-11e3-81ab-4c9367dc0958',
      repoUrls: [
        'https://github.com/baxterthehacker/public-repo',
        'https://github.com/baxterthehacker/public-repo.git',
        'git@github.com:baxterthehacker/public-repo.git',
        'git://github.com/baxterthehacker/public-repo.git',
      ],
      repoFullName: 'baxterthehacker/public-repo',
      ref: 'refs/heads/gh-pages',
      before: '993b46bdfc03ae59434816829162829e67c4d490',
      after: '4d2ab4e76d0d405d17d1a0f2b8a6071394e3ab40',
      pusher: 'baxterthehacker',
      deleted: false,
      created: false,
      defaultBranch: 'master',
    },
  },
  // GitHub's documented push example is itself a deleted tag.
  tag: { ...gh('tag-delete'), ref: 'refs/tags/simple-tag', deleted: true },
  deletion: { ...gh('branch-delete'), ref: 'refs/heads/gh-pages' },
  test: { ...gh('ping', 'ping'), kind: 'ping' },
  other: { ...gh('issues', 'issues'), event: 'issues' },
  status: [
    {
      label: 'github.com',
      upstream: 'https://github.com/baxterthehacker/public-repo.git',
      url: `https://api.github.com/repos/baxterthehacker/public-repo/statuses/${UPDATE.sha}`,
      headers: GH_JSON,
      body: ghBody(),
    },
    {
      label: 'GitHub Enterprise Server',
      upstream: 'https://github.example.com/platform/shop',
      update: { state: 'pending', description: 'Queued' },
      url: `https://github.example.com/api/v3/repos/platform/shop/statuses/${UPDATE.sha}`,
      headers: GH_JSON,
      body: ghBody({ state: 'pending', description: 'Queued' }),
    },
    {
      label: 'GitHub Enterprise Server on an internal address, http and a port',
      upstream: 'http://10.1.2.3:8080/platform/shop.git',
      update: { state: 'failure' },
      url: `http://10.1.2.3:8080/api/v3/repos/platform/shop/statuses/${UPDATE.sha}`,
      headers: GH_JSON,
      body: ghBody({ state: 'failure' }),
    },
    {
      label: 'an explicit api_url',
      upstream: 'https://github.example.com/platform/shop',
      apiUrl: 'https://api.github.example.com/',
      update: { state: 'error' },
      url: `https://api.github.example.com/repos/platform/shop/statuses/${UPDATE.sha}`,
      headers: GH_JSON,
      body: ghBody({ state: 'error' }),
    },
  ],
});

describe('GitHub', () => {
  it('checks the signature against the test values GitHub documents', () => {
    // https://docs.github.com/webhooks/using-webhooks/validating-webhook-deliveries#testing-the-webhook-payload-validation
    const req = {
      body: Buffer.from('Hello, World!'),
      headers: { 'X-Hub-Signature-256': 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17' },
    };
    expect(github.verify(req, "It's a Secret to Everybody")).toEqual({ ok: true });
    expect(github.verify(req, "It's a secret to everybody").ok).toBe(false);
  });

  it('does not accept the SHA-1 X-Hub-Signature in place of X-Hub-Signature-256', () => {
    const { body, headers } = load(gh('push'));
    const sha1 = `sha1=${createHmac('sha1', SECRET).update(body).digest('hex')}`;
    expect(github.verify({ body, headers: { ...headers, 'X-Hub-Signature': sha1 } }, SECRET)).toEqual({
      ok: false,
      problem: 'X-Hub-Signature-256 header is missing',
    });
  });

  it("reads a delivery sent form-encoded (a hook left at GitHub's API default) like the JSON one", () => {
    const { body, headers } = load(gh('push'));
    const form = Buffer.from(`payload=${encodeURIComponent(body.toString())}`);
    const req = {
      body: form,
      headers: { ...headers, 'Content-Type': 'application/x-www-form-urlencoded', 'X-Hub-Signature-256': `sha256=${hmacHex(form, SECRET)}` },
    };
    expect(github.verify(req, SECRET)).toEqual({ ok: true });
    expect(github.parse(req)).toEqual(github.parse({ body, headers }));
    expect(github.parse({ ...req, body: Buffer.from('other=1') })).toEqual({ ok: false, problem: expect.stringContaining('payload') });
  });

  it('ignores the delete event: the push with deleted set already carries the deletion', () => {
    const headers = { ...load(gh('push')).headers, 'X-GitHub-Event': 'delete' };
    expect(github.parse({ headers, body: Buffer.from('{"ref":"simple-tag","ref_type":"tag"}') })).toMatchObject({
      ok: true,
      event: { kind: 'ignored', event: 'delete' },
    });
  });

  it('takes a missing delivery id as null', () => {
    const { body, headers } = load(gh('ping', 'ping'));
    const { 'X-GitHub-Delivery': _, ...rest } = headers;
    expect(github.parse({ body, headers: rest })).toEqual({ ok: true, event: { kind: 'ping', deliveryId: null } });
  });

  it("cuts a description to GitHub's 140 characters without splitting a character", () => {
    const call = github.statusCall('https://github.com/o/r', undefined, TOKEN, { ...UPDATE, description: '🐳'.repeat(200) });
    const description = (JSON.parse(call.body) as { description: string }).description;
    expect(Array.from(description)).toHaveLength(140);
    expect(description).toBe('🐳'.repeat(139) + '…');
    expect(
      (JSON.parse(github.statusCall('https://github.com/o/r', undefined, TOKEN, { ...UPDATE, description: 'x'.repeat(140) }).body) as { description: string })
        .description,
    ).toBe('x'.repeat(140));
  });

  it('names a repository by exactly owner/repo', () => {
    expect(github.repoPath('https://www.github.com/o/r.git')).toBe('o/r');
    expect(github.apiBase('https://www.github.com/o/r.git')).toBe('https://api.github.com');
    expect(() => github.apiBase('https://github.com/o/r/tree/main')).toThrow(BadRequestError);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Gitea and Forgejo

const gitea = forgeNamed('gitea');
const GT_JSON = { Accept: 'application/json', 'Content-Type': 'application/json', 'User-Agent': 'codehub-build', Authorization: `token ${TOKEN}` };
const gt = (payload: string, headers = 'push'): Delivery => ({ forge: 'gitea', payload, headers });
/** The signature headers Gitea's services/webhook/deliver.go sets (besides the SHA-1 X-Hub-Signature). */
const giteaSign = (body: Buffer, secret: string) => {
  const hex = hmacHex(body, secret);
  return { 'X-Gitea-Signature': hex, 'X-Gogs-Signature': hex, 'X-Hub-Signature-256': `sha256=${hex}` };
};

describeForgeContract(gitea, {
  sign: giteaSign,
  signatureHeader: 'X-Gitea-Signature',
  bindsBody: true,
  push: {
    ...gt('push'),
    event: {
      kind: 'push',
      deliveryId: 'f6266f16-1bf3-46a5-9ea4-602e06ead473',
      repoUrls: ['http://localhost:3000/gitea/webhooks', 'http://localhost:3000/gitea/webhooks.git', 'ssh://gitea@localhost:2222/gitea/webhooks.git'],
      repoFullName: 'gitea/webhooks',
      ref: 'refs/heads/develop',
      before: '28e1879d029cb852e4844d9c718537df08844e03',
      after: 'bffeb74224043ba2feb48d137756c8a9331c449a',
      pusher: 'gitea',
      deleted: false,
      created: false,
      defaultBranch: 'main',
    },
  },
  tag: { ...gt('tag-push'), ref: 'refs/tags/v1.0.0', deleted: false },
  deletion: { ...gt('branch-delete', 'delete'), ref: 'refs/heads/develop' },
  test: { ...gt('test-delivery'), kind: 'ping' },
  other: { ...gt('issues', 'issues'), event: 'issues' },
  status: [
    {
      label: 'gitea.com',
      upstream: 'https://gitea.com/gitea/webhooks',
      update: { state: 'failure' },
      url: `https://gitea.com/api/v1/repos/gitea/webhooks/statuses/${UPDATE.sha}`,
      headers: GT_JSON,
      body: { state: 'failure', target_url: UPDATE.targetUrl, description: UPDATE.description, context: UPDATE.context },
    },
    {
      label: 'Forgejo on codeberg.org',
      upstream: 'https://codeberg.org/forgejo/forgejo.git',
      url: `https://codeberg.org/api/v1/repos/forgejo/forgejo/statuses/${UPDATE.sha}`,
      headers: GT_JSON,
      body: { state: 'success', target_url: UPDATE.targetUrl, description: UPDATE.description, context: UPDATE.context },
    },
    {
      label: 'a Gitea under a sub-path',
      upstream: 'https://git.example.com/gitea/platform/shop.git',
      update: { state: 'pending', description: 'Queued' },
      url: `https://git.example.com/gitea/api/v1/repos/platform/shop/statuses/${UPDATE.sha}`,
      headers: GT_JSON,
      body: { state: 'pending', target_url: UPDATE.targetUrl, description: 'Queued', context: UPDATE.context },
    },
    {
      label: 'a Gitea on localhost',
      upstream: 'http://localhost:3000/gitea/webhooks',
      update: { state: 'error' },
      url: `http://localhost:3000/api/v1/repos/gitea/webhooks/statuses/${UPDATE.sha}`,
      headers: GT_JSON,
      body: { state: 'error', target_url: UPDATE.targetUrl, description: UPDATE.description, context: UPDATE.context },
    },
  ],
});

describe('Gitea and Forgejo', () => {
  it("signs like GitHub without the prefix: GitHub's documented test values verify as X-Gitea-Signature", () => {
    const req = { body: Buffer.from('Hello, World!'), headers: { 'X-Gitea-Signature': '757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17' } };
    expect(gitea.verify(req, "It's a Secret to Everybody")).toEqual({ ok: true });
  });

  it('reads a Forgejo delivery: X-Forgejo-Event, X-Forgejo-Delivery and X-Forgejo-Signature', () => {
    const { body } = load(gt('push'));
    const { headers } = load(gt('push', 'push.forgejo'));
    const forgejoOnly = Object.fromEntries(Object.entries(headers).filter(([k]) => /^x-forgejo-|^content-type$/i.test(k)));
    const req = { body, headers: { ...forgejoOnly, 'X-Forgejo-Signature': hmacHex(body, SECRET) } };
    expect(gitea.verify(req, SECRET)).toEqual({ ok: true });
    expect(gitea.parse(req)).toEqual(gitea.parse(load(gt('push'))));
  });

  it('accepts X-Hub-Signature-256 alone, which Gitea sends for GitHub-style receivers', () => {
    const { body, headers } = load(gt('push'));
    expect(gitea.verify({ body, headers: { ...headers, 'X-Hub-Signature-256': `sha256=${hmacHex(body, SECRET)}` } }, SECRET)).toEqual({ ok: true });
  });

  it("checks the forge's own signature first: a wrong X-Forgejo-Signature is not rescued by a right X-Gitea-Signature", () => {
    const { body, headers } = load(gt('push'));
    const req = { body, headers: { ...headers, ...giteaSign(body, SECRET), 'X-Forgejo-Signature': hmacHex(body, 'another secret') } };
    expect(gitea.verify(req, SECRET)).toEqual({ ok: false, problem: expect.stringContaining('X-Forgejo-Signature') });
  });

  it('does not take the deprecated "secret" field in the documented payload as a credential', () => {
    const { body, headers } = load(gt('push'));
    expect(gitea.verify({ body, headers }, '3gEsCfjlV2ugRwgpU#w1*WaW*wa4NXgGmpCfkbG3').ok).toBe(false);
  });

  it("takes a Test Delivery (a push whose before and after are the same, which no real push has) as the hook's ping", () => {
    expect(gitea.parse(load(gt('test-delivery')))).toEqual({ ok: true, event: { kind: 'ping', deliveryId: expect.any(String) } });
    // A real push of the same branch is still a push.
    const real = JSON.parse(readFileSync(join(FIXTURES, 'gitea', 'test-delivery.json'), 'utf8')) as { before: string };
    real.before = 'a'.repeat(40);
    expect(gitea.parse({ headers: load(gt('test-delivery')).headers, body: Buffer.from(JSON.stringify(real)) })).toMatchObject({
      ok: true,
      event: { kind: 'push', before: 'a'.repeat(40) },
    });
  });

  it('takes the delete event of a branch as its deletion (Gitea sends no push for it), with no before', () => {
    expect(gitea.parse(load(gt('branch-delete', 'delete')))).toEqual({
      ok: true,
      event: {
        kind: 'push',
        deliveryId: 'f6266f16-1bf3-46a5-9ea4-602e06ead473',
        repoUrls: ['http://localhost:3000/gitea/webhooks', 'http://localhost:3000/gitea/webhooks.git', 'ssh://gitea@localhost:2222/gitea/webhooks.git'],
        repoFullName: 'gitea/webhooks',
        ref: 'refs/heads/develop',
        before: null,
        after: ZERO,
        pusher: 'gitea',
        deleted: true,
        created: false,
        defaultBranch: 'main',
      },
    });
  });

  it('ignores the delete event of a tag: its push with an all-zero after already carries it', () => {
    const { body, headers } = load(gt('branch-delete', 'delete'));
    const tag = { ...(JSON.parse(body.toString()) as object), ref: 'v1.0.0', ref_type: 'tag' };
    expect(gitea.parse({ headers, body: Buffer.from(JSON.stringify(tag)) })).toMatchObject({ ok: true, event: { kind: 'ignored' } });
  });

  it('marks a new tag as created', () => {
    expect(gitea.parse(load(gt('tag-push')))).toMatchObject({ ok: true, event: { before: ZERO, created: true, deleted: false } });
  });

  it('splits a sub-path from the repository', () => {
    expect(gitea.repoPath('https://git.example.com/tools/gitea/platform/shop')).toBe('platform/shop');
    expect(gitea.apiBase('https://git.example.com/tools/gitea/platform/shop')).toBe('https://git.example.com/tools/gitea/api/v1');
  });
});

// ---------------------------------------------------------------------------------------------------------
// GitLab

const gitlab = forgeNamed('gitlab');
const GL_JSON = { Accept: 'application/json', 'Content-Type': 'application/json', 'User-Agent': 'codehub-build', 'PRIVATE-TOKEN': TOKEN };
const gl = (payload: string, headers = 'push'): Delivery => ({ forge: 'gitlab', payload, headers });

describeForgeContract(gitlab, {
  sign: (_body, secret) => ({ 'X-Gitlab-Token': secret }),
  signatureHeader: 'X-Gitlab-Token',
  bindsBody: false,
  push: {
    ...gl('push'),
    event: {
      kind: 'push',
      deliveryId: 'f5e5f430-f57b-4e6e-9fac-d9128cd7232f',
      repoUrls: ['http://example.com/mike/diaspora', 'http://example.com/mike/diaspora.git', 'git@example.com:mike/diaspora.git'],
      repoFullName: 'mike/diaspora',
      ref: 'refs/heads/master',
      before: '95790bf891e76fee5e1747ab589903a6a1f80f22',
      after: 'da1560886d4f094c3e6c9ef40349f7d38b5d27d7',
      pusher: 'jsmith',
      deleted: false,
      created: false,
      defaultBranch: 'master',
    },
  },
  tag: { ...gl('tag-push', 'tag-push'), ref: 'refs/tags/v1.0.0', deleted: false },
  deletion: { ...gl('branch-delete'), ref: 'refs/heads/master' },
  // "Test > Push events" sends a Push Hook like any other.
  test: { ...gl('push'), kind: 'push' },
  other: { ...gl('issue', 'issue'), event: 'Issue Hook' },
  status: [
    {
      label: 'gitlab.com',
      upstream: 'https://gitlab.com/mike/diaspora.git',
      update: { state: 'failure', ref: 'master' },
      url: `https://gitlab.com/api/v4/projects/mike%2Fdiaspora/statuses/${UPDATE.sha}`,
      headers: GL_JSON,
      body: { state: 'failed', name: UPDATE.context, target_url: UPDATE.targetUrl, description: UPDATE.description, ref: 'master' },
    },
    {
      label: 'self-managed, nested groups',
      upstream: 'https://gitlab.example.com/platform/backend/shop',
      update: { state: 'error' },
      url: `https://gitlab.example.com/api/v4/projects/platform%2Fbackend%2Fshop/statuses/${UPDATE.sha}`,
      headers: GL_JSON,
      body: { state: 'failed', name: UPDATE.context, target_url: UPDATE.targetUrl, description: UPDATE.description },
    },
    {
      label: 'self-managed under a relative URL root, with its api_url',
      upstream: 'https://example.com/gitlab/platform/shop.git',
      apiUrl: 'https://example.com/gitlab/api/v4',
      update: { state: 'pending', description: 'Queued', ref: 'v1.0.0' },
      url: `https://example.com/gitlab/api/v4/projects/platform%2Fshop/statuses/${UPDATE.sha}`,
      headers: GL_JSON,
      body: { state: 'pending', name: UPDATE.context, target_url: UPDATE.targetUrl, description: 'Queued', ref: 'v1.0.0' },
    },
  ],
});

describe('GitLab', () => {
  it('compares the whole token: a prefix, a longer value or other case is refused', () => {
    const { body, headers } = load(gl('push'));
    for (const token of [SECRET.slice(0, -1), `${SECRET}x`, SECRET.toUpperCase(), '']) {
      expect(gitlab.verify({ body, headers: { ...headers, 'X-Gitlab-Token': token } }, SECRET), token).toEqual({
        ok: false,
        problem: "X-Gitlab-Token does not match this link's webhook secret",
      });
    }
  });

  it('takes Idempotency-Key as the delivery id (the same on a resend), else X-Gitlab-Event-UUID, else none', () => {
    const { body, headers } = load(gl('push'));
    const { 'Idempotency-Key': _, ...older } = headers;
    const { 'X-Gitlab-Event-UUID': __, ...oldest } = older;
    expect(gitlab.parse({ body, headers })).toMatchObject({ event: { deliveryId: 'f5e5f430-f57b-4e6e-9fac-d9128cd7232f' } });
    expect(gitlab.parse({ body, headers: older })).toMatchObject({ event: { deliveryId: '13792a34-cac6-4fda-95a8-c58e00a3954e' } });
    expect(gitlab.parse({ body, headers: oldest })).toMatchObject({ event: { deliveryId: null } });
  });

  it('reads a deleted tag from a Tag Push Hook with an all-zero after', () => {
    const { body, headers } = load(gl('tag-push', 'tag-push'));
    const deletedTag = { ...(JSON.parse(body.toString()) as object), before: '82b3d5ae55f7080f1e6022629cdb57bfae7cccc7', after: ZERO, checkout_sha: null };
    expect(gitlab.parse({ headers, body: Buffer.from(JSON.stringify(deletedTag)) })).toMatchObject({
      ok: true,
      event: { kind: 'push', ref: 'refs/tags/v1.0.0', deleted: true },
    });
  });

  it('reads the pusher from user_username, else user_name (Tag Push Hook documents no user_username)', () => {
    expect(gitlab.parse(load(gl('tag-push', 'tag-push')))).toMatchObject({ event: { pusher: 'John Smith' } });
  });

  it("ignores system hooks, which carry instance events rather than a project's pushes", () => {
    const { body, headers } = load(gl('push'));
    expect(gitlab.parse({ body, headers: { ...headers, 'X-Gitlab-Event': 'System Hook' } })).toMatchObject({
      ok: true,
      event: { kind: 'ignored', event: 'System Hook' },
    });
  });

  it('takes a relative URL root off the project path only when the api_url names it', () => {
    expect(gitlab.repoPath('https://example.com/gitlab/platform/shop')).toBe('gitlab/platform/shop');
    expect(gitlab.repoPath('https://example.com/gitlab/platform/shop', 'https://example.com/gitlab/api/v4')).toBe('platform/shop');
    expect(gitlab.repoPath('https://example.com/gitlab/platform/shop', 'https://api.example.com/gitlab/api/v4')).toBe('gitlab/platform/shop');
  });
});

describe('forgeNamed', () => {
  it('gives the forge of each name a link may carry, and nothing else is a name', () => {
    expect(FORGE_NAMES).toEqual(['github', 'gitea', 'gitlab']);
    for (const name of FORGE_NAMES) expect(forgeNamed(name).name).toBe(name);
    expect(isForgeName('gitea')).toBe(true);
    for (const other of ['forgejo', 'GitHub', 'toString', '__proto__', 1, undefined]) expect(isForgeName(other)).toBe(false);
  });
});
