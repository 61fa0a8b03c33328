/**
 * The JSON the API answers, each shape defined once: src/http/views.ts builds answers of these types, the
 * OpenAPI document is generated from them, the client and the extension read their types from here (as types
 * only: the client bundle carries no zod), and the e2e suite holds every answer it sees to them.
 *
 * Answer objects are strict: a field the server sends but this file does not name fails that check, so a new
 * field is added here (and so to the document) or not at all. Every field is always sent, absent values as null,
 * but those marked optional (a build step's times and error, a webhook answer's fields by result, an error's details).
 */
import { z } from 'zod';
import { AUDIT_ACTIONS } from '../auth/audit-actions.js';
import { SCOPES } from '../store/scopes.js';
import { BUILD_SOURCES, BUILD_STATUSES, STATUS_STATES, upstreams } from '../store/schema.js';

const ISO = 'ISO 8601';
const iso = (description = ISO) => z.string().meta({ description });
const isoOrNull = (description = ISO) => z.string().nullable().meta({ description });
const yes = z.literal(true);
const REPO = z.string().meta({ description: 'owner/name' });

// ---- errors

export const ErrorAnswer = z.strictObject({
  error: z.strictObject({
    code: z.string().meta({
      description: 'a stable machine code',
      examples: ['bad_request', 'unauthorized', 'forbidden', 'not_found', 'conflict', 'ambiguous', 'payload_too_large'],
    }),
    message: z.string().meta({ description: 'a sentence for people, saying what was wrong and, where there is one, the fix' }),
    details: z
      .unknown()
      .optional()
      .meta({ description: 'more, for some errors: e.g. `problems` (every problem with a body) or `candidates` (of an ambiguous prefix)' }),
  }),
});

// ---- builds

export const BuildStep = z.strictObject({
  n: z.int().meta({ description: 'its number' }),
  name: z.string().meta({ description: 'the step as BuildKit names it' }),
  cached: z.boolean(),
  started: iso().optional(),
  completed: iso().optional(),
  error: z.string().optional().meta({ description: 'why it failed' }),
});

export const BuildInsight = z.strictObject({
  steps: z
    .array(
      z.strictObject({
        n: z.int().meta({ description: "the step's number in the build's steps" }),
        name: z.string().meta({ description: 'the step as BuildKit names it' }),
        started_at: isoOrNull('ISO 8601; null when it never started'),
        finished_at: isoOrNull('ISO 8601; null when it never finished'),
        cached: z.boolean().meta({ description: 'taken from the cache, not run' }),
      }),
    )
    .meta({ description: "the Dockerfile steps, in order (BuildKit's own, such as loading the context, and exporting left out)" }),
  cache_miss: z
    .strictObject({
      step: z.string().meta({ description: 'the first step that ran (missed the cache), as BuildKit names it' }),
      number: z.int().nullable().meta({ description: "its number in the Dockerfile's stage (the 4 of `[4/5]`); null when the name has none" }),
      after: z.int().meta({ description: 'how many steps after it ran too' }),
      because: z.strictObject({
        files: z.array(z.string()).meta({ description: 'context files it reads that changed since the last build of this branch and image (at most 50)' }),
        files_total: z.int().meta({ description: 'how many such files changed in all' }),
        build_args: z.array(z.string()).meta({ description: 'build args whose value changed (names only)' }),
        base: z.string().nullable().meta({ description: 'a base image that resolved to a new digest: `ref@sha256:...`' }),
        unknown: z.string().nullable().meta({ description: 'when none of the above is known: why it cannot be said (e.g. a first build)' }),
      }),
      sentence: z.string().meta({
        description:
          'all of it in one sentence, e.g. "step 4 `COPY src/ /src/` ran because 1 file changed: src/a.txt; the 2 steps after it ran because it did"',
      }),
    })
    .nullable()
    .meta({ description: 'why the build did not come from the cache; null when every step was cached' }),
  layers: z
    .array(
      z.strictObject({
        instruction: z.string().meta({ description: 'the Dockerfile instruction that made the layer, from the image config' }),
        bytes: z.int().meta({ description: 'its compressed size in the registry' }),
        bytes_delta: z.int().nullable().meta({ description: 'against the same layer of the previous build; null when it had none' }),
      }),
    )
    .meta({ description: "the image's layers, base first" }),
  image_bytes: z.int().nullable().meta({ description: "the pushed image's size: config and layers, compressed; null when nothing was pushed" }),
  image_bytes_delta: z.int().nullable().meta({ description: 'against the previous build of the same branch (or folder) and image; null when there is none' }),
  previous_build: z.int().nullable().meta({ description: 'the build compared with' }),
});

export const ForgeStatus = z
  .strictObject({
    context: z.string().meta({ description: 'codehub-build/<image>' }),
    state: z.enum(STATUS_STATES).meta({ description: 'the latest state to report' }),
    description: z.string().meta({ description: 'the text sent with it' }),
    delivered: z.boolean().meta({ description: 'the forge accepted `state`' }),
    delivered_state: z.enum(STATUS_STATES).nullable().meta({ description: 'the last state the forge accepted' }),
    attempts: z.int().meta({ description: 'failed attempts at sending `state`' }),
    error: z.string().nullable().meta({ description: 'why the last attempt failed' }),
    next_attempt_at: isoOrNull('ISO 8601: when it is tried again; null when nothing is owed'),
    gave_up: z.boolean().meta({ description: 'not sent and not tried again: the forge refused it for good (the error names the fix) or stayed down a day' }),
    updated_at: iso('ISO 8601: when `state` was wanted'),
  })
  .meta({ description: 'the commit status a build owes its forge, and how delivering it went' });

// `none`: a CVSS score of 0.0 (counted with low in `counts`, which has no bucket for it).
const SEVERITY = z.enum(['critical', 'high', 'medium', 'low', 'none', 'unknown']);
const FAIL_ON = z.enum(['critical', 'high', 'medium', 'low', 'none']);

export const ScanCounts = z
  .strictObject({ critical: z.int(), high: z.int(), medium: z.int(), low: z.int(), unknown: z.int() })
  .meta({ description: 'findings by severity, allowed ones included' });

export const BuildScan = z
  .strictObject({
    status: z.enum(['passed', 'failed', 'error', 'skipped']).meta({
      description:
        'passed: nothing blocks; failed: a finding blocks (the image keeps only its commit tags); error: not scanned (see reason); skipped: nothing to scan',
    }),
    reason: z.string().nullable().meta({ description: 'why error or skipped, or what blocked; null when passed' }),
    counts: ScanCounts,
    fixable: z.int().meta({ description: 'findings with a fixed version' }),
    db_imported_at: isoOrNull('when the vulnerability database last took an import; null when it is empty'),
    fail_on: FAIL_ON.meta({ description: "the policy's threshold (codehub-build.yaml's scan.fail_on, else CODEHUB_SCAN_FAIL_ON)" }),
    blocking: z.array(z.string()).meta({
      description:
        "one sentence per blocking finding: id, package, installed and fixed versions, severity; led by the platform's name for a multi-platform image",
    }),
    expired: z
      .array(z.strictObject({ id: z.string(), until: z.string(), reason: z.string() }))
      .meta({ description: 'allowances past their `until` that would have allowed a finding: they allow nothing' }),
    packages: z.int().meta({ description: "packages in the inventory (every platform image's, summed)" }),
    platforms: z.array(z.string()).meta({
      description: "the platform images scanned, in the index's order (one for a single-platform image); empty for a scan made before platforms were recorded",
    }),
  })
  .meta({ description: 'the vulnerability scan of the pushed image' });

export const Finding = z.strictObject({
  id: z.string().meta({ description: 'the advisory id, e.g. GHSA-35jh-r3h4-6jhm or DSA-5770-1' }),
  aliases: z.array(z.string()).meta({ description: 'other ids of the same vulnerability (CVE, GHSA, DSA)' }),
  package: z.string().meta({ description: 'the package as advisories name it (for Debian and Alpine, the source package)' }),
  ecosystem: z.string().meta({ description: 'the OSV ecosystem, e.g. npm or Debian:12' }),
  version: z.string().meta({ description: 'the installed version' }),
  fixed: z.array(z.string()).meta({ description: 'versions that fix it, lowest first; empty when none is known' }),
  severity: SEVERITY,
  score: z.number().nullable().meta({ description: 'the CVSS score, when the record has a vector' }),
  summary: z.string().nullable(),
  layer: z.string().meta({ description: 'the digest of the layer that brought the package' }),
  platform: z.string().meta({ description: 'the platform image it is in (linux/arm64); a package in two platforms is two findings' }),
  installed: z
    .array(z.strictObject({ name: z.string(), version: z.string(), path: z.string(), purl: z.string() }))
    .meta({ description: 'the installed packages it is about (several binary packages of one Debian source)' }),
  allowed: z
    .strictObject({
      by: z.enum(['allowance', 'vex']),
      reason: z.string().meta({ description: "the allowance's reason, or the VEX statement's justification or status" }),
      until: z.string().nullable().meta({ description: "the allowance's last day; null for VEX" }),
    })
    .nullable()
    .meta({ description: 'what allows it; null when nothing does' }),
  blocking: z.boolean().meta({ description: "whether it blocks under the build's policy (judged now: an allowance past its until no longer allows)" }),
  first_seen: iso('ISO 8601: when it was first found on this image (a later import can add findings)'),
});

export const Vulnerabilities = z.strictObject({
  build: z.int(),
  image: z.string().meta({ description: 'registry/owner/image' }),
  digest: z.string().nullable(),
  scan: BuildScan.nullable().meta({ description: 'null when the build was never scanned' }),
  findings: z.array(Finding).meta({ description: 'worst first' }),
});

export const NewFindings = z.strictObject({
  since: iso('ISO 8601: findings first seen at or after this (default: the last import)'),
  findings: z
    .array(
      Finding.extend({
        repo: REPO,
        build: z.int().meta({ description: 'the newest build that pushed the image' }),
        digest: z.string().meta({ description: 'the image' }),
      }),
    )
    .meta({ description: 'newest first; only images of repos the caller may read' }),
  more: z.boolean().meta({ description: 'more findings than listed (at most 1000)' }),
});

/** One platform of a multi-platform image, and its manifest in the index. */
export const Platform = z.strictObject({
  platform: z.string().meta({ description: 'os/architecture[/variant], e.g. linux/arm64' }),
  digest: z.string().meta({ description: "that platform's own manifest digest inside the index" }),
});

export const Build = z.strictObject({
  id: z.int().meta({ description: 'the build id' }),
  source: z.enum(BUILD_SOURCES).meta({ description: 'push: a pushed commit; upload: a workspace folder sent by `codehub-build build` (no ref or commit)' }),
  repo: z.string().meta({ description: 'owner/name: the git repo of a push, the image repository of an upload' }),
  ref: z.string().nullable().meta({ description: 'the full ref pushed, e.g. refs/heads/main; null for an upload' }),
  ref_type: z.enum(['branch', 'tag']).nullable().meta({ description: 'branch or tag; null for an upload' }),
  ref_name: z.string().nullable().meta({ description: 'the branch or tag name; null for an upload' }),
  commit: z
    .string()
    .regex(/^[0-9a-f]{40}$/)
    .nullable()
    .meta({ description: 'the full commit sha; null for an upload' }),
  upload: z
    .strictObject({
      folder: z.string().meta({ description: "the uploaded folder's name" }),
      bytes: z.int().meta({ description: "the context's bytes, after .dockerignore" }),
    })
    .nullable()
    .meta({ description: 'an upload: its folder and size; null for a push' }),
  image: z.string().meta({ description: 'the image name under the owner' }),
  image_refs: z.array(z.string()).meta({ description: 'every reference the build pushes, registry/owner/image:tag' }),
  digest: z.string().nullable().meta({ description: 'the pushed manifest digest, once pushed' }),
  platforms: z.array(Platform).meta({
    description: 'a multi-platform image (`digest` an index): each platform and its own manifest; empty for one platform or before a push',
  }),
  status: z.enum(BUILD_STATUSES).meta({ description: 'the build status' }),
  reason: z.string().nullable().meta({ description: 'why it failed, was canceled or skipped' }),
  reason_code: z.string().nullable().meta({ description: 'a stable code for the reason' }),
  pusher: z.string().meta({ description: 'who pushed (or rebuilt)' }),
  queued_at: iso(),
  started_at: isoOrNull(),
  finished_at: isoOrNull(),
  attempts: z.int().meta({ description: 'runs so far (infrastructure errors are retried)' }),
  builder: z.string().nullable().meta({ description: 'the builder that ran it' }),
  config: z
    .record(z.string(), z.unknown())
    .nullable()
    .meta({ description: 'the resolved codehub-build.yaml entry for this image (secret-looking build args masked)' }),
  steps: z.array(BuildStep).nullable().meta({ description: "BuildKit's steps, as the build reported them" }),
  log_expired_at: isoOrNull('when log retention removed the log; null while it is kept'),
  log_url: z.string().meta({ description: 'the API URL of its log' }),
  web_url: z.string().meta({ description: 'its web page' }),
  scan: BuildScan.nullable().meta({ description: 'the vulnerability scan of the image it pushed; null when none ran' }),
  insight: BuildInsight.nullable().meta({ description: 'why it missed the cache, where its time went, its layers and size; null before it ends' }),
  forge_status: ForgeStatus.nullable().meta({
    description: 'for a repo linked to a forge: the commit status this build owes it, and how delivering it went; null otherwise',
  }),
});

export const BuildList = z.strictObject({
  builds: z.array(Build).meta({ description: 'newest first' }),
  next_cursor: z.string().nullable().meta({ description: 'pass as cursor for the next page; null on the last' }),
});

export const CommitBuilds = z.strictObject({
  repo: REPO,
  commit: z.string().meta({ description: 'the full sha' }),
  builds: z.array(Build),
});

/** The `end` event of a log's Server-Sent Events: how the build ended. */
export const LogEnd = z.strictObject({
  status: z.enum(BUILD_STATUSES),
  reason: z.string().nullable(),
  digest: z.string().nullable(),
});

// ---- uploads (`codehub-build build`)

export const UploadStarted = z.strictObject({
  id: z.string().meta({ description: 'the upload id' }),
  folder: z.string().meta({ description: 'the folder' }),
  files: z.int().meta({ description: 'regular files' }),
  bytes: z.int().meta({ description: "the context's bytes" }),
  missing: z.array(z.string().meta({ description: 'sha256' })).meta({ description: 'the files to PUT: the server has the others from earlier uploads' }),
  missing_bytes: z.int().meta({ description: 'their bytes' }),
  expires_at: iso(),
});

export const BlobStored = z.strictObject({ sha256: z.string().meta({ description: 'sha256' }), size: z.int().meta({ description: 'bytes' }) });

// ---- a repo's settings

export const SecretList = z.strictObject({
  repo: REPO,
  secrets: z.array(z.strictObject({ name: z.string(), created_at: iso(), updated_at: iso() })),
});
export const SecretSet = z.strictObject({ repo: REPO, name: z.string(), set: yes });
export const SecretRemoved = z.strictObject({ repo: REPO, name: z.string(), removed: yes });

export const Upstream = z
  .strictObject({
    repo: REPO,
    url: z.string().meta({ description: 'the upstream repository URL' }),
    forge: z.enum(upstreams.forge.enumValues).meta({ description: 'the forge' }),
    api_url: z.string().meta({
      description:
        "where statuses are sent: the link's api_url, or derived from url (github.com: api.github.com; GitHub Enterprise: /api/v3; Gitea: /api/v1; GitLab: /api/v4)",
    }),
    hook_url: z.string().meta({ description: "the URL to set as the forge's push webhook" }),
    statuses: z.boolean().meta({ description: 'results go back as commit statuses (a status_token is set)' }),
    created_at: iso(),
    updated_at: iso(),
    last_delivery: z
      .strictObject({
        at: iso(),
        result: z.string().meta({ description: 'queued, deleted, ignored or failed' }),
        error: z.string().nullable().meta({ description: 'why it failed' }),
      })
      .nullable()
      .meta({ description: 'the last push delivery acted on (a failure after the forge was answered 202 shows only here); null before the first' }),
  })
  .meta({ description: 'a link to a forge, without its secrets' });
export const UpstreamRemoved = z.strictObject({ repo: REPO, removed: yes });

export const Badge = z.strictObject({
  repo: REPO,
  public_badge: z.boolean(),
  badge_url: z.string().meta({ description: "the default branch's badge" }),
});

const retentionValue = (what: string) => z.int().meta({ description: what });
export const Retention = z.strictObject({
  repo: REPO,
  keep: retentionValue('builds per branch whose tags stay'),
  days: retentionValue('days tags stay'),
  override: z.strictObject({
    keep: z.int().nullable().meta({ description: "null: the server's default" }),
    days: z.int().nullable().meta({ description: "null: the server's default" }),
  }),
  defaults: z.strictObject({ keep: retentionValue("the server's"), days: retentionValue("the server's") }),
});

const Role = z.enum(['read', 'write']).meta({ description: 'the role' });
export const Members = z.strictObject({
  repo: REPO,
  owner: z.string().meta({ description: 'the owner' }),
  members: z.array(z.strictObject({ user: z.string().meta({ description: 'user name' }), role: Role, since: iso() })),
});
export const Shared = z.strictObject({ repo: REPO, user: z.string(), role: Role });
export const Unshared = z.strictObject({ repo: REPO, user: z.string(), removed: yes });

// ---- a repo's pull tokens

const PULL_USER = z.string().meta({ description: 'the user name docker logs in with: pull-<id>' });
export const PullTokenMade = z.strictObject({
  id: z.int().meta({ description: 'its id (what revokes it)' }),
  username: PULL_USER,
  token: z.string().meta({ description: 'the token (chp_...), shown this once: the password of docker login' }),
  label: z.string(),
  expires_at: isoOrNull('ISO 8601; null: never'),
  registry: z.string().meta({ description: 'the registry it signs in to (host[:port]), as docker login and a dockerconfigjson name it' }),
});
export const PullTokenInfo = z
  .strictObject({
    id: z.int().meta({ description: 'its id (what revokes it)' }),
    username: PULL_USER,
    label: z.string(),
    created_by: z.string().meta({ description: 'the user who made it' }),
    created_at: iso(),
    last_used_at: isoOrNull('ISO 8601, to the minute: its last registry sign-in'),
    expires_at: isoOrNull('ISO 8601; null: never (an expired token stays listed until revoked)'),
  })
  .meta({ description: 'a pull token as it is listed: never the token or its hash' });
export const PullTokenList = z.strictObject({ repo: REPO, tokens: z.array(PullTokenInfo) });
export const PullTokenRevoked = z.strictObject({ repo: REPO, id: z.int(), username: PULL_USER, revoked: yes });

// ---- the registry

export const Usage = z.strictObject({
  owner: z.string().meta({ description: 'the namespace' }),
  bytes: z.int().meta({ description: 'registry bytes the namespace holds' }),
  quota: z.int().nullable().meta({ description: 'bytes it may hold; null for none' }),
  images: z.array(z.strictObject({ image: z.string().meta({ description: 'the image name' }), bytes: z.int(), tags: z.int() })),
});

export const TagRemoved = z.strictObject({
  repository: z.string().meta({ description: 'owner/image' }),
  tag: z.string().meta({ description: 'the tag' }),
  removed: z.array(
    z.strictObject({
      tag: z.string().nullable().meta({ description: 'the tag (null for an untagged manifest)' }),
      digest: z.string(),
      how: z
        .enum(['delete', 'tombstone'])
        .meta({ description: 'delete: the manifest went, with every tag on it; tombstone: only this tag, the manifest stays for others' }),
      bytes: z.int(),
    }),
  ),
  bytes: z.int().meta({ description: 'bytes freed in all' }),
});

// ---- the vulnerability database

const count = (description: string) => z.int().min(0).meta({ description });
export const VulnDbCounts = z.strictObject({
  added: count('records new to the database'),
  updated: count('records that replaced an older version of themselves'),
  unchanged: count('records not newer than the stored one, left as they were'),
  withdrawn: count('withdrawn records that landed (they match nothing)'),
  skipped: count('records that did not read as OSV, named in problems'),
});
export const VulnDbImported = z.strictObject({
  ecosystems: z.record(z.string(), VulnDbCounts).meta({ description: 'counts per ecosystem (Debian, Alpine, npm, PyPI, Go, Maven)' }),
  problems: z.array(z.string()).meta({ description: 'each record skipped or file refused, as a sentence naming it (at most 100)' }),
  more_problems: z.int().min(0).meta({ description: 'problems beyond those listed' }),
  rematch: z
    .strictObject({
      images: z.int().meta({ description: 'kept images matched again from their stored inventories (no layer read again)' }),
      added: z.int().meta({ description: 'findings new to an image, first seen now' }),
      removed: z.int().meta({ description: 'findings no longer found (a record withdrawn or fixed)' }),
      skipped: z.array(z.string()).meta({ description: 'images that could not be matched again, each with why' }),
    })
    .nullable()
    .meta({ description: 'the kept images matched again after the import; null when nothing was imported' }),
});
export const VulnDbSources = z.strictObject({
  sources: z.array(
    z.strictObject({
      ecosystem: z
        .string()
        .meta({ description: 'the ecosystem, without its release (Debian, Alpine, npm, PyPI, Go, Maven): records of every Debian release count under Debian' }),
      records: count('records held, withdrawn ones included'),
      newest_modified: iso("the newest record's `modified`"),
      imported_at: iso('when the last import touched this ecosystem'),
    }),
  ),
});

// ---- the caller, users and tokens

const Scopes = z.array(z.enum(SCOPES));
export const Caller = z.strictObject({ name: z.string().meta({ description: 'user name' }), scopes: Scopes });
export const UserAdded = z.strictObject({
  name: z.string().meta({ description: 'user name' }),
  token: z.string().meta({ description: 'the token (chb_...): git password and API bearer token' }),
  expires_at: isoOrNull('when the token stops working (CODEHUB_TOKEN_MAX_DAYS from now); null: never'),
});
export const UserRemoved = z.strictObject({ name: z.string(), removed: yes });
export const TokenInfo = z
  .strictObject({
    id: z.int().meta({ description: 'the token id (what revokes it)' }),
    label: z.string().meta({ description: 'what it is for' }),
    scopes: Scopes,
    created_at: iso(),
    last_used_at: isoOrNull('ISO 8601, to the minute'),
    expires_at: isoOrNull('when it stops working; null: never'),
  })
  .meta({ description: 'a token as it is listed: never the token or its hash' });
export const TokenList = z.strictObject({ user: z.string(), tokens: z.array(TokenInfo) });
export const TokenMade = z.strictObject({
  id: z.int().meta({ description: 'its id (what revokes it)' }),
  token: z.string().meta({ description: 'the token (chb_...)' }),
  label: z.string(),
  scopes: Scopes,
  expires_at: isoOrNull('when it stops working; null: never'),
});
export const TokenRevoked = z.strictObject({ id: z.int(), revoked: yes });

// ---- the audit log

export const AuditEvent = z
  .strictObject({
    id: z.int().meta({ description: 'its number; ids grow with time' }),
    at: iso(),
    actor: z.string().meta({ description: "the user, or `cli` (the server's command line) or `system` (the server on its schedule)" }),
    actor_kind: z.enum(['token', 'session', 'cli', 'system']).meta({ description: 'how the actor was signed in' }),
    token_id: z.int().nullable().meta({ description: 'the id of the token (or session) the actor used; null for cli and system' }),
    action: z.enum(AUDIT_ACTIONS),
    repo: z.string().nullable().meta({ description: 'owner/name of the repo or image repository it concerns; null for server-wide events' }),
    target: z.string().meta({ description: 'what it was done to: a user, a token id, a secret name, a tag, a build (#id)' }),
    detail: z.record(z.string(), z.unknown()).nullable().meta({ description: 'names and numbers only: never a secret value or a token' }),
    address: z.string().nullable().meta({ description: "the request's source address; null for cli and system" }),
  })
  .meta({ description: 'one event of the append-only audit log' });

export const AuditList = z.strictObject({
  events: z.array(AuditEvent).meta({ description: 'newest first' }),
  next: z.int().nullable().meta({ description: 'pass as before for the next page; null on the last' }),
});

// ---- the forges' webhooks (not under /api, but their answers carry builds)

const HOOK_RESULT =
  'queued: fetched and built; deleted: a branch or tag deleted here too; pong: a ping; ignored: nothing to do (not a push, or a stale push); ' +
  'duplicate: a delivery id acted on before, or a push already built under another id (then repo, ref, commit and builds name what it made); accepted (202): verified, still fetching';
export const HookAnswer = z
  .strictObject({
    result: z.enum(['queued', 'deleted', 'pong', 'ignored', 'duplicate', 'accepted']).meta({ description: HOOK_RESULT }),
    message: z.string().optional().meta({ description: 'for pong, ignored, duplicate and accepted' }),
    repo: z.string().optional().meta({ description: 'queued, deleted, duplicate: owner/name here' }),
    ref: z.string().optional().meta({ description: 'queued, deleted, duplicate: the full ref' }),
    commit: z.string().optional().meta({ description: 'queued, duplicate: the pushed commit' }),
    builds: z.array(Build).optional().meta({ description: 'queued, deleted: the builds recorded; duplicate: the builds the push made before' }),
    lines: z.array(z.string()).optional().meta({ description: 'what a pusher to this server would have been told' }),
  })
  .meta({ description: "what the delivery did, for the forge's delivery log" });

export type ErrorAnswer = z.output<typeof ErrorAnswer>;
export type BuildAnswer = z.output<typeof Build>;
export type BuildScanAnswer = z.output<typeof BuildScan>;
export type InsightAnswer = z.output<typeof BuildInsight>;
export type FindingAnswer = z.output<typeof Finding>;
export type VulnerabilitiesAnswer = z.output<typeof Vulnerabilities>;
export type NewFindingsAnswer = z.output<typeof NewFindings>;
export type ForgeStatusAnswer = z.output<typeof ForgeStatus>;
export type BuildListAnswer = z.output<typeof BuildList>;
export type LogEndAnswer = z.output<typeof LogEnd>;
export type UploadStartedAnswer = z.output<typeof UploadStarted>;
export type UpstreamAnswer = z.output<typeof Upstream>;
export type RetentionAnswer = z.output<typeof Retention>;
export type BadgeAnswer = z.output<typeof Badge>;
export type SecretListAnswer = z.output<typeof SecretList>;
export type MembersAnswer = z.output<typeof Members>;
export type PullTokenMadeAnswer = z.output<typeof PullTokenMade>;
export type PullTokenListAnswer = z.output<typeof PullTokenList>;
export type UsageAnswer = z.output<typeof Usage>;
export type CallerAnswer = z.output<typeof Caller>;
export type AuditEventAnswer = z.output<typeof AuditEvent>;
export type AuditListAnswer = z.output<typeof AuditList>;
export type HookAnswerView = z.output<typeof HookAnswer>;
