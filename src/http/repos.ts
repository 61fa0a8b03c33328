import { Hono } from 'hono';
import { BadgeRequest, MemberRequest, RetentionRequest } from '../api/requests.js';
import type { Access } from '../auth/access.js';
import type { AuditLog } from '../auth/audit.js';
import { membersOf, share, unshare } from '../auth/members.js';
import { setPublicBadge } from '../auth/public-badge.js';
import type { Policy } from '../registry/retention.js';
import { retentionOf, setRetention, type RetentionSettings } from '../registry/retention-settings.js';
import { MAX_SECRET_BYTES } from '../limits.js';
import type { RepoSecrets } from '../secrets/vault.js';
import type { Caller } from '../store/scopes.js';
import type { Store } from '../store/store.js';
import { audited } from './audited.js';
import { readBody, readRequest } from './body.js';
import { checkRepoParam } from './lookups.js';
import { done } from './outcome.js';

export interface RepoRoutesDeps {
  store: Store;
  access: Access;
  secrets: RepoSecrets;
  publicUrl: string;
  /** The server's retention defaults (CODEHUB_RETENTION_KEEP, CODEHUB_RETENTION_DAYS), shown beside an override. */
  retention: Policy;
  audit: AuditLog;
}

type Env = { Variables: { caller: Caller } };

/** Bytes a repo setting's JSON may have (a badge flag, a retention override, a member's role). */
export const MAX_SETTING_BODY = 1024;

/**
 * A repo's settings, its owner's only, under /api (the caller is signed in): secrets, the public badge, the
 * retention override and the users it is shared with. The rules are the services'; this maps them to HTTP.
 */
export function repoRoutes(deps: RepoRoutesDeps): Hono<Env> {
  const app = new Hono<Env>();
  const owned = (c: { get(k: 'caller'): Caller }, owner: string, repo: string): void => {
    checkRepoParam(`${owner}/${repo}`);
    deps.access.require(c.get('caller'), owner, repo, 'owner');
  };

  // Names and times go out; a value comes in as the raw request body.
  app.get('/repos/:owner/:repo/secrets', (c) => {
    const { owner, repo } = c.req.param();
    owned(c, owner, repo);
    return c.json({
      repo: `${owner}/${repo}`,
      secrets: deps.secrets.list(owner, repo).map((s) => ({ name: s.name, created_at: s.createdAt, updated_at: s.updatedAt })),
    });
  });
  app.put('/repos/:owner/:repo/secrets/:name', async (c) => {
    const { owner, repo, name } = c.req.param();
    owned(c, owner, repo);
    deps.secrets.set(owner, repo, name, await readBody(c, { maxBytes: MAX_SECRET_BYTES, tooLarge: `a secret value may be at most ${MAX_SECRET_BYTES} bytes` }));
    audited(deps.audit, c, 'secret.set', name, { repo: `${owner}/${repo}` }); // the name only, never the value
    return c.json({ repo: `${owner}/${repo}`, name, set: true });
  });
  app.delete('/repos/:owner/:repo/secrets/:name', (c) => {
    const { owner, repo, name } = c.req.param();
    owned(c, owner, repo);
    deps.secrets.remove(owner, repo, name);
    audited(deps.audit, c, 'secret.remove', name, { repo: `${owner}/${repo}` });
    return c.json({ repo: `${owner}/${repo}`, name, removed: true });
  });

  // A public badge answers anyone, so a README outside code-hub can show it; the rest of the repo stays private.
  app.put('/repos/:owner/:repo/badge', async (c) => {
    const { owner, repo } = c.req.param();
    owned(c, owner, repo);
    // A body that is not JSON is told what to send, as one of the wrong shape is.
    const body = await readRequest(c, BadgeRequest, { maxBytes: MAX_SETTING_BODY, tooLarge: 'the body is {"public": true|false}', notJson: { value: null } });
    const set = done(setPublicBadge(deps.store, owner, repo, body.public));
    return c.json({ repo: `${owner}/${repo}`, public_badge: set.public, badge_url: `${deps.publicUrl}/badge/${owner}/${repo}/${set.branch}.svg` });
  });

  // How many builds per branch and how many days of the repo's images stay.
  const retentionView = (owner: string, repo: string, s: RetentionSettings) => ({
    repo: `${owner}/${repo}`,
    keep: s.keep,
    days: s.days,
    override: s.override,
    defaults: s.defaults,
  });
  app.get('/repos/:owner/:repo/retention', (c) => {
    const { owner, repo } = c.req.param();
    owned(c, owner, repo);
    return c.json(retentionView(owner, repo, retentionOf(deps.store, deps.retention, owner, repo)));
  });
  app.put('/repos/:owner/:repo/retention', async (c) => {
    const { owner, repo } = c.req.param();
    owned(c, owner, repo);
    const change = await readRequest(c, RetentionRequest, {
      maxBytes: MAX_SETTING_BODY,
      tooLarge: 'the body is {"keep": N, "days": D}',
      notJson: { value: null },
    });
    const set = done(setRetention(deps.store, deps.retention, owner, repo, change));
    audited(deps.audit, c, 'repo.retention', `${owner}/${repo}`, { repo: `${owner}/${repo}`, detail: { override: set.override } });
    return c.json(retentionView(owner, repo, set));
  });

  // Sharing: a user gets read (clone, builds, logs) or write (also push, cancel, rebuild).
  app.get('/repos/:owner/:repo/members', (c) => {
    const { owner, repo } = c.req.param();
    owned(c, owner, repo);
    return c.json({ repo: `${owner}/${repo}`, owner, members: membersOf(deps.store, owner, repo) });
  });
  app.put('/repos/:owner/:repo/members/:user', async (c) => {
    const { owner, repo, user } = c.req.param();
    owned(c, owner, repo);
    const { role } = await readRequest(c, MemberRequest, {
      maxBytes: MAX_SETTING_BODY,
      tooLarge: 'the body is {"role": "read"|"write"}',
      notJson: { value: null },
    });
    const shared = done(share(deps.store, owner, repo, user, role));
    audited(deps.audit, c, 'repo.share', shared.user, { repo: `${owner}/${repo}`, detail: { role: shared.role } });
    return c.json({ repo: `${owner}/${repo}`, user: shared.user, role: shared.role });
  });
  app.delete('/repos/:owner/:repo/members/:user', (c) => {
    const { owner, repo, user } = c.req.param();
    owned(c, owner, repo);
    done(unshare(deps.store, owner, repo, user));
    audited(deps.audit, c, 'repo.unshare', user, { repo: `${owner}/${repo}` });
    return c.json({ repo: `${owner}/${repo}`, user, removed: true });
  });

  return app;
}
