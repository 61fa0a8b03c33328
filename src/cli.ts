#!/usr/bin/env -S node --max-semi-space-size=2
import { parseArgs } from 'node:util';
import { addUser, createToken, listTokens, removeUser, revokeToken } from './auth/accounts.js';
import type { Outcome } from './auth/outcome.js';
import { CLIENT_USAGE, clientCommand } from './client/commands.js';
import { ClientError } from './client/errors.js';
import { runMain } from './client/run.js';
import { version } from './client/version.js';
import { loadSettings, SettingsError } from './settings.js';
import { appliedMigrations, dbFile, openDb } from './store/db.js';
import { cliAudited, UsageError, withStore } from './cli/common.js';
import { tokenCreatedDetail } from './auth/audit.js';
import { NO_QUOTA } from './store/schema.js';
import { RegistryError } from './registry/client.js';
import { formatBytes, parseDuration } from './units.js';

// The server, gc, quota and backup are imported when their command runs: the server's modules take half a
// second to load, and `user add` or `token list` (scripts, the tests) should not wait for them.
const server = () => import('./main.js');
const registryCmds = () => import('./cli/registry.js');
const vulnDbCmds = () => import('./cli/vulndb.js');

const USAGE = `usage: codehub-build <command>

server (run where the data dir is):
  serve                       run the server (settings from CODEHUB_* variables; see README)
  migrate                     create or upgrade the database in CODEHUB_DATA_DIR
  backup <dir>                copy the data dir into a new folder while the server runs: the database as one
                              consistent snapshot (SQLite's online backup), then repos, logs and secrets
  user add <name>             add a user; prints the new token (scopes read, push) as the last line
                              (codehub-build and codehub-build-* are reserved for the server's own)
  user list                   users and how many tokens each has
  user remove <name>          remove a user with their tokens and shares (their repos and builds stay);
                              refused for the user holding the last admin token: make another admin first
  token create <user> [--scopes read,push,admin] [--label text] [--expires 90d|12h|30m|10s]
                              a new token for a user, printed once as the last line (default scopes read,push;
                              default expiry never, or CODEHUB_TOKEN_MAX_DAYS, which also caps --expires)
  token list <user>           a user's tokens: id, label, scopes, created, last used, expires (never the token)
  token revoke <token-id>     the token stops working at once (refused for the last admin token)
  user quota <name> <size|none|default>
                              the registry bytes the user's images may hold (e.g. 10GiB, 500MiB), no quota, or
                              CODEHUB_QUOTA again; at or over it their builds fail with reason quota
  gc [--dry-run] [--repo owner/repo] [--json]
                              retention now: remove the image tags it no longer keeps (printed, with the bytes
                              that go with them; --dry-run only prints), untagged manifests, and expired logs;
                              exit status 3 when it left a repository for the next run (a build was pushing)
  vulndb import <file|folder>...
                              import OSV records (OSV's <ecosystem>/all.zip, OSV JSON files, folders of them),
                              each file all or nothing; prints the counts per ecosystem, then the problems;
                              exit status 1 when a source was refused (named) or nothing was read

${CLIENT_USAGE}`;

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'serve':
      return serveCmd();
    case 'migrate':
      return migrateCmd();
    case 'backup':
      return (await import('./cli/backup.js')).backupCmd(rest);
    case 'user':
      return userCmd(rest);
    case 'token':
      return tokenCmd(rest);
    case 'gc':
      return (await registryCmds()).gcCmd(rest);
    case 'vulndb':
      return (await vulnDbCmds()).vulnDbCmd(rest);
    case 'version':
    case '--version':
      console.log(`codehub-build ${version()}`);
      return 0;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return cmd === undefined ? 2 : 0;
  }
  const client = clientCommand(cmd);
  if (!client) throw new UsageError(`unknown command ${JSON.stringify(cmd)}`);
  return client(rest);
}

async function serveCmd(): Promise<number> {
  const running = await (await server()).startServer(loadSettings());
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
  await running.close();
  return 0;
}

function migrateCmd(): number {
  const settings = loadSettings();
  const db = openDb(dbFile(settings.dataDir));
  const n = appliedMigrations(db.$client);
  db.$client.close();
  console.log(`database ${dbFile(settings.dataDir)} is up to date (${n} migrations applied)`);
  return 0;
}

async function userCmd(args: string[]): Promise<number> {
  const [sub, name] = args;
  if (sub === 'quota') return (await registryCmds()).quotaCmd(args.slice(1));
  if (sub === 'list' && args.length === 1) {
    const users = withStore((s) => s.accounts.listUsers());
    const quota = (q: number | null) => (q === null ? 'default quota' : q === NO_QUOTA ? 'no quota' : `quota ${formatBytes(q)}`);
    for (const u of users)
      console.log(
        `${u.name.padEnd(32)} ${String(u.tokens).padStart(3)} token${u.tokens === 1 ? ' ' : 's'}  ${quota(u.quotaBytes).padEnd(18)} since ${u.createdAt}`,
      );
    return 0;
  }
  if ((sub !== 'add' && sub !== 'remove') || !name || args.length !== 2)
    throw new UsageError('usage: codehub-build user add <name> | user list | user remove <name> | user quota <name> <size|none|default>');
  if (sub === 'remove') {
    accepted(withStore((s) => cliAudited(s, removeUser(s, name), 'user.remove', (r) => r.name)));
    console.log(`removed user ${name} with their tokens and shares; their repos and builds stay`);
    return 0;
  }
  const policy = { maxDays: loadSettings().tokenMaxDays };
  const added = accepted(withStore((s) => cliAudited(s, addUser(s, name, policy), 'user.create', (a) => a.name)));
  const until = added.expiresAt ? `, expires at ${added.expiresAt}` : '';
  console.error(`added user ${name}; the token below is shown once${until}, store it now (git password and API bearer token)`);
  console.log(added.token);
  return 0;
}

function tokenCmd(args: string[]): number {
  const usage =
    'usage: codehub-build token create <user> [--scopes read,push,admin] [--label text] [--expires 90d] | token list <user> | token revoke <token-id>';
  const [sub, ...rest] = args;
  const { values, positionals } = parseArgs({
    args: rest,
    strict: true,
    allowPositionals: true,
    options: { scopes: { type: 'string' }, label: { type: 'string' }, expires: { type: 'string' } },
  });
  if (positionals.length !== 1 || (sub !== 'create' && sub !== 'list' && sub !== 'revoke')) throw new UsageError(usage);
  const [arg] = positionals as [string];
  if (sub === 'revoke') {
    const r = accepted(withStore((s) => cliAudited(s, revokeToken(s, arg), 'token.revoke', (t) => String(t.id))));
    console.log(`revoked token ${r.id}`);
    return 0;
  }
  if (sub === 'list') {
    for (const t of accepted(withStore((s) => listTokens(s, arg))).tokens)
      console.log(
        `${String(t.id).padStart(5)}  ${t.label.padEnd(20)} ${t.scopes.join(',').padEnd(16)} created ${t.createdAt}  last used ${t.lastUsedAt ?? 'never'}  expires ${t.expiresAt ?? 'never'}`,
      );
    return 0;
  }
  let lifetimeMs: number | undefined;
  if (values.expires !== undefined) {
    const parsed = parseDuration(values.expires, 36500 * 86_400_000);
    if (!parsed.ok || parsed.value === 0) throw new UsageError(`--expires: ${parsed.ok ? '0 is no lifetime' : parsed.problem}; e.g. --expires 90d`);
    lifetimeMs = parsed.value;
  }
  const request = {
    ...(values.scopes !== undefined ? { scopes: values.scopes } : {}),
    label: values.label ?? 'cli',
    ...(lifetimeMs !== undefined ? { lifetimeMs } : {}),
  };
  const policy = { maxDays: loadSettings().tokenMaxDays };
  const made = accepted(withStore((s) => cliAudited(s, createToken(s, arg, request, policy), 'token.create', (t) => String(t.id), tokenCreatedDetail)));
  const until = made.expiresAt ? `, expires at ${made.expiresAt}` : '';
  console.error(`token ${made.id} for ${arg} (${made.scopes.join(', ')}${until}); shown once, store it now`);
  console.log(made.token);
  return 0;
}

/**
 * What an accounts call did, or its refusal with the same sentence the admin API answers: a conflict (a taken
 * name, the last admin) is the database's state, not the command's usage, so it comes without the usage hint.
 */
function accepted<T>(outcome: Outcome<T>): T {
  if (!outcome.ok) throw outcome.kind === 'conflict' ? new ClientError(outcome.problem, 409, 'conflict') : new UsageError(outcome.problem);
  return outcome;
}

runMain(
  () => main(process.argv.slice(2)),
  (e) => {
    if (e instanceof SettingsError) return { hint: '' };
    if (e instanceof RegistryError) return { hint: '; is the registry up (scripts/stack.sh status) and CODEHUB_REGISTRY right?' };
    return undefined;
  },
);
