import { serve, type ServerType } from '@hono/node-server';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createApp } from './app.js';
import { loadOrCreateKey } from './auth/key-file.js';
import { Access } from './auth/access.js';
import { AuditLog, SYSTEM_ACTOR } from './auth/audit.js';
import { BuildCredentials, loadOrCreateTokenKey, TokenIssuer } from './registry/token.js';
import { registryTokenRoutes } from './http/registry-token.js';
import { generateToken, hashToken } from './auth/tokens.js';
import { tokenExpiry, type ExpiryPolicy } from './auth/expiry.js';
import type { Server as HttpServer } from 'node:http';
import type { BuilderDriver } from './builder/driver.js';
import { BuilderPool, driverFor, parseBuilders } from './builder/pool.js';
import { Runner } from './builds/runner.js';
import { RepoSecrets } from './secrets/vault.js';
import { BuildService } from './builds/service.js';
import { streamBuilds } from './builds/wait.js';
import { createHash } from 'node:crypto';
import { BuildMetrics } from './metrics.js';
import { NoteWriter } from './git/notes.js';
import { RepoStore } from './git/repos.js';
import { webRoutes, errorPage } from './http/web/routes.js';
import { WebSession } from './http/web/session.js';
import { ssoRoutes } from './http/sso.js';
import { SingleSignOn } from './auth/sso.js';
import { apiRoutes } from './http/api.js';
import { downloadRoutes } from './http/downloads.js';
import { Authenticator } from './http/auth.js';
import { gitRoutes } from './http/git.js';
import { healthRoutes } from './http/health.js';
import { hookRoutes } from './http/hooks.js';
import { createLogger, type Logger } from './log.js';
import { LogStore } from './logs/store.js';
import { RegistryGate } from './registry/gate.js';
import { Maintenance } from './registry/maintenance.js';
import { registryOps } from './registry/ops.js';
import { UsageService } from './registry/usage.js';
import type { Settings } from './settings.js';
import { installHooks, openStartDb } from './data-dir.js';
import { isPush, type Build } from './store/schema.js';
import { Store } from './store/store.js';
import { HeadStore } from './store/heads.js';
import { LatePushes } from './builds/late-pushes.js';
import { UploadStore } from './store/uploads.js';
import { BlobStore } from './uploads/blobs.js';
import { HeldSecrets } from './uploads/held-secrets.js';
import { UploadService } from './uploads/service.js';
import { ForgeStore } from './store/forges.js';
import { UpstreamLinks } from './forges/links.js';
import { StatusReporter } from './forges/statuses.js';
import { WebhookService } from './forges/webhooks.js';
import { forgeHookRoutes } from './http/forges.js';
import { hostAllowed } from './settings.js';
import { commitOf } from './git/read.js';
import { DiskSpace } from './util/disk.js';
import { keepReserve } from './util/reserve.js';

export interface Server {
  url: string;
  /** The HTTP app as it is served: every route mounted (what /api/openapi.json describes). */
  app: ReturnType<typeof createApp>;
  close(): Promise<void>;
}

/** The token issuer (key and certificate in the data dir, made on first use) and the builds' credentials. */
function registryTokens(settings: Settings, log: Logger): { issuer: TokenIssuer; builds: BuildCredentials } {
  const certFile = join(settings.dataDir, 'secrets', 'registry-token.crt');
  const { key, certDer } = loadOrCreateTokenKey(join(settings.dataDir, 'secrets', 'registry-token.key'), certFile);
  log.info('registry token auth on', { realm: `${settings.publicUrl}/registry/token`, service: settings.registryService, rootcertbundle: certFile });
  return { issuer: new TokenIssuer(key, certDer, settings.registryService), builds: new BuildCredentials() };
}

/**
 * On the first start (no users yet) makes the user `admin` with an admin-scoped token and prints the token
 * once, on stdout and never in the log, so the operator can add users and see every repo.
 */
function createFirstAdmin(store: Store, log: Logger, policy: ExpiryPolicy): void {
  if (store.accounts.userCount() > 0) return;
  const token = generateToken();
  // Under a site maximum the first admin token expires too: no token outlives the site's rule (the server's
  // CLI makes another: codehub-build token create admin --scopes read,push,admin).
  const expiry = tokenExpiry(undefined, policy);
  const expiresAt = 'expiresAt' in expiry ? expiry.expiresAt : null;
  if (!store.accounts.createUser('admin', hashToken(token), ['read', 'push', 'admin'], expiresAt)) return;
  new AuditLog(store).record(SYSTEM_ACTOR, 'user.create', 'admin', { detail: { first_start: true } });
  const until = expiresAt ? ` (it expires at ${expiresAt})` : '';
  process.stdout.write(`codehub-build: first start: created user admin with an admin token${until}, shown only now; store it:\n${token}\n`);
  log.info('first start: created user admin with an admin token (printed once on stdout, not logged)', { expires_at: expiresAt });
}

/** Wires every part together and starts listening. The one place that knows how the pieces fit. */
export async function startServer(settings: Settings, opts: { log?: Logger; drivers?: { driver: BuilderDriver; capacity: number }[] } = {}): Promise<Server> {
  const log = opts.log ?? createLogger();
  mkdirSync(settings.dataDir, { recursive: true });
  // The data dir's free space: pushes are refused under CODEHUB_MIN_FREE; /healthz and /metrics report it.
  const disk = new DiskSpace(settings.dataDir, settings.minFreeBytes);
  const store = new Store(openStartDb(settings.dataDir, disk, log));
  keepReserve(settings.dataDir, disk);
  // Made again once space returns, so the next start on a full disk has it to give back.
  const reserveTimer = setInterval(() => keepReserve(settings.dataDir, disk), 60_000).unref();
  const repos = new RepoStore(settings.dataDir);
  const hook = await installHooks(repos, disk, log);
  // Repo creations a crash or a full disk cut off leave `<repo>.git.tmp-*` folders: never a repo, so removed.
  const leftovers = await repos.removeLeftovers().catch((e: Error) => {
    log.warn('could not remove unfinished repo folders', { err: e.message });
    return 0;
  });
  if (leftovers) log.info('removed unfinished repo folders left by an earlier process', { count: leftovers });
  if (hook === 'node')
    log.warn('the native post-receive hook is not built (no C compiler at install); every push pays Node start-up in the Node hook', {
      fix: 'apt-get install gcc && npm run build',
    });
  const hookKeyFile = join(settings.dataDir, 'secrets', 'hook.key');
  const key = loadOrCreateKey(hookKeyFile);
  const secretsKey = loadOrCreateKey(join(settings.dataDir, 'secrets', 'secrets.key'));
  const secrets = new RepoSecrets(store, secretsKey);
  const logs = new LogStore(join(settings.dataDir, 'logs'), { maxBytes: settings.logMaxBytes });
  const auth = new Authenticator(store, { failuresPerMinute: settings.authFailuresPerMinute });
  const access = new Access(store);
  // Registry token auth: this server signs the registry's tokens; builds get their own short-lived credential.
  const tokens = settings.registryAuth === 'token' ? registryTokens(settings, log) : null;
  const ops = registryOps({ settings, store, repos, logs, log, issuer: tokens?.issuer });
  const registry = ops.client;
  createFirstAdmin(store, log, { maxDays: settings.tokenMaxDays });
  const metrics = new BuildMetrics();

  const drivers =
    opts.drivers ??
    parseBuilders(settings.builders, settings.maxBuilds).map((spec) => ({
      driver: driverFor(spec, {
        contextTransfer: settings.contextTransfer,
        checkoutsDir: join(settings.dataDir, 'checkouts'),
        cacheMaxBytes: settings.builderCacheMaxBytes,
        pruneIdleMs: settings.pruneIdleMs,
        pullBases: settings.basePull === 'always',
      }),
      capacity: spec.capacity,
    }));
  const notes = new NoteWriter(repos, (repo, commit) => store.builds.list({ repo, commit, limit: 50 }), settings.publicUrl, log);
  // Uploaded folders (`codehub-build build`): manifests in the database, files per owner under the data dir.
  const uploadStore = new UploadStore(store.db);
  const blobs = new BlobStore(join(settings.dataDir, 'uploads', 'blobs'));
  const held = new HeldSecrets();
  // Repos linked to a forge (issue 17): its webhooks build them here, their results go back as commit statuses.
  const forgeStore = new ForgeStore(store.db);
  const links = new UpstreamLinks({
    store,
    forges: forgeStore,
    repos,
    key: secretsKey,
    publicUrl: settings.publicUrl,
    log,
    ...(settings.upstreamHosts.length ? { urlOptions: { allowHosts: (h: string) => hostAllowed(settings.upstreamHosts, h) } } : {}),
  });
  const statuses = new StatusReporter({
    forges: forgeStore,
    links,
    log,
    publicUrl: settings.publicUrl,
    commitOf: async (owner, name, sha) => (await commitOf(repos.path(owner, name), sha)) ?? sha,
    ...(settings.upstreamHosts.length ? { allowHost: (h: string) => hostAllowed(settings.upstreamHosts, h) } : {}),
  });
  // A commit's note lists its builds; an upload's manifest and secrets go once its build ended (its files stay, for the next build of the folder).
  const onEnded = (b: Build) => {
    if (isPush(b)) {
      void notes.record(b);
      statuses.ended(b);
    } else {
      held.drop(b.id);
      if (b.uploadId) uploadStore.remove(b.uploadId);
    }
  };
  let runner: Runner | undefined;
  const pool = new BuilderPool(drivers, log, () => runner?.notify(), settings.healthIntervalMs);
  const gate = new RegistryGate(ops.client, log, () => runner?.notify(), settings.healthIntervalMs);
  runner = new Runner({
    store,
    repos,
    logs,
    pool,
    secrets,
    tagger: registry,
    manifests: registry,
    log,
    metrics,
    publicUrl: settings.publicUrl,
    registryCache: settings.registryCache === 'on',
    insight: { registry, key: loadOrCreateKey(join(settings.dataDir, 'secrets', 'insight.key')) },
    ...(settings.scan === 'on' ? { scan: { scanReader: (repositories: readonly string[]) => ops.reader(repositories), scanFailOn: settings.scanFailOn } } : {}),
    ...(tokens
      ? {
          registryCredentials: {
            server: settings.registry,
            issue: (id, repos, ttl) => tokens.builds.issue(id, repos, ttl),
            revoke: (u) => tokens.builds.revoke(u),
          },
        }
      : {}),
    instance: createHash('sha256').update(settings.dataDir).digest('hex').slice(0, 16),
    maxBuilds: settings.maxBuilds,
    defaultTimeoutMs: settings.buildTimeoutMs,
    retry: { maxAttempts: settings.maxAttempts, baseMs: settings.retryBaseMs },
    onEnded,
    registryGate: gate,
    onPushed: (b, digest, refs) => ops.inventory.recordPush(b, digest, refs),
    onCacheExported: (repository) =>
      ops.inventory.syncRepository(repository).then(
        () => {},
        (e: Error) => log.warn('could not read the build cache a build exported; the next reconcile will', { repository, err: e }),
      ),
    uploads: { store: uploadStore, blobs },
    held,
  });
  const heads = new HeadStore(store.db);
  const builds = new BuildService({
    store,
    heads,
    repos,
    logs,
    runner,
    log,
    registry: settings.registry,
    publicUrl: settings.publicUrl,
    onEnded,
    maxQueuedPerOwner: settings.maxQueuedPerOwner,
    refLog: ops.inventoryStore,
    quota: ops.quotas,
    retentionGraceMs: settings.retentionGraceMs,
    onRecorded: (b) => statuses.queued(b),
  });
  const urlOptions = settings.upstreamHosts.length ? { allowHosts: (h: string) => hostAllowed(settings.upstreamHosts, h) } : undefined;
  const webhooks = new WebhookService({
    links,
    forges: forgeStore,
    repos,
    log,
    push: (p) => builds.push(p),
    ...(urlOptions ? { urlOptions } : {}),
    defaultBranch: async (owner, name, branch) => {
      const repo = store.repos.ensure(owner, name);
      if (repo.defaultBranch === null && store.repos.setDefaultBranch(repo.id, branch) === branch) await repos.setHead(owner, name, branch);
    },
  });
  const statusesOf = (ids: number[]) => forgeStore.statusesOf(ids);
  const uploads = new UploadService({
    store,
    uploads: uploadStore,
    blobs,
    logs,
    held,
    runner,
    quota: ops.quotas,
    log,
    registry: settings.registry,
    onEnded,
    maxQueuedPerOwner: settings.maxQueuedPerOwner,
    maxBytes: settings.maxUploadBytes,
    cacheBytes: settings.uploadCacheBytes,
  });
  const usage = new UsageService(ops.inventoryStore, ops.quotas, settings.registry);
  // Pushes git accepted whose report never got through (a full disk, a crash) are recorded from the repos themselves.
  const latePushes = new LatePushes({ store, heads, repos, log, push: (p) => builds.push(p), intervalMs: settings.latePushIntervalMs });
  const maintenance = new Maintenance({
    inventory: ops.inventory,
    gc: ops.gc,
    log,
    namespaces: () => store.accounts.namespaces(),
    intervalMs: settings.gcIntervalMs,
    audit: new AuditLog(store),
  });
  const webSession = new WebSession(loadOrCreateKey(join(settings.dataDir, 'secrets', 'web.key')), settings.publicUrl.startsWith('https:'));
  // Single sign-on (CODEHUB_OIDC_*): the provider is discovered at the first sign-in, so the server starts while it is down.
  const sso = settings.oidc ? new SingleSignOn(settings.oidc, `${settings.publicUrl}/auth/callback`, log) : null;
  const app = createApp({
    log,
    git: gitRoutes({
      repos,
      auth,
      access,
      log,
      maxPushBytes: settings.maxPushBytes,
      hookUrl: `http://${loopbackHost(settings.host)}:${settings.port}/hooks/post-receive`,
      hookKeyFile,
      disk,
    }),
    hooks: hookRoutes({
      key,
      log,
      onPush: (push) => builds.push(push),
      wait: (list, write, signal) => streamBuilds({ logs, store, publicUrl: settings.publicUrl, builds: list, write, signal }),
    }).route('/', forgeHookRoutes({ webhooks, publicUrl: settings.publicUrl, statusesOf })),
    api: apiRoutes({
      store,
      access,
      tokenMaxDays: settings.tokenMaxDays,
      builds,
      uploads,
      secrets,
      logs,
      auth,
      publicUrl: settings.publicUrl,
      usage,
      gc: ops.gc,
      retention: { keep: settings.retentionKeep, days: settings.retentionDays },
      links,
      statusesOf,
      dataDir: settings.dataDir,
      registry: settings.registry,
    }),
    health: healthRoutes({ store, pool, registry, metrics, gate, disk, vulndbMaxAgeMs: settings.vulndbMaxAgeMs }),
    downloads: downloadRoutes(),
    web: webRoutes({
      store,
      access,
      builds,
      logs,
      auth,
      publicUrl: settings.publicUrl,
      usage,
      statusOf: (id) => forgeStore.status(id),
      vulndbMaxAgeMs: settings.vulndbMaxAgeMs,
      session: webSession,
      tokenMaxDays: settings.tokenMaxDays,
      ...(sso ? { sso: { providerName: sso.providerName } } : {}),
    }).route('/auth', ssoRoutes({ sso, store, session: webSession, secure: settings.publicUrl.startsWith('https:') })),
    errorPage,
    ...(tokens
      ? {
          registryToken: registryTokenRoutes({
            issuer: tokens.issuer,
            builds: tokens.builds,
            auth,
            access,
            store,
            log,
            pushRefusal: (owner) => ops.quotas.pushRefusal(owner),
          }),
        }
      : {}),
  });

  let draining = false;
  const server: ServerType = await new Promise((resolve, reject) => {
    // Request headers are capped at 16 KiB (431 beyond); bodies per route (hooks 1 MB, secrets 64 KiB, pushes CODEHUB_MAX_PUSH_BYTES).
    // No limit on a whole request's time (Node's default is 5 minutes): a large push or an uploaded file on a slow
    // link takes longer; headers must still arrive within headersTimeout (60 s), and an idle socket is closed.
    const s = serve(
      {
        fetch: (req, env) => (draining && !servedWhileDraining(req) ? stopping() : app.fetch(req, env)),
        port: settings.port,
        hostname: settings.host,
        serverOptions: { maxHeaderSize: 16 * 1024, requestTimeout: 0 },
      },
      () => resolve(s),
    );
    s.once('error', reject);
  });
  pool.start();
  gate.start();
  await runner.start();
  latePushes.start();
  statuses.start();
  maintenance.start();
  log.info('listening', {
    url: settings.publicUrl,
    port: settings.port,
    dataDir: settings.dataDir,
    registry: settings.registry,
    builders: pool.status().map((b) => b.name),
  });

  return {
    url: settings.publicUrl,
    app,
    async close() {
      // Stop taking pushes and work first; running builds get the grace period, then run again at next start.
      // The server keeps listening meanwhile: it is its registry's token realm, and a running build's push
      // asks it for a token (a closed port would leave that push retrying until the grace period ends).
      draining = true;
      await Promise.all([maintenance.stop(), latePushes.stop()]);
      // Webhook deliveries taken before the drain finish their fetch and record their builds (queued, run at the next start).
      await Promise.all([
        Promise.race([webhooks.idle(), new Promise((r) => setTimeout(r, settings.shutdownGraceMs).unref())]),
        runner!.stop(settings.shutdownGraceMs),
      ]);
      // Statuses still owed (builds that ended just now included) are sent after the next start.
      await statuses.stop();
      clearInterval(reserveTimer);
      pool.stop();
      gate.stop();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      (server as HttpServer).closeAllConnections();
      await closed;
      store.db.$client.close();
    },
  };
}

/**
 * What a stopping server still answers: reads, registry tokens (for the pushes of builds still running) and
 * the post-receive reports of pushes git already accepted. Anything else would start work it cannot finish:
 * a forge's webhook gets 503, which its delivery log shows, to redeliver.
 */
function servedWhileDraining(req: Request): boolean {
  const path = new URL(req.url).pathname;
  return req.method === 'GET' || req.method === 'HEAD' || path === '/registry/token' || path === '/hooks/post-receive';
}

const stopping = (): Response =>
  new Response('codehub-build is stopping (running builds are finishing); try again in a moment\n', {
    status: 503,
    headers: { 'content-type': 'text/plain; charset=utf-8', 'retry-after': '5' },
  });

/** The hook runs on this machine, so it reaches the server on loopback unless the server binds elsewhere. */
function loopbackHost(host: string): string {
  if (host === '0.0.0.0' || host === '::' || host === '') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}
