import type { UpstreamAnswer } from '../api/answers.js';
import { LinkRequest, parseRequest } from '../api/requests.js';
import { BadRequestError, NotFoundError } from '../errors.js';
import type { RepoStore } from '../git/repos.js';
import { open, seal } from '../secrets/vault.js';
import type { ForgeStore, LinkRow } from '../store/forges.js';
import type { Logger } from '../log.js';
import { isPush, type PushBuild, type UpstreamRow } from '../store/schema.js';
import type { Store } from '../store/store.js';
import { parseApiUrl, repoUrlKey } from './forge.js';
import { FORGE_NAMES, forgeNamed, isForgeName, type Forge, type ForgeName } from './index.js';
import { checkUpstreamUrl, hostProblem, type UpstreamUrlOptions } from './upstream.js';

/** `PUT /api/repos/:owner/:repo/upstream`'s body, checked. */
export interface LinkInput {
  url: string;
  forge: ForgeName;
  webhookSecret: string;
  statusToken: string | null;
  apiUrl: string | null;
}

export type LinkCheck = { ok: true; value: LinkInput } | { ok: false; problems: string[] };

/**
 * Checks a link request, every field, and returns all the problems at once rather than the first: its shape
 * (LinkRequest, src/api/requests.ts), then what the shape cannot say, for every field given as a string, even
 * when another is wrong: the URL with git's rules (http(s) only, no credentials or options: upstream.ts), the
 * forge, and that the forge can name the repository and its API from the URL (GitHub wants exactly owner/repo).
 */
export function checkLinkInput(body: unknown, opts: UpstreamUrlOptions = {}): LinkCheck {
  const shape = parseRequest(LinkRequest, body);
  const problems = shape.ok ? [] : [...shape.problems];
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return { ok: false, problems };
  const b = body as Record<string, unknown>;
  const given = (k: string): string | null => (typeof b[k] === 'string' && b[k] !== '' ? b[k] : null);
  const url = given('url');
  const forgeName = given('forge');
  const apiUrl = given('api_url');

  let forge: Forge | undefined;
  if (forgeName !== null) {
    if (isForgeName(forgeName)) forge = forgeNamed(forgeName);
    else problems.push(`forge ${JSON.stringify(forgeName.slice(0, 60))} is not one of ${FORGE_NAMES.join(', ')} (Forgejo is gitea)`);
  }
  // The API gets the status token, and its JSON message is shown back: the rules of hosts (the operator's
  // list, no link-local address) apply to it as to the upstream.
  let api: string | undefined;
  if (apiUrl !== null) {
    try {
      api = parseApiUrl(apiUrl);
      const refused = hostProblem(new URL(api).hostname, opts);
      if (refused !== null) {
        problems.push(`api_url ${JSON.stringify(apiUrl)} ${refused}`);
        api = undefined;
      }
    } catch (e) {
      problems.push((e as Error).message);
    }
  }
  if (url !== null) {
    const checked = checkUpstreamUrl(url, opts);
    if (!checked.ok) problems.push(checked.problem);
    else if (forge && (apiUrl === null || api !== undefined)) {
      try {
        forge.repoPath(url, api);
      } catch (e) {
        problems.push((e as Error).message);
      }
    }
  }
  if (!shape.ok || problems.length > 0 || forge === undefined) return { ok: false, problems };
  const v = shape.value;
  return { ok: true, value: { url: v.url, forge: forge.name, webhookSecret: v.webhook_secret, statusToken: v.status_token ?? null, apiUrl: api ?? null } };
}

/** A link as the API shows it: never a secret, only whether a status token is set (src/api/answers.ts's `Upstream`). */
export type LinkView = UpstreamAnswer;

/** A link opened for use: its secrets in clear, for verifying a delivery, fetching and sending statuses. */
export interface OpenLink {
  repoId: number;
  owner: string;
  name: string;
  forge: Forge;
  url: URL;
  apiUrl: string | undefined;
  webhookSecret: string;
  statusToken: string | undefined;
}

// The associated data of each sealed column: `repo\0<name>` as for build secrets, with names no secret can have.
const SECRET_AAD = 'upstream.webhook_secret';
const TOKEN_AAD = 'upstream.status_token';

/**
 * Repos linked to a repository on a forge: set, shown and removed by the repo's owner; found by a webhook's
 * repository URLs; opened (secrets decrypted) only to verify, fetch and report.
 */
export class UpstreamLinks {
  constructor(
    private deps: { store: Store; forges: ForgeStore; repos: RepoStore; key: Buffer; publicUrl: string; urlOptions?: UpstreamUrlOptions; log?: Logger },
  ) {}

  /** Creates or replaces the link of owner/repo, making the repo (and its bare git repo) if needed. */
  async set(owner: string, repo: string, body: unknown): Promise<{ view: LinkView; created: boolean }> {
    const checked = checkLinkInput(body, this.deps.urlOptions);
    if (!checked.ok) throw new BadRequestError(`upstream link of ${owner}/${repo}: ${checked.problems.join('; ')}`, { problems: checked.problems });
    const v = checked.value;
    await this.deps.repos.ensure(owner, repo);
    const row = this.deps.store.repos.ensure(owner, repo);
    const full = `${owner}/${repo}`;
    const { link, created } = this.deps.forges.putLink({
      repoId: row.id,
      url: v.url,
      urlKey: repoUrlKey(v.url)!,
      forge: v.forge,
      apiUrl: v.apiUrl,
      webhookSecret: seal(this.deps.key, full, SECRET_AAD, Buffer.from(v.webhookSecret)),
      statusToken: v.statusToken === null ? null : seal(this.deps.key, full, TOKEN_AAD, Buffer.from(v.statusToken)),
    });
    return { view: this.view(owner, repo, link), created };
  }

  /** The link of owner/repo as the API shows it; NotFoundError when there is none. */
  get(owner: string, repo: string): LinkView {
    const row = this.deps.store.repos.byName(owner, repo);
    const link = row && this.deps.forges.link(row.id);
    if (!link) throw new NotFoundError(`${owner}/${repo} is not linked to an upstream; link it with PUT /api/repos/${owner}/${repo}/upstream`);
    return this.view(owner, repo, link);
  }

  remove(owner: string, repo: string): void {
    const row = this.deps.store.repos.byName(owner, repo);
    if (!row || !this.deps.forges.removeLink(row.id)) throw new NotFoundError(`${owner}/${repo} is not linked to an upstream`);
  }

  /** The link of a repo by id, opened; undefined when it has none. */
  openById(repoId: number): OpenLink | undefined {
    const link = this.deps.forges.linkWithRepo(repoId);
    return link && this.open(link);
  }

  /** The link of owner/repo, opened; undefined when it has none. */
  openByName(owner: string, repo: string): OpenLink | undefined {
    const row = this.deps.store.repos.byName(owner, repo);
    return row ? this.openById(row.id) : undefined;
  }

  /**
   * The builds a push of `ref` to `sha` made in the link's repo (queued, running or ended), newest first: a
   * delivery of a push already acted on is answered with these rather than built again.
   */
  buildsOf(link: OpenLink, ref: string, sha: string): PushBuild[] {
    return this.deps.store.builds
      .list({ repo: `${link.owner}/${link.name}`, commit: sha, ref, source: 'push', limit: 100 })
      .filter((b): b is PushBuild => isPush(b) && b.ref === ref && b.commitSha === sha);
  }

  /** The links whose upstream is one of `urls` (a payload's repository URLs), opened. */
  openByUrls(urls: string[]): OpenLink[] {
    const keys = [...new Set(urls.map(repoUrlKey).filter((k): k is string => k !== null))];
    // One link whose secrets no longer open (the key changed) must not stop the others linked to the same upstream.
    return this.deps.forges.linksByUrlKey(keys).flatMap((l) => {
      try {
        return [this.open(l)];
      } catch (e) {
        this.deps.log?.warn('an upstream link cannot be opened; its owner must link it again', { repo: `${l.owner}/${l.name}`, err: e as Error });
        return [];
      }
    });
  }

  private open(l: LinkRow): OpenLink {
    const full = `${l.owner}/${l.name}`;
    return {
      repoId: l.repoId,
      owner: l.owner,
      name: l.name,
      forge: forgeNamed(l.forge),
      url: new URL(l.url),
      apiUrl: l.apiUrl ?? undefined,
      webhookSecret: open(this.deps.key, full, SECRET_AAD, l.webhookSecret).toString('utf8'),
      statusToken: l.statusToken === null ? undefined : open(this.deps.key, full, TOKEN_AAD, l.statusToken).toString('utf8'),
    };
  }

  private view(owner: string, repo: string, link: UpstreamRow): LinkView {
    const forge = forgeNamed(link.forge);
    return {
      repo: `${owner}/${repo}`,
      url: link.url,
      forge: link.forge,
      api_url: forge.apiBase(link.url, link.apiUrl ?? undefined),
      hook_url: `${this.deps.publicUrl}/hooks/${link.forge}?repo=${owner}/${repo}`,
      statuses: link.statusToken !== null,
      created_at: link.createdAt,
      updated_at: link.updatedAt,
      last_delivery: link.lastDeliveryAt === null ? null : { at: link.lastDeliveryAt, result: link.lastDeliveryResult ?? '', error: link.lastDeliveryError },
    };
  }
}

/** The Basic auth user name each forge expects beside a token when git fetches (GitLab: OAuth and personal tokens alike). */
export function fetchUserFor(forge: ForgeName): string {
  return forge === 'gitlab' ? 'oauth2' : 'x-access-token';
}
