import { index, integer, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';
import { NOW } from './sql.js';

// Users and their tokens, repos with their members and secrets: the tables the others hang from (by repo_id),
// apart from schema.ts only to keep each file short. schema.ts exports them too, so drizzle-kit and every
// import see one schema.

export const users = sqliteTable('users', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  name: text('name').notNull().unique(),
  createdAt: text('created_at').notNull().default(NOW),
  /** Registry bytes this user's namespace may hold: null is CODEHUB_QUOTA, NO_QUOTA (-1) is none. */
  quotaBytes: integer('quota_bytes'),
  /**
   * Who signed in as this user through the OpenID Connect provider: `<issuer> <sub>`; null for a user made by
   * `user add` or the admin API until their first sign-in (src/auth/sso.ts links the name once, then by subject).
   */
  ssoSubject: text('sso_subject').unique(),
});

/** `users.quota_bytes` of a user with no quota at all (`user quota <name> none`). */
export const NO_QUOTA = -1;

/** Only the SHA-256 of a token is stored; tokens carry 256 bits of entropy, so a slow hash buys nothing. */
export const tokens = sqliteTable('tokens', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  userId: integer('user_id')
    .notNull()
    .references(() => users.id, { onDelete: 'cascade' }),
  hash: text('hash').notNull().unique(),
  label: text('label').notNull().default('default'),
  /** Comma-separated: read (clone, fetch, the read API), push (push, cancel, rebuild, secrets, sharing), admin (every repo). */
  scopes: text('scopes').notNull().default('read,push'),
  createdAt: text('created_at').notNull().default(NOW),
  lastUsedAt: text('last_used_at'),
  /** When the token stops working (ISO 8601); null for a token that never expires. */
  expiresAt: text('expires_at'),
});

/**
 * Deployment credentials: each pulls one repo's images from the registry and does nothing else (no git, no API),
 * so it lives apart from user tokens and no lookup of a user token can ever find it. Docker logs in with the
 * user name `pull-<id>` and the token; only the token's SHA-256 is stored.
 */
export const pullTokens = sqliteTable('pull_tokens', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  repoId: integer('repo_id')
    .notNull()
    .references(() => repos.id, { onDelete: 'cascade' }),
  hash: text('hash').notNull().unique(),
  label: text('label').notNull(),
  /** The user who made it (its repo's owner, or an admin), by name: the token outlives nothing it names. */
  createdBy: text('created_by').notNull(),
  createdAt: text('created_at').notNull().default(NOW),
  lastUsedAt: text('last_used_at'),
  expiresAt: text('expires_at'),
});

/**
 * Web sign-in sessions of single sign-on: the browser's cookie holds a random id, the row its SHA-256. Signing
 * out deletes the row; `scopes` are fixed at sign-in (admin while the provider named the admin group then).
 */
export const sessions = sqliteTable(
  'sessions',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    hash: text('hash').notNull().unique(),
    userId: integer('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    scopes: text('scopes').notNull(),
    createdAt: text('created_at').notNull().default(NOW),
    expiresAt: text('expires_at').notNull(),
    lastSeenAt: text('last_seen_at'),
  },
  (t) => [index('sessions_user').on(t.userId)],
);

/**
 * The audit log: who did what to which target, when and from where. Append-only: the migration's triggers refuse
 * UPDATE and DELETE, so no retention, gc or bug can rewrite it. `actor` is a user name, `cli` (the server's own
 * command line) or `system` (the server on its own: retention, gc); `detail` is JSON of names and numbers, never
 * a secret's value or a token.
 */
export const auditEvents = sqliteTable(
  'audit_events',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    at: text('at').notNull().default(NOW),
    actor: text('actor').notNull(),
    /** How the actor was signed in: `token`, `session`, `cli` or `system`. */
    actorKind: text('actor_kind').notNull(),
    /** The token or session id the actor used; null for cli and system. */
    actorTokenId: integer('actor_token_id'),
    action: text('action').notNull(),
    /** `owner/name` of the repo the event concerns, so an owner sees their repos' events; null for server-wide ones. */
    repo: text('repo'),
    target: text('target').notNull(),
    detail: text('detail'),
    address: text('address'),
  },
  (t) => [index('audit_events_repo').on(t.repo, t.id), index('audit_events_actor').on(t.actor, t.id), index('audit_events_action').on(t.action, t.id)],
);

export const repos = sqliteTable(
  'repos',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    owner: text('owner').notNull(),
    name: text('name').notNull(),
    defaultBranch: text('default_branch'),
    createdAt: text('created_at').notNull().default(NOW),
    /** The owner made the repo's status badges readable without a token (`repo badge <owner/repo> public`). */
    publicBadge: integer('public_badge', { mode: 'boolean' }).notNull().default(false),
    /** The owner's retention override (`repo retention`): sha tags kept per branch and days kept; null is the server's default. */
    retentionKeep: integer('retention_keep'),
    retentionDays: integer('retention_days'),
    /**
     * Whether the repo's branch and tag heads are in recorded_heads. Repos made before that table are not, once:
     * their heads are taken as they are (recorded, nothing built) rather than built again.
     */
    headsTracked: integer('heads_tracked', { mode: 'boolean' }).notNull().default(true),
  },
  (t) => [uniqueIndex('repos_owner_name').on(t.owner, t.name)],
);

/**
 * A repo's build secrets, encrypted (AES-256-GCM under the key in `<data>/secrets/secrets.key`, bound to repo
 * and name): `value` is `v1:` + base64 of IV, tag and ciphertext. Plaintext is never stored.
 */
export const secrets = sqliteTable(
  'secrets',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    repoId: integer('repo_id')
      .notNull()
      .references(() => repos.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    value: text('value').notNull(),
    createdAt: text('created_at').notNull().default(NOW),
    updatedAt: text('updated_at').notNull().default(NOW),
  },
  (t) => [uniqueIndex('secrets_repo_name').on(t.repoId, t.name)],
);

/** Users a repo is shared with, and how far: read (clone, builds, logs) or write (also push, cancel, rebuild). */
export const repoMembers = sqliteTable(
  'repo_members',
  {
    repoId: integer('repo_id')
      .notNull()
      .references(() => repos.id, { onDelete: 'cascade' }),
    userId: integer('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    role: text('role', { enum: ['read', 'write'] }).notNull(),
    createdAt: text('created_at').notNull().default(NOW),
  },
  (t) => [uniqueIndex('repo_members_repo_user').on(t.repoId, t.userId), index('repo_members_user').on(t.userId)],
);

export type User = typeof users.$inferSelect;
export type AuditEvent = typeof auditEvents.$inferSelect;
export type Repo = typeof repos.$inferSelect;
