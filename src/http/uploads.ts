import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { Hono } from 'hono';
import type { Access } from '../auth/access.js';
import type { Caller } from '../store/scopes.js';
import { BadRequestError } from '../errors.js';
import { MAX_UPLOAD_ENTRIES } from '../uploads/manifest.js';
import type { UploadService } from '../uploads/service.js';
import { readJson } from './body.js';
import { buildView } from './views.js';

type Env = { Variables: { caller: Caller } };

/** A manifest of the most entries the server takes, each with a long path: what its JSON may weigh. */
export const MAX_MANIFEST_BYTES = MAX_UPLOAD_ENTRIES * 512;
/** docker build's flags with the largest allowed secrets (request.ts): 32 x 64 KiB, base64-free JSON. */
export const MAX_BUILD_REQUEST_BYTES = 4 * 1024 * 1024;
const SHA256_RE = /^[0-9a-f]{64}$/;

export interface UploadRoutesDeps {
  uploads: UploadService;
  access: Access;
  publicUrl: string;
}

/**
 * `codehub-build build`'s three requests, under /api (the caller is signed in): the folder's manifest, each
 * file the server lacks, then the build. Every one needs the push scope: it ends in an image pushed as the caller.
 */
export function uploadRoutes(deps: UploadRoutesDeps): Hono<Env> {
  const app = new Hono<Env>();
  const push = (c: { get(k: 'caller'): Caller }): string => {
    const caller = c.get('caller');
    deps.access.requireScope(caller, 'push');
    return caller.user.name;
  };
  const notJson = (why: string) => `the body is not JSON (${why}); send a JSON object`;

  app.post('/uploads', async (c) => {
    const owner = push(c);
    const manifest = await readJson(c, {
      maxBytes: MAX_MANIFEST_BYTES,
      notJson,
      tooLarge: `a manifest may be at most ${MAX_MANIFEST_BYTES} bytes (${MAX_UPLOAD_ENTRIES} entries): add what the build does not need to .dockerignore`,
    });
    const started = await deps.uploads.begin(owner, manifest);
    const u = started.upload;
    return c.json(
      {
        id: u.id,
        folder: u.folder,
        files: u.files,
        bytes: u.bytes,
        missing: started.missing,
        missing_bytes: started.missingBytes,
        expires_at: started.expiresAt,
      },
      201,
    );
  });

  app.put('/uploads/:id/blobs/:sha256', async (c) => {
    const owner = push(c);
    const { id, sha256 } = c.req.param();
    if (!SHA256_RE.test(sha256)) throw new BadRequestError(`${JSON.stringify(sha256.slice(0, 80))} is not a sha256 (64 lowercase hex digits)`);
    const body = c.req.raw.body;
    const source = body ? Readable.fromWeb(body as WebReadableStream<Uint8Array>) : Readable.from([]);
    const r = await deps.uploads.putBlob(owner, id, sha256, source, c.req.raw.signal);
    return c.json({ sha256: r.sha256, size: r.size }, r.stored === 'written' ? 201 : 200);
  });

  app.post('/uploads/:id/build', async (c) => {
    const owner = push(c);
    const request = await readJson(c, {
      maxBytes: MAX_BUILD_REQUEST_BYTES,
      tooLarge: `a build request may be at most ${MAX_BUILD_REQUEST_BYTES} bytes`,
      notJson,
    });
    const b = await deps.uploads.build(owner, c.req.param('id'), request);
    return c.json(buildView(b, deps.publicUrl), 201);
  });

  return app;
}
