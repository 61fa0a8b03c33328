import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BuilderPool } from '../../src/builder/pool.js';
import { healthRoutes, vulnDbCheck } from '../../src/http/health.js';
import { BuildMetrics } from '../../src/metrics.js';
import type { RegistryClient } from '../../src/registry/client.js';
import { importOsv } from '../../src/scan/vulndb.js';
import { openDb } from '../../src/store/db.js';
import { Store } from '../../src/store/store.js';

const DAY = 86_400_000;

describe("the vulnerability database's age in /healthz", () => {
  it('is empty before an import, ok within CODEHUB_VULNDB_MAX_AGE, a stale warning past it naming the fix', () => {
    const now = Date.parse('2026-12-07T12:00:00.000Z');
    expect(vulnDbCheck(null, 7 * DAY, now)).toEqual({
      stale: false,
      check: expect.objectContaining({ ok: true, status: 'empty', imported_at: null, detail: expect.stringContaining('codehub-build vulndb import') }),
    });
    const fresh = vulnDbCheck('2026-12-05T12:00:00.000Z', 7 * DAY, now);
    expect(fresh).toEqual({
      stale: false,
      check: expect.objectContaining({ status: 'ok', age_seconds: 2 * 86_400, max_age_seconds: 7 * 86_400, detail: 'last imported 2.0 days ago' }),
    });
    const old = vulnDbCheck('2026-11-27T12:00:00.000Z', 7 * DAY, now);
    expect(old.stale).toBe(true);
    expect(old.check).toMatchObject({ ok: true, status: 'stale', age_seconds: 10 * 86_400 });
    expect(old.check.detail).toBe(
      "WARNING: the vulnerability data was last imported 10.0 days ago, more than CODEHUB_VULNDB_MAX_AGE (7.0 days): import OSV's current exports with `codehub-build vulndb import`",
    );
  });

  let dir: string;
  let store: Store;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'chb-health-vulndb-'));
    store = new Store(openDb(join(dir, 'codehub.db')));
  });
  afterEach(() => {
    store.db.$client.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the route reads the last import from the store: a stale one makes the server degraded, still 200', async () => {
    const app = (maxAgeMs: number) =>
      healthRoutes({
        store,
        pool: { status: () => [{ name: 'local', healthy: true, detail: 'up', running: 0, capacity: 1 }] } as unknown as BuilderPool,
        registry: { ping: async () => ({ ok: true, detail: 'up' }) } as unknown as RegistryClient,
        metrics: new BuildMetrics(),
        vulndbMaxAgeMs: maxAgeMs,
      });
    const empty = await (await app(7 * DAY).request('/healthz')).json();
    expect(empty).toMatchObject({ status: 'ok', checks: { vulndb: { status: 'empty' } } });
    const record = readFileSync(fileURLToPath(new URL('../fixtures/osv/GHSA-35jh-r3h4-6jhm.json', import.meta.url)));
    writeFileSync(join(dir, 'r.json'), record);
    await importOsv(store, [join(dir, 'r.json')]);
    const fresh = await (await app(7 * DAY).request('/healthz')).json();
    expect(fresh).toMatchObject({ status: 'ok', checks: { vulndb: { status: 'ok', imported_at: expect.stringMatching(/^\d{4}-/) } } });
    // A maximum age shorter than the time since the import: the same data is stale.
    await new Promise((r) => setTimeout(r, 5));
    const res = await app(1).request('/healthz');
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'degraded', checks: { vulndb: { status: 'stale' } } });
  });
});
