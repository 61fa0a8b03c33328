import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import { BadRequestError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ForgeStore } from '../store/forges.js';
import { isPush, type Build, type CommitStatusRow, type StatusStateName } from '../store/schema.js';
import { formatDuration } from '../units.js';
import { mapLimit } from '../util/map-limit.js';
import { storedBuildScan } from '../scan/report.js';
import type { HttpCall } from './forge.js';
import type { OpenLink, UpstreamLinks } from './links.js';
import { hostProblem, isLinkLocal, LINK_LOCAL_RULE } from './upstream.js';

/** The forge's answer to a status call. */
export interface StatusAnswer {
  status: number;
  /** The body, or its first 64 KiB. */
  body: string;
  /** Retry-After, when sent. */
  retryAfter?: string;
  /** GitHub's and GitLab's rate limits: `x-ratelimit-remaining` is 0 (GitHub answers such a limit with 403). */
  rateLimited?: boolean;
  /** Where a redirect pointed (not followed). */
  location?: string;
}

/** Sends one status call; resolves with the forge's answer, rejects when there was none (refused, timed out). */
export type StatusSender = (call: HttpCall, signal: AbortSignal) => Promise<StatusAnswer>;

const MAX_ANSWER_CHARS = 64 * 1024;

/** A host name's addresses for node's sockets, as dns.lookup gives them with `all`; replaceable in tests. */
export type LookupAll = (host: string, family: number, done: (err: Error | null, addresses: LookupAddress[]) => void) => void;
const systemLookupAll: LookupAll = (host, family, done) => dnsLookup(host, { all: true, family }, done);

/**
 * The lookup node's http client connects with: what the name resolves to is checked as the connection is
 * made, so no second lookup (DNS rebinding) can point a status call, and its token, at a link-local address
 * (cloud metadata) after a check. A host the operator's list names is looked up as usual.
 */
export function refusingLinkLocal(allowHost?: (host: string) => boolean, lookupAll: LookupAll = systemLookupAll): LookupFunction {
  return (hostname, options, callback) => {
    const answer = callback as (err: Error | null, address: string | LookupAddress[], family?: number) => void;
    if (allowHost?.(hostname)) {
      dnsLookup(hostname, options, callback);
      return;
    }
    const family = options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : (options.family ?? 0);
    lookupAll(hostname, family, (err, addresses) => {
      if (err) return answer(err, '', 0);
      const bad = addresses.find((a) => isLinkLocal(a.address));
      if (bad) return answer(new BadRequestError(`host ${hostname} resolves to ${bad.address}, a link-local address; ${LINK_LOCAL_RULE}`), '', 0);
      if (options.all) return answer(null, addresses);
      const first = addresses[0];
      if (!first) return answer(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), '', 0);
      return answer(null, first.address, first.family);
    });
  };
}

/**
 * Sends status calls with node's http client (not fetch: its lookup cannot be replaced), every connection
 * through refusingLinkLocal. No redirects are followed: the Authorization header must not follow a forge's
 * answer to another host.
 */
export function httpSender(opts: { allowHost?: ((host: string) => boolean) | undefined; lookupAll?: LookupAll } = {}): StatusSender {
  const lookup = refusingLinkLocal(opts.allowHost, opts.lookupAll);
  return (call, signal) =>
    new Promise<StatusAnswer>((resolve, reject) => {
      const url = new URL(call.url);
      const body = Buffer.from(call.body);
      const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
      const req = request(url, { method: call.method, headers: { ...call.headers, 'Content-Length': String(body.length) }, lookup, signal }, (res) => {
        readAnswer(res).then(resolve, reject);
      });
      // An abort rejects with the signal's reason (a TimeoutError for AbortSignal.timeout), as fetch did.
      req.on('error', (e) => reject(signal.aborted ? signal.reason : e));
      req.end(body);
    });
}

async function readAnswer(res: IncomingMessage): Promise<StatusAnswer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res) {
    // Read to the end (the socket goes back to the pool), kept only up to the limit.
    if (size < MAX_ANSWER_CHARS * 4) chunks.push(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  const h = (k: string) => {
    const v = res.headers[k];
    return Array.isArray(v) ? v[0] : v;
  };
  return {
    status: res.statusCode ?? 0,
    body: Buffer.concat(chunks).toString('utf8').slice(0, MAX_ANSWER_CHARS),
    retryAfter: h('retry-after'),
    rateLimited: h('x-ratelimit-remaining') === '0',
    location: h('location'),
  };
}

/** The scan's counts for a commit status (forges cut descriptions at 140 characters: the counts, not the list). */
function scanNote(b: Build): string {
  const scan = storedBuildScan(b.scan);
  if (!scan || scan.status === 'skipped') return '';
  if (scan.status === 'error') return '; not scanned';
  const c = scan.counts;
  const parts = (['critical', 'high', 'medium', 'low'] as const).filter((k) => c[k] > 0).map((k) => `${c[k]} ${k}`);
  const blocking = scan.blocking.length ? `, ${scan.blocking.length} blocking` : '';
  return `; vulnerabilities: ${parts.length ? parts.join(', ') : 'none found'}${blocking}`;
}

/** The status a build owes its forge now, or null when it owes none (nothing was built, e.g. no Dockerfile). */
export function statusFor(b: Build): { state: StatusStateName; description: string } | null {
  switch (b.status) {
    case 'queued':
      return { state: 'pending', description: 'queued' };
    case 'running':
      return { state: 'pending', description: `building${b.builder ? ` on ${b.builder}` : ''}` };
    case 'succeeded': {
      const took = b.startedAt && b.finishedAt ? ` in ${formatDuration(Date.parse(b.finishedAt) - Date.parse(b.startedAt))}` : '';
      return { state: 'success', description: `built ${b.image}${took}${scanNote(b)}` };
    }
    case 'failed':
      if (b.reasonCode === 'vulnerabilities') return { state: 'failure', description: `${b.image} blocked by its scan${scanNote(b)}` };
      // A fault of the service (a builder lost, a restart) is an error; the commit's own (config, Dockerfile, quota, timeout) a failure.
      return { state: b.reasonCode === 'infrastructure' || b.reasonCode === 'interrupted' ? 'error' : 'failure', description: b.reason ?? 'failed' };
    case 'canceled':
      return { state: 'error', description: `canceled: ${b.reason ?? ''}`.replace(/: $/, '') };
    case 'skipped':
      return b.reasonCode === 'skipped' ? null : { state: 'error', description: b.reason ?? 'not built' };
  }
}

export interface StatusReporterDeps {
  forges: ForgeStore;
  links: UpstreamLinks;
  log: Logger;
  publicUrl: string;
  send?: StatusSender;
  /** First retry after this long, doubling to `maxMs`. Defaults 1 s and 60 s. */
  baseMs?: number;
  maxMs?: number;
  /** A state not delivered this long after it was wanted is given up. Default 24 h. */
  giveUpAfterMs?: number;
  /** One call's limit. Default 10 s. */
  timeoutMs?: number;
  /**
   * The commit an object id of the repo names: a build of an annotated tag records the tag's object, and
   * forges set statuses on commits only. Without it the id is sent as it is.
   */
  commitOf?: (owner: string, name: string, sha: string) => Promise<string>;
  /**
   * The operator's restriction of hosts (CODEHUB_UPSTREAM_HOSTS): a status is not sent elsewhere, whatever the
   * link says. Without it, any host but a link-local address, or a name that resolves to one.
   */
  allowHost?: (host: string) => boolean;
  now?: () => number;
}

/** HTTP answers that say the status will never be accepted as sent: retrying cannot help, the link must change. */
const PERMANENT = new Set([301, 302, 303, 307, 308, 400, 401, 403, 404, 405, 410, 422]);
const BATCH = 16;
const PARALLEL = 4;

/**
 * Sends each build's result to its forge as a commit status: `pending` when queued, then `success`,
 * `failure` or `error` when it ends, linking the build page. What is owed is in the database
 * (commit_statuses), so a forge that is down, or a server restart, only delays it: failed calls are retried
 * with back-off (1 s doubling to 60 s, honouring Retry-After) for a day. Nothing here ever waits in a
 * build's path: `queued` and `ended` only record and wake the sender.
 *
 * Only the latest state is sent: a build that ends while its `pending` is still being retried sends its
 * result alone. A refused status (bad token, unknown repository or commit) stops at once, with the reason on
 * the build.
 */
export class StatusReporter {
  private timer: NodeJS.Timeout | undefined;
  private draining: Promise<void> | undefined;
  private again = false;
  private stopped = true;
  private readonly send: StatusSender;
  private readonly now: () => number;

  constructor(private deps: StatusReporterDeps) {
    this.send = deps.send ?? httpSender({ allowHost: deps.allowHost });
    this.now = deps.now ?? Date.now;
  }

  /** A build of a linked repo was recorded: its `pending` is owed, unless its end is already. */
  queued(b: Build): void {
    this.record(b, true);
  }

  /** A build ended (or was recorded ended): its result is owed. */
  ended(b: Build): void {
    this.record(b, false);
  }

  /** Sends what is owed, including what a previous process left. */
  start(): void {
    this.stopped = false;
    this.wake();
  }

  /** Stops sending; resolves when the calls in flight ended. What is still owed is sent after the next start. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.draining;
  }

  private record(b: Build, onlyIfNew: boolean): void {
    if (!isPush(b)) return;
    // Called from the build's own path (recording a push, a build's end): a failure here is logged, never thrown there.
    try {
      const link = this.deps.forges.link(b.repoId);
      if (!link || link.statusToken === null) return;
      const s = statusFor(b);
      if (!s) return;
      this.deps.forges.want(
        { buildId: b.id, repoId: b.repoId, sha: b.commitSha, ref: b.refName, context: `codehub-build/${b.image}`, ...s },
        this.now(),
        onlyIfNew,
      );
    } catch (e) {
      this.deps.log.error('could not record the commit status a build owes', { build: b.id, err: e as Error });
      return;
    }
    this.wake();
  }

  /** Runs a drain now, or right after the one running. */
  private wake(): void {
    if (this.stopped) return;
    if (this.draining) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.draining = this.drain()
      .catch((e: Error) => this.deps.log.error('sending commit statuses failed; they stay owed', { err: e }))
      .finally(() => {
        this.draining = undefined;
        if (this.again) {
          this.again = false;
          this.wake();
        } else this.schedule();
      });
  }

  private schedule(): void {
    if (this.stopped) return;
    let wait: number;
    try {
      const next = this.deps.forges.nextDue();
      if (next === undefined) return;
      wait = Math.min(Math.max(0, Date.parse(next) - this.now()), 2 ** 31 - 1);
    } catch (e) {
      this.deps.log.error('could not read which commit statuses are due; trying again in a minute', { err: e as Error });
      wait = 60_000;
    }
    this.timer = setTimeout(() => this.wake(), wait);
    this.timer.unref();
  }

  private async drain(): Promise<void> {
    for (;;) {
      if (this.stopped) return;
      const rows = this.deps.forges.due(this.now(), BATCH);
      if (rows.length === 0) return;
      await mapLimit(rows, PARALLEL, (row) =>
        this.deliver(row).catch((e: Error) => this.deps.log.error('sending a commit status failed unexpectedly', { build: row.buildId, err: e })),
      );
    }
  }

  private async deliver(row: CommitStatusRow): Promise<void> {
    const { forges, log } = this.deps;
    const giveUp = (error: string) => {
      forges.failed(row.buildId, row.state, error, null);
      log.warn('commit status not delivered; gave up', { build: row.buildId, state: row.state, error });
    };
    let link: OpenLink | undefined;
    try {
      link = this.deps.links.openById(row.repoId);
    } catch (e) {
      return giveUp((e as Error).message);
    }
    if (!link) return giveUp('the repo is no longer linked to an upstream');
    if (!link.statusToken) return giveUp('the link has no status_token; set one with PUT /api/repos/:owner/:repo/upstream');
    let call: HttpCall;
    try {
      const sha = this.deps.commitOf ? await this.deps.commitOf(link.owner, link.name, row.sha) : row.sha;
      call = link.forge.statusCall(link.url.href, link.apiUrl, link.statusToken, {
        sha,
        state: row.state,
        targetUrl: `${this.deps.publicUrl}/builds/${row.buildId}`,
        description: row.description,
        context: row.context,
        ref: row.ref,
      });
    } catch (e) {
      return giveUp((e as Error).message);
    }
    const where = `${link.forge.name} at ${new URL(call.url).host}`;
    // Checked at every call: the link may be older than the rules, or than the operator's list.
    const refused = hostProblem(new URL(call.url).hostname, this.deps.allowHost ? { allowHosts: this.deps.allowHost } : {});
    if (refused !== null) {
      return giveUp(
        this.deps.allowHost
          ? `${where} is not among the hosts the operator allows (CODEHUB_UPSTREAM_HOSTS); link the repo again`
          : `the status API ${refused}; link the repo again`,
      );
    }
    // Whatever the forge or the HTTP client says goes into the build's record and the log: never the token.
    const masked = (text: string) => text.split(link.statusToken!).join('***');
    let answer: StatusAnswer;
    try {
      answer = await this.send(call, AbortSignal.timeout(this.deps.timeoutMs ?? 10_000));
    } catch (e) {
      // The host resolved to a link-local address (refusingLinkLocal): never sent, and retrying would not change the rule.
      if (e instanceof BadRequestError) return giveUp(`${where}: ${e.message}; link the repo again`);
      const err = e as Error & { cause?: { code?: string; message?: string } };
      const why =
        err.name === 'TimeoutError' ? `no answer within ${(this.deps.timeoutMs ?? 10_000) / 1000} s` : (err.cause?.code ?? err.cause?.message ?? err.message);
      return this.retry(row, masked(`${where} did not answer (${why})`));
    }
    if (answer.status >= 200 && answer.status < 300) {
      forges.delivered(row.buildId, row.state);
      log.info('commit status delivered', {
        build: row.buildId,
        state: row.state,
        forge: link.forge.name,
        repo: `${link.owner}/${link.name}`,
        sha: row.sha,
        attempts: row.attempts + 1,
      });
      return;
    }
    // Only what a forge's API says in its JSON (`message`): the answer is shown on the build to all who read it,
    // and a host that is not a forge must not have its pages read out this way. Masked whole before it is cut,
    // so no part of a token at the cut survives.
    const said = masked(forgeMessage(answer.body)).replace(/\s+/g, ' ').trim().slice(0, 200);
    const what = `HTTP ${answer.status}${said ? `: ${said}` : ''}`;
    // A rate limit is a wait, even as 403 (GitHub's secondary limits): not a refusal of the token.
    const limited = (answer.status === 403 || answer.status === 429) && (answer.retryAfter !== undefined || answer.rateLimited === true);
    if (PERMANENT.has(answer.status) && !limited) return giveUp(`${where} refused the status (${what}); ${fixFor(answer.status, answer.location)}`);
    return this.retry(row, `${where} answered ${what}`, answer.retryAfter);
  }

  private retry(row: CommitStatusRow, error: string, retryAfter?: string): void {
    const now = this.now();
    const giveUpAfter = this.deps.giveUpAfterMs ?? 86_400_000;
    if (now - Date.parse(row.updatedAt) >= giveUpAfter) {
      this.deps.forges.failed(row.buildId, row.state, `${error}; gave up after ${formatDuration(giveUpAfter)} of retries`, null);
      this.deps.log.warn('commit status not delivered; gave up', { build: row.buildId, state: row.state, error, attempts: row.attempts + 1 });
      return;
    }
    const maxMs = this.deps.maxMs ?? 60_000;
    let wait = Math.min((this.deps.baseMs ?? 1000) * 2 ** Math.min(row.attempts, 30), maxMs);
    const asked = retryAfter === undefined ? NaN : Number(retryAfter) * 1000;
    if (Number.isFinite(asked) && asked > 0) wait = Math.min(Math.max(wait, asked), maxMs * 10);
    this.deps.forges.failed(row.buildId, row.state, error, now + wait);
    this.deps.log.warn('commit status not delivered; will retry', { build: row.buildId, state: row.state, error, attempts: row.attempts + 1, retryInMs: wait });
  }
}

/** The `message` (GitHub, Gitea, GitLab) or `error` of a forge's JSON answer; nothing for any other body. */
function forgeMessage(body: string): string {
  try {
    const v = JSON.parse(body) as { message?: unknown; error?: unknown };
    const m = v?.message ?? v?.error;
    return typeof m === 'string' ? m : Array.isArray(m) || (typeof m === 'object' && m !== null) ? JSON.stringify(m) : '';
  } catch {
    return '';
  }
}

function fixFor(status: number, location?: string): string {
  if (status >= 300 && status < 400)
    return `the forge redirects${location ? ` to ${location}` : ''} (a renamed or moved repository?): set the link's url, or api_url, to where it is now`;
  if (status === 401 || status === 403)
    return 'give the link a status_token that may set commit statuses (GitHub: "Commit statuses: write" or repo:status; Gitea/Forgejo: write:repository; GitLab: api)';
  if (status === 404) return "check the link's url (and api_url): the forge has no such repository, or the token cannot see it";
  if (status === 422) return 'the forge does not accept this commit or state (is the commit on the forge?)';
  return "check the link's url and api_url";
}
