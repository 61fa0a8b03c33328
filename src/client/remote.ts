import { accessSync, constants, realpathSync } from 'node:fs';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import type { CallerAnswer } from '../api/answers.js';
import { repoNameOf, repoPathProblem } from '../names.js';
import { ClientError, UsageError } from './errors.js';
import { git, topLevel } from './git.js';
import { clientConfig, getJson, serverUrl, type ClientConfig } from './rest.js';

const REMOTE_USAGE = "usage: codehub-build remote add [NAME] [owner/repo]   (NAME defaults to build, owner to your user, repo to the folder's name)";

/** What `GET /api/user` answers: the token's user and scopes. */
export type UserView = CallerAnswer;

/**
 * `remote add [NAME] [owner/repo]`: adds the build remote and makes `codehub-build credential` git's only
 * credential helper for this server's git URLs, so git asks CODEHUB_TOKEN each time and the token is never
 * written to disk: not into the remote's URL in .git/config (which every tool and backup reads), and not into
 * a store helper the user may have set globally (the empty helper entry resets the list for these URLs).
 */
export async function remoteCmd(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== 'add') throw new UsageError(REMOTE_USAGE);
  const { positionals } = parseArgs({ args: rest, strict: true, allowPositionals: true, options: {} });
  if (positionals.length > 2) throw new UsageError(REMOTE_USAGE);
  let [name = 'build', path] = positionals;
  if (positionals.length === 1 && positionals[0]!.includes('/')) [name, path] = ['build', positionals[0]];
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name) || name.endsWith('.lock'))
    throw new UsageError(`remote name ${JSON.stringify(name)} is invalid: use letters, digits, '.', '_' or '-'\n${REMOTE_USAGE}`);
  const top = await topLevel();
  if (!top) throw new UsageError(`${process.cwd()} is not in a git checkout: run \`git init\` (or cd into your checkout) first`);
  const cfg = clientConfig();
  const user = await getJson<UserView>(cfg, '/api/user');
  const repoPath = path ?? `${user.name}/${repoNameOf(basename(top))}`;
  const problem = repoPathProblem(repoPath);
  if (problem)
    throw new UsageError(`${problem}${path ? '' : ` (made from the folder name ${JSON.stringify(basename(top))}): give owner/repo`}\n${REMOTE_USAGE}`);
  const url = `${cfg.url}/git/${repoPath}.git`;

  const existing = await git(['remote', 'get-url', '--', name]);
  if (existing.code === 0 && existing.stdout.trim() !== url) {
    throw new UsageError(
      `the remote ${name} already exists with URL ${redact(existing.stdout.trim())}: remove it first (git remote remove ${name}) or choose another name`,
    );
  }
  if (existing.code !== 0) await mustGit(['remote', 'add', '--', name, url]);
  const key = `credential.${cfg.url}/git/.helper`;
  await git(['config', '--local', '--unset-all', key]); // exit 5 when there was none
  await mustGit(['config', '--local', '--add', key, '']);
  await mustGit(['config', '--local', '--add', key, helperCommand()]);
  console.log(`${existing.code === 0 ? 'kept' : 'added'} remote ${name} -> ${url}`);
  console.log(`git asks \`codehub-build credential\` for the token: it reads CODEHUB_TOKEN (${user.name}'s token) and stores nothing`);
  console.log(`push: git push ${name} HEAD   (git push -o wait ${name} HEAD streams the build)`);
  return 0;
}

/**
 * `credential get|store|erase`: git's credential helper protocol (gitcredentials(7)). `get` answers with the
 * token's user name and CODEHUB_TOKEN, only for CODEHUB_URL's host; without a token it tells git to stop
 * (`quit=1`) with a message naming the variable, so git neither prompts nor falls back to another helper.
 * `store` keeps nothing; `erase` (git's word for "the server refused it") says which variable to fix.
 */
export async function credentialCmd(args: string[]): Promise<number> {
  const [op] = args;
  if (args.length !== 1 || (op !== 'get' && op !== 'store' && op !== 'erase')) {
    throw new UsageError('usage: codehub-build credential get|store|erase   (git runs it; `codehub-build remote add` sets it up)');
  }
  const ctx = await readCredentialContext();
  const url = serverUrlOrNull();
  if (url && !sameOrigin(url, ctx)) return 0; // another server's credentials are not ours to give
  const where = url ?? `${ctx.protocol}://${ctx.host}`;
  if (op === 'store') return 0;
  if (op === 'erase') {
    process.stderr.write(
      `codehub-build: ${where} refused the token in CODEHUB_TOKEN: it is revoked, mistyped, or for another server; set CODEHUB_TOKEN to a valid token\n`,
    );
    return 0;
  }
  const refuse = (why: string) => {
    process.stderr.write(`codehub-build: ${why}\n`);
    process.stdout.write('quit=1\n');
    return 0;
  };
  if (!url) return refuse(`CODEHUB_URL is not set, so there is no token to give ${where}: export CODEHUB_URL=${where} and CODEHUB_TOKEN=<your token>`);
  const token = process.env.CODEHUB_TOKEN;
  if (!token) return refuse(`CODEHUB_TOKEN is not set: git needs it to reach ${url}; export CODEHUB_TOKEN=<your token> (a workspace is given one)`);
  let username = ctx.username;
  if (!username) {
    // git's basic auth needs the token's user name; the remote's URL does not carry it, so the server says.
    try {
      username = (await getJson<UserView>({ url, token } satisfies ClientConfig, '/api/user')).name;
    } catch (e) {
      return refuse(e instanceof ClientError ? e.message : String(e));
    }
  }
  process.stdout.write(`username=${username}\npassword=${token}\n`);
  return 0;
}

/** The attributes git writes on the helper's stdin (key=value lines, ending with a blank line or EOF). */
async function readCredentialContext(): Promise<Record<string, string>> {
  let text = '';
  for await (const chunk of process.stdin) {
    text += String(chunk);
    if (text.includes('\n\n') || text.length > 65536) break;
  }
  const ctx: Record<string, string> = {};
  for (const line of text.split('\n')) {
    if (line === '') break;
    const eq = line.indexOf('=');
    if (eq > 0) ctx[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return ctx;
}

function serverUrlOrNull(): string | null {
  try {
    return serverUrl();
  } catch {
    return null;
  }
}

function sameOrigin(url: string, ctx: Record<string, string>): boolean {
  const u = new URL(url);
  return ctx.protocol === u.protocol.slice(0, -1) && ctx.host === u.host;
}

export { repoNameOf };

/**
 * How git runs this CLI as a helper: the script alone when it is executable (it finds node through its
 * `#!/usr/bin/env node` line, so a later node upgrade keeps working), else this node with the script. git
 * runs a `!` helper with the shell, and calls it twice per push (`get`, then `store` on success): the shell
 * answers `store` itself, which saves a node start per push, since this helper stores nothing anyway.
 */
function helperCommand(): string {
  const script = realpathSync(process.argv[1]!);
  let executable = true;
  try {
    accessSync(script, constants.X_OK);
  } catch {
    executable = false;
  }
  const cli = `${executable ? '' : `${shellQuote(process.execPath)} `}${shellQuote(script)}`;
  return `!f() { test "$1" = store || exec ${cli} credential "$1"; }; f`;
}

function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/** A URL with any password in it replaced, for messages. */
function redact(url: string): string {
  return url.replace(/\/\/([^/@:]*):[^/@]*@/, '//$1:***@');
}

async function mustGit(args: string[]): Promise<void> {
  const r = await git(args);
  if (r.code !== 0) throw new ClientError(`git ${args.slice(0, 2).join(' ')} failed: ${r.stderr.trim()}`);
}
