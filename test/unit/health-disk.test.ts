import { describe, expect, it } from 'vitest';
import type { BuilderPool } from '../../src/builder/pool.js';
import { healthRoutes } from '../../src/http/health.js';
import { BuildMetrics } from '../../src/metrics.js';
import type { RegistryClient } from '../../src/registry/client.js';
import type { Store } from '../../src/store/store.js';
import type { DiskReading, DiskSpace } from '../../src/util/disk.js';

/** Every check healthy but the disk, which reads as `reading`. */
function app(reading: Omit<DiskReading, 'minFreeBytes' | 'totalBytes'>) {
  const disk = { read: () => ({ totalBytes: 8 << 20, minFreeBytes: 1 << 20, ...reading }), invalidate() {}, minFreeBytes: 1 << 20 } as unknown as DiskSpace;
  return healthRoutes({
    store: { ping() {}, builds: { countByStatus: () => ({}) } } as unknown as Store,
    pool: { status: () => [{ name: 'local', healthy: true, detail: 'up', running: 0, capacity: 1 }] } as unknown as BuilderPool,
    registry: { ping: async () => ({ ok: true, detail: 'up' }) } as unknown as RegistryClient,
    metrics: new BuildMetrics(),
    disk,
  });
}

describe("/healthz and /metrics report the data dir's free space", () => {
  it('is ok with room, degraded (200) under the threshold, and failing (503) when full', async () => {
    const ok = await app({ freeBytes: 4 << 20, level: 'ok' }).request('/healthz');
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({
      status: 'ok',
      checks: { disk: { ok: true, status: 'ok', free_bytes: 4 << 20, total_bytes: 8 << 20, min_free_bytes: 1 << 20 } },
    });
    const low = await app({ freeBytes: 512 << 10, level: 'low' }).request('/healthz');
    expect(low.status).toBe(200);
    expect(await low.json()).toMatchObject({
      status: 'degraded',
      checks: { disk: { ok: true, status: 'degraded', detail: expect.stringContaining('pushes are refused') } },
    });
    const full = await app({ freeBytes: 0, level: 'full' }).request('/healthz');
    expect(full.status).toBe(503);
    expect(await full.json()).toMatchObject({
      status: 'degraded',
      checks: { disk: { ok: false, status: 'failing', free_bytes: 0, detail: expect.stringContaining('the data dir is full') } },
    });
  });

  it('exports free and total bytes as gauges read at scrape time', async () => {
    const text = await (await app({ freeBytes: 12345, level: 'low' }).request('/metrics')).text();
    expect(text).toContain('# TYPE codehub_data_free_bytes gauge\ncodehub_data_free_bytes 12345');
    expect(text).toContain(`codehub_data_total_bytes ${8 << 20}`);
  });
});
