import { parseArgs } from 'node:util';
import { createLogger } from '../log.js';
import { openRegistryOps } from '../registry/ops.js';
import { nameProblem, repoPathProblem } from '../names.js';
import { GcScopeError, type GcReport, type Removal } from '../registry/gc.js';
import { loadSettings } from '../settings.js';
import { NO_QUOTA } from '../store/schema.js';
import { formatBytes, parseSize } from '../units.js';
import { AuditLog, CLI_ACTOR } from '../auth/audit.js';
import { UsageError, withStore } from './common.js';

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
  const set = withStore((s) => {
    const ok = s.accounts.setQuota(name, bytes);
    if (ok) new AuditLog(s).record(CLI_ACTOR, 'user.quota', name, { detail: { bytes: bytes === NO_QUOTA ? 'none' : bytes === null ? 'default' : bytes } });
    return ok;
  });
  if (!set) throw new UsageError(`no user ${name}`);
  const settings = loadSettings();
  const text =
    bytes === NO_QUOTA
      ? 'no quota'
      : bytes === null
        ? `the server's default (CODEHUB_QUOTA: ${settings.quotaBytes ? formatBytes(settings.quotaBytes) : 'none'})`
        : formatBytes(bytes);
  console.log(`${name}'s quota: ${text}`);
  return 0;
}

/**
 * `gc [--dry-run] [--repo owner/repo] [--json]` (on the server): retention now, then expired logs. Prints
 * every tag it removes (or would) with the bytes that go with it; each removal is also a JSON log line on stderr.
 */
export async function gcCmd(args: string[]): Promise<number> {
  const usage = 'usage: codehub-build gc [--dry-run] [--repo owner/repo] [--json]';
  const { values, positionals } = parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: { 'dry-run': { type: 'boolean' }, repo: { type: 'string' }, json: { type: 'boolean' } },
  });
  if (positionals.length)
    throw new UsageError(
      `gc takes no arguments (got ${positionals.map((p) => JSON.stringify(p)).join(' ')}); to limit it to one repo: --repo owner/repo\n${usage}`,
    );
  if (values.repo !== undefined) {
    const problem = repoPathProblem(values.repo);
    if (problem) throw new UsageError(`--repo: ${problem}\n${usage}`);
  }
  const settings = loadSettings();
  const log = createLogger();
  const report = await withStore(async (store) => {
    const ops = openRegistryOps(settings, store, log);
    try {
      const r = await ops.gc.run({ dryRun: values['dry-run'] === true, ...(values.repo ? { repo: values.repo } : {}) });
      // The operator ran it (whoever can run it owns the data dir); a dry run removed nothing.
      if (!r.dryRun) new AuditLog(store).gcRemovals(CLI_ACTOR, r.removals);
      return r;
    } catch (e) {
      if (e instanceof GcScopeError) throw new UsageError(e.message);
      throw e;
    }
  });
  if (values.json) {
    console.log(JSON.stringify(report, null, 2));
    return 0;
  }
  printReport(report, settings.registry);
  return report.skipped.length ? 3 : 0;
}

function printReport(r: GcReport, registry: string): void {
  const verb = r.dryRun ? 'would remove' : 'removed';
  console.log(`gc${r.dryRun ? ' --dry-run (nothing is changed)' : ''}: ${r.repositories} image repositor${r.repositories === 1 ? 'y' : 'ies'} of ${registry}`);
  for (const x of r.removals) console.log(`${verb} ${describe(x)}`);
  const tags = r.removals.filter((x) => x.tag !== null).length;
  const untagged = r.removals.length - tags;
  console.log(
    `${verb} ${tags} tag${tags === 1 ? '' : 's'}${untagged ? ` and ${untagged} untagged manifest${untagged === 1 ? '' : 's'}` : ''}, ${formatBytes(r.bytes)} (${r.bytes} bytes); kept ${r.kept} tag${r.kept === 1 ? '' : 's'}`,
  );
  for (const o of r.owners) if (o.before !== o.after) console.log(`usage of ${o.owner}: ${formatBytes(o.before)} -> ${formatBytes(o.after)}`);
  if (r.logs.expired) console.log(`logs: ${r.logs.expired} ${r.dryRun ? 'would expire' : 'expired'} (${formatBytes(r.logs.bytes)})`);
  if (r.scans.images)
    console.log(
      `scans: forgot ${r.scans.images} removed image${r.scans.images === 1 ? "'s" : "s'"} findings and ${r.scans.layers} layer inventor${r.scans.layers === 1 ? 'y' : 'ies'}`,
    );
  for (const s of r.skipped) console.log(`skipped ${s.repository}: ${s.reason}`);
  for (const t of r.topLevel) {
    console.log(
      `${t.repository} is outside every namespace (pushed before the token server refused top-level names): its usage counts toward user ${t.owner}; delete its tags through the registry API with an admin token to free it`,
    );
  }
  if (!r.dryRun && r.bytes) console.log('the registry frees the blobs at its next garbage collection (scripts/stack.sh gc for the local registry)');
}

function describe(x: Removal): string {
  const what = x.tag === null ? `${x.repository}@${x.digest}` : `${x.repository}:${x.tag}`;
  return `${what}  ${formatBytes(x.bytes)}  ${x.how === 'tombstone' ? '(this tag only) ' : ''}${x.tag === null ? '' : `[${x.digest.slice(0, 19)}] `}${x.reason}`;
}
