/**
 * The build request of an upload (`POST /api/uploads/:id/build`): docker build's flags as the CLI sends them,
 * checked in one pass that reports every problem, before anything is recorded.
 */
import { TAG_RE } from '../images/tags.js';
import { nameProblem, repoNameOf } from '../names.js';
import { MAX_SECRET_BYTES, SECRET_NAME_RE } from '../secrets/vault.js';
import { MODE_DIR, MODE_SYMLINK } from '../context/tree.js';
import type { ManifestEntry } from './manifest.js';

/** The tag an upload's image gets when `-t` names none (docker's `latest` would be mistaken for a release). */
export const DEFAULT_UPLOAD_TAG = 'dev';

const PLATFORM_RE = /^[a-z0-9]+\/[a-z0-9_]+(?:\/[a-z0-9]+)?$/;
const BUILD_ARG_RE = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
const KEYS = ['tag', 'dockerfile', 'target', 'build_args', 'secrets', 'no_cache', 'platforms'];
/** More secrets than any build mounts; their values are held in memory for the build's life. */
const MAX_SECRETS = 32;

export interface UploadBuildRequest {
  /** The image's name in the caller's namespace, and its one tag. */
  name: string;
  tag: string;
  dockerfile: string;
  target: string | null;
  args: Record<string, string>;
  /** Secret id -> value: for BuildKit only, never stored. */
  secrets: Record<string, string>;
  noCache: boolean;
  platforms: string[];
}

export interface RequestContext {
  /** The caller: the only namespace an upload may push to. */
  caller: string;
  /** The registry's host (`localhost:5000`): a `-t` may start with it, as a docker tag does. */
  registry: string;
  /** The uploaded folder's name: the image name when `-t` gives none. */
  folder: string;
  /** The upload's entries, where the Dockerfile must be. */
  entries: readonly ManifestEntry[];
}

export type RequestResult =
  | { ok: true; value: UploadBuildRequest }
  /** `forbidden`: the tag names another user's namespace (403 rather than 400). */
  | { ok: false; problems: string[]; forbidden: boolean };

/** The request `body` (parsed JSON) checked against the upload, or every problem with it. Never throws. */
export function checkBuildRequest(body: unknown, ctx: RequestContext): RequestResult {
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) {
    return { ok: false, problems: ['the body must be a JSON object: { "tag", "dockerfile", "target", "build_args", "secrets", "no_cache", "platforms" }'], forbidden: false };
  }
  const b = body as Record<string, unknown>;
  const problems: string[] = [];
  let forbidden = false;
  for (const k of Object.keys(b)) if (!KEYS.includes(k)) problems.push(`unknown field ${JSON.stringify(k)}: the fields are ${KEYS.join(', ')}`);

  let name = repoNameOf(ctx.folder);
  let tag = DEFAULT_UPLOAD_TAG;
  if (b.tag !== undefined) {
    const parsed = typeof b.tag === 'string' ? parseTag(b.tag, ctx) : { problem: 'tag must be a string like "web:try1"' };
    if ('problem' in parsed) {
      problems.push(parsed.problem);
      forbidden ||= parsed.forbidden === true;
    } else ({ name, tag } = parsed);
  } else if (nameProblem('repo', name)) {
    problems.push(`the folder ${JSON.stringify(ctx.folder)} makes no image name; name the image: -t NAME[:TAG]`);
  }

  const dockerfile = b.dockerfile === undefined ? 'Dockerfile' : b.dockerfile;
  if (typeof dockerfile !== 'string' || !dockerfile) problems.push('dockerfile must be the Dockerfile\'s path in the folder');
  else {
    const clean = dockerfile.replace(/^\.\//, '');
    const entry = ctx.entries.find((e) => e.path === clean);
    if (!entry || entry.mode & MODE_DIR) problems.push(`no Dockerfile at ${clean} in the uploaded folder ${ctx.folder}: give its path with -f`);
    else if (entry.mode & MODE_SYMLINK) problems.push(`${clean} is a symlink: give the Dockerfile's own path with -f`);
  }

  const target = b.target ?? null;
  if (target !== null && (typeof target !== 'string' || !/^[A-Za-z0-9_.-]{1,128}$/.test(target))) problems.push('target must be a build stage name (letters, digits, _ . -)');

  const args = stringMap(b.build_args, 'build_args', problems, (k) => (BUILD_ARG_RE.test(k) ? null : `build arg ${JSON.stringify(k.slice(0, 80))} is not a valid name`));
  const secrets = stringMap(b.secrets, 'secrets', problems, (k, v) => {
    if (!SECRET_NAME_RE.test(k)) return `secret id ${JSON.stringify(k.slice(0, 80))} is not valid: letters, digits and _, at most 64, not starting with a digit`;
    if (Buffer.byteLength(v) > MAX_SECRET_BYTES) return `secret ${k} is larger than ${MAX_SECRET_BYTES} bytes`;
    return null;
  });
  if (Object.keys(secrets).length > MAX_SECRETS) problems.push(`at most ${MAX_SECRETS} secrets`);

  if (b.no_cache !== undefined && typeof b.no_cache !== 'boolean') problems.push('no_cache must be true or false');
  const platforms = b.platforms ?? [];
  if (!Array.isArray(platforms) || platforms.some((p) => typeof p !== 'string' || !PLATFORM_RE.test(p))) problems.push('platforms must be a list of platforms like linux/amd64');

  if (problems.length) return { ok: false, problems, forbidden };
  return {
    ok: true,
    value: { name, tag, dockerfile: (dockerfile as string).replace(/^\.\//, ''), target: target as string | null, args, secrets, noCache: b.no_cache === true, platforms: [...new Set(platforms as string[])] },
  };
}

/**
 * `-t` as docker takes it: `NAME[:TAG]`, optionally `<caller>/NAME[:TAG]` and a leading `<registry>/`. Anything
 * that names another namespace or registry is refused, saying where the image goes instead.
 */
export function parseTag(raw: string, ctx: Pick<RequestContext, 'caller' | 'registry'>): { name: string; tag: string } | { problem: string; forbidden?: boolean } {
  let rest = raw.trim();
  if (rest.startsWith(`${ctx.registry}/`)) rest = rest.slice(ctx.registry.length + 1);
  const colon = rest.lastIndexOf(':');
  const tag = colon > rest.lastIndexOf('/') ? rest.slice(colon + 1) : DEFAULT_UPLOAD_TAG;
  const path = colon > rest.lastIndexOf('/') ? rest.slice(0, colon) : rest;
  const parts = path.split('/');
  if (parts.length > 2 || (parts.length === 2 && /[.:]|^localhost$/.test(parts[0]!))) {
    return { problem: `tag ${JSON.stringify(raw)}: images go to ${ctx.registry}/${ctx.caller}/NAME:TAG; give -t NAME[:TAG]` };
  }
  if (parts.length === 2 && parts[0] !== ctx.caller) {
    return { problem: `tag ${JSON.stringify(raw)}: ${ctx.caller} may push only to ${ctx.caller}/…, not ${parts[0]}/…; give -t NAME[:TAG]`, forbidden: true };
  }
  const name = parts[parts.length - 1]!;
  const problem = nameProblem('repo', name);
  if (problem) return { problem: `tag ${JSON.stringify(raw)}: image ${problem.replace(/^repo /, '')}` };
  if (!TAG_RE.test(tag)) return { problem: `tag ${JSON.stringify(raw)}: ${JSON.stringify(tag)} is not a tag: letters, digits, '_', '.', '-', at most 128, not starting with '.' or '-'` };
  return { name, tag };
}

/** A JSON object of strings, each key checked; problems go to `problems`. */
function stringMap(v: unknown, field: string, problems: string[], check: (k: string, v: string) => string | null): Record<string, string> {
  if (v === undefined) return {};
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    problems.push(`${field} must be an object of names to string values`);
    return {};
  }
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(v)) {
    if (typeof val !== 'string') { problems.push(`${field}.${k} must be a string`); continue; }
    const p = check(k, val);
    if (p) problems.push(p);
    else out[k] = val;
  }
  return out;
}
