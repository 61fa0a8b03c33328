import type { Store } from '../store/store.js';
import { noRepo, type Outcome } from './outcome.js';

/**
 * Whether a repo's status badges answer anyone (so a README outside code-hub can show them) or only those who
 * may read the repo: its owner's choice. The rest of the repo stays as private as it was.
 */
export function setPublicBadge(store: Store, owner: string, repo: string, on: boolean): Outcome<{ public: boolean; branch: string }> {
  const row = store.repos.byName(owner, repo);
  if (!row) return noRepo(owner, repo);
  store.repos.setPublicBadge(row.id, on);
  // The badge a README shows first: the default branch's.
  return { ok: true, public: on, branch: row.defaultBranch ?? 'main' };
}
