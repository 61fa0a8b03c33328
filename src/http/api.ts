import { Hono } from 'hono';
import type { Access } from '../auth/access.js';
import { AuditLog } from '../auth/audit.js';
import type { BuildService } from '../builds/service.js';
import type { UpstreamLinks } from '../forges/links.js';
import type { LogStore } from '../logs/store.js';
import type { GarbageCollector } from '../registry/gc.js';
import type { Policy } from '../registry/retention.js';
import type { UsageService } from '../registry/usage.js';
import type { RepoSecrets } from '../secrets/vault.js';
import type { CommitStatusRow } from '../store/schema.js';
import type { Caller } from '../store/scopes.js';
import type { Store } from '../store/store.js';
import type { UploadService } from '../uploads/service.js';
import { adminRoutes } from './admin.js';
import { auditRoutes } from './audit.js';
import type { Authenticator } from './auth.js';
import { buildRoutes } from './builds.js';
import { upstreamRoutes } from './forges.js';
import { imageRoutes } from './images.js';
import { openApiDocument } from './openapi.js';
import { pullTokenRoutes } from './pull-tokens.js';
import { repoRoutes } from './repos.js';
import { uploadRoutes } from './uploads.js';
import { vulnDbRoutes } from './vulndb.js';
import { scanRoutes } from './scans.js';

export interface ApiDeps {
  store: Store;
  access: Access;
  /** CODEHUB_TOKEN_MAX_DAYS (null or absent: tokens may live forever). */
  tokenMaxDays?: number | null;
  builds: BuildService;
  /** `codehub-build build`'s uploads. */
  uploads: UploadService;
  secrets: RepoSecrets;
  logs: LogStore;
  auth: Authenticator;
  publicUrl: string;
  usage: UsageService;
  /** Removes a tag by hand (the images API). */
  gc: Pick<GarbageCollector, 'removeTag'>;
  /** The server's retention defaults (CODEHUB_RETENTION_KEEP, CODEHUB_RETENTION_DAYS), shown beside an override. */
  retention: Policy;
  /** Links to forges (`/repos/:owner/:repo/upstream`). */
  links: UpstreamLinks;
  /** The commit statuses owed for builds of linked repos, shown on each build. */
  statusesOf: (ids: number[]) => Map<number, CommitStatusRow>;
  /** The data dir, where a vulnerability database upload is written before it is imported. */
  dataDir: string;
  /** The registry (host[:port]) builds push to and pull tokens sign in to. */
  registry: string;
}

type Env = { Variables: { caller: Caller } };

/**
 * The REST API under /api, one route module per resource. Every route but the API's description needs a
 * token; a caller sees the builds of their own repos and of those shared with them (Access decides, as for git).
 */
export function apiRoutes(deps: ApiDeps): Hono<Env> {
  const app = new Hono<Env>();
  // Registered before the sign-in below, which it therefore never reaches: a client reads the description to
  // learn how to sign in before it has a token, and the document says nothing about this server's users or repos.
  const description = openApiDocument(deps.publicUrl);
  app.get('/openapi.json', (c) => c.json(description));
  app.use('*', async (c, next) => {
    c.set('caller', deps.auth.require(c));
    await next();
  });

  // Who the token is: any valid token may ask, whatever its scopes (a workspace checks what it was given).
  app.get('/user', (c) => {
    const { user, scopes } = c.get('caller');
    return c.json({ name: user.name, scopes });
  });

  const { store, access, publicUrl } = deps;
  // Who changed what (issue 27): each route records its own events, after they succeeded.
  const audit = new AuditLog(store);
  // Builds and their logs.
  app.route('/', buildRoutes({ store, access, builds: deps.builds, logs: deps.logs, publicUrl, statusesOf: deps.statusesOf, audit }));
  // A repo's settings, the owner's: secrets, badge, retention, members.
  app.route('/', repoRoutes({ store, access, secrets: deps.secrets, publicUrl, retention: deps.retention, audit }));
  // A repo's pull tokens, the owner's: deployments' registry credentials.
  app.route('/', pullTokenRoutes({ store, access, registry: deps.registry, tokenMaxDays: deps.tokenMaxDays ?? null, audit }));
  // Links to forges, the owner's (issue 17).
  app.route('/', upstreamRoutes({ links: deps.links, access, audit }));
  // Registry usage and tags removed by hand.
  app.route('/', imageRoutes({ store, access, usage: deps.usage, gc: deps.gc, audit }));
  // Builds of uploaded folders (`codehub-build build`).
  app.route('/', uploadRoutes({ uploads: deps.uploads, access, publicUrl }));
  // Users and tokens (admin scope).
  app.route('/', adminRoutes({ store, access, audit, tokenMaxDays: deps.tokenMaxDays ?? null }));
  // The vulnerability database: its sources, and imports (admin scope).
  app.route('/', vulnDbRoutes({ store, access, dataDir: deps.dataDir }));
  // A build's vulnerabilities and SBOM.
  app.route('/', scanRoutes({ store, access }));
  // The audit log: an admin's whole, an owner's repos'.
  app.route('/', auditRoutes({ audit }));

  return app;
}
