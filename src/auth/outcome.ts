/**
 * What a request to the account and repo-settings services did. Nothing there throws for a refused request:
 * each returns its result, or a Refusal whose `problem` is the sentence to show (the CLI prints it, the API
 * answers it, http/outcome.ts maps the kind to a status).
 */

/**
 * Why a request was refused. `invalid`: a name, scope, label or id that can never be right (API 400);
 * `conflict`: the name is taken, now or by a removed user's repos, or the request would leave no admin (409);
 * `missing`: no such user, token or repo (404).
 */
export interface Refusal {
  ok: false;
  kind: 'invalid' | 'conflict' | 'missing';
  problem: string;
}
export type Outcome<T> = ({ ok: true } & T) | Refusal;

export const refuse = (kind: Refusal['kind'], problem: string): Refusal => ({ ok: false, kind, problem });

/** A repo setting asked of a repo no one has pushed to: a push makes the repo. */
export const noRepo = (owner: string, repo: string): Refusal => refuse('missing', `no repository ${owner}/${repo}: push to it first`);
