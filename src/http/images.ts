import { Hono } from 'hono';
import type { Access } from '../auth/access.js';
import type { AuditLog } from '../auth/audit.js';
import { BadGatewayError, BadRequestError } from '../errors.js';
import { TAG_RE } from '../images/tags.js';
import { nameProblem } from '../names.js';
import { RegistryError } from '../registry/client.js';
import type { GarbageCollector } from '../registry/gc.js';
import type { UsageService } from '../registry/usage.js';
import type { Caller } from '../store/scopes.js';
import type { Store } from '../store/store.js';
import { audited } from './audited.js';
import { Lookups } from './lookups.js';

export interface ImageRoutesDeps {
  store: Store;
  access: Access;
  usage: UsageService;
  /** Removes a tag by hand. */
  gc: Pick<GarbageCollector, 'removeTag'>;
  audit: AuditLog;
}

type Env = { Variables: { caller: Caller } };

/** A namespace's images in the registry, under /api (the caller is signed in): what they weigh, and a tag removed by hand. */
export function imageRoutes(deps: ImageRoutesDeps): Hono<Env> {
  const app = new Hono<Env>();
  const lookups = new Lookups(deps.store, deps.access);

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
    if (!TAG_RE.test(tag))
      throw new BadRequestError(`${JSON.stringify(tag)} is not a tag: letters, digits, '_', '.', '-', at most 128, not starting with '.' or '-'`);
    const removed = await deps.gc.removeTag(`${owner}/${image}`, tag, caller.user.name).catch((e: unknown) => {
      throw e instanceof RegistryError ? new BadGatewayError(e.message) : e;
    });
    const detail = { removed: removed.map((r) => ({ tag: r.tag, digest: r.digest, how: r.how })), bytes: removed.reduce((a, r) => a + r.bytes, 0) };
    audited(deps.audit, c, 'image.remove', `${owner}/${image}:${tag}`, { repo: `${owner}/${image}`, detail });
    return c.json({
      repository: `${owner}/${image}`,
      tag,
      removed: removed.map((r) => ({ tag: r.tag, digest: r.digest, how: r.how, bytes: r.bytes })),
      bytes: removed.reduce((a, r) => a + r.bytes, 0),
    });
  });

  return app;
}
