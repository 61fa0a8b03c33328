import { nameProblem } from '../names.js';
import type { MemberRole } from '../store/scopes.js';
import type { Store } from '../store/store.js';
import { refuse, type Outcome } from './outcome.js';

/**
 * Who else may use a repo: its owner shares it with a user as `read` (clone, builds, logs) or `write` (also
 * push, cancel, rebuild). The route has checked that the caller owns the repo; these are the rules about the
 * other user. As in accounts.ts, nothing throws for a refused request: a Refusal's `problem` is the sentence
 * to show (`invalid` a 400, `missing` a 404).
 */

export interface Member {
  user: string;
  role: MemberRole;
  /** When the repo was shared with them (ISO 8601). */
  since: string;
}

/** The users owner/repo is shared with, by name; none for a repo not pushed to yet. */
export function membersOf(store: Store, owner: string, repo: string): Member[] {
  const row = store.repos.byName(owner, repo);
  return (row ? store.repos.members(row.id) : []).map((m) => ({ user: m.user, role: m.role, since: m.createdAt }));
}

/**
 * Shares owner/repo with `user` as `role`, or changes the role it has. A repo not pushed to yet is made, so
 * its members can push first; the owner is not a member of their own repo.
 */
export function share(store: Store, owner: string, repo: string, user: string, role: MemberRole): Outcome<{ user: string; role: MemberRole }> {
  const problem = nameProblem('user', user);
  if (problem) return refuse('invalid', problem);
  const target = store.accounts.userByName(user);
  if (!target) return refuse('missing', `no user ${user}`);
  if (target.name === owner) return refuse('invalid', `${user} owns ${owner}/${repo} already`);
  store.repos.share(store.repos.ensure(owner, repo).id, target.id, role);
  return { ok: true, user, role };
}

/** Stops sharing owner/repo with `user`; a user it was not shared with is `missing`, whoever they are. */
export function unshare(store: Store, owner: string, repo: string, user: string): Outcome<{ user: string }> {
  const target = store.accounts.userByName(user);
  const row = store.repos.byName(owner, repo);
  if (!target || !row || !store.repos.unshare(row.id, target.id)) return refuse('missing', `${owner}/${repo} is not shared with ${user}`);
  return { ok: true, user };
}
