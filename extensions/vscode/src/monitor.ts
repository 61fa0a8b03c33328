import { Api, ApiError, UnreachableError } from './api';
import { Backoff } from './backoff';
import { buildRemote, GitError, headOf, repoDirs, type RepoDirs } from './git';
import type { Settings } from './settings';
import { ACTIVE, currentBuilds, type Build, type State } from './status';
import { watchRefs } from './watch';

export interface MonitorOptions {
  /** The first workspace folder's path, or undefined when none is open (or it is not on disk). */
  folder: string | undefined;
  settings: Settings;
  onState: (state: State) => void;
  /** How often to look for builds started elsewhere (a rebuild on the web page, a push from another clone). */
  pollMs?: number;
}

const POLL_MS = 30_000;
/** A push moves the remote-tracking ref a moment after the server recorded its builds; if the server has none
 * yet, look once more after this rather than saying "not pushed" until the next poll. */
const RECHECK_MS = 3_000;

/**
 * Keeps the build status of HEAD current: looks it up on start, when HEAD or a ref moves (a watcher on the
 * git dir), on a calm poll, and follows a queued or running build's log stream so its end shows the moment it
 * comes (the stream's `end` event) without polling. A server that does not answer is retried with back-off.
 */
export class Monitor {
  state: State = { kind: 'starting' };
  readonly api: Api | null;
  private timer: NodeJS.Timeout | undefined;
  private watcher: { dispose(): void } | undefined;
  private watched: string | undefined;
  private following: { id: number; ctl: AbortController } | undefined;
  private running: Promise<void> | null = null;
  private again = false;
  private disposed = false;
  private backoff = new Backoff();
  private refChanged = false;
  private readonly pollMs: number;

  constructor(private readonly opts: MonitorOptions) {
    this.api = opts.settings.missing.length === 0 ? new Api(opts.settings.url, opts.settings.token) : null;
    this.pollMs = opts.pollMs ?? POLL_MS;
  }

  start(): void {
    void this.refresh();
  }

  /** Looks again now; concurrent calls share one look (and one more after it, if asked for meanwhile). */
  refresh(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await this.check().catch((e: unknown) => this.set({ kind: 'error', summary: 'internal error', detail: String((e as Error).stack ?? e) }, this.pollMs));
      } while (this.again && !this.disposed);
    })().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  dispose(): void {
    this.disposed = true;
    clearTimeout(this.timer);
    this.watcher?.dispose();
    this.following?.ctl.abort();
  }

  /** Shows `state` and schedules the next look (none when only the user can change things, e.g. settings). */
  private set(state: State, nextMs?: number): void {
    if (this.disposed) return;
    this.state = state;
    this.opts.onState(state);
    clearTimeout(this.timer);
    if (nextMs !== undefined) this.timer = setTimeout(() => void this.refresh(), nextMs);
  }

  private async check(): Promise<void> {
    const { folder, settings } = this.opts;
    if (!folder) return this.set({ kind: 'no-folder' });
    if (!this.api) return this.set({ kind: 'unconfigured', settings });
    let dirs: RepoDirs | null;
    try {
      dirs = await repoDirs(folder);
    } catch (e) {
      if (!(e instanceof GitError)) throw e;
      return this.set({ kind: 'error', summary: 'git failed', detail: e.message }, this.pollMs);
    }
    // `git init` later turns the folder into a repository: the poll notices.
    if (!dirs) return this.set({ kind: 'not-git', folder }, this.pollMs);
    this.watch(dirs);
    const head = await headOf(dirs.top);
    if (!head) return this.set({ kind: 'no-commit', folder }, this.pollMs);

    const refChanged = this.refChanged;
    this.refChanged = false;
    let builds: Build[];
    try {
      builds = currentBuilds(await this.api.builds(head.sha));
    } catch (e) {
      return this.failed(e);
    }
    this.backoff.reset();
    this.follow(builds);
    if (builds.length === 0) {
      const remote = await buildRemote(dirs.top);
      return this.set({ kind: 'not-pushed', url: this.api.baseUrl, sha: head.sha, branch: head.branch, remote }, refChanged ? RECHECK_MS : this.pollMs);
    }
    this.set({ kind: 'builds', sha: head.sha, branch: head.branch, builds }, this.pollMs);
  }

  /** An API call failed: say why, and when to look again. */
  private failed(e: unknown): void {
    const [state, nextMs] = this.failure(e);
    this.set(state, nextMs);
  }

  /** The state an API call's failure leaves, and how long until the next look. */
  private failure(e: unknown): [State, number] {
    const url = this.api!.baseUrl;
    if (e instanceof UnreachableError) {
      const retryMs = this.backoff.next();
      return [{ kind: 'unreachable', url, error: e.message, retryMs }, retryMs];
    }
    if (!(e instanceof ApiError)) throw e;
    // A token fixed in the settings restarts the monitor; one fixed on the server (or a server restored
    // from a backup) is noticed by the calm poll.
    if (e.status === 401) return [{ kind: 'token-refused', url, tokenFrom: this.opts.settings.tokenFrom }, this.pollMs];
    if (e.status === 429) {
      const wait = e.retryAfterMs ?? this.backoff.next();
      return [{ kind: 'error', summary: 'too many failed sign-ins', detail: `${url}: ${e.message}` }, Math.max(wait, 1_000)];
    }
    if (e.status === 403) return [{ kind: 'error', summary: 'not allowed', detail: `${url}: ${e.message} (the token needs the read scope)` }, this.pollMs];
    return [{ kind: 'error', summary: `HTTP ${e.status}`, detail: `${url}: ${e.message}` }, this.backoff.next()];
  }

  private watch(dirs: RepoDirs): void {
    if (this.watched === dirs.gitDir) return;
    this.watcher?.dispose();
    this.watched = dirs.gitDir;
    this.watcher = watchRefs(dirs, () => {
      this.refChanged = true;
      void this.refresh();
    });
  }

  /**
   * Holds a log stream open on the oldest build of HEAD still queued or running: its first line says a queued
   * build started, its `end` event that the build is over, so the status bar changes at once without polling.
   * A stream for a build that no longer concerns HEAD (a checkout moved it) is dropped.
   */
  private follow(builds: Build[]): void {
    const active = builds.filter((b) => ACTIVE.has(b.status)).sort((a, b) => a.id - b.id)[0];
    if (this.following && this.following.id !== active?.id) {
      this.following.ctl.abort();
      this.following = undefined;
    }
    if (!active || this.following) return;
    const ctl = new AbortController();
    const mine = { id: active.id, ctl };
    this.following = mine;
    let started = active.status === 'running';
    this.api!.followLog(active.id, {
      signal: ctl.signal,
      onLine: () => {
        if (started) return;
        started = true;
        void this.refresh();
      },
    }).then(
      (end) => this.followEnded(mine, end !== null),
      () => this.followEnded(mine, false),
    );
  }

  private followEnded(mine: { id: number; ctl: AbortController }, cleanly: boolean): void {
    if (this.following === mine) this.following = undefined;
    if (mine.ctl.signal.aborted || this.disposed) return;
    // A stream that broke off (server restarted, network) is picked up again by a later look, not at once:
    // a server that keeps dropping it must not be asked in a tight loop.
    if (cleanly) void this.refresh();
    else {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => void this.refresh(), this.backoff.next());
    }
  }
}
