import { ForbiddenError, NotFoundError } from '../errors.js';
import type { Store } from '../store/store.js';
import type { Caller, Readable, Role, Scope } from '../store/scopes.js';

const RANK: Record<Role, number> = { read: 1, write: 2, owner: 3 };
/** The token scope each level of access needs. */
const SCOPE_FOR: Record<Role, Scope> = { read: 'read', write: 'push', owner: 'push' };

/**
 * Who may do what to a repo, decided in one place for git, the API, logs and secrets: the owner may do
 * everything, a user it is shared with what their role allows, an admin token everything everywhere; and the
 * token must carry the scope the action needs.
 */
export class Access {
  constructor(private store: Store) {}

  /** The caller's role on owner/repo, or null. */
  role(caller: Caller, owner: string, repo: string): Role | null {
    if (caller.scopes.includes('admin') || caller.user.name === owner) return 'owner';
    return this.store.repos.memberRole(owner, repo, caller.user.id) ?? null;
  }

  /**
   * Throws unless the caller may act on owner/repo at level `need`: NotFoundError when they may not even read
   * it (another user's repo is not admitted to exist), ForbiddenError when they may read it but not this, or
   * when the token lacks the scope.
   */
  require(caller: Caller, owner: string, repo: string, need: Role): Role {
    const role = this.role(caller, owner, repo);
    if (!role) throw new NotFoundError(`no repository ${owner}/${repo}`);
    if (RANK[role] < RANK[need]) {
      throw new ForbiddenError(`${caller.user.name} has ${role} access to ${owner}/${repo}; this needs ${need === 'owner' ? 'its owner' : `${need} access`}`);
    }
    this.requireScope(caller, SCOPE_FOR[need]);
    return role;
  }

  /** Whether the caller may act on owner/repo at level `need` (role and token scope), without throwing. */
  allows(caller: Caller, owner: string, repo: string, need: Role): boolean {
    const role = this.role(caller, owner, repo);
    return role !== null && RANK[role] >= RANK[need] && hasScope(caller, SCOPE_FOR[need]);
  }

  /** Throws ForbiddenError unless the caller's token carries `scope` (or admin). */
  requireScope(caller: Caller, scope: Scope): void {
    if (!hasScope(caller, scope)) {
      throw new ForbiddenError(
        `this token has no ${scope} scope (it has ${caller.scopes.join(', ') || 'none'}); create one with it: codehub-build token create ${caller.user.name} --scopes ${scope}`,
      );
    }
  }

  /** Whether the caller can read builds of `repo` (owner/name), without throwing. */
  canRead(caller: Caller, repo: string): boolean {
    const [owner = '', name = ''] = repo.split('/');
    return this.allows(caller, owner, name, 'read');
  }

  /**
   * Whether user `name` may read owner/repo with their own user's rights, as a clone with a read token would (an
   * admin token's reach does not carry over); 'no such user' when there is no user of that name. A build's
   * submodules are read so (context/submodules.ts): the pusher's token is not known once the build runs.
   */
  userMayRead(name: string, owner: string, repo: string): boolean | 'no such user' {
    const user = this.store.accounts.userByName(name);
    if (!user) return 'no such user';
    return this.allows({ user, tokenId: 0, scopes: ['read'] }, owner, repo, 'read');
  }

  readable(caller: Caller): Readable {
    if (caller.scopes.includes('admin')) return { all: true };
    return { all: false, owner: caller.user.name, shared: this.store.repos.sharedWith(caller.user.id) };
  }
}

const hasScope = (caller: Caller, scope: Scope): boolean => caller.scopes.includes(scope) || caller.scopes.includes('admin');
