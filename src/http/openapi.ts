import { z } from 'zod';
import { HookAnswer } from '../api/answers.js';
import * as A from '../api/answers.js';
import { ERRORS, OPERATIONS, type ErrorName, type Operation } from '../api/operations.js';
import { BUILD_STATUSES } from '../store/schema.js';
import { MAX_FORGE_HOOK_BYTES } from './forges.js';
import { MAX_ADMIN_BODY } from './admin.js';

/**
 * The OpenAPI 3.1 document of every route the server mounts (GET /api/openapi.json). The API's operations are
 * generated from their table and zod schemas (src/api/operations.ts); git, the hooks, health, the registry's
 * token realm, the web pages and the downloads, whose bodies are git's, HTML or files, are written here. The
 * document is held to the mounted routes by test/unit/openapi.test.ts: a route without an operation, or an
 * operation without a route, fails it. The types below are the part of OpenAPI this document uses.
 */

/** A JSON Schema (2020-12, as OpenAPI 3.1 takes it): the keywords written here by hand; zod writes the rest. */
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
  [keyword: string]: unknown;
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



/** The errors every API route may answer (sign-in and its rate limit), plus `more`. */
const apiErrors = (...more: ErrorName[]): Record<string, Reference> =>
  Object.fromEntries((['Unauthorized', 'TooManyRequests', ...more] as ErrorName[]).map((e) => [String(ERRORS[e].status), error(e)]));

/** A page: HTML, a redirect to sign in, and errors as pages with the same status. */
const pageResponses = (what: string): Record<string, ResponseObject> => ({
  200: text(what, 'text/html; charset=utf-8'),
  303: { description: 'not signed in: to /login?next=<this page>' },
  default: text('an error, as a page saying what went wrong (400, 403, 404, 409, 413, 429)', 'text/html; charset=utf-8'),
});

const op = (o: Omit<OperationObject, 'tags'>, tag: Tag): OperationObject => ({ ...o, tags: [tag] });

// ---- the API's schemas, from zod

/** The answers' shapes the document names as components (referred to wherever they appear). */
const COMPONENTS: Record<string, z.ZodType> = {
  Error: A.ErrorAnswer, Build: A.Build, BuildStep: A.BuildStep, BuildList: A.BuildList, Upstream: A.Upstream, Usage: A.Usage,
  Retention: A.Retention, Members: A.Members, TokenInfo: A.TokenInfo,
};
const SAFE_INT = Number.MAX_SAFE_INTEGER;

/** zod's JSON Schema, less what OpenAPI does not want inside a document and z.int()'s bounds of a safe integer. */
function clean(s: Record<string, unknown>): SchemaObject {
  const { $schema: _schema, $id: _id, ...rest } = s;
  return rest as SchemaObject;
}
const override = (ctx: { jsonSchema: Record<string, unknown> }) => {
  if (ctx.jsonSchema.minimum === -SAFE_INT) delete ctx.jsonSchema.minimum;
  if (ctx.jsonSchema.maximum === SAFE_INT) delete ctx.jsonSchema.maximum;
};

/**
 * Every answer schema of the table, the components among them named, converted together so that a component
 * inside another answer (a Build in a list) is a $ref rather than a copy.
 */
const answers = (() => {
  const registry = z.registry<{ id: string }>();
  for (const [id, s] of Object.entries(COMPONENTS)) registry.add(s, { id });
  const anonymous = new Map<z.ZodType, string>();
  const add = (s: z.ZodType) => {
    if (registry.has(s) || anonymous.has(s)) return;
    const id = `answer${anonymous.size}`;
    anonymous.set(s, id);
    registry.add(s, { id });
  };
  for (const o of OPERATIONS) for (const a of Object.values(o.answers)) if ('json' in a) add(a.json);
  add(HookAnswer);
  const { schemas } = z.toJSONSchema(registry, { io: 'output', uri: (id) => `#/components/schemas/${id}`, override });
  const named = Object.fromEntries(Object.keys(COMPONENTS).map((id) => [id, clean(schemas[id]!)]));
  return { named, of: (s: z.ZodType): SchemaObject => (registry.get(s)?.id && named[registry.get(s)!.id] ? schema(registry.get(s)!.id) : clean(schemas[anonymous.get(s)!]!)) };
})();
function answerSchema(s: z.ZodType): SchemaObject {
  return answers.of(s);
}

/** A request's schema (a body, a parameter): as the sender writes it, with defaults, before any transform. */
function requestSchema(s: z.ZodType): SchemaObject {
  return clean(z.toJSONSchema(s, { io: 'input', unrepresentable: 'any', override }) as Record<string, unknown>);
}

/** Parameters from an object's fields: their descriptions lifted out of their schemas, as OpenAPI has them. */
function parameters(where: 'path' | 'query' | 'header', fields: Record<string, z.ZodType>, required?: string[]): ParameterObject[] {
  return Object.entries(fields).map(([name, field]) => {
    const { description, ...schema } = requestSchema(field);
    return {
      name, in: where, ...(where === 'path' || required?.includes(name) ? { required: true } : {}),
      description: (description as string | undefined) ?? name, schema,
    };
  });
}

/** Limits the routes set on a body (src/http), told in the body's description. */
const BODY_LIMITS: Partial<Record<string, number>> = { addUser: MAX_ADMIN_BODY, createToken: MAX_ADMIN_BODY };

function operation(o: Operation): OperationObject {
  const query = o.query ? parameters('query', o.query.shape, (requestSchema(o.query).required as string[] | undefined) ?? []) : [];
  const params = [...parameters('path', o.params ?? {}), ...query, ...parameters('header', o.headers ?? {})];
  const limit = BODY_LIMITS[o.operationId];
  const bodyText = o.body?.description && limit !== undefined ? o.body.description.replace(/^JSON/, `JSON, at most ${limit} bytes`) : o.body?.description;
  const requestBody: RequestBodyObject | undefined = !o.body ? undefined : {
    required: o.body.required ?? true, ...(bodyText ? { description: bodyText } : {}),
    content: 'schema' in o.body ? { 'application/json': { schema: requestSchema(o.body.schema) } } : { [o.body.binary]: { schema: { type: 'string', format: 'binary' } } },
  };
  const responses: Record<string, ResponseObject | Reference> = {};
  for (const [status, a] of Object.entries(o.answers)) {
    responses[status] = 'json' in a ? json(a.description, answerSchema(a.json))
      : { description: a.description, content: Object.fromEntries(Object.entries(a.content).map(([type, kind]) => [type, { schema: kind === 'binary' ? { type: 'string', format: 'binary' } : { type: 'string' } }])) };
  }
  Object.assign(responses, o.public ? Object.fromEntries(o.errors.map((e) => [String(ERRORS[e].status), error(e)])) : apiErrors(...o.errors));
  return op({
    operationId: o.operationId, summary: o.summary, ...(o.description ? { description: o.description } : {}),
    security: o.public ? PUBLIC : TOKEN, ...(params.length ? { parameters: params } : {}), ...(requestBody ? { requestBody } : {}), responses,
  }, o.tag);
}

const api: Record<string, PathItemObject> = {};
for (const o of OPERATIONS) (api[o.path] ??= {})[o.method] = operation(o);

const RESPONSES: Record<string, ResponseObject> = Object.fromEntries((Object.entries(ERRORS) as [ErrorName, { status: number; description: string }][]).map(([name, { status, description }]) => {
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

const HOOK_ANSWER = answerSchema(HookAnswer);
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

const registry: Record<string, PathItemObject> = {
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
    paths: { ...git, ...hooks, ...api, ...registry, ...operations, ...web, ...downloads },
    components: {
      schemas: answers.named,
      responses: RESPONSES,
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'Authorization: Bearer <token> (a token from POST /api/users, POST /api/users/{name}/tokens or the CLI)' },
        basic: { type: 'http', scheme: 'basic', description: 'user = the token\'s user name, password = the token (what git and docker send)' },
        session: { type: 'apiKey', in: 'cookie', name: 'codehub_token', description: 'the web sign-in cookie; taken on GET and HEAD only, and on forms with their CSRF token' },
      },
    },
  };
}
