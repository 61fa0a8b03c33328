import { parseArgs } from 'node:util';
import type { BuildAnswer as BuildView, BuildListAnswer } from '../api/answers.js';
import { platformsText } from '../limits.js';
import { SHA_PREFIX_RE } from '../names.js';
import { ClientError, UsageError } from './errors.js';
import { revParse } from './git.js';
import { clientConfig, getJson, postJson, request, type ClientConfig } from './rest.js';
import { printTable } from './table.js';

/** `builds [--repo] [--commit] [--ref] [--status] [--limit] [--json]`: the builds the caller may see, newest first. */
export async function buildsCmd(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      repo: { type: 'string' },
      commit: { type: 'string' },
      ref: { type: 'string' },
      status: { type: 'string' },
      limit: { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  const cfg = clientConfig();
  const q = new URLSearchParams();
  for (const k of ['repo', 'commit', 'ref', 'status', 'limit'] as const) if (values[k]) q.set(k, values[k]!);
  const { builds } = await getJson<BuildListAnswer>(cfg, `/api/builds?${q}`);
  if (values.json) {
    console.log(JSON.stringify(builds, null, 2));
    return 0;
  }
  if (builds.length === 0) {
    console.log('no builds');
    return 0;
  }
  const rows = builds.map((b) => [`#${b.id}`, b.status, b.repo, ...origin(b), b.image, b.digest ? b.digest.slice(0, 19) : (b.reason ?? '')]);
  printTable([['BUILD', 'STATUS', 'REPO', 'REF', 'COMMIT', 'IMAGE', 'DIGEST / REASON'], ...rows]);
  return 0;
}

/** The REF and COMMIT of a build: a push's ref name and short sha; an upload's folder (it has no commit). */
function origin(b: BuildView): [string, string] {
  return b.source === 'upload' ? [`upload ${b.upload?.folder ?? ''}`, '-'] : [b.ref_name ?? '', (b.commit ?? '').slice(0, 7)];
}

/** `logs <commit|build-id> [--follow] [--timestamps]`; with --follow the exit status says whether every build succeeded. */
export async function logsCmd(args: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: { follow: { type: 'boolean', short: 'f' }, timestamps: { type: 'boolean', short: 't' } },
  });
  if (positionals.length !== 1) throw new UsageError('usage: codehub-build logs <commit|build-id> [--follow] [--timestamps]');
  const cfg = clientConfig();
  const builds = await resolveBuilds(cfg, positionals[0]!);
  const q = new URLSearchParams();
  if (values.follow) q.set('follow', '1');
  if (values.timestamps) q.set('timestamps', '1');
  for (const [i, b] of builds.entries()) {
    if (builds.length > 1) process.stdout.write(`${i ? '\n' : ''}==> build #${b.id} ${b.repo} ${b.image} ${origin(b).join(' @ ')}: ${b.status} <==\n`);
    const res = await request(cfg, `/api/builds/${b.id}/log?${q}`);
    for await (const chunk of res.body) process.stdout.write(chunk as Buffer);
  }
  if (values.follow) {
    const ended = await Promise.all(builds.map((b) => getJson<BuildView>(cfg, `/api/builds/${b.id}`)));
    return ended.every((b) => b.status === 'succeeded' || b.status === 'skipped') ? 0 : 1;
  }
  return 0;
}

/** `status [<revision>]`: the builds of HEAD (or that revision) of the checkout; exit 4 when it has none. */
export async function statusCmd(args: string[]): Promise<number> {
  const { positionals } = parseArgs({ args, strict: true, allowPositionals: true, options: {} });
  if (positionals.length > 1) throw new UsageError('usage: codehub-build status [<revision>]');
  const rev = positionals[0] ?? 'HEAD';
  const sha = await revParse(rev);
  if (!sha) throw new UsageError(`${JSON.stringify(rev)} is not a commit of the git checkout in ${process.cwd()}`);
  const cfg = clientConfig();
  const { builds } = await getJson<BuildListAnswer>(cfg, `/api/builds?commit=${sha}&limit=200`);
  if (builds.length === 0) {
    console.log(`no builds of ${sha.slice(0, 12)} (${rev}): has it been pushed to the build remote?`);
    return 4;
  }
  printTable([
    ['BUILD', 'STATUS', 'REPO', 'REF', 'IMAGE', 'DIGEST / REASON'],
    ...builds.map((b) => [`#${b.id}`, b.status, b.repo, b.ref_name ?? '', b.image, b.digest ?? b.reason ?? '']),
  ]);
  for (const b of builds) {
    const platforms = platformsText(b.platforms);
    if (platforms) console.log(`#${b.id} platforms: ${platforms}`);
  }
  for (const repo of new Set(builds.map((b) => b.repo))) console.log(`page: ${cfg.url}/repos/${repo}/commits/${sha.slice(0, 7)}`);
  return 0;
}

/** `cancel <id>` and `rebuild <id>`. */
export async function buildActionCmd(action: 'cancel' | 'rebuild', args: string[]): Promise<number> {
  const id = /^#?(\d{1,15})$/.exec(args[0] ?? '');
  if (args.length !== 1 || !id) throw new UsageError(`usage: codehub-build ${action} <build-id>`);
  const b = await postJson<BuildView>(clientConfig(), `/api/builds/${id[1]}/${action}`);
  if (action === 'cancel') console.log(`build #${b.id} ${b.status}: ${b.reason ?? ''}`);
  else console.log(`build #${b.id} queued: a rebuild of #${id[1]} (${b.repo} ${origin(b).join(' @ ')})\n  page: ${b.web_url}`);
  return 0;
}

/**
 * A number of at most 6 digits (or `#N`) is a build id; anything else of 4-40 hex digits is a commit prefix.
 * A prefix naming several commits lists them and fails, so a log is never shown for the wrong commit.
 */
export async function resolveBuilds(cfg: ClientConfig, arg: string): Promise<BuildView[]> {
  const id = /^#?(\d{1,6})$/.exec(arg);
  if (id) return [await getJson<BuildView>(cfg, `/api/builds/${id[1]}`)];
  // A revision of the checkout we are in (HEAD, a branch, a tag) wins over reading it as a hex prefix.
  const prefix = (SHA_PREFIX_RE.test(arg.toLowerCase()) ? null : await revParse(arg)) ?? arg.toLowerCase();
  if (!SHA_PREFIX_RE.test(prefix))
    throw new UsageError(`${JSON.stringify(arg)} is neither a build id, a commit prefix (4 to 40 hex digits) nor a revision of a git checkout here`);
  const { builds } = await getJson<BuildListAnswer>(cfg, `/api/builds?commit=${prefix}&limit=200`);
  if (builds.length === 0) throw new ClientError(`no build found for a commit starting with ${prefix}`, 404);
  const commits = [...new Set(builds.map((b) => `${b.repo}@${b.commit}`))];
  if (commits.length > 1) {
    throw new ClientError(`commit prefix ${prefix} is ambiguous; it matches:\n${commits.map((c) => `  ${c}`).join('\n')}\ngive more digits`, 409);
  }
  return builds.reverse(); // oldest first, as they ran
}
