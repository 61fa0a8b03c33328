/** Owner and repo names (DESIGN.md): lowercase alphanumerics joined by single `.`, `_` or `-`, at most 64 chars. */
export const NAME_RE = /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/;
export const MAX_NAME_LENGTH = 64;
export const RESERVED_OWNERS: readonly string[] = ['system', 'cache'];

/** Returns null when `name` is a valid owner or repo name, else a sentence saying what is wrong. */
export function nameProblem(kind: 'owner' | 'repo' | 'user', name: string): string | null {
  if (name.length === 0) return `${kind} name is empty`;
  if (name.length > MAX_NAME_LENGTH) return `${kind} name is longer than ${MAX_NAME_LENGTH} characters`;
  if (!NAME_RE.test(name)) {
    return `${kind} name ${JSON.stringify(name)} is invalid: use lowercase letters and digits, joined by single '.', '_' or '-'`;
  }
  if (kind !== 'repo' && RESERVED_OWNERS.includes(name)) return `${kind} name ${JSON.stringify(name)} is reserved`;
  return null;
}

/**
 * The server's own identities: a build's registry credential is the user `codehub-build-<build>-<hex>`
 * (src/registry/token.ts BuildCredentials), and the registry's service is `codehub-build-registry`.
 */
export const RESERVED_USER_NAME = 'codehub-build';
export const RESERVED_USER_PREFIX = `${RESERVED_USER_NAME}-`;

/**
 * Null when `name` may be given to a new user, else why not: a valid user name that is not `codehub-build` and
 * does not start with `codehub-build-`, so that no user can pass for a build's credential in the registry's
 * tokens and logs. Checked when a user is made only: a user named so before the rule can still be listed,
 * given tokens and removed.
 */
export function newUserNameProblem(name: string): string | null {
  const problem = nameProblem('user', name);
  if (problem) return problem;
  if (name === RESERVED_USER_NAME || name.startsWith(RESERVED_USER_PREFIX)) {
    return `user name ${JSON.stringify(name)} is reserved: "${RESERVED_USER_NAME}" and names starting with "${RESERVED_USER_PREFIX}" are the server's own (its builds' registry credentials)`;
  }
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
  return folder
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/[._-]{2,}/g, '-')
    .replace(/^[._-]+|[._-]+$/g, '');
}

export const SHA_RE = /^[0-9a-f]{40}$/;
/** A commit prefix people type: 4 to 40 lowercase hex digits (git's own minimum is 4). */
export const SHA_PREFIX_RE = /^[0-9a-f]{4,40}$/;
