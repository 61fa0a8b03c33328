/**
 * `codehub-build build [PATH] [-f FILE] [-t NAME[:TAG]] ...`: a workspace's own `docker build`, built by the
 * server (issue 16, DESIGN.md "Building a workspace folder without a commit", docs/research/upload-builds.md).
 *
 * The steps, one function each: read the flags as docker build does (parseBuildArgs, pure but for reading secret
 * files); describe the folder as a build context (context-walk.ts: .dockerignore applied, every file hashed);
 * send that manifest (`POST /api/uploads`) and upload, streamed from disk, only the blobs the server says it lacks;
 * ask for the build (`POST /api/uploads/:id/build`); follow its log as `logs --follow` does, Ctrl-C canceling it;
 * and exit with the build's status, the image's reference and digest on stdout's last line.
 */
import { once } from 'node:events';
import { createReadStream, readFileSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import type { BuildAnswer as BuildView, UploadStartedAnswer as UploadView } from '../api/answers.js';
import { nameProblem, repoNameOf } from '../names.js';
import { MAX_SECRET_BYTES } from '../limits.js';
import { formatBytes } from '../units.js';
import { walkContext, type WalkEntry, type WalkResult } from './context-walk.js';
import { ClientError, UsageError } from './errors.js';
import { BodyError } from './http.js';
import { clientConfig, getJson, postJson, request, sendJson, type ClientConfig } from './rest.js';
import { mapLimit } from '../util/map-limit.js';

export const BUILD_USAGE = 'usage: codehub-build build [PATH] [-f FILE] [-t NAME[:TAG]] [--target T] [--build-arg K[=V]]... '
  + '[--secret id=ID[,src=FILE|,env=VAR]]... [--no-cache] [--platform P[,P]]';

/** Blob uploads at once: enough to hide each request's round trip, few enough not to crowd a shared server. */
const UPLOAD_CONCURRENCY = 4;
/** Statuses after which a build's log is complete. */
const TERMINAL = ['succeeded', 'failed', 'canceled', 'skipped'];

/** The body of `POST /api/uploads/:id/build`. Fields left out take the server's defaults. */
export interface BuildRequest {
  /** `-t` as typed (`web`, `web:try1`, `<registry>/<user>/web:try1`): the server parses it and checks the namespace. */
  tag?: string;
  /** The Dockerfile's path in the context, `/`-separated. */
  dockerfile: string;
  target?: string;
  build_args?: Record<string, string>;
  /** Secret values, by id: sent in this body only, never printed. */
  secrets?: Record<string, string>;
  no_cache?: boolean;
  platforms?: string[];
}

/** What the command line asks for, checked: what runBuild needs. */
export interface BuildPlan {
  /** The context folder, absolute (as given, resolved against the current directory). */
  context: string;
  /** The basename of the context's realpath: sent as `folder`, the server's default image NAME when there is no -t. */
  folder: string;
  /** The Dockerfile relative to the context, `/`-separated (the walk resolves symlinks from there). */
  dockerfile: string;
  /** The build request but its `dockerfile`, which is the one the walk finds. */
  request: Omit<BuildRequest, 'dockerfile'>;
}

export type ParsedBuildArgs = { ok: true; plan: BuildPlan } | { ok: false; problems: string[] };

/**
 * The flags of `build` read as docker build reads them, relative to `cwd`, with `env` for `--build-arg K` and
 * env secrets. Every problem is returned at once (none is thrown), so a command line is fixed in one go.
 */
export function parseBuildArgs(argv: string[], env: NodeJS.ProcessEnv, cwd: string): ParsedBuildArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv, strict: true, allowPositionals: true,
      options: {
        file: { type: 'string', short: 'f' },
        tag: { type: 'string', short: 't', multiple: true },
        target: { type: 'string' },
        'build-arg': { type: 'string', multiple: true },
        secret: { type: 'string', multiple: true },
        'no-cache': { type: 'boolean' },
        platform: { type: 'string', multiple: true },
      },
    });
  } catch (e) {
    return { ok: false, problems: [(e as Error).message] };
  }
  const { values: v, positionals } = parsed;
  const problems: string[] = [];
  const ctx = contextOf(positionals, cwd, problems);
  const dockerfile = ctx ? dockerfileIn(v.file, cwd, ctx, problems) : null;
  const tag = tagOf(v.tag ?? [], problems);
  if (ctx && tag === undefined) {
    // The server names the image after the folder as `remote add` names repos: say now if it cannot, not after an upload.
    const problem = nameProblem('repo', repoNameOf(ctx.folder));
    if (problem) problems.push(`cannot name the image after the folder ${JSON.stringify(ctx.folder)} (${problem}): give a name with -t NAME[:TAG]`);
  }
  if (v.target !== undefined && v.target.trim() === '') problems.push('--target is empty: give the stage to build');
  const buildArgs = buildArgsOf(v['build-arg'] ?? [], env, problems);
  const secrets = secretsOf(v.secret ?? [], env, cwd, problems);
  const platforms = platformsOf(v.platform ?? []);
  if (problems.length || !ctx || dockerfile === null) return { ok: false, problems };
  return {
    ok: true,
    plan: {
      context: ctx.context,
      folder: ctx.folder,
      dockerfile,
      request: {
        ...(tag !== undefined ? { tag } : {}),
        ...(v.target !== undefined ? { target: v.target } : {}),
        ...(Object.keys(buildArgs).length ? { build_args: buildArgs } : {}),
        ...(Object.keys(secrets).length ? { secrets } : {}),
        ...(v['no-cache'] ? { no_cache: true } : {}),
        ...(platforms.length ? { platforms } : {}),
      },
    },
  };
}

interface Context {
  /** As typed, for messages. */
  given: string;
  /** Resolved against cwd. */
  context: string;
  real: string;
  folder: string;
}

/** PATH (default `.`): a folder, since only a folder is uploaded (docker's URL and stdin contexts are not). */
function contextOf(positionals: string[], cwd: string, problems: string[]): Context | null {
  if (positionals.length > 1) {
    problems.push(`give one folder to build (the context); got ${positionals.map((p) => JSON.stringify(p)).join(', ')}`);
    return null;
  }
  const given = positionals[0] ?? '.';
  if (given === '-' || /^[a-z][a-z0-9+.-]*:\/\//i.test(given) || /^git@/.test(given)) {
    problems.push(`the context ${given} is not a folder: this build uploads a folder of the workspace; give its path (e.g. .)`);
    return null;
  }
  const context = resolve(cwd, given);
  let real: string;
  try {
    real = realpathSync(context);
  } catch {
    problems.push(`there is no folder ${given}: give the folder to build (the context), e.g. .`);
    return null;
  }
  if (!statSync(real).isDirectory()) {
    problems.push(`${given} is not a folder: give the folder to build (the context), e.g. .`);
    return null;
  }
  return { given, context, real, folder: basename(real) };
}

/**
 * `-f` as docker reads it: relative to the current directory, not the context. Only the context is uploaded, so
 * the file must be inside it; its path relative to the context goes to the walk (which says if it is missing).
 */
function dockerfileIn(file: string | undefined, cwd: string, ctx: Context, problems: string[]): string | null {
  if (file === undefined) return 'Dockerfile';
  if (file === '-' || file === '') {
    problems.push(`-f ${file === '' ? '""' : '-'}: give the Dockerfile's path (a Dockerfile from stdin is not supported: put it in the folder)`);
    return null;
  }
  const abs = resolve(cwd, file);
  // Compared through realpaths where its folder exists, so a context reached through a symlink still contains it.
  let rel = relative(ctx.context, abs);
  try {
    rel = relative(ctx.real, join(realpathSync(dirname(abs)), basename(abs)));
  } catch {
    // its folder does not exist: the lexical answer stands, and the walk reports the missing file
  }
  if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
    problems.push(`the Dockerfile ${file} is outside the context ${ctx.given}: move it in, or build from a folder that contains it`);
    return null;
  }
  return rel.split(sep).join('/');
}

/** `-t` is passed to the server as typed (it parses NAME[:TAG] and refuses other namespaces); one image per build. */
function tagOf(tags: string[], problems: string[]): string | undefined {
  if (tags.length > 1) problems.push(`give one -t: a build pushes one image here (got ${tags.join(', ')})`);
  const tag = tags[0];
  if (tag !== undefined && (tag === '' || /\s/.test(tag))) problems.push(`-t ${JSON.stringify(tag)} is not an image name: give NAME[:TAG], e.g. -t web:try1`);
  return tag;
}

/** `--build-arg K=V`, or `--build-arg K` for K's value in the environment (left out when unset, as docker does). */
function buildArgsOf(list: string[], env: NodeJS.ProcessEnv, problems: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const arg of list) {
    const eq = arg.indexOf('=');
    const key = eq < 0 ? arg : arg.slice(0, eq);
    if (key === '') { problems.push(`--build-arg ${arg}: give NAME=VALUE`); continue; }
    const value = eq < 0 ? env[key] : arg.slice(eq + 1);
    // defineProperty, not assignment: a build arg named __proto__ is a name like any other.
    if (value !== undefined) Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/**
 * `--secret` with buildx's fields (a CSV line): `id=ID`, `src=FILE` or `source=FILE`, `env=VAR`, `type=file|env`.
 * With neither src nor env, buildx reads the environment variable named ID if it is set, else the file named ID.
 * Problems name the flag, the file or the variable, never a value.
 */
function secretsOf(list: string[], env: NodeJS.ProcessEnv, cwd: string, problems: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const spec of list) {
    const s = secretSpec(spec);
    if (typeof s === 'string') { problems.push(`--secret ${spec}: ${s}`); continue; }
    let value: string | { problem: string };
    if (s.env !== undefined) value = env[s.env] ?? { problem: `the environment variable ${s.env} is not set` };
    else if (s.src !== undefined) value = readSecretFile(resolve(cwd, s.src), s.src);
    else if (env[s.id] !== undefined) value = env[s.id]!;
    else {
      const file = resolve(cwd, s.id);
      value = exists(file) ? readSecretFile(file, s.id) : { problem: `there is no environment variable ${s.id} and no file ${s.id}: give src=FILE or env=VAR` };
    }
    if (typeof value !== 'string') problems.push(`--secret ${spec}: ${value.problem}`);
    else Object.defineProperty(out, s.id, { value, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/** One `--secret` value's fields, or why it cannot be read (buildx's parseSecret rules). */
function secretSpec(spec: string): { id: string; src?: string; env?: string } | string {
  let id: string | undefined;
  let src: string | undefined;
  let envVar: string | undefined;
  let type: string | undefined;
  for (const field of csvFields(spec)) {
    const eq = field.indexOf('=');
    if (eq < 0) return `${JSON.stringify(field)} must be key=value (e.g. id=npmrc,src=.npmrc)`;
    const key = field.slice(0, eq).toLowerCase();
    const value = field.slice(eq + 1);
    if (key === 'type') {
      if (value !== 'file' && value !== 'env') return `unsupported secret type ${JSON.stringify(value)} (file or env)`;
      type = value;
    } else if (key === 'id') id = value;
    else if (key === 'src' || key === 'source') src = value;
    else if (key === 'env') envVar = value;
    else return `unexpected key ${JSON.stringify(key)} (id, src, env or type)`;
  }
  // buildx: `type=env,src=VAR` names the variable with src.
  if (type === 'env' && envVar === undefined) [envVar, src] = [src, undefined];
  if (!id) return 'give the secret\'s id (id=ID), the name RUN --mount=type=secret,id=ID uses';
  if (src !== undefined && envVar !== undefined) return 'give src=FILE or env=VAR, not both';
  return { id, ...(src !== undefined ? { src } : {}), ...(envVar !== undefined ? { env: envVar } : {}) };
}

/** A CSV line's fields, as Go's encoding/csv reads one (quotes around a field, `""` for a quote in it). */
function csvFields(line: string): string[] {
  const fields: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') { cur += '"'; i++; } else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"' && cur === '') quoted = true;
    else if (c === ',') { fields.push(cur); cur = ''; } else cur += c;
  }
  fields.push(cur);
  return fields;
}

/** A secret file's text; the server takes secrets as JSON strings, so the file must be UTF-8. */
function readSecretFile(abs: string, shown: string): string | { problem: string } {
  let bytes: Buffer;
  try {
    const st = statSync(abs);
    if (!st.isFile()) return { problem: `${shown} is not a file` };
    if (st.size > MAX_SECRET_BYTES) return { problem: `the file ${shown} is ${formatBytes(st.size)}; a secret may be at most ${formatBytes(MAX_SECRET_BYTES)}` };
    bytes = readFileSync(abs);
  } catch (e) {
    const c = (e as NodeJS.ErrnoException).code;
    return { problem: c === 'ENOENT' || c === 'ENOTDIR' ? `there is no file ${shown}` : `cannot read the file ${shown}: ${(e as Error).message}` };
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return { problem: `the file ${shown} is not UTF-8 text, and secrets travel as text` };
  }
}

function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** `--platform linux/amd64,linux/arm64` and repeated flags alike: one list, in order, without repeats. */
function platformsOf(list: string[]): string[] {
  return [...new Set(list.flatMap((p) => p.split(',')).map((p) => p.trim()).filter(Boolean))];
}

// ---------------------------------------------------------------------------------------------------------------
// Running it

/** Where the command writes and how it is interrupted: process's by default, a test's own when it runs it. */
export interface BuildIo {
  stdout: Writable;
  stderr: Writable & { isTTY?: boolean };
  /** Calls `handler` on each Ctrl-C until the returned function is called (default: SIGINT). */
  onInterrupt: (handler: () => void) => () => void;
  /** Leaves at once (a second Ctrl-C); default process.exit. */
  exit: (code: number) => void;
  /** Where the walk keeps its hash cache (context-walk.ts's default when unset). */
  cacheDir?: string;
  now: () => number;
}

/** `codehub-build build ...`: the exit status is the build's (0 succeeded, 1 otherwise, 130 after a Ctrl-C). */
export async function buildCmd(args: string[]): Promise<number> {
  const parsed = parseBuildArgs(args, process.env, process.cwd());
  if (!parsed.ok) throw new UsageError(`${parsed.problems.join('\n')}\n${BUILD_USAGE}`);
  return runBuild(clientConfig(), parsed.plan);
}

/** Uploads the plan's folder, builds it, follows the log; returns the exit status. */
export async function runBuild(cfg: ClientConfig, plan: BuildPlan, io: Partial<BuildIo> = {}): Promise<number> {
  const out: BuildIo = { ...defaultIo(), ...io };
  const sent = await sendContext(cfg, plan, out);
  const interrupts = new Interrupts(cfg, out);
  // Listening from before the build is asked for: a Ctrl-C while it is being queued cancels it once it has an id.
  const stopListening = out.onInterrupt(() => interrupts.press());
  try {
    const build = await requestBuild(cfg, sent, { ...plan.request, dockerfile: sent.walk.dockerfile }, out);
    out.stderr.write(`build #${build.id} queued: ${build.web_url}\n`);
    interrupts.started(build.id);
    await followLog(cfg, build.id, out);
    await interrupts.settled();
    return await outcome(cfg, build.id, interrupts.canceled, out);
  } finally {
    stopListening();
  }
}

function defaultIo(): BuildIo {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    onInterrupt: (handler) => {
      process.on('SIGINT', handler);
      return () => { process.off('SIGINT', handler); };
    },
    exit: (code) => process.exit(code),
    now: Date.now,
  };
}

type Walked = Extract<WalkResult, { ok: true }>;

/** An upload whose blobs are all on the server, and the walk it was made from. */
interface SentContext {
  walk: Walked;
  upload: UploadView;
  /** One path per content: what to read to upload a blob. */
  blobs: Map<string, WalkEntry>;
  root: string;
}

/** A file no longer had the content the walk hashed when it was uploaded. */
class ChangedFile extends Error {
  constructor(readonly path: string, readonly serverSaid?: string) {
    super(`${path} changed while it was uploaded`);
  }
}

/**
 * Walks the folder, sends the manifest and uploads the missing blobs. A file that changed since the walk (the
 * server's hash check, or a length that moved) costs one more walk, which the hash cache makes cheap; a second
 * change is reported, since something keeps writing it.
 */
async function sendContext(cfg: ClientConfig, plan: BuildPlan, io: BuildIo): Promise<SentContext> {
  for (let attempt = 1; ; attempt++) {
    const walk = await walkFolder(plan, io);
    const blobs = new Map<string, WalkEntry>();
    for (const e of walk.entries) if (e.sha256 && !blobs.has(e.sha256)) blobs.set(e.sha256, e);
    const upload = await createUpload(cfg, plan.folder, plan.request.tag, walk);
    const sent: SentContext = { walk, upload, blobs, root: plan.context };
    try {
      const bytes = await uploadBlobs(cfg, sent, upload.missing, io);
      const files = walk.entries.filter((e) => e.sha256 !== undefined).length;
      io.stderr.write(`context: ${files} files, ${formatBytes(walk.totalBytes)} (${formatBytes(bytes)} uploaded, ${formatBytes(Math.max(0, walk.totalBytes - bytes))} already on the server)\n`);
      return sent;
    } catch (e) {
      if (!(e instanceof ChangedFile)) throw e;
      if (attempt === 2) {
        // The server's own words only when they say something else (a 400 that was not about the content).
        const said = e.serverSaid && !e.serverSaid.includes('changed') ? `\n  the server said: ${e.serverSaid}` : '';
        throw new ClientError(`${e.message}: wait for what writes it to finish (or add it to .dockerignore) and run again${said}`);
      }
      io.stderr.write(`${e.path} changed since the folder was read: reading the folder again\n`);
    }
  }
}

/** The folder as a context, with progress; its problems (a missing Dockerfile, an unreadable file) end the command. */
async function walkFolder(plan: BuildPlan, io: BuildIo): Promise<Walked> {
  const progress = new Progress(io);
  const walk = await walkContext(plan.context, {
    dockerfile: plan.dockerfile,
    ...(io.cacheDir !== undefined ? { cacheDir: io.cacheDir } : {}),
    onProgress: (files, bytes) => progress.update(`reading context: ${files} files, ${formatBytes(bytes)}`),
  });
  progress.clear();
  if (!walk.ok) throw new ClientError(walk.problem);
  if (walk.skipped.length) {
    const some = walk.skipped.slice(0, 3).map((s) => `${s.path} (${s.kind})`).join(', ');
    io.stderr.write(`left out ${walk.skipped.length} special file(s) a context cannot hold: ${some}${walk.skipped.length > 3 ? ', …' : ''}\n`);
  }
  if (walk.cacheProblem) io.stderr.write(`codehub-build: ${walk.cacheProblem} (the next build reads every file again)\n`);
  return walk;
}

/**
 * `POST /api/uploads`: the manifest exactly as walked; the answer names the blobs to upload. The tag goes too, so
 * that one the server refuses (another namespace) is refused before a file is uploaded.
 */
async function createUpload(cfg: ClientConfig, folder: string, tag: string | undefined, walk: Walked): Promise<UploadView> {
  try {
    return await sendJson<UploadView>(cfg, '/api/uploads', 'POST', { folder, ...(tag !== undefined ? { tag } : {}), entries: walk.entries });
  } catch (e) {
    throw withProblems(e);
  }
}

/** An error's `details.problems` (a manifest's bad entries, a build request's bad flags) added to its message, one a line. */
function withProblems(e: unknown): unknown {
  const problems = (e instanceof ClientError ? (e.details as { problems?: unknown } | undefined)?.problems : undefined);
  if (!(e instanceof ClientError) || !Array.isArray(problems) || problems.length === 0) return e;
  const lines = problems.map((p) => {
    if (typeof p === 'string') return p;
    const o = p as { path?: unknown; problem?: unknown; message?: unknown };
    const what = o.problem ?? o.message;
    return typeof what === 'string' ? (typeof o.path === 'string' ? `${o.path}: ${what}` : what) : JSON.stringify(p);
  }).filter((l) => !e.message.includes(l)); // the message may quote the first few already
  if (lines.length === 0) return e;
  return new ClientError(`${e.message}\n${lines.map((l) => `  ${l}`).join('\n')}`, e.status, e.code, e.details);
}

/** Uploads the blobs `missing` names, UPLOAD_CONCURRENCY at a time; returns the bytes sent. */
async function uploadBlobs(cfg: ClientConfig, sent: SentContext, missing: string[], io: BuildIo): Promise<number> {
  const entries = missing.map((sha) => {
    const e = sent.blobs.get(sha);
    if (!e) throw new ClientError(`the server asked for a blob that is not in this folder (${sha}): is it a server of this version?`);
    return e;
  });
  const totalBytes = entries.reduce((n, e) => n + e.size, 0);
  const progress = new Progress(io);
  let files = 0;
  let bytes = 0;
  const show = () => progress.update(`uploading context: ${files} of ${entries.length} files, ${formatBytes(bytes)} of ${formatBytes(totalBytes)}`);
  let done = 0;
  try {
    await mapLimit(entries, UPLOAD_CONCURRENCY, async (entry) => {
      await uploadBlob(cfg, sent.upload.id, entry, join(sent.root, entry.path), (n) => { bytes += n; show(); });
      files++;
      done += entry.size;
      show();
    });
  } finally {
    progress.clear();
  }
  return done;
}

/** `PUT /api/uploads/:id/blobs/:sha256`, the file streamed from disk. */
async function uploadBlob(cfg: ClientConfig, uploadId: string, entry: WalkEntry, abs: string, onProgress: (bytes: number) => void): Promise<void> {
  const sha = entry.sha256!;
  try {
    const res = await request(cfg, `/api/uploads/${encodeURIComponent(uploadId)}/blobs/${sha}`, 'PUT',
      { stream: createReadStream(abs, { highWaterMark: 256 * 1024 }), length: entry.size, onProgress }, 'application/octet-stream');
    await res.text(); // read the answer to its end, so the connection serves the next blob
  } catch (e) {
    if (e instanceof BodyError) {
      // Gone, shorter or longer than walked: changed. Unreadable now though it was read a moment ago: say why.
      const code = (e.cause as NodeJS.ErrnoException | undefined)?.code;
      if (code && code !== 'ENOENT') throw new ClientError(`cannot read ${entry.path}: ${(e.cause as Error).message}`);
      throw new ChangedFile(entry.path);
    }
    // The server says the bytes are not the ones walked (hash, or more or fewer than the size): the file changed.
    // Any other refusal is its own error, said as the server said it.
    if (e instanceof ClientError && (e.code === 'content_mismatch' || e.status === 413)) throw new ChangedFile(entry.path, e.message);
    throw e;
  }
}

/**
 * `POST /api/uploads/:id/build`. A 409 naming missing blobs (the server let some go since the manifest was
 * sent) is answered by uploading them and asking once more.
 */
async function requestBuild(cfg: ClientConfig, sent: SentContext, body: BuildRequest, io: BuildIo): Promise<BuildView> {
  const path = `/api/uploads/${encodeURIComponent(sent.upload.id)}/build`;
  try {
    return await sendJson<BuildView>(cfg, path, 'POST', body);
  } catch (e) {
    const missing = e instanceof ClientError && e.status === 409 ? (e.details as { missing?: unknown } | undefined)?.missing : undefined;
    if (!Array.isArray(missing) || !missing.every((m) => typeof m === 'string')) throw withProblems(e);
    try {
      await uploadBlobs(cfg, sent, missing, io);
    } catch (u) {
      if (u instanceof ChangedFile) throw new ClientError(`${u.message}: run again`);
      throw u;
    }
    return await sendJson<BuildView>(cfg, path, 'POST', body);
  }
}

/**
 * Ctrl-C once the build is ours: the first asks the server to cancel it (once) and the log is followed to its
 * end, so the user sees the build stop; the second leaves at once. A Ctrl-C while the build is being asked for
 * cancels it as soon as its id is known.
 */
class Interrupts {
  /** A cancel was asked for: the exit status is 130 whatever the build became. */
  canceled = false;
  private presses = 0;
  private id: number | undefined;
  private pending: Promise<void> = Promise.resolve();

  constructor(private readonly cfg: ClientConfig, private readonly io: BuildIo) {}

  press(): void {
    this.presses++;
    if (this.presses > 1) {
      this.io.stderr.write(this.id === undefined ? '\n' : `\nleft build #${this.id} to the server (follow it: codehub-build logs ${this.id} --follow)\n`);
      this.io.exit(130);
      return;
    }
    if (this.id !== undefined) this.cancel(this.id);
  }

  started(id: number): void {
    this.id = id;
    if (this.presses > 0) this.cancel(id);
  }

  /** Waits for the cancel request, if one was sent, so the build's status read next reflects it. */
  settled(): Promise<void> {
    return this.pending;
  }

  private cancel(id: number): void {
    if (this.canceled) return;
    this.canceled = true;
    this.io.stderr.write(`canceling build #${id}…\n`);
    this.pending = postJson(this.cfg, `/api/builds/${id}/cancel`).then(() => undefined, (e: unknown) => {
      this.io.stderr.write(`codehub-build: could not cancel build #${id}: ${(e as Error).message}\n`);
    });
  }
}

/**
 * The build's log to stdout until the build ends, as `logs --follow` streams it (waiting for stdout when it is
 * slower than the log). A broken stream is not an error here: the build's status, read next, says what happened.
 */
async function followLog(cfg: ClientConfig, id: number, io: BuildIo): Promise<void> {
  const res = await request(cfg, `/api/builds/${id}/log?follow=1`);
  try {
    for await (const chunk of res.body) {
      if (!io.stdout.write(chunk as Buffer)) await once(io.stdout, 'drain');
    }
  } catch {
    res.body.destroy();
  }
}

/** The build's end as an exit status, and what to say about it: the image's reference and digest on success. */
async function outcome(cfg: ClientConfig, id: number, canceled: boolean, io: BuildIo): Promise<number> {
  const b = await getJson<BuildView>(cfg, `/api/builds/${id}`);
  const reason = b.reason ? `: ${b.reason}` : '';
  let code = 1;
  if (b.status === 'succeeded') {
    const ref = b.image_refs[0] ?? b.image;
    io.stdout.write(`${b.digest ? `${ref}@${b.digest}` : ref}\n`);
    code = 0;
  } else if (b.status === 'failed') {
    io.stderr.write(`build #${id} failed${reason}\n`);
  } else if (b.status === 'canceled') {
    io.stderr.write(`build #${id} canceled${reason}\n`);
  } else if (!TERMINAL.includes(b.status)) {
    io.stderr.write(`the log of build #${id} ended while the build is ${b.status}: follow it with codehub-build logs ${id} --follow\n`);
  } else {
    io.stderr.write(`build #${id} ${b.status}${reason}\n`);
  }
  // The user interrupted: the shell's status for it, whatever the build became meanwhile.
  return canceled ? 130 : code;
}

/**
 * One progress line on stderr. On a terminal it is redrawn in place (at most every 100 ms, so a fast walk does
 * not spend its time drawing); elsewhere (a CI log, a file) a plain line at most every 2 s, the first after 2 s,
 * so a quick step prints nothing.
 */
class Progress {
  private readonly tty: boolean;
  private readonly started: number;
  private last: number;
  private drawn = false;

  constructor(private readonly io: BuildIo) {
    this.tty = io.stderr.isTTY === true;
    this.started = io.now();
    this.last = this.tty ? 0 : this.started;
  }

  update(text: string): void {
    const now = this.io.now();
    if (now - this.last < (this.tty ? 100 : 2000)) return;
    this.last = now;
    if (this.tty) {
      this.io.stderr.write(`\r${text}\x1b[K`);
      this.drawn = true;
    } else {
      this.io.stderr.write(`${text}\n`);
    }
  }

  /** Erases the line on a terminal, so what follows starts on a clean one. */
  clear(): void {
    if (this.drawn) this.io.stderr.write('\r\x1b[K');
    this.drawn = false;
  }
}
