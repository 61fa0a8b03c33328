import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Hono } from 'hono';
import { createApp } from '../../src/app.js';
import { defaultConfig } from '../../src/config/parse.js';
import { Access } from '../../src/auth/access.js';
import { generateToken, hashToken } from '../../src/auth/tokens.js';
import { BuilderPool } from '../../src/builder/pool.js';
import { Runner } from '../../src/builds/runner.js';
import { noSecrets } from '../../src/secrets/source.js';
import { BuildService } from '../../src/builds/service.js';
import { RepoStore } from '../../src/git/repos.js';
import { apiRoutes } from '../../src/http/api.js';
import { UpstreamLinks } from '../../src/forges/links.js';
import { ForgeStore } from '../../src/store/forges.js';
import { Authenticator } from '../../src/http/auth.js';
import { errorPage, webRoutes } from '../../src/http/web/routes.js';
import { WebSession } from '../../src/http/web/session.js';
import { silentLogger } from '../../src/log.js';
import { LogStore } from '../../src/logs/store.js';
import { BuildMetrics } from '../../src/metrics.js';
import { RepoSecrets } from '../../src/secrets/vault.js';
import { openDb } from '../../src/store/db.js';
import type { Build, BuildStatus } from '../../src/store/schema.js';
import { Store } from '../../src/store/store.js';
import { InventoryStore } from '../../src/store/inventory.js';
import { Quotas } from '../../src/registry/quota.js';
import { UsageService } from '../../src/registry/usage.js';
import { UploadStore } from '../../src/store/uploads.js';
import { BlobStore } from '../../src/uploads/blobs.js';
import { HeldSecrets } from '../../src/uploads/held-secrets.js';
import { UploadService } from '../../src/uploads/service.js';

/**
 * The whole HTTP app over an in-memory database, with a runner that is never started (queued builds stay
 * queued): for route tests that need no git, BuildKit or registry.
 */
export function memoryApp() {
  const store = new Store(openDb(':memory:'));
  const auth = new Authenticator(store);
  const logs = new LogStore(mkdtempSync(join(tmpdir(), 'chb-app-')));
  const pool = new BuilderPool([], silentLogger);
  const repos = new RepoStore(mkdtempSync(join(tmpdir(), 'chb-app-data-')));
  const runner = new Runner({
    store,
    repos,
    logs,
    pool,
    secrets: noSecrets,
    tagger: { tag: async () => {} },
    log: silentLogger,
    metrics: new BuildMetrics(),
    publicUrl: 'http://x',
    instance: 't',
    maxBuilds: 1,
    defaultTimeoutMs: 1000,
    retry: { maxAttempts: 1, baseMs: 1 },
  });
  const builds = new BuildService({ store, repos, logs, runner, log: silentLogger, registry: 'reg:5000', publicUrl: 'http://x', maxQueuedPerOwner: 100 });
  const access = new Access(store);
  const uploadStore = new UploadStore(store.db);
  const blobs = new BlobStore(mkdtempSync(join(tmpdir(), 'chb-app-blobs-')));
  const held = new HeldSecrets();
  const uploads = new UploadService({
    store,
    uploads: uploadStore,
    blobs,
    logs,
    held,
    runner,
    log: silentLogger,
    registry: 'reg:5000',
    maxQueuedPerOwner: 100,
    maxBytes: 1024 * 1024,
    cacheBytes: 10 * 1024 * 1024,
  });
  const inventory = new InventoryStore(store.db);
  const usage = new UsageService(inventory, new Quotas({ store, inventory, defaultBytes: 0 }), 'reg:5000');
  const session = new WebSession(randomBytes(32), false);
  const forges = new ForgeStore(store.db);
  const links = new UpstreamLinks({ store, forges, repos, key: randomBytes(32), publicUrl: 'http://x' });
  const app = createApp({
    log: silentLogger,
    git: new Hono(),
    hooks: new Hono(),
    health: new Hono(),
    downloads: new Hono(),
    api: apiRoutes({
      store,
      access,
      builds,
      uploads,
      secrets: new RepoSecrets(store, randomBytes(32)),
      logs,
      auth,
      publicUrl: 'http://x',
      usage,
      retention: { keep: 10, days: 30 },
      gc: {
        removeTag: async () => {
          throw new Error('the memory app has no registry');
        },
      },
      links,
      statusesOf: (ids) => forges.statusesOf(ids),
      dataDir: mkdtempSync(join(tmpdir(), 'chb-app-vulndb-')),
      registry: 'reg:5000',
      // CODEHUB_TOKEN_MAX_DAYS as an operator sets it, so the route tests see the cap.
      tokenMaxDays: 30,
    }),
    web: webRoutes({ store, access, builds, logs, auth, session, publicUrl: 'http://x', usage, statusOf: (id) => forges.status(id) }),
    errorPage,
  });
  return {
    app,
    store,
    logs,
    session,
    inventory,
    uploadStore,
    blobs,
    held,
    forges,
    links,
    /** A new user; returns their token. */
    addUser(name: string): string {
      const t = generateToken();
      store.accounts.createUser(name, hashToken(t));
      return t;
    },
    /** One build per sha on main of owner/repo, with the given status. */
    addBuilds(owner: string, repo: string, shas: string[], status: BuildStatus = 'succeeded', refName = 'main'): Build[] {
      const repoId = store.repos.ensure(owner, repo).id;
      return store.builds.insert(
        shas.map((commitSha) => ({
          repoId,
          repo: `${owner}/${repo}`,
          owner,
          ref: `refs/heads/${refName}`,
          refType: 'branch' as const,
          refName,
          commitSha,
          image: repo,
          status,
          pusher: owner,
          config: { ...defaultConfig(repo).images[0]! },
        })),
        () => [],
      );
    },
  };
}
