import {
  checkHmacSha256,
  checkStatusArgs,
  firstHeader,
  isZeroSha,
  JSON_HEADERS,
  objectAt,
  parseApiUrl,
  parseUpstream,
  pushEvent,
  readPayload,
  stringAt,
  stringsAt,
  truncate,
  ZERO_SHA,
  type Forge,
  type HttpCall,
  type Json,
  type ParseResult,
  type StatusUpdate,
  type Verification,
  type WebhookRequest,
} from './forge.js';

/**
 * Gitea and Forgejo (a fork that keeps Gitea's webhooks and API, and adds X-Forgejo-* headers).
 * Webhooks: https://docs.gitea.com/usage/webhooks, https://forgejo.org/docs/latest/user/webhooks/;
 * the headers a delivery carries are set in Gitea's services/webhook/deliver.go;
 * statuses: POST /repos/{owner}/{repo}/statuses/{sha} in the API reference (https://docs.gitea.com/api/).
 */

/**
 * Every header Gitea or Forgejo puts the signature in, in the order they are trusted: the forge's own name
 * first. Gitea sends X-Gitea-Signature and, for GitHub-style receivers, X-Hub-Signature-256 (the same hex
 * with `sha256=`); Forgejo adds X-Forgejo-Signature. Only the first one present is checked, so a wrong
 * signature in it cannot be rescued by a right one in another.
 */
const SIGNATURES: { name: string; prefix: '' | 'sha256=' }[] = [
  { name: 'X-Forgejo-Signature', prefix: '' },
  { name: 'X-Gitea-Signature', prefix: '' },
  { name: 'X-Hub-Signature-256', prefix: 'sha256=' },
];

/** Gitea documents no limit (the column is text); this keeps a runaway description out of the forge's page. */
const MAX_DESCRIPTION = 255;

const REPO_URL_KEYS = ['html_url', 'clone_url', 'ssh_url'];

function verify(req: WebhookRequest, secret: string): Verification {
  const found = firstHeader(
    req,
    SIGNATURES.map((s) => s.name),
  );
  if (found === undefined) return { ok: false, problem: `none of ${SIGNATURES.map((s) => s.name).join(', ')} is present` };
  const prefix = SIGNATURES.find((s) => s.name === found.name)!.prefix;
  return checkHmacSha256(req, secret, found.name, found.value, prefix);
}

function parse(req: WebhookRequest): ParseResult {
  const event = firstHeader(req, ['X-Gitea-Event', 'X-Forgejo-Event', 'X-Gogs-Event'])?.value;
  if (!event) return { ok: false, problem: 'X-Gitea-Event (or X-Forgejo-Event) header is missing' };
  const deliveryId = firstHeader(req, ['X-Gitea-Delivery', 'X-Forgejo-Delivery', 'X-Gogs-Delivery'])?.value || null;
  const read = readPayload(req);
  if (!read.ok) return read;
  const p = read.payload;
  const repo = objectAt(p, 'repository');
  const common = {
    deliveryId,
    repoFullName: stringAt(repo, 'full_name'),
    repoUrls: stringsAt(repo, REPO_URL_KEYS),
    defaultBranch: stringAt(repo, 'default_branch'),
  };
  switch (event) {
    case 'push': {
      const before = stringAt(p, 'before');
      // "Test Delivery" in the hook's settings sends a push of the default branch with before = after = its
      // head, which no real push has (git sends no update that moves nothing): it is the hook's ping, and
      // like GitHub's builds nothing.
      if (before !== undefined && !isZeroSha(before) && before === stringAt(p, 'after')) return { ok: true, event: { kind: 'ping', deliveryId } };
      return pushEvent({ ...common, ref: stringAt(p, 'ref'), before, after: stringAt(p, 'after'), pusher: userName(objectAt(p, 'pusher')) });
    }
    case 'delete':
      return deleted(p, common);
    default:
      return { ok: true, event: { kind: 'ignored', event, deliveryId } };
  }
}

/**
 * Gitea announces a deleted branch only as a `delete` event (services/repository/push.go sends no push for
 * it), so that event is the branch deletion here. Its `ref` is the short name and it carries no sha: the
 * event has `before` null. A deleted tag also comes as a push with an all-zero `after`, so its `delete`
 * event is ignored rather than counted twice.
 */
function deleted(
  p: Json,
  common: { deliveryId: string | null; repoFullName: string | undefined; repoUrls: string[]; defaultBranch: string | undefined },
): ParseResult {
  const refType = stringAt(p, 'ref_type');
  if (refType !== 'branch') return { ok: true, event: { kind: 'ignored', event: `delete of a ${refType ?? 'ref'}`, deliveryId: common.deliveryId } };
  const name = stringAt(p, 'ref');
  const ref = name === undefined ? undefined : name.startsWith('refs/') ? name : `refs/heads/${name}`;
  return pushEvent({ ...common, ref, before: null, after: ZERO_SHA, pusher: userName(objectAt(p, 'sender')) });
}

/** Gitea's user objects carry both `login` and `username` (the same); older ones only one of them. */
function userName(u: Json | undefined): string | undefined {
  return stringAt(u, 'login') ?? stringAt(u, 'username');
}

/** A Gitea may live under a sub-path (ROOT_URL https://host/git/): the repository is always the last two segments, the rest is that root. */
function split(upstreamUrl: string): { root: string; path: string } {
  const { origin, segments } = parseUpstream(upstreamUrl);
  const prefix = segments.slice(0, -2);
  return { root: origin + prefix.map((s) => `/${s}`).join(''), path: segments.slice(-2).join('/') };
}

function apiBase(upstreamUrl: string, apiUrl?: string): string {
  const { root } = split(upstreamUrl);
  return apiUrl !== undefined ? parseApiUrl(apiUrl) : `${root}/api/v1`;
}

function repoPath(upstreamUrl: string): string {
  return split(upstreamUrl).path;
}

function statusCall(upstreamUrl: string, apiUrl: string | undefined, token: string, update: StatusUpdate): HttpCall {
  checkStatusArgs(token, update);
  return {
    method: 'POST',
    url: `${apiBase(upstreamUrl, apiUrl)}/repos/${repoPath(upstreamUrl)}/statuses/${update.sha}`,
    // `token <t>` is the form every Gitea and Forgejo version accepts (Bearer came later).
    headers: { ...JSON_HEADERS, Authorization: `token ${token}` },
    // Gitea's states include GitHub's four (pending, success, error, failure), so they pass through as they are.
    body: JSON.stringify({
      state: update.state,
      target_url: update.targetUrl,
      description: truncate(update.description, MAX_DESCRIPTION),
      context: update.context,
    }),
  };
}

export const gitea: Forge = { name: 'gitea', verify, parse, apiBase, repoPath, statusCall };
