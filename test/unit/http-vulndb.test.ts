/**
 * POST /api/vulndb/imports' byte limit on a body that declares no length (chunked): counted as it is written to
 * the data dir, refused with 413 once past the limit, the partial file removed and nothing imported. The e2e
 * suite (test/e2e/vulndb.test.ts) covers the rest through the real server; the product has no setting for a
 * small limit, so the route's own `maxBytes` is set here.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Hono } from 'hono';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { Access } from '../../src/auth/access.js';
import { AppError } from '../../src/errors.js';
import { vulnDbRoutes } from '../../src/http/vulndb.js';
import { openDb } from '../../src/store/db.js';
import type { Caller } from '../../src/store/scopes.js';
import { Store } from '../../src/store/store.js';

const lodash = readFileSync(new URL('../fixtures/osv/GHSA-35jh-r3h4-6jhm.json', import.meta.url));

let dir: string;
let store: Store;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'chb-vulndb-http-'));
  store = new Store(openDb(join(dir, 'codehub.db')));
});
afterEach(() => {
  store.db.$client.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The routes under a caller with the admin scope, errors answered as app.ts answers them. */
function app(maxBytes: number): Hono<{ Variables: { caller: Caller } }> {
  const a = new Hono<{ Variables: { caller: Caller } }>();
  // requireScope reads the scopes (and the name, for its message); the routes read nothing else of the caller.
  const caller = { user: { name: 'admin' }, tokenId: 1, scopes: ['read', 'push', 'admin'] } as unknown as Caller;
  a.use('*', async (c, next) => {
    c.set('caller', caller);
    await next();
  });
  a.route('/', vulnDbRoutes({ store, access: new Access(store), dataDir: dir, maxBytes }));
  a.onError((err, c) => c.json({ error: { message: err.message } }, (err instanceof AppError ? err.status : 500) as 400));
  return a;
}

/** A body with no Content-Length: the bytes in chunks of 100. */
function chunked(bytes: Buffer): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(ctl) {
      if (at >= bytes.length) return ctl.close();
      ctl.enqueue(bytes.subarray(at, (at += 100)));
    },
  });
}

const post = (a: Hono<{ Variables: { caller: Caller } }>, bytes: Buffer) =>
  a.request('/vulndb/imports', { method: 'POST', body: chunked(bytes), duplex: 'half' } as RequestInit);

it('refuses a chunked body past the limit with 413, leaving no file and importing nothing', async () => {
  const r = await post(app(lodash.length - 1), lodash);
  expect(r.status).toBe(413);
  expect(((await r.json()) as { error: { message: string } }).error.message).toContain(`at most ${lodash.length - 1} bytes`);
  expect(readdirSync(dir).filter((f) => f.startsWith('.vulndb-import-'))).toEqual([]);
  expect(store.vulndb.sources()).toEqual([]);
});

it('takes the same body at exactly the limit', async () => {
  const r = await post(app(lodash.length), lodash);
  expect(r.status).toBe(200);
  const body = (await r.json()) as { ecosystems: Record<string, { added: number }> };
  expect(body.ecosystems.npm?.added).toBe(1);
  expect(store.vulndb.sources().map((s) => [s.ecosystem, s.records])).toEqual([['npm', 1]]);
});
