import { BUILD_STATUSES } from '../store/schema.js';
import {
  buildId,
  error,
  FORM,
  formBody,
  inPath,
  inQuery,
  op,
  owner,
  PAGE,
  pageResponses,
  PUBLIC,
  repoParams,
  str,
  text,
  type OperationObject,
  type PathItemObject,
} from './openapi-parts.js';

const csrf = { csrf: str("the page's CSRF token") };
const formAction = (action: 'cancel' | 'rebuild'): OperationObject =>
  op(
    {
      operationId: `${action}BuildForm`,
      summary: `the build page's ${action} button`,
      description: 'A form from the build page: the sign-in cookie and its CSRF token; the same checks as the API.',
      security: FORM,
      parameters: [buildId],
      requestBody: formBody(csrf, ['csrf']),
      responses: {
        303: { description: 'done: to the build page (of the new build, for a rebuild)' },
        default: text('an error, as a page', 'text/html; charset=utf-8'),
      },
    },
    'web',
  );

const web: Record<string, PathItemObject> = {
  '/': {
    get: op(
      { operationId: 'homePage', summary: 'the repos the caller can read, with their latest builds', security: PAGE, responses: pageResponses('the page') },
      'web',
    ),
  },
  '/login': {
    get: op(
      {
        operationId: 'signInPage',
        summary: 'the sign-in form (a token)',
        security: PUBLIC,
        parameters: [inQuery('next', 'a path on this site to go to after')],
        responses: { 200: text('the form', 'text/html; charset=utf-8'), 303: { description: 'signed in already: to next' } },
      },
      'web',
    ),
    post: op(
      {
        operationId: 'signIn',
        summary: 'sign in with a token (sets an HTTP-only cookie)',
        security: PUBLIC,
        requestBody: formBody({ token: str('a token'), next: str('a path on this site') }, ['token']),
        responses: {
          303: { description: 'signed in: to next' },
          401: text('the form again, saying the token is not valid', 'text/html; charset=utf-8'),
          403: text('posted from another site', 'text/html; charset=utf-8'),
          413: text('more than 4 KiB', 'text/html; charset=utf-8'),
          429: text('this address failed too often this minute', 'text/html; charset=utf-8'),
        },
      },
      'web',
    ),
  },
  '/logout': {
    post: op(
      {
        operationId: 'signOut',
        summary: 'sign out (clears the cookie)',
        security: [{}, ...FORM],
        requestBody: formBody(csrf, ['csrf']),
        responses: { 303: { description: 'to /login' }, 403: text('a stale form, or one from another site', 'text/html; charset=utf-8') },
      },
      'web',
    ),
  },
  '/repos/{owner}/{repo}': {
    get: op(
      {
        operationId: 'repoPage',
        summary: "a repo's builds, filtered, with its images",
        security: PAGE,
        parameters: [
          ...repoParams,
          inQuery('branch', 'a branch or tag'),
          inQuery('status', 'a status', { type: 'string', enum: BUILD_STATUSES }),
          inQuery('commit', 'a sha prefix'),
          inQuery('before', 'a build id from the "Older builds" link'),
        ],
        responses: pageResponses('the page'),
      },
      'web',
    ),
  },
  '/repos/{owner}/{repo}/commits/{sha}': {
    get: op(
      {
        operationId: 'commitPage',
        summary: "a commit's builds",
        security: PAGE,
        parameters: [...repoParams, inPath('sha', 'a sha or prefix', { pattern: '^[0-9a-fA-F]{4,40}$' })],
        responses: pageResponses('the page'),
      },
      'web',
    ),
  },
  '/builds/{id}': {
    get: op(
      {
        operationId: 'buildPage',
        summary: 'a build with its live log',
        security: PAGE,
        parameters: [buildId, inQuery('full', '1: the whole log, not its last 5,000 lines', { type: 'string', enum: ['1'] })],
        responses: pageResponses('the page'),
      },
      'web',
    ),
  },
  '/builds/{id}/cancel': { post: formAction('cancel') },
  '/builds/{id}/rebuild': { post: formAction('rebuild') },
  '/images/{owner}': {
    get: op(
      {
        operationId: 'imagesPage',
        summary: "an owner's images and tags, with usage (that owner or an admin)",
        security: PAGE,
        parameters: [owner],
        responses: pageResponses('the page'),
      },
      'web',
    ),
  },
  '/vulnerabilities': {
    get: op(
      {
        operationId: 'vulnerabilitiesPage',
        summary: "the vulnerability data's sources and age, and the findings new since the last import on the images the viewer may read",
        security: PAGE,
        responses: pageResponses('the page'),
      },
      'web',
    ),
  },
  '/audit': {
    get: op(
      {
        operationId: 'auditPage',
        summary: "the audit log as GET /api/audit shows it to the viewer (an admin every event, anyone else their repos' events), with a form of filters",
        security: PAGE,
        responses: pageResponses('the page'),
      },
      'web',
    ),
  },
  '/auth/login': {
    get: op(
      {
        operationId: 'ssoSignIn',
        summary: "single sign-on: to the site's OpenID Connect provider (authorization code flow with PKCE)",
        security: PUBLIC,
        parameters: [inQuery('next', 'a path on this site to go to after')],
        responses: {
          302: { description: "to the provider's authorization endpoint (sets a short-lived cookie binding the sign-in to this browser)" },
          404: text('single sign-on is not configured', 'text/html; charset=utf-8'),
          502: text('the provider could not be reached or discovered', 'text/html; charset=utf-8'),
        },
      },
      'web',
    ),
  },
  '/auth/callback': {
    get: op(
      {
        operationId: 'ssoCallback',
        summary: 'single sign-on: where the provider sends the browser back; provisions the user and starts a session',
        security: PUBLIC,
        parameters: [
          inQuery('code', 'the authorization code'),
          inQuery('state', 'the state /auth/login sent'),
          inQuery('error', "the provider's refusal"),
          inQuery('iss', 'the issuer (RFC 9207)'),
        ],
        responses: {
          303: { description: 'signed in (a session cookie): to next' },
          400: text('an unknown, reused or expired sign-in, one begun in another browser, or a name the owner grammar refuses', 'text/html; charset=utf-8'),
          403: text('the provider refused the sign-in', 'text/html; charset=utf-8'),
          404: text('single sign-on is not configured', 'text/html; charset=utf-8'),
          409: text('the name belongs to another account of the provider', 'text/html; charset=utf-8'),
          502: text('the provider is down, or its answer did not verify (ID token signature, iss, aud, exp, nonce)', 'text/html; charset=utf-8'),
        },
      },
      'web',
    ),
  },
  '/tokens': {
    get: op(
      { operationId: 'tokensPage', summary: "the viewer's personal tokens, with a form to make one", security: PAGE, responses: pageResponses('the page') },
      'web',
    ),
    post: op(
      {
        operationId: 'createTokenForm',
        summary: "the tokens page's form: makes a token and shows it once (no-store)",
        security: FORM,
        requestBody: formBody(
          {
            csrf: str("the page's CSRF token"),
            label: str('what it is for'),
            scopes: str('read, push or admin (admin only for an admin); repeated'),
            expires: str('days (7, 30, 90, at most CODEHUB_TOKEN_MAX_DAYS) or never'),
          },
          ['csrf'],
        ),
        responses: {
          200: text('the page with the new token, shown once', 'text/html; charset=utf-8'),
          400: text('the page saying what is wrong with the form', 'text/html; charset=utf-8'),
          default: text('an error, as a page', 'text/html; charset=utf-8'),
        },
      },
      'web',
    ),
  },
  '/tokens/{id}/revoke': {
    post: op(
      {
        operationId: 'revokeTokenForm',
        summary: "the tokens page's revoke button (the viewer's own tokens only)",
        security: FORM,
        parameters: [inPath('id', 'the token id', { type: 'integer' })],
        requestBody: formBody(csrf, ['csrf']),
        responses: { 303: { description: 'revoked: to /tokens' }, default: text('an error, as a page', 'text/html; charset=utf-8') },
      },
      'web',
    ),
  },
  '/static/{name}': {
    get: op(
      {
        operationId: 'staticFile',
        summary: "the pages' stylesheet and script",
        security: PUBLIC,
        parameters: [inPath('name', 'the file name')],
        responses: {
          200: {
            description: 'the file (ETag; 5 minutes of caching)',
            content: { 'text/css; charset=utf-8': { schema: { type: 'string' } }, 'text/javascript; charset=utf-8': { schema: { type: 'string' } } },
          },
          304: { description: 'unchanged (If-None-Match)' },
          404: error('NotFound'),
        },
      },
      'web',
    ),
  },
  '/badge/{owner}/{repo}/{branch}.svg': {
    get: op(
      {
        operationId: 'badge',
        summary: "the status of a branch's latest builds, as an SVG badge",
        description:
          'Anyone, once the owner made the badges public (PUT /api/repos/{owner}/{repo}/badge); else a caller who can read the repo. The branch may contain `/`.',
        security: [{}, ...PAGE],
        parameters: [...repoParams, inPath('branch', 'the branch')],
        responses: { 200: text('the badge', 'image/svg+xml; charset=utf-8'), 400: error('BadRequest'), 404: error('NotFound') },
      },
      'web',
    ),
  },
};

const download = (name: string, what: string, type: string, operationId: string): PathItemObject => ({
  get: op(
    {
      operationId,
      summary: what,
      description: 'Public: a workspace fetches it with curl before anything is set up; it holds no secret.',
      security: PUBLIC,
      responses: {
        200: { description: `${name} (ETag of size and time; no-cache)`, content: { [type]: { schema: { type: 'string', format: 'binary' } } } },
        304: { description: 'unchanged (If-None-Match)' },
        404: error('NotFound'),
      },
    },
    'downloads',
  ),
});

const downloads: Record<string, PathItemObject> = {
  '/downloads/codehub-build': download(
    'codehub-build',
    'the client CLI: one file that runs with node 20 or later',
    'text/javascript; charset=utf-8',
    'downloadCli',
  ),
  '/downloads/codehub-build.vsix': download('codehub-build.vsix', 'the code-server extension, packed', 'application/vsix', 'downloadExtension'),
};

/** The web pages and the downloads: HTML, forms and files, written out. */
export const pagePaths: Record<string, PathItemObject> = { ...web, ...downloads };
