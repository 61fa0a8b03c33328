/**
 * `codehub-build build`'s command line read as docker build reads it (issue 16, DESIGN.md "Building a workspace
 * folder without a commit"): the context folder, `-f`, `-t`, `--build-arg`, `--secret` (buildx's fields) and the
 * rest, checked at once into the plan that build.ts carries out. Pure but for reading the context's realpath and
 * secret files.
 */
import { readFileSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { parseArgs } from 'node:util';
import type { UploadBuildRequestBody } from '../api/requests.js';
import { nameProblem, repoNameOf } from '../names.js';
import { MAX_SECRET_BYTES, parsePlatform, platformKey } from '../limits.js';
import { formatBytes } from '../units.js';

export const BUILD_USAGE =
  'usage: codehub-build build [PATH] [-f FILE] [-t NAME[:TAG]] [--target T] [--build-arg K[=V]]... ' +
  '[--secret id=ID[,src=FILE|,env=VAR]]... [--no-cache] [--platform P[,P]]';

/**
 * The body of `POST /api/uploads/:id/build` (src/api/requests.ts's `UploadBuildRequest`, as sent). Fields left out
 * take the server's defaults; the Dockerfile is always named, as the walk found it. Secret values travel in this
 * body only, never printed.
 */
export type BuildRequest = UploadBuildRequestBody & { dockerfile: string };

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
  // parseArgs throws on an unknown flag: its message is the problem.
  const parsed = (() => {
    try {
      return parseArgs({
        args: argv,
        strict: true,
        allowPositionals: true,
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
      return e as Error;
    }
  })();
  if (parsed instanceof Error) return { ok: false, problems: [parsed.message] };
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
  const platforms = platformsOf(v.platform ?? [], problems);
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
    if (key === '') {
      problems.push(`--build-arg ${arg}: give NAME=VALUE`);
      continue;
    }
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
    if (typeof s === 'string') {
      problems.push(`--secret ${spec}: ${s}`);
      continue;
    }
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
  if (!id) return "give the secret's id (id=ID), the name RUN --mount=type=secret,id=ID uses";
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
      if (c === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"' && cur === '') quoted = true;
    else if (c === ',') {
      fields.push(cur);
      cur = '';
    } else cur += c;
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
    if (st.size > MAX_SECRET_BYTES)
      return { problem: `the file ${shown} is ${formatBytes(st.size)}; a secret may be at most ${formatBytes(MAX_SECRET_BYTES)}` };
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

/**
 * `--platform linux/amd64,linux/arm64` and repeated flags alike: one list, in order, without repeats (as buildx
 * reads them: `linux/arm64/v8` repeats `linux/arm64`, and the first spelling stays). Each must be a platform
 * BuildKit builds for, checked here so a typo is answered before anything is uploaded.
 */
function platformsOf(list: string[], problems: string[]): string[] {
  const out = new Map<string, string>();
  for (const flag of list) {
    if (flag.trim() === '') problems.push('--platform is empty: give a platform like linux/amd64');
    for (const text of flag.split(',').map((p) => p.trim())) {
      if (text === '') continue;
      const parsed = parsePlatform(text);
      if (!parsed.ok) problems.push(`--platform: ${parsed.problem}`);
      else if (!out.has(platformKey(parsed.platform))) out.set(platformKey(parsed.platform), text);
    }
  }
  return [...out.values()];
}
