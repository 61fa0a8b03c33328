/**
 * A local stand-in for a forge (GitHub Enterprise, Gitea/Forgejo, GitLab) for the end-to-end tests of issue 17:
 * one node:http server on 127.0.0.1 that
 *
 * - serves bare repos over git's smart HTTP through the real `git http-backend` (as CGI), at
 *   `/<owner>/<name>.git` and `/<owner>/<name>`, optionally only to `Authorization: Basic` with a token;
 * - answers the three forges' commit-status APIs on the same origin (GitHub Enterprise `/api/v3`,
 *   Gitea `/api/v1`, GitLab `/api/v4`), recording every call, and can play dead for them;
 * - builds webhook deliveries from the forges' documented payloads (test/fixtures/forges/), rewritten to
 *   name one of its repos and a given push, and signed in each forge's scheme with code of its own (not the
 *   code under test).
 *
 * One instance plays one forge's host; status calls of all three forges are recognised by their API prefix,
 * so an instance can stand in for any of them.
 */
import { execa } from 'execa';
import { spawn } from 'node:child_process';
import { createHmac, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gitEnv } from '../../src/git/env.js';
import { checkAnswer } from './answer-shapes.js';
import type { WorkRepo } from './git.js';

export type ForgeKind = 'github' | 'gitea' | 'gitlab';
export const FORGE_KINDS: ForgeKind[] = ['github', 'gitea', 'gitlab'];

export const ZERO_SHA = '0'.repeat(40);

/** A commit-status call the fake forge received (and answered 201). */
export interface StatusCall {
  forge: ForgeKind;
  /** owner/name (GitHub, Gitea) or the project's full path, decoded (GitLab). */
  repo: string;
  sha: string;
  /** Header names lower-cased, as node:http gives them. */
  headers: Record<string, string>;
  /** The JSON body parsed (the raw text if it was not JSON). */
  body: any;
  at: number;
}

/** A git smart-HTTP request the fake forge received. */
export interface GitRequest {
  method: string;
  /** owner/name, without .git */
  repo: string;
  /** `info/refs?service=git-upload-pack`, `git-upload-pack`, ... */
  what: string;
  /** The Basic auth user name sent, or null without Basic auth. */
  user: string | null;
  /** Whether the request passed requireToken (always true without a requirement). */
  authorized: boolean;
  at: number;
}

/** Any other request under /api/ (answered 404), for seeing what a server tried. */
export interface ApiCall {
  method: string;
  path: string;
  headers: Record<string, string>;
  at: number;
}

export type DeliveryEvent = 'push' | 'delete' | 'ping' | 'issues';

export interface DeliveryOptions {
  /** The fake forge's repo the payload names (GitLab: owner may be a group path, `team/backend`). */
  owner: string;
  name: string;
  /** The link's webhook secret: the delivery is signed with it (any other value makes a wrong signature); null: no signature header at all. */
  secret: string | null;
  /** Default `push`. `delete`: a branch deletion (GitHub/GitLab: a push with an all-zero after; Gitea: its `delete` event). `ping`: GitHub only. `issues`: an opened issue (GitLab's Issue Hook). */
  event?: DeliveryEvent;
  /** Full ref, default refs/heads/main (Gitea's delete event carries the short name, taken from this). */
  ref?: string;
  /** push: the pushed commit (required). */
  after?: string;
  /** push: the ref's sha before (default all zeros: the push created the branch); delete: the branch's last sha (required for GitHub and GitLab). */
  before?: string;
  /** The delivery id (every delivery id header of the forge); default a fresh UUID. Pass the same one twice for a replay. */
  deliveryId?: string;
  /** The user the forge says pushed (default the fixture's: baxterthehacker, gitea, jsmith). */
  pusher?: string;
}

export interface ForgeDelivery {
  headers: Record<string, string>;
  /** The exact bytes the signature covers. */
  body: Buffer;
  deliveryId: string;
}

/** Pushers the documented payloads name, as each forge's parse() reads them (GitHub pusher.name, Gitea pusher.login, GitLab user_username). */
export const FIXTURE_PUSHERS: Record<ForgeKind, string> = { github: 'baxterthehacker', gitea: 'gitea', gitlab: 'jsmith' };

const FIXTURES = fileURLToPath(new URL('../fixtures/forges/', import.meta.url));

/** Per forge and event: [payload file, headers file] under test/fixtures/forges/<forge>/. */
const FIXTURE_FILES: Record<ForgeKind, Partial<Record<DeliveryEvent, [string, string]>>> = {
  github: { push: ['push', 'push'], delete: ['branch-delete', 'push'], ping: ['ping', 'ping'], issues: ['issues', 'issues'] },
  gitea: { push: ['push', 'push'], delete: ['branch-delete', 'delete'], issues: ['issues', 'issues'] },
  gitlab: { push: ['push', 'push'], delete: ['branch-delete', 'push'], issues: ['issue', 'issue'] },
};

const API_PREFIX: Record<ForgeKind, string> = { github: '/api/v3', gitea: '/api/v1', gitlab: '/api/v4' };

/** The status endpoints, by the path the forge's API gives them. */
const STATUS_ROUTES: { forge: ForgeKind; re: RegExp; repo: (m: RegExpExecArray) => string }[] = [
  { forge: 'github', re: /^\/api\/v3\/repos\/([^/]+)\/([^/]+)\/statuses\/([0-9a-f]{40}|[0-9a-f]{64})$/, repo: (m) => `${m[1]}/${m[2]}` },
  { forge: 'gitea', re: /^\/api\/v1\/repos\/([^/]+)\/([^/]+)\/statuses\/([0-9a-f]{40}|[0-9a-f]{64})$/, repo: (m) => `${m[1]}/${m[2]}` },
  { forge: 'gitlab', re: /^\/api\/v4\/projects\/([^/]+)\/statuses\/([0-9a-f]{40}|[0-9a-f]{64})$/, repo: (m) => decodeURIComponent(m[1]!) },
];

/** `/<repo>[.git]/<smart-http or dumb path>`: the repo part is the shortest prefix followed by one of git's paths. */
const GIT_PATH = /^\/(.+?)(?:\.git)?\/(info\/refs|git-upload-pack|git-receive-pack|HEAD|objects\/.+)$/;
const REPO_PATH = /^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)+$/;

const lowerHeaders = (h: IncomingMessage['headers']): Record<string, string> =>
  Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), Array.isArray(v) ? v.join(', ') : (v ?? '')]));

const hmac = (alg: 'sha256' | 'sha1', body: Buffer, secret: string) => createHmac(alg, secret).update(body).digest('hex');

/**
 * The headers that authenticate `body` with `secret` as each forge sends them: GitHub `X-Hub-Signature-256`
 * (and the legacy SHA-1 `X-Hub-Signature`); Gitea `X-Gitea-Signature` and `X-Gogs-Signature` (bare hex) plus
 * `X-Hub-Signature-256`/`X-Hub-Signature` (services/webhook/deliver.go), and `X-Forgejo-Signature` when the
 * delivery is Forgejo's; GitLab the secret itself in `X-Gitlab-Token`.
 */
export function signatureHeaders(forge: ForgeKind, body: Buffer, secret: string, opts: { forgejo?: boolean } = {}): Record<string, string> {
  switch (forge) {
    case 'github':
      return { 'X-Hub-Signature': `sha1=${hmac('sha1', body, secret)}`, 'X-Hub-Signature-256': `sha256=${hmac('sha256', body, secret)}` };
    case 'gitea': {
      const hex = hmac('sha256', body, secret);
      return {
        ...(opts.forgejo ? { 'X-Forgejo-Signature': hex } : {}),
        'X-Gitea-Signature': hex,
        'X-Gogs-Signature': hex,
        'X-Hub-Signature': `sha1=${hmac('sha1', body, secret)}`,
        'X-Hub-Signature-256': `sha256=${hex}`,
      };
    }
    case 'gitlab':
      return { 'X-Gitlab-Token': secret };
  }
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Every string in `v` (deeply) through `f`, in place for objects and arrays. */
function mapStrings(v: unknown, f: (s: string) => string): unknown {
  if (typeof v === 'string') return f(v);
  if (Array.isArray(v)) return v.map((x) => mapStrings(x, f));
  if (v !== null && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) (v as Record<string, unknown>)[k] = mapStrings(x, f);
    return v;
  }
  return v;
}

type Json = Record<string, any>;

export class FakeForge {
  /** Temp folder holding the bare repos, as `<root>/<owner>/<name>.git`. */
  readonly root = mkdtempSync(join(tmpdir(), 'chb-fake-forge-'));
  private server: Server | null = null;
  private port = 0;
  private auth: { user: string | null; token: string } | null = null;
  private down: 'refuse' | 503 | null = null;
  private readonly recorded: StatusCall[] = [];
  /** Status calls refused while down (socket destroyed or 503). */
  failedStatusAttempts = 0;
  /** Every git request, authorized or not. */
  readonly gitRequests: GitRequest[] = [];
  /** Requests under /api/ that are not a status call (answered 404). */
  readonly otherApiCalls: ApiCall[] = [];

  /** A started fake forge. */
  static async start(): Promise<FakeForge> {
    return new FakeForge().start();
  }

  async start(): Promise<this> {
    if (this.server) return this;
    const server = createServer((req, res) => {
      this.handle(req, res).catch((e: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(String(e));
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
    return this;
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (s) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
    rmSync(this.root, { recursive: true, force: true });
  }

  /** The forge's origin, `http://127.0.0.1:<port>`. */
  get url(): string {
    if (!this.server) throw new Error('FakeForge is not started');
    return `http://127.0.0.1:${this.port}`;
  }

  /** The API base a forge of that kind has on this host (what the server should derive from a repo URL here). */
  apiBase(forge: ForgeKind): string {
    return this.url + API_PREFIX[forge];
  }

  /** The clone URL of a repo here, `<base>/<owner>/<name>.git`. */
  repoUrl(owner: string, name: string): string {
    return `${this.url}/${owner}/${name}.git`;
  }

  /** The bare repo's folder (push to it with WorkRepo.push(dir, ...)). */
  repoDir(owner: string, name: string): string {
    return join(this.root, owner, `${name}.git`);
  }

  /** Makes a bare repo `<owner>/<name>` (initial branch main). GitLab-like nested owners (`team/backend`) work. */
  async createRepo(owner: string, name: string): Promise<{ url: string; dir: string }> {
    if (!REPO_PATH.test(`${owner}/${name}`) || `${owner}/${name}`.split('/').some((s) => /^\.+$/.test(s))) {
      throw new Error(`FakeForge: ${owner}/${name} is not a plain repo path`);
    }
    const dir = this.repoDir(owner, name);
    mkdirSync(dir, { recursive: true });
    await execa('git', ['init', '--quiet', '--bare', '--initial-branch=main', dir], { env: gitEnv(), extendEnv: false });
    return { url: this.repoUrl(owner, name), dir };
  }

  /** Pushes `refspecs` from a work repo into the repo here (through its folder, as the forge's own push would land); throws on failure. */
  async pushFrom(work: WorkRepo, owner: string, name: string, refspecs: string[]): Promise<void> {
    const r = await work.push(this.repoDir(owner, name), refspecs);
    if (r.exitCode !== 0) throw new Error(`push to the fake forge's ${owner}/${name} failed: ${r.output}`);
  }

  /** The sha a ref (refs/heads/main, or a short branch name) points at, or null. */
  async refSha(owner: string, name: string, ref: string): Promise<string | null> {
    const full = ref.startsWith('refs/') ? ref : `refs/heads/${ref}`;
    const r = await execa('git', ['--git-dir', this.repoDir(owner, name), 'rev-parse', '--verify', '--quiet', `${full}^{commit}`], {
      env: gitEnv(),
      extendEnv: false,
      reject: false,
    });
    return r.exitCode === 0 ? String(r.stdout).trim() : null;
  }

  /** Deletes a ref of the repo here (a branch deleted on the forge). */
  async deleteRef(owner: string, name: string, ref: string): Promise<void> {
    const full = ref.startsWith('refs/') ? ref : `refs/heads/${ref}`;
    await execa('git', ['--git-dir', this.repoDir(owner, name), 'update-ref', '-d', full], { env: gitEnv(), extendEnv: false });
  }

  /**
   * From now on git requests must carry `Authorization: Basic base64(user:token)` (a private repo); `user`
   * null accepts any user name with the token, as GitHub and Gitea do. `token` null lifts the requirement.
   * Others get 401 with WWW-Authenticate.
   */
  requireToken(user: string | null, token: string | null): void {
    this.auth = token === null ? null : { user, token };
  }

  /**
   * Makes the status API dead ('refuse': the socket of each status request is destroyed without an answer, as
   * a host that is down; 503: answered 503) or alive again (null). Git serving keeps working either way.
   */
  setStatusDown(mode: 'refuse' | 503 | null): void {
    this.down = mode;
  }

  /** Every status call accepted, in the order received. */
  get statuses(): StatusCall[] {
    return [...this.recorded];
  }

  /** The accepted status calls for one commit, in order. */
  statusesFor(sha: string): StatusCall[] {
    return this.recorded.filter((s) => s.sha === sha);
  }

  /** Git requests for one repo (owner/name). */
  gitRequestsFor(owner: string, name: string): GitRequest[] {
    return this.gitRequests.filter((g) => g.repo === `${owner}/${name}`);
  }

  // ------------------------------------------------------------------------------------------------------
  // Deliveries

  /**
   * A webhook delivery built from the forge's documented payload and headers (test/fixtures/forges/), with
   * the repository moved to this host's `<owner>/<name>`: every URL of it (web, clone, ssh, git, svn, API),
   * its full name and name, its owner; for a push or deletion also ref, before, after (GitLab checkout_sha)
   * and the documented shas wherever they appear (commit ids, compare URLs); a fresh delivery id in every
   * delivery-id header; signed with `secret` in the forge's scheme.
   */
  deliveryFor(forge: ForgeKind, opts: DeliveryOptions): ForgeDelivery {
    const event = opts.event ?? 'push';
    const files = FIXTURE_FILES[forge][event];
    if (!files) throw new Error(`FakeForge: no documented ${event} delivery for ${forge}`);
    const payload = JSON.parse(readFileSync(join(FIXTURES, forge, `${files[0]}.json`), 'utf8')) as Json;
    const fixtureHeaders = JSON.parse(readFileSync(join(FIXTURES, forge, `${files[1]}.headers.json`), 'utf8')) as Record<string, string>;

    this.moveRepository(forge, payload, opts.owner, opts.name);
    if (event === 'push' || event === 'delete') this.setPush(forge, event, payload, opts);
    if (opts.pusher !== undefined) setPusher(forge, payload, opts.pusher);

    const body = Buffer.from(`${JSON.stringify(payload, null, 2)}\n`);
    const deliveryId = opts.deliveryId ?? randomUUID();
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(fixtureHeaders)) {
      headers[k] = /-delivery$|^x-gitlab-event-uuid$|^idempotency-key$/i.test(k) ? deliveryId : v;
    }
    if (forge === 'gitlab' && 'X-Gitlab-Instance' in headers) headers['X-Gitlab-Instance'] = this.url;
    if (opts.secret !== null)
      Object.assign(headers, signatureHeaders(forge, body, opts.secret, { forgejo: Object.keys(headers).some((k) => /^x-forgejo-/i.test(k)) }));
    return { headers, body, deliveryId };
  }

  /** Rewrites the documented repository (its URLs anywhere in the payload) to `<owner>/<name>` on this host. */
  private moveRepository(forge: ForgeKind, payload: Json, owner: string, name: string): void {
    const project = forge === 'gitlab' ? (payload.project as Json) : (payload.repository as Json);
    const srcFull: string = forge === 'gitlab' ? project.path_with_namespace : project.full_name;
    const srcWeb = new URL(forge === 'gitlab' ? project.web_url : project.html_url);
    const srcOrigin = srcWeb.origin;
    const srcHost = srcWeb.hostname;
    const srcOwner = srcFull.split('/').slice(0, -1).join('/');
    const full = `${owner}/${name}`;
    const web = `${this.url}/${full}`;
    const host = '127.0.0.1';
    const sshScp = `git@${host}:${full}.git`;
    // Not followed by more of a name: "acme/app" must not rewrite "acme/app-docs".
    const end = '(?![A-Za-z0-9_-])';
    const rules: [RegExp, string][] = [];
    if (forge === 'github') {
      rules.push([new RegExp(`https://api\\.github\\.com/repos/${escapeRe(srcFull)}${end}`, 'g'), `${this.url}/api/v3/repos/${full}`]);
      rules.push([/https:\/\/api\.github\.com\//g, `${this.url}/api/v3/`]);
    }
    if (forge === 'gitea') rules.push([new RegExp(`${escapeRe(srcOrigin)}/api/v1/repos/${escapeRe(srcFull)}${end}`, 'g'), `${this.url}/api/v1/repos/${full}`]);
    rules.push(
      [new RegExp(`${escapeRe(srcOrigin)}/${escapeRe(srcFull)}${end}`, 'g'), web],
      [new RegExp(`git://${escapeRe(srcHost)}/${escapeRe(srcFull)}${end}`, 'g'), `git://${host}/${full}`],
      [new RegExp(`([A-Za-z0-9_.-]+)@${escapeRe(srcHost)}:${escapeRe(srcFull)}${end}`, 'g'), `$1@${host}:${full}`],
      [new RegExp(`ssh://([A-Za-z0-9_.-]+)@${escapeRe(srcHost)}(:\\d+)?/${escapeRe(srcFull)}${end}`, 'g'), `ssh://$1@${host}$2/${full}`],
      [new RegExp(`${escapeRe(srcOrigin)}/${escapeRe(srcOwner)}${end}`, 'g'), `${this.url}/${owner}`],
      // Anything else on the documented host (user pages, avatars; Gitea's example has https:// avatars on an http:// host).
      [new RegExp(`https?://${escapeRe(srcWeb.host)}/`, 'g'), `${this.url}/`],
    );
    mapStrings(payload, (s) => rules.reduce((t, [re, to]) => t.replace(re, to), s));

    // The fields each forge's parse() reads, set outright (whatever the walk above did).
    const setIfPresent = (o: Json | undefined, values: Record<string, string>) => {
      if (!o) return;
      for (const [k, v] of Object.entries(values)) if (k in o) o[k] = v;
    };
    if (forge === 'gitlab') {
      project.path_with_namespace = full;
      project.name = name;
      if ('namespace' in project) project.namespace = owner;
      const urls = { web_url: web, homepage: web, git_http_url: `${web}.git`, http_url: `${web}.git`, git_ssh_url: sshScp, ssh_url: sshScp, url: sshScp };
      setIfPresent(project, urls);
      const repository = payload.repository as Json | undefined;
      setIfPresent(repository, { name, homepage: web, git_http_url: `${web}.git`, git_ssh_url: sshScp, url: sshScp });
    } else {
      project.full_name = full;
      project.name = name;
      setIfPresent(project.owner as Json | undefined, { login: owner, name: owner, username: owner });
      if (forge === 'github') {
        setIfPresent(project, { html_url: web, clone_url: `${web}.git`, ssh_url: sshScp, git_url: `git://${host}/${full}.git`, svn_url: web });
      } else {
        setIfPresent(project, { html_url: web, clone_url: `${web}.git`, ssh_url: `ssh://git@${host}:2222/${full}.git` });
      }
    }
  }

  /** ref, before, after (and the documented shas wherever they appear) of a push or a branch deletion. */
  private setPush(forge: ForgeKind, event: 'push' | 'delete', payload: Json, opts: DeliveryOptions): void {
    const ref = opts.ref ?? 'refs/heads/main';
    if (forge === 'gitea' && event === 'delete') {
      // Gitea's delete event: the short name and its type, no shas.
      payload.ref = ref.replace(/^refs\/(heads|tags)\//, '');
      payload.ref_type = ref.startsWith('refs/tags/') ? 'tag' : 'branch';
      return;
    }
    let before: string;
    let after: string;
    if (event === 'push') {
      if (!opts.after) throw new Error('FakeForge.deliveryFor: a push needs `after`');
      after = opts.after;
      before = opts.before ?? ZERO_SHA;
    } else {
      if (!opts.before) throw new Error(`FakeForge.deliveryFor: a ${forge} branch deletion needs \`before\` (the branch's last sha)`);
      before = opts.before;
      after = ZERO_SHA;
    }
    // The documented shas, wherever they appear (commit ids and URLs, compare URLs in full and 12-digit form).
    const swaps: [string, string][] = [];
    for (const [from, to] of [
      [payload.after as string, after],
      [payload.before as string, before],
    ] as const) {
      if (typeof from === 'string' && /^[0-9a-f]{40}$/.test(from) && !/^0+$/.test(from) && !/^0+$/.test(to)) {
        swaps.push([from, to], [from.slice(0, 12), to.slice(0, 12)]);
      }
    }
    mapStrings(payload, (s) => swaps.reduce((t, [from, to]) => t.split(from).join(to), s));
    payload.ref = ref;
    payload.before = before;
    payload.after = after;
    if (forge === 'github') {
      payload.created = /^0+$/.test(before);
      payload.deleted = /^0+$/.test(after);
    }
    if (forge === 'gitlab') payload.checkout_sha = /^0+$/.test(after) ? null : after;
  }

  // ------------------------------------------------------------------------------------------------------
  // HTTP

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake-forge');
    const path = url.pathname;
    if (req.method === 'POST') {
      for (const route of STATUS_ROUTES) {
        const m = route.re.exec(path);
        if (m) return this.handleStatus(req, res, route.forge, route.repo(m), m[m.length - 1]!);
      }
    }
    if (path.startsWith('/api/')) {
      this.otherApiCalls.push({ method: req.method ?? 'GET', path: path + url.search, headers: lowerHeaders(req.headers), at: Date.now() });
      req.resume();
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ message: 'Not Found' }));
      return;
    }
    const g = GIT_PATH.exec(path);
    if (g && REPO_PATH.test(g[1]!) && !g[1]!.split('/').some((s) => /^\.+$/.test(s))) return this.handleGit(req, res, url, g[1]!, g[2]!);
    req.resume();
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  }

  private async handleStatus(req: IncomingMessage, res: ServerResponse, forge: ForgeKind, repo: string, sha: string): Promise<void> {
    if (this.down === 'refuse') {
      this.failedStatusAttempts++;
      req.socket.destroy();
      return;
    }
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (this.down === 503) {
      this.failedStatusAttempts++;
      res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ message: 'Service Unavailable' }));
      return;
    }
    const text = Buffer.concat(chunks).toString('utf8');
    let body: any = text;
    try {
      body = JSON.parse(text);
    } catch {
      /* kept as text */
    }
    const at = Date.now();
    this.recorded.push({ forge, repo, sha, headers: lowerHeaders(req.headers), body, at });
    const state = typeof body === 'object' && body !== null ? body.state : undefined;
    const context = typeof body === 'object' && body !== null ? (body.context ?? body.name) : undefined;
    res.writeHead(201, { 'content-type': 'application/json' }).end(
      JSON.stringify({
        id: this.recorded.length,
        sha,
        state,
        context,
        target_url: body?.target_url ?? null,
        description: body?.description ?? null,
        created_at: new Date(at).toISOString(),
        updated_at: new Date(at).toISOString(),
      }),
    );
  }

  private async handleGit(req: IncomingMessage, res: ServerResponse, url: URL, repo: string, rest: string): Promise<void> {
    const basic = /^Basic\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    const decoded = basic === undefined ? null : Buffer.from(basic, 'base64').toString('utf8');
    const colon = decoded?.indexOf(':') ?? -1;
    const user = decoded === null ? null : colon >= 0 ? decoded.slice(0, colon) : decoded;
    const password = decoded !== null && colon >= 0 ? decoded.slice(colon + 1) : null;
    const authorized = this.auth === null || (password === this.auth.token && (this.auth.user === null || user === this.auth.user));
    this.gitRequests.push({ method: req.method ?? 'GET', repo, what: rest + url.search, user, authorized, at: Date.now() });
    if (!authorized) {
      req.resume();
      res.writeHead(401, { 'www-authenticate': 'Basic realm="fake-forge"', 'content-type': 'text/plain' }).end('authentication required\n');
      return;
    }
    if (rest === 'git-receive-pack' || url.searchParams.get('service') === 'git-receive-pack') {
      req.resume();
      res.writeHead(403, { 'content-type': 'text/plain' }).end('the fake forge takes pushes through its folders only\n');
      return;
    }
    const h = (k: string) => {
      const v = req.headers[k];
      return typeof v === 'string' ? v : undefined;
    };
    const env: Record<string, string> = gitEnv({
      GIT_PROJECT_ROOT: this.root,
      GIT_HTTP_EXPORT_ALL: '1',
      REQUEST_METHOD: req.method ?? 'GET',
      PATH_INFO: `/${repo}.git/${rest}`,
      QUERY_STRING: url.search.slice(1),
      REMOTE_ADDR: req.socket.remoteAddress ?? '127.0.0.1',
    });
    for (const [k, header] of [
      ['CONTENT_TYPE', 'content-type'],
      ['CONTENT_LENGTH', 'content-length'],
      ['HTTP_CONTENT_ENCODING', 'content-encoding'],
      ['GIT_PROTOCOL', 'git-protocol'],
    ] as const) {
      const v = h(header);
      if (v !== undefined) env[k] = v;
    }
    const child = spawn('git', ['http-backend'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdin.on('error', () => {
      /* the backend may stop reading early */
    });
    req.pipe(child.stdin);
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    // The CGI answer: header lines, a blank line, the body; streamed on once the headers are read.
    let head: Buffer = Buffer.alloc(0);
    let started = false;
    child.stdout.on('data', (d: Buffer) => {
      if (started) {
        res.write(d);
        return;
      }
      head = Buffer.concat([head, d]);
      const crlf = head.indexOf('\r\n\r\n');
      const lf = head.indexOf('\n\n');
      const [end, sep] = crlf >= 0 && (lf < 0 || crlf < lf) ? [crlf, 4] : [lf, 2];
      if (end < 0) return;
      let status = 200;
      const headers: Record<string, string> = {};
      for (const line of head.subarray(0, end).toString('latin1').split(/\r?\n/)) {
        const i = line.indexOf(':');
        if (i < 0) continue;
        const [k, v] = [line.slice(0, i).trim(), line.slice(i + 1).trim()];
        if (k.toLowerCase() === 'status') status = Number.parseInt(v, 10);
        else headers[k] = v;
      }
      res.writeHead(status, headers);
      started = true;
      const rest = head.subarray(end + sep);
      if (rest.length > 0) res.write(rest);
    });
    await new Promise<void>((resolve) => {
      child.on('close', () => {
        if (!started) res.writeHead(500, { 'content-type': 'text/plain' }).end(`git http-backend gave no answer: ${stderr}`);
        else res.end();
        resolve();
      });
      child.on('error', (e) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(String(e));
        resolve();
      });
    });
  }
}

/** Sets who the payload says pushed, where each forge's parse() reads it. */
function setPusher(forge: ForgeKind, payload: Json, pusher: string): void {
  if (forge === 'github') {
    if (payload.pusher) payload.pusher.name = pusher;
    if (payload.sender) payload.sender.login = pusher;
  } else if (forge === 'gitea') {
    for (const who of [payload.pusher, payload.sender]) {
      if (!who) continue;
      if ('login' in who) who.login = pusher;
      if ('username' in who) who.username = pusher;
    }
  } else {
    payload.user_username = pusher;
  }
}

/** What the server answered a delivery: its status, its text, and that text as JSON where it is. */
export interface HookAnswer {
  status: number;
  text: string;
  body: any;
}

/**
 * POSTs a delivery to `url` as the forge does: its headers, its raw bytes. node:http rather than fetch, so that
 * an answer the server gives before reading the whole body (413) is still read.
 */
export function deliverHook(url: string, d: Pick<ForgeDelivery, 'headers' | 'body'>): Promise<HookAnswer> {
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = httpRequest(url, { method: 'POST', headers: { ...d.headers, 'content-length': String(d.body.length) } }, (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: any = text;
        try {
          body = JSON.parse(text);
        } catch {
          /* not JSON */
        }
        checkAnswer('POST', url, res.statusCode ?? 0, res.headers['content-type'] ?? null, text);
        resolve({ status: res.statusCode ?? 0, text, body });
      });
    });
    req.on('error', (e) => {
      if (!answered) reject(e);
    });
    req.end(d.body);
  });
}
