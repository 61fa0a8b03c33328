import { createHash, randomBytes } from 'node:crypto';
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
import { isZeroSha, repoUrlKey, ZERO_SHA, type Forge, type ParseResult, type PushEvent } from './forge.js';
import { forgeNamed, type ForgeName, type WebhookRequest } from './index.js';
import { fetchUserFor, type OpenLink, type UpstreamLinks } from './links.js';
import { checkUpstreamUrl, fetchUpstream, remoteRef, type FetchUpstreamOptions, type FetchUpstreamResult, type UpstreamUrlOptions } from './upstream.js';

/** What the hook route answers the forge: shown in the forge's delivery log. */
export type HookAnswer =
  | { result: 'pong' | 'ignored' | 'duplicate'; message: string }
  | { result: 'queued' | 'deleted'; repo: string; ref: string; commit: string; builds: PushBuild[]; lines: string[] }
  /** A push already acted on, delivered again under another id: the builds it already made. */
  | { result: 'duplicate'; message: string; repo: string; ref: string; commit: string; builds: PushBuild[]; lines: string[] };

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

/** Where each forge authenticates a delivery, for the one answer every refused delivery gets. */
const SIGNED_BY: Record<ForgeName, string> = {
  github: 'signature (X-Hub-Signature-256)',
  gitea: 'signature (X-Forgejo-Signature, X-Gitea-Signature or X-Hub-Signature-256)',
  gitlab: 'token (X-Gitlab-Token)',
};

/**
 * The answer to a delivery that no link verifies, whatever the reason: no repo of that name, a repo not
 * linked, linked to another forge, or a wrong or missing signature. One status and one text for all of them,
 * so that an unsigned request learns nothing of which repos exist here or where they are linked; the
 * server's log says which it was.
 */
export function refusalMessage(forge: ForgeName): string {
  return `${forge} delivery refused: its ${SIGNED_BY[forge]} does not verify for this repo's link, or the repo is not linked to ${forge} here (the server's log says which)`;
}

/**
 * Whether a push delivery was acted on already, under whatever delivery id: the ref here is at its `after`
 * and that commit has builds of that ref (queued, running or ended). Then it builds nothing again, and the
 * answer is the newest build of each image. The delivery id is not covered by the forge's signature, so it
 * cannot tell a replay from a push; the ref can. A real push moves the ref from elsewhere (our ref is at its
 * `before`, or behind), so it is built, even one going back to a commit built before (A, B, A, B on GitLab,
 * which signs no id at all: each push finds the ref at the other commit). Null: act on it.
 */
export function alreadyBuilt(here: string | null, event: PushEvent, builds: PushBuild[]): PushBuild[] | null {
  if (event.deleted || here === null || here !== event.after) return null;
  const done = builds.filter((b) => b.commitSha === event.after && b.ref === event.ref);
  if (done.length === 0) return null;
  const newest = new Map<string, PushBuild>();
  for (const b of [...done].sort((x, y) => y.id - x.id)) if (!newest.has(b.image)) newest.set(b.image, b);
  return [...newest.values()].sort((x, y) => x.id - y.id);
}

/**
 * A forge's push webhook, from the raw delivery to builds (issue 17, DESIGN.md "Existing forges"):
 *
 * 1. the link is found by `?repo=owner/name`, else by the payload's repository URLs (read before they are
 *    trusted, only to know which secret to check);
 * 2. the delivery is verified with that link's secret in the forge's scheme, before anything is acted on;
 *    no link to verify with is refused exactly as a wrong signature is (refusalMessage);
 * 3. a delivery id seen before is a replay and builds nothing; so does a push already acted on under
 *    another id (alreadyBuilt): the id is not signed;
 * 4. the pushed ref is fetched from the upstream (one fetch per repo at a time) and the push goes through
 *    the same path as a push to this server's git: config, tags, superseding, lookups; a deleted branch or
 *    tag is deleted here too, so retention sees it.
 *
 * Pings and other events without `?repo` (nothing says which link's secret to check, and the answer depends
 * on no link), and verified ones that build nothing, are answered 2xx, as forges expect, and recorded nowhere.
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
    const found = this.candidates(forgeName, parsed, repoParam);
    if ('answer' in found) return found.answer;
    const verified = this.verified(forge, req, found);
    if (!parsed.ok) throw new BadRequestError(`${forgeName} delivery: ${parsed.problem}`);
    const event = parsed.event;
    if (event.kind === 'ping') return { result: 'pong', message: `the hook works: deliveries build ${verified.map((l) => `${l.owner}/${l.name}`).join(', ')}` };
    if (event.kind === 'ignored') return { result: 'ignored', message: `${event.event}: only pushes of branches and tags build; nothing to do` };

    const answers: HookAnswer[] = [];
    for (const link of verified) {
      if (repoParam !== undefined && !event.repoUrls.some((u) => repoUrlKey(u) === repoUrlKey(link.url.href))) {
        throw new BadRequestError(
          `the delivery is for ${event.repoFullName} (${event.repoUrls[0]}), but ${link.owner}/${link.name} is linked to ${link.url.href}; nothing was done`,
        );
      }
      answers.push(await this.onPush(link, event, req));
    }
    return answers.length === 1 ? answers[0]! : merge(answers);
  }

  /**
   * The links a delivery may be for: the one `?repo` names, else those whose upstream is the payload's
   * repository. None is not answered yet: it is refused like a wrong signature (verified). `missing` says why
   * there is none, for the log. Only what does not depend on any link is answered here: a `?repo` that is no
   * repo name, and without `?repo` a body that cannot be read or an event that names no repo to look up.
   */
  private candidates(
    forgeName: ForgeName,
    parsed: ParseResult,
    repoParam: string | undefined,
  ): { links: OpenLink[]; missing?: string } | { answer: HookAnswer } {
    if (repoParam !== undefined) {
      const problem = repoPathProblem(repoParam);
      if (problem) throw new BadRequestError(`?repo=: ${problem}`);
      const [owner = '', name = ''] = repoParam.split('/');
      const link = this.deps.links.openByName(owner, name);
      if (!link) return { links: [], missing: `${repoParam} is not linked to an upstream` };
      if (link.forge.name !== forgeName) return { links: [], missing: `${repoParam} is linked to ${link.forge.name}, not ${forgeName}` };
      return { links: [link] };
    }
    if (!parsed.ok) throw new BadRequestError(`${forgeName} delivery: ${parsed.problem}`);
    if (parsed.event.kind !== 'push') return { answer: this.unlinkedAnswer(parsed.event.kind) };
    const links = this.deps.links.openByUrls(parsed.event.repoUrls).filter((l) => l.forge.name === forgeName);
    return links.length > 0 ? { links } : { links: [], missing: `no repo is linked to ${forgeName} ${parsed.event.repoUrls[0]!.slice(0, 300)}` };
  }

  /**
   * The candidates whose secret signed the delivery (normally exactly one: each link has its own secret).
   * None: UnauthorizedError with the same text whatever the reason (refusalMessage), and the reason in the log.
   */
  private verified(forge: Forge, req: WebhookRequest, found: { links: OpenLink[]; missing?: string }): OpenLink[] {
    const checks = found.links.map((l) => ({ link: l, v: forge.verify(req, l.webhookSecret) }));
    // No link: the same HMAC over the body all the same, so the time taken does not tell either.
    if (checks.length === 0) forge.verify(req, this.decoySecret);
    const verified = checks.filter((c) => c.v.ok).map((c) => c.link);
    if (verified.length > 0) return verified;
    const reason = found.missing ?? checks.map((c) => (c.v.ok ? '' : c.v.problem))[0]!;
    this.deps.log.warn('webhook delivery refused', {
      forge: forge.name,
      why: found.missing !== undefined ? 'not linked' : 'signature',
      repos: found.links.map((l) => `${l.owner}/${l.name}`),
      reason,
    });
    throw new UnauthorizedError(refusalMessage(forge.name));
  }

  /** A secret no link has: what a delivery for no link is checked against. */
  private readonly decoySecret = randomBytes(32).toString('base64');

  /** Without `?repo` and without a repository to match, nothing says which secret to check: a 2xx, doing nothing. */
  private unlinkedAnswer(kind: 'ping' | 'ignored'): HookAnswer {
    return kind === 'ping'
      ? {
          result: 'pong',
          message: 'pong; pushes build the repo linked to this repository (add ?repo=owner/name to the hook URL to check the secret on pings too)',
        }
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
      log.info('webhook push recorded', {
        forge: link.forge.name,
        repo,
        ref: event.ref,
        commit: event.after,
        delivery,
        result: answer.result,
        builds: 'builds' in answer ? answer.builds.map((b) => b.id) : [],
      });
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
    if (!allowed.ok) throw this.refusedUpstream(link, allowed.problem);
    const gitDir = await this.deps.repos.ensure(link.owner, link.name);
    if (event.defaultBranch) await this.deps.defaultBranch?.(link.owner, link.name, event.defaultBranch);
    const here = await refValue(gitDir, event.ref);
    // Under the repo's fetch lock, so a push and its replay sent at once are told apart too: the first has recorded its builds.
    const done = here === event.after ? alreadyBuilt(here, event, this.deps.links.buildsOf(link, event.ref, event.after)) : null;
    if (done) return this.builtBefore(link, event, done);
    const access = {
      url: link.url,
      token: link.statusToken,
      username: fetchUserFor(link.forge.name),
      ...(this.deps.urlOptions ? { urlOptions: this.deps.urlOptions } : {}),
    };
    if (event.deleted) {
      // Deliveries can come late or out of order: a branch made again since is not deleted here.
      const remote = await (this.deps.remoteRef ?? remoteRef)({ ...access, ref: event.ref });
      if (!remote.ok && remote.refused) throw this.refusedUpstream(link, remote.problem);
      if (!remote.ok) throw new BadGatewayError(`${remote.problem}; nothing was deleted (use Redeliver in the forge's webhook log once this is fixed)`);
      if (remote.sha !== null)
        return { result: 'ignored', message: `${event.ref} exists on the upstream again (at ${remote.sha}): a stale deletion, nothing was deleted` };
      return this.deleteRef(link, event, gitDir, here);
    }

    const fetch = this.deps.fetch ?? ((o: FetchUpstreamOptions) => fetchUpstream(o));
    const r = await fetch({ gitDir, ...access, refs: [event.ref] });
    if (!r.ok) {
      if (r.refused) throw this.refusedUpstream(link, r.problem);
      // Deleted on the forge between the push and this fetch: the same as the deletion's own delivery.
      if (r.missing?.includes(event.ref)) return this.deleteRef(link, event, gitDir, here);
      throw new BadGatewayError(`${r.problem}; nothing was built (use Redeliver in the forge's webhook log once this is fixed)`);
    }
    // The upstream's ref now. If it is not the pushed commit, a newer push (or a force push) came since, and
    // building this one would move the branch's tags back: the newer push's own delivery builds that.
    const fetched = r.updated.find((u) => u.ref === event.ref)?.sha ?? null;
    if (fetched !== event.after && !(fetched !== null && (await sameCommit(gitDir, fetched, event.after)))) {
      return {
        result: 'ignored',
        message: `${event.ref} on the upstream is at ${fetched ?? 'nothing'} now, not ${event.after}: a stale delivery; the newer push's builds that`,
      };
    }
    // `old` picks the paths a push changed (config `paths:`): the forge's `before` when this repo has it, else what the ref was here.
    const known = event.before !== null && !isZeroSha(event.before) && (event.before === here || (await commitOf(gitDir, event.before)) !== null);
    const before = known ? event.before! : (here ?? ZERO_SHA);
    const result = await this.deps.push({
      owner: link.owner,
      repo: link.name,
      pusher: pusherOf(link, event),
      updates: [{ old: before, new: event.after, ref: event.ref }],
      options: [],
    });
    return { result: 'queued', repo: `${link.owner}/${link.name}`, ref: event.ref, commit: event.after, builds: result.builds, lines: result.lines };
  }

  /** A link whose upstream the rules of hosts refuse now (a link made before them, or a host that resolves elsewhere now): nothing was contacted. */
  private refusedUpstream(link: OpenLink, problem: string): BadRequestError {
    return new BadRequestError(`${problem}; nothing was fetched or built: link ${link.owner}/${link.name} to an allowed upstream`);
  }

  private builtBefore(link: OpenLink, event: PushEvent, builds: PushBuild[]): HookAnswer {
    const which = builds.map((b) => `build ${b.id} (${b.image}, ${b.status})`).join(', ');
    return {
      result: 'duplicate',
      repo: `${link.owner}/${link.name}`,
      ref: event.ref,
      commit: event.after,
      builds,
      lines: [],
      message: `${event.ref} here is already at ${event.after}, and this push was acted on: ${which}; a delivery of it again (under any id) builds nothing new`,
    };
  }

  private async deleteRef(link: OpenLink, event: PushEvent, gitDir: string, here: string | null): Promise<HookAnswer> {
    if (here !== null) await execa('git', ['--git-dir', gitDir, 'update-ref', '-d', event.ref, here], { env: gitEnv(), extendEnv: false });
    const old = here ?? (event.before !== null && !isZeroSha(event.before) ? event.before : ZERO_SHA);
    const result = await this.deps.push({
      owner: link.owner,
      repo: link.name,
      pusher: pusherOf(link, event),
      updates: [{ old, new: ZERO_SHA, ref: event.ref }],
      options: [],
    });
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
