/** Owner and repo names (DESIGN.md): lowercase alphanumerics joined by single `.`, `_` or `-`, at most 64 chars. */
const NAME_RE = /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/;
export const RESERVED_OWNERS: readonly string[] = ['system', 'cache'];

/** Returns null when `name` is a valid owner or repo name, else a sentence saying what is wrong. */
export function nameProblem(kind: 'owner' | 'repo' | 'user', name: string): string | null {
  if (name.length === 0) return `${kind} name is empty`;
  if (name.length > 64) return `${kind} name is longer than 64 characters`;
  if (!NAME_RE.test(name)) {
    return `${kind} name ${JSON.stringify(name)} is invalid: use lowercase letters and digits, joined by single '.', '_' or '-'`;
  }
  if (kind !== 'repo' && RESERVED_OWNERS.includes(name)) return `${kind} name ${JSON.stringify(name)} is reserved`;
  return null;
}

/** Null when `repo` is `<owner>/<name>` with both names valid, else a sentence saying what is wrong. */
export function repoPathProblem(repo: string): string | null {
  const parts = repo.split('/');
  if (parts.length !== 2) return `repo must be <owner>/<name>; got ${JSON.stringify(repo)}`;
  return nameProblem('owner', parts[0]!) ?? nameProblem('repo', parts[1]!);
}

/** A repo or image name made from a folder's name: lowercase, runs of other characters as '-' (`My App` -> `my-app`). */
export function repoNameOf(folder: string): string {
  return folder.toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/[._-]{2,}/g, '-').replace(/^[._-]+|[._-]+$/g, '');
}

export const SHA_RE = /^[0-9a-f]{40}$/;
/** A commit prefix people type: 4 to 40 lowercase hex digits (git's own minimum is 4). */
export const SHA_PREFIX_RE = /^[0-9a-f]{4,40}$/;
