import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { BadRequestError } from '../errors.js';
import { checkUpstreamShape } from './upstream.js';

/**
 * The forges a repo can be linked to (issue 17, DESIGN.md "Existing forges"): GitHub, Gitea/Forgejo and
 * GitLab behind one interface, so the webhook route and the status sender speak to "a forge" and each
 * forge's quirks stay in its own file. Nothing here does I/O: `verify` and `parse` read a delivery as it was
 * received, `statusCall` describes the HTTP call that sets a commit status and leaves sending it (and
 * retrying it while the forge is down) to the caller.
 *
 * This file holds the interface, the shared types and the helpers the three implementations share.
 */

export type ForgeName = 'github' | 'gitea' | 'gitlab';

/** A webhook delivery as the route received it. */
export interface WebhookRequest {
  /** Header names are matched case-insensitively, whichever of the two forms is given. */
  headers: Headers | Record<string, string | undefined>;
  /** The raw body bytes as received: signatures cover these bytes, never a re-serialised JSON. */
  body: Buffer;
}

/** `problem` names the header that is missing or wrong; it never contains the secret or the value expected. */
export type Verification = { ok: true } | { ok: false; problem: string };

/** A push of one branch or tag, in the same terms whichever forge sent it. */
export interface PushEvent {
  kind: 'push';
  /** The forge's id for this delivery, for refusing a replay; null when the forge sent none. */
  deliveryId: string | null;
  /** Every URL the payload gives for the repository (web, clone, ssh...), for finding the linked repo. */
  repoUrls: string[];
  /** owner/name (GitHub, Gitea) or the project's full path (GitLab). */
  repoFullName: string;
  /** refs/heads/<branch> or refs/tags/<tag>. */
  ref: string;
  /** The ref's sha before the push; all zeros when the push created it; null when the forge does not say (Gitea's branch `delete` event). */
  before: string | null;
  /** The ref's sha after the push (40 hex, or 64 for a SHA-256 repo); all zeros when the push deleted the ref. */
  after: string;
  pusher: string | null;
  deleted: boolean;
  created: boolean;
  /** The repository's default branch on the forge, when the payload says: it gets `latest` here too. */
  defaultBranch?: string;
}

export type ForgeEvent =
  | PushEvent
  /** The forge checking the hook works (GitHub's `ping`); answered with success, nothing else. */
  | { kind: 'ping'; deliveryId: string | null }
  /** Anything that builds nothing: other events (issues...), pushes to refs that are not branches or tags. */
  | { kind: 'ignored'; event: string; deliveryId: string | null };

export type ParseResult = { ok: true; event: ForgeEvent } | { ok: false; problem: string };

export type StatusState = 'pending' | 'success' | 'failure' | 'error';

export interface StatusUpdate {
  /** The full commit sha the build was for. */
  sha: string;
  state: StatusState;
  /** The build page. */
  targetUrl: string;
  /** Shortened to what the forge accepts (GitHub: 140 characters). */
  description: string;
  /** Tells this status apart from other systems' on the same commit, e.g. codehub-build/<image>. */
  context: string;
  /** The branch or tag name (short) the build was for. Only GitLab uses it, to attach the status to that ref's pipeline. */
  ref?: string;
}

/** The request that sets a commit status; the token is in a header, never in the URL. */
export interface HttpCall {
  method: 'POST';
  url: string;
  headers: Record<string, string>;
  body: string;
}

export interface Forge {
  readonly name: ForgeName;
  /**
   * Checks the delivery's signature (GitHub, Gitea) or token (GitLab) against the link's webhook secret, in
   * constant time. An empty secret verifies nothing. Call it before `parse`.
   */
  verify(req: WebhookRequest, secret: string): Verification;
  /**
   * Reads a verified delivery: the event from its event header (X-GitHub-Event, X-Gitea-Event or
   * X-Forgejo-Event, X-Gitlab-Event), the delivery id from X-GitHub-Delivery, X-Gitea-Delivery or
   * X-Forgejo-Delivery, Idempotency-Key or X-Gitlab-Event-UUID. Never throws: a body that is not what the
   * forge documents is a `problem`.
   */
  parse(req: WebhookRequest): ParseResult;
  /**
   * The API base for an upstream repository URL: github.com -> https://api.github.com, another GitHub host
   * (Enterprise) -> https://host/api/v3; Gitea/Forgejo -> https://host[/sub-path]/api/v1; GitLab ->
   * https://host/api/v4. An explicit `apiUrl` wins. Throws BadRequestError for a URL that is not an http(s)
   * repository URL.
   */
  apiBase(upstreamUrl: string, apiUrl?: string): string;
  /**
   * The repository as the forge's API names it: owner/repo (GitHub, Gitea) or the project's full path
   * (GitLab; `statusCall` URL-encodes it as the project's :id). With `apiUrl`, a GitLab under a relative URL
   * root (https://host/gitlab/...) has that root taken off. Throws BadRequestError like `apiBase`.
   */
  repoPath(upstreamUrl: string, apiUrl?: string): string;
  /**
   * The HTTP call that sets a commit status (GitHub and Gitea: POST {api}/repos/{owner}/{repo}/statuses/{sha};
   * GitLab: POST {api}/projects/{path}/statuses/{sha}). Throws BadRequestError for a bad URL, a sha that is
   * not a full hex sha, or a token with control characters.
   */
  statusCall(upstreamUrl: string, apiUrl: string | undefined, token: string, update: StatusUpdate): HttpCall;
}

// ---------------------------------------------------------------------------------------------------------
// Headers

/** A header's value, trimmed, or undefined. `name` is matched case-insensitively. */
export function headerOf(req: WebhookRequest, name: string): string | undefined {
  const h = req.headers;
  let value: string | null | undefined;
  if (h instanceof Headers) value = h.get(name);
  else {
    const lower = name.toLowerCase();
    const key = Object.keys(h).find((k) => k.toLowerCase() === lower);
    value = key === undefined ? undefined : h[key];
  }
  return value === null || value === undefined ? undefined : value.trim();
}

/** The first of `names` present, with the name as given (for messages). */
export function firstHeader(req: WebhookRequest, names: string[]): { name: string; value: string } | undefined {
  for (const name of names) {
    const value = headerOf(req, name);
    if (value !== undefined) return { name, value };
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------
// Verification

const NO_SECRET: Verification = { ok: false, problem: 'the link has no webhook secret, so no delivery can be verified' };

/**
 * Checks `value` (from header `header`) as `<prefix><hex HMAC-SHA256 of the raw body>`. The bytes are
 * compared, not the strings, with timingSafeEqual: both are 32 bytes once the format is known to be right.
 */
export function checkHmacSha256(req: WebhookRequest, secret: string, header: string, value: string, prefix: '' | 'sha256='): Verification {
  if (secret === '') return NO_SECRET;
  const hex = value.startsWith(prefix) ? value.slice(prefix.length) : '';
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) return { ok: false, problem: `${header} is not ${prefix}<64 hex digits of an HMAC-SHA256>` };
  const expected = createHmac('sha256', secret).update(req.body).digest();
  return timingSafeEqual(Buffer.from(hex, 'hex'), expected)
    ? { ok: true }
    : { ok: false, problem: `${header} does not match the body signed with this link's webhook secret` };
}

/**
 * Checks a header that carries the secret itself (GitLab). Both sides are hashed first so timingSafeEqual
 * compares equal lengths and the time taken says nothing about the secret's length either.
 */
export function checkSharedToken(req: WebhookRequest, secret: string, header: string): Verification {
  if (secret === '') return NO_SECRET;
  const got = headerOf(req, header);
  if (got === undefined) return { ok: false, problem: `${header} header is missing` };
  const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(digest(got), digest(secret)) ? { ok: true } : { ok: false, problem: `${header} does not match this link's webhook secret` };
}

// ---------------------------------------------------------------------------------------------------------
// Payloads

export type Json = Record<string, unknown>;

/**
 * The delivery's JSON object. GitHub and Gitea can also be set to send `application/x-www-form-urlencoded`
 * with the JSON in a `payload` field (GitHub's API default); both are read, so a hook left at that setting
 * still works.
 */
export function readPayload(req: WebhookRequest): { ok: true; payload: Json } | { ok: false; problem: string } {
  let text = req.body.toString('utf8');
  if (/^application\/x-www-form-urlencoded\b/i.test(headerOf(req, 'content-type') ?? '')) {
    const field = new URLSearchParams(text).get('payload');
    if (field === null) return { ok: false, problem: 'the form-encoded body has no payload field' };
    text = field;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, problem: 'the body is not valid JSON' };
  }
  if (!isObject(value)) return { ok: false, problem: 'the body is not a JSON object' };
  return { ok: true, payload: value };
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `o[key]` if it is an object. */
export function objectAt(o: Json | undefined, key: string): Json | undefined {
  const v = o?.[key];
  return isObject(v) ? v : undefined;
}

/** `o[key]` if it is a non-empty string. */
export function stringAt(o: Json | undefined, key: string): string | undefined {
  const v = o?.[key];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** The non-empty string values of `keys` in `o`, in that order. */
export function stringsAt(o: Json | undefined, keys: string[]): string[] {
  return keys.flatMap((k) => stringAt(o, k) ?? []);
}

// ---------------------------------------------------------------------------------------------------------
// Pushes

// The null sha of a deletion, as git writes it: one constant for git's side and the forges'.
export { ZERO_SHA } from '../git/read.js';

/** A full sha as forges send them: 40 lowercase hex digits, or 64 for a SHA-256 repository. */
export function isSha(s: unknown): s is string {
  return typeof s === 'string' && /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/.test(s);
}

export function isZeroSha(sha: string): boolean {
  return /^0+$/.test(sha);
}

/**
 * The rules of `git check-ref-format` that matter here: the ref is later fetched as `+ref:ref`, so nothing
 * that would change what the refspec means (`:`, `..`, `*`, a leading `-` or `+` cannot appear after
 * `refs/`) gets through.
 */
export function isWellFormedRef(ref: string): boolean {
  // eslint-disable-next-line no-control-regex
  if (ref.length > 1024 || !ref.startsWith('refs/') || /[\u0000-\u0020\u007f~^:?*[\\]/.test(ref)) return false;
  if (ref.includes('..') || ref.includes('@{') || ref.endsWith('.')) return false;
  return ref.split('/').every((c) => c !== '' && !c.startsWith('.') && !c.endsWith('.lock'));
}

/** What a forge read out of a push payload, before it is checked. */
export interface PushFields {
  deliveryId: string | null;
  ref: string | undefined;
  before: string | null | undefined;
  after: string | undefined;
  repoFullName: string | undefined;
  repoUrls: string[];
  pusher: string | undefined;
  defaultBranch?: string | undefined;
}

/** Checks the fields every forge's push has and builds the event; `deleted` and `created` come from the shas. */
export function pushEvent(f: PushFields): ParseResult {
  const problem = (p: string): ParseResult => ({ ok: false, problem: p });
  if (f.repoFullName === undefined) return problem('the push names no repository');
  const repoUrls = [...new Set(f.repoUrls)];
  if (repoUrls.length === 0) return problem('the push gives no URL for its repository');
  if (f.ref === undefined) return problem('the push has no ref');
  if (!isWellFormedRef(f.ref)) return problem(`the push's ref ${JSON.stringify(f.ref.slice(0, 200))} is not a valid ref name`);
  if (!isSha(f.after)) return problem('the push\'s "after" is not a full commit sha');
  if (f.before === undefined || (f.before !== null && !isSha(f.before))) return problem('the push\'s "before" is not a full commit sha');
  if (!/^refs\/(heads|tags)\//.test(f.ref)) return { ok: true, event: { kind: 'ignored', event: `push to ${f.ref}`, deliveryId: f.deliveryId } };
  const deleted = isZeroSha(f.after);
  const created = f.before !== null && isZeroSha(f.before);
  if (deleted && created) return problem('the push has all-zero shas on both sides');
  return {
    ok: true,
    event: {
      kind: 'push',
      deliveryId: f.deliveryId,
      repoUrls,
      repoFullName: f.repoFullName,
      ref: f.ref,
      before: f.before,
      after: f.after,
      pusher: f.pusher ?? null,
      deleted,
      created,
      ...(f.defaultBranch !== undefined && isWellFormedRef(`refs/heads/${f.defaultBranch}`) ? { defaultBranch: f.defaultBranch } : {}),
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// Upstream URLs and API calls

/** An upstream repository URL, checked: its origin (scheme, host, port) and its path's segments, `.git` taken off. */
export interface Upstream {
  origin: string;
  segments: string[];
}

/**
 * Checks an upstream URL's form with the same rules as fetching from it (upstream.ts: http(s) only, no
 * credentials, query or fragment, no local paths or `ext::`), then splits its path. Each segment must be a
 * plain name, as all three forges require of owners, groups and repositories, so it can go into an API
 * URL as it is. The host is not judged here: a stored link must still show and name its API; whatever
 * reaches the network checks the host (checkUpstreamUrl, StatusReporter).
 */
export function parseUpstream(raw: string): Upstream {
  const checked = checkUpstreamShape(raw);
  if (!checked.ok) throw new BadRequestError(checked.problem);
  const segments = checked.url.pathname.split('/').filter((s) => s !== '');
  const last = segments.length - 1;
  if (last >= 0 && segments[last]!.endsWith('.git')) segments[last] = segments[last]!.slice(0, -'.git'.length);
  if (segments.length < 2) throw new BadRequestError(`upstream URL ${JSON.stringify(raw)} does not name a repository (https://host/owner/repo)`);
  for (const s of segments) {
    if (!/^[A-Za-z0-9_.-]+$/.test(s) || /^\.+$/.test(s)) {
      throw new BadRequestError(
        `upstream URL ${JSON.stringify(raw)} has the path segment ${JSON.stringify(s)}; owners and repositories are letters, digits, ".", "-" and "_"`,
      );
    }
  }
  return { origin: checked.url.origin, segments };
}

/** An explicit api_url, checked like an upstream URL but with any path, trailing slashes taken off. */
export function parseApiUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new BadRequestError(`api_url ${JSON.stringify(raw)} is not an absolute URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new BadRequestError(`api_url ${JSON.stringify(raw)} is not http(s)`);
  if (url.username !== '' || url.password !== '') throw new BadRequestError('api_url must not carry credentials; the status token is sent in a header');
  if (url.search !== '' || url.hash !== '') throw new BadRequestError(`api_url ${JSON.stringify(raw)} has a query or fragment`);
  return url.origin + url.pathname.replace(/\/+$/, '');
}

/** The checks every statusCall makes before it builds anything: the sha goes into a URL path and the token into a header. */
export function checkStatusArgs(token: string, update: StatusUpdate): void {
  if (!isSha(update.sha)) throw new BadRequestError(`commit ${JSON.stringify(String(update.sha).slice(0, 100))} is not a full hex sha`);
  // eslint-disable-next-line no-control-regex
  if (token === '' || /[\u0000-\u001f\u007f]/.test(token)) throw new BadRequestError('the status token is empty or contains control characters');
}

/** `text` cut to `max` characters (code points, so no emoji is split), ending in "…" when cut. */
export function truncate(text: string, max: number): string {
  const chars = Array.from(text);
  return chars.length <= max ? text : chars.slice(0, max - 1).join('') + '…';
}

/** The headers every status call sends besides the forge's own authorization header. */
export const JSON_HEADERS = { Accept: 'application/json', 'Content-Type': 'application/json', 'User-Agent': 'codehub-build' } as const;

/**
 * What a repository URL is matched on when a webhook names its repository: `host[:port]/path`, lower-cased,
 * without `.git` or a trailing slash. http(s), ssh:// and git:// URLs and scp-like `user@host:path` all give
 * one (null for anything else), so the payload's web, clone and ssh URLs each find a link made with any of them.
 * Forges treat owner and repository names case-insensitively, hence the lower case.
 */
export function repoUrlKey(raw: string): string | null {
  let hostPath: string;
  const scp = /^(?:[^@/\s]+@)?([A-Za-z0-9.-]+):(?!\/\/)([^\s]+)$/.exec(raw);
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(raw)) {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      return null;
    }
    if (!['http:', 'https:', 'ssh:', 'git:'].includes(url.protocol) || url.hostname === '') return null;
    // An ssh or git URL's port is its own transport's, not the web's: leave it out so it can still match.
    const host = url.protocol === 'http:' || url.protocol === 'https:' ? url.host : url.hostname;
    hostPath = host + url.pathname;
  } else if (scp) hostPath = `${scp[1]}/${scp[2]}`;
  else return null;
  const key = hostPath
    .toLowerCase()
    .replace(/\/+$/, '')
    .replace(/\.git$/, '')
    .replace(/\/+$/, '');
  return key.includes('/') ? key : null;
}
