import { sql } from 'drizzle-orm';
import { index, integer, primaryKey, sqliteTable, text } from 'drizzle-orm/sqlite-core';
import { repos } from './accounts-schema.js';
import { NOW } from './sql.js';

export {
  auditEvents,
  NO_QUOTA,
  pullTokens,
  repoMembers,
  repos,
  secrets,
  sessions,
  tokens,
  users,
  type AuditEvent,
  type Repo,
  type User,
} from './accounts-schema.js';
export { imageManifests, imageTags, manifestBlobs, registryLocks } from './inventory-schema.js';
export { vulnPackages, vulnRecords, vulnSources } from './vulndb-schema.js';
export { imageInventories, layerInventories } from './layer-inventories-schema.js';
export { imageFindings, imageScans } from './findings-schema.js';

export const BUILD_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'canceled', 'skipped'] as const;
export type BuildStatus = (typeof BUILD_STATUSES)[number];
export const TERMINAL_STATUSES: readonly BuildStatus[] = ['succeeded', 'failed', 'canceled', 'skipped'];

export const BUILD_SOURCES = ['push', 'upload'] as const;
export type BuildSource = (typeof BUILD_SOURCES)[number];

export const builds = sqliteTable(
  'builds',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    /** What was built: a pushed commit, or a workspace folder sent by `codehub-build build` (no commit, no git repo). */
    source: text('source', { enum: BUILD_SOURCES }).notNull().default('push'),
    /** The git repo of a pushed build; null for an upload. */
    repoId: integer('repo_id').references(() => repos.id),
    /**
     * `owner/name`, denormalized so lookups by commit never join: the git repo of a push, the image's registry
     * repository (`<uploader>/<NAME>`) of an upload, so both are read, listed and claimed fairly alike.
     */
    repo: text('repo').notNull(),
    /** The repo's owner, denormalized for fair claiming across owners. */
    owner: text('owner').notNull().default(''),
    /** The pushed ref; these four are null for an upload, which has neither ref nor commit. */
    ref: text('ref'),
    refType: text('ref_type', { enum: ['branch', 'tag'] }),
    refName: text('ref_name'),
    commitSha: text('commit_sha'),
    /** An upload's context: the id of its manifest (table uploads, removed once the build ended), folder name and bytes. */
    uploadId: text('upload_id'),
    uploadFolder: text('upload_folder'),
    contextBytes: integer('context_bytes'),
    image: text('image').notNull(),
    /** The resolved config of this one image (JSON), so a rebuild needs no re-read of the repo. */
    config: text('config', { mode: 'json' }).$type<Record<string, unknown>>(),
    imageRefs: text('image_refs', { mode: 'json' }).notNull().$type<string[]>().default(sql`'[]'`),
    digest: text('digest'),
    status: text('status', { enum: BUILD_STATUSES }).notNull(),
    /** Why the build ended the way it did (failure message, skip reason); null while queued/running and on success. */
    reason: text('reason'),
    /** Coarse class of `reason`: config, user, infrastructure, timeout, canceled, interrupted, skipped. */
    reasonCode: text('reason_code'),
    pusher: text('pusher').notNull(),
    queuedAt: text('queued_at').notNull().default(NOW),
    startedAt: text('started_at'),
    finishedAt: text('finished_at'),
    attempts: integer('attempts').notNull().default(0),
    /** A queued build is not claimed before this time (back-off after an infrastructure error). */
    notBefore: text('not_before'),
    builder: text('builder'),
    /**
     * Who answered at `builder`'s address when the build ran (the driver's `identity`: a buildkitd's worker id, a
     * dockerd's ID and data root); null when not known. A later build there sees from it whether the builder was
     * replaced since, and its cache with it.
     */
    builderIdentity: text('builder_identity'),
    /** BuildKit's steps of the last attempt (name, cached, started, completed, error), as JSON. */
    steps: text('steps', { mode: 'json' }).$type<BuildStep[]>(),
    /**
     * The vulnerability scan of the image the build pushed (src/scan/scan-build.ts's BuildScan, as JSON): its
     * status and counts, and the policy it was judged by; null when no scan ran (nothing pushed, or before scanning).
     */
    scan: text('scan', { mode: 'json' }).$type<Record<string, unknown>>(),
    /**
     * What the build's end made of its steps, context and image (src/insight/types.ts StoredInsight, as JSON): the
     * first step that missed the cache and why, its layers and size against the previous build; null before it ends.
     */
    insight: text('insight', { mode: 'json' }).$type<Record<string, unknown>>(),
    /**
     * A multi-platform image's platforms, each with its own manifest's digest inside the index `digest` names, in
     * the order the config lists them; null for a single-platform image, and while nothing was pushed.
     */
    platforms: text('platforms', { mode: 'json' }).$type<BuildPlatform[]>(),
    /** When log retention removed this build's log file (CODEHUB_LOG_RETENTION_DAYS); null while it is kept. */
    logExpiredAt: text('log_expired_at'),
  },
  (t) => [
    index('builds_commit').on(t.commitSha),
    index('builds_repo_id').on(t.repo, t.id),
    index('builds_status_id').on(t.status, t.id),
    index('builds_line').on(t.repo, t.refName, t.image, t.status),
    index('builds_queue').on(t.status, t.owner, t.id),
    // The reconcile finds the build that pushed a digest it reads from the registry.
    index('builds_digest').on(t.digest),
    // Log retention walks the finished builds whose log is still kept, oldest first.
    index('builds_log_kept').on(t.finishedAt).where(sql`log_expired_at IS NULL`),
  ],
);

/** When a branch or git tag was deleted by a push (or first seen missing by gc): retention's grace starts here. */
export const refDeletions = sqliteTable(
  'ref_deletions',
  {
    repoId: integer('repo_id')
      .notNull()
      .references(() => repos.id, { onDelete: 'cascade' }),
    /** Full ref, e.g. refs/heads/feat. */
    ref: text('ref').notNull(),
    deletedAt: text('deleted_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.repoId, t.ref] })],
);

/**
 * Where each branch and tag of a repo stood when its push was last recorded (with that push's builds, in one
 * transaction). The repo on disk is the truth: a head that differs from its row was accepted by git without
 * being recorded (the hook's request failed: a full disk, a crash), and is recorded as a push late.
 */
export const recordedHeads = sqliteTable(
  'recorded_heads',
  {
    repoId: integer('repo_id')
      .notNull()
      .references(() => repos.id, { onDelete: 'cascade' }),
    /** Full ref, e.g. refs/heads/main. */
    ref: text('ref').notNull(),
    sha: text('sha').notNull(),
    recordedAt: text('recorded_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.repoId, t.ref] })],
);

/**
 * A workspace folder's manifest sent by `codehub-build build` (POST /api/uploads): its entries, whose files the
 * owner's blob store holds by sha256. Kept until its build ends, or a day if no build is asked for.
 */
export const uploads = sqliteTable(
  'uploads',
  {
    id: text('id').primaryKey(),
    owner: text('owner').notNull(),
    /** The folder's name in the workspace (its basename): an image name's default and the builder's cache key. */
    folder: text('folder').notNull(),
    /** The checked entries (JSON array of ManifestEntry, src/uploads/manifest.ts). */
    entries: text('entries').notNull(),
    files: integer('files').notNull(),
    bytes: integer('bytes').notNull(),
    createdAt: text('created_at').notNull().default(NOW),
    /** The build made from it; null until asked for. */
    buildId: integer('build_id'),
  },
  (t) => [index('uploads_owner').on(t.owner), index('uploads_created').on(t.createdAt)],
);

/**
 * A repo linked to a repository on a forge (issue 17, `PUT /api/repos/:owner/:repo/upstream`): the forge's
 * push webhook builds it here, and each build's result goes back as a commit status. Both secrets are sealed
 * like build secrets (src/secrets/vault.ts, bound to the repo and the column's name); neither is returned.
 */
export const upstreams = sqliteTable(
  'upstreams',
  {
    repoId: integer('repo_id')
      .primaryKey()
      .references(() => repos.id, { onDelete: 'cascade' }),
    /** The upstream repository's http(s) URL as given, checked (src/forges/upstream.ts). */
    url: text('url').notNull(),
    /** `host[:port]/path` lower-cased, without `.git`: what a webhook payload's repository URLs are matched on. */
    urlKey: text('url_key').notNull(),
    forge: text('forge', { enum: ['github', 'gitea', 'gitlab'] }).notNull(),
    /** The forge's API base when the owner named one; null derives it from the URL (Forge.apiBase). */
    apiUrl: text('api_url'),
    webhookSecret: text('webhook_secret').notNull(),
    /** Null: no statuses are sent, and only a public upstream can be fetched. */
    statusToken: text('status_token'),
    createdAt: text('created_at').notNull().default(NOW),
    updatedAt: text('updated_at').notNull().default(NOW),
    /** The last push delivery acted on: when, what came of it (queued, deleted, ignored, failed) and why it failed. */
    lastDeliveryAt: text('last_delivery_at'),
    lastDeliveryResult: text('last_delivery_result'),
    lastDeliveryError: text('last_delivery_error'),
  },
  (t) => [index('upstreams_url_key').on(t.urlKey)],
);

/**
 * Webhook deliveries taken, by the forge's delivery id, so a replayed one builds nothing; kept 30 days. A row
 * whose work never finished (the server stopped in the middle) is taken again by the forge's redelivery once
 * it is older than any fetch could be.
 */
export const webhookDeliveries = sqliteTable(
  'webhook_deliveries',
  {
    repoId: integer('repo_id')
      .notNull()
      .references(() => repos.id, { onDelete: 'cascade' }),
    deliveryId: text('delivery_id').notNull(),
    receivedAt: text('received_at').notNull().default(NOW),
    /** When its push was recorded; null while it is being worked on. */
    doneAt: text('done_at'),
  },
  (t) => [primaryKey({ columns: [t.repoId, t.deliveryId] }), index('webhook_deliveries_received').on(t.receivedAt)],
);

export const STATUS_STATES = ['pending', 'success', 'failure', 'error'] as const;

/**
 * The commit status each build of a linked repo owes its forge: the latest state to report, the last one the
 * forge accepted, and the retry state while the forge does not answer. Durable, so a restart resumes sending.
 */
export const commitStatuses = sqliteTable(
  'commit_statuses',
  {
    buildId: integer('build_id')
      .primaryKey()
      .references(() => builds.id, { onDelete: 'cascade' }),
    repoId: integer('repo_id')
      .notNull()
      .references(() => repos.id, { onDelete: 'cascade' }),
    sha: text('sha').notNull(),
    /** The branch or tag (short name) the build was for. */
    ref: text('ref').notNull(),
    /** `codehub-build/<image>`: tells this status apart from other systems' on the same commit. */
    context: text('context').notNull(),
    state: text('state', { enum: STATUS_STATES }).notNull(),
    description: text('description').notNull(),
    /** The state the forge last accepted; equal to `state` once delivered. */
    deliveredState: text('delivered_state', { enum: STATUS_STATES }),
    /** Failed attempts at delivering `state` (reset when a new state is wanted). */
    attempts: integer('attempts').notNull().default(0),
    /** Why the last attempt failed; null after a delivery. */
    error: text('error'),
    /** When to try next; null when nothing is owed (delivered, or given up). */
    nextAttemptAt: text('next_attempt_at'),
    /** Delivery stopped: the forge refused the status for good (401, 404, 422...) or kept failing past the deadline. */
    gaveUp: integer('gave_up', { mode: 'boolean' }).notNull().default(false),
    updatedAt: text('updated_at').notNull().default(NOW),
  },
  (t) => [index('commit_statuses_due').on(t.nextAttemptAt).where(sql`next_attempt_at IS NOT NULL`)],
);

export interface BuildStep {
  n: number;
  name: string;
  cached: boolean;
  started?: string;
  completed?: string;
  error?: string;
}

/**
 * One platform of a multi-platform image (`linux/arm64`) and its manifest's digest inside the index. The same
 * shape as the builder's PlatformImage, kept here because the store sits below the builder.
 */
export interface BuildPlatform {
  platform: string;
  digest: string;
}

export type Build = typeof builds.$inferSelect;
export type NewBuild = typeof builds.$inferInsert;
/** A build of a pushed commit: its repo, ref and commit are set. */
export type PushBuild = Build & { source: 'push'; repoId: number; ref: string; refType: 'branch' | 'tag'; refName: string; commitSha: string };
/** A build of an uploaded folder (`codehub-build build`): no repo, ref or commit; its upload's folder and size. */
export type UploadBuild = Build & { source: 'upload'; uploadId: string; uploadFolder: string; contextBytes: number };

export function isPush(b: Build): b is PushBuild {
  return b.source === 'push';
}
export type Upload = typeof uploads.$inferSelect;
export type UpstreamRow = typeof upstreams.$inferSelect;
export type CommitStatusRow = typeof commitStatuses.$inferSelect;
export type StatusStateName = (typeof STATUS_STATES)[number];
