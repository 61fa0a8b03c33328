/**
 * Every operation of `/api`: its method and path, words for people, and the schemas of its parameters, body and
 * answers (src/api/requests.ts, answers.ts). src/http/openapi.ts turns this table into the OpenAPI document;
 * test/unit/openapi.test.ts holds the document to the routes the server mounts, and the e2e suite holds every
 * answer it sees to the schema its operation names here for that status.
 */
import { z } from 'zod';
import { MAX_SECRET_BYTES, SECRET_NAME_RE } from '../limits.js';
import { MAX_NAME_LENGTH, NAME_RE } from '../names.js';
import { TAG_RE } from '../images/tags.js';
import { MAX_UPLOAD_ENTRIES } from '../uploads/manifest.js';
import * as A from './answers.js';
import * as R from './requests.js';

export type ErrorName = 'BadRequest' | 'Unauthorized' | 'Forbidden' | 'NotFound' | 'Conflict' | 'Gone' | 'PayloadTooLarge' | 'TooManyRequests' | 'BadGateway';

/** Each error's status and what it means on the API; its body is ErrorAnswer. */
export const ERRORS: Record<ErrorName, { status: number; description: string }> = {
  BadRequest: { status: 400, description: 'a parameter or the body is malformed; the message names which' },
  Unauthorized: { status: 401, description: 'no token, or a wrong, revoked or removed one (with a WWW-Authenticate: Basic challenge)' },
  Forbidden: { status: 403, description: 'the token lacks the scope this needs, or the caller the role on the repo; the message says which' },
  NotFound: { status: 404, description: 'no such thing, or one the caller may not see (the same answer for both)' },
  Conflict: { status: 409, description: "the request conflicts with the resource's state, or an ambiguous prefix (details list the candidates)" },
  Gone: { status: 410, description: 'removed on purpose (e.g. a log past its retention); the message says when' },
  PayloadTooLarge: { status: 413, description: 'the body is larger than this route takes' },
  TooManyRequests: { status: 429, description: 'this address failed to sign in too often this minute (Retry-After says how long to wait)' },
  BadGateway: { status: 502, description: 'a service behind this one (the registry, a forge) refused or did not answer; the message says which and why' },
};

/** An answer: JSON of a schema, or other content (`content` type -> what it is: text or bytes). */
export type Answer = { description: string } & ({ json: z.ZodType } | { content: Record<string, 'text' | 'binary'> });

export type Tag = 'builds' | 'repos' | 'registry' | 'account' | 'admin' | 'vulndb';

export interface Operation {
  method: 'get' | 'put' | 'post' | 'delete';
  /** Under /api, with `{param}`s as OpenAPI writes them. */
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  tag: Tag;
  /** No token asked (only the document itself). */
  public?: true;
  /** The path's parameters, in the path's order. */
  params?: Record<string, z.ZodType>;
  query?: z.ZodObject;
  headers?: Record<string, z.ZodType>;
  /** A JSON body of `schema`, or raw bytes of `binary` (its content type). */
  body?: { description?: string; required?: boolean } & ({ schema: z.ZodType } | { binary: string });
  answers: Record<number, Answer>;
  /** Errors beside Unauthorized and TooManyRequests, which every operation but the public one may answer. */
  errors: ErrorName[];
}

const NAME = z.string().regex(NAME_RE).max(MAX_NAME_LENGTH);
const SHA = z.string().regex(/^[0-9a-fA-F]{4,40}$/);
const p = (schema: z.ZodType, description: string) => schema.meta({ description });
const owner = p(NAME, "the repo's owner (a user name)");
const repo = p(NAME, 'the repo name');
const buildId = { id: p(z.string().regex(/^[0-9]+$/), 'the build id') };
const repoParams = { owner, repo };
const uploadId = p(z.string().regex(/^[0-9a-f]{32}$/), 'the upload id (from POST /api/uploads)');
const sha256 = z.string().regex(/^[0-9a-f]{64}$/);

const json = (description: string, schema: z.ZodType): Answer => ({ description, json: schema });

/** An operation of the repo's owner (or an admin) with the push scope: their errors, and 413 where it takes a body. */
const ownerOp = (o: Omit<Operation, 'tag' | 'errors' | 'description'> & { errors?: ErrorName[] }): Operation => ({
  description: "The repo's owner only (or an admin), with the push scope.",
  tag: 'repos',
  ...o,
  params: o.params ?? repoParams,
  errors: ['BadRequest', 'Forbidden', 'NotFound', ...(o.body ? ['PayloadTooLarge' as const] : []), ...(o.errors ?? [])],
});

const ADMIN = 'Needs a token with the admin scope (403 naming it otherwise), checked before the body is read.';
const userName = { name: p(NAME, 'the user name') };
const secretName = p(z.string().regex(SECRET_NAME_RE), 'the secret name');
const member = p(NAME, 'the user it is shared with');

export const OPERATIONS: Operation[] = [
  // ---- builds
  {
    method: 'get',
    path: '/api/builds',
    operationId: 'listBuilds',
    summary: 'builds the caller may read, newest first',
    tag: 'builds',
    query: R.BuildListQuery,
    answers: { 200: json('a page of builds', A.BuildList) },
    errors: ['BadRequest', 'Forbidden'],
  },
  {
    method: 'get',
    path: '/api/builds/{id}',
    operationId: 'getBuild',
    summary: 'a build, with its BuildKit steps',
    tag: 'builds',
    params: buildId,
    answers: { 200: json('the build', A.Build) },
    errors: ['BadRequest', 'Forbidden', 'NotFound'],
  },
  {
    method: 'get',
    path: '/api/builds/{id}/log',
    operationId: 'getBuildLog',
    summary: "a build's log: text, followed live, or Server-Sent Events",
    tag: 'builds',
    description:
      'Text by default (`X-Build-Status` says the status). With `Accept: text/event-stream`: one event per line with its number as `id` (resume with `Last-Event-ID`), keep-alive comments every 15 s, and a final `end` event whose data is `{"status","reason","digest"}`.',
    params: buildId,
    query: R.LogQuery,
    headers: { 'Last-Event-ID': z.int().min(0).meta({ description: 'SSE: the line to resume after' }) },
    answers: { 200: { description: 'the log', content: { 'text/plain; charset=utf-8': 'text', 'text/event-stream': 'text' } } },
    errors: ['BadRequest', 'Forbidden', 'NotFound', 'Gone'],
  },
  {
    method: 'get',
    path: '/api/builds/{id}/vulnerabilities',
    operationId: 'getBuildVulnerabilities',
    summary: "the vulnerabilities found in a build's image, judged by its policy (as `codehub-build vulns`)",
    tag: 'builds',
    description:
      'The findings of the pushed image as last matched (an import re-matches every kept image: a finding it adds has a later `first_seen`), each judged now by the policy the build ran with: an allowance past its `until` allows nothing.',
    params: buildId,
    answers: { 200: json("the build's scan and findings", A.Vulnerabilities) },
    errors: ['BadRequest', 'Forbidden', 'NotFound'],
  },
  {
    method: 'get',
    path: '/api/builds/{id}/sbom',
    operationId: 'getBuildSbom',
    summary: "a build's image's software bill of materials (as `codehub-build sbom`)",
    tag: 'builds',
    description:
      "CycloneDX 1.6 JSON (`format=cyclonedx`, the default) or SPDX 2.3 JSON (`format=spdx`): every package of the image's inventory with its purl. 404 when the build's image was never inventoried.",
    params: buildId,
    query: R.SbomQuery,
    answers: { 200: { description: 'the SBOM', content: { 'application/vnd.cyclonedx+json': 'text', 'application/spdx+json': 'text' } } },
    errors: ['BadRequest', 'Forbidden', 'NotFound'],
  },
  {
    method: 'post',
    path: '/api/builds/{id}/cancel',
    operationId: 'cancelBuild',
    summary: 'cancel a queued or running build (stops the BuildKit solve)',
    tag: 'builds',
    description: 'Needs the push scope and write access to the repo.',
    params: buildId,
    answers: { 200: json('the build, canceled', A.Build) },
    errors: ['BadRequest', 'Forbidden', 'NotFound', 'Conflict'],
  },
  {
    method: 'post',
    path: '/api/builds/{id}/rebuild',
    operationId: 'rebuildBuild',
    summary: 'build the same commit and resolved config again, as a new build',
    tag: 'builds',
    description: 'Needs the push scope and write access to the repo.',
    params: buildId,
    answers: { 201: json('the new build', A.Build) },
    errors: ['BadRequest', 'Forbidden', 'NotFound', 'Conflict'],
  },
  {
    method: 'get',
    path: '/api/repos/{owner}/{repo}/commits/{sha}/builds',
    operationId: 'commitBuilds',
    summary: "a commit's builds, by sha or prefix",
    tag: 'builds',
    params: { ...repoParams, sha: p(SHA, 'a sha or a prefix of 4 to 40 hex digits') },
    answers: { 200: json('the commit and its builds', A.CommitBuilds) },
    errors: ['BadRequest', 'Forbidden', 'NotFound', 'Conflict'],
  },

  // ---- uploads (`codehub-build build`)
  {
    method: 'post',
    path: '/api/uploads',
    operationId: 'startUpload',
    summary: "send a workspace folder's manifest (`codehub-build build`); answers which files to upload",
    tag: 'builds',
    description: `The push scope. Every entry of the context after .dockerignore, in fsutil's order, every folder listed. The context's bytes are checked against CODEHUB_MAX_UPLOAD_BYTES before any file moves (413 naming both). At most ${MAX_UPLOAD_ENTRIES} entries. Unused, it expires after a day.`,
    body: { schema: R.UploadStartRequest },
    answers: { 201: json('the upload', A.UploadStarted) },
    errors: ['BadRequest', 'Forbidden', 'PayloadTooLarge'],
  },
  {
    method: 'put',
    path: '/api/uploads/{id}/blobs/{sha256}',
    operationId: 'uploadBlob',
    summary: 'upload one file of the upload, by its sha256',
    tag: 'builds',
    description: "The raw bytes, streamed. Checked against the manifest's size and hash as it is written: a wrong or cut-short body stores nothing.",
    params: { id: uploadId, sha256: p(sha256, "the file's sha256") },
    body: { binary: 'application/octet-stream' },
    answers: { 201: json('stored', A.BlobStored), 200: json('the server had it already', A.BlobStored) },
    errors: ['BadRequest', 'Forbidden', 'NotFound', 'PayloadTooLarge'],
  },
  {
    method: 'post',
    path: '/api/uploads/{id}/build',
    operationId: 'buildUpload',
    summary: "build the uploaded folder as the caller: docker build's flags",
    tag: 'builds',
    description:
      "Pushes <registry>/<caller>/<NAME>:<TAG> (NAME defaults to the folder's name, TAG to dev); a tag in another namespace is 403. Secrets reach BuildKit only, are masked in the log and never stored. Queued like a push's build (queue limit, quota, fairness, timeouts, cancel). 409 with details.missing while files are missing.",
    params: { id: uploadId },
    body: { schema: R.UploadBuildRequest },
    answers: { 201: json('the build', A.Build) },
    errors: ['BadRequest', 'Forbidden', 'NotFound', 'Conflict', 'PayloadTooLarge'],
  },

  // ---- a repo's settings
  ownerOp({
    method: 'get',
    path: '/api/repos/{owner}/{repo}/secrets',
    operationId: 'listSecrets',
    summary: "a repo's secrets: names and times, never values",
    answers: { 200: json('the secrets', A.SecretList) },
  }),
  ownerOp({
    method: 'put',
    path: '/api/repos/{owner}/{repo}/secrets/{name}',
    operationId: 'setSecret',
    summary: 'set a secret (builds get it as a BuildKit secret, never logged)',
    params: { ...repoParams, name: secretName },
    body: { binary: 'application/octet-stream', description: `the raw value, at most ${MAX_SECRET_BYTES} bytes` },
    answers: { 200: json('set', A.SecretSet) },
  }),
  ownerOp({
    method: 'delete',
    path: '/api/repos/{owner}/{repo}/secrets/{name}',
    operationId: 'removeSecret',
    summary: 'remove a secret',
    params: { ...repoParams, name: secretName },
    answers: { 200: json('removed', A.SecretRemoved) },
  }),
  ownerOp({
    method: 'get',
    path: '/api/repos/{owner}/{repo}/upstream',
    operationId: 'getUpstream',
    summary: "the repo's link to a forge (never its secrets)",
    answers: { 200: json('the link', A.Upstream) },
  }),
  ownerOp({
    method: 'put',
    path: '/api/repos/{owner}/{repo}/upstream',
    operationId: 'setUpstream',
    summary: "link the repo to its repository on a forge: that forge's push webhook builds it here, results go back as commit statuses",
    body: { schema: R.LinkRequest },
    answers: { 200: json('the link, replaced', A.Upstream), 201: json('the link, new (the repo made if missing)', A.Upstream) },
  }),
  ownerOp({
    method: 'delete',
    path: '/api/repos/{owner}/{repo}/upstream',
    operationId: 'removeUpstream',
    summary: 'unlink the repo (statuses still owed are not sent)',
    answers: { 200: json('removed', A.UpstreamRemoved) },
  }),
  ownerOp({
    method: 'put',
    path: '/api/repos/{owner}/{repo}/badge',
    operationId: 'setBadge',
    summary: "make the repo's badges public (readable without a token) or private",
    body: { schema: R.BadgeRequest },
    answers: { 200: json('the badge setting', A.Badge) },
  }),
  ownerOp({
    method: 'get',
    path: '/api/repos/{owner}/{repo}/retention',
    operationId: 'getRetention',
    summary: "the repo's image retention, with the server's defaults",
    answers: { 200: json('the retention', A.Retention) },
  }),
  ownerOp({
    method: 'put',
    path: '/api/repos/{owner}/{repo}/retention',
    operationId: 'setRetention',
    summary: "override the repo's retention (null: the server's default)",
    body: { schema: R.RetentionRequest },
    answers: { 200: json('the retention now', A.Retention) },
  }),
  ownerOp({
    method: 'get',
    path: '/api/repos/{owner}/{repo}/members',
    operationId: 'listMembers',
    summary: 'who the repo is shared with',
    answers: { 200: json('the members', A.Members) },
  }),
  ownerOp({
    method: 'put',
    path: '/api/repos/{owner}/{repo}/members/{user}',
    operationId: 'shareRepo',
    summary: 'share the repo with a user: read (clone, builds, logs) or write (also push, cancel, rebuild)',
    params: { ...repoParams, user: member },
    body: { schema: R.MemberRequest },
    answers: { 200: json('shared', A.Shared) },
  }),
  ownerOp({
    method: 'delete',
    path: '/api/repos/{owner}/{repo}/members/{user}',
    operationId: 'unshareRepo',
    summary: 'stop sharing the repo with a user',
    params: { ...repoParams, user: member },
    answers: { 200: json('unshared', A.Unshared) },
  }),
  ownerOp({
    method: 'post',
    path: '/api/repos/{owner}/{repo}/pull-tokens',
    operationId: 'createPullToken',
    summary: "make a pull token: a deployment's registry credential that pulls the repo's images and does nothing else (no git, no API, no other repo)",
    body: { schema: R.PullTokenRequest, required: false },
    answers: { 201: json('the token, shown once, with the user name docker logs in with', A.PullTokenMade) },
  }),
  ownerOp({
    method: 'get',
    path: '/api/repos/{owner}/{repo}/pull-tokens',
    operationId: 'listPullTokens',
    summary: "the repo's pull tokens (never the tokens)",
    answers: { 200: json('the pull tokens', A.PullTokenList) },
  }),
  ownerOp({
    method: 'delete',
    path: '/api/repos/{owner}/{repo}/pull-tokens/{id}',
    operationId: 'revokePullToken',
    summary: 'revoke a pull token: the registry refuses it from its next sign-in',
    params: { ...repoParams, id: p(z.string().regex(/^[0-9]+$/), 'the pull token id (pull-<id>)') },
    answers: { 200: json('revoked', A.PullTokenRevoked) },
  }),

  // ---- the registry
  {
    method: 'get',
    path: '/api/usage',
    operationId: 'myUsage',
    summary: "the caller's registry usage and quota",
    tag: 'registry',
    answers: { 200: json('usage', A.Usage) },
    errors: [],
  },
  {
    method: 'get',
    path: '/api/users/{name}/usage',
    operationId: 'userUsage',
    summary: "a user's registry usage and quota (that user or an admin)",
    tag: 'registry',
    params: { name: p(NAME, 'the user (namespace)') },
    answers: { 200: json('usage', A.Usage) },
    errors: ['BadRequest', 'NotFound'],
  },
  {
    method: 'delete',
    path: '/api/images/{owner}/{image}/tags/{tag}',
    operationId: 'removeTag',
    summary: 'remove exactly one tag, and its manifest when no other tag or kept index needs it',
    tag: 'registry',
    description: 'The owner or an admin, with the push scope; 409 while a build of that image pushes.',
    params: { owner, image: p(NAME, 'the image name'), tag: p(z.string().regex(TAG_RE), 'the tag') },
    answers: { 200: json('what was removed', A.TagRemoved) },
    errors: ['BadRequest', 'Forbidden', 'NotFound', 'Conflict', 'BadGateway'],
  },

  // ---- the caller, and this document
  {
    method: 'get',
    path: '/api/user',
    operationId: 'whoAmI',
    summary: "the caller: the token's user and scopes",
    tag: 'account',
    description: 'Any valid token, whatever its scopes.',
    answers: { 200: json('the caller', A.Caller) },
    errors: [],
  },
  {
    method: 'get',
    path: '/api/openapi.json',
    operationId: 'openApi',
    summary: 'this document',
    tag: 'account',
    public: true,
    description: 'Public: a client reads it to learn how to sign in before it has a token, and it says nothing about users or repos.',
    answers: { 200: json('the OpenAPI 3.1 document of every route', z.looseObject({ openapi: z.literal('3.1.0') })) },
    errors: [],
  },

  // ---- the vulnerability database (issue 26)
  {
    method: 'get',
    path: '/api/vulndb',
    operationId: 'vulnDbSources',
    summary: "the vulnerability database's sources: each ecosystem's records, newest modified, last import",
    tag: 'vulndb',
    description: 'Any signed-in caller.',
    answers: { 200: json('the sources, one per ecosystem', A.VulnDbSources) },
    errors: [],
  },
  {
    method: 'post',
    path: '/api/vulndb/imports',
    operationId: 'importVulnDb',
    summary: 'import OSV records (as `codehub-build vulndb import`): a zip as OSV publishes, or one OSV JSON record',
    tag: 'vulndb',
    description: `${ADMIN} The body is streamed to the data dir, then imported all or nothing: a record that does not read as OSV is skipped and named; a body refused whole (a corrupt zip, an entry leaving the archive, a zip bomb, neither zip nor JSON) is a 400 with the reason, and nothing of it lands.`,
    body: { binary: 'application/octet-stream', description: 'one zip of OSV JSON records (one per entry), or one OSV JSON record; at most 2 GiB' },
    answers: { 200: json('what was imported, per ecosystem, and the problems', A.VulnDbImported) },
    errors: ['Forbidden', 'BadRequest', 'PayloadTooLarge'],
  },

  {
    method: 'get',
    path: '/api/vulnerabilities/new',
    operationId: 'newFindings',
    summary: 'findings an import brought to images already pushed: what is new since the last import',
    tag: 'vulndb',
    description:
      'After each import every kept image is matched again from its stored inventory; a finding new to an image is first seen then. Admins see every image; others the images of the repos they may read. Judged by the policy of the newest build of each image.',
    query: R.NewFindingsQuery,
    answers: { 200: json('the new findings', A.NewFindings) },
    errors: ['BadRequest'],
  },

  // ---- users and tokens (admin)
  {
    method: 'post',
    path: '/api/users',
    operationId: 'addUser',
    summary: 'add a user, with one read,push token (as `codehub-build user add`)',
    tag: 'admin',
    description: `${ADMIN} The name may not be taken or still own the repos of a removed user (409), nor be reserved (system, cache, codehub-build and codehub-build-*: 400). The token is shown only in this answer; the server keeps its SHA-256.`,
    body: { schema: R.NewUserRequest, description: 'JSON; no other field' },
    answers: { 201: json('the user and their token', A.UserAdded) },
    errors: ['Forbidden', 'BadRequest', 'Conflict', 'PayloadTooLarge'],
  },
  {
    method: 'delete',
    path: '/api/users/{name}',
    operationId: 'removeUser',
    summary: 'remove a user with their tokens and shares (as `codehub-build user remove`)',
    tag: 'admin',
    description: `${ADMIN} Their repos, builds and secrets stay, and the name cannot be given to a new user while it owns them. The user holding the last admin token is not removed (409): make another admin first.`,
    params: userName,
    answers: { 200: json('removed', A.UserRemoved) },
    errors: ['Forbidden', 'BadRequest', 'NotFound', 'Conflict'],
  },
  {
    method: 'get',
    path: '/api/users/{name}/tokens',
    operationId: 'listTokens',
    summary: "a user's tokens (as `codehub-build token list`)",
    tag: 'admin',
    description: ADMIN,
    params: userName,
    answers: { 200: json('the tokens: ids, labels, scopes, times; never a token or its hash', A.TokenList) },
    errors: ['Forbidden', 'BadRequest', 'NotFound'],
  },
  {
    method: 'post',
    path: '/api/users/{name}/tokens',
    operationId: 'createToken',
    summary: 'make a token for a user (as `codehub-build token create`)',
    tag: 'admin',
    description: `${ADMIN} The token is shown only in this answer.`,
    params: userName,
    body: { schema: R.NewTokenRequest, required: false, description: 'JSON; both fields optional (an empty body takes both defaults); no other field' },
    answers: { 201: json('the token', A.TokenMade) },
    errors: ['Forbidden', 'BadRequest', 'NotFound', 'PayloadTooLarge'],
  },
  {
    method: 'delete',
    path: '/api/tokens/{id}',
    operationId: 'revokeToken',
    summary: 'revoke a token: it stops working at once (as `codehub-build token revoke`)',
    tag: 'admin',
    description: `${ADMIN} The last admin token is not revoked (409): make another admin first.`,
    params: { id: p(z.string().regex(/^[0-9]+$/), 'the token id, as the list shows') },
    answers: { 200: json('revoked', A.TokenRevoked) },
    errors: ['Forbidden', 'BadRequest', 'NotFound', 'Conflict'],
  },

  // ---- the audit log (issue 27)
  {
    method: 'get',
    path: '/api/audit',
    operationId: 'listAuditEvents',
    summary:
      'the audit log, newest first: who signed in, made or removed users and tokens, changed secrets, shares, retention, quotas or links, removed images, canceled or rebuilt builds',
    tag: 'account',
    description:
      "Any valid token: an admin sees every event; anyone else the events of the repos in their own namespace (`<name>/*`) and nothing else. Secret values and tokens are never in it. A filter that is not what it should be is a 400 naming it. Page with `before` set to the previous answer's `next`.",
    query: R.AuditListQuery,
    answers: { 200: json('a page of events', A.AuditList) },
    errors: ['BadRequest'],
  },
];

/** What an operation that is not a read answers while the server stops (main.ts serves only reads then). */
const STOPPING: Answer = {
  description: 'the server is stopping: running builds finish, new work is refused; try again after Retry-After seconds',
  content: { 'text/plain; charset=utf-8': 'text' },
};

/** An operation's own answers, and the stopping server's 503 for one that is not a read. */
export function answersOf(op: Operation): Record<number, Answer> {
  return op.method === 'get' ? op.answers : { ...op.answers, 503: STOPPING };
}

/** The operation serving `method` and `path` (a request's, without its query), if any. */
export function operationOf(method: string, path: string): Operation | undefined {
  return OPERATIONS.find((o) => o.method === method.toLowerCase() && pathPattern(o.path).test(path));
}

/** The schema `op` answers `status` with: its own, the error answer for an error, undefined when it has none. */
export function answerSchema(op: Operation, status: number): { schema: z.ZodType } | { undeclared: true } | { notJson: true } {
  const answer = answersOf(op)[status];
  if (answer) return 'json' in answer ? { schema: answer.json } : { notJson: true };
  const errors = op.public ? op.errors : (['Unauthorized', 'TooManyRequests', ...op.errors] as ErrorName[]);
  return errors.some((e) => ERRORS[e].status === status) ? { schema: A.ErrorAnswer } : { undeclared: true };
}

const patterns = new Map<string, RegExp>();
function pathPattern(path: string): RegExp {
  let re = patterns.get(path);
  if (!re) {
    re = new RegExp(`^${path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{\w+\}/g, '[^/]+')}$`);
    patterns.set(path, re);
  }
  return re;
}
