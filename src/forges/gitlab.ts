import {
  checkSharedToken,
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
  type StatusState,
  type StatusUpdate,
  type Verification,
  type WebhookRequest,
} from './forge.js';

/**
 * GitLab (gitlab.com and self-managed).
 * Webhooks: https://docs.gitlab.com/user/project/integrations/webhooks/ (secret token, delivery headers),
 * payloads: https://docs.gitlab.com/user/project/integrations/webhook_events/,
 * statuses: https://docs.gitlab.com/api/commits/#set-the-pipeline-status-of-a-commit.
 */

/**
 * GitLab sends the secret itself, not a signature of the body: the token proves the sender knows the
 * secret but not that the body is the one it sent. Only TLS between GitLab and this server protects the body.
 */
const TOKEN = 'X-Gitlab-Token';

/** GitLab's states for an external status; it has no `error`, so both of ours that are not success are `failed`. */
const STATES: Record<StatusState, string> = { pending: 'pending', success: 'success', failure: 'failed', error: 'failed' };

/** GitLab documents no limit on the description; this keeps a runaway description out of the pipeline page. */
const MAX_DESCRIPTION = 255;

/** Where a push payload gives the project's URLs: `project` (current) and `repository` (kept for old receivers). */
const PROJECT_URL_KEYS = ['web_url', 'git_http_url', 'git_ssh_url', 'http_url', 'ssh_url', 'url', 'homepage'];
const REPOSITORY_URL_KEYS = ['homepage', 'git_http_url', 'git_ssh_url', 'url'];

function verify(req: WebhookRequest, secret: string): Verification {
  return checkSharedToken(req, secret, TOKEN);
}

function parse(req: WebhookRequest): ParseResult {
  const event = headerOf(req, 'X-Gitlab-Event');
  if (!event) return { ok: false, problem: 'X-Gitlab-Event header is missing' };
  // Idempotency-Key (GitLab 17.4+) stays the same when a delivery is retried or resent, which is what
  // replay detection needs; X-Gitlab-Event-UUID (14.8+) is the fallback for older versions.
  const deliveryId = headerOf(req, 'Idempotency-Key') || headerOf(req, 'X-Gitlab-Event-UUID') || null;
  const read = readPayload(req);
  if (!read.ok) return read;
  const p = read.payload;
  switch (event) {
    // "Test > Push events" in the hook's settings sends a Push Hook built from the project's latest commits,
    // so a test builds like any push: GitLab has no ping. A deleted branch is a Push Hook with an all-zero
    // `after`; tags, created and deleted, come as Tag Push Hook.
    case 'Push Hook':
    case 'Tag Push Hook': {
      const project = objectAt(p, 'project');
      return pushEvent({
        deliveryId,
        ref: stringAt(p, 'ref'),
        before: stringAt(p, 'before'),
        after: stringAt(p, 'after'),
        repoFullName: stringAt(project, 'path_with_namespace'),
        defaultBranch: stringAt(project, 'default_branch'),
        repoUrls: [...stringsAt(project, PROJECT_URL_KEYS), ...stringsAt(objectAt(p, 'repository'), REPOSITORY_URL_KEYS)],
        pusher: stringAt(p, 'user_username') ?? stringAt(p, 'user_name'),
      });
    }
    default:
      return { ok: true, event: { kind: 'ignored', event, deliveryId } };
  }
}

function apiBase(upstreamUrl: string, apiUrl?: string): string {
  const { origin } = parseUpstream(upstreamUrl);
  // Project paths have any number of groups, so a relative URL root (https://host/gitlab/) cannot be told
  // from a group by the URL alone: such a GitLab needs its api_url.
  return apiUrl !== undefined ? parseApiUrl(apiUrl) : `${origin}/api/v4`;
}

function repoPath(upstreamUrl: string, apiUrl?: string): string {
  const { origin, segments } = parseUpstream(upstreamUrl);
  if (apiUrl === undefined) return segments.join('/');
  // With an api_url on the same host ending in /api/v4, whatever precedes /api/v4 is the relative URL
  // root, and the project path is what follows it in the upstream URL.
  const api = new URL(parseApiUrl(apiUrl));
  const root =
    /^(.*)\/api\/v4$/
      .exec(api.pathname)?.[1]
      ?.split('/')
      .filter((s) => s !== '') ?? [];
  const underRoot = api.origin === origin && root.length > 0 && segments.length - root.length >= 2 && root.every((s, i) => segments[i] === s);
  return (underRoot ? segments.slice(root.length) : segments).join('/');
}

function statusCall(upstreamUrl: string, apiUrl: string | undefined, token: string, update: StatusUpdate): HttpCall {
  checkStatusArgs(token, update);
  return {
    method: 'POST',
    // The project's :id may be its URL-encoded path, slashes included (group%2Fsub%2Fproject).
    url: `${apiBase(upstreamUrl, apiUrl)}/projects/${encodeURIComponent(repoPath(upstreamUrl, apiUrl))}/statuses/${update.sha}`,
    headers: { ...JSON_HEADERS, 'PRIVATE-TOKEN': token },
    body: JSON.stringify({
      state: STATES[update.state],
      name: update.context,
      target_url: update.targetUrl,
      description: truncate(update.description, MAX_DESCRIPTION),
      ...(update.ref !== undefined ? { ref: update.ref } : {}),
    }),
  };
}

export const gitlab: Forge = { name: 'gitlab', verify, parse, apiBase, repoPath, statusCall };
