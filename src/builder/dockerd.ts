/**
 * BuildKit inside dockerd, driven over the Engine API from this process: `POST /build?version=2`, then
 * `POST /images/{name}/push`. No client process starts per build, which is most of what `docker buildx build`
 * costs on a small cached image (its own start-up, ~100 ms here, against a build of ~40 ms and a push of ~40 ms).
 *
 * The context comes from git through a BuildKit session of our own (src/context/session.ts: only what changed
 * since the daemon's kept snapshot), or as the archive in the request's body (`contextTransfer: 'tar'`). The
 * session also serves the build's secrets and its registry credential (cache import from a token registry).
 * It builds one platform (dockerd's overlay2 image store holds one image under a
 * name): the server builds each platform of a multi-platform image alone and joins them (src/builds/platforms.ts). The cache is exported inline into the pushed image. Canceling aborts the request, which stops the solve, and asks
 * `POST /build/cancel` as well; a server that dies takes its connection, and so its solves, with it.
 *
 * The daemon is this machine's (its unix socket) or another's (`docker+tcp://`: TCP, with TLS and a client
 * certificate unless it is on loopback); everything above goes over either the same way.
 */
import { randomUUID } from 'node:crypto';
import { PassThrough } from 'node:stream';
import type { BuilderDriver, BuildIO, BuildOutcome, BuildRequest, HealthReport } from './driver.js';
import { classifyFailure } from './driver.js';
import { IdlePruner } from './idle-prune.js';
import { ProgressRenderer, type Step } from './progress.js';
import { decodeSolveStatus } from './solve-status.js';
import { EngineConnection, type EngineEndpoint } from './engine-connection.js';
import { parseImageRef } from '../images/tags.js';
import { GitTree } from '../context/git-tree.js';
import type { ContextTree } from '../context/tree.js';
import { openSession, type Session } from '../context/session.js';
import { SnapshotSlots } from '../context/slots.js';

const API = '/v1.41'; // the oldest API with BuildKit builds that report progress this way; dockerd 20.10 and later

/**
 * The label every image the server builds carries (src/builds/tags.ts imageLabels and uploadLabels): what tells
 * an image in dockerd's store made here from one a person or another tool put there.
 */
const BUILT_HERE_LABEL = 'dev.codehub.build.id';
/** An image ID as dockerd gives it: what an image is removed by (never a name, which a user's tag controls). */
const IMAGE_ID_RE = /^sha256:[0-9a-f]{64}$/;

/** The unix socket of the docker daemon this process would use, or null when DOCKER_HOST is not a socket. */
export function dockerSocket(env: NodeJS.ProcessEnv = process.env): string | null {
  const host = env.DOCKER_HOST;
  if (!host) return '/var/run/docker.sock';
  return host.startsWith('unix://') ? host.slice('unix://'.length) : null;
}

class EngineError extends Error {
  constructor(
    message: string,
    readonly status: number | null,
  ) {
    super(message);
  }
}

/** One Engine API call whose answer is JSON lines; each parsed line goes to `onLine`. */
function streamLines(
  conn: EngineConnection,
  p: {
    method: string;
    path: string;
    headers?: Record<string, string>;
    body?: NodeJS.ReadableStream | null;
    signal?: AbortSignal;
    onLine: (msg: Record<string, unknown>) => void;
  },
): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = conn.request({ method: p.method, path: API + p.path, headers: p.headers, signal: p.signal }, (res) => {
      res.setEncoding('utf8');
      let buf = '';
      let errText = '';
      res.on('data', (d: string) => {
        if (res.statusCode !== 200) {
          if (errText.length < 8192) errText += d;
          return;
        }
        buf += d;
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i).trim();
          buf = buf.slice(i + 1);
          if (line) p.onLine(parseLine(line));
        }
      });
      res.on('end', () => {
        if (res.statusCode !== 200) {
          let message = errText.trim();
          try {
            message = (JSON.parse(errText) as { message?: string }).message ?? message;
          } catch {
            /* plain text */
          }
          reject(new EngineError(`dockerd answered ${res.statusCode} to ${p.method} ${p.path.split('?')[0]}: ${message}`, res.statusCode ?? null));
          return;
        }
        if (buf.trim()) p.onLine(parseLine(buf.trim()));
        resolve();
      });
      res.on('error', reject);
    });
    req.on('error', (e: NodeJS.ErrnoException) => reject(e.name === 'AbortError' ? e : new EngineError(conn.problem(e), null)));
    if (p.body) {
      p.body.on('error', (e) => req.destroy(e));
      p.body.pipe(req);
    } else req.end();
  });
}

function parseLine(line: string): Record<string, unknown> {
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return { stream: line };
  }
}

const errorOf = (m: Record<string, unknown>): string | null =>
  typeof m.error === 'string' ? ((m.errorDetail as { message?: string } | undefined)?.message ?? m.error) : null;

export interface EngineDriverOptions {
  /** The daemon; default its unix socket from DOCKER_HOST, else /var/run/docker.sock. */
  endpoint?: EngineEndpoint;
  /** How long the builder must be idle before its images are removed from dockerd's store. */
  pruneIdleMs?: number;
  /** Bytes of build cache BuildKit may keep on the daemon; trimmed to it when the builder is idle. 0 or absent: no limit. */
  cacheMaxBytes?: number;
  /** `session`: serve the context from git over a BuildKit session (only what changed is sent); `tar`: the archive. */
  contextTransfer?: 'tar' | 'session';
  /**
   * Resolve every FROM against its registry at each build (`pull=1`, as a standalone BuildKit always does), so a
   * base re-pushed under its tag is used and seen; otherwise dockerd builds on the image it has, as `docker build`.
   */
  pullBases?: boolean;
}

export class EngineDriver implements BuilderDriver {
  readonly name: string;
  private conn: EngineConnection;
  private pruner: IdlePruner;
  private slots = new SnapshotSlots();
  cachePrunedAt?: number;

  constructor(
    private opts: EngineDriverOptions = {},
    name = 'local',
  ) {
    this.name = name;
    this.conn = new EngineConnection(opts.endpoint ?? { socket: dockerSocket() ?? '/var/run/docker.sock' });
    this.pruner = new IdlePruner(async (tags, images) => {
      for (const t of tags) {
        await streamLines(this.conn, { method: 'DELETE', path: `/images/${t}`, onLine: () => {} }).catch(() => {});
      }
      for (const id of images) await this.removeIfUntagged(id);
      // BuildKit keeps every layer and context snapshot it made until told otherwise: its least recently used
      // records go once it holds more than the budget (the registry cache brings back what a later build needs).
      if (opts.cacheMaxBytes) {
        this.cachePrunedAt = Date.now();
        await streamLines(this.conn, { method: 'POST', path: `/build/prune?keep-storage=${opts.cacheMaxBytes}`, onLine: () => {} }).catch(() => {});
      }
    }, opts.pruneIdleMs);
  }

  /** Tags and untagged images waiting to be removed from dockerd's store. */
  get pendingPrune(): number {
    return this.pruner.pending;
  }

  build(req: BuildRequest, io: BuildIO): Promise<BuildOutcome> {
    // The archive is taken up now: a session may be opened (and a prune awaited) before the request reads it, and
    // Node discards a child process's output that nothing reads when the child exits.
    const taken = this.opts.contextTransfer === 'session' && io.source ? io : { ...io, context: io.context.pipe(new PassThrough()) };
    return this.pruner.around(() => this.solve(req, taken));
  }

  private async solve(req: BuildRequest, io: BuildIO): Promise<BuildOutcome> {
    const renderer = new ProgressRenderer(io.onLog);
    const steps = (): Step[] => renderer.steps;
    if (req.tags.length === 0) return { ok: false, code: 'user', problem: 'the build has no image reference to push', steps: [] };
    const buildId = randomUUID();
    const q = new URLSearchParams({ version: '2', dockerfile: req.dockerfile, buildid: buildId });
    for (const t of req.tags) q.append('t', t);
    if (req.target) q.set('target', req.target);
    if (req.noCache) q.set('nocache', '1');
    if (this.opts.pullBases) q.set('pull', '1');
    if (req.platforms.length) q.set('platform', req.platforms[0]!);
    // The registry cache on dockerd is the inline one (its /build exports nothing else): the pushed image carries
    // it, and the branch's and default branch's images are where a builder that never built the repo finds it.
    const args = req.cache ? { ...req.args, BUILDKIT_INLINE_CACHE: '1' } : req.args;
    if (Object.keys(args).length) q.set('buildargs', JSON.stringify(args));
    const imports = req.cache && !req.noCache ? req.cache.imageRefs : [];
    if (imports.length) q.set('cachefrom', JSON.stringify(imports));
    if (Object.keys(req.labels).length) q.set('labels', JSON.stringify(req.labels));
    // What the build's tags name before it moves them (asked while the session opens; it never fails).
    const tagged = this.imagesBuiltHere(req.tags);

    // The request's own controller, so that a cancel both drops the connection and asks dockerd to stop.
    const request = new AbortController();
    const onAbort = () => {
      request.abort();
      void streamLines(this.conn, { method: 'POST', path: `/build/cancel?id=${buildId}`, onLine: () => {} }).catch(() => {});
    };
    if (io.signal.aborted) onAbort();
    else io.signal.addEventListener('abort', onAbort, { once: true });
    const stopped = (): BuildOutcome => {
      const why = String(io.signal.reason ?? 'canceled');
      renderer.end();
      return { ok: false, code: why.startsWith('timeout') ? 'timeout' : 'canceled', problem: why, steps: steps() };
    };

    // With a session of our own the daemon reads the context from git through it, and under the repo's key only
    // what changed since its last build; without, the whole archive goes as the request's body.
    // The session also answers BuildKit's questions a tar context cannot: the build's secrets, and the registry
    // credential for importing the cache from a registry with token auth.
    let session: Session | null = null;
    let tree: (ContextTree & { close?(): void }) | null = null;
    let slot: { key: string; release(): void } | null = null;
    const source = this.opts.contextTransfer === 'session' ? io.source : undefined;
    const hasSecrets = Object.keys(req.secrets).length > 0;
    const auth = imports.length || this.opts.pullBases ? req.registryAuth : undefined;
    if (source || hasSecrets || auth) {
      if (source?.kind === 'commit') {
        tree = new GitTree(source.gitDir, source.commit, source.dir, { repo: source.repo, submodules: source.submodules });
        slot = this.slots.take(`${this.name}:${source.repo}:${source.dir}:${req.dockerfile}`);
      } else if (source?.kind === 'upload') {
        tree = source.tree;
        slot = this.slots.take(`${this.name}:upload:${source.key}:${req.dockerfile}`);
      }
      try {
        session = await openSession(this.conn, {
          sharedKey: slot?.key ?? buildId,
          name: 'codehub-build',
          signal: request.signal,
          ...(tree ? { tree } : {}),
          ...(hasSecrets ? { secrets: req.secrets } : {}),
          ...(auth ? { credentials: (host: string) => (host === auth.server ? { username: auth.username, secret: auth.password } : null) } : {}),
        });
      } catch (e) {
        tree?.close?.();
        slot?.release();
        io.signal.removeEventListener('abort', onAbort);
        if (io.signal.aborted) return stopped();
        return {
          ok: false,
          code: 'infrastructure',
          problem: `cannot open a BuildKit session to dockerd at ${this.conn.address}: ${(e as Error).message}`,
          steps: [],
        };
      }
      q.set('session', session.id);
      if (tree) q.set('remote', 'client-session');
    }
    // Once dockerd has answered /build it has read the context: the key is free for the next build of the repo
    // and the session can go, in the background (HTTP/2's goodbye waits on dockerd, up to a second over TLS).
    let ended = false;
    const endSession = () => {
      if (ended || !session) return;
      ended = true;
      if (tree) {
        const sent = session.stats.reduce((n, c) => ({ files: n.files + c.requested.length, bytes: n.bytes + c.bytesSent }), { files: 0, bytes: 0 });
        const whose = source!.kind === 'commit' ? `${source!.repo}'s context` : source!.label;
        io.onLog(`context: ${sent.files} file${sent.files === 1 ? '' : 's'}, ${sent.bytes} bytes sent (what changed since this builder kept ${whose})`);
      }
      slot?.release();
      void session.close().finally(() => tree?.close?.());
    };

    try {
      const previous = await tagged;
      let failure: string | null = null;
      let imageId: string | null = null;
      try {
        await streamLines(this.conn, {
          method: 'POST',
          path: `/build?${q}`,
          headers: { 'content-type': 'application/x-tar' },
          ...(tree ? {} : { body: io.context }),
          signal: request.signal,
          onLine: (m) => {
            if (m.id === 'moby.buildkit.trace' && typeof m.aux === 'string') renderer.status(decodeSolveStatus(Buffer.from(m.aux, 'base64')));
            else if (m.id === 'moby.image.id') imageId = (m.aux as { ID?: string } | undefined)?.ID ?? null;
            else if (errorOf(m)) failure = errorOf(m);
            else if (typeof m.stream === 'string' && m.stream.trim()) io.onLog(m.stream.trimEnd());
          },
        });
      } catch (e) {
        if (io.signal.aborted) return stopped();
        const err = e as EngineError;
        renderer.end();
        return {
          ok: false,
          code: err.status !== null && err.status < 500 ? classifyFailure(err.message) : 'infrastructure',
          problem: err.message,
          steps: steps(),
        };
      }
      renderer.end();
      endSession();
      if (io.signal.aborted) return stopped();
      // The context's own refusal (a bad .dockerignore, a submodule the pusher may not read) is the build's error,
      // whichever error BuildKit reports: at times the `context canceled` of a step it stopped because of it.
      const refusal = session?.stats.find((c) => c.refusal)?.refusal;
      if (refusal) return { ok: false, code: 'user', problem: refusal, steps: steps() };
      if (failure) return { ok: false, code: classifyFailure(failure), problem: failure, steps: steps(), ...received(session, tree) };
      if (!imageId) return { ok: false, code: 'infrastructure', problem: 'dockerd finished the build without naming the image it made', steps: steps() };
      // The images the tags named before are untagged now unless another tag holds them: dockerd keeps them as
      // `<none>`, and removing the tags later never reaches them.
      this.pruner.add(
        req.tags,
        previous.filter((id) => id !== imageId),
      );

      let digest: string | null = null;
      for (const ref of req.tags) {
        const pushed = await this.push(ref, renderer, request.signal, req.registryAuth);
        if (io.signal.aborted) return stopped();
        if (!pushed.ok) return { ok: false, code: classifyFailure(pushed.problem), problem: pushed.problem, steps: steps() };
        digest ??= pushed.digest;
      }
      return { ok: true, digest: digest!, steps: steps(), ...received(session, tree) };
    } finally {
      io.signal.removeEventListener('abort', onAbort);
      endSession();
    }
  }

  /** Pushes one reference, shown as one more step of the build; the digest is the pushed manifest's. */
  private async push(
    ref: string,
    renderer: ProgressRenderer,
    signal: AbortSignal,
    auth: BuildRequest['registryAuth'],
  ): Promise<{ ok: true; digest: string } | { ok: false; problem: string }> {
    const vertex = `push:${ref}`;
    const name = `pushing ${ref}`;
    const started = new Date().toISOString();
    renderer.status({ vertexes: [{ digest: vertex, name, started }] });
    // The name goes into the URL path as it is (dockerd's route takes the slashes literally); references here
    // are made from validated names only.
    const { name: repo, tag } = parseImageRef(ref);
    let digest: string | null = null;
    let failure: string | null = null;
    try {
      await streamLines(this.conn, {
        method: 'POST',
        path: `/images/${repo}/push?tag=${encodeURIComponent(tag ?? 'latest')}`,
        signal,
        // dockerd wants the header even when the registry is open; with token auth it carries the build's credential.
        headers: {
          'x-registry-auth': Buffer.from(JSON.stringify(auth ? { username: auth.username, password: auth.password, serveraddress: auth.server } : {})).toString(
            'base64',
          ),
        },
        onLine: (m) => {
          const aux = m.aux as { Digest?: string } | undefined;
          if (aux?.Digest) digest = aux.Digest;
          else if (errorOf(m)) failure = errorOf(m);
        },
      });
    } catch (e) {
      failure = (e as Error).message;
    }
    const problem = failure ?? (digest ? null : 'the push ended without a manifest digest');
    renderer.status({ vertexes: [{ digest: vertex, name, started, completed: new Date().toISOString(), ...(problem ? { error: problem } : {}) }] });
    // "failed to push" marks it as the registry's (or the network's) failure, not the user's.
    return problem ? { ok: false, problem: `failed to push ${ref}: ${problem}` } : { ok: true, digest: digest! };
  }

  /**
   * The IDs of the images `refs` name in dockerd's store that were built here (labelled so): those a build
   * tagging `refs` would move the tags off. Never fails: a name that names nothing, or a daemon that does not
   * answer, gives none.
   */
  private async imagesBuiltHere(refs: readonly string[]): Promise<string[]> {
    const found = await Promise.all(refs.map((r) => this.inspectImage(r)));
    return [...new Set(found.flatMap((i) => (i?.builtHere ? [i.id] : [])))];
  }

  /** An image's ID, tags and whether it was built here, by reference or ID; null when there is none (or no answer). */
  private async inspectImage(nameOrId: string): Promise<{ id: string; tags: string[]; builtHere: boolean } | null> {
    let info: Record<string, unknown> | null = null;
    try {
      await streamLines(this.conn, {
        method: 'GET',
        path: `/images/${nameOrId}/json`,
        signal: AbortSignal.timeout(8000),
        onLine: (m) => {
          info ??= m;
        },
      });
    } catch {
      return null;
    }
    const i = info as { Id?: unknown; RepoTags?: unknown; Config?: { Labels?: Record<string, string> | null } } | null;
    if (typeof i?.Id !== 'string' || !IMAGE_ID_RE.test(i.Id)) return null;
    // Old daemons list an untagged image's tags as `<none>:<none>`.
    const tags = Array.isArray(i.RepoTags) ? i.RepoTags.filter((t): t is string => typeof t === 'string' && t !== '<none>:<none>') : [];
    return { id: i.Id, tags, builtHere: typeof i.Config?.Labels?.[BUILT_HERE_LABEL] === 'string' };
  }

  /**
   * Removes, by its ID, an image built here that no tag names any more. Looked at again first, as the store may
   * have changed since it was handed over: an image tagged again, or without the label, stays. No force, so
   * dockerd itself refuses while a container (running or stopped) uses it or another image is built on it.
   */
  private async removeIfUntagged(id: string): Promise<void> {
    if (!IMAGE_ID_RE.test(id)) return;
    const image = await this.inspectImage(id);
    if (!image || image.id !== id || !image.builtHere || image.tags.length > 0) return;
    await streamLines(this.conn, { method: 'DELETE', path: `/images/${id}`, onLine: () => {} }).catch(() => {});
  }

  /**
   * Who answers at the daemon's address, as the last health check saw it: dockerd's ID (made once, in its data
   * root) and that data root, so a daemon reinstalled or moved to a new root, whose BuildKit keeps its cache there,
   * counts as another builder.
   */
  identity?: string;

  async health(): Promise<HealthReport> {
    let version = '';
    try {
      await streamLines(this.conn, {
        method: 'GET',
        path: '/info',
        signal: AbortSignal.timeout(8000),
        onLine: (m) => {
          version = String(m.ServerVersion ?? '');
          if (typeof m.ID === 'string' && m.ID) this.identity = `dockerd ${m.ID} ${String(m.DockerRootDir ?? '')}`.trim();
        },
      });
      return {
        ok: true,
        detail: `dockerd ${version} at ${this.conn.address}${this.conn.tls ? ' (TLS)' : ''}: Engine API`,
      };
    } catch (e) {
      return { ok: false, detail: `builder ${this.name}: ${(e as Error).message}` };
    }
  }
}

/**
 * What BuildKit asked our session for from the context: the files that differ from the snapshot it kept under the
 * session's key (insight's changed files). Nothing when the context went as a tar (no tree), or a call was cut short.
 */
function received(session: Session | null, tree: ContextTree | null): { contextChanged?: string[] } {
  if (!session || !tree) return {};
  const calls = session.stats.filter((c) => c.dirName === 'context');
  if (calls.some((c) => !c.finished)) return {};
  return { contextChanged: [...new Set(calls.flatMap((c) => c.requested))] };
}
