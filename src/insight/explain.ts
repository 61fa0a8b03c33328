/**
 * Why a build did not come from the cache, told from what the build already has: its steps (cached or run, as
 * BuildKit reported them), the context files its builder received, its build args and the base images its FROM
 * steps resolved, each compared with the previous build of the same branch (or folder) and image. Pure: the
 * collector (collect.ts) gathers the facts.
 */
import picomatch from 'picomatch';
import type { BuildStep } from '../store/schema.js';
import { dockerfileSteps, stepNumber } from './stored.js';
import type { CacheMiss, InsightInputs } from './types.js';

/** The most changed files a cache miss names (`files_total` counts them all). */
export const MAX_FILES = 50;

export interface MissFacts {
  /** The build's steps, names masked as stored. */
  steps: readonly BuildStep[];
  /**
   * The context files the builder received because they changed since the copy it kept (a BuildKit session's
   * own record, or what the work tree's update rewrote), relative to the context folder; null when the builder
   * cannot say (a tar context, a first build in a new work tree).
   */
  changed: readonly string[] | null;
  /** This build's inputs, and the previous build's (null: none to compare with). */
  inputs: InsightInputs;
  previous: InsightInputs | null;
  noCache: boolean;
}

/** `FROM ref@sha256:...` as BuildKit names a FROM step once it resolved the tag (`pull` on dockerd). */
const FROM_DIGEST = /^\[[^\]]*\]\s+FROM\s+(\S+?)@(sha256:[0-9a-f]{64})(?:\s|$)/i;
const INSTRUCTION = /^\[[^\]]*\]\s+(\S+)/;

/** The base images the steps resolved: ref -> digest. */
export function basesOf(steps: readonly BuildStep[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of steps) {
    const m = FROM_DIGEST.exec(s.name);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

const instructionOf = (name: string) => INSTRUCTION.exec(name)?.[1]?.toUpperCase() ?? '';

/**
 * The first Dockerfile step that ran instead of coming from the cache, and why; null when every step was
 * cached. FROM steps are left out: BuildKit reports a FROM it resolved as run even when nothing moved (whether
 * the base moved is told by its digest).
 */
export function findCacheMiss(f: MissFacts): CacheMiss | null {
  const ran = dockerfileSteps([...f.steps])
    .filter((s) => !s.cached && instructionOf(s.name) !== 'FROM')
    .sort((a, b) => (a.started ?? '').localeCompare(b.started ?? '') || (stepNumber(a.name) ?? 0) - (stepNumber(b.name) ?? 0));
  const first = ran[0];
  if (!first) return null;

  const prev = f.previous;
  const moved = prev ? Object.entries(f.inputs.bases).filter(([ref, digest]) => prev.bases[ref] !== undefined && prev.bases[ref] !== digest) : [];
  const args = prev ? [...new Set([...Object.keys(f.inputs.args), ...Object.keys(prev.args)])].filter((k) => f.inputs.args[k] !== prev.args[k]).sort() : [];
  const read = contextSources(first.name);
  // With no earlier build, everything the builder got is new to it: that names no cause.
  const files = prev && read && f.changed ? f.changed.filter((p) => read(p)) : [];
  const because = {
    files: files.slice(0, MAX_FILES),
    files_total: files.length,
    build_args: args,
    base: moved.length ? moved.map(([ref, digest]) => `${ref}@${digest}`).join(', ') : null,
    unknown: null as string | null,
  };
  if (!because.base && !files.length && !args.length) because.unknown = unknownCause(f, first.name, read !== null);
  return { step: first.name, number: stepNumber(first.name), after: ran.length - 1, because };
}

function unknownCause(f: MissFacts, step: string, readsContext: boolean): string {
  if (f.noCache) return 'no_cache is set for this image, so every step runs';
  if (!f.previous) return 'there is no earlier build of this branch and image to compare with';
  if (readsContext && f.changed === null) return 'this builder does not say which context files it received';
  if (/--from[= ]/i.test(step)) return 'it copies from another stage or image, which changed';
  return "nothing it reads changed since the last build: the builder's cache no longer held the step (pruned, or the last build ran elsewhere)";
}

/**
 * For a COPY or ADD from the build context, a test of whether a context path is among what it copies (a
 * folder source covers what is below it; globs as the Dockerfile's); null for any other step.
 */
export function contextSources(step: string): ((path: string) => boolean) | null {
  const text = step.replace(/^\[[^\]]*\]\s+/, '');
  const m = /^(COPY|ADD)\s+(.*)$/is.exec(text);
  if (!m) return null;
  let words: string[];
  const rest = m[2]!.trim();
  const flags = rest.match(/^(?:--\S+\s+)*/)![0];
  if (/--from[= ]/i.test(flags)) return null;
  const body = rest.slice(flags.length).trim();
  if (body.startsWith('[')) {
    try {
      words = JSON.parse(body) as string[];
    } catch {
      words = body.split(/\s+/);
    }
  } else words = body.split(/\s+/);
  const sources = words.slice(0, -1).map((s) => s.replace(/^\.?\/+/, '').replace(/\/+$/, ''));
  if (!sources.length) return null;
  if (sources.some((s) => s === '' || s === '.')) return () => true;
  const tests = sources.map((s) => (/[*?[]/.test(s) ? picomatch(s, { dot: true }) : (p: string) => p === s));
  return (path) => {
    const clean = path.replace(/^\.?\/+/, '');
    // The path itself, or a folder above it, is a source.
    for (let p = clean; p; p = p.includes('/') ? p.slice(0, p.lastIndexOf('/')) : '') if (tests.some((t) => t(p))) return true;
    return false;
  };
}
