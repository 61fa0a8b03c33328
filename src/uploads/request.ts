/**
 * The build request of an upload (`POST /api/uploads/:id/build`): docker build's flags as the CLI sends them,
 * checked in one pass that reports every problem, before anything is recorded.
 */
import { UploadBuildRequest as BuildRequestSchema, parseRequest } from '../api/requests.js';
import { TAG_RE } from '../images/tags.js';
import { nameProblem, repoNameOf } from '../names.js';
import { MODE_DIR, MODE_SYMLINK } from '../context/tree.js';
import type { ManifestEntry } from './manifest.js';

/** The tag an upload's image gets when `-t` names none (docker's `latest` would be mistaken for a release). */
export const DEFAULT_UPLOAD_TAG = 'dev';

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

/**
 * The request `body` (parsed JSON) checked against the upload, or every problem with it: its shape
 * (src/api/requests.ts), then, for the fields given as strings even when another is wrong, the tag's
 * namespace and the Dockerfile's place in the upload. Never throws.
 */
export function checkBuildRequest(body: unknown, ctx: RequestContext): RequestResult {
  const shape = parseRequest(BuildRequestSchema, body);
  const problems = shape.ok ? [] : [...shape.problems];
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) return { ok: false, problems, forbidden: false };
  const b = body as Record<string, unknown>;
  let forbidden = false;

  let name = repoNameOf(ctx.folder);
  let tag = DEFAULT_UPLOAD_TAG;
  if (typeof b.tag === 'string') {
    const parsed = parseTag(b.tag, ctx);
    if ('problem' in parsed) {
      problems.push(parsed.problem);
      forbidden ||= parsed.forbidden === true;
    } else ({ name, tag } = parsed);
  } else if (b.tag === undefined && nameProblem('repo', name)) {
    problems.push(`the folder ${JSON.stringify(ctx.folder)} makes no image name; name the image: -t NAME[:TAG]`);
  }

  const dockerfile = b.dockerfile === undefined ? 'Dockerfile' : b.dockerfile;
  if (typeof dockerfile === 'string' && dockerfile) {
    const clean = dockerfile.replace(/^\.\//, '');
    const entry = ctx.entries.find((e) => e.path === clean);
    if (!entry || entry.mode & MODE_DIR) problems.push(`no Dockerfile at ${clean} in the uploaded folder ${ctx.folder}: give its path with -f`);
    else if (entry.mode & MODE_SYMLINK) problems.push(`${clean} is a symlink: give the Dockerfile's own path with -f`);
  }

  if (!shape.ok || problems.length) return { ok: false, problems, forbidden };
  const v = shape.value;
  return {
    ok: true,
    value: {
      name,
      tag,
      dockerfile: v.dockerfile.replace(/^\.\//, ''),
      target: v.target ?? null,
      args: v.build_args,
      secrets: v.secrets,
      noCache: v.no_cache,
      platforms: [...new Set(v.platforms ?? [])],
    },
  };
}

/**
 * `-t` as docker takes it: `NAME[:TAG]`, optionally `<caller>/NAME[:TAG]` and a leading `<registry>/`. Anything
 * that names another namespace or registry is refused, saying where the image goes instead.
 */
export function parseTag(
  raw: string,
  ctx: Pick<RequestContext, 'caller' | 'registry'>,
): { name: string; tag: string } | { problem: string; forbidden?: boolean } {
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
  if (!TAG_RE.test(tag))
    return {
      problem: `tag ${JSON.stringify(raw)}: ${JSON.stringify(tag)} is not a tag: letters, digits, '_', '.', '-', at most 128, not starting with '.' or '-'`,
    };
  return { name, tag };
}
