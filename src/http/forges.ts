import { Hono } from 'hono';
import type { Access } from '../auth/access.js';
import type { AuditLog } from '../auth/audit.js';
import type { HookAnswerView } from '../api/answers.js';
import type { Caller } from '../store/scopes.js';
import type { UpstreamLinks } from '../forges/links.js';
import type { HookAnswer, WebhookService } from '../forges/webhooks.js';
import { FORGE_NAMES } from '../forges/index.js';
import type { CommitStatusRow } from '../store/schema.js';
import { audited } from './audited.js';
import { readBody, readJson } from './body.js';
import { checkRepoParam } from './lookups.js';
import { buildView } from './views.js';

/** GitHub caps its payloads at 25 MB, but a push's (20 commits at most) is a few KiB; this leaves room for Gitea's and GitLab's longer lists. */
export const MAX_FORGE_HOOK_BYTES = 5 * 1024 * 1024;
/** A link's JSON: a URL, two secrets and an API URL. */
export const MAX_LINK_BODY = 64 * 1024;
/**
 * How long a delivery's answer waits for its fetch and builds. Forges give up on a hook after 10 s (GitHub,
 * GitLab) or 5 s (Gitea's default) and count it failed; a slower first fetch carries on after a 202.
 */
const ANSWER_WAIT_MS = 3000;

export interface ForgeHookDeps {
  webhooks: WebhookService;
  publicUrl: string;
  /** The statuses owed for builds, for their views. */
  statusesOf: (ids: number[]) => Map<number, CommitStatusRow>;
}

/** `POST /hooks/github|gitea|gitlab` (mounted under /hooks): the forges' push webhooks. */
export function forgeHookRoutes(deps: ForgeHookDeps): Hono {
  const app = new Hono();
  for (const forge of FORGE_NAMES) {
    app.post(`/${forge}`, async (c) => {
      const body = await readBody(c, { maxBytes: MAX_FORGE_HOOK_BYTES, tooLarge: `webhook body larger than ${MAX_FORGE_HOOK_BYTES} bytes` });
      // The delivery goes on when the forge stops waiting: it is verified and recorded, and its fetch is not the forge's to cancel.
      const work = deps.webhooks.receive(forge, { headers: c.req.raw.headers, body }, c.req.query('repo'));
      let timer: NodeJS.Timeout | undefined;
      const waited = await Promise.race([
        work,
        new Promise<null>((r) => {
          timer = setTimeout(() => r(null), ANSWER_WAIT_MS);
        }),
      ]).finally(() => clearTimeout(timer));
      if (waited === null) {
        work.catch(() => {}); // logged by the service
        return c.json({ result: 'accepted', message: "verified; still fetching from the upstream, the builds follow (see the repo's builds)" }, 202);
      }
      return c.json(answerView(waited, deps));
    });
  }
  return app;
}

function answerView(a: HookAnswer, deps: ForgeHookDeps): HookAnswerView {
  if (!('builds' in a)) return a;
  const statuses = deps.statusesOf(a.builds.map((b) => b.id));
  return { ...a, builds: a.builds.map((b) => buildView(b, deps.publicUrl, statuses.get(b.id))) };
}

/** `PUT|GET|DELETE /api/repos/:owner/:repo/upstream` (mounted under /api): the owner's link to a forge. */
export function upstreamRoutes(deps: { links: UpstreamLinks; access: Access; audit: AuditLog }): Hono<{ Variables: { caller: Caller } }> {
  const app = new Hono<{ Variables: { caller: Caller } }>();
  const owned = (caller: Caller, owner: string, repo: string) => {
    checkRepoParam(`${owner}/${repo}`);
    deps.access.require(caller, owner, repo, 'owner');
  };
  app.put('/repos/:owner/:repo/upstream', async (c) => {
    const { owner, repo } = c.req.param();
    owned(c.get('caller'), owner, repo);
    const body = await readJson(c, {
      maxBytes: MAX_LINK_BODY,
      tooLarge: 'the body is {"url", "forge", "webhook_secret", "status_token", "api_url"}, at most 64 KiB',
      notJson: (why) => `the body is not JSON (${why}); send {"url", "forge", "webhook_secret", "status_token", "api_url"}`,
    });
    const { view, created } = await deps.links.set(owner, repo, body);
    // The URL was refused if it held credentials; the webhook secret and status token are never recorded.
    audited(deps.audit, c, 'repo.upstream.link', `${owner}/${repo}`, { repo: `${owner}/${repo}`, detail: { url: view.url, forge: view.forge, created } });
    return c.json(view, created ? 201 : 200);
  });
  app.get('/repos/:owner/:repo/upstream', (c) => {
    const { owner, repo } = c.req.param();
    owned(c.get('caller'), owner, repo);
    return c.json(deps.links.get(owner, repo));
  });
  app.delete('/repos/:owner/:repo/upstream', (c) => {
    const { owner, repo } = c.req.param();
    owned(c.get('caller'), owner, repo);
    deps.links.remove(owner, repo);
    audited(deps.audit, c, 'repo.upstream.unlink', `${owner}/${repo}`, { repo: `${owner}/${repo}` });
    return c.json({ repo: `${owner}/${repo}`, removed: true });
  });
  return app;
}
