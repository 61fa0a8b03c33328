import { Hono, type MiddlewareHandler } from 'hono';
import { NewTokenRequest, NewUserRequest } from '../api/requests.js';
import { addUser, createToken, listTokens, removeUser, revokeToken } from '../auth/accounts.js';
import type { Access } from '../auth/access.js';
import { daysToMs } from '../auth/expiry.js';
import { type AuditLog, tokenCreatedDetail } from '../auth/audit.js';
import type { Caller } from '../store/scopes.js';
import type { Store } from '../store/store.js';
import { audited } from './audited.js';
import { readRequest } from './body.js';
import { done } from './outcome.js';

export interface AdminDeps {
  store: Store;
  access: Access;
  audit: AuditLog;
  /** CODEHUB_TOKEN_MAX_DAYS: how long new tokens may live (null: no maximum). */
  tokenMaxDays?: number | null;
}

type Env = { Variables: { caller: Caller } };

/** Bytes an admin request body may have: its JSON is a name, or a few scopes and a label. */
export const MAX_ADMIN_BODY = 1024;
const BODY = {
  maxBytes: MAX_ADMIN_BODY,
  tooLarge: `the body may be at most ${MAX_ADMIN_BODY} bytes of JSON`,
  notJson: (why: string) => `the body is not JSON (${why}); send a JSON object`,
};

/**
 * Users and tokens, for the platform that makes workspaces (the admin scope): the same operations as
 * `codehub-build user` and `token`, over src/auth/accounts.ts. Mounted inside the API, after its sign-in.
 */
export function adminRoutes(deps: AdminDeps): Hono<Env> {
  const app = new Hono<Env>();
  const policy = { maxDays: deps.tokenMaxDays ?? null };
  // Per route, not app.use('/users/*'): this app is mounted beside /users/:name/usage, which is not admin's.
  // It runs before the body is read, so a caller without the scope learns nothing about what it sent.
  const admin: MiddlewareHandler<Env> = async (c, next) => {
    deps.access.requireScope(c.get('caller'), 'admin');
    await next();
  };

  app.post('/users', admin, async (c) => {
    const body = await readRequest(c, NewUserRequest, BODY);
    const made = done(addUser(deps.store, body.name, policy));
    audited(deps.audit, c, 'user.create', made.name);
    return c.json({ name: made.name, token: made.token, expires_at: made.expiresAt }, 201);
  });

  app.delete('/users/:name', admin, (c) => {
    const removed = done(removeUser(deps.store, c.req.param('name')));
    audited(deps.audit, c, 'user.remove', removed.name);
    return c.json({ name: removed.name, removed: true });
  });

  app.post('/users/:name/tokens', admin, async (c) => {
    // An empty body takes both defaults.
    const body = await readRequest(c, NewTokenRequest, { ...BODY, empty: {} });
    const lifetime = body.expires_in_days === undefined ? {} : { lifetimeMs: daysToMs(body.expires_in_days) };
    const made = done(createToken(deps.store, c.req.param('name'), { scopes: body.scopes, label: body.label, ...lifetime }, policy));
    audited(deps.audit, c, 'token.create', String(made.id), {
      detail: tokenCreatedDetail(made),
    });
    return c.json({ id: made.id, token: made.token, label: made.label, scopes: made.scopes, expires_at: made.expiresAt }, 201);
  });

  app.get('/users/:name/tokens', admin, (c) => {
    const found = done(listTokens(deps.store, c.req.param('name')));
    return c.json({
      user: found.user,
      tokens: found.tokens.map((t) => ({
        id: t.id,
        label: t.label,
        scopes: t.scopes,
        created_at: t.createdAt,
        last_used_at: t.lastUsedAt,
        expires_at: t.expiresAt,
      })),
    });
  });

  app.delete('/tokens/:id', admin, (c) => {
    const revoked = done(revokeToken(deps.store, c.req.param('id')));
    audited(deps.audit, c, 'token.revoke', String(revoked.id));
    return c.json({ id: revoked.id, revoked: true });
  });

  return app;
}
