import { Hono } from 'hono';
import { stream, streamSSE } from 'hono/streaming';
import { sendLog } from '../logs/follow.js';
import type { LogLine } from '../logs/store.js';
import { BadGatewayError, BadRequestError, GoneError, NotFoundError, PayloadTooLargeError } from '../errors.js';
import { RegistryError } from '../registry/client.js';
import type { GarbageCollector } from '../registry/gc.js';
import { TAG_RE } from '../images/tags.js';
import type { LogStore } from '../logs/store.js';
import { nameProblem } from '../names.js';
import { checkRepoParam, commitParam, Lookups, statusParam } from './lookups.js';
import type { Access } from '../auth/access.js';
import type { Caller, MemberRole } from '../store/scopes.js';
import type { Store } from '../store/store.js';
import type { BuildService } from '../builds/service.js';
import type { Authenticator } from './auth.js';
import { buildView, logExpiredMessage } from './views.js';
import { bodyLimit } from 'hono/body-limit';
import { MAX_SECRET_BYTES, type RepoSecrets } from '../secrets/vault.js';
import { checkOverride, type Policy } from '../registry/retention.js';
import type { UsageService } from '../registry/usage.js';
import { RETENTION_MAX_DAYS, RETENTION_MAX_KEEP } from '../settings.js';
import { adminRoutes } from './admin.js';
import { openApiDocument } from './openapi.js';
import { uploadRoutes } from './uploads.js';
import { upstreamRoutes } from './forges.js';
import type { UpstreamLinks } from '../forges/links.js';
import type { Build, CommitStatusRow } from '../store/schema.js';
import type { UploadService } from '../uploads/service.js';

export interface ApiDeps {
  store: Store;
  access: Access;
  builds: BuildService;
  /** `codehub-build build`'s uploads. */
  uploads: UploadService;
  secrets: RepoSecrets;
  logs: LogStore;
  auth: Authenticator;
  publicUrl: string;
  usage: UsageService;
  /** Removes a tag by hand (the images API). */
  gc: Pick<GarbageCollector, 'removeTag'>;
  /** The server's retention defaults (CODEHUB_RETENTION_KEEP, CODEHUB_RETENTION_DAYS), shown beside an override. */
  retention: Policy;
  /** Links to forges (`/repos/:owner/:repo/upstream`). */
  links: UpstreamLinks;
  /** The commit statuses owed for builds of linked repos, shown on each build. */
  statusesOf: (ids: number[]) => Map<number, CommitStatusRow>;
}

type Env = { Variables: { caller: Caller } };

const MAX_LIMIT = 200;

/**
 * The REST API under /api. Every route but the API's description needs a token; a caller sees the builds of
 * their own repos and of those shared with them (Access decides, as for git).
 */
export function apiRoutes(deps: ApiDeps): Hono<Env> {
  const app = new Hono<Env>();
  // Registered before the sign-in below, which it therefore never reaches: a client reads the description to
  // learn how to sign in before it has a token, and the document says nothing about this server's users or repos.
  const description = openApiDocument(deps.publicUrl);
  app.get('/openapi.json', (c) => c.json(description));
  app.use('*', async (c, next) => {
    c.set('caller', deps.auth.require(c));
    await next();
  });

  const lookups = new Lookups(deps.store, deps.access);
  const views = (list: Build[]) => {
    const statuses = deps.statusesOf(list.map((b) => b.id));
    return list.map((b) => buildView(b, deps.publicUrl, statuses.get(b.id)));
  };
  const view = (b: Build) => views([b])[0]!;

  app.get('/builds', (c) => {
    const q = c.req.query();
    const limit = q.limit === undefined ? 50 : Number(q.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) throw new BadRequestError(`limit must be a whole number from 1 to ${MAX_LIMIT}`);
    const commit = commitParam(q.commit);
    const status = statusParam(q.status);
    if (q.source !== undefined && q.source !== 'push' && q.source !== 'upload') throw new BadRequestError('source must be push or upload');
    if (q.repo !== undefined) checkRepoParam(q.repo);
    const caller = c.get('caller');
    // A repo the caller cannot read lists as empty, exactly like one without builds.
    if (q.repo !== undefined && !deps.access.canRead(caller, q.repo)) return c.json({ builds: [], next_cursor: null });
    const cursor = q.cursor === undefined ? undefined : Number(q.cursor);
    if (cursor !== undefined && !(Number.isInteger(cursor) && cursor > 0)) throw new BadRequestError('cursor must be a value from next_cursor');
    deps.access.requireScope(caller, 'read');
    const rows = deps.store.builds.list({
      readable: q.repo !== undefined ? { all: true } : deps.access.readable(caller), repo: q.repo, commit, ref: q.ref, status, source: q.source as 'push' | 'upload' | undefined, limit: limit + 1, beforeId: cursor,
    });
    const page = rows.slice(0, limit);
    return c.json({
      builds: views(page),
      next_cursor: rows.length > limit ? String(page[page.length - 1]!.id) : null,
    });
  });

  app.get('/builds/:id', (c) => c.json(view(lookups.build(c.get('caller'), c.req.param('id')))));

  /**
   * The log as text (`?timestamps=1` prefixes each line with its time; `?follow=1` streams until the build
   * ends), or as Server-Sent Events with `Accept: text/event-stream`: one event per line, its number as the
   * id (resume with Last-Event-ID), and a final `end` event with the build's status.
   */
  app.get('/builds/:id/log', async (c) => {
    const b = lookups.build(c.get('caller'), c.req.param('id'));
    if (b.logExpiredAt) throw new GoneError(logExpiredMessage(b));
    const q = c.req.query();
    if ((c.req.header('accept') ?? '').includes('text/event-stream')) {
      const after = Number(c.req.header('last-event-id') ?? q.last_event_id ?? 0);
      if (!Number.isInteger(after) || after < 0) throw new BadRequestError('Last-Event-ID must be a line number');
      return streamSSE(c, async (s) => {
        const aborted = new AbortController();
        s.onAbort(() => aborted.abort());
        const heartbeat = setInterval(() => void s.write(': keep-alive\n\n'), 15_000);
        try {
          const end = await sendLog({
            logs: deps.logs, store: deps.store, id: b.id, after, follow: true, signal: aborted.signal,
            send: (l) => s.writeSSE({ id: String(l.n), data: l.text }),
          });
          if (end && !aborted.signal.aborted) await s.writeSSE({ event: 'end', data: JSON.stringify({ status: end.status, reason: end.reason, digest: end.digest }) });
        } finally {
          clearInterval(heartbeat);
        }
      });
    }
    const follow = q.follow === '1' || q.follow === 'true';
    const stamps = q.timestamps === '1' || q.timestamps === 'true';
    c.header('content-type', 'text/plain; charset=utf-8');
    c.header('x-build-status', b.status);
    c.header('x-content-type-options', 'nosniff');
    const format = (l: LogLine) => (stamps ? `${l.time} ${l.text}\n` : `${l.text}\n`);
    if (!follow && deps.logs.size(b.id) < 1048576) {
      // A finished or small log in one answer: cheaper than a stream for the common lookup.
      return c.body((await deps.logs.read(b.id)).map(format).join(''));
    }
    return stream(c, async (s) => {
      const aborted = new AbortController();
      s.onAbort(() => aborted.abort());
      let batch = '';
      await sendLog({
        logs: deps.logs, store: deps.store, id: b.id, after: 0, follow, signal: aborted.signal,
        send: async (l) => {
          batch += format(l);
          // Following: every line goes out at once. Reading a finished log: in 64 KiB writes.
          if (follow || batch.length > 65536) { await s.write(batch); batch = ''; }
        },
      });
      if (batch) await s.write(batch);
    });
  });

  app.post('/builds/:id/cancel', async (c) => {
    const b = lookups.build(c.get('caller'), c.req.param('id'), 'write');
    return c.json(view(await deps.builds.cancel(b.id, c.get('caller').user.name)));
  });

  app.post('/builds/:id/rebuild', async (c) => {
    const b = lookups.build(c.get('caller'), c.req.param('id'), 'write');
    return c.json(view(await deps.builds.rebuild(b.id, c.get('caller').user.name)), 201);
  });

  app.get('/repos/:owner/:repo/commits/:sha/builds', (c) => {
    const { owner, repo, sha } = c.req.param();
    const found = lookups.commit(c.get('caller'), owner, repo, sha);
    return c.json({ repo: found.repo, commit: found.commit, builds: views(found.builds) });
  });

  // Repo secrets, the owner's only: names and times go out; a value comes in as the raw request body.
  const ownedRepo = (c: { get(k: 'caller'): Caller }, owner: string, repo: string): void => {
    checkRepoParam(`${owner}/${repo}`);
    deps.access.require(c.get('caller'), owner, repo, 'owner');
  };
  app.get('/repos/:owner/:repo/secrets', (c) => {
    const { owner, repo } = c.req.param();
    ownedRepo(c, owner, repo);
    return c.json({ repo: `${owner}/${repo}`, secrets: deps.secrets.list(owner, repo).map((s) => ({ name: s.name, created_at: s.createdAt, updated_at: s.updatedAt })) });
  });
  app.put('/repos/:owner/:repo/secrets/:name',
    bodyLimit({ maxSize: MAX_SECRET_BYTES, onError: () => { throw new PayloadTooLargeError(`a secret value may be at most ${MAX_SECRET_BYTES} bytes`); } }),
    async (c) => {
      const { owner, repo, name } = c.req.param();
      ownedRepo(c, owner, repo);
      deps.secrets.set(owner, repo, name, Buffer.from(await c.req.arrayBuffer()));
      return c.json({ repo: `${owner}/${repo}`, name, set: true });
    });
  app.delete('/repos/:owner/:repo/secrets/:name', (c) => {
    const { owner, repo, name } = c.req.param();
    ownedRepo(c, owner, repo);
    deps.secrets.remove(owner, repo, name);
    return c.json({ repo: `${owner}/${repo}`, name, removed: true });
  });

  // A public badge answers anyone, so a README outside code-hub can show it; the rest of the repo stays private.
  app.put('/repos/:owner/:repo/badge', bodyLimit({ maxSize: 1024, onError: () => { throw new PayloadTooLargeError('the body is {"public": true|false}'); } }), async (c) => {
    const { owner, repo } = c.req.param();
    ownedRepo(c, owner, repo);
    const body = (await c.req.json().catch(() => null)) as { public?: unknown } | null;
    if (typeof body?.public !== 'boolean') throw new BadRequestError('the body must be {"public": true} or {"public": false}');
    const row = deps.store.repos.byName(owner, repo);
    if (!row) throw new NotFoundError(`no repository ${owner}/${repo}: push to it first`);
    deps.store.repos.setPublicBadge(row.id, body.public);
    return c.json({ repo: `${owner}/${repo}`, public_badge: body.public, badge_url: `${deps.publicUrl}/badge/${owner}/${repo}/${row.defaultBranch ?? 'main'}.svg` });
  });

  // Who the token is: any valid token may ask, whatever its scopes (a workspace checks what it was given).
  app.get('/user', (c) => {
    const { user, scopes } = c.get('caller');
    return c.json({ name: user.name, scopes });
  });

  // Builds of uploaded folders (`codehub-build build`).
  app.route('/', uploadRoutes({ uploads: deps.uploads, access: deps.access, publicUrl: deps.publicUrl }));

  // Links to forges: the owner's (issue 17).
  app.route('/', upstreamRoutes({ links: deps.links, access: deps.access }));

  // Users and tokens (admin scope).
  app.route('/', adminRoutes({ store: deps.store, access: deps.access }));

  // Registry usage: the caller's own, or a user's (that user or an admin; to others the user does not exist).
  app.get('/usage', (c) => c.json(deps.usage.of(lookups.namespace(c.get('caller'), c.get('caller').user.name))));
  app.get('/users/:name/usage', (c) => c.json(deps.usage.of(lookups.namespace(c.get('caller'), c.req.param('name')))));

  // One tag removed by hand (its owner or an admin): exactly that tag, and its manifest when nothing else needs it.
  app.delete('/images/:owner/:image/tags/:tag', async (c) => {
    const { owner, image, tag } = c.req.param();
    const caller = c.get('caller');
    lookups.namespace(caller, owner);
    deps.access.requireScope(caller, 'push');
    const problem = nameProblem('repo', image);
    if (problem) throw new BadRequestError(`image ${problem.replace(/^repo /, '')}`);
    if (!TAG_RE.test(tag)) throw new BadRequestError(`${JSON.stringify(tag)} is not a tag: letters, digits, '_', '.', '-', at most 128, not starting with '.' or '-'`);
    const removed = await deps.gc.removeTag(`${owner}/${image}`, tag, caller.user.name).catch((e: unknown) => {
      throw e instanceof RegistryError ? new BadGatewayError(e.message) : e;
    });
    return c.json({ repository: `${owner}/${image}`, tag, removed: removed.map((r) => ({ tag: r.tag, digest: r.digest, how: r.how, bytes: r.bytes })), bytes: removed.reduce((a, r) => a + r.bytes, 0) });
  });

  // Retention override of a repo's images, the owner's: how many builds per branch and how many days stay.
  const retentionView = (owner: string, repo: string) => {
    const row = deps.store.repos.byName(owner, repo);
    const keep = row?.retentionKeep ?? null;
    const days = row?.retentionDays ?? null;
    return { repo: `${owner}/${repo}`, keep: keep ?? deps.retention.keep, days: days ?? deps.retention.days, override: { keep, days }, defaults: deps.retention };
  };
  app.get('/repos/:owner/:repo/retention', (c) => {
    const { owner, repo } = c.req.param();
    ownedRepo(c, owner, repo);
    return c.json(retentionView(owner, repo));
  });
  app.put('/repos/:owner/:repo/retention', bodyLimit({ maxSize: 1024, onError: () => { throw new PayloadTooLargeError('the body is {"keep": N, "days": D}'); } }), async (c) => {
    const { owner, repo } = c.req.param();
    ownedRepo(c, owner, repo);
    const checked = checkOverride(await c.req.json().catch(() => undefined), { maxKeep: RETENTION_MAX_KEEP, maxDays: RETENTION_MAX_DAYS });
    if (!checked.ok) throw new BadRequestError(checked.problems.join('; '), { problems: checked.problems });
    const row = deps.store.repos.byName(owner, repo);
    if (!row) throw new NotFoundError(`no repository ${owner}/${repo}: push to it first`);
    const next = { keep: 'keep' in checked.value ? checked.value.keep! : row.retentionKeep, days: 'days' in checked.value ? checked.value.days! : row.retentionDays };
    deps.store.repos.setRetention(row.id, next.keep ?? null, next.days ?? null);
    return c.json(retentionView(owner, repo));
  });

  // Sharing, the owner's: a user gets read (clone, builds, logs) or write (also push, cancel, rebuild).
  app.get('/repos/:owner/:repo/members', (c) => {
    const { owner, repo } = c.req.param();
    ownedRepo(c, owner, repo);
    const row = deps.store.repos.byName(owner, repo);
    return c.json({ repo: `${owner}/${repo}`, owner, members: (row ? deps.store.repos.members(row.id) : []).map((m) => ({ user: m.user, role: m.role, since: m.createdAt })) });
  });
  app.put('/repos/:owner/:repo/members/:user', bodyLimit({ maxSize: 1024, onError: () => { throw new PayloadTooLargeError('the body is {"role": "read"|"write"}'); } }), async (c) => {
    const { owner, repo, user } = c.req.param();
    ownedRepo(c, owner, repo);
    const body = (await c.req.json().catch(() => null)) as { role?: unknown } | null;
    const role = body?.role;
    if (role !== 'read' && role !== 'write') throw new BadRequestError('the body must be {"role": "read"} or {"role": "write"}');
    const problem = nameProblem('user', user);
    if (problem) throw new BadRequestError(problem);
    const target = deps.store.accounts.userByName(user);
    if (!target) throw new NotFoundError(`no user ${user}`);
    if (target.name === owner) throw new BadRequestError(`${user} owns ${owner}/${repo} already`);
    deps.store.repos.share(deps.store.repos.ensure(owner, repo).id, target.id, role as MemberRole);
    return c.json({ repo: `${owner}/${repo}`, user, role });
  });
  app.delete('/repos/:owner/:repo/members/:user', (c) => {
    const { owner, repo, user } = c.req.param();
    ownedRepo(c, owner, repo);
    const target = deps.store.accounts.userByName(user);
    const row = deps.store.repos.byName(owner, repo);
    if (!target || !row || !deps.store.repos.unshare(row.id, target.id)) throw new NotFoundError(`${owner}/${repo} is not shared with ${user}`);
    return c.json({ repo: `${owner}/${repo}`, user, removed: true });
  });

  return app;
}
