import type { HttpBindings } from '@hono/node-server';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import { spawn } from 'node:child_process';
import type { Context } from 'hono';
import { Hono } from 'hono';
import { ForbiddenError, NotFoundError, BadRequestError, PayloadTooLargeError } from '../errors.js';
import { gitEnv } from '../git/env.js';
import type { RepoStore } from '../git/repos.js';
import type { Logger } from '../log.js';
import type { Authenticator } from './auth.js';
import type { Access } from '../auth/access.js';
import { describeDisk, type DiskReading, type DiskSpace } from '../util/disk.js';
import { PushCommandReader, readPushCommands, writeAdvertisedError, writePushRefusal } from './git-refusal.js';

export interface GitRouteDeps {
  repos: RepoStore;
  auth: Authenticator;
  access: Access;
  /** Bytes one push may send; a larger one is refused (413) and nothing of it lands. */
  maxPushBytes: number;
  log: Logger;
  /** Where the post-receive hook reports pushes, and the key it signs them with. */
  hookUrl: string;
  hookKeyFile: string;
  /** The data dir's free space: under CODEHUB_MIN_FREE pushes are refused before git receives anything. */
  disk?: DiskSpace;
}

type Service = 'git-upload-pack' | 'git-receive-pack';

/**
 * Git smart HTTP at /git/<owner>/<repo>.git, served by git's own `git http-backend` as a CGI child per
 * request. Its output is written straight to the socket, so what the post-receive hook prints reaches the
 * pusher as it happens.
 */
export function gitRoutes(deps: GitRouteDeps): Hono<{ Bindings: HttpBindings }> {
  const app = new Hono<{ Bindings: HttpBindings }>();
  app.all('/git/:owner/:repo/*', async (c) => {
    const { owner, repo: repoGit } = c.req.param();
    if (!repoGit.endsWith('.git')) throw new NotFoundError(`git URLs look like /git/<owner>/<repo>.git; got ${c.req.path}`);
    const repo = repoGit.slice(0, -4);
    deps.repos.path(owner, repo); // validates both names before anything else looks at them
    const rest = c.req.path.slice(`/git/${owner}/${repoGit}`.length);
    const service = serviceOf(c, rest);

    const caller = deps.auth.basicOrChallenge(c, 'codehub-build git');
    const role = deps.access.role(caller, owner, repo);
    const exists = deps.repos.exists(owner, repo);
    const name = caller.user.name;
    if (service === 'git-receive-pack') {
      // The same answer whether or not the repo exists, for anyone who may not see it.
      if (!role) throw new ForbiddenError(`${name} may not push to ${owner}/${repo}: it belongs to ${owner}`);
      if (role === 'read') throw new ForbiddenError(`${name} may not push to ${owner}/${repo}: it is shared with ${name} read-only`);
      if (!exists && role !== 'owner') throw new ForbiddenError(`only ${owner} can create ${owner}/${repo} (by pushing to it)`);
      deps.access.requireScope(caller, 'push');
      const declared = Number(c.req.header('content-length') ?? 0);
      if (declared > deps.maxPushBytes)
        throw new PayloadTooLargeError(`this push is ${declared} bytes; the limit is ${deps.maxPushBytes} (CODEHUB_MAX_PUSH_BYTES)`);
      // An accepted push must end with its builds: refused while the disk cannot take it and them, before
      // git writes anything (an existing repo still advertises its refs; the push itself is refused).
      const disk = deps.disk?.read();
      if (disk && disk.level !== 'ok' && (rest === '/git-receive-pack' || !exists))
        return refuseForSpace(c, deps, { repo: `${owner}/${repo}`, user: name, disk });
      await deps.repos.ensure(owner, repo);
    } else {
      if (!role || !exists) throw new NotFoundError(`repository ${owner}/${repo} does not exist${role ? ' yet; push to it to create it' : ''}`);
      deps.access.requireScope(caller, 'read');
    }
    return runBackend(c, deps, {
      owner,
      repo,
      user: name,
      pathInfo: `/${owner}/${repoGit}${rest}`,
      maxBytes: service === 'git-receive-pack' && rest === '/git-receive-pack' ? deps.maxPushBytes : Infinity,
    });
  });
  return app;
}

/** A push refused for lack of space, as git shows a hook's refusal: the figures as `remote:` lines. */
async function refuseForSpace(c: Context<{ Bindings: HttpBindings }>, deps: GitRouteDeps, p: { repo: string; user: string; disk: DiskReading }) {
  deps.log.warn('push refused: the data dir is low on space', { repo: p.repo, pusher: p.user, freeBytes: p.disk.freeBytes, minFreeBytes: p.disk.minFreeBytes });
  const { incoming, outgoing } = c.env;
  const lines = [
    `codehub-build: push refused: the server's data dir is ${p.disk.level === 'full' ? 'full' : 'low on space'}: ${describeDisk(p.disk)}`,
    "codehub-build: nothing of this push was kept; push again once the server's operator has freed space (see /healthz)",
  ];
  if (c.req.method === 'GET') writeAdvertisedError(outgoing, lines.join('; '));
  else {
    writePushRefusal(outgoing, await readPushCommands(incoming, c.req.header('content-encoding'), deps.maxPushBytes), 'the server is low on disk space', lines);
    if (!incoming.readableEnded) outgoing.once('finish', () => incoming.destroy());
  }
  return RESPONSE_ALREADY_SENT;
}

function serviceOf(c: Context, rest: string): Service {
  if (rest === '/info/refs' && c.req.method === 'GET') {
    const s = c.req.query('service');
    if (s === 'git-upload-pack' || s === 'git-receive-pack') return s;
    throw new BadRequestError('only git smart HTTP is served: info/refs needs ?service=git-upload-pack or git-receive-pack');
  }
  if (c.req.method === 'POST' && (rest === '/git-upload-pack' || rest === '/git-receive-pack')) return rest.slice(1) as Service;
  throw new NotFoundError(`not a git smart HTTP endpoint: ${c.req.method} ${rest}`);
}

function runBackend(
  c: Context<{ Bindings: HttpBindings }>,
  deps: GitRouteDeps,
  p: { owner: string; repo: string; user: string; pathInfo: string; maxBytes: number },
) {
  const { incoming, outgoing } = c.env;
  const url = new URL(c.req.url);
  const header = (k: string) => c.req.header(k);
  const env = gitEnv({
    GIT_PROJECT_ROOT: deps.repos.root,
    GIT_HTTP_EXPORT_ALL: '1',
    REQUEST_METHOD: c.req.method,
    PATH_INFO: p.pathInfo,
    QUERY_STRING: url.search.slice(1),
    REMOTE_USER: p.user,
    REMOTE_ADDR: incoming.socket.remoteAddress ?? '',
    ...(header('content-type') ? { CONTENT_TYPE: header('content-type')! } : {}),
    ...(header('content-length') ? { CONTENT_LENGTH: header('content-length')! } : {}),
    ...(header('content-encoding') ? { HTTP_CONTENT_ENCODING: header('content-encoding')! } : {}),
    ...(header('git-protocol') ? { GIT_PROTOCOL: header('git-protocol')! } : {}),
    // Read by the post-receive hook (src/git/hook-main.ts).
    CODEHUB_HOOK_URL: deps.hookUrl,
    CODEHUB_HOOK_KEY_FILE: deps.hookKeyFile,
    CODEHUB_REPO: `${p.owner}/${p.repo}`,
    CODEHUB_PUSHER: p.user,
  });
  const child = spawn('git', ['http-backend'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  incoming.pipe(child.stdin);
  child.stdin.on('error', () => {}); // the backend may exit before reading everything (e.g. a refused push)
  // A chunked push declares no length: count it, and stop git before it has the whole pack, so no ref moves.
  let received = 0;
  let tooLarge = false;
  const isPush = Number.isFinite(p.maxBytes);
  // A push's commands, read as they pass to git: a push git fails on is answered in git's own protocol.
  const commands = isPush && header('content-encoding') !== 'gzip' ? new PushCommandReader() : null;
  const requestDone = isPush && !incoming.readableEnded ? new Promise<void>((r) => incoming.once('end', r).once('close', r)) : Promise.resolve();
  // Whichever comes first: a backend that died (a full disk) has nothing more to read, and the pusher must hear so now.
  const childClosed = new Promise<void>((r) => child.once('close', () => r()));
  if (isPush) {
    incoming.on('data', (d: Buffer) => {
      commands?.push(d);
      received += d.length;
      if (received <= p.maxBytes || tooLarge) return;
      tooLarge = true;
      incoming.unpipe(child.stdin);
      child.kill('SIGKILL');
      deps.log.warn('push refused: too large', { repo: `${p.owner}/${p.repo}`, pusher: p.user, limit: p.maxBytes });
    });
  }
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    if (stderr.length < 8192) stderr += d.toString();
  });

  let head = Buffer.alloc(0);
  let headerDone = false;
  const onData = (chunk: Buffer) => {
    if (headerDone) return;
    head = Buffer.concat([head, chunk]);
    const end = findHeaderEnd(head);
    if (!end) return;
    headerDone = true;
    child.stdout.off('data', onData);
    child.stdout.pause();
    // A push's answer waits for the whole request (git answers only after the pack anyway), so that a push
    // found too large on the way can still be answered 413 rather than with git's own half-read error.
    void Promise.race([requestDone, childClosed]).then(() => {
      if (tooLarge || failed) return;
      const { status, headers } = parseCgiHeaders(head.subarray(0, end.at).toString('latin1'));
      outgoing.writeHead(status, { ...headers, 'cache-control': 'no-cache, max-age=0, must-revalidate' });
      outgoing.write(head.subarray(end.at + end.len));
      child.stdout.pipe(outgoing);
    });
  };
  child.stdout.on('data', onData);
  let failed = false;
  child.on('close', (code) => {
    if (tooLarge) {
      if (!outgoing.headersSent) outgoing.writeHead(413, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' });
      outgoing.end(`codehub-build: this push is larger than ${p.maxBytes} bytes (CODEHUB_MAX_PUSH_BYTES); nothing of it was kept\n`);
    } else if (code !== 0 && commands && !outgoing.headersSent) {
      // git failed on the push (most often: no space left for its pack) before it answered: say why in git's
      // protocol, and stop reading a body nobody needs, so the pusher gets an answer rather than a hang.
      failed = true;
      const cause = stderr
        .trim()
        .split('\n')
        .filter(Boolean)
        .slice(-2)
        .map((l) => l.slice(0, 300));
      deps.log.error('git http-backend failed on a push', { code, stderr, repo: `${p.owner}/${p.repo}`, pusher: p.user, received });
      writePushRefusal(outgoing, commands.commands, /No space left/i.test(stderr) ? 'the server is out of disk space' : 'the server failed to take the push', [
        ...cause.map((l) => `codehub-build: git on the server: ${l}`),
        `codehub-build: the push failed on the server${/No space left/i.test(stderr) ? ': its data dir is full' : ''}; push again later (its operator sees this in the server's log)`,
      ]);
      if (!incoming.readableEnded) outgoing.once('finish', () => incoming.destroy());
    } else if (!headerDone) {
      deps.log.error('git http-backend produced no response', { code, stderr, path: p.pathInfo });
      if (!outgoing.headersSent) outgoing.writeHead(500, { 'content-type': 'text/plain' });
      outgoing.end('git http-backend failed\n');
    } else if (code !== 0) {
      deps.log.warn('git http-backend exited with an error', { code, stderr, path: p.pathInfo });
    }
  });
  outgoing.on('close', () => {
    if (child.exitCode === null) child.kill('SIGTERM');
  });
  return RESPONSE_ALREADY_SENT;
}

function findHeaderEnd(b: Buffer): { at: number; len: number } | null {
  const crlf = b.indexOf('\r\n\r\n');
  const lf = b.indexOf('\n\n');
  if (crlf >= 0 && (lf < 0 || crlf < lf)) return { at: crlf, len: 4 };
  if (lf >= 0) return { at: lf, len: 2 };
  return null;
}

function parseCgiHeaders(block: string): { status: number; headers: Record<string, string> } {
  let status = 200;
  const headers: Record<string, string> = {};
  for (const line of block.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const k = line.slice(0, i).trim();
    const v = line.slice(i + 1).trim();
    if (k.toLowerCase() === 'status') status = Number.parseInt(v, 10) || 500;
    else headers[k] = v;
  }
  return { status, headers };
}
