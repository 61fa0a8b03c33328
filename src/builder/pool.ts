import { createHash } from 'node:crypto';
import type { Logger } from '../log.js';
import { SettingsError } from '../settings.js';
import { BuildctlDriver } from './buildctl.js';
import { checkoutsAt, defaultCheckoutsDir } from '../context/checkout.js';
import { BuildxDriver } from './buildx.js';
import { dockerSocket, EngineDriver } from './dockerd.js';
import type { BuilderDriver, HealthReport } from './driver.js';
import { parseTlsQuery, type BuilderTls } from './tls.js';

export interface BuilderSpec {
  /**
   * `local`, a buildx builder name, `tcp://host:port` (buildx remote), `buildctl+tcp://host:port` or
   * `docker+tcp://host:port` (a remote dockerd's BuildKit): the entry without its query, which is also the
   * builder's name (for routing and /healthz).
   */
  target: string;
  capacity: number;
  /** TLS files from the entry's query (`?tls=DIR` or `?ca=…&cert=…&key=…`, `servername=…`). */
  tls?: BuilderTls;
}

/** A CODEHUB_BUILDERS entry that cannot be used; a settings error, reported as such at start. */
export class BuilderSpecError extends SettingsError {}

const NETWORKED = /^(buildctl\+|docker\+)?tcp:\/\/([^/\s?&]+):(\d+)$/;
const BUILDX_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/**
 * Parses CODEHUB_BUILDERS: comma-separated entries, each optionally `=N` (last) for how many builds it runs
 * at once (default `defaultCapacity`), networked ones optionally with a TLS query before that. Empty means
 * the local docker driver.
 */
export function parseBuilders(list: string[], defaultCapacity: number): BuilderSpec[] {
  if (list.length === 0) return [{ target: 'local', capacity: defaultCapacity }];
  const specs = list.map((entry) => parseEntry(entry.trim(), defaultCapacity));
  const seen = new Set<string>();
  for (const s of specs) {
    // Builds are routed and released by name: two entries with one name would share one slot count.
    if (seen.has(s.target)) throw new BuilderSpecError(`CODEHUB_BUILDERS lists builder ${s.target} twice`);
    seen.add(s.target);
  }
  return specs;
}

function parseEntry(entry: string, defaultCapacity: number): BuilderSpec {
  const fail = (problem: string): never => {
    throw new BuilderSpecError(`CODEHUB_BUILDERS entry ${JSON.stringify(entry)} ${problem}`);
  };
  // A trailing `=N` is the capacity, unless it is the value of the query's last parameter (`?servername=1234`).
  let body = entry;
  let capacity = defaultCapacity;
  const m = /^(.*)=(\d+)$/.exec(entry);
  if (m && !(m[1]!.includes('?') && !/[?&][^?&]*=[^?&]*$/.test(m[1]!))) {
    body = m[1]!;
    capacity = Number(m[2]);
    if (!Number.isSafeInteger(capacity) || capacity < 1) fail(`has capacity ${m[2]}: capacity must be 1 or more`);
  }
  const q = body.indexOf('?');
  const target = q < 0 ? body : body.slice(0, q);
  const net = NETWORKED.exec(target);
  if (!net && !BUILDX_NAME.test(target)) fail('is not a builder name, tcp://host:port, buildctl+tcp://host:port or docker+tcp://host:port');
  let tls: BuilderTls | undefined;
  if (q >= 0) {
    if (!net) fail('has a query, but only tcp://, buildctl+tcp:// and docker+tcp:// builders take TLS parameters');
    try {
      tls = parseTlsQuery(body.slice(q + 1));
    } catch (e) {
      fail((e as Error).message);
    }
  }
  if (net?.[1] === 'docker+') {
    // The Engine API is root on the daemon's machine: over the network it must be TLS with a client certificate.
    if (!tls && !isLoopback(net[2]!))
      fail(
        'has no TLS parameters and its host is not this machine: an Engine API without TLS is root on that machine to anyone who can reach the port; give ?tls=DIR (ca.pem, cert.pem, key.pem) or ?ca=…&cert=…&key=…',
      );
    if (tls && !tls.cert)
      fail(
        'has no client certificate (cert= and key=, or tls=DIR): a dockerd that takes clients without one is root on its machine to anyone who can reach it',
      );
    if (tls?.servername)
      fail(
        "gives servername=, which docker+tcp:// cannot honour (the docker client behind builds with secrets checks the address's host): use a host name the daemon's certificate names",
      );
  }
  return tls ? { target, capacity, tls } : { target, capacity };
}

const isLoopback = (host: string): boolean => host === 'localhost' || /^127\.\d+\.\d+\.\d+$/.test(host) || host === '[::1]';

export interface DriverOptions {
  /**
   * `session` (incremental; the server's default): only what changed since the builder's kept snapshot is sent,
   * the Engine API drivers serving it from git over a session of their own, buildx and buildctl from a work
   * tree kept per builder, repo, context and Dockerfile; `tar`: the commit's archive, whole, every build.
   */
  contextTransfer?: 'tar' | 'session';
  /** Where buildx and buildctl keep work trees (default: defaultCheckoutsDir()). */
  checkoutsDir?: string;
  /** Build cache the dockerd builders (`local`, `docker+tcp://`) may keep, trimmed when idle; 0 or absent: no limit. */
  cacheMaxBytes?: number;
  /** How long a builder is idle before the image tags its builds left in its store are removed (default 30 s). */
  pruneIdleMs?: number;
  /** dockerd resolves every FROM against its registry at each build (EngineDriverOptions.pullBases). */
  pullBases?: boolean;
}

/**
 * `local` is dockerd's BuildKit over the Engine API, or buildx alone when DOCKER_HOST is not a unix socket;
 * `docker+tcp://` is the same over the network; any other name is a buildx builder (`default` is
 * buildx's own name for the local docker driver).
 */
export function driverFor(spec: BuilderSpec, opts: DriverOptions = {}): BuilderDriver {
  const contextTransfer = opts.contextTransfer ?? 'tar';
  // One Checkouts per root for every driver: their leases and sweeps must see each other.
  const folder = {
    contextTransfer,
    checkouts: checkoutsAt(opts.checkoutsDir ?? defaultCheckoutsDir()),
    ...(opts.pruneIdleMs !== undefined ? { pruneIdleMs: opts.pruneIdleMs } : {}),
  };
  if (spec.target === 'local')
    return dockerSocket()
      ? new EngineDriver({
          contextTransfer,
          cacheMaxBytes: opts.cacheMaxBytes ?? 0,
          pullBases: opts.pullBases === true,
          ...(opts.pruneIdleMs !== undefined ? { pruneIdleMs: opts.pruneIdleMs } : {}),
        })
      : new BuildxDriver(folder);
  if (spec.target.startsWith('buildctl+')) return new BuildctlDriver(spec.target.slice('buildctl+'.length), 'buildctl', spec.tls, folder);
  if (spec.target.startsWith('docker+')) {
    const [, , host, port] = NETWORKED.exec(spec.target)!;
    return new EngineDriver(
      {
        endpoint: { host: host!.replace(/^\[|\]$/g, ''), port: Number(port), tls: spec.tls },
        contextTransfer,
        cacheMaxBytes: opts.cacheMaxBytes ?? 0,
        pullBases: opts.pullBases === true,
        ...(opts.pruneIdleMs !== undefined ? { pruneIdleMs: opts.pruneIdleMs } : {}),
      },
      spec.target,
    );
  }
  if (spec.target.startsWith('tcp://')) return new BuildxDriver({ remote: spec.target, tls: spec.tls, ...folder });
  return new BuildxDriver({ builder: spec.target, ...folder });
}

interface Member {
  driver: BuilderDriver;
  capacity: number;
  running: number;
  /** null until the first health check answers. */
  health: HealthReport | null;
  /**
   * Set by an infrastructure failure on the builder: it takes no build until a health check begun after that
   * failure passes (`failures` counts them, so a check already under way when one came cannot clear it).
   */
  suspended: boolean;
  failures: number;
}

export interface BuilderStatus {
  name: string;
  healthy: boolean;
  detail: string;
  running: number;
  capacity: number;
}

/**
 * The builders and how busy and healthy each is. Builds of a repo go to the same builder while it is healthy
 * and has room (rendezvous hashing: the builder with the highest hash of repo and builder name), for
 * BuildKit cache locality; otherwise to the next in that repo's order. A builder is used only after a
 * health check passed, and is checked again every `intervalMs` and whenever a build on it fails for
 * infrastructure reasons (taking no builds until that check passes).
 */
export class BuilderPool {
  private members: Member[];
  private timer: NodeJS.Timeout | null = null;
  private checking = new Map<Member, Promise<void>>();

  constructor(
    drivers: { driver: BuilderDriver; capacity: number }[],
    private log: Logger,
    private onChange: () => void = () => {},
    private intervalMs = 5000,
  ) {
    this.members = drivers.map((d) => ({ ...d, running: 0, health: null, suspended: false, failures: 0 }));
  }

  /** Starts the periodic health checks (the first round runs now, in the background). */
  start(): void {
    void this.checkAll();
    this.timer = setInterval(() => void this.checkAll(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  checkAll(): Promise<void> {
    return Promise.all(this.members.map((m) => this.check(m))).then(() => {});
  }

  /**
   * Called after an infrastructure failure on a builder: it takes no builds from now until a health check begun
   * after the failure passes, and that check starts now (after one already under way, whose answer may predate
   * the failure). A retry so never goes back to a builder that just failed while its check is slower than the
   * retry's back-off (buildx reports a dead remote only after its bootstrap's 8 s).
   */
  recheck(name: string): Promise<void> {
    const m = this.members.find((x) => x.driver.name === name);
    if (!m) return Promise.resolve();
    m.suspended = true;
    m.failures++;
    const earlier = this.checking.get(m);
    return earlier ? earlier.then(() => this.check(m)) : this.check(m);
  }

  private check(m: Member): Promise<void> {
    const pending = this.checking.get(m);
    if (pending) return pending;
    const failuresBefore = m.failures;
    const p = m.driver
      .health()
      .catch((e: Error) => ({ ok: false, detail: e.message }))
      .then((h) => {
        const wasOk = m.health?.ok;
        const wasUsable = this.usable(m);
        m.health = h;
        if (h.ok && m.failures === failuresBefore) m.suspended = false;
        if (wasOk !== h.ok) this.log[h.ok ? 'info' : 'warn'](h.ok ? 'builder healthy' : 'builder unhealthy', { builder: m.driver.name, detail: h.detail });
        if (!wasUsable && this.usable(m)) this.onChange();
      })
      .finally(() => this.checking.delete(m));
    this.checking.set(m, p);
    return p;
  }

  /** Whether the builder may take builds: its last check passed, and none failed on it since that check began. */
  private usable(m: Member): boolean {
    return m.health?.ok === true && !m.suspended;
  }

  /** True if some healthy builder has room for one more build. */
  hasRoom(): boolean {
    return this.members.some((m) => this.usable(m) && m.running < m.capacity);
  }

  /**
   * Reserves a slot on the builder this repo should build on: its first healthy builder with room, in the
   * repo's rendezvous order. Returns the driver, or null if none has room. `release` gives the slot back.
   */
  acquire(repo: string): BuilderDriver | null {
    const ranked = [...this.members].sort((a, b) => score(repo, b.driver.name) - score(repo, a.driver.name));
    const m = ranked.find((x) => this.usable(x) && x.running < x.capacity);
    if (!m) return null;
    m.running++;
    return m.driver;
  }

  release(name: string): void {
    const m = this.members.find((x) => x.driver.name === name);
    if (m && m.running > 0) m.running--;
  }

  status(): BuilderStatus[] {
    return this.members.map((m) => ({
      name: m.driver.name,
      healthy: m.health?.ok ?? false,
      detail:
        m.suspended && m.health?.ok ? `checking again after an infrastructure error (last check: ${m.health.detail})` : (m.health?.detail ?? 'not checked yet'),
      running: m.running,
      capacity: m.capacity,
    }));
  }
}

/** Builder names in the order a repo's builds try them (rendezvous hashing), as `acquire` ranks them. */
export function rendezvousOrder(repo: string, names: readonly string[]): string[] {
  // One hash per builder: the comparator runs O(n log n) times (29 µs a decision for 4 builders before, 11 after).
  const scores = new Map(names.map((n) => [n, score(repo, n)]));
  return [...names].sort((a, b) => scores.get(b)! - scores.get(a)!);
}

function score(repo: string, builder: string): number {
  return createHash('sha256').update(repo).update('\0').update(builder).digest().readUInt32BE(0);
}
