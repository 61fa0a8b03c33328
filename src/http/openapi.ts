import { MAX_LABEL_LENGTH } from '../auth/accounts.js';
import { SCOPES } from '../store/scopes.js';
import { MAX_SECRET_BYTES } from '../secrets/vault.js';
import { RETENTION_MAX_DAYS, RETENTION_MAX_KEEP } from '../settings.js';
import { BUILD_STATUSES, STATUS_STATES } from '../store/schema.js';
import { FORGE_NAMES } from '../forges/index.js';
import { MAX_FORGE_HOOK_BYTES } from './forges.js';
import { MAX_UPLOAD_ENTRIES } from '../uploads/manifest.js';
import { MAX_ADMIN_BODY } from './admin.js';

/**
 * The OpenAPI 3.1 document of every route the server mounts (GET /api/openapi.json), written by hand beside
 * the routes and held to them by test/unit/openapi.test.ts: a route without an operation here, or an
 * operation without a route, fails that test. The types below are the part of OpenAPI this document uses.
 */

export interface SchemaObject {
  type?: JsonType | JsonType[];
  $ref?: string;
  description?: string;
  properties?: Record<string, SchemaObject>;
  required?: string[];
  additionalProperties?: boolean | SchemaObject;
  items?: SchemaObject;
  enum?: readonly (string | number | boolean | null)[];
  format?: string;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  maxLength?: number;
  minItems?: number;
  default?: unknown;
  examples?: unknown[];
}
type JsonType = 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean' | 'null';

export interface Reference { $ref: string }

export interface ParameterObject {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  required?: boolean;
  description: string;
  schema: SchemaObject;
  explode?: boolean;
}

export interface MediaTypeObject { schema: SchemaObject }

export interface RequestBodyObject {
  description?: string;
  required: boolean;
  content: Record<string, MediaTypeObject>;
}

export interface ResponseObject {
  description: string;
  headers?: Record<string, { description: string; schema: SchemaObject }>;
  content?: Record<string, MediaTypeObject>;
}

/** Each requirement is one way in; `{}` among them makes the credential optional, `[]` means none is asked. */
export type SecurityRequirement = Partial<Record<SecurityScheme, []>>;
type SecurityScheme = 'bearer' | 'basic' | 'session';

export interface OperationObject {
  operationId: string;
  summary: string;
  description?: string;
  tags: Tag[];
  parameters?: ParameterObject[];
  requestBody?: RequestBodyObject;
  responses: Record<string, ResponseObject | Reference>;
  /** Always stated, so a public route says it is public rather than inheriting a default. */
  security: SecurityRequirement[];
}

export type Method = 'get' | 'put' | 'post' | 'delete';
export type PathItemObject = Partial<Record<Method, OperationObject>>;

export interface OpenApiDocument {
  openapi: '3.1.0';
  info: { title: string; version: string; description: string };
  servers: { url: string }[];
  tags: { name: Tag; description: string }[];
  paths: Record<string, PathItemObject>;
  components: {
    schemas: Record<string, SchemaObject>;
    responses: Record<string, ResponseObject>;
    securitySchemes: Record<SecurityScheme, { type: 'http' | 'apiKey'; scheme?: string; in?: 'cookie'; name?: string; description: string }>;
  };
}

type Tag = 'git' | 'hooks' | 'builds' | 'repos' | 'registry' | 'account' | 'admin' | 'operations' | 'web' | 'downloads';

// ---- building blocks

const schema = (name: string): SchemaObject => ({ $ref: `#/components/schemas/${name}` });
const error = (name: ErrorName): Reference => ({ $ref: `#/components/responses/${name}` });
const str = (description: string, more: SchemaObject = {}): SchemaObject => ({ type: 'string', description, ...more });
const int = (description: string, more: SchemaObject = {}): SchemaObject => ({ type: 'integer', description, ...more });
const nullable = (type: JsonType, description: string): SchemaObject => ({ type: [type, 'null'], description });
const arrayOf = (items: SchemaObject, description?: string): SchemaObject => ({ type: 'array', items, ...(description ? { description } : {}) });
/** An object whose listed properties are all required (the API never leaves a field out; it sends null). */
const object = (properties: Record<string, SchemaObject>, description?: string): SchemaObject => ({
  type: 'object', properties, required: Object.keys(properties), additionalProperties: false, ...(description ? { description } : {}),
});

const json = (description: string, body: SchemaObject): ResponseObject => ({ description, content: { 'application/json': { schema: body } } });
const text = (description: string, type = 'text/plain; charset=utf-8'): ResponseObject => ({ description, content: { [type]: { schema: { type: 'string' } } } });
const jsonBody = (body: SchemaObject, required = true): RequestBodyObject => ({ required, content: { 'application/json': { schema: body } } });
const formBody = (fields: Record<string, SchemaObject>, required: string[]): RequestBodyObject => ({
  required: true, content: { 'application/x-www-form-urlencoded': { schema: { type: 'object', properties: fields, required } } },
});

const inPath = (name: string, description: string, more: SchemaObject = {}): ParameterObject => ({ name, in: 'path', required: true, description, schema: { type: 'string', ...more } });
const inQuery = (name: string, description: string, s: SchemaObject = { type: 'string' }): ParameterObject => ({ name, in: 'query', description, schema: s });

const NAME = { pattern: '^[a-z0-9]+([._-][a-z0-9]+)*$', maxLength: 64 };
const owner = inPath('owner', "the repo's owner (a user name)", NAME);
const repo = inPath('repo', 'the repo name', NAME);
const buildId = inPath('id', 'the build id', { pattern: '^[0-9]+$' });
const repoParams = [owner, repo];

/** The credentials of the API and git: a token as bearer, or basic auth with the token's user name and the token. */
const TOKEN: SecurityRequirement[] = [{ bearer: [] }, { basic: [] }];
const BASIC: SecurityRequirement[] = [{ basic: [] }];
const PUBLIC: SecurityRequirement[] = [];
/** A page: the web sign-in cookie, or (GET and HEAD) a token as on the API. */
const PAGE: SecurityRequirement[] = [{ session: [] }, ...TOKEN];
/** A form posted from a page: the sign-in cookie and the page's CSRF token, nothing else. */
const FORM: SecurityRequirement[] = [{ session: [] }];

type ErrorName = 'BadRequest' | 'Unauthorized' | 'Forbidden' | 'NotFound' | 'Conflict' | 'Gone' | 'PayloadTooLarge' | 'TooManyRequests' | 'BadGateway';
const ERROR_STATUS: Record<ErrorName, [number, string]> = {
  BadRequest: [400, 'a parameter or the body is malformed; the message names which'],
  Unauthorized: [401, 'no token, or a wrong, revoked or removed one (with a WWW-Authenticate: Basic challenge)'],
  Forbidden: [403, 'the token lacks the scope this needs, or the caller the role on the repo; the message says which'],
  NotFound: [404, 'no such thing, or one the caller may not see (the same answer for both)'],
  Conflict: [409, "the request conflicts with the resource's state, or an ambiguous prefix (details list the candidates)"],
  Gone: [410, 'removed on purpose (e.g. a log past its retention); the message says when'],
  PayloadTooLarge: [413, 'the body is larger than this route takes'],
  TooManyRequests: [429, 'this address failed to sign in too often this minute (Retry-After says how long to wait)'],
  BadGateway: [502, 'a service behind this one (the registry, a forge) refused or did not answer; the message says which and why'],
};

/** The errors every API route may answer (sign-in and its rate limit), plus `more`. */
const apiErrors = (...more: ErrorName[]): Record<string, Reference> =>
  Object.fromEntries((['Unauthorized', 'TooManyRequests', ...more] as ErrorName[]).map((e) => [String(ERROR_STATUS[e][0]), error(e)]));

/** A page: HTML, a redirect to sign in, and errors as pages with the same status. */
const pageResponses = (what: string): Record<string, ResponseObject> => ({
  200: text(what, 'text/html; charset=utf-8'),
  303: { description: 'not signed in: to /login?next=<this page>' },
  default: text('an error, as a page saying what went wrong (400, 403, 404, 409, 413, 429)', 'text/html; charset=utf-8'),
});

const op = (o: Omit<OperationObject, 'tags'>, tag: Tag): OperationObject => ({ ...o, tags: [tag] });

// ---- schemas

const BUILD = object({
  id: int('the build id'),
  source: str('push: a pushed commit; upload: a workspace folder sent by `codehub-build build` (no ref or commit)', { enum: ['push', 'upload'] }),
  repo: str('owner/name: the git repo of a push, the image repository of an upload'),
  ref: nullable('string', 'the full ref pushed, e.g. refs/heads/main; null for an upload'),
  ref_type: nullable('string', 'branch or tag; null for an upload'),
  ref_name: nullable('string', 'the branch or tag name; null for an upload'),
  commit: { type: ['string', 'null'], pattern: '^[0-9a-f]{40}$', description: 'the full commit sha; null for an upload' },
  upload: { type: ['object', 'null'], properties: { folder: str("the uploaded folder's name"), bytes: int("the context's bytes, after .dockerignore") }, description: 'an upload: its folder and size; null for a push' },
  image: str('the image name under the owner'),
  image_refs: arrayOf({ type: 'string' }, 'every reference the build pushes, registry/owner/image:tag'),
  digest: nullable('string', 'the pushed manifest digest, once pushed'),
  status: str('the build status', { enum: BUILD_STATUSES }),
  reason: nullable('string', 'why it failed, was canceled or skipped'),
  reason_code: nullable('string', 'a stable code for the reason'),
  pusher: str('who pushed (or rebuilt)'),
  queued_at: str('ISO 8601'),
  started_at: nullable('string', 'ISO 8601'),
  finished_at: nullable('string', 'ISO 8601'),
  attempts: int('runs so far (infrastructure errors are retried)'),
  builder: nullable('string', 'the builder that ran it'),
  config: { type: ['object', 'null'], description: 'the resolved codehub-build.yaml entry for this image (secret-looking build args masked)' },
  steps: { type: ['array', 'null'], items: schema('BuildStep'), description: "BuildKit's steps, as the build reported them" },
  log_expired_at: nullable('string', 'when log retention removed the log; null while it is kept'),
  log_url: str('the API URL of its log'),
  web_url: str('its web page'),
  forge_status: {
    type: ['object', 'null'], description: 'for a repo linked to a forge: the commit status this build owes it, and how delivering it went; null otherwise',
    properties: {
      context: str('codehub-build/<image>'), state: str('the latest state to report', { enum: STATUS_STATES }), description: str('the text sent with it'),
      delivered: { type: 'boolean', description: 'the forge accepted `state`' }, delivered_state: { type: ['string', 'null'], enum: [...STATUS_STATES, null], description: 'the last state the forge accepted' },
      attempts: int('failed attempts at sending `state`'), error: nullable('string', 'why the last attempt failed'),
      next_attempt_at: nullable('string', 'ISO 8601: when it is tried again; null when nothing is owed'),
      gave_up: { type: 'boolean', description: 'not sent and not tried again: the forge refused it for good (the error names the fix) or stayed down a day' },
      updated_at: str('ISO 8601: when `state` was wanted'),
    },
    required: ['context', 'state', 'description', 'delivered', 'delivered_state', 'attempts', 'error', 'next_attempt_at', 'gave_up', 'updated_at'], additionalProperties: false,
  },
});

const TOKEN_INFO = object({
  id: int('the token id (what revokes it)'),
  label: str('what it is for'),
  scopes: arrayOf({ type: 'string', enum: SCOPES }),
  created_at: str('ISO 8601'),
  last_used_at: nullable('string', 'ISO 8601, to the minute'),
}, 'a token as it is listed: never the token or its hash');

const SCHEMAS: Record<string, SchemaObject> = {
  Upstream: object({
    repo: str('owner/name'), url: str('the upstream repository URL'), forge: str('the forge', { enum: FORGE_NAMES }),
    api_url: str('where statuses are sent: the link\'s api_url, or derived from url (github.com: api.github.com; GitHub Enterprise: /api/v3; Gitea: /api/v1; GitLab: /api/v4)'),
    hook_url: str("the URL to set as the forge's push webhook"), statuses: { type: 'boolean', description: 'results go back as commit statuses (a status_token is set)' },
    created_at: str('ISO 8601'), updated_at: str('ISO 8601'),
    last_delivery: {
      type: ['object', 'null'], description: 'the last push delivery acted on (a failure after the forge was answered 202 shows only here); null before the first',
      properties: { at: str('ISO 8601'), result: str('queued, deleted, ignored or failed'), error: nullable('string', 'why it failed') },
      required: ['at', 'result', 'error'], additionalProperties: false,
    },
  }, 'a link to a forge, without its secrets'),
  Error: object({
    error: {
      type: 'object', required: ['code', 'message'], additionalProperties: false,
      properties: {
        code: str('a stable machine code', { examples: ['bad_request', 'unauthorized', 'forbidden', 'not_found', 'conflict', 'ambiguous', 'payload_too_large'] }),
        message: str('a sentence for people, saying what was wrong and, where there is one, the fix'),
        details: { description: 'more, for some errors: e.g. `problems` (every problem with a body) or `candidates` (of an ambiguous prefix)' },
      },
    },
  }),
  Build: BUILD,
  BuildStep: {
    type: 'object', required: ['n', 'name', 'cached'],
    properties: { n: int('its number'), name: str('the step as BuildKit names it'), cached: { type: 'boolean' }, started: str('ISO 8601'), completed: str('ISO 8601'), error: str('why it failed') },
  },
  BuildList: object({ builds: arrayOf(schema('Build'), 'newest first'), next_cursor: nullable('string', 'pass as cursor for the next page; null on the last') }),
  Usage: object({
    owner: str('the namespace'),
    bytes: int('registry bytes the namespace holds'),
    quota: nullable('integer', 'bytes it may hold; null for none'),
    images: arrayOf(object({ image: str('the image name'), bytes: int('bytes'), tags: int('tags') })),
  }),
  Retention: object({
    repo: str('owner/name'),
    keep: int('builds per branch whose tags stay'),
    days: int('days tags stay'),
    override: object({ keep: nullable('integer', "null: the server's default"), days: nullable('integer', "null: the server's default") }),
    defaults: object({ keep: int("the server's"), days: int("the server's") }),
  }),
  Members: object({ repo: str('owner/name'), owner: str('the owner'), members: arrayOf(object({ user: str('user name'), role: str('role', { enum: ['read', 'write'] }), since: str('ISO 8601') })) }),
  TokenInfo: TOKEN_INFO,
};

const RESPONSES: Record<string, ResponseObject> = Object.fromEntries(Object.entries(ERROR_STATUS).map(([name, [status, description]]) => {
  const r = json(`${status}: ${description}`, schema('Error'));
  if (name === 'Unauthorized') r.headers = { 'WWW-Authenticate': { description: 'Basic realm="codehub-build", charset="UTF-8"', schema: { type: 'string' } } };
  if (name === 'TooManyRequests') r.headers = { 'Retry-After': { description: 'seconds until the minute is over', schema: { type: 'integer' } } };
  return [name, r];
}));

// ---- operations, by the module that mounts them

const GIT_AUTH = 'HTTP basic auth: user = a user name, password = that user\'s token. A push needs the push scope and the owner\'s role (or write on a shared repo); it creates the repo on its owner\'s first push.';
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
  post: op({
    operationId, summary, description: GIT_AUTH, security: BASIC, parameters: repoParams,
    requestBody: { required: true, content: { [`application/x-${service}-request`]: { schema: { type: 'string', format: 'binary' } } } },
    responses: { 200: text(result, `application/x-${service}-result`), ...gitErrors },
  }, 'git'),
});

const git: Record<string, PathItemObject> = {
  [gitPath('info/refs')]: {
    get: op({
      operationId: 'gitInfoRefs', summary: 'git smart HTTP: ref advertisement (clone, fetch, push start here)', description: GIT_AUTH, security: BASIC,
      parameters: [...repoParams, { ...inQuery('service', 'the git service', { type: 'string', enum: ['git-upload-pack', 'git-receive-pack'] }), required: true }],
      responses: {
        200: { description: 'the advertisement of the service asked', content: { 'application/x-git-upload-pack-advertisement': { schema: { type: 'string' } }, 'application/x-git-receive-pack-advertisement': { schema: { type: 'string' } } } },
        400: text('not a smart HTTP request'), ...gitErrors,
      },
    }, 'git'),
  },
  [gitPath('git-upload-pack')]: gitService('git-upload-pack', 'gitUploadPack', 'git smart HTTP: clone and fetch', 'the pack'),
  [gitPath('git-receive-pack')]: gitService('git-receive-pack', 'gitReceivePack', 'git smart HTTP: push (queues builds; the hook output reaches the pusher as `remote:` lines)', 'the push result, with the builds queued'),
};

const hooks: Record<string, PathItemObject> = {
  '/hooks/post-receive': {
    post: op({
      operationId: 'postReceive', summary: "the bare repos' post-receive hook reports a push",
      description: 'Called by the hook installed in every repo, not by people. No token: the body is signed with HMAC-SHA256 under the key in <data>/secrets/hook.key, and must be at most 5 minutes old (sentAt).',
      security: PUBLIC,
      parameters: [{ name: 'X-Codehub-Signature-256', in: 'header', required: true, description: 'sha256=<hex HMAC-SHA256 of the raw body>', schema: { type: 'string', pattern: '^sha256=[0-9a-f]{64}$' } }],
      requestBody: jsonBody({
        type: 'object', required: ['repo', 'pusher', 'updates', 'sentAt'],
        properties: {
          repo: str('owner/name'), pusher: str('user name'), sentAt: str('ISO 8601'), options: arrayOf({ type: 'string' }, 'git push -o options (wait, skip)'),
          updates: arrayOf(object({ old: str('old sha'), new: str('new sha'), ref: str('the ref') })),
        },
      }),
      responses: {
        200: text('lines for the pusher (with -o wait, the builds\' output follows until they end)'),
        400: error('BadRequest'), 401: error('Unauthorized'), 413: error('PayloadTooLarge'),
      },
    }, 'hooks'),
  },
};

const HOOK_ANSWER = {
  type: 'object', required: ['result'], description: 'what the delivery did, for the forge\'s delivery log',
  properties: {
    result: str('queued: fetched and built; deleted: a branch or tag deleted here too; pong: a ping; ignored: nothing to do (not a push, or a stale push); duplicate: a delivery id acted on before, or a push already built under another id (then repo, ref, commit and builds name what it made); accepted (202): verified, still fetching', { enum: ['queued', 'deleted', 'pong', 'ignored', 'duplicate', 'accepted'] }),
    message: str('for pong, ignored, duplicate and accepted'),
    repo: str('queued, deleted, duplicate: owner/name here'), ref: str('queued, deleted, duplicate: the full ref'), commit: str('queued, duplicate: the pushed commit'),
    builds: arrayOf(schema('Build'), 'queued, deleted: the builds recorded; duplicate: the builds the push made before'), lines: arrayOf({ type: 'string' }, 'what a pusher to this server would have been told'),
  },
} satisfies SchemaObject;
const forgeHook = (forge: string, operationId: string, signature: ParameterObject[], docs: string): PathItemObject => ({
  post: op({
    operationId, summary: `${forge}'s push webhook: builds the pushed commit of the linked repo`,
    description: `Set as the webhook of the forge's repository (push events; JSON or GitHub's form encoding), with the link's webhook_secret. The link is found by \`?repo=owner/name\` (the hook_url the link shows), else by the payload's repository URLs. ${docs} At most ${MAX_FORGE_HOOK_BYTES} bytes. Answers within about 3 s; a slower fetch goes on after a 202.`,
    security: PUBLIC,
    parameters: [inQuery('repo', 'owner/name: the linked repo (its secret checks the delivery; the payload must name its upstream)'), ...signature],
    requestBody: { required: true, description: "the forge's push (or ping) payload, as the forge sends it", content: { 'application/json': { schema: { type: 'object' } }, 'application/x-www-form-urlencoded': { schema: { type: 'object', properties: { payload: str('the JSON payload') } } } } },
    responses: {
      200: json('done, or nothing to do', HOOK_ANSWER), 202: json('verified and recorded; the fetch goes on', HOOK_ANSWER),
      400: error('BadRequest'), 401: { ...error('Unauthorized'), description: 'no link verifies the delivery: one answer whether the repo is missing, not linked, linked to another forge, or the signature is wrong' }, 413: error('PayloadTooLarge'), 502: error('BadGateway'),
    },
  }, 'hooks'),
});
const header = (name: string, description: string): ParameterObject => ({ name, in: 'header', description, schema: { type: 'string' } });
hooks['/hooks/github'] = forgeHook('GitHub', 'githubHook', [
  header('X-GitHub-Event', 'push, ping (others are ignored)'), header('X-GitHub-Delivery', 'the delivery id (a replay is ignored)'), header('X-Hub-Signature-256', 'sha256=<hex HMAC-SHA256 of the body under the webhook secret>'),
], 'A deleted branch or tag arrives as a push with `deleted`.');
hooks['/hooks/gitea'] = forgeHook('Gitea/Forgejo', 'giteaHook', [
  header('X-Gitea-Event', 'push, delete (others are ignored); X-Forgejo-Event also'), header('X-Gitea-Delivery', 'the delivery id; X-Forgejo-Delivery also'), header('X-Gitea-Signature', '<hex HMAC-SHA256 of the body>; X-Forgejo-Signature also'),
], 'Both the push and the delete events are read.');
hooks['/hooks/gitlab'] = forgeHook('GitLab', 'gitlabHook', [
  header('X-Gitlab-Event', 'Push Hook, Tag Push Hook (others are ignored)'), header('X-Gitlab-Event-UUID', 'the delivery id (Idempotency-Key also)'), header('X-Gitlab-Token', 'the webhook secret itself (GitLab\'s scheme), compared in constant time'),
], 'GitLab sends the secret itself rather than a signature: use HTTPS.');

const builds: Record<string, PathItemObject> = {
  '/api/builds': {
    get: op({
      operationId: 'listBuilds', summary: 'builds the caller may read, newest first', security: TOKEN,
      parameters: [
        inQuery('repo', 'owner/name'),
        inQuery('commit', 'a sha or a prefix of 4 to 40 hex digits', { type: 'string', pattern: '^[0-9a-fA-F]{4,40}$' }),
        inQuery('ref', 'a branch or tag name, or a full ref'),
        inQuery('status', 'one status', { type: 'string', enum: BUILD_STATUSES }),
        inQuery('source', 'only builds of pushes, or of uploads', { type: 'string', enum: ['push', 'upload'] }),
        inQuery('limit', 'page size', { type: 'integer', minimum: 1, maximum: 200, default: 50 }),
        inQuery('cursor', 'next_cursor of the previous page'),
      ],
      responses: { 200: json('a page of builds', schema('BuildList')), ...apiErrors('BadRequest', 'Forbidden') },
    }, 'builds'),
  },
  '/api/builds/{id}': {
    get: op({
      operationId: 'getBuild', summary: 'a build, with its BuildKit steps', security: TOKEN, parameters: [buildId],
      responses: { 200: json('the build', schema('Build')), ...apiErrors('BadRequest', 'Forbidden', 'NotFound') },
    }, 'builds'),
  },
  '/api/builds/{id}/log': {
    get: op({
      operationId: 'getBuildLog', summary: "a build's log: text, followed live, or Server-Sent Events",
      description: 'Text by default (`X-Build-Status` says the status). With `Accept: text/event-stream`: one event per line with its number as `id` (resume with `Last-Event-ID`), keep-alive comments every 15 s, and a final `end` event whose data is `{"status","reason","digest"}`.',
      security: TOKEN,
      parameters: [
        buildId,
        inQuery('timestamps', '1: prefix each line with its time', { type: 'string', enum: ['1', 'true'] }),
        inQuery('follow', '1: stream until the build ends', { type: 'string', enum: ['1', 'true'] }),
        inQuery('last_event_id', 'SSE: the line to resume after (as Last-Event-ID)', { type: 'integer', minimum: 0 }),
        { name: 'Last-Event-ID', in: 'header', description: 'SSE: the line to resume after', schema: { type: 'integer', minimum: 0 } },
      ],
      responses: {
        200: { description: 'the log', content: { 'text/plain; charset=utf-8': { schema: { type: 'string' } }, 'text/event-stream': { schema: { type: 'string' } } } },
        ...apiErrors('BadRequest', 'Forbidden', 'NotFound', 'Gone'),
      },
    }, 'builds'),
  },
  '/api/builds/{id}/cancel': {
    post: op({
      operationId: 'cancelBuild', summary: 'cancel a queued or running build (stops the BuildKit solve)', description: 'Needs the push scope and write access to the repo.', security: TOKEN, parameters: [buildId],
      responses: { 200: json('the build, canceled', schema('Build')), ...apiErrors('BadRequest', 'Forbidden', 'NotFound', 'Conflict') },
    }, 'builds'),
  },
  '/api/builds/{id}/rebuild': {
    post: op({
      operationId: 'rebuildBuild', summary: 'build the same commit and resolved config again, as a new build', description: 'Needs the push scope and write access to the repo.', security: TOKEN, parameters: [buildId],
      responses: { 201: json('the new build', schema('Build')), ...apiErrors('BadRequest', 'Forbidden', 'NotFound', 'Conflict') },
    }, 'builds'),
  },
  '/api/repos/{owner}/{repo}/commits/{sha}/builds': {
    get: op({
      operationId: 'commitBuilds', summary: "a commit's builds, by sha or prefix", security: TOKEN,
      parameters: [...repoParams, inPath('sha', 'a sha or a prefix of 4 to 40 hex digits', { pattern: '^[0-9a-fA-F]{4,40}$' })],
      responses: {
        200: json("the commit and its builds", object({ repo: str('owner/name'), commit: str('the full sha'), builds: arrayOf(schema('Build')) })),
        ...apiErrors('BadRequest', 'Forbidden', 'NotFound', 'Conflict'),
      },
    }, 'builds'),
  },
};

/** An operation of the repo's owner (or an admin) with the push scope: their errors, and 413 where it takes a body. */
const uploadId = inPath('id', 'the upload id (from POST /api/uploads)', { pattern: '^[0-9a-f]{32}$' });
const MANIFEST_ENTRY = object({
  path: str('relative to the folder, `/`-separated'),
  mode: int("Go's os.FileMode: permission bits plus 0x80000000 (folder) or 0x08000000 (symlink), setuid/setgid/sticky"),
  size: int('bytes of a regular file; 0 otherwise'),
  sha256: str("a regular file's content hash", { pattern: '^[0-9a-f]{64}$' }),
  linkname: str("a symlink's target"),
});
const uploads: Record<string, PathItemObject> = {
  '/api/uploads': {
    post: op({
      operationId: 'startUpload', summary: "send a workspace folder's manifest (`codehub-build build`); answers which files to upload",
      description: `The push scope. Every entry of the context after .dockerignore, in fsutil's order, every folder listed. The context's bytes are checked against CODEHUB_MAX_UPLOAD_BYTES before any file moves (413 naming both). At most ${MAX_UPLOAD_ENTRIES} entries. Unused, it expires after a day.`,
      security: TOKEN,
      requestBody: jsonBody(object({
        folder: str("the folder's name (its last path component): the image name's default"), entries: arrayOf(MANIFEST_ENTRY),
        tag: str('optional: the -t the build will ask for, checked now (400, or 403 for another namespace) so nothing is uploaded in vain'),
      })),
      responses: {
        201: json('the upload', object({
          id: str('the upload id'), folder: str('the folder'), files: int('regular files'), bytes: int("the context's bytes"),
          missing: arrayOf(str('sha256'), 'the files to PUT: the server has the others from earlier uploads'), missing_bytes: int('their bytes'), expires_at: str('ISO 8601'),
        })),
        ...apiErrors('BadRequest', 'Forbidden', 'PayloadTooLarge'),
      },
    }, 'builds'),
  },
  '/api/uploads/{id}/blobs/{sha256}': {
    put: op({
      operationId: 'uploadBlob', summary: 'upload one file of the upload, by its sha256',
      description: "The raw bytes, streamed. Checked against the manifest's size and hash as it is written: a wrong or cut-short body stores nothing.",
      security: TOKEN, parameters: [uploadId, inPath('sha256', "the file's sha256", { pattern: '^[0-9a-f]{64}$' })],
      requestBody: { required: true, content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } },
      responses: {
        201: json('stored', object({ sha256: str('sha256'), size: int('bytes') })),
        200: json('the server had it already', object({ sha256: str('sha256'), size: int('bytes') })),
        ...apiErrors('BadRequest', 'Forbidden', 'NotFound', 'PayloadTooLarge'),
      },
    }, 'builds'),
  },
  '/api/uploads/{id}/build': {
    post: op({
      operationId: 'buildUpload', summary: "build the uploaded folder as the caller: docker build's flags",
      description: "Pushes <registry>/<caller>/<NAME>:<TAG> (NAME defaults to the folder's name, TAG to dev); a tag in another namespace is 403. Secrets reach BuildKit only, are masked in the log and never stored. Queued like a push's build (queue limit, quota, fairness, timeouts, cancel). 409 with details.missing while files are missing.",
      security: TOKEN, parameters: [uploadId],
      requestBody: jsonBody({
        type: 'object', additionalProperties: false,
        properties: {
          tag: str('-t: NAME[:TAG], optionally <caller>/ or <registry>/<caller>/ before it'), dockerfile: str("-f: the Dockerfile's path in the folder (default Dockerfile)"),
          target: str('--target'), build_args: { type: 'object', additionalProperties: { type: 'string' }, description: '--build-arg' },
          secrets: { type: 'object', additionalProperties: { type: 'string' }, description: '--secret: id -> value' }, no_cache: { type: 'boolean' },
          platforms: arrayOf({ type: 'string' }, '--platform'),
        },
      }),
      responses: { 201: json('the build', schema('Build')), ...apiErrors('BadRequest', 'Forbidden', 'NotFound', 'Conflict', 'PayloadTooLarge') },
    }, 'builds'),
  },
};

const ownerOp = (o: Pick<OperationObject, 'operationId' | 'summary' | 'parameters' | 'requestBody'> & { ok: Record<string, ResponseObject> }): OperationObject => op({
  operationId: o.operationId, summary: o.summary, description: "The repo's owner only (or an admin), with the push scope.", security: TOKEN,
  parameters: o.parameters ?? repoParams, ...(o.requestBody ? { requestBody: o.requestBody } : {}),
  responses: { ...o.ok, ...apiErrors('BadRequest', 'Forbidden', 'NotFound', ...(o.requestBody ? ['PayloadTooLarge' as const] : [])) },
}, 'repos');
const removed = (description: string, fields: Record<string, SchemaObject>) => json(description, object({ repo: str('owner/name'), ...fields, removed: { type: 'boolean', enum: [true] } }));

const secretName = inPath('name', 'the secret name', { pattern: '^[A-Za-z_][A-Za-z0-9_]{0,63}$' });
const member = inPath('user', 'the user it is shared with', NAME);
const ROLE = str('the role', { enum: ['read', 'write'] });
const repos: Record<string, PathItemObject> = {
  '/api/repos/{owner}/{repo}/secrets': {
    get: ownerOp({
      operationId: 'listSecrets', summary: "a repo's secrets: names and times, never values",
      ok: { 200: json('the secrets', object({ repo: str('owner/name'), secrets: arrayOf(object({ name: str('name'), created_at: str('ISO 8601'), updated_at: str('ISO 8601') })) })) },
    }),
  },
  '/api/repos/{owner}/{repo}/secrets/{name}': {
    put: ownerOp({
      operationId: 'setSecret', summary: 'set a secret (builds get it as a BuildKit secret, never logged)', parameters: [...repoParams, secretName],
      requestBody: { required: true, description: `the raw value, at most ${MAX_SECRET_BYTES} bytes`, content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } },
      ok: { 200: json('set', object({ repo: str('owner/name'), name: str('name'), set: { type: 'boolean', enum: [true] } })) },
    }),
    delete: ownerOp({ operationId: 'removeSecret', summary: 'remove a secret', parameters: [...repoParams, secretName], ok: { 200: removed('removed', { name: str('name') }) } }),
  },
  '/api/repos/{owner}/{repo}/upstream': {
    get: ownerOp({ operationId: 'getUpstream', summary: "the repo's link to a forge (never its secrets)", ok: { 200: json('the link', schema('Upstream')) } }),
    put: ownerOp({
      operationId: 'setUpstream', summary: 'link the repo to its repository on a forge: that forge\'s push webhook builds it here, results go back as commit statuses',
      requestBody: jsonBody({
        type: 'object', required: ['url', 'forge', 'webhook_secret'], additionalProperties: false,
        properties: {
          url: str('the upstream repository, http(s) only, without credentials: https://host/owner/repo(.git)'),
          forge: str('which forge serves it (Forgejo is gitea)', { enum: FORGE_NAMES }),
          webhook_secret: str('the secret set on the forge\'s webhook; stored encrypted, never returned'),
          status_token: str('a token that may set commit statuses (and read a private upstream); stored encrypted, never returned. Without it no statuses are sent'),
          api_url: str('the forge\'s API base when it is not where the URL says (e.g. https://git.example/api/v1)'),
        },
      }),
      ok: { 200: json('the link, replaced', schema('Upstream')), 201: json('the link, new (the repo made if missing)', schema('Upstream')) },
    }),
    delete: ownerOp({ operationId: 'removeUpstream', summary: 'unlink the repo (statuses still owed are not sent)', ok: { 200: removed('removed', {}) } }),
  },
  '/api/repos/{owner}/{repo}/badge': {
    put: ownerOp({
      operationId: 'setBadge', summary: "make the repo's badges public (readable without a token) or private", requestBody: jsonBody(object({ public: { type: 'boolean' } })),
      ok: { 200: json('the badge setting', object({ repo: str('owner/name'), public_badge: { type: 'boolean' }, badge_url: str("the default branch's badge") })) },
    }),
  },
  '/api/repos/{owner}/{repo}/retention': {
    get: ownerOp({ operationId: 'getRetention', summary: "the repo's image retention, with the server's defaults", ok: { 200: json('the retention', schema('Retention')) } }),
    put: ownerOp({
      operationId: 'setRetention', summary: "override the repo's retention (null: the server's default)",
      requestBody: jsonBody({
        type: 'object', additionalProperties: false, description: 'either may be left out',
        properties: { keep: { type: ['integer', 'null'], minimum: 0, maximum: RETENTION_MAX_KEEP }, days: { type: ['integer', 'null'], minimum: 0, maximum: RETENTION_MAX_DAYS } },
      }),
      ok: { 200: json('the retention now', schema('Retention')) },
    }),
  },
  '/api/repos/{owner}/{repo}/members': {
    get: ownerOp({ operationId: 'listMembers', summary: 'who the repo is shared with', ok: { 200: json('the members', schema('Members')) } }),
  },
  '/api/repos/{owner}/{repo}/members/{user}': {
    put: ownerOp({
      operationId: 'shareRepo', summary: 'share the repo with a user: read (clone, builds, logs) or write (also push, cancel, rebuild)',
      parameters: [...repoParams, member], requestBody: jsonBody(object({ role: ROLE })),
      ok: { 200: json('shared', object({ repo: str('owner/name'), user: str('user'), role: ROLE })) },
    }),
    delete: ownerOp({ operationId: 'unshareRepo', summary: 'stop sharing the repo with a user', parameters: [...repoParams, member], ok: { 200: removed('unshared', { user: str('user') }) } }),
  },
};

const registry: Record<string, PathItemObject> = {
  '/api/usage': {
    get: op({
      operationId: 'myUsage', summary: "the caller's registry usage and quota", security: TOKEN,
      responses: { 200: json('usage', schema('Usage')), ...apiErrors() },
    }, 'registry'),
  },
  '/api/users/{name}/usage': {
    get: op({
      operationId: 'userUsage', summary: "a user's registry usage and quota (that user or an admin)", security: TOKEN, parameters: [inPath('name', 'the user (namespace)', NAME)],
      responses: { 200: json('usage', schema('Usage')), ...apiErrors('BadRequest', 'NotFound') },
    }, 'registry'),
  },
  '/api/images/{owner}/{image}/tags/{tag}': {
    delete: op({
      operationId: 'removeTag', summary: 'remove exactly one tag, and its manifest when no other tag or kept index needs it', description: 'The owner or an admin, with the push scope; 409 while a build of that image pushes.', security: TOKEN,
      parameters: [owner, inPath('image', 'the image name', NAME), inPath('tag', 'the tag', { pattern: '^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$' })],
      responses: {
        200: json('what was removed', object({
          repository: str('owner/image'), tag: str('the tag'), bytes: int('bytes freed in all'),
          removed: arrayOf(object({ tag: nullable('string', 'the tag (null for an untagged manifest)'), digest: str('digest'), how: str('delete: the manifest went, with every tag on it; tombstone: only this tag, the manifest stays for others', { enum: ['delete', 'tombstone'] }), bytes: int('bytes') })),
        })),
        ...apiErrors('BadRequest', 'Forbidden', 'NotFound', 'Conflict', 'BadGateway'),
      },
    }, 'registry'),
  },
  '/registry/token': {
    get: op({
      operationId: 'registryToken', summary: "the registry's token realm (the distribution token spec)",
      description: 'docker asks here when the registry challenges it. Basic auth with a user and token (or a build\'s own credential), or none for anonymous pulls of system/* and cache/*. The token grants what the caller may have of the scopes asked, possibly nothing.',
      security: [{}, ...BASIC],
      parameters: [
        { ...inQuery('service', "the registry's service name (CODEHUB_REGISTRY_SERVICE)"), required: true },
        { ...inQuery('scope', 'repository:<owner>/<image>:pull,push (repeatable, at most 50)', arrayOf({ type: 'string' })), explode: true },
        inQuery('account', 'the user name docker sends (the credentials decide, not this)'),
      ],
      responses: {
        200: json('a JWT signed RS256, its certificate in x5c', object({ token: str('the JWT'), access_token: str('the same JWT'), expires_in: int('seconds'), issued_at: str('ISO 8601') })),
        403: json('a push refused because the namespace is over its quota', object({ errors: arrayOf(object({ code: str('DENIED'), message: str('why') })) })),
        ...apiErrors('BadRequest'),
      },
    }, 'registry'),
  },
};

const SCOPE_LIST = arrayOf({ type: 'string', enum: SCOPES });
const userName = inPath('name', 'the user name', NAME);
const ADMIN = 'Needs a token with the admin scope (403 naming it otherwise), checked before the body is read.';
const adminErrors = (...more: ErrorName[]) => apiErrors('Forbidden', ...more);
const account: Record<string, PathItemObject> = {
  '/api/user': {
    get: op({
      operationId: 'whoAmI', summary: "the caller: the token's user and scopes", description: 'Any valid token, whatever its scopes.', security: TOKEN,
      responses: { 200: json('the caller', object({ name: str('user name'), scopes: SCOPE_LIST })), ...apiErrors() },
    }, 'account'),
  },
  '/api/openapi.json': {
    get: op({
      operationId: 'openApi', summary: 'this document', description: 'Public: a client reads it to learn how to sign in before it has a token, and it says nothing about users or repos.', security: PUBLIC,
      responses: { 200: json('the OpenAPI 3.1 document of every route', { type: 'object' }) },
    }, 'account'),
  },
  '/api/users': {
    post: op({
      operationId: 'addUser', summary: 'add a user, with one read,push token (as `codehub-build user add`)',
      description: `${ADMIN} The name may not be taken or still own the repos of a removed user (409), nor be reserved (system, cache, codehub-build and codehub-build-*: 400). The token is shown only in this answer; the server keeps its SHA-256.`,
      security: TOKEN,
      requestBody: { ...jsonBody(object({ name: str('the new user name', NAME) })), description: `JSON, at most ${MAX_ADMIN_BODY} bytes; no other field` },
      responses: { 201: json('the user and their token', object({ name: str('user name'), token: str('the token (chb_...): git password and API bearer token') })), ...adminErrors('BadRequest', 'Conflict', 'PayloadTooLarge') },
    }, 'admin'),
  },
  '/api/users/{name}': {
    delete: op({
      operationId: 'removeUser', summary: 'remove a user with their tokens and shares (as `codehub-build user remove`)',
      description: `${ADMIN} Their repos, builds and secrets stay, and the name cannot be given to a new user while it owns them. The user holding the last admin token is not removed (409): make another admin first.`, security: TOKEN, parameters: [userName],
      responses: { 200: json('removed', object({ name: str('user name'), removed: { type: 'boolean', enum: [true] } })), ...adminErrors('BadRequest', 'NotFound', 'Conflict') },
    }, 'admin'),
  },
  '/api/users/{name}/tokens': {
    get: op({
      operationId: 'listTokens', summary: "a user's tokens (as `codehub-build token list`)", description: ADMIN, security: TOKEN, parameters: [userName],
      responses: { 200: json('the tokens: ids, labels, scopes, times; never a token or its hash', object({ user: str('user name'), tokens: arrayOf(schema('TokenInfo')) })), ...adminErrors('BadRequest', 'NotFound') },
    }, 'admin'),
    post: op({
      operationId: 'createToken', summary: 'make a token for a user (as `codehub-build token create`)', description: `${ADMIN} The token is shown only in this answer.`, security: TOKEN, parameters: [userName],
      requestBody: {
        ...jsonBody({
          type: 'object', additionalProperties: false,
          properties: {
            scopes: { ...SCOPE_LIST, minItems: 1, default: ['read', 'push'], description: 'read: clone, fetch, the read API; push: push, cancel, rebuild, secrets, sharing; admin: all of it on every repo, and this admin API' },
            label: str('what the token is for, shown in the list', { maxLength: MAX_LABEL_LENGTH, default: 'api', pattern: '^[^\\x00-\\x1f\\x7f]*$' }),
          },
        }, false),
        description: `JSON, at most ${MAX_ADMIN_BODY} bytes; both fields optional (an empty body takes both defaults); no other field`,
      },
      responses: {
        201: json('the token', object({ id: int('its id (what revokes it)'), token: str('the token (chb_...)'), label: str('its label'), scopes: SCOPE_LIST })),
        ...adminErrors('BadRequest', 'NotFound', 'PayloadTooLarge'),
      },
    }, 'admin'),
  },
  '/api/tokens/{id}': {
    delete: op({
      operationId: 'revokeToken', summary: 'revoke a token: it stops working at once (as `codehub-build token revoke`)', description: `${ADMIN} The last admin token is not revoked (409): make another admin first.`, security: TOKEN,
      parameters: [inPath('id', 'the token id, as the list shows', { pattern: '^[0-9]+$' })],
      responses: { 200: json('revoked', object({ id: int('the token id'), revoked: { type: 'boolean', enum: [true] } })), ...adminErrors('BadRequest', 'NotFound', 'Conflict') },
    }, 'admin'),
  },
};

const operations: Record<string, PathItemObject> = {
  '/healthz': {
    get: op({
      operationId: 'health', summary: 'the process, database, each builder and the registry', security: PUBLIC,
      responses: {
        200: json('all is well (status ok), or degraded with the data dir under CODEHUB_MIN_FREE', { type: 'object', description: '{"status": "ok"|"degraded", "checks": {process, database, registry, builders[], disk: {ok, status: ok|degraded|failing, free_bytes, total_bytes, min_free_bytes, detail}}}' }),
        503: json('failing: the database or registry is down, no builder is healthy, or the data dir is full', { type: 'object' }),
      },
    }, 'operations'),
  },
  '/metrics': {
    get: op({
      operationId: 'metrics', summary: 'Prometheus metrics: builds by status, queue depth and wait, build durations, builders, registry', security: PUBLIC,
      responses: { 200: text('Prometheus text format', 'text/plain; version=0.0.4; charset=utf-8') },
    }, 'operations'),
  },
};

const csrf = { csrf: str("the page's CSRF token") };
const formAction = (action: 'cancel' | 'rebuild'): OperationObject => op({
  operationId: `${action}BuildForm`, summary: `the build page's ${action} button`, description: 'A form from the build page: the sign-in cookie and its CSRF token; the same checks as the API.', security: FORM,
  parameters: [buildId], requestBody: formBody(csrf, ['csrf']),
  responses: { 303: { description: 'done: to the build page (of the new build, for a rebuild)' }, default: text('an error, as a page', 'text/html; charset=utf-8') },
}, 'web');

const web: Record<string, PathItemObject> = {
  '/': { get: op({ operationId: 'homePage', summary: 'the repos the caller can read, with their latest builds', security: PAGE, responses: pageResponses('the page') }, 'web') },
  '/login': {
    get: op({ operationId: 'signInPage', summary: 'the sign-in form (a token)', security: PUBLIC, parameters: [inQuery('next', 'a path on this site to go to after')], responses: { 200: text('the form', 'text/html; charset=utf-8'), 303: { description: 'signed in already: to next' } } }, 'web'),
    post: op({
      operationId: 'signIn', summary: 'sign in with a token (sets an HTTP-only cookie)', security: PUBLIC,
      requestBody: formBody({ token: str('a token'), next: str('a path on this site') }, ['token']),
      responses: {
        303: { description: 'signed in: to next' }, 401: text('the form again, saying the token is not valid', 'text/html; charset=utf-8'),
        403: text('posted from another site', 'text/html; charset=utf-8'), 413: text('more than 4 KiB', 'text/html; charset=utf-8'), 429: text('this address failed too often this minute', 'text/html; charset=utf-8'),
      },
    }, 'web'),
  },
  '/logout': {
    post: op({
      operationId: 'signOut', summary: 'sign out (clears the cookie)', security: [{}, ...FORM], requestBody: formBody(csrf, ['csrf']),
      responses: { 303: { description: 'to /login' }, 403: text('a stale form, or one from another site', 'text/html; charset=utf-8') },
    }, 'web'),
  },
  '/repos/{owner}/{repo}': {
    get: op({
      operationId: 'repoPage', summary: "a repo's builds, filtered, with its images", security: PAGE,
      parameters: [...repoParams, inQuery('branch', 'a branch or tag'), inQuery('status', 'a status', { type: 'string', enum: BUILD_STATUSES }), inQuery('commit', 'a sha prefix'), inQuery('before', 'a build id from the "Older builds" link')],
      responses: pageResponses('the page'),
    }, 'web'),
  },
  '/repos/{owner}/{repo}/commits/{sha}': {
    get: op({ operationId: 'commitPage', summary: "a commit's builds", security: PAGE, parameters: [...repoParams, inPath('sha', 'a sha or prefix', { pattern: '^[0-9a-fA-F]{4,40}$' })], responses: pageResponses('the page') }, 'web'),
  },
  '/builds/{id}': {
    get: op({ operationId: 'buildPage', summary: 'a build with its live log', security: PAGE, parameters: [buildId, inQuery('full', '1: the whole log, not its last 5,000 lines', { type: 'string', enum: ['1'] })], responses: pageResponses('the page') }, 'web'),
  },
  '/builds/{id}/cancel': { post: formAction('cancel') },
  '/builds/{id}/rebuild': { post: formAction('rebuild') },
  '/images/{owner}': {
    get: op({ operationId: 'imagesPage', summary: "an owner's images and tags, with usage (that owner or an admin)", security: PAGE, parameters: [owner], responses: pageResponses('the page') }, 'web'),
  },
  '/static/{name}': {
    get: op({
      operationId: 'staticFile', summary: "the pages' stylesheet and script", security: PUBLIC, parameters: [inPath('name', 'the file name')],
      responses: { 200: { description: 'the file (ETag; 5 minutes of caching)', content: { 'text/css; charset=utf-8': { schema: { type: 'string' } }, 'text/javascript; charset=utf-8': { schema: { type: 'string' } } } }, 304: { description: 'unchanged (If-None-Match)' }, 404: error('NotFound') },
    }, 'web'),
  },
  '/badge/{owner}/{repo}/{branch}.svg': {
    get: op({
      operationId: 'badge', summary: "the status of a branch's latest builds, as an SVG badge",
      description: 'Anyone, once the owner made the badges public (PUT /api/repos/{owner}/{repo}/badge); else a caller who can read the repo. The branch may contain `/`.',
      security: [{}, ...PAGE], parameters: [...repoParams, inPath('branch', 'the branch')],
      responses: { 200: text('the badge', 'image/svg+xml; charset=utf-8'), 400: error('BadRequest'), 404: error('NotFound') },
    }, 'web'),
  },
};

const download = (name: string, what: string, type: string, operationId: string): PathItemObject => ({
  get: op({
    operationId, summary: what, description: 'Public: a workspace fetches it with curl before anything is set up; it holds no secret.', security: PUBLIC,
    responses: {
      200: { description: `${name} (ETag of size and time; no-cache)`, content: { [type]: { schema: { type: 'string', format: 'binary' } } } },
      304: { description: 'unchanged (If-None-Match)' },
      404: error('NotFound'),
    },
  }, 'downloads'),
});

const downloads: Record<string, PathItemObject> = {
  '/downloads/codehub-build': download('codehub-build', 'the client CLI: one file that runs with node 20 or later', 'text/javascript; charset=utf-8', 'downloadCli'),
  '/downloads/codehub-build.vsix': download('codehub-build.vsix', 'the code-server extension, packed', 'application/vsix', 'downloadExtension'),
};

/** The document, with `publicUrl` as its server. */
export function openApiDocument(publicUrl: string): OpenApiDocument {
  return {
    openapi: '3.1.0',
    info: {
      title: 'codehub-build',
      version: '1',
      description: 'git push to a container image. Errors are JSON `{"error": {"code", "message", "details"?}}` on the API, text on git and pages on the web.',
    },
    servers: [{ url: publicUrl }],
    tags: [
      { name: 'git', description: 'git smart HTTP' },
      { name: 'hooks', description: "the repos' hook reporting pushes, and the forges' push webhooks" },
      { name: 'builds', description: 'builds and their logs' },
      { name: 'repos', description: "a repo's secrets, upstream link, badge, retention and sharing (its owner's)" },
      { name: 'registry', description: 'registry usage, tags and token realm' },
      { name: 'account', description: 'the caller, and this document' },
      { name: 'admin', description: 'users and tokens (admin scope)' },
      { name: 'operations', description: 'health and metrics' },
      { name: 'web', description: 'pages for people, and badges' },
      { name: 'downloads', description: 'what workspaces download' },
    ],
    paths: { ...git, ...hooks, ...builds, ...uploads, ...repos, ...registry, ...account, ...operations, ...web, ...downloads },
    components: {
      schemas: SCHEMAS,
      responses: RESPONSES,
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'Authorization: Bearer <token> (a token from POST /api/users, POST /api/users/{name}/tokens or the CLI)' },
        basic: { type: 'http', scheme: 'basic', description: 'user = the token\'s user name, password = the token (what git and docker send)' },
        session: { type: 'apiKey', in: 'cookie', name: 'codehub_token', description: 'the web sign-in cookie; taken on GET and HEAD only, and on forms with their CSRF token' },
      },
    },
  };
}
