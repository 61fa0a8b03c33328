import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { pipeline } from 'node:stream/promises';
import { Hono, type MiddlewareHandler } from 'hono';
import type { Access } from '../auth/access.js';
import { BadRequestError, PayloadTooLargeError } from '../errors.js';
import { importOsv, type ImportResult, vulnDbSources } from '../scan/vulndb.js';
import { rematchAll, type RematchResult } from '../scan/rematch.js';
import type { Caller } from '../store/scopes.js';
import type { Store } from '../store/store.js';

export interface VulnDbDeps {
  store: Store;
  access: Access;
  /** The data dir: an upload is written under it (not /tmp, which may be small or another file system). */
  dataDir: string;
  /** Bytes an upload may have (default MAX_VULNDB_UPLOAD). */
  maxBytes?: number;
}

type Env = { Variables: { caller: Caller } };

/** Bytes `POST /api/vulndb/imports` takes: OSV's largest export (Debian's all.zip) is a few hundred MiB. */
export const MAX_VULNDB_UPLOAD = 2 * 1024 ** 3;

/** The import's answer: counts per ecosystem and the problems, in the API's snake case. */
export function importAnswer(r: ImportResult, rematch: RematchResult | null = null) {
  return {
    ecosystems: r.ecosystems,
    problems: r.problems,
    more_problems: r.moreProblems,
    rematch: rematch && { images: rematch.images, added: rematch.added, removed: rematch.removed, skipped: rematch.skipped },
  };
}

/**
 * The vulnerability database (issue 26): `GET /vulndb` for any signed-in caller, `POST /vulndb/imports` for an
 * admin, whose body (a zip as OSV publishes, or one OSV JSON record) is streamed to a file under the data dir and
 * imported as `codehub-build vulndb import` would import that file.
 */
export function vulnDbRoutes(deps: VulnDbDeps): Hono<Env> {
  const app = new Hono<Env>();
  const maxBytes = deps.maxBytes ?? MAX_VULNDB_UPLOAD;
  const tooLarge = `the body may be at most ${maxBytes} bytes: one OSV zip or one OSV JSON record`;
  const admin: MiddlewareHandler<Env> = async (c, next) => {
    deps.access.requireScope(c.get('caller'), 'admin');
    await next();
  };

  app.get('/vulndb', (c) => c.json({ sources: vulnDbSources(deps.store) }));

  app.post('/vulndb/imports', admin, async (c) => {
    const req = c.req.raw;
    const declared = req.headers.get('content-length');
    if (declared !== null && !req.headers.has('transfer-encoding') && Number.parseInt(declared, 10) > maxBytes) throw new PayloadTooLargeError(tooLarge);
    if (!req.body) throw new BadRequestError('the body is empty: send one OSV zip or one OSV JSON record');
    const dir = await mkdtemp(join(deps.dataDir, '.vulndb-import-'));
    try {
      // No extension: importOsv tells a zip from a record by its first bytes, not by a name the caller chose.
      const file = join(dir, 'body');
      let size = 0;
      const counter = new Transform({
        transform(chunk: Buffer, _enc, done) {
          size += chunk.length;
          done(size > maxBytes ? new PayloadTooLargeError(tooLarge) : null, chunk);
        },
      });
      await pipeline(Readable.fromWeb(req.body as WebReadableStream<Uint8Array>), counter, createWriteStream(file));
      if (size === 0) throw new BadRequestError('the body is empty: send one OSV zip or one OSV JSON record');
      const result = await importOsv(deps.store, [file]);
      // The temp file's path means nothing to the caller: the problems name "the body" instead.
      const problems = result.problems.map((p) => (p.startsWith(file) ? `the body${p.slice(file.length)}` : p));
      // What changed reaches every kept image now, matched again from its stored inventory.
      const changed = Object.values(result.ecosystems).some((e) => e.added + e.updated + e.withdrawn > 0);
      const answer = importAnswer({ ...result, problems }, changed ? await rematchAll(deps.store) : null);
      // Nothing read from the body at all (a refused zip, not a record): the caller's mistake, and nothing changed.
      if (Object.keys(result.ecosystems).length === 0 && problems.length > 0) throw new BadRequestError(problems[0] ?? 'nothing imported', answer);
      return c.json(answer);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  return app;
}
