import { NAMES, type Settings } from './settings';

import type { BuildAnswer } from '../../../src/api/answers';

/** A build as GET /api/builds returns it (the fields this extension reads). */
export type Build = Pick<BuildAnswer, 'id' | 'status' | 'repo' | 'ref' | 'ref_name' | 'commit' | 'image' | 'image_refs' | 'digest' | 'reason' | 'web_url'>;

export const ACTIVE = new Set(['queued', 'running']);

/** Everything the status bar can say; the monitor moves between these, `view` turns one into text. */
export type State =
  | { kind: 'starting' }
  | { kind: 'no-folder' }
  | { kind: 'unconfigured'; settings: Settings }
  | { kind: 'not-git'; folder: string }
  | { kind: 'no-commit'; folder: string }
  | { kind: 'unreachable'; url: string; error: string; retryMs: number }
  | { kind: 'token-refused'; url: string; tokenFrom?: Settings['tokenFrom'] }
  | { kind: 'error'; summary: string; detail: string }
  | { kind: 'not-pushed'; url: string; sha: string; branch: string | null; remote: string | null }
  | { kind: 'builds'; sha: string; branch: string | null; builds: Build[] };

export type Tone = 'normal' | 'warning' | 'error';

export interface View {
  text: string;
  tooltip: string;
  tone: Tone;
  /** No status bar item at all (no folder open: nothing to say). */
  hidden?: boolean;
}

/**
 * The builds that say something about HEAD now: the newest of each (repo, image, ref), since a rebuild or a
 * second push of the same commit supersedes the earlier build of that line. Newest first.
 */
export function currentBuilds(builds: Build[]): Build[] {
  const newest = new Map<string, Build>();
  for (const b of builds) {
    const key = `${b.repo}\0${b.image}\0${b.ref ?? ''}`;
    const seen = newest.get(key);
    if (!seen || b.id > seen.id) newest.set(key, b);
  }
  return [...newest.values()].sort((a, b) => b.id - a.id);
}

// What a person wants to know first when a commit has several builds: one still going, then one that broke.
const PRIORITY = ['running', 'queued', 'failed', 'canceled', 'succeeded', 'skipped'];
const rank = (s: string) => (PRIORITY.includes(s) ? PRIORITY.indexOf(s) : PRIORITY.length);

/** The build the status bar names when HEAD has several. */
export function headline(builds: Build[]): Build | undefined {
  return [...builds].sort((a, b) => rank(a.status) - rank(b.status) || b.id - a.id)[0];
}

const short = (sha: string) => sha.slice(0, 12);
const head = (sha: string, branch: string | null) => `HEAD ${short(sha)}${branch ? ` (${branch})` : ''}`;
const seconds = (ms: number) => `${Math.round(ms / 1000)} s`;

function buildText(b: Build): string {
  switch (b.status) {
    case 'queued':
      return `$(clock) build #${b.id} queued`;
    case 'running':
      return `$(sync~spin) build #${b.id} running`;
    case 'succeeded':
      return `$(check) #${b.id} succeeded`;
    case 'failed':
      return `$(error) #${b.id} failed`;
    case 'canceled':
      return `$(stop-circle) #${b.id} canceled`;
    case 'skipped':
      return `$(debug-step-over) #${b.id} skipped`;
    default:
      return `$(question) #${b.id} ${b.status}`;
  }
}

/** One line of the tooltip per build. */
export function buildLine(b: Build): string {
  const what = `#${b.id} ${b.repo} image ${b.image}${b.ref_name ? ` (${b.ref_name})` : ''}: ${b.status}`;
  if (b.status === 'succeeded' && b.digest) return `${what}, ${b.digest}`;
  if ((b.status === 'failed' || b.status === 'canceled' || b.status === 'skipped') && b.reason) return `${what}: ${b.reason}`;
  return what;
}

function missingText(s: Settings): string {
  return s.missing.map((m) => `${NAMES[m].setting} (or ${NAMES[m].env})`).join(' and ');
}

/** The status bar item's text (with codicons), tooltip and colour for a state. */
export function view(state: State): View {
  switch (state.kind) {
    case 'starting':
      return { text: '$(sync~spin) codehub-build', tooltip: 'codehub-build: looking up the build of HEAD', tone: 'normal' };
    case 'no-folder':
      return { text: '', tooltip: '', tone: 'normal', hidden: true };
    case 'unconfigured':
      return {
        text: '$(gear) codehub-build: not configured',
        tooltip: `codehub-build: no ${state.settings.missing.join(' and no ')} to reach the build server. Set ${missingText(state.settings)}.`,
        tone: 'warning',
      };
    case 'not-git':
      return {
        text: '$(repo) not a git repository',
        tooltip: `codehub-build: ${state.folder} is not a git repository, so it has no commit to show the build of.`,
        tone: 'normal',
      };
    case 'no-commit':
      return {
        text: '$(repo) no commits yet',
        tooltip: `codehub-build: the repository in ${state.folder} has no commit yet; commit and push to build.`,
        tone: 'normal',
      };
    case 'unreachable':
      return {
        text: '$(debug-disconnect) codehub-build unreachable',
        tooltip: `codehub-build: ${state.url} does not answer (${state.error}). Trying again in ${seconds(state.retryMs)}.`,
        tone: 'normal',
      };
    case 'token-refused':
      return {
        text: '$(key) codehub-build: token refused',
        tooltip:
          `codehub-build: ${state.url} refused the token${state.tokenFrom === 'setting' ? ` from ${NAMES.token.setting}` : state.tokenFrom === 'env' ? ` from ${NAMES.token.env}` : ''} (401). ` +
          `token refused: set ${NAMES.token.setting} or ${NAMES.token.env} to a valid token.`,
        tone: 'warning',
      };
    case 'error':
      return { text: `$(warning) codehub-build: ${state.summary}`, tooltip: `codehub-build: ${state.detail}`, tone: 'warning' };
    case 'not-pushed':
      return {
        text: '$(circle-slash) not pushed',
        tooltip:
          `codehub-build: ${head(state.sha, state.branch)} has no build on ${state.url}. ` +
          `Push it to build it${state.branch ? `: git push ${state.remote ?? 'build'} ${state.branch}` : ''}.`,
        tone: 'normal',
      };
    case 'builds': {
      const first = headline(state.builds);
      if (!first) return view({ kind: 'error', summary: 'no builds', detail: 'no builds' });
      const more = state.builds.length > 1 ? ` (+${state.builds.length - 1})` : '';
      return {
        text: buildText(first) + more,
        tooltip: [`codehub-build: ${head(state.sha, state.branch)}`, ...state.builds.map(buildLine), 'Click to show the log.'].join('\n'),
        tone: first.status === 'failed' ? 'error' : 'normal',
      };
    }
  }
}

/**
 * The image reference pinned to the build's digest: `<registry>/<owner>/<image>@sha256:…` first, then each
 * tag with the digest (`…:main@sha256:…`), which reads better and still pulls exactly this image.
 */
export function pinnedReferences(b: Pick<Build, 'image_refs' | 'digest'>): string[] {
  if (!b.digest) return [];
  const repos = new Set<string>();
  const tagged: string[] = [];
  for (const ref of b.image_refs) {
    // The tag is after the last ':' that follows the last '/' (a registry's :port comes before a '/').
    const slash = ref.lastIndexOf('/');
    const colon = ref.lastIndexOf(':');
    const repo = colon > slash ? ref.slice(0, colon) : ref;
    repos.add(repo);
    tagged.push(`${ref}@${b.digest}`);
  }
  return [...[...repos].map((r) => `${r}@${b.digest}`), ...tagged];
}
