#!/usr/bin/env -S node --max-semi-space-size=2
import { execa } from 'execa';
import { parseArgs } from 'node:util';
import { generateToken, hashToken } from './auth/tokens.js';
import { DEFAULT_SCOPES, parseScopes, scopesProblem } from './auth/scopes.js';
import { ClientError, clientConfig, getJson, postJson, request, type ClientConfig } from './client.js';
import type { BuildView } from './http/views.js';
import { dbFile, startServer } from './main.js';
import { nameProblem, repoPathProblem, SHA_PREFIX_RE } from './names.js';
import { loadSettings, SettingsError } from './settings.js';
import { openDb } from './store/db.js';
import { printTable, UsageError, withStore } from './cli/common.js';
import { backupCmd } from './cli/backup.js';
import { gcCmd, imageCmd, quotaCmd, retentionCmd, usageCmd } from './cli/registry.js';
import { NO_QUOTA } from './store/schema.js';
import { RegistryError } from './registry/client.js';
import { formatBytes } from './units.js';

const USAGE = `usage: codehub-build <command>

server (run where the data dir is):
  serve                       run the server (settings from CODEHUB_* variables; see README)
  migrate                     create or upgrade the database in CODEHUB_DATA_DIR
  backup <dir>                copy the data dir into a new folder while the server runs: the database as one
                              consistent snapshot (SQLite's online backup), then repos, logs and secrets
  user add <name>             add a user; prints the new token (scopes read, push) as the last line
  user list                   users and how many tokens each has
  user remove <name>          remove a user with their tokens and shares (their repos and builds stay)
  token create <user> [--scopes read,push,admin] [--label text]
                              a new token for a user, printed once as the last line (default scopes read,push)
  token list <user>           a user's tokens: id, label, scopes, created, last used (never the token)
  token revoke <token-id>     the token stops working at once
  user quota <name> <size|none|default>
                              the registry bytes the user's images may hold (e.g. 10GiB, 500MiB), no quota, or
                              CODEHUB_QUOTA again; at or over it their builds fail with reason quota
  gc [--dry-run] [--repo owner/repo] [--json]
                              retention now: remove the image tags it no longer keeps (printed, with the bytes
                              that go with them; --dry-run only prints), untagged manifests, and expired logs;
                              exit status 3 when it left a repository for the next run (a build was pushing)

client (talks to CODEHUB_URL with CODEHUB_TOKEN):
  builds [--repo owner/name] [--commit sha-prefix] [--ref ref] [--status s] [--limit n] [--json]
  logs <commit|build-id> [--follow] [--timestamps]
                              print the log of that commit's builds; a commit is a sha prefix (4+ hex digits) or,
                              inside a git checkout, any revision (HEAD, main~2, a tag); #N or a number of at most
                              6 digits is a build id. --follow streams until the builds end
  status [<revision>]         the builds of HEAD (or that revision) of the checkout you are in
  cancel <build-id>           stop a queued or running build
  rebuild <build-id>          build the same commit with the same resolved config again
  secret set <owner/repo> <NAME>
                              set a build secret from stdin (one trailing newline is dropped); builds get it
                              only through RUN --mount=type=secret,id=NAME, and logs show it as ***
  secret list <owner/repo>    the repo's secret names (values are never shown)
  secret remove <owner/repo> <NAME>
  repo share <owner/repo> <user> --role read|write
                              read: clone, builds, logs; write: also push, cancel, rebuild (the owner only)
  repo unshare <owner/repo> <user>
  repo members <owner/repo>
  repo badge <owner/repo> public|private
                              public: the repo's status badges answer without a token (builds and logs stay private)
  repo retention <owner/repo> [--keep N] [--days D] [--default]
                              show or set how many builds per branch keep their tags and for how many days (the owner)
  usage [owner] [--json]      registry bytes of your images (or owner's), per image, against the quota
  image rm <owner/image:tag>  remove one tag of your image (a docker push's too), its manifest when nothing else needs it
`;


async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'serve': return serveCmd();
    case 'migrate': return migrateCmd();
    case 'backup': return backupCmd(rest);
    case 'user': return userCmd(rest);
    case 'builds': return buildsCmd(rest);
    case 'logs': return logsCmd(rest);
    case 'status': return statusCmd(rest);
    case 'cancel': return buildActionCmd('cancel', rest);
    case 'rebuild': return buildActionCmd('rebuild', rest);
    case 'secret': return secretCmd(rest);
    case 'token': return tokenCmd(rest);
    case 'repo': return repoCmd(rest);
    case 'usage': return usageCmd(rest);
    case 'image': return imageCmd(rest);
    case 'gc': return gcCmd(rest);
    case undefined: case 'help': case '--help': case '-h':
      process.stdout.write(USAGE);
      return cmd === undefined ? 2 : 0;
    default: throw new UsageError(`unknown command ${JSON.stringify(cmd)}`);
  }
}

async function serveCmd(): Promise<number> {
  const server = await startServer(loadSettings());
  // The handlers stay installed for the whole shutdown: execa's exit hook (signal-exit) re-raises a signal
  // that finds no other listener, which would kill the process in the middle of its grace period.
  let signals = 0;
  await new Promise<void>((resolve) => {
    const stop = (sig: NodeJS.Signals) => {
      if (++signals === 1) return resolve();
      process.stderr.write(`codehub-build: second ${sig} during shutdown; exiting now (interrupted builds run again at the next start)\n`);
      process.exit(1);
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
  await server.close();
  return 0;
}

function migrateCmd(): number {
  const settings = loadSettings();
  const db = openDb(dbFile(settings.dataDir));
  const n = db.$client.prepare('SELECT count(*) AS n FROM __drizzle_migrations').get() as { n: number };
  db.$client.close();
  console.log(`database ${dbFile(settings.dataDir)} is up to date (${n.n} migrations applied)`);
  return 0;
}

function userCmd(args: string[]): number {
  const [sub, name] = args;
  if (sub === 'quota') return quotaCmd(args.slice(1));
  if (sub === 'list' && args.length === 1) {
    const users = withStore((s) => s.listUsers());
    const quota = (q: number | null) => (q === null ? 'default quota' : q === NO_QUOTA ? 'no quota' : `quota ${formatBytes(q)}`);
    for (const u of users) console.log(`${u.name.padEnd(32)} ${String(u.tokens).padStart(3)} token${u.tokens === 1 ? ' ' : 's'}  ${quota(u.quotaBytes).padEnd(18)} since ${u.createdAt}`);
    return 0;
  }
  if ((sub !== 'add' && sub !== 'remove') || !name || args.length !== 2) throw new UsageError('usage: codehub-build user add <name> | user list | user remove <name> | user quota <name> <size|none|default>');
  const problem = nameProblem('user', name);
  if (problem) throw new UsageError(problem);
  if (sub === 'remove') {
    if (!withStore((s) => s.removeUser(name))) throw new UsageError(`no user ${name}`);
    console.log(`removed user ${name} with their tokens and shares; their repos and builds stay`);
    return 0;
  }
  const token = generateToken();
  const user = withStore((s) => {
    // A removed user's repos, builds and secrets stay: a new user of the same name must not inherit them.
    if (!s.userByName(name) && s.reposOf(name) > 0) throw new UsageError(`the name ${name} still owns the repos of a removed user; choose another name`);
    return s.createUser(name, hashToken(token));
  });
  if (!user) throw new UsageError(`user ${name} already exists`);
  console.error(`added user ${name}; the token below is shown once, store it now (git password and API bearer token)`);
  console.log(token);
  return 0;
}

function tokenCmd(args: string[]): number {
  const usage = 'usage: codehub-build token create <user> [--scopes read,push,admin] [--label text] | token list <user> | token revoke <token-id>';
  const [sub, ...rest] = args;
  const { values, positionals } = parseArgs({ args: rest, strict: true, allowPositionals: true, options: { scopes: { type: 'string' }, label: { type: 'string' } } });
  if (sub === 'revoke' && positionals.length === 1 && /^\d{1,15}$/.test(positionals[0]!)) {
    if (!withStore((s) => s.revokeToken(Number(positionals[0])))) throw new UsageError(`no token ${positionals[0]}`);
    console.log(`revoked token ${positionals[0]}`);
    return 0;
  }
  if ((sub !== 'create' && sub !== 'list') || positionals.length !== 1) throw new UsageError(usage);
  const name = positionals[0]!;
  return withStore((s) => {
    const user = s.userByName(name);
    if (!user) throw new UsageError(`no user ${name}`);
    if (sub === 'list') {
      for (const t of s.listTokens(user.id)) console.log(`${String(t.id).padStart(5)}  ${t.label.padEnd(20)} ${t.scopes.join(',').padEnd(16)} created ${t.createdAt}  last used ${t.lastUsedAt ?? 'never'}`);
      return 0;
    }
    const scopesText = values.scopes ?? DEFAULT_SCOPES.join(',');
    const problem = scopesProblem(scopesText);
    if (problem) throw new UsageError(problem);
    const label = values.label ?? 'cli';
    if (label.length > 100 || /[\x00-\x1f]/.test(label)) throw new UsageError('--label: at most 100 characters, no control characters');
    const token = generateToken();
    const id = s.createToken(user.id, hashToken(token), label, parseScopes(scopesText));
    console.error(`token ${id} for ${name} (${parseScopes(scopesText).join(', ')}); shown once, store it now`);
    console.log(token);
    return 0;
  });
}

async function repoCmd(args: string[]): Promise<number> {
  const usage = 'usage: codehub-build repo share <owner/repo> <user> --role read|write | repo unshare <owner/repo> <user> | repo members <owner/repo> | repo badge <owner/repo> public|private | repo retention <owner/repo> [--keep N] [--days D] [--default]';
  const [sub, ...rest] = args;
  if (sub === 'retention') return retentionCmd(rest);
  const { values, positionals } = parseArgs({ args: rest, strict: true, allowPositionals: true, options: { role: { type: 'string' } } });
  const [repo = '', user] = positionals;
  const problem = repoPathProblem(repo);
  if (problem) throw new UsageError(`${problem}\n${usage}`);
  if (sub === 'badge') {
    if (positionals.length !== 2 || (user !== 'public' && user !== 'private')) throw new UsageError('usage: codehub-build repo badge <owner/repo> public|private');
    const res = await request(clientConfig(), `/api/repos/${repo}/badge`, 'PUT', Buffer.from(JSON.stringify({ public: user === 'public' })), 'application/json');
    const { badge_url: url } = (await res.json()) as { badge_url: string };
    console.log(`${repo}'s badges are ${user === 'public' ? 'public' : 'private (they need a token)'}: ${url}`);
    return 0;
  }
  const path = `/api/repos/${repo}/members`;
  if (sub === 'members' && positionals.length === 1) {
    const { owner, members } = await getJson<{ owner: string; members: { user: string; role: string }[] }>(clientConfig(), path);
    console.log(`${owner.padEnd(32)} owner`);
    for (const m of members) console.log(`${m.user.padEnd(32)} ${m.role}`);
    return 0;
  }
  if (!user || positionals.length !== 2) throw new UsageError(usage);
  if (sub === 'unshare') {
    await request(clientConfig(), `${path}/${user}`, 'DELETE');
    console.log(`${repo} is no longer shared with ${user}`);
    return 0;
  }
  if (sub !== 'share' || (values.role !== 'read' && values.role !== 'write')) throw new UsageError(usage);
  await request(clientConfig(), `${path}/${user}`, 'PUT', Buffer.from(JSON.stringify({ role: values.role })), 'application/json');
  console.log(`shared ${repo} with ${user} (${values.role})`);
  return 0;
}

async function buildsCmd(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args, strict: true,
    options: { repo: { type: 'string' }, commit: { type: 'string' }, ref: { type: 'string' }, status: { type: 'string' }, limit: { type: 'string' }, json: { type: 'boolean' } },
  });
  const cfg = clientConfig();
  const q = new URLSearchParams();
  for (const k of ['repo', 'commit', 'ref', 'status', 'limit'] as const) if (values[k]) q.set(k, values[k]!);
  const { builds } = await getJson<{ builds: BuildView[] }>(cfg, `/api/builds?${q}`);
  if (values.json) { console.log(JSON.stringify(builds, null, 2)); return 0; }
  if (builds.length === 0) { console.log('no builds'); return 0; }
  const rows = builds.map((b) => [`#${b.id}`, b.status, b.repo, b.ref_name, b.commit.slice(0, 7), b.image, b.digest ? b.digest.slice(0, 19) : b.reason ?? '']);
  printTable([['BUILD', 'STATUS', 'REPO', 'REF', 'COMMIT', 'IMAGE', 'DIGEST / REASON'], ...rows]);
  return 0;
}

async function logsCmd(args: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args, strict: true, allowPositionals: true,
    options: { follow: { type: 'boolean', short: 'f' }, timestamps: { type: 'boolean', short: 't' } },
  });
  if (positionals.length !== 1) throw new UsageError('usage: codehub-build logs <commit|build-id> [--follow] [--timestamps]');
  const cfg = clientConfig();
  const builds = await resolveBuilds(cfg, positionals[0]!);
  const q = new URLSearchParams();
  if (values.follow) q.set('follow', '1');
  if (values.timestamps) q.set('timestamps', '1');
  for (const [i, b] of builds.entries()) {
    if (builds.length > 1) process.stdout.write(`${i ? '\n' : ''}==> build #${b.id} ${b.repo} ${b.image} ${b.ref_name} @ ${b.commit.slice(0, 7)}: ${b.status} <==\n`);
    const res = await request(cfg, `/api/builds/${b.id}/log?${q}`);
    for await (const chunk of res.body!) process.stdout.write(chunk);
  }
  if (values.follow) {
    const ended = await Promise.all(builds.map((b) => getJson<BuildView>(cfg, `/api/builds/${b.id}`)));
    return ended.every((b) => b.status === 'succeeded' || b.status === 'skipped') ? 0 : 1;
  }
  return 0;
}

async function statusCmd(args: string[]): Promise<number> {
  const { positionals } = parseArgs({ args, strict: true, allowPositionals: true, options: {} });
  if (positionals.length > 1) throw new UsageError('usage: codehub-build status [<revision>]');
  const rev = positionals[0] ?? 'HEAD';
  const sha = await revParse(rev);
  if (!sha) throw new UsageError(`${JSON.stringify(rev)} is not a commit of the git checkout in ${process.cwd()}`);
  const { builds } = await getJson<{ builds: BuildView[] }>(clientConfig(), `/api/builds?commit=${sha}&limit=200`);
  if (builds.length === 0) {
    console.log(`no builds of ${sha.slice(0, 12)} (${rev}): has it been pushed to the build remote?`);
    return 4;
  }
  printTable([['BUILD', 'STATUS', 'REPO', 'REF', 'IMAGE', 'DIGEST / REASON'],
    ...builds.map((b) => [`#${b.id}`, b.status, b.repo, b.ref_name, b.image, b.digest ?? b.reason ?? ''])]);
  for (const repo of new Set(builds.map((b) => b.repo))) console.log(`page: ${clientConfig().url}/repos/${repo}/commits/${sha.slice(0, 7)}`);
  return 0;
}

/** The commit a revision names in the git checkout of the current folder, or null (no checkout, no such revision). */
async function revParse(rev: string): Promise<string | null> {
  if (rev.startsWith('-')) return null; // never an option to git
  const r = await execa('git', ['rev-parse', '--verify', '--quiet', '--end-of-options', `${rev}^{commit}`], { reject: false });
  return r.exitCode === 0 && /^[0-9a-f]{40}$/.test(r.stdout.trim()) ? r.stdout.trim() : null;
}

async function secretCmd(args: string[]): Promise<number> {
  const [sub, repo = '', name] = args;
  const usage = 'usage: codehub-build secret set <owner/repo> <NAME> < value-file | secret list <owner/repo> | secret remove <owner/repo> <NAME>';
  const problem = repoPathProblem(repo);
  if (problem) throw new UsageError(`${problem}\n${usage}`);
  const path = `/api/repos/${repo}/secrets`;
  if (sub === 'list' && args.length === 2) {
    const { secrets } = await getJson<{ secrets: { name: string; updated_at: string }[] }>(clientConfig(), path);
    if (secrets.length === 0) console.log(`${repo} has no secrets`);
    for (const s of secrets) console.log(`${s.name.padEnd(32)} updated ${s.updated_at}`);
    return 0;
  }
  if ((sub !== 'set' && sub !== 'remove') || args.length !== 3 || !name) throw new UsageError(usage);
  const target = `${path}/${encodeURIComponent(name)}`;
  if (sub === 'remove') {
    await request(clientConfig(), target, 'DELETE');
    console.log(`removed secret ${name} of ${repo}`);
    return 0;
  }
  if (process.stdin.isTTY) process.stderr.write(`value of ${name} (end with Ctrl-D):\n`);
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  let value = Buffer.concat(chunks);
  // `echo value | codehub-build secret set` must not store the newline echo added.
  if (value.at(-1) === 0x0a) value = value.subarray(0, value.at(-2) === 0x0d ? -2 : -1);
  await request(clientConfig(), target, 'PUT', value);
  console.log(`set secret ${name} of ${repo} (${value.length} bytes)`);
  return 0;
}

async function buildActionCmd(action: 'cancel' | 'rebuild', args: string[]): Promise<number> {
  const id = /^#?(\d{1,15})$/.exec(args[0] ?? '');
  if (args.length !== 1 || !id) throw new UsageError(`usage: codehub-build ${action} <build-id>`);
  const b = await postJson<BuildView>(clientConfig(), `/api/builds/${id[1]}/${action}`);
  if (action === 'cancel') console.log(`build #${b.id} ${b.status}: ${b.reason ?? ''}`);
  else console.log(`build #${b.id} queued: a rebuild of #${id[1]} (${b.repo} ${b.ref_name} @ ${b.commit.slice(0, 7)})\n  page: ${b.web_url}`);
  return 0;
}

/**
 * A number of at most 6 digits (or `#N`) is a build id; anything else of 4-40 hex digits is a commit prefix.
 * A prefix naming several commits lists them and fails, so a log is never shown for the wrong commit.
 */
async function resolveBuilds(cfg: ClientConfig, arg: string): Promise<BuildView[]> {
  const id = /^#?(\d{1,6})$/.exec(arg);
  if (id) return [await getJson<BuildView>(cfg, `/api/builds/${id[1]}`)];
  // A revision of the checkout we are in (HEAD, a branch, a tag) wins over reading it as a hex prefix.
  const prefix = (SHA_PREFIX_RE.test(arg.toLowerCase()) ? null : await revParse(arg)) ?? arg.toLowerCase();
  if (!SHA_PREFIX_RE.test(prefix)) throw new UsageError(`${JSON.stringify(arg)} is neither a build id, a commit prefix (4 to 40 hex digits) nor a revision of a git checkout here`);
  const { builds } = await getJson<{ builds: BuildView[] }>(cfg, `/api/builds?commit=${prefix}&limit=200`);
  if (builds.length === 0) throw new ClientError(`no build found for a commit starting with ${prefix}`, 404);
  const commits = [...new Set(builds.map((b) => `${b.repo}@${b.commit}`))];
  if (commits.length > 1) {
    throw new ClientError(`commit prefix ${prefix} is ambiguous; it matches:\n${commits.map((c) => `  ${c}`).join('\n')}\ngive more digits`, 409);
  }
  return builds.reverse(); // oldest first, as they ran
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (e: unknown) => {
  // node:util parseArgs says what was wrong with the flags (unknown option, missing value): a usage error.
  if ((e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) e = new UsageError((e as Error).message);
  if (e instanceof UsageError || e instanceof SettingsError || e instanceof ClientError || e instanceof RegistryError) {
    process.stderr.write(`codehub-build: ${e.message}${e instanceof RegistryError ? '; is the registry up (scripts/stack.sh status) and CODEHUB_REGISTRY right?' : ''}\n`);
    if (e instanceof UsageError) process.stderr.write('run `codehub-build help` for usage\n');
    process.exitCode = e instanceof ClientError && e.status === 404 ? 4 : 1;
  } else {
    process.stderr.write(`codehub-build: unexpected error: ${(e as Error).stack ?? e}\n`);
    process.exitCode = 70;
  }
});
