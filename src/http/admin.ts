import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { addUser, createToken, listTokens, removeUser, revokeToken } from '../auth/accounts.js';
import type { Access } from '../auth/access.js';
import type { Caller } from '../store/scopes.js';
import type { Store } from '../store/store.js';
import { readJson } from './body.js';
import { checked, done, type Checked } from './outcome.js';

export interface AdminDeps {
  store: Store;
  access: Access;
}

type Env = { Variables: { caller: Caller } };

/** Bytes an admin request body may have: its JSON is a name, or a few scopes and a label. */
export const MAX_ADMIN_BODY = 1024;

/**
 * Users and tokens, for the platform that makes workspaces (the admin scope): the same operations as
 * `codehub-build user` and `token`, over src/auth/accounts.ts. Mounted inside the API, after its sign-in.
 */
export function adminRoutes(deps: AdminDeps): Hono<Env> {
  const app = new Hono<Env>();
  // Per route, not app.use('/users/*'): this app is mounted beside /users/:name/usage, which is not admin's.
  // It runs before the body is read, so a caller without the scope learns nothing about what it sent.
  const admin: MiddlewareHandler<Env> = async (c, next) => {
    deps.access.requireScope(c.get('caller'), 'admin');
    await next();
  };

  app.post('/users', admin, async (c) => {
    const body = checked(checkNewUser(await jsonBody(c, false)));
    const made = done(addUser(deps.store, body.name));
    return c.json({ name: made.name, token: made.token }, 201);
  });

  app.delete('/users/:name', admin, (c) => {
    const removed = done(removeUser(deps.store, c.req.param('name')));
    return c.json({ name: removed.name, removed: true });
  });

  app.post('/users/:name/tokens', admin, async (c) => {
    const body = checked(checkNewToken(await jsonBody(c, true)));
    const made = done(createToken(deps.store, c.req.param('name'), { scopes: body.scopes, label: body.label ?? 'api' }));
    return c.json({ id: made.id, token: made.token, label: made.label, scopes: made.scopes }, 201);
  });

  app.get('/users/:name/tokens', admin, (c) => {
    const found = done(listTokens(deps.store, c.req.param('name')));
    return c.json({
      user: found.user,
      tokens: found.tokens.map((t) => ({ id: t.id, label: t.label, scopes: t.scopes, created_at: t.createdAt, last_used_at: t.lastUsedAt })),
    });
  });

  app.delete('/tokens/:id', admin, (c) => {
    const revoked = done(revokeToken(deps.store, c.req.param('id')));
    return c.json({ id: revoked.id, revoked: true });
  });

  return app;
}

/** The parsed body; an empty one is `{}` where every field has a default (`emptyIsObject`), else a 400. */
function jsonBody(c: Context, emptyIsObject: boolean): Promise<unknown> {
  return readJson(c, {
    maxBytes: MAX_ADMIN_BODY, tooLarge: `the body may be at most ${MAX_ADMIN_BODY} bytes of JSON`,
    notJson: (why) => `the body is not JSON (${why}); send a JSON object`, ...(emptyIsObject ? { empty: {} } : {}),
  });
}

/** `{"name": "alice"}`: the new user's name (its grammar is checked with the other names, in accounts). */
export function checkNewUser(body: unknown): Checked<{ name: string }> {
  const problems = shapeProblems(body, ['name'], '{"name": "alice"}');
  if (problems) return { ok: false, problems };
  const { name } = body as { name?: unknown };
  if (typeof name !== 'string') return { ok: false, problems: [`name must be a string (the new user's name); got ${describe(name)}`] };
  return { ok: true, value: { name } };
}

/** `{"scopes": ["read", "push"], "label": "ci"}`, both optional: scopes a list of scope names, label a string. */
export function checkNewToken(body: unknown): Checked<{ scopes?: string[]; label?: string }> {
  const problems = shapeProblems(body, ['scopes', 'label'], '{"scopes": ["read", "push"], "label": "ci"}') ?? [];
  if (problems.length) return { ok: false, problems };
  const { scopes, label } = body as { scopes?: unknown; label?: unknown };
  if (scopes !== undefined && !(Array.isArray(scopes) && scopes.every((s) => typeof s === 'string'))) {
    problems.push(`scopes must be a list of scope names, e.g. ["read", "push"]; got ${describe(scopes)}`);
  }
  if (label !== undefined && typeof label !== 'string') problems.push(`label must be a string; got ${describe(label)}`);
  if (problems.length) return { ok: false, problems };
  return { ok: true, value: { ...(scopes !== undefined ? { scopes: scopes as string[] } : {}), ...(label !== undefined ? { label: label as string } : {}) } };
}

/** Null when `body` is a JSON object with no field but `allowed`, else what is wrong with it. */
function shapeProblems(body: unknown, allowed: readonly string[], example: string): string[] | null {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return [`the body must be a JSON object like ${example}; got ${describe(body)}`];
  const unknown = Object.keys(body).filter((k) => !allowed.includes(k));
  return unknown.length ? unknown.map((k) => `unknown field ${JSON.stringify(k)}: the fields are ${allowed.join(', ')}`) : null;
}

/** A value in an error message: its JSON, cut short (the body is small, but a message should be smaller). */
function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  const json = JSON.stringify(v);
  return json.length > 60 ? `${json.slice(0, 57)}...` : json;
}
