import { join } from 'node:path';
import { RepoStore } from '../git/repos.js';
import type { Logger } from '../log.js';
import { LogStore } from '../logs/store.js';
import type { Settings } from '../settings.js';
import { InventoryStore } from '../store/inventory.js';
import type { Store } from '../store/store.js';
import { RegistryClient } from './client.js';
import { GarbageCollector } from './gc.js';
import { Inventory } from './inventory.js';
import { Quotas } from './quota.js';
import { loadOrCreateTokenKey, parseScope, TokenIssuer } from './token.js';

/** The registry operations, made the same way by the server and by the server-side CLI (`gc`, `user quota`). */
export interface RegistryOps {
  client: RegistryClient;
  inventoryStore: InventoryStore;
  inventory: Inventory;
  gc: GarbageCollector;
  quotas: Quotas;
  /** A client that may only pull `repositories` (a scan reads what its build pushed, and nothing else). */
  reader(repositories: readonly string[]): RegistryClient;
}

export function registryOps(p: {
  settings: Settings;
  store: Store;
  repos: RepoStore;
  logs: LogStore;
  log: Logger;
  issuer?: TokenIssuer | undefined;
}): RegistryOps {
  const { settings, store, log } = p;
  // With token auth this server signs its own tokens for whatever the registry asks (it is the registry's operator).
  const client = new RegistryClient(settings.registry, 5000, p.issuer ? (scope) => p.issuer!.issue('codehub-build', [parseScope(scope)!]).token : undefined);
  const inventoryStore = new InventoryStore(store.db);
  const inventory = new Inventory({ inventory: inventoryStore, store, registry: client, log });
  const gc = new GarbageCollector({
    store,
    inventory: inventoryStore,
    sync: inventory,
    registry: client,
    repos: p.repos,
    logs: p.logs,
    log,
    settings: { keep: settings.retentionKeep, days: settings.retentionDays, graceMs: settings.retentionGraceMs, logRetentionDays: settings.logRetentionDays },
  });
  const quotas = new Quotas({ store, inventory: inventoryStore, defaultBytes: settings.quotaBytes, estimate: (o) => gc.run(o) });
  const reader = (repositories: readonly string[]) =>
    new RegistryClient(
      settings.registry,
      30_000,
      p.issuer
        ? (scope) => {
            const want = parseScope(scope);
            const may = want?.type === 'repository' && repositories.includes(want.name) && want.actions.includes('pull');
            return p.issuer!.issue('codehub-build-scan', may ? [{ type: 'repository', name: want.name, actions: ['pull'] }] : []).token;
          }
        : undefined,
    );
  return { client, inventoryStore, inventory, gc, quotas, reader };
}

/**
 * The registry operations for a command run where the data dir is (`gc`): the same parts the server makes,
 * signing its own registry tokens when the registry uses token auth.
 */
export function openRegistryOps(settings: Settings, store: Store, log: Logger): RegistryOps {
  const issuer =
    settings.registryAuth === 'token'
      ? (() => {
          const { key, certDer } = loadOrCreateTokenKey(
            join(settings.dataDir, 'secrets', 'registry-token.key'),
            join(settings.dataDir, 'secrets', 'registry-token.crt'),
          );
          return new TokenIssuer(key, certDer, settings.registryService);
        })()
      : undefined;
  const logs = new LogStore(join(settings.dataDir, 'logs'), { maxBytes: settings.logMaxBytes });
  return registryOps({ settings, store, repos: new RepoStore(settings.dataDir), logs, log, issuer });
}
