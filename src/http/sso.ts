import { Hono } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { actorOf, AuditLog } from '../auth/audit.js';
import { provision, type SingleSignOn, startSession } from '../auth/sso.js';
import { BadRequestError, ForbiddenError, NotFoundError } from '../errors.js';
import type { Store } from '../store/store.js';
import { remoteAddress } from './auth.js';
import { done } from './outcome.js';
import { localPath, type WebEnv } from './web/routes.js';
import type { WebSession } from './web/session.js';

export interface SsoDeps {
  /** Null when single sign-on is not configured: its routes then say so (404). */
  sso: SingleSignOn | null;
  store: Store;
  session: WebSession;
  /** Whether the public URL is https (the state cookie is Secure then). */
  secure: boolean;
}

/** The cookie that binds a begun sign-in to the browser that began it (its `state`), for the callback to check. */
const STATE_COOKIE = 'codehub_sso_state';

/**
 * Single sign-on's two routes under /auth: `GET /auth/login?next=` sends the browser to the provider;
 * `GET /auth/callback` is where the provider sends it back: the user is provisioned (src/auth/sso.ts), a session
 * started and its cookie set (the same cookie a token sign-in sets). Failures are pages: 400 for a callback
 * that is unknown, reused (its state or its code) or from another browser, 403 when the provider refused, 502 when it is down or
 * answered something that does not verify; nothing is made then.
 */
export function ssoRoutes(deps: SsoDeps): Hono<WebEnv> {
  const app = new Hono<WebEnv>();
  const audit = new AuditLog(deps.store);
  app.use('*', async (c, next) => {
    c.set('page', true);
    c.header('x-content-type-options', 'nosniff');
    c.header('referrer-policy', 'same-origin');
    c.header('cache-control', 'no-store');
    await next();
  });
  const configured = (): SingleSignOn => {
    if (!deps.sso) throw new NotFoundError('single sign-on is not configured on this server (CODEHUB_OIDC_ISSUER); sign in with a token');
    return deps.sso;
  };

  app.get('/login', async (c) => {
    const sso = configured();
    const { url, state } = await sso.begin(localPath(c.req.query('next')));
    // Path /auth: only the callback needs it. Lax: the provider's redirect back is a top-level GET, which carries it.
    setCookie(c, STATE_COOKIE, state, { httpOnly: true, sameSite: 'Lax', secure: deps.secure, path: '/auth', maxAge: 600 });
    return c.redirect(url, 302);
  });

  app.get('/callback', async (c) => {
    const sso = configured();
    const browserState = getCookie(c, STATE_COOKIE);
    deleteCookie(c, STATE_COOKIE, { path: '/auth', secure: deps.secure });
    const search = new URL(c.req.url).search;
    const found = await sso.finish(search, browserState);
    if ('refused' in found) throw found.refused === 'provider' ? new ForbiddenError(found.problem) : new BadRequestError(found.problem);
    const p = done(provision(deps.store, sso.settings, found.claims));
    const started = startSession(deps.store, p, sso.settings.sessionDays);
    deps.session.signIn(c, started.cookie, sso.settings.sessionDays);
    const actor = actorOf({ user: p.user, tokenId: started.id, scopes: p.scopes, via: 'session' }, remoteAddress(c));
    if (p.how === 'created') audit.record(actor, 'user.create', p.user.name, { detail: { method: 'oidc' } });
    audit.record(actor, 'sign_in', p.user.name, { detail: { method: 'oidc', admin: p.admin, ...(p.how === 'linked' ? { linked: true } : {}) } });
    return c.redirect(found.next, 303);
  });

  return app;
}
