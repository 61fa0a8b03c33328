import { Hono } from 'hono';
import { stream } from 'hono/streaming';
import type { Build } from '../store/schema.js';
import { SIGNATURE_HEADER, verify } from '../auth/hook-signature.js';
import type { Push, PushResult } from '../builds/enqueue.js';
import { BadRequestError, UnauthorizedError } from '../errors.js';
import { nameProblem } from '../names.js';
import { isNoSpace } from '../util/disk.js';
import type { Logger } from '../log.js';
import { readBody } from './body.js';

export interface HookDeps {
  key: Buffer;
  log: Logger;
  /** Records the push's builds durably; resolves once they are committed. */
  onPush: (push: Push) => Promise<PushResult>;
  /** For `git push -o wait`: streams the builds' output, then one result line each. */
  wait: (builds: Build[], write: (text: string) => Promise<void>, signal: AbortSignal) => Promise<void>;
}

const MAX_HOOK_BODY = 1024 * 1024;
/** A hook call older than this is refused, so a captured body cannot be replayed later. */
const MAX_AGE_MS = 5 * 60 * 1000;

/**
 * POST /hooks/post-receive: the bare repos' post-receive hook reports ref updates here, signed with
 * HMAC-SHA256 of the raw body. The answer is plain text the hook prints to the pusher.
 */
export function hookRoutes(deps: HookDeps): Hono {
  const app = new Hono();
  app.post('/post-receive', async (c) => {
    const raw = new Uint8Array(await readBody(c, { maxBytes: MAX_HOOK_BODY, tooLarge: `hook body larger than ${MAX_HOOK_BODY} bytes` }));
    if (!verify(deps.key, raw, c.req.header(SIGNATURE_HEADER))) {
      deps.log.warn('hook call with a missing or wrong signature refused', { remote: c.req.header('x-forwarded-for') });
      throw new UnauthorizedError(`missing or wrong ${SIGNATURE_HEADER} signature`);
    }
    const push = parsePush(raw);
    let result: PushResult;
    try {
      result = await deps.onPush(push);
    } catch (e) {
      // git has moved the refs already: say so in lines the hook prints as they are (no JSON run into its own
      // words), and that nothing is lost (the late-push check records it, late-pushes.ts).
      deps.log.error('could not record a push git accepted; the late-push check records it', {
        repo: `${push.owner}/${push.repo}`,
        pusher: push.pusher,
        err: e,
      });
      const why = isNoSpace(e) ? "the server's data dir is full" : `recording failed (${(e as Error).message.split('\n')[0]!.slice(0, 200)})`;
      return c.text(
        `codehub-build: your push landed, but its builds could not be recorded now: ${why}.\n` +
          'codehub-build: the server records them on its own once it can (within a minute of that): do not push again; the builds appear under the commit\n',
        503,
      );
    }
    deps.log.info('push recorded', { repo: `${push.owner}/${push.repo}`, pusher: push.pusher, builds: result.builds.map((b) => b.id) });
    const text = result.lines.map((l) => l + '\n').join('');
    const queued = result.builds.filter((b) => b.status === 'queued');
    if (!push.options.includes('wait') || queued.length === 0) return c.text(text);
    // git push -o wait: the builds' output follows as it happens; the pusher may leave (Ctrl-C) at any
    // time without canceling anything.
    c.header('content-type', 'text/plain; charset=utf-8');
    return stream(c, async (s) => {
      const aborted = new AbortController();
      s.onAbort(() => aborted.abort());
      await s.write(text);
      await deps.wait(
        queued,
        async (t) => {
          await s.write(t);
        },
        aborted.signal,
      );
    });
  });
  return app;
}

function parsePush(raw: Uint8Array): Push {
  let body: unknown;
  try {
    body = JSON.parse(Buffer.from(raw).toString('utf8'));
  } catch {
    throw new BadRequestError('hook body is not JSON');
  }
  const b = body as { repo?: unknown; pusher?: unknown; updates?: unknown; options?: unknown; sentAt?: unknown };
  if (typeof b.repo !== 'string' || typeof b.pusher !== 'string' || !Array.isArray(b.updates)) {
    throw new BadRequestError('hook body needs repo, pusher and updates');
  }
  const sent = typeof b.sentAt === 'string' ? Date.parse(b.sentAt) : NaN;
  if (!Number.isFinite(sent) || Math.abs(Date.now() - sent) > MAX_AGE_MS)
    throw new UnauthorizedError('hook call is stale or undated (sentAt); refusing a possible replay');
  const [owner = '', repo = ''] = b.repo.split('/');
  const problem = nameProblem('owner', owner) ?? nameProblem('repo', repo) ?? nameProblem('user', b.pusher);
  if (problem) throw new BadRequestError(problem);
  const updates = b.updates.map((u: unknown) => {
    const x = u as { old?: unknown; new?: unknown; ref?: unknown };
    if (typeof x.old !== 'string' || typeof x.new !== 'string' || typeof x.ref !== 'string')
      throw new BadRequestError('each update needs old, new and ref strings');
    return { old: x.old, new: x.new, ref: x.ref };
  });
  const options = Array.isArray(b.options) ? b.options.filter((o): o is string => typeof o === 'string') : [];
  return { owner, repo, pusher: b.pusher, updates, options };
}
