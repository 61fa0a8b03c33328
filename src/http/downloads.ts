import { createReadStream, statSync } from 'node:fs';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Hono } from 'hono';
import { NotFoundError } from '../errors.js';

/** What the server hands to workspaces, built by `npm run build` into dist/downloads. */
const FILES: Record<string, { type: string; what: string }> = {
  'codehub-build': { type: 'text/javascript; charset=utf-8', what: 'the client CLI' },
  'codehub-build.vsix': { type: 'application/vsix', what: 'the code-server extension' },
};

/**
 * GET /downloads/codehub-build and /downloads/codehub-build.vsix: public (a workspace fetches them with curl
 * before it has set anything up; they hold no secret). Served from `dir` on each request, so a rebuild is
 * served without a restart; an ETag of size and time lets a client skip what it already has.
 */
export function downloadRoutes(dir = fileURLToPath(new URL('../../downloads/', import.meta.url))): Hono {
  const app = new Hono();
  for (const [name, { type, what }] of Object.entries(FILES)) {
    app.get(`/downloads/${name}`, (c) => {
      const path = `${dir}/${name}`;
      let size: number, mtime: number;
      try {
        ({ size, mtimeMs: mtime } = statSync(path));
      } catch {
        throw new NotFoundError(`${what} was not built on this server: run \`npm run build\` where it runs (it writes dist/downloads/${name})`);
      }
      const etag = `"${size.toString(16)}-${Math.floor(mtime).toString(16)}"`;
      c.header('etag', etag);
      c.header('cache-control', 'no-cache');
      c.header('x-content-type-options', 'nosniff');
      if (c.req.header('if-none-match') === etag) return c.body(null, 304);
      c.header('content-type', type);
      c.header('content-length', String(size));
      c.header('content-disposition', `attachment; filename="${name}"`);
      return c.body(Readable.toWeb(createReadStream(path)) as ReadableStream);
    });
  }
  return app;
}
