import { serve, type ServerType } from '@hono/node-server';
import { join } from 'node:path';
import { createApp } from './app.js';
import { loadOrCreateKey } from './auth/hook-signature.js';
import { BuildxDriver } from './builder/buildx.js';
import type { BuilderDriver } from './builder/driver.js';
import { enqueuePush } from './builds/enqueue.js';
import { noSecrets, Runner } from './builds/runner.js';
import { RepoStore } from './git/repos.js';
import { apiRoutes } from './http/api.js';
import { Authenticator } from './http/auth.js';
import { gitRoutes } from './http/git.js';
import { healthRoutes } from './http/health.js';
import { hookRoutes } from './http/hooks.js';
import { createLogger, type Logger } from './log.js';
import { LogStore } from './logs/store.js';
import { RegistryClient } from './registry/client.js';
import type { Settings } from './settings.js';
import { openDb } from './store/db.js';
import { Store } from './store/store.js';

export interface Server {
  url: string;
  close(): Promise<void>;
}

export const dbFile = (dataDir: string): string => join(dataDir, 'codehub.db');

/** Wires every part together and starts listening. The one place that knows how the pieces fit. */
export async function startServer(settings: Settings, opts: { log?: Logger; driver?: BuilderDriver } = {}): Promise<Server> {
  const log = opts.log ?? createLogger();
  const store = new Store(openDb(dbFile(settings.dataDir)));
  const repos = new RepoStore(settings.dataDir);
  await repos.installHooks();
  const hookKeyFile = join(settings.dataDir, 'secrets', 'hook.key');
  const key = loadOrCreateKey(hookKeyFile);
  const logs = new LogStore(join(settings.dataDir, 'logs'));
  if (settings.builders.length > 1) log.warn('several builders are configured; this version uses the first', { builders: settings.builders });
  const driver = opts.driver ?? new BuildxDriver({ builder: settings.builders[0] });
  const registry = new RegistryClient(settings.registry);
  const auth = new Authenticator(store);

  const runner = new Runner({
    store, repos, logs, driver, secrets: noSecrets, log, publicUrl: settings.publicUrl,
    maxBuilds: settings.maxBuilds, defaultTimeoutMs: settings.buildTimeoutMs,
  });
  const app = createApp({
    log,
    git: gitRoutes({ repos, auth, log, hookUrl: `http://${loopbackHost(settings.host)}:${settings.port}/hooks/post-receive`, hookKeyFile }),
    hooks: hookRoutes({
      key, log,
      onPush: async (push) => {
        const result = await enqueuePush({ store, repos, logs, registry: settings.registry, publicUrl: settings.publicUrl }, push);
        runner.notify();
        return result;
      },
    }),
    api: apiRoutes({ store, logs, auth, publicUrl: settings.publicUrl }),
    health: healthRoutes({ store, driver, registry }),
  });

  const server: ServerType = await new Promise((resolve, reject) => {
    const s = serve({ fetch: app.fetch, port: settings.port, hostname: settings.host }, () => resolve(s));
    s.once('error', reject);
  });
  await runner.start();
  log.info('listening', { url: settings.publicUrl, port: settings.port, dataDir: settings.dataDir, registry: settings.registry, builder: driver.name });

  return {
    url: settings.publicUrl,
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await runner.stop();
      store.db.$client.close();
    },
  };
}

/** The hook runs on this machine, so it reaches the server on loopback unless the server binds elsewhere. */
function loopbackHost(host: string): string {
  if (host === '0.0.0.0' || host === '::' || host === '') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}
