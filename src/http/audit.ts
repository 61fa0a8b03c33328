import { Hono } from 'hono';
import type { AuditEventAnswer } from '../api/answers.js';
import { AuditListQuery, parseRequest } from '../api/requests.js';
import type { AuditLog } from '../auth/audit.js';
import type { AuditEvent } from '../store/schema.js';
import type { Caller } from '../store/scopes.js';
import { checked } from './outcome.js';

type Env = { Variables: { caller: Caller } };

/** `GET /api/audit` (mounted under /api, the caller signed in): the audit log as the caller may see it. */
export function auditRoutes(deps: { audit: AuditLog }): Hono<Env> {
  const app = new Hono<Env>();
  app.get('/audit', (c) => {
    const q = checked(parseRequest(AuditListQuery, c.req.query()));
    const page = deps.audit.list(c.get('caller'), q);
    return c.json({ events: page.events.map(auditEventView), next: page.next });
  });
  return app;
}

/** An event as the API answers it (and the page and the CLI show it). */
export function auditEventView(e: AuditEvent): AuditEventAnswer {
  return {
    id: e.id,
    at: e.at,
    actor: e.actor,
    actor_kind: e.actorKind as AuditEventAnswer['actor_kind'],
    token_id: e.actorTokenId,
    action: e.action as AuditEventAnswer['action'],
    repo: e.repo,
    target: e.target,
    detail: e.detail === null ? null : (JSON.parse(e.detail) as Record<string, unknown>),
    address: e.address,
  };
}
