import { createHash } from 'node:crypto';
import { execa } from 'execa';
import type { Push, PushResult } from '../builds/enqueue.js';
import { BadGatewayError, BadRequestError, UnauthorizedError } from '../errors.js';
import { gitEnv } from '../git/env.js';
import { commitOf, refValue } from '../git/read.js';
import type { RepoStore } from '../git/repos.js';
import type { Logger } from '../log.js';
import { repoPathProblem } from '../names.js';
import type { ForgeStore } from '../store/forges.js';
import type { PushBuild } from '../store/schema.js';
import { KeyedLock } from '../util/keyed-lock.js';
import { isZeroSha, repoUrlKey, ZERO_SHA, type PushEvent } from './forge.js';
import { forgeNamed, type ForgeName, type WebhookRequest } from './index.js';
import { fetchUserFor, type OpenLink, type UpstreamLinks } from './links.js';
import { checkUpstreamUrl, fetchUpstream, remoteRef, type FetchUpstreamOptions, type FetchUpstreamResult, type UpstreamUrlOptions } from './upstream.js';

/** What the hook route answers the forge: shown in the forge's delivery log. */
export type HookAnswer =
  | { result: 'pong' | 'ignored' | 'duplicate'; message: string }
  | { result: 'queued' | 'deleted'; repo: string; ref: string; commit: string; builds: PushBuild[]; lines: string[] };

export interface WebhookDeps {
  links: UpstreamLinks;
  forges: ForgeStore;
  repos: RepoStore;
  log: Logger;
  /** Records a push's builds exactly as a push to this server's git does (BuildService.push). */
  push: (push: Push) => Promise<PushResult>;
  /**
   * Fixes the repo's default branch (the one tagged `latest`) if it has none yet: for a linked repo, the
   * forge's, rather than whichever branch happens to be delivered first.
   */
  defaultBranch?: (owner: string, name: string, branch: string) => Promise<void>;
  /** Fetches from the upstream, and reads a ref there (replaceable in unit tests). */
  fetch?: (opts: FetchUpstreamOptions) => Promise<FetchUpstreamResult>;
  remoteRef?: typeof remoteRef;
  /** The operator's restriction of upstream hosts, checked again at each delivery (links may predate it). */
  urlOptions?: UpstreamUrlOptions;
  now?: () => number;
}

/** Replay ids are kept this long: forges redeliver within hours, by hand within days. */
const DELIVERY_KEEP_MS = 30 * 86_400_000;
/** A delivery taken this long ago and never finished was cut off (the server stopped): its redelivery is taken. Longer than any fetch. */
const STALE_DELIVERY_MS = 10 * 60_000;

/**
 * A forge's push webhook, from the raw delivery to builds (issue 17, DESIGN.md "Existing forges"):
 *
 * 1. the link is found by `?repo=owner/name`, else by the payload's repository URLs (read before they are
 *    trusted, only to know which secret to check);
 * 2. the delivery is verified with that link's secret in the forge's scheme, before anything is acted on;
 * 3. a delivery id seen before is a replay and builds nothing;
 * 4. the pushed ref is fetched from the upstream (one fetch per repo at a time) and the push goes through
 *    the same path as a push to this server's git: config, tags, superseding, lookups; a deleted branch or
 *    tag is deleted here too, so retention sees it.
 *
 * Pings, other events and pushes no link matches are answered (2xx, as forges expect) and recorded nowhere.
 */
export class WebhookService {
  private fetchLock = new KeyedLock();
  private lastPrune = 0;
  private readonly now: () => number;

  constructor(private deps: WebhookDeps) {
    this.now = deps.now ?? Date.now;
  }

  async receive(forgeName: ForgeName, req: WebhookRequest, repoParam?: string): Promise<HookAnswer> {
    const forge = forgeNamed(forgeName);
    const parsed = forge.parse(req);
    let candidates: OpenLink[];
    if (repoParam !== undefined) {
      const problem = repoPathProblem(repoParam);
      if (problem) throw new BadRequestError(`?repo=: ${problem}`);
      const [owner = '', name = ''] = repoParam.split('/');
      const link = this.deps.links.openByName(owner, name);
      if (!link || link.forge.name !== forgeName) {
        return { result: 'ignored', message: `${repoParam} is not linked to a ${forgeName} upstream here; nothing to do (link it with PUT /api/repos/${repoParam}/upstream)` };
      }
      candidates = [link];
    } else {
      if (!parsed.ok) throw new BadRequestError(`${forgeName} delivery: ${parsed.problem}`);
      if (parsed.event.kind !== 'push') return this.unlinkedAnswer(parsed.event.kind);
      candidates = this.deps.links.openByUrls(parsed.event.repoUrls).filter((l) => l.forge.name === forgeName);
      if (candidates.length === 0) {
        return { result: 'ignored', message: `no repo here is linked to ${parsed.event.repoUrls[0]}; nothing to do (link one with PUT /api/repos/:owner/:repo/upstream)` };
      }
    }

    // Each link has its own secret; a delivery is for the links whose secret signed it (normally exactly one).
    const checks = candidates.map((l) => ({ link: l, v: forge.verify(req, l.webhookSecret) }));
    const verified = checks.filter((c) => c.v.ok).map((c) => c.link);
    if (verified.length === 0) {
      const reason = checks.map((c) => (c.v.ok ? '' : c.v.reason))[0]!;
      this.deps.log.warn('webhook delivery refused: signature', { forge: forgeName, repos: candidates.map((l) => `${l.owner}/${l.name}`), reason });
      throw new UnauthorizedError(`${forgeName} delivery refused: ${reason}`);
    }
    if (!parsed.ok) throw new BadRequestError(`${forgeName} delivery: ${parsed.problem}`);
    const event = parsed.event;
    if (event.kind === 'ping') return { result: 'pong', message: `the hook works: deliveries build ${verified.map((l) => `${l.owner}/${l.name}`).join(', ')}` };
    if (event.kind === 'ignored') return { result: 'ignored', message: `${event.event}: only pushes of branches and tags build; nothing to do` };

    const answers: HookAnswer[] = [];
    for (const link of verified) {
      if (repoParam !== undefined && !event.repoUrls.some((u) => repoUrlKey(u) === repoUrlKey(link.url.href))) {
        throw new BadRequestError(`the delivery is for ${event.repoFullName} (${event.repoUrls[0]}), but ${link.owner}/${link.name} is linked to ${link.url.href}; nothing was done`);
      }
      answers.push(await this.onPush(link, event, req));
    }
    return answers.length === 1 ? answers[0]! : merge(answers);
  }

  /** Without `?repo` and without a repository to match, nothing says which secret to check: a 2xx, doing nothing. */
  private unlinkedAnswer(kind: 'ping' | 'ignored'): HookAnswer {
    return kind === 'ping'
      ? { result: 'pong', message: 'pong; pushes build the repo linked to this repository (add ?repo=owner/name to the hook URL to check the secret on pings too)' }
      : { result: 'ignored', message: 'only pushes of branches and tags build; nothing to do' };
  }

  private async onPush(link: OpenLink, event: PushEvent, req: WebhookRequest): Promise<HookAnswer> {
    const { forges, log } = this.deps;
    const repo = `${link.owner}/${link.name}`;
    if (event.after.length === 64 || (event.before?.length ?? 0) === 64) {
      throw new BadRequestError(`${repo}: the upstream is a SHA-256 repository, which codehub-build does not build yet; nothing was done`);
    }
    // Without a forge's id, the body's hash: a replay is the same bytes.
    const delivery = event.deliveryId ?? `sha256:${createHash('sha256').update(req.body).digest('hex')}`;
    this.prune();
    const now = this.now();
    if (!forges.takeDelivery(link.repoId, delivery, new Date(now).toISOString(), new Date(now - STALE_DELIVERY_MS).toISOString())) {
      log.info('webhook delivery replayed; ignored', { forge: link.forge.name, repo, delivery });
      return { result: 'duplicate', message: `delivery ${delivery} was acted on before; nothing new is built` };
    }
    const work = this.fetchLock.run(repo, () => this.apply(link, event));
    this.inFlight.add(work);
    try {
      const answer = await work;
      forges.finishDelivery(link.repoId, delivery);
      forges.noteDelivery(link.repoId, answer.result, null);
      log.info('webhook push recorded', { forge: link.forge.name, repo, ref: event.ref, commit: event.after, delivery, result: answer.result, builds: 'builds' in answer ? answer.builds.map((b) => b.id) : [] });
      return answer;
    } catch (e) {
      log.warn('webhook push failed', { forge: link.forge.name, repo, ref: event.ref, commit: event.after, delivery, err: e as Error });
      // Not acted on: the forge's redelivery (same id) must be. The owner sees why (GET upstream), even when the forge got a 202.
      try {
        forges.forgetDelivery(link.repoId, delivery);
        forges.noteDelivery(link.repoId, 'failed', (e as Error).message);
      } catch (e2) {
        log.error('could not forget a failed webhook delivery; its redelivery is taken once it is stale', { repo, delivery, err: e2 as Error });
      }
      throw e;
    } finally {
      this.inFlight.delete(work);
    }
  }

  /** Resolves once the deliveries being worked on ended (for a server stopping: new ones are refused meanwhile). */
  async idle(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
  }

  private inFlight = new Set<Promise<HookAnswer>>();

  private async apply(link: OpenLink, event: PushEvent): Promise<HookAnswer> {
    const allowed = checkUpstreamUrl(link.url.href, this.deps.urlOptions);
    if (!allowed.ok) throw new BadRequestError(`${allowed.problem}; link ${link.owner}/${link.name} to an allowed upstream`);
    const gitDir = await this.deps.repos.ensure(link.owner, link.name);
    if (event.defaultBranch) await this.deps.defaultBranch?.(link.owner, link.name, event.defaultBranch);
    const here = await refValue(gitDir, event.ref);
    const access = { url: link.url, token: link.statusToken, username: fetchUserFor(link.forge.name) };
    if (event.deleted) {
      // Deliveries can come late or out of order: a branch made again since is not deleted here.
      const remote = await (this.deps.remoteRef ?? remoteRef)({ ...access, ref: event.ref });
      if (!remote.ok) throw new BadGatewayError(`${remote.problem}; nothing was deleted (use Redeliver in the forge's webhook log once this is fixed)`);
      if (remote.sha !== null) return { result: 'ignored', message: `${event.ref} exists on the upstream again (at ${remote.sha}): a stale deletion, nothing was deleted` };
      return this.deleteRef(link, event, gitDir, here);
    }

    const fetch = this.deps.fetch ?? ((o: FetchUpstreamOptions) => fetchUpstream(o));
    const r = await fetch({ gitDir, ...access, refs: [event.ref] });
    if (!r.ok) {
      // Deleted on the forge between the push and this fetch: the same as the deletion's own delivery.
      if (r.missing?.includes(event.ref)) return this.deleteRef(link, event, gitDir, here);
      throw new BadGatewayError(`${r.problem}; nothing was built (use Redeliver in the forge's webhook log once this is fixed)`);
    }
    // The upstream's ref now. If it is not the pushed commit, a newer push (or a force push) came since, and
    // building this one would move the branch's tags back: the newer push's own delivery builds that.
    const fetched = r.updated.find((u) => u.ref === event.ref)?.sha ?? null;
    if (fetched !== event.after && !(fetched !== null && (await sameCommit(gitDir, fetched, event.after)))) {
      return { result: 'ignored', message: `${event.ref} on the upstream is at ${fetched ?? 'nothing'} now, not ${event.after}: a stale delivery; the newer push's builds that` };
    }
    // `old` picks the paths a push changed (config `paths:`): the forge's `before` when this repo has it, else what the ref was here.
    const known = event.before !== null && !isZeroSha(event.before) && (event.before === here || (await commitOf(gitDir, event.before)) !== null);
    const before = known ? event.before! : here ?? ZERO_SHA;
    const result = await this.deps.push({ owner: link.owner, repo: link.name, pusher: pusherOf(link, event), updates: [{ old: before, new: event.after, ref: event.ref }], options: [] });
    return { result: 'queued', repo: `${link.owner}/${link.name}`, ref: event.ref, commit: event.after, builds: result.builds, lines: result.lines };
  }

  private async deleteRef(link: OpenLink, event: PushEvent, gitDir: string, here: string | null): Promise<HookAnswer> {
    if (here !== null) await execa('git', ['--git-dir', gitDir, 'update-ref', '-d', event.ref, here], { env: gitEnv(), extendEnv: false });
    const old = here ?? (event.before !== null && !isZeroSha(event.before) ? event.before : ZERO_SHA);
    const result = await this.deps.push({ owner: link.owner, repo: link.name, pusher: pusherOf(link, event), updates: [{ old, new: ZERO_SHA, ref: event.ref }], options: [] });
    return { result: 'deleted', repo: `${link.owner}/${link.name}`, ref: event.ref, commit: ZERO_SHA, builds: result.builds, lines: result.lines };
  }

  /** At most hourly: forget delivery ids older than any redelivery. */
  private prune(): void {
    const now = this.now();
    if (now - this.lastPrune < 3_600_000) return;
    this.lastPrune = now;
    const n = this.deps.forges.pruneDeliveries(new Date(now - DELIVERY_KEEP_MS).toISOString());
    if (n) this.deps.log.info('old webhook delivery ids forgotten', { count: n });
  }
}

/** `<forge>:<user>`: who pushed on the forge, kept apart from this server's users. */
function pusherOf(link: OpenLink, event: PushEvent): string {
  const who = (event.pusher ?? 'unknown').replace(/[^A-Za-z0-9._@-]/g, '_').slice(0, 64);
  return `${link.forge.name}:${who}`;
}

function merge(answers: HookAnswer[]): HookAnswer {
  const pushed = answers.filter((a): a is Extract<HookAnswer, { builds: PushBuild[] }> => 'builds' in a);
  if (pushed.length === 0) return answers[0]!;
  return { ...pushed[0]!, builds: pushed.flatMap((a) => a.builds), lines: pushed.flatMap((a) => a.lines) };
}

/** Whether two object ids name the same commit (an annotated tag and its commit do). */
async function sameCommit(gitDir: string, a: string, b: string): Promise<boolean> {
  const x = await commitOf(gitDir, a);
  return x !== null && x === (await commitOf(gitDir, b));
}
