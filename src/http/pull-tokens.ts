import { Hono } from 'hono';
import { PullTokenRequest } from '../api/requests.js';
import type { Access } from '../auth/access.js';
import type { AuditLog } from '../auth/audit.js';
import { daysToMs } from '../auth/expiry.js';
import { createPullToken, listPullTokens, revokePullToken } from '../auth/pull-tokens.js';
import { BadRequestError } from '../errors.js';
import type { Caller } from '../store/scopes.js';
import type { Store } from '../store/store.js';
import { audited } from './audited.js';
import { readRequest } from './body.js';
import { checkRepoParam } from './lookups.js';
import { done } from './outcome.js';
import { MAX_SETTING_BODY } from './repos.js';

export interface PullTokenRoutesDeps {
  store: Store;
  access: Access;
  /** The registry (host[:port]) a pull token signs in to, told to the client for its docker config. */
  registry: string;
  /** CODEHUB_TOKEN_MAX_DAYS: the longest a pull token may live; null: no maximum. */
  tokenMaxDays: number | null;
  audit: AuditLog;
}

type Env = { Variables: { caller: Caller } };

/**
 * A repo's pull tokens, its owner's (or an admin's), under /api: made (shown once), listed, revoked; each made or
 * revoked is in the audit log. The rules are src/auth/pull-tokens.ts's; this maps them to HTTP.
 */
export function pullTokenRoutes(deps: PullTokenRoutesDeps): Hono<Env> {
  const app = new Hono<Env>();
  const owned = (caller: Caller, owner: string, repo: string): void => {
    checkRepoParam(`${owner}/${repo}`);
    deps.access.require(caller, owner, repo, 'owner');
  };

  app.post('/repos/:owner/:repo/pull-tokens', async (c) => {
    const { owner, repo } = c.req.param();
    const caller = c.get('caller');
    owned(caller, owner, repo);
    const body = await readRequest(c, PullTokenRequest, {
      maxBytes: MAX_SETTING_BODY,
      tooLarge: 'the body is {"label": L, "expires_in_days": D}',
      notJson: { value: null },
      empty: {},
    });
    const lifetime = body.expires_in_days === undefined ? {} : { lifetimeMs: daysToMs(body.expires_in_days) };
    const made = done(createPullToken(deps.store, { owner, repo, by: caller.user.name }, { label: body.label, ...lifetime }, { maxDays: deps.tokenMaxDays }));
    audited(deps.audit, c, 'pull_token.create', made.username, { repo: `${owner}/${repo}`, detail: { label: made.label } });
    return c.json({ id: made.id, username: made.username, token: made.token, label: made.label, expires_at: made.expiresAt, registry: deps.registry }, 201);
  });

  app.get('/repos/:owner/:repo/pull-tokens', (c) => {
    const { owner, repo } = c.req.param();
    owned(c.get('caller'), owner, repo);
    const { tokens } = done(listPullTokens(deps.store, owner, repo));
    return c.json({
      repo: `${owner}/${repo}`,
      tokens: tokens.map((t) => ({
        id: t.id,
        username: t.username,
        label: t.label,
        created_by: t.createdBy,
        created_at: t.createdAt,
        last_used_at: t.lastUsedAt,
        expires_at: t.expiresAt,
      })),
    });
  });

  app.delete('/repos/:owner/:repo/pull-tokens/:id', (c) => {
    const { owner, repo, id } = c.req.param();
    const caller = c.get('caller');
    owned(caller, owner, repo);
    if (!/^[1-9][0-9]{0,15}$/.test(id)) throw new BadRequestError(`${JSON.stringify(id.slice(0, 40))} is not a pull token id (the number of pull-<id>)`);
    const revoked = done(revokePullToken(deps.store, owner, repo, Number(id)));
    audited(deps.audit, c, 'pull_token.revoke', revoked.username, { repo: `${owner}/${repo}`, detail: { label: revoked.label } });
    return c.json({ repo: `${owner}/${repo}`, id: revoked.id, username: revoked.username, revoked: true });
  });

  return app;
}
