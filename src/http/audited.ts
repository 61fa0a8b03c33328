import type { Context } from 'hono';
import { actorOf, type AuditAction, type AuditLog } from '../auth/audit.js';
import type { Caller } from '../store/scopes.js';
import { remoteAddress } from './auth.js';

/**
 * Records `action` in the audit log as done by the request's signed-in caller, from the request's address. Routes
 * call it after the operation succeeded (a refused one changed nothing, so there is nothing to record).
 */
export function audited<E extends { Variables: { caller: Caller } }>(
  log: AuditLog,
  c: Context<E>,
  action: AuditAction,
  target: string,
  more: { repo?: string | null; detail?: Record<string, unknown> } = {},
): void {
  log.record(actorOf(c.var.caller, remoteAddress(c)), action, target, more);
}
