import { BadRequestError } from '../errors.js';
import {
  checkHmacSha256,
  checkStatusArgs,
  headerOf,
  JSON_HEADERS,
  objectAt,
  parseApiUrl,
  parseUpstream,
  pushEvent,
  readPayload,
  stringAt,
  stringsAt,
  truncate,
  type Forge,
  type HttpCall,
  type ParseResult,
  type StatusUpdate,
  type Verification,
  type WebhookRequest,
} from './forge.js';

/**
 * GitHub and GitHub Enterprise Server.
 * Webhooks: https://docs.github.com/webhooks/webhook-events-and-payloads (delivery headers, `push`, `ping`),
 * signatures: https://docs.github.com/webhooks/using-webhooks/validating-webhook-deliveries,
 * statuses: https://docs.github.com/rest/commits/statuses#create-a-commit-status.
 */

const SIGNATURE = 'X-Hub-Signature-256';

/** GitHub answers 422 to a status description longer than 140 characters. */
const MAX_DESCRIPTION = 140;

/** The repository's URLs in a push payload: web, https clone, ssh, git:// and svn. */
const REPO_URL_KEYS = ['html_url', 'clone_url', 'ssh_url', 'git_url', 'svn_url'];

function verify(req: WebhookRequest, secret: string): Verification {
  // Only the SHA-256 signature: GitHub still sends the SHA-1 X-Hub-Signature for old integrations and advises against it.
  const value = headerOf(req, SIGNATURE);
  if (value === undefined) return { ok: false, problem: `${SIGNATURE} header is missing` };
  return checkHmacSha256(req, secret, SIGNATURE, value, 'sha256=');
}

function parse(req: WebhookRequest): ParseResult {
  const event = headerOf(req, 'X-GitHub-Event');
  if (!event) return { ok: false, problem: 'X-GitHub-Event header is missing' };
  const deliveryId = headerOf(req, 'X-GitHub-Delivery') || null;
  const read = readPayload(req);
  if (!read.ok) return read;
  const p = read.payload;
  switch (event) {
    case 'ping':
      return { ok: true, event: { kind: 'ping', deliveryId } };
    case 'push': {
      // A deleted branch or tag is a push with `deleted` and an all-zero `after` (plus a `delete` event,
      // ignored below), so the push alone carries every change of a ref.
      const repo = objectAt(p, 'repository');
      return pushEvent({
        deliveryId,
        ref: stringAt(p, 'ref'),
        before: stringAt(p, 'before'),
        after: stringAt(p, 'after'),
        repoFullName: stringAt(repo, 'full_name'),
        defaultBranch: stringAt(repo, 'default_branch'),
        repoUrls: stringsAt(repo, REPO_URL_KEYS),
        pusher: stringAt(objectAt(p, 'pusher'), 'name') ?? stringAt(objectAt(p, 'sender'), 'login'),
      });
    }
    default:
      return { ok: true, event: { kind: 'ignored', event, deliveryId } };
  }
}

function apiBase(upstreamUrl: string, apiUrl?: string): string {
  const { origin } = upstreamOf(upstreamUrl);
  if (apiUrl !== undefined) return parseApiUrl(apiUrl);
  const host = new URL(origin).hostname;
  // github.com's API lives on its own host; Enterprise Server serves it under /api/v3 of the same host.
  return host === 'github.com' || host === 'www.github.com' ? 'https://api.github.com' : `${origin}/api/v3`;
}

function repoPath(upstreamUrl: string): string {
  return upstreamOf(upstreamUrl).segments.join('/');
}

function statusCall(upstreamUrl: string, apiUrl: string | undefined, token: string, update: StatusUpdate): HttpCall {
  checkStatusArgs(token, update);
  return {
    method: 'POST',
    url: `${apiBase(upstreamUrl, apiUrl)}/repos/${repoPath(upstreamUrl)}/statuses/${update.sha}`,
    headers: { ...JSON_HEADERS, Accept: 'application/vnd.github+json', Authorization: `Bearer ${token}` },
    body: JSON.stringify({
      state: update.state,
      target_url: update.targetUrl,
      description: truncate(update.description, MAX_DESCRIPTION),
      context: update.context,
    }),
  };
}

/** GitHub (and Enterprise Server, which has no sub-path) names a repository by exactly owner/repo. */
function upstreamOf(upstreamUrl: string) {
  const u = parseUpstream(upstreamUrl);
  if (u.segments.length !== 2)
    throw new BadRequestError(`upstream URL ${JSON.stringify(upstreamUrl)} is not a GitHub repository URL (https://host/owner/repo)`);
  return u;
}

export const github: Forge = { name: 'github', verify, parse, apiBase, repoPath, statusCall };
