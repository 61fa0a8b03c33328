import { Hono } from 'hono';
import type { BuilderDriver } from '../builder/driver.js';
import type { RegistryClient } from '../registry/client.js';
import type { Store } from '../store/store.js';

export interface HealthDeps {
  store: Store;
  driver: BuilderDriver;
  registry: RegistryClient;
}

/** GET /healthz: the process, the database, the builder and the registry; 503 if any is down. */
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
    const [builder, registry] = await Promise.all([deps.driver.health(), deps.registry.ping()]);
    const checks = { process: { ok: true, detail: `pid ${process.pid}, up ${Math.round(process.uptime())}s` }, database: db, builder, registry };
    const ok = Object.values(checks).every((x) => x.ok);
    return c.json({ status: ok ? 'ok' : 'degraded', checks }, ok ? 200 : 503);
  });
  return app;
}
