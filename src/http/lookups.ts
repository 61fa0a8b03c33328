import type { Access } from '../auth/access.js';
import type { Caller } from '../store/scopes.js';
import { AmbiguousError, BadRequestError, NotFoundError } from '../errors.js';
import { BuildListQuery, parseRequest } from '../api/requests.js';
import { nameProblem, repoPathProblem } from '../names.js';
import type { Build, BuildStatus, Repo } from '../store/schema.js';
import type { Store } from '../store/store.js';
import { checked } from './outcome.js';

/** Throws BadRequestError unless `repo` is `<owner>/<name>` with valid names. */
export function checkRepoParam(repo: string): void {
  const problem = repoPathProblem(repo);
  if (problem) throw new BadRequestError(problem);
}

const BuildFilter = BuildListQuery.pick({ commit: true, status: true });

/**
 * A commit and status filter checked as the API's build list checks them: the commit a sha or prefix of 4 to
 * 40 hex digits, lowercased, the status one of the build statuses, each undefined for no filter (else a 400).
 */
export function buildFilter(q: { commit?: string | undefined; status?: string | undefined }): {
  commit?: string | undefined;
  status?: BuildStatus | undefined;
} {
  return checked(parseRequest(BuildFilter, q));
}

/**
 * What the API and the web pages look up for a caller, with the same checks and the same errors, so a page
 * shows exactly what the API answers the same token: another user's repo or build is not admitted to exist.
 */
export class Lookups {
  constructor(
    private store: Store,
    private access: Access,
  ) {}

  /**
   * The build the caller may act on at level `need`: BadRequestError for an id that is not a number,
   * NotFoundError when they may not read its repo, ForbiddenError when they may read it but not do this.
   */
  build(caller: Caller, idParam: string, need: 'read' | 'write' = 'read'): Build {
    if (!/^\d{1,15}$/.test(idParam)) throw new BadRequestError(`build id must be a number; got ${JSON.stringify(idParam)}`);
    const id = Number(idParam);
    const b = this.store.builds.byId(id);
    if (!b || !this.access.canRead(caller, b.repo)) throw new NotFoundError(`no build #${id}`);
    if (need !== 'read') this.access.require(caller, b.owner, b.repo.slice(b.owner.length + 1), need);
    return b;
  }

  /**
   * The namespace whose registry usage and images the caller may see: their own, or any with an admin token.
   * BadRequestError for a malformed name; NotFoundError for another user's (not admitted to exist) or none.
   */
  namespace(caller: Caller, name: string): string {
    const problem = nameProblem('user', name);
    if (problem) throw new BadRequestError(problem);
    this.access.requireScope(caller, 'read');
    const mayRead = caller.user.name === name || caller.scopes.includes('admin');
    if (!mayRead || (!this.store.accounts.userByName(name) && this.store.repos.countOf(name) === 0)) throw new NotFoundError(`no user ${name}`);
    return name;
  }

  /** The repo owner/repo when it exists and the caller may read it; else the NotFoundError a missing repo gets. */
  repo(caller: Caller, owner: string, repo: string): Repo {
    checkRepoParam(`${owner}/${repo}`);
    this.access.require(caller, owner, repo, 'read');
    const row = this.store.repos.byName(owner, repo);
    if (!row) throw new NotFoundError(`no repository ${owner}/${repo}`);
    return row;
  }

  /**
   * Every build of the one commit of owner/repo whose sha starts with `sha`: NotFoundError when none has a
   * build, AmbiguousError (with the candidates) when the prefix starts several.
   */
  commit(caller: Caller, owner: string, repo: string, sha: string): { repo: string; commit: string; builds: Build[] } {
    const row = this.repo(caller, owner, repo);
    const full = `${row.owner}/${row.name}`;
    const prefix = buildFilter({ commit: sha }).commit!;
    const commits = this.store.builds.commitsByPrefix(full, prefix, 10);
    if (commits.length === 0) throw new NotFoundError(`no build of ${full} for a commit starting with ${prefix}`);
    if (commits.length > 1) {
      throw new AmbiguousError(
        `commit prefix ${prefix} matches ${commits.length === 10 ? '10 or more' : commits.length} commits of ${full} (${commits.map((s) => s.slice(0, 12)).join(', ')}); give more digits`,
        { candidates: commits },
      );
    }
    return { repo: full, commit: commits[0]!, builds: this.store.builds.list({ readable: { all: true }, repo: full, commit: commits[0]!, limit: 200 }) };
  }
}
