import { parseArgs } from 'node:util';
import { clientConfig, getJson, request } from '../client.js';
import { createLogger } from '../log.js';
import { openRegistryOps } from '../main.js';
import { nameProblem, repoPathProblem } from '../names.js';
import { GcScopeError, type GcReport, type Removal } from '../registry/gc.js';
import type { UsageView } from '../registry/usage.js';
import { loadSettings, RETENTION_MAX_DAYS, RETENTION_MAX_KEEP } from '../settings.js';
import { NO_QUOTA } from '../store/schema.js';
import { formatBytes, parseSize } from '../units.js';
import { printTable, UsageError, withStore } from './common.js';

/** `usage [owner] [--json]`: an owner's registry usage (the caller's by default) against their quota, per image. */
export async function usageCmd(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, strict: true, allowPositionals: true, options: { json: { type: 'boolean' } } });
  if (positionals.length > 1) throw new UsageError('usage: codehub-build usage [owner] [--json]');
  const owner = positionals[0];
  const problem = owner === undefined ? null : nameProblem('user', owner);
  if (problem) throw new UsageError(problem);
  const u = await getJson<UsageView>(clientConfig(), owner ? `/api/users/${owner}/usage` : '/api/usage');
  if (values.json) { console.log(JSON.stringify(u, null, 2)); return 0; }
  const quota = u.quota === null ? 'no quota' : `of a ${formatBytes(u.quota)} quota (${Math.floor((u.bytes / u.quota) * 100)} %)`;
  console.log(`${u.owner}: ${formatBytes(u.bytes)} (${u.bytes} bytes) ${quota}`);
  if (u.images.length) printTable([['IMAGE', 'TAGS', 'SIZE'], ...u.images.map((i) => [`${u.owner}/${i.image}`, String(i.tags), formatBytes(i.bytes)])]);
  console.log('each layer counts once however many images and tags share it; an image\'s size counts it once within the image');
  return 0;
}

/** `repo retention <owner/repo> [--keep N] [--days D] [--default]`: show or set the owner's retention override. */
export async function retentionCmd(args: string[]): Promise<number> {
  const usage = 'usage: codehub-build repo retention <owner/repo> [--keep N] [--days D] [--default]';
  const { values, positionals } = parseArgs({ args, strict: true, allowPositionals: true, options: { keep: { type: 'string' }, days: { type: 'string' }, default: { type: 'boolean' } } });
  const [repo = ''] = positionals;
  const problem = repoPathProblem(repo);
  if (problem || positionals.length !== 1) throw new UsageError(`${problem ?? 'one repo, please'}\n${usage}`);
  if (values.default && (values.keep !== undefined || values.days !== undefined)) throw new UsageError(`--default resets both keep and days to the server's; it takes no --keep or --days\n${usage}`);
  const body: Record<string, number | null> = {};
  for (const [key, max] of [['keep', RETENTION_MAX_KEEP], ['days', RETENTION_MAX_DAYS]] as const) {
    const raw = values[key];
    if (raw === undefined) continue;
    if (!/^\d{1,6}$/.test(raw) || Number(raw) > max) throw new UsageError(`--${key} must be a whole number from 0 to ${max}; got ${JSON.stringify(raw)}`);
    body[key] = Number(raw);
  }
  if (values.default) Object.assign(body, { keep: null, days: null });
  const path = `/api/repos/${repo}/retention`;
  type View = { keep: number; days: number; override: { keep: number | null; days: number | null }; defaults: { keep: number; days: number } };
  const v = Object.keys(body).length
    ? (await (await request(clientConfig(), path, 'PUT', Buffer.from(JSON.stringify(body)), 'application/json')).json()) as View
    : await getJson<View>(clientConfig(), path);
  const of = (key: 'keep' | 'days') => (v.override[key] === null ? `${v[key]} (the server's default)` : `${v[key]} (this repo's; the server's default is ${v.defaults[key]})`);
  console.log(`${repo}: each branch keeps the tags of its newest ${of('keep')} builds, and every tag pushed within ${of('days')} days`);
  console.log('always kept: each live branch head\'s tags, git tags\' tags, latest; a deleted branch\'s tags go after CODEHUB_RETENTION_GRACE');
  return 0;
}

/** `user quota <name> <size|none|default>` (on the server): a user's own quota, none, or back to CODEHUB_QUOTA. */
export function quotaCmd(args: string[]): number {
  const usage = 'usage: codehub-build user quota <name> <size|none|default>   (size like 10GiB, 500MiB, 2GB)';
  const [name = '', value] = args;
  if (args.length !== 2 || value === undefined) throw new UsageError(usage);
  const problem = nameProblem('user', name);
  if (problem) throw new UsageError(problem);
  let bytes: number | null;
  if (value === 'none') bytes = NO_QUOTA;
  else if (value === 'default') bytes = null;
  else {
    const parsed = parseSize(value);
    if (!parsed.ok) throw new UsageError(`${parsed.problem}; or none (no quota), default (CODEHUB_QUOTA)\n${usage}`);
    bytes = parsed.value;
  }
  if (!withStore((s) => s.setQuota(name, bytes))) throw new UsageError(`no user ${name}`);
  const settings = loadSettings();
  const text = bytes === NO_QUOTA ? 'no quota' : bytes === null ? `the server's default (CODEHUB_QUOTA: ${settings.quotaBytes ? formatBytes(settings.quotaBytes) : 'none'})` : formatBytes(bytes);
  console.log(`${name}'s quota: ${text}`);
  return 0;
}

/**
 * `gc [--dry-run] [--repo owner/repo] [--json]` (on the server): retention now, then expired logs. Prints
 * every tag it removes (or would) with the bytes that go with it; each removal is also a JSON log line on stderr.
 */
export async function gcCmd(args: string[]): Promise<number> {
  const usage = 'usage: codehub-build gc [--dry-run] [--repo owner/repo] [--json]';
  const { values, positionals } = parseArgs({ args, strict: true, allowPositionals: true, options: { 'dry-run': { type: 'boolean' }, repo: { type: 'string' }, json: { type: 'boolean' } } });
  if (positionals.length) throw new UsageError(`gc takes no arguments (got ${positionals.map((p) => JSON.stringify(p)).join(' ')}); to limit it to one repo: --repo owner/repo\n${usage}`);
  if (values.repo !== undefined) {
    const problem = repoPathProblem(values.repo);
    if (problem) throw new UsageError(`--repo: ${problem}\n${usage}`);
  }
  const settings = loadSettings();
  const log = createLogger();
  const report = await withStore(async (store) => {
    const ops = openRegistryOps(settings, store, log);
    try {
      return await ops.gc.run({ dryRun: values['dry-run'] === true, ...(values.repo ? { repo: values.repo } : {}) });
    } catch (e) {
      if (e instanceof GcScopeError) throw new UsageError(e.message);
      throw e;
    }
  });
  if (values.json) { console.log(JSON.stringify(report, null, 2)); return 0; }
  printReport(report, settings.registry);
  return report.skipped.length ? 3 : 0;
}

function printReport(r: GcReport, registry: string): void {
  const verb = r.dryRun ? 'would remove' : 'removed';
  console.log(`gc${r.dryRun ? ' --dry-run (nothing is changed)' : ''}: ${r.repositories} image repositor${r.repositories === 1 ? 'y' : 'ies'} of ${registry}`);
  for (const x of r.removals) console.log(`${verb} ${describe(x)}`);
  const tags = r.removals.filter((x) => x.tag !== null).length;
  const untagged = r.removals.length - tags;
  console.log(`${verb} ${tags} tag${tags === 1 ? '' : 's'}${untagged ? ` and ${untagged} untagged manifest${untagged === 1 ? '' : 's'}` : ''}, ${formatBytes(r.bytes)} (${r.bytes} bytes); kept ${r.kept} tag${r.kept === 1 ? '' : 's'}`);
  for (const o of r.owners) if (o.before !== o.after) console.log(`usage of ${o.owner}: ${formatBytes(o.before)} -> ${formatBytes(o.after)}`);
  if (r.logs.expired) console.log(`logs: ${r.logs.expired} ${r.dryRun ? 'would expire' : 'expired'} (${formatBytes(r.logs.bytes)})`);
  for (const s of r.skipped) console.log(`skipped ${s.repository}: ${s.reason}`);
  if (!r.dryRun && r.bytes) console.log('the registry frees the blobs at its next garbage collection (scripts/stack.sh gc for the local registry)');
}

function describe(x: Removal): string {
  const what = x.tag === null ? `${x.repository}@${x.digest}` : `${x.repository}:${x.tag}`;
  return `${what}  ${formatBytes(x.bytes)}  ${x.how === 'tombstone' ? '(this tag only) ' : ''}${x.tag === null ? '' : `[${x.digest.slice(0, 19)}] `}${x.reason}`;
}

/** `image rm <owner/image:tag>`: removes one tag of your image (and its manifest when no other tag needs it). */
export async function imageCmd(args: string[]): Promise<number> {
  const usage = 'usage: codehub-build image rm <owner/image:tag>';
  const [sub, ref = '', ...rest] = args;
  const m = /^([^/:]+)\/([^/:]+):([^/:]+)$/.exec(ref);
  if (sub !== 'rm' || rest.length || !m) throw new UsageError(`${sub === 'rm' && ref ? `${JSON.stringify(ref)} is not owner/image:tag` : 'which tag?'}\n${usage}`);
  const [, owner, image, tag] = m as unknown as [string, string, string, string];
  const problem = repoPathProblem(`${owner}/${image}`);
  if (problem) throw new UsageError(problem);
  const res = await request(clientConfig(), `/api/images/${owner}/${image}/tags/${encodeURIComponent(tag)}`, 'DELETE');
  const r = (await res.json()) as { removed: { tag: string | null; digest: string; how: string }[]; bytes: number };
  for (const x of r.removed) console.log(`removed ${owner}/${image}${x.tag === null ? `@${x.digest}` : `:${x.tag}`}${x.how === 'tombstone' ? ' (its manifest stays for its other tags)' : ''}`);
  console.log(`${owner}'s usage falls by ${formatBytes(r.bytes)}; the registry frees the disk at its next garbage collection`);
  return 0;
}
