import { Hono } from 'hono';
import type { BuilderPool } from '../builder/pool.js';
import { renderDisk, samples, type BuildMetrics } from '../metrics.js';
import type { RegistryClient } from '../registry/client.js';
import { dbImportedAt } from '../scan/scan-build.js';
import { BUILD_STATUSES } from '../store/schema.js';
import type { Store } from '../store/store.js';
import { describeDisk, type DiskSpace } from '../util/disk.js';

export interface HealthDeps {
  store: Store;
  pool: BuilderPool;
  registry: RegistryClient;
  metrics: BuildMetrics;
  /** Whether the registry takes pushes (read-only during its garbage collection): builds wait while it does not. */
  gate?: { readonly open: boolean; readonly detail: string };
  /** The data dir's free space: under CODEHUB_MIN_FREE the server is degraded (pushes refused), at none failing. */
  disk?: DiskSpace;
  /** Past this age of its last import the vulnerability data is stale: a warning, the server degraded (still 200). */
  vulndbMaxAgeMs?: number;
}

/** The vulnerability database's age: stale past `maxAgeMs` (a warning: the scans match old data), empty before an import. */
export function vulnDbCheck(importedAt: string | null, maxAgeMs: number, now = Date.now()): { stale: boolean; check: Record<string, unknown> } {
  if (!importedAt) {
    return {
      stale: false,
      check: {
        ok: true,
        status: 'empty',
        imported_at: null,
        detail: 'no vulnerability data imported yet: scans find nothing; import OSV exports with `codehub-build vulndb import`',
      },
    };
  }
  const age = now - Date.parse(importedAt);
  const stale = age > maxAgeMs;
  const days = (ms: number) => `${(ms / 86_400_000).toFixed(1)} days`;
  return {
    stale,
    check: {
      ok: true,
      status: stale ? 'stale' : 'ok',
      imported_at: importedAt,
      age_seconds: Math.round(age / 1000),
      max_age_seconds: Math.round(maxAgeMs / 1000),
      detail: stale
        ? `WARNING: the vulnerability data was last imported ${days(age)} ago, more than CODEHUB_VULNDB_MAX_AGE (${days(maxAgeMs)}): import OSV's current exports with \`codehub-build vulndb import\``
        : `last imported ${days(age)} ago`,
    },
  };
}

/** The disk check: `status` degraded under the threshold (still 200), failing with no space at all (503). */
function diskCheck(disk: DiskSpace): { ok: boolean; degraded: boolean; check: Record<string, unknown> } {
  try {
    const r = disk.read();
    const status = r.level === 'ok' ? 'ok' : r.level === 'low' ? 'degraded' : 'failing';
    const detail =
      r.level === 'full'
        ? `the data dir is full: ${describeDisk(r)}; builds, pushes and logs cannot be written until space is freed`
        : r.level === 'low'
          ? `low on space, pushes are refused: ${describeDisk(r)}`
          : describeDisk(r);
    return {
      ok: r.level !== 'full',
      degraded: r.level !== 'ok',
      check: { ok: r.level !== 'full', status, free_bytes: r.freeBytes, total_bytes: r.totalBytes, min_free_bytes: r.minFreeBytes, detail },
    };
  } catch (e) {
    return { ok: false, degraded: true, check: { ok: false, status: 'failing', detail: `the data dir's file system cannot be read: ${(e as Error).message}` } };
  }
}

/**
 * GET /healthz: the process, the database, the data dir's free space, each builder and the registry; 503 if
 * the database or the registry is down, no builder is healthy or the data dir is full (degraded but 200 when
 * it is only under CODEHUB_MIN_FREE). GET /metrics: Prometheus text.
 */
export function healthRoutes(deps: HealthDeps): Hono {
  const app = new Hono();
  app.get('/healthz', async (c) => {
    const db = (() => {
      try {
        deps.store.ping();
        return { ok: true, detail: 'sqlite answers' };
      } catch (e) {
        return { ok: false, detail: (e as Error).message };
      }
    })();
    const ping = await deps.registry.ping();
    const registry = deps.gate && ping.ok ? { ...ping, writable: deps.gate.open, detail: `${ping.detail}; ${deps.gate.detail}` } : ping;
    const builders = deps.pool.status();
    const disk = deps.disk ? diskCheck(deps.disk) : null;
    const ok = db.ok && registry.ok && builders.some((b) => b.healthy) && (disk?.ok ?? true);
    const vulndb = db.ok && deps.vulndbMaxAgeMs !== undefined ? vulnDbCheck(dbImportedAt(deps.store), deps.vulndbMaxAgeMs) : null;
    return c.json(
      {
        status: ok && !disk?.degraded && !vulndb?.stale ? 'ok' : 'degraded',
        checks: {
          process: { ok: true, detail: `pid ${process.pid}, up ${Math.round(process.uptime())}s` },
          database: db,
          ...(disk ? { disk: disk.check } : {}),
          registry,
          builders: builders.map((b) => ({ ok: b.healthy, ...b })),
          ...(vulndb ? { vulndb: vulndb.check } : {}),
        },
      },
      ok ? 200 : 503,
    );
  });

  app.get('/metrics', (c) => {
    const counts = deps.store.builds.countByStatus();
    const builders = deps.pool.status();
    const body =
      [
        samples(
          'codehub_builds',
          'Builds recorded, by status.',
          'gauge',
          BUILD_STATUSES.map((s) => ({ labels: { status: s }, value: counts[s] ?? 0 })),
        ),
        samples('codehub_queue_depth', 'Builds queued (including those backing off).', 'gauge', [{ value: counts.queued ?? 0 }]),
        deps.metrics.queueWait.render(),
        deps.metrics.duration.render(),
        deps.metrics.cacheRatio.render(),
        deps.metrics.renderSteps(),
        samples(
          'codehub_builder_healthy',
          'Whether the last health check of a builder passed.',
          'gauge',
          builders.map((b) => ({ labels: { builder: b.name }, value: b.healthy ? 1 : 0 })),
        ),
        samples(
          'codehub_builder_running',
          'Builds running on a builder.',
          'gauge',
          builders.map((b) => ({ labels: { builder: b.name }, value: b.running })),
        ),
        samples(
          'codehub_builder_capacity',
          'Builds a builder may run at once.',
          'gauge',
          builders.map((b) => ({ labels: { builder: b.name }, value: b.capacity })),
        ),
        ...(deps.gate
          ? [
              samples('codehub_registry_writable', 'Whether the registry takes pushes (builds wait queued while it does not).', 'gauge', [
                { value: deps.gate.open ? 1 : 0 },
              ]),
            ]
          : []),
        ...(deps.disk ? [renderDisk(deps.disk)].filter(Boolean) : []),
      ].join('\n\n') + '\n';
    return c.body(body, 200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
  });
  return app;
}
