import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { RETENTION_MAX_DAYS, RETENTION_MAX_KEEP } from './limits.js';
import { parseDuration, parseSize, type Parsed } from './units.js';

/** Server settings, from the environment (DESIGN.md "Configuration") with the embedded defaults. */
export interface Settings {
  port: number;
  host: string;
  dataDir: string;
  /** host[:port] of the Registry v2 the images are pushed to. */
  registry: string;
  /** `token` (the default): the registry uses this server's token auth (GET /registry/token); `none`: it is open. */
  registryAuth: 'none' | 'token';
  /**
   * How builds send their context: `session` (only what changed since the builder's kept snapshot: the Engine API
   * drivers serve it from git through a BuildKit session of the server's own, buildx and buildctl from a work tree
   * kept per repo) or `tar` (the commit's archive, whole, every build).
   */
  contextTransfer: 'tar' | 'session';
  /**
   * `on` (the default): builds export their BuildKit cache to the registry and import the branch's, then the
   * default branch's, so a builder that never built the repo and a branch's first build start warm; `off`: the
   * cache stays in each builder.
   */
  registryCache: 'on' | 'off';
  /**
   * CODEHUB_BASE_PULL: `always` resolves every FROM against its registry at each build on dockerd too (as a standalone
   * BuildKit does), so a base re-pushed under its tag is built on, and insight names it; `missing` (default, as
   * `docker build`): dockerd builds on the base it has, pulling only one it lacks.
   */
  basePull: 'missing' | 'always';
  /** Past this age (CODEHUB_VULNDB_MAX_AGE, default 7d) of the last import, /healthz warns that the vulnerability data is stale. */
  vulndbMaxAgeMs: number;
  /** `on` (the default): every pushed image is inventoried and matched before its build ends; `off`: nothing is (CODEHUB_SCAN). */
  scan: 'on' | 'off';
  /** The vulnerability policy of an image whose codehub-build.yaml sets no `scan.fail_on` (CODEHUB_SCAN_FAIL_ON). */
  scanFailOn: 'critical' | 'high' | 'medium' | 'low' | 'none';
  /**
   * The longest a token may live, in days (CODEHUB_TOKEN_MAX_DAYS); tokens made without an expiry get it. Null
   * (unset, the default): tokens may live forever.
   */
  tokenMaxDays: number | null;
  /** Bytes of build cache BuildKit may keep on each dockerd builder, trimmed when it is idle; 0: no limit. */
  builderCacheMaxBytes: number;
  /** Bytes one uploaded folder (`codehub-build build`) may hold, after its .dockerignore. */
  maxUploadBytes: number;
  /** Bytes of uploaded files kept per user for later builds of the same folders, least recently used trimmed first. */
  uploadCacheBytes: number;
  /** The `service` the registry names in its token requests (its auth.token.service). */
  registryService: string;
  /** Base URL people and the post-receive hook use to reach this server. */
  publicUrl: string;
  /** buildx builder names or tcp:// buildkitd addresses; empty means the local docker driver. */
  builders: string[];
  maxBuilds: number;
  /** Default per-build timeout in ms when the config sets none. */
  buildTimeoutMs: number;
  /** Attempts per build (infrastructure errors and server crashes), and the first retry's back-off. */
  maxAttempts: number;
  retryBaseMs: number;
  /** How long SIGTERM waits for running builds before stopping them (they run again at the next start). */
  shutdownGraceMs: number;
  healthIntervalMs: number;
  /** Bytes one build's log may hold before later output is dropped (with a notice). */
  logMaxBytes: number;
  /**
   * Free bytes the data dir's file system keeps: below it pushes are refused up front (an accepted push must
   * end with its builds) and /healthz says degraded; 0 turns the check off.
   */
  minFreeBytes: number;
  /** How long a builder is idle before the image tags (and images they left untagged) its builds left in dockerd are removed. */
  pruneIdleMs: number;
  /** How often every repo's branches and tags are checked for pushes git accepted but nothing recorded; 0: only at start. */
  latePushIntervalMs: number;
  /** Failed sign-ins one address may make per minute before it gets 429. */
  authFailuresPerMinute: number;
  /** Bytes one git push may send (the receive-pack request body). */
  maxPushBytes: number;
  /** Builds one owner may have queued; a push's builds beyond it are recorded as skipped, saying why. */
  maxQueuedPerOwner: number;
  /** Registry bytes each owner may hold unless their user has a quota of their own; 0 is none. */
  quotaBytes: number;
  /** How often the server reconciles usage, applies retention and expires logs; 0 never (gc by hand). */
  gcIntervalMs: number;
  /** Retention's defaults: builds per branch whose tags stay, days tags stay, and how long a deleted branch's stay. */
  retentionKeep: number;
  retentionDays: number;
  retentionGraceMs: number;
  /** Days a build's log is kept (the newest build of each branch and image keeps it whatever its age). */
  logRetentionDays: number;
  /**
   * Hosts upstream links may name (`git.corp.example`, `*.corp.example`); empty allows every host, private and
   * loopback ones included, as on-premises forges are.
   */
  upstreamHosts: string[];
  /** Single sign-on with the site's OpenID Connect provider (CODEHUB_OIDC_*), or null when CODEHUB_OIDC_ISSUER is unset. */
  oidc: OidcSettings | null;
}

export class SettingsError extends Error {}

function int(env: NodeJS.ProcessEnv, key: string, dflt: number, min: number, max: number): number {
  const raw = env[key];
  if (raw === undefined || raw === '') return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new SettingsError(`${key}=${JSON.stringify(raw)} is not a whole number from ${min} to ${max}`);
  }
  return n;
}

export function loadSettings(env: NodeJS.ProcessEnv = process.env): Settings {
  const port = int(env, 'CODEHUB_PORT', 8080, 0, 65535);
  const host = env.CODEHUB_HOST || '0.0.0.0';
  const publicUrl = (env.CODEHUB_PUBLIC_URL || `http://${host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host}:${port}`).replace(/\/+$/, '');
  try {
    new URL(publicUrl);
  } catch {
    throw new SettingsError(`CODEHUB_PUBLIC_URL=${JSON.stringify(publicUrl)} is not a URL (e.g. http://build:8080)`);
  }
  return {
    port,
    host,
    dataDir: resolve(env.CODEHUB_DATA_DIR || './data'),
    registry: env.CODEHUB_REGISTRY || 'localhost:5000',
    registryAuth: oneOf(env, 'CODEHUB_REGISTRY_AUTH', ['none', 'token'] as const, 'token'),
    contextTransfer: oneOf(env, 'CODEHUB_CONTEXT_TRANSFER', ['tar', 'session'] as const, 'session'),
    registryCache: oneOf(env, 'CODEHUB_REGISTRY_CACHE', ['on', 'off'] as const, 'on'),
    basePull: oneOf(env, 'CODEHUB_BASE_PULL', ['missing', 'always'] as const, 'missing'),
    vulndbMaxAgeMs: parsed(env, 'CODEHUB_VULNDB_MAX_AGE', '7d', (v) => parseDuration(v, 365 * 86_400_000)),
    scan: oneOf(env, 'CODEHUB_SCAN', ['on', 'off'] as const, 'on'),
    scanFailOn: oneOf(env, 'CODEHUB_SCAN_FAIL_ON', ['critical', 'high', 'medium', 'low', 'none'] as const, 'none'),
    tokenMaxDays: env.CODEHUB_TOKEN_MAX_DAYS ? int(env, 'CODEHUB_TOKEN_MAX_DAYS', 0, 1, 36500) : null,
    builderCacheMaxBytes: parsed(env, 'CODEHUB_BUILDER_CACHE_MAX', '20GiB', (v) =>
      v.trim() === '0' || v.trim() === 'none' ? { ok: true, value: 0 } : parseSize(v),
    ),
    maxUploadBytes: parsed(env, 'CODEHUB_MAX_UPLOAD_BYTES', '2GiB', parseSize),
    uploadCacheBytes: parsed(env, 'CODEHUB_UPLOAD_CACHE', '5GiB', parseSize),
    registryService: env.CODEHUB_REGISTRY_SERVICE || 'codehub-build-registry',
    publicUrl,
    builders: (env.CODEHUB_BUILDERS || '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    maxBuilds: int(env, 'CODEHUB_MAX_BUILDS', 2, 1, 256),
    buildTimeoutMs: int(env, 'CODEHUB_BUILD_TIMEOUT', 3600, 1, 7 * 24 * 3600) * 1000,
    maxAttempts: int(env, 'CODEHUB_MAX_ATTEMPTS', 3, 1, 20),
    retryBaseMs: int(env, 'CODEHUB_RETRY_BASE_MS', 5000, 1, 600_000),
    shutdownGraceMs: int(env, 'CODEHUB_SHUTDOWN_GRACE', 30, 0, 3600) * 1000,
    healthIntervalMs: int(env, 'CODEHUB_HEALTH_INTERVAL_MS', 5000, 100, 600_000),
    logMaxBytes: int(env, 'CODEHUB_LOG_MAX_BYTES', 20 * 1024 * 1024, 4096, 1024 * 1024 * 1024),
    pruneIdleMs: int(env, 'CODEHUB_PRUNE_IDLE_MS', 30_000, 0, 86_400_000),
    latePushIntervalMs: int(env, 'CODEHUB_LATE_PUSH_INTERVAL_MS', 30_000, 0, 86_400_000),
    minFreeBytes: parsed(env, 'CODEHUB_MIN_FREE', '256MiB', (v) => (v.trim() === '0' || v.trim() === 'none' ? { ok: true, value: 0 } : parseSize(v))),
    authFailuresPerMinute: int(env, 'CODEHUB_AUTH_FAILURES_PER_MIN', 30, 1, 100_000),
    maxPushBytes: int(env, 'CODEHUB_MAX_PUSH_BYTES', 512 * 1024 * 1024, 1024, 64 * 1024 * 1024 * 1024),
    maxQueuedPerOwner: int(env, 'CODEHUB_MAX_QUEUED_PER_OWNER', 100, 1, 1_000_000),
    quotaBytes: parsed(env, 'CODEHUB_QUOTA', '10GiB', (v) => (v.trim() === '0' || v.trim() === 'none' ? { ok: true, value: 0 } : parseSize(v))),
    gcIntervalMs: parsed(env, 'CODEHUB_GC_INTERVAL', '1h', (v) => parseDuration(v, 30 * 86_400_000)),
    retentionKeep: int(env, 'CODEHUB_RETENTION_KEEP', 10, 0, RETENTION_MAX_KEEP),
    retentionDays: int(env, 'CODEHUB_RETENTION_DAYS', 30, 0, RETENTION_MAX_DAYS),
    retentionGraceMs: parsed(env, 'CODEHUB_RETENTION_GRACE', '24h', (v) => parseDuration(v, RETENTION_MAX_DAYS * 86_400_000)),
    logRetentionDays: int(env, 'CODEHUB_LOG_RETENTION_DAYS', 90, 0, RETENTION_MAX_DAYS),
    upstreamHosts: hostPatterns(env, 'CODEHUB_UPSTREAM_HOSTS'),
    oidc: oidcSettings(env),
  };
}

/** A comma-separated list of host names, each exact or `*.` and a domain; lower-cased. */
function hostPatterns(env: NodeJS.ProcessEnv, key: string): string[] {
  const list = (env[key] ?? '')
    .split(',')
    .map((h) => h.trim().toLowerCase())
    .filter(Boolean);
  for (const h of list) {
    if (!/^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(h) && isIP(h.replace(/^\[(.*)\]$/, '$1')) === 0) {
      throw new SettingsError(`${key}: ${JSON.stringify(h)} is not a host name, an address or *.domain`);
    }
  }
  return list;
}

/** Whether `host` is one of `patterns` (hostPatterns): equal, or under the domain of a `*.` pattern. */
export function hostAllowed(patterns: readonly string[], host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return patterns.some((p) => (p.startsWith('*.') ? h.endsWith(p.slice(1)) : h === p.replace(/^\[|\]$/g, '')));
}

/** Bounds of a retention policy, for the settings and for a repo's override alike. */

/** A setting read with `parse` (a size, a duration), its default when unset; a bad value names the variable. */
function parsed(env: NodeJS.ProcessEnv, key: string, dflt: string, parse: (v: string) => Parsed<number>): number {
  const raw = env[key];
  const r = parse(raw === undefined || raw === '' ? dflt : raw);
  if (!r.ok) throw new SettingsError(`${key}: ${r.problem}`);
  return r.value;
}

function oneOf<T extends string>(env: NodeJS.ProcessEnv, name: string, allowed: readonly T[], fallback: T): T {
  const v = env[name];
  if (v === undefined || v === '') return fallback;
  if (!(allowed as readonly string[]).includes(v)) throw new SettingsError(`${name}=${JSON.stringify(v)}: expected one of ${allowed.join(', ')}`);
  return v as T;
}

/** Single sign-on (DESIGN.md "Identity and access"): where the provider is, who this server is to it, and how people map to users. */
export interface OidcSettings {
  /** The provider's issuer identifier; its discovery document is under `<issuer>/.well-known/openid-configuration`. */
  issuer: string;
  clientId: string;
  /** Sent to the token endpoint only (client_secret_basic); never logged. */
  clientSecret: string;
  /** The ID token (or userinfo) claim that names the user here (default preferred_username). */
  usernameClaim: string;
  /** A member of this group (the `groups` claim) at sign-in gets an admin session; null: no session is an admin's. */
  adminGroup: string | null;
  /** CODEHUB_OIDC_ALLOW_HTTP=true: an http:// issuer is accepted (labs and tests; tokens then cross the network in clear). */
  allowHttp: boolean;
  /** How long a web session lasts (CODEHUB_SESSION_DAYS). */
  sessionDays: number;
}

function oidcSettings(env: NodeJS.ProcessEnv): OidcSettings | null {
  const issuer = (env.CODEHUB_OIDC_ISSUER ?? '').trim();
  const others = ['CODEHUB_OIDC_CLIENT_ID', 'CODEHUB_OIDC_CLIENT_SECRET', 'CODEHUB_OIDC_USERNAME_CLAIM', 'CODEHUB_OIDC_ADMIN_GROUP'].filter((k) => env[k]);
  if (!issuer) {
    if (others.length) throw new SettingsError(`${others.join(', ')} set without CODEHUB_OIDC_ISSUER: set the provider's issuer URL too, or unset them`);
    return null;
  }
  let url: URL;
  try {
    url = new URL(issuer);
  } catch {
    throw new SettingsError(`CODEHUB_OIDC_ISSUER=${JSON.stringify(issuer)} is not a URL (e.g. https://sso.corp.example/realms/dev)`);
  }
  const allowHttp = oneOf(env, 'CODEHUB_OIDC_ALLOW_HTTP', ['true', 'false'] as const, 'false') === 'true';
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && allowHttp)) {
    throw new SettingsError(
      url.protocol === 'http:'
        ? `CODEHUB_OIDC_ISSUER=${JSON.stringify(issuer)} is http://: sign-ins would cross the network in clear; use https://, or set CODEHUB_OIDC_ALLOW_HTTP=true for a lab`
        : `CODEHUB_OIDC_ISSUER=${JSON.stringify(issuer)} is not an https:// URL`,
    );
  }
  const clientId = (env.CODEHUB_OIDC_CLIENT_ID ?? '').trim();
  const clientSecret = env.CODEHUB_OIDC_CLIENT_SECRET ?? '';
  const missing = [!clientId && 'CODEHUB_OIDC_CLIENT_ID', !clientSecret && 'CODEHUB_OIDC_CLIENT_SECRET'].filter(Boolean);
  if (missing.length)
    throw new SettingsError(
      `CODEHUB_OIDC_ISSUER is set but ${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} not: the provider's client for this server needs both`,
    );
  const usernameClaim = (env.CODEHUB_OIDC_USERNAME_CLAIM ?? '').trim() || 'preferred_username';
  if (!/^[A-Za-z0-9_.:-]{1,100}$/.test(usernameClaim))
    throw new SettingsError(`CODEHUB_OIDC_USERNAME_CLAIM=${JSON.stringify(usernameClaim)} is not a claim name`);
  return {
    // Exactly as given: discovery checks that the provider names itself the same (`https://x.example/` and without
    // the slash are different issuers), and users' subjects are `<issuer> <sub>`.
    issuer,
    clientId,
    clientSecret,
    usernameClaim,
    adminGroup: (env.CODEHUB_OIDC_ADMIN_GROUP ?? '').trim() || null,
    allowHttp,
    // One day: a session's scopes (admin or not) are settled at sign-in from the groups claim, so leaving the admin
    // group takes effect at the next sign-in; a day bounds that, and a workday's sign-in lasts it.
    sessionDays: int(env, 'CODEHUB_SESSION_DAYS', 1, 1, 90),
  };
}
