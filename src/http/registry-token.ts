import { Hono } from 'hono';
import type { Access } from '../auth/access.js';
import { isPullToken, parseAuthorization } from '../auth/tokens.js';
import { BadRequestError } from '../errors.js';
import type { Logger } from '../log.js';
import { grant, parseScope, type AccessEntry, type BuildCredentials, type Requester, type TokenIssuer } from '../registry/token.js';
import type { Store } from '../store/store.js';
import type { Authenticator } from './auth.js';

export interface RegistryTokenDeps {
  issuer: TokenIssuer;
  builds: BuildCredentials;
  auth: Authenticator;
  access: Access;
  store: Store;
  log: Logger;
  /** Why a namespace takes no pushes now (its owner is over quota), or null. */
  pushRefusal?: (owner: string) => string | null;
}

/**
 * GET /registry/token: the realm of the registry's token auth. Basic auth with a user and token (or a
 * build's own credential, or a pull token); none is anonymous. Answers with what the caller may have of the scopes asked
 * (possibly nothing: the registry then refuses the operation), as the distribution token spec describes.
 */
export function registryTokenRoutes(deps: RegistryTokenDeps): Hono {
  const app = new Hono();
  app.get('/token', (c) => {
    const service = c.req.query('service');
    if (service !== deps.issuer.service) throw new BadRequestError(`this token server issues tokens for service ${JSON.stringify(deps.issuer.service)}`);
    const scopes = (c.req.queries('scope') ?? []).flatMap((s) => s.split(' ')).filter(Boolean);
    if (scopes.length > 50) throw new BadRequestError('at most 50 scopes per token');
    let who: Requester = { kind: 'anonymous' };
    const cred = parseAuthorization(c.req.header('authorization'));
    const build = cred?.user?.startsWith('codehub-build-') ? deps.builds.check(cred.user, cred.token) : undefined;
    if (build) who = { kind: 'build', cred: build };
    // A deployment's pull token (user `pull-<id>`): by its prefix, so a user named pull-7 still signs in as one.
    else if (cred && isPullToken(cred.token)) who = { kind: 'pull', ...deps.auth.pullOrChallenge(c, cred, 'codehub-build registry') };
    else if (cred) who = { kind: 'user', caller: deps.auth.basicOrChallenge(c, 'codehub-build registry') };
    const access: AccessEntry[] = [];
    const refusals: string[] = [];
    for (const s of scopes) {
      const want = parseScope(s);
      if (!want) throw new BadRequestError(`scope ${JSON.stringify(s.slice(0, 200))} is not type:name:actions`);
      const actions = grant(who, want, deps);
      // An owner over quota gets no push (a build already queued keeps its own credential and finishes).
      const refusal = who.kind === 'user' && actions.includes('push') ? deps.pushRefusal?.(want.name.split('/')[0]!) : null;
      if (refusal) refusals.push(refusal);
      else if (actions.length) access.push({ type: want.type, name: want.name, actions });
    }
    if (refusals.length) {
      // docker shows a token server's error message; a token without push would only get the registry's bare "denied".
      deps.log.info('registry push refused: over quota', { sub: who.kind === 'user' ? who.caller.user.name : '', reason: refusals[0] });
      return c.json({ errors: [{ code: 'DENIED', message: refusals[0] }] }, 403);
    }
    const sub = who.kind === 'user' ? who.caller.user.name : who.kind === 'build' || who.kind === 'pull' ? cred!.user! : '';
    const t = deps.issuer.issue(sub, access);
    deps.log.debug('registry token issued', { sub, access: access.map((a) => `${a.name}:${a.actions.join(',')}`) });
    return c.json({ token: t.token, access_token: t.token, expires_in: t.expiresIn, issued_at: t.issuedAt });
  });
  return app;
}
