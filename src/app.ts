import type { HttpBindings } from '@hono/node-server';
import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { AppError, TooManyRequestsError } from './errors.js';
import { ChallengeError } from './http/auth.js';
import type { Logger } from './log.js';
import type { Viewer } from './http/web/layout.js';

export interface AppParts {
  log: Logger;
  git: Hono<{ Bindings: HttpBindings }>;
  hooks: Hono;
  // biome-ignore lint/suspicious/noExplicitAny: a Hono app with its own Variables is not assignable to Hono<Env> (handlers are contravariant); mounting needs none of its types
  api: Hono<any>;
  health: Hono;
  /** The client CLI and the code-server extension, for workspaces to download. */
  downloads: Hono;
  /** The registry's token realm, when the registry uses token auth. */
  registryToken?: Hono;
  /** The web pages (mounted last: they own `/`), and how an error on a page is shown. */
  // biome-ignore lint/suspicious/noExplicitAny: as for api
  web: Hono<any>;
  errorPage: (status: number, message: string, viewer?: Viewer) => string;
}

/**
 * The HTTP app: routes mounted, and the one place where errors become HTTP answers
 * (`{ "error": { code, message, details? } }`). Unexpected errors are logged with their stack and
 * answered 500 without internals.
 */
export function createApp(parts: AppParts): Hono<{ Bindings: HttpBindings }> {
  const app = new Hono<{ Bindings: HttpBindings }>();
  app.route('/', parts.git);
  app.route('/hooks', parts.hooks);
  app.route('/api', parts.api);
  app.route('/', parts.health);
  app.route('/', parts.downloads);
  if (parts.registryToken) app.route('/registry', parts.registryToken);
  app.route('/', parts.web);

  app.notFound((c) => c.json({ error: { code: 'not_found', message: `no route for ${c.req.method} ${c.req.path}` } }, 404));
  app.onError((err, c) => {
    if (err instanceof ChallengeError) c.header('WWW-Authenticate', `Basic realm="${err.realm}", charset="UTF-8"`);
    if (err instanceof TooManyRequestsError) c.header('Retry-After', String(err.retryAfter));
    // A page's request (the web routes mark it) gets a page that says the same, with the same status.
    const page = c.var as { page?: boolean; viewer?: Viewer };
    if (page.page && (err instanceof AppError || err instanceof HTTPException))
      return c.html(parts.errorPage(err.status, err.message, page.viewer), err.status as 400);
    if (err instanceof AppError) {
      // git shows a text/plain error body to the user as `remote:` lines; JSON it would hide.
      if (c.req.path.startsWith('/git/')) return c.text(`codehub-build: ${err.message}\n`, err.status as 400);
      const body = { error: { code: err.code, message: err.message, ...(err.details !== undefined ? { details: err.details } : {}) } };
      return c.json(body, err.status as 400);
    }
    if (err instanceof HTTPException) return c.json({ error: { code: 'http_error', message: err.message } }, err.status);
    parts.log.error('unhandled error', { err, method: c.req.method, path: c.req.path });
    if (page.page) return c.html(parts.errorPage(500, 'internal error; the server log has the details'), 500);
    return c.json({ error: { code: 'internal', message: 'internal error; the server log has the details' } }, 500);
  });
  return app;
}
