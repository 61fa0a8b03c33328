import { Hono } from 'hono';
import { stream, streamSSE } from 'hono/streaming';
import { BuildListQuery, LogQuery, parseRequest } from '../api/requests.js';
import type { Access } from '../auth/access.js';
import type { AuditLog } from '../auth/audit.js';
import type { BuildService } from '../builds/service.js';
import { BadRequestError, GoneError } from '../errors.js';
import { sendLog } from '../logs/follow.js';
import type { LogLine, LogStore } from '../logs/store.js';
import type { Build, CommitStatusRow } from '../store/schema.js';
import type { Caller } from '../store/scopes.js';
import type { Store } from '../store/store.js';
import { audited } from './audited.js';
import { Lookups } from './lookups.js';
import { checked } from './outcome.js';
import { buildView, logExpiredMessage } from './views.js';

export interface BuildRoutesDeps {
  store: Store;
  access: Access;
  builds: BuildService;
  logs: LogStore;
  publicUrl: string;
  /** The commit statuses owed for builds of linked repos, shown on each build. */
  statusesOf: (ids: number[]) => Map<number, CommitStatusRow>;
  audit: AuditLog;
}

type Env = { Variables: { caller: Caller } };

/** Builds and their logs, under /api (the caller is signed in): listed, looked up by id or commit, canceled, rebuilt. */
export function buildRoutes(deps: BuildRoutesDeps): Hono<Env> {
  const app = new Hono<Env>();
  const lookups = new Lookups(deps.store, deps.access);
  const views = (list: Build[]) => {
    const statuses = deps.statusesOf(list.map((b) => b.id));
    return list.map((b) => buildView(b, deps.publicUrl, statuses.get(b.id)));
  };
  const view = (b: Build) => views([b])[0]!;

  app.get('/builds', (c) => {
    const q = checked(parseRequest(BuildListQuery, c.req.query()));
    const caller = c.get('caller');
    // A repo the caller cannot read lists as empty, exactly like one without builds.
    if (q.repo !== undefined && !deps.access.canRead(caller, q.repo)) return c.json({ builds: [], next_cursor: null });
    deps.access.requireScope(caller, 'read');
    const rows = deps.store.builds.list({
      readable: q.repo !== undefined ? { all: true } : deps.access.readable(caller),
      repo: q.repo,
      commit: q.commit,
      ref: q.ref,
      status: q.status,
      source: q.source,
      limit: q.limit + 1,
      beforeId: q.cursor,
    });
    const page = rows.slice(0, q.limit);
    return c.json({
      builds: views(page),
      next_cursor: rows.length > q.limit ? String(page[page.length - 1]!.id) : null,
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
    const q = checked(parseRequest(LogQuery, c.req.query()));
    if ((c.req.header('accept') ?? '').includes('text/event-stream')) {
      const after = Number(c.req.header('last-event-id') ?? q.last_event_id ?? 0);
      if (!Number.isInteger(after) || after < 0) throw new BadRequestError('Last-Event-ID must be a line number');
      return streamSSE(c, async (s) => {
        const aborted = new AbortController();
        s.onAbort(() => aborted.abort());
        const heartbeat = setInterval(() => void s.write(': keep-alive\n\n'), 15_000);
        try {
          const end = await sendLog({
            logs: deps.logs,
            store: deps.store,
            id: b.id,
            after,
            follow: true,
            signal: aborted.signal,
            send: (l) => s.writeSSE({ id: String(l.n), data: l.text }),
          });
          if (end && !aborted.signal.aborted)
            await s.writeSSE({ event: 'end', data: JSON.stringify({ status: end.status, reason: end.reason, digest: end.digest }) });
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
        logs: deps.logs,
        store: deps.store,
        id: b.id,
        after: 0,
        follow,
        signal: aborted.signal,
        send: async (l) => {
          batch += format(l);
          // Following: every line goes out at once. Reading a finished log: in 64 KiB writes.
          if (follow || batch.length > 65536) {
            await s.write(batch);
            batch = '';
          }
        },
      });
      if (batch) await s.write(batch);
    });
  });

  app.post('/builds/:id/cancel', async (c) => {
    const b = lookups.build(c.get('caller'), c.req.param('id'), 'write');
    const canceled = await deps.builds.cancel(b.id, c.get('caller').user.name);
    audited(deps.audit, c, 'build.cancel', `#${b.id}`, { repo: b.repo });
    return c.json(view(canceled));
  });

  app.post('/builds/:id/rebuild', async (c) => {
    const b = lookups.build(c.get('caller'), c.req.param('id'), 'write');
    const again = await deps.builds.rebuild(b.id, c.get('caller').user.name);
    audited(deps.audit, c, 'build.rebuild', `#${b.id}`, { repo: b.repo, detail: { build: again.id } });
    return c.json(view(again), 201);
  });

  app.get('/repos/:owner/:repo/commits/:sha/builds', (c) => {
    const { owner, repo, sha } = c.req.param();
    const found = lookups.commit(c.get('caller'), owner, repo, sha);
    return c.json({ repo: found.repo, commit: found.commit, builds: views(found.builds) });
  });

  return app;
}
