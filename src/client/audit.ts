import { parseArgs } from 'node:util';
import type { AuditEventAnswer, AuditListAnswer } from '../api/answers.js';
import { UsageError } from './errors.js';
import { clientConfig, getJson } from './rest.js';
import { printTable } from './table.js';

const USAGE = 'usage: codehub-build audit [--actor A] [--action X] [--repo owner/name] [--since T] [--limit N] [--before ID] [--json]';

/**
 * `audit [--actor] [--action] [--repo] [--since] [--limit] [--before] [--json]`: the audit log as the token may
 * see it (an admin's everything, an owner's their repos'), newest first. The server checks the filters and
 * says which one is wrong.
 */
export async function auditCmd(args: string[]): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(args);
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n${USAGE}`);
  }
  const { values, positionals } = parsed;
  if (positionals.length) throw new UsageError(`audit takes no arguments (got ${positionals.map((p) => JSON.stringify(p)).join(' ')})\n${USAGE}`);
  const q = new URLSearchParams();
  for (const k of ['actor', 'action', 'repo', 'since', 'limit', 'before'] as const) if (values[k] !== undefined) q.set(k, values[k]!);
  const page = await getJson<AuditListAnswer>(clientConfig(), `/api/audit${q.size ? `?${q}` : ''}`);
  if (values.json) {
    console.log(JSON.stringify(page, null, 2));
    return 0;
  }
  if (page.events.length === 0) {
    console.log('no events');
    return 0;
  }
  printTable([['ID', 'TIME', 'ACTOR', 'ACTION', 'REPO', 'TARGET', 'FROM', 'DETAIL'], ...page.events.map(row)]);
  if (page.next !== null) console.log(`older events: codehub-build audit --before ${page.next}${q.size ? ' (with the same filters)' : ''}`);
  return 0;
}

function parse(args: string[]) {
  return parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: {
      actor: { type: 'string' },
      action: { type: 'string' },
      repo: { type: 'string' },
      since: { type: 'string' },
      limit: { type: 'string' },
      before: { type: 'string' },
      json: { type: 'boolean' },
    },
  });
}

function row(e: AuditEventAnswer): string[] {
  const who = e.actor_kind === 'token' || e.actor_kind === 'session' ? `${e.actor} (${e.actor_kind} ${e.token_id ?? '?'})` : e.actor;
  return [
    String(e.id),
    e.at.slice(0, 19).replace('T', ' '),
    who,
    e.action,
    e.repo ?? '-',
    e.target,
    e.address ?? '-',
    e.detail ? JSON.stringify(e.detail) : '',
  ];
}
