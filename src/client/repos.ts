import { parseArgs } from 'node:util';
import type { BadgeAnswer, MembersAnswer, RetentionAnswer, SecretListAnswer } from '../api/answers.js';
import { RETENTION_MAX_DAYS, RETENTION_MAX_KEEP } from '../limits.js';
import { repoPathProblem } from '../names.js';
import { UsageError } from './errors.js';
import { clientConfig, getJson, request, sendJson } from './rest.js';
import { pullSecretCmd, pullTokenCmd } from './pull-tokens.js';
import { upstreamCmd } from './upstream.js';

/** `repo share|unshare|members|badge|retention|upstream|pull-token|pull-secret`: a repo's sharing, badges, retention, forge link and pull tokens (its owner). */
export async function repoCmd(args: string[]): Promise<number> {
  const usage =
    'usage: codehub-build repo share <owner/repo> <user> --role read|write | repo unshare <owner/repo> <user> | repo members <owner/repo> | repo badge <owner/repo> public|private | repo retention <owner/repo> [--keep N] [--days D] [--default] | repo upstream <owner/repo> [--url URL --forge F] [--remove] | repo pull-token create|list|revoke <owner/repo> | repo pull-secret <owner/repo> [--name N] [--namespace NS]';
  const [sub, ...rest] = args;
  if (sub === 'retention') return retentionCmd(rest);
  if (sub === 'upstream') return upstreamCmd(rest);
  if (sub === 'pull-token') return pullTokenCmd(rest);
  if (sub === 'pull-secret') return pullSecretCmd(rest);
  const { values, positionals } = parseArgs({ args: rest, strict: true, allowPositionals: true, options: { role: { type: 'string' } } });
  const [repo = '', user] = positionals;
  const problem = repoPathProblem(repo);
  if (problem) throw new UsageError(`${problem}\n${usage}`);
  if (sub === 'badge') {
    if (positionals.length !== 2 || (user !== 'public' && user !== 'private'))
      throw new UsageError('usage: codehub-build repo badge <owner/repo> public|private');
    const { badge_url: url } = await sendJson<BadgeAnswer>(clientConfig(), `/api/repos/${repo}/badge`, 'PUT', { public: user === 'public' });
    console.log(`${repo}'s badges are ${user === 'public' ? 'public' : 'private (they need a token)'}: ${url}`);
    return 0;
  }
  const path = `/api/repos/${repo}/members`;
  if (sub === 'members' && positionals.length === 1) {
    const { owner, members } = await getJson<MembersAnswer>(clientConfig(), path);
    console.log(`${owner.padEnd(32)} owner`);
    for (const m of members) console.log(`${m.user.padEnd(32)} ${m.role}`);
    return 0;
  }
  if (!user || positionals.length !== 2) throw new UsageError(usage);
  if (sub === 'unshare') {
    await (await request(clientConfig(), `${path}/${user}`, 'DELETE')).text();
    console.log(`${repo} is no longer shared with ${user}`);
    return 0;
  }
  if (sub !== 'share' || (values.role !== 'read' && values.role !== 'write')) throw new UsageError(usage);
  await sendJson(clientConfig(), `${path}/${user}`, 'PUT', { role: values.role });
  console.log(`shared ${repo} with ${user} (${values.role})`);
  return 0;
}

/** `secret set|list|remove`: a repo's build secrets; values go up from stdin and never come back. */
export async function secretCmd(args: string[]): Promise<number> {
  const [sub, repo = '', name] = args;
  const usage = 'usage: codehub-build secret set <owner/repo> <NAME> < value-file | secret list <owner/repo> | secret remove <owner/repo> <NAME>';
  const problem = repoPathProblem(repo);
  if (problem) throw new UsageError(`${problem}\n${usage}`);
  const path = `/api/repos/${repo}/secrets`;
  if (sub === 'list' && args.length === 2) {
    const { secrets } = await getJson<SecretListAnswer>(clientConfig(), path);
    if (secrets.length === 0) console.log(`${repo} has no secrets`);
    for (const s of secrets) console.log(`${s.name.padEnd(32)} updated ${s.updated_at}`);
    return 0;
  }
  if ((sub !== 'set' && sub !== 'remove') || args.length !== 3 || !name) throw new UsageError(usage);
  const target = `${path}/${encodeURIComponent(name)}`;
  if (sub === 'remove') {
    await (await request(clientConfig(), target, 'DELETE')).text();
    console.log(`removed secret ${name} of ${repo}`);
    return 0;
  }
  if (process.stdin.isTTY) process.stderr.write(`value of ${name} (end with Ctrl-D):\n`);
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  let value = Buffer.concat(chunks);
  // `echo value | codehub-build secret set` must not store the newline echo added.
  if (value.at(-1) === 0x0a) value = value.subarray(0, value.at(-2) === 0x0d ? -2 : -1);
  // The answer is read (not left unread) so the connection closes and the command exits at once, not after the server's keep-alive.
  await (await request(clientConfig(), target, 'PUT', value)).text();
  console.log(`set secret ${name} of ${repo} (${value.length} bytes)`);
  return 0;
}

/** `repo retention <owner/repo> [--keep N] [--days D] [--default]`: show or set the owner's retention override. */
async function retentionCmd(args: string[]): Promise<number> {
  const usage =
    'usage: codehub-build repo retention <owner/repo> [--keep N] [--days D] [--default] | repo upstream <owner/repo> [--url URL --forge F] [--remove]';
  const { values, positionals } = parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: { keep: { type: 'string' }, days: { type: 'string' }, default: { type: 'boolean' } },
  });
  const [repo = ''] = positionals;
  const problem = repoPathProblem(repo);
  if (problem || positionals.length !== 1) throw new UsageError(`${problem ?? 'one repo, please'}\n${usage}`);
  if (values.default && (values.keep !== undefined || values.days !== undefined))
    throw new UsageError(`--default resets both keep and days to the server's; it takes no --keep or --days\n${usage}`);
  const body: Record<string, number | null> = {};
  for (const [key, max] of [
    ['keep', RETENTION_MAX_KEEP],
    ['days', RETENTION_MAX_DAYS],
  ] as const) {
    const raw = values[key];
    if (raw === undefined) continue;
    if (!/^\d{1,6}$/.test(raw) || Number(raw) > max) throw new UsageError(`--${key} must be a whole number from 0 to ${max}; got ${JSON.stringify(raw)}`);
    body[key] = Number(raw);
  }
  if (values.default) Object.assign(body, { keep: null, days: null });
  const path = `/api/repos/${repo}/retention`;
  const v = Object.keys(body).length
    ? await sendJson<RetentionAnswer>(clientConfig(), path, 'PUT', body)
    : await getJson<RetentionAnswer>(clientConfig(), path);
  const of = (key: 'keep' | 'days') =>
    v.override[key] === null ? `${v[key]} (the server's default)` : `${v[key]} (this repo's; the server's default is ${v.defaults[key]})`;
  console.log(`${repo}: each branch keeps the tags of its newest ${of('keep')} builds, and every tag pushed within ${of('days')} days`);
  console.log("always kept: each live branch head's tags, git tags' tags, latest; a deleted branch's tags go after CODEHUB_RETENTION_GRACE");
  return 0;
}
