import { MAX_FORGE_HOOK_BYTES } from './forges.js';
import {
  apiErrors,
  arrayOf,
  BASIC,
  error,
  inQuery,
  int,
  json,
  jsonBody,
  object,
  op,
  PUBLIC,
  repoParams,
  str,
  text,
  type ParameterObject,
  type PathItemObject,
  type SchemaObject,
} from './openapi-parts.js';
import { pagePaths } from './openapi-pages.js';

const GIT_AUTH =
  "HTTP basic auth: user = a user name, password = that user's token. A push needs the push scope and the owner's role (or write on a shared repo); it creates the repo on its owner's first push.";
const gitPath = (service: string) => `/git/{owner}/{repo}.git/${service}`;
const gitErrors = {
  401: text('no or wrong credentials (a Basic challenge: git asks its credential helper)'),
  403: text('this user or token may not push here; `codehub-build: <why>` (git shows it)'),
  404: text('no such repo, or one the caller may not read'),
  413: text('the push is larger than CODEHUB_MAX_PUSH_BYTES'),
  429: text('this address failed to sign in too often this minute'),
};

/** POST of one git service: the request and result types are git's own, named after the service. */
const gitService = (service: 'git-upload-pack' | 'git-receive-pack', operationId: string, summary: string, result: string): PathItemObject => ({
  post: op(
    {
      operationId,
      summary,
      description: GIT_AUTH,
      security: BASIC,
      parameters: repoParams,
      requestBody: { required: true, content: { [`application/x-${service}-request`]: { schema: { type: 'string', format: 'binary' } } } },
      responses: { 200: text(result, `application/x-${service}-result`), ...gitErrors },
    },
    'git',
  ),
});

const git: Record<string, PathItemObject> = {
  [gitPath('info/refs')]: {
    get: op(
      {
        operationId: 'gitInfoRefs',
        summary: 'git smart HTTP: ref advertisement (clone, fetch, push start here)',
        description: GIT_AUTH,
        security: BASIC,
        parameters: [
          ...repoParams,
          { ...inQuery('service', 'the git service', { type: 'string', enum: ['git-upload-pack', 'git-receive-pack'] }), required: true },
        ],
        responses: {
          200: {
            description: 'the advertisement of the service asked',
            content: {
              'application/x-git-upload-pack-advertisement': { schema: { type: 'string' } },
              'application/x-git-receive-pack-advertisement': { schema: { type: 'string' } },
            },
          },
          400: text('not a smart HTTP request'),
          ...gitErrors,
        },
      },
      'git',
    ),
  },
  [gitPath('git-upload-pack')]: gitService('git-upload-pack', 'gitUploadPack', 'git smart HTTP: clone and fetch', 'the pack'),
  [gitPath('git-receive-pack')]: gitService(
    'git-receive-pack',
    'gitReceivePack',
    'git smart HTTP: push (queues builds; the hook output reaches the pusher as `remote:` lines)',
    'the push result, with the builds queued',
  ),
};

const postReceive: Record<string, PathItemObject> = {
  '/hooks/post-receive': {
    post: op(
      {
        operationId: 'postReceive',
        summary: "the bare repos' post-receive hook reports a push",
        description:
          'Called by the hook installed in every repo, not by people. No token: the body is signed with HMAC-SHA256 under the key in <data>/secrets/hook.key, and must be at most 5 minutes old (sentAt).',
        security: PUBLIC,
        parameters: [
          {
            name: 'X-Codehub-Signature-256',
            in: 'header',
            required: true,
            description: 'sha256=<hex HMAC-SHA256 of the raw body>',
            schema: { type: 'string', pattern: '^sha256=[0-9a-f]{64}$' },
          },
        ],
        requestBody: jsonBody({
          type: 'object',
          required: ['repo', 'pusher', 'updates', 'sentAt'],
          properties: {
            repo: str('owner/name'),
            pusher: str('user name'),
            sentAt: str('ISO 8601'),
            options: arrayOf({ type: 'string' }, 'git push -o options (wait, skip)'),
            updates: arrayOf(object({ old: str('old sha'), new: str('new sha'), ref: str('the ref') })),
          },
        }),
        responses: {
          200: text("lines for the pusher (with -o wait, the builds' output follows until they end)"),
          400: error('BadRequest'),
          401: error('Unauthorized'),
          413: error('PayloadTooLarge'),
        },
      },
      'hooks',
    ),
  },
};

const forgeHook = (hookAnswer: SchemaObject, forge: string, operationId: string, signature: ParameterObject[], docs: string): PathItemObject => ({
  post: op(
    {
      operationId,
      summary: `${forge}'s push webhook: builds the pushed commit of the linked repo`,
      description: `Set as the webhook of the forge's repository (push events; JSON or GitHub's form encoding), with the link's webhook_secret. The link is found by \`?repo=owner/name\` (the hook_url the link shows), else by the payload's repository URLs. ${docs} At most ${MAX_FORGE_HOOK_BYTES} bytes. Answers within about 3 s; a slower fetch goes on after a 202.`,
      security: PUBLIC,
      parameters: [inQuery('repo', 'owner/name: the linked repo (its secret checks the delivery; the payload must name its upstream)'), ...signature],
      requestBody: {
        required: true,
        description: "the forge's push (or ping) payload, as the forge sends it",
        content: {
          'application/json': { schema: { type: 'object' } },
          'application/x-www-form-urlencoded': { schema: { type: 'object', properties: { payload: str('the JSON payload') } } },
        },
      },
      responses: {
        200: json('done, or nothing to do', hookAnswer),
        202: json('verified and recorded; the fetch goes on', hookAnswer),
        400: error('BadRequest'),
        401: {
          ...error('Unauthorized'),
          description: 'no link verifies the delivery: one answer whether the repo is missing, not linked, linked to another forge, or the signature is wrong',
        },
        413: error('PayloadTooLarge'),
        502: error('BadGateway'),
      },
    },
    'hooks',
  ),
});
const header = (name: string, description: string): ParameterObject => ({ name, in: 'header', description, schema: { type: 'string' } });

const registry: Record<string, PathItemObject> = {
  '/registry/token': {
    get: op(
      {
        operationId: 'registryToken',
        summary: "the registry's token realm (the distribution token spec)",
        description:
          "docker asks here when the registry challenges it. Basic auth with a user and token (or a build's own credential), or none for anonymous pulls of system/* and cache/*. The token grants what the caller may have of the scopes asked, possibly nothing.",
        security: [{}, ...BASIC],
        parameters: [
          { ...inQuery('service', "the registry's service name (CODEHUB_REGISTRY_SERVICE)"), required: true },
          { ...inQuery('scope', 'repository:<owner>/<image>:pull,push (repeatable, at most 50)', arrayOf({ type: 'string' })), explode: true },
          inQuery('account', 'the user name docker sends (the credentials decide, not this)'),
        ],
        responses: {
          200: json(
            'a JWT signed RS256, its certificate in x5c',
            object({ token: str('the JWT'), access_token: str('the same JWT'), expires_in: int('seconds'), issued_at: str('ISO 8601') }),
          ),
          403: json(
            'a push refused because the namespace is over its quota',
            object({ errors: arrayOf(object({ code: str('DENIED'), message: str('why') })) }),
          ),
          ...apiErrors('BadRequest'),
        },
      },
      'registry',
    ),
  },
};

const operations: Record<string, PathItemObject> = {
  '/healthz': {
    get: op(
      {
        operationId: 'health',
        summary: 'the process, database, each builder and the registry',
        security: PUBLIC,
        responses: {
          200: json('all is well (status ok), or degraded with the data dir under CODEHUB_MIN_FREE', {
            type: 'object',
            description:
              '{"status": "ok"|"degraded", "checks": {process, database, registry, builders[], disk: {ok, status: ok|degraded|failing, free_bytes, total_bytes, min_free_bytes, detail}}}',
          }),
          503: json('failing: the database or registry is down, no builder is healthy, or the data dir is full', { type: 'object' }),
        },
      },
      'operations',
    ),
  },
  '/metrics': {
    get: op(
      {
        operationId: 'metrics',
        summary: 'Prometheus metrics: builds by status, queue depth and wait, build durations, builders, registry',
        security: PUBLIC,
        responses: { 200: text('Prometheus text format', 'text/plain; version=0.0.4; charset=utf-8') },
      },
      'operations',
    ),
  },
};

/**
 * The routes outside the API's table, written out: git smart HTTP, the hooks, the registry's token realm,
 * health and metrics, the web pages and the downloads. Their bodies are git's, HTML, files or another
 * protocol's JSON; only the forges' hook answer is the API's (`hookAnswer`, made from its schema).
 */
export function writtenPaths(hookAnswer: SchemaObject): { gitAndHooks: Record<string, PathItemObject>; rest: Record<string, PathItemObject> } {
  const forgeHooks: Record<string, PathItemObject> = {
    '/hooks/github': forgeHook(
      hookAnswer,
      'GitHub',
      'githubHook',
      [
        header('X-GitHub-Event', 'push, ping (others are ignored)'),
        header('X-GitHub-Delivery', 'the delivery id (a replay is ignored)'),
        header('X-Hub-Signature-256', 'sha256=<hex HMAC-SHA256 of the body under the webhook secret>'),
      ],
      'A deleted branch or tag arrives as a push with `deleted`.',
    ),
    '/hooks/gitea': forgeHook(
      hookAnswer,
      'Gitea/Forgejo',
      'giteaHook',
      [
        header('X-Gitea-Event', 'push, delete (others are ignored); X-Forgejo-Event also'),
        header('X-Gitea-Delivery', 'the delivery id; X-Forgejo-Delivery also'),
        header('X-Gitea-Signature', '<hex HMAC-SHA256 of the body>; X-Forgejo-Signature also'),
      ],
      'Both the push and the delete events are read.',
    ),
    '/hooks/gitlab': forgeHook(
      hookAnswer,
      'GitLab',
      'gitlabHook',
      [
        header('X-Gitlab-Event', 'Push Hook, Tag Push Hook (others are ignored)'),
        header('X-Gitlab-Event-UUID', 'the delivery id (Idempotency-Key also)'),
        header('X-Gitlab-Token', "the webhook secret itself (GitLab's scheme), compared in constant time"),
      ],
      'GitLab sends the secret itself rather than a signature: use HTTPS.',
    ),
  };
  return { gitAndHooks: { ...git, ...postReceive, ...forgeHooks }, rest: { ...registry, ...operations, ...pagePaths } };
}
