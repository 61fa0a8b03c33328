/**
 * The JSON bodies and query strings the API takes, each defined once: the routes parse with these, the OpenAPI
 * document (src/http/openapi.ts) is generated from them, and the client's request types are inferred from them.
 *
 * A schema checks the shape (types, ranges, patterns, unknown fields); what needs the database, the caller or
 * the server's settings (is the user there, may this tag be pushed, is the upstream's host allowed) stays in the
 * services. Every problem of a request is reported at once, each a sentence naming its field: a message may say
 * `{field}` (the field's path, e.g. `build_args.X`), `{last}` (its last key), `{got}` (the value sent, cut short) and, for an unknown
 * field, `{key}` (its name); parseRequest fills them in.
 */
import { z } from 'zod';
import { MAX_SECRET_BYTES, parsePlatform, platformListProblems, RETENTION_MAX_DAYS, RETENTION_MAX_KEEP, SECRET_NAME_RE } from '../limits.js';
import { repoPathProblem } from '../names.js';
import { MAX_LABEL_LENGTH } from '../auth/accounts.js';
import { AUDIT_ACTIONS } from '../auth/audit-actions.js';
import { SCOPES } from '../store/scopes.js';
import { BUILD_SOURCES, BUILD_STATUSES, upstreams } from '../store/schema.js';
import { MAX_UPLOAD_ENTRIES, type ManifestEntry as ManifestEntryType } from '../uploads/manifest.js';

/** A request checked: its value (defaults filled in), or every problem with it. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; problems: string[] };

/** `value` (parsed JSON, or a query's strings) checked against `schema`; never throws. */
export function parseRequest<S extends z.ZodType>(schema: S, value: unknown): Parsed<z.output<S>> {
  const result = schema.safeParse(value, { reportInput: true });
  if (result.success) return { ok: true, value: result.data };
  const problems: string[] = [];
  const fields = new Set<string>();
  // Unknown fields first: they say the whole body is not what the sender thinks, before any field's detail.
  const issues = [...result.error.issues].sort((a, b) => Number(b.code === 'unrecognized_keys') - Number(a.code === 'unrecognized_keys'));
  for (const issue of issues) {
    const field = issue.path.map(String).join('.');
    const keys = issue.code === 'unrecognized_keys' ? issue.keys : [undefined];
    for (const key of keys) {
      const text = issue.message
        .replaceAll('{field}', field)
        .replaceAll('{got}', describe(issue.input))
        .replaceAll('{key}', key === undefined ? '' : JSON.stringify(key.slice(0, 60)))
        .replaceAll('{last}', String(issue.path[issue.path.length - 1] ?? ''));
      // One field can fail several checks (an empty secret is also a short one): its first problem says enough.
      if (field !== '' && key === undefined) {
        if (fields.has(field)) continue;
        fields.add(field);
      }
      if (!problems.includes(text)) problems.push(text);
    }
  }
  return { ok: false, problems };
}

/** A value in a problem: its JSON, cut short (a message should be smaller than the body it is about). */
function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  const json = JSON.stringify(v) ?? String(v);
  return json.length > 60 ? `${json.slice(0, 57)}...` : json;
}

/**
 * A JSON object body with exactly these fields. `notObject` is said of anything else (`{got}` is what came);
 * `unknownField` of each field it does not have (`{key}`; `{fields}` lists the ones it has).
 */
function jsonObject<S extends z.ZodRawShape>(shape: S, words: { notObject: string; unknownField: string }) {
  const fields = Object.keys(shape).join(', ');
  return z.strictObject(shape, {
    error: (iss) => (iss.code === 'unrecognized_keys' ? words.unknownField.replaceAll('{fields}', fields) : words.notObject),
  });
}

/** Every check of a field says the same sentence: a sender fixes the field, not the check. */
const says = (message: string) => ({ error: message });

/** A whole number from `min` to `max`; the schema's every failure says `message`. */
const wholeNumber = (min: number, max: number, message: string) => z.int(says(message)).min(min, says(message)).max(max, says(message));

// ---- admin: users and tokens

/** A token's lifetime in days from now (fractions allowed); checked against CODEHUB_TOKEN_MAX_DAYS by the accounts. */
export const expiresInDays = z
  .number(says('expires_in_days must be a number of days greater than 0 (e.g. 90, or 0.5 for 12 hours); got {got}'))
  .positive(says('expires_in_days must be a number of days greater than 0 (e.g. 90, or 0.5 for 12 hours); got {got}'))
  .max(36500, says('expires_in_days must be at most 36500; got {got}'))
  .optional()
  .meta({ description: "days until the token stops working; default: never, or the server's maximum (CODEHUB_TOKEN_MAX_DAYS) when it has one" });

export const NewUserRequest = jsonObject(
  {
    name: z.string(says("name must be a string (the new user's name); got {got}")).meta({ description: 'the new user name', examples: ['alice'] }),
  },
  { notObject: 'the body must be a JSON object like {"name": "alice"}; got {got}', unknownField: 'unknown field {key}: the fields are {fields}' },
).meta({ description: 'the new user; its name is checked with the other names (grammar, reserved, taken) by the accounts' });

export const NewTokenRequest = jsonObject(
  {
    // The scope names and the label's rules are checked by the accounts, as for `codehub-build token create`.
    scopes: z
      .array(
        z.string(says('scopes must be a list of scope names, e.g. ["read", "push"]; got {got}')),
        says('scopes must be a list of scope names, e.g. ["read", "push"]; got {got}'),
      )
      .optional()
      .meta({
        items: { type: 'string', enum: [...SCOPES] },
        minItems: 1,
        default: ['read', 'push'],
        description: 'read: clone, fetch, the read API; push: push, cancel, rebuild, secrets, sharing; admin: all of it on every repo, and this admin API',
      }),
    label: z
      .string(says('label must be a string; got {got}'))
      .default('api')
      .meta({ description: 'what the token is for, shown in the list', maxLength: MAX_LABEL_LENGTH, pattern: '^[^\\x00-\\x1f\\x7f]*$' }),
    expires_in_days: expiresInDays,
  },
  {
    notObject: 'the body must be a JSON object like {"scopes": ["read", "push"], "label": "ci", "expires_in_days": 90}; got {got}',
    unknownField: 'unknown field {key}: the fields are {fields}',
  },
).meta({ description: 'both fields optional (an empty body takes both defaults)' });

// ---- a repo's settings (its owner's)

const BADGE = 'the body must be {"public": true} or {"public": false}';
/** Fields other than `public` are ignored, as they always were. */
export const BadgeRequest = z.object(
  { public: z.boolean(says(BADGE)).meta({ description: 'true: anyone may read the badges; false: only who can read the repo' }) },
  says(BADGE),
);

const ROLE = 'the body must be {"role": "read"} or {"role": "write"}';
export const MemberRole = z.enum(['read', 'write'], says(ROLE)).meta({ description: 'read: clone, builds, logs; write: also push, cancel, rebuild' });
export const MemberRequest = z.object({ role: MemberRole }, says(ROLE));

const override = (max: number, what: string) =>
  wholeNumber(0, max, `{field} must be a whole number from 0 to ${max} (${what}), or null for the server's default; got {got}`).nullable().optional();
export const RetentionRequest = jsonObject(
  {
    keep: override(RETENTION_MAX_KEEP, 'builds per branch').meta({ description: "builds per branch whose tags stay; null: the server's default" }),
    days: override(RETENTION_MAX_DAYS, 'days').meta({ description: "days tags stay; null: the server's default" }),
  },
  { notObject: 'the body must be a JSON object like {"keep": 10, "days": 30}', unknownField: 'unknown field {key}: only keep and days can be set' },
)
  // Only once the fields are right: an unknown field alone says enough.
  .refine((v) => 'keep' in v || 'days' in v, { error: 'give keep, days or both, e.g. {"keep": 10, "days": 30}', when: (p) => p.issues.length === 0 })
  .meta({ description: 'either may be left out (it keeps its value), not both' });

// ---- a repo's pull tokens (deployments' registry credentials)

export const PullTokenRequest = jsonObject(
  {
    label: z
      .string(says('label must be a string; got {got}'))
      .default('deploy')
      .meta({ description: 'what the token is for, shown in the list', maxLength: MAX_LABEL_LENGTH, pattern: '^[^\\x00-\\x1f\\x7f]*$' }),
    expires_in_days: expiresInDays,
  },
  {
    notObject: 'the body must be a JSON object like {"label": "prod", "expires_in_days": 90}; got {got}',
    unknownField: 'unknown field {key}: the fields are {fields}',
  },
).meta({ description: 'both fields optional (an empty body takes both defaults); an expiry past CODEHUB_TOKEN_MAX_DAYS is refused, naming it' });

// ---- a link to a forge

const MIN_WEBHOOK_SECRET_CHARS = 16;
/** Tokens of the three forges are 40 to a few hundred characters; this bounds what is sealed and sent. */
const MAX_STATUS_TOKEN_CHARS = 4096;
/** A field given as a non-empty string; a required one may not be missing or null. */
const text = (required: boolean) =>
  z
    .string({ error: (iss) => (required && (iss.input === undefined || iss.input === null) ? '{field} is required' : '{field} must be a non-empty string') })
    .min(1, says('{field} must be a non-empty string'));
/**
 * `PUT /api/repos/:owner/:repo/upstream`: the link's shape. The forge's name, the URL (git's rules, the
 * operator's hosts) and whether the forge can name the repository from it are the links service's to check.
 */
export const LinkRequest = jsonObject(
  {
    url: text(true).meta({ description: 'the upstream repository, http(s) only, without credentials: https://host/owner/repo(.git)' }),
    forge: text(true).meta({ description: 'which forge serves it (Forgejo is gitea)', enum: [...upstreams.forge.enumValues] }),
    webhook_secret: text(true)
      .min(MIN_WEBHOOK_SECRET_CHARS, says(`webhook_secret must be at least ${MIN_WEBHOOK_SECRET_CHARS} characters (a random one: openssl rand -base64 24)`))
      // GitLab sends the secret itself, so a short one can be guessed through the hook URL; forges take any length.
      .refine((s) => Buffer.byteLength(s) <= MAX_SECRET_BYTES, says(`webhook_secret is longer than ${MAX_SECRET_BYTES} bytes`))
      .meta({ description: "the secret set on the forge's webhook; stored encrypted, never returned" }),
    status_token: text(false)
      .regex(/^[^\u0000-\u001f\u007f\s]*$/, says(`status_token must be at most ${MAX_STATUS_TOKEN_CHARS} characters without spaces or control characters`))
      .max(MAX_STATUS_TOKEN_CHARS, says(`status_token must be at most ${MAX_STATUS_TOKEN_CHARS} characters without spaces or control characters`))
      .nullish()
      .meta({
        description: 'a token that may set commit statuses (and read a private upstream); stored encrypted, never returned. Without it no statuses are sent',
      }),
    api_url: text(false).nullish().meta({ description: "the forge's API base when it is not where the URL says (e.g. https://git.example/api/v1)" }),
  },
  {
    notObject: 'the body must be a JSON object: {"url", "forge", "webhook_secret", "status_token", "api_url"}',
    unknownField: 'unknown field {key}: the fields are {fields}',
  },
);

// ---- `codehub-build build`: an upload's manifest and its build

export const ManifestEntry = z.object({
  path: z.string().meta({ description: 'relative to the folder, `/`-separated' }),
  mode: z.int().meta({ description: "Go's os.FileMode: permission bits plus 0x80000000 (folder) or 0x08000000 (symlink), setuid/setgid/sticky" }),
  size: z.int().min(0).meta({ description: 'bytes of a regular file; 0 otherwise' }),
  sha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .optional()
    .meta({ description: "a regular file's content hash" }),
  linkname: z.string().optional().meta({ description: "a symlink's target" }),
}) satisfies z.ZodType<ManifestEntryType>; // one shape: src/uploads/manifest.ts checks the entries themselves
/**
 * `POST /api/uploads`: the folder's manifest. Its entries are checked by src/uploads/manifest.ts, which names
 * each bad entry by its index and path (up to a hundred of them) and weighs the context against the limits.
 */
export const UploadStartRequest = z.object({
  folder: z.string().meta({ description: "the folder's name (its last path component): the image name's default" }),
  entries: z
    .array(ManifestEntry)
    .max(MAX_UPLOAD_ENTRIES)
    .meta({ description: "every entry of the context after .dockerignore, in fsutil's order, every folder listed" }),
  tag: z
    .string()
    .optional()
    .meta({ description: 'the -t the build will ask for, checked now (400, or 403 for another namespace) so nothing is uploaded in vain' }),
});

const BUILD_ARG_RE = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
/** More secrets than any build mounts; their values are held in memory for the build's life. */
const MAX_UPLOAD_SECRETS = 32;
/** An object of names to strings; a bad name is told by `badKey`, quoted and cut short (a key can be as long as the body). */
const stringMap = (field: string, key: RegExp, badKey: (quoted: string) => string) =>
  z.record(z.string().regex(key), z.string(says(`${field}.{last} must be a string`)), {
    error: (iss) =>
      iss.code === 'invalid_key' ? badKey(JSON.stringify(String(iss.input).slice(0, 80))) : `${field} must be an object of names to string values`,
  });

/**
 * Each platform one BuildKit builds for (parsePlatform's reason otherwise), none twice as BuildKit reads them
 * (`linux/arm64/v8` repeats `linux/arm64`): the build would make the same platform twice into one index.
 */
function platformProblems(list: string[], ctx: z.RefinementCtx): void {
  for (const p of platformListProblems(list, (i) => `platforms[${i}]`))
    ctx.addIssue({ code: 'custom', path: [p.index], message: p.message, input: list[p.index] });
}

/**
 * `POST /api/uploads/:id/build`: docker build's flags as the CLI sends them. The tag's namespace and the
 * Dockerfile's place in the upload are the uploads service's to check.
 */
export const UploadBuildRequest = jsonObject(
  {
    tag: z
      .string(says('tag must be a string like "web:try1"'))
      .optional()
      .meta({ description: "-t: NAME[:TAG], optionally <caller>/ or <registry>/<caller>/ before it (default: the folder's name, tag dev)" }),
    dockerfile: z
      .string(says("dockerfile must be the Dockerfile's path in the folder"))
      .min(1, says("dockerfile must be the Dockerfile's path in the folder"))
      .default('Dockerfile')
      .meta({ description: "-f: the Dockerfile's path in the folder" }),
    target: z
      .string(says('target must be a build stage name (letters, digits, _ . -)'))
      .regex(/^[A-Za-z0-9_.-]{1,128}$/, says('target must be a build stage name (letters, digits, _ . -)'))
      .nullish()
      .meta({ description: '--target: the stage to build' }),
    build_args: stringMap('build_args', BUILD_ARG_RE, (k) => `build arg ${k} is not a valid name`)
      .default({})
      .meta({ description: '--build-arg: name -> value' }),
    secrets: stringMap('secrets', SECRET_NAME_RE, (k) => `secret id ${k} is not valid: letters, digits and _, at most 64, not starting with a digit`)
      .superRefine((secrets, ctx) => {
        for (const [k, v] of Object.entries(secrets)) {
          if (Buffer.byteLength(v) > MAX_SECRET_BYTES)
            ctx.addIssue({ code: 'custom', path: [k], message: `secret ${k} is larger than ${MAX_SECRET_BYTES} bytes`, input: v });
        }
        if (Object.keys(secrets).length > MAX_UPLOAD_SECRETS)
          ctx.addIssue({ code: 'custom', message: `at most ${MAX_UPLOAD_SECRETS} secrets`, input: secrets });
      })
      .default({})
      .meta({
        description: `--secret: id -> value (at most ${MAX_UPLOAD_SECRETS}, each at most ${MAX_SECRET_BYTES} bytes); for BuildKit only, never stored`,
        maxProperties: MAX_UPLOAD_SECRETS,
      }),
    no_cache: z.boolean(says('no_cache must be true or false')).default(false).meta({ description: '--no-cache' }),
    platforms: z
      .array(z.string(says('platforms must be a list of platforms like linux/amd64')), says('platforms must be a list of platforms like linux/amd64'))
      .superRefine(platformProblems)
      .nullish()
      .meta({ description: '--platform: e.g. linux/amd64' }),
  },
  {
    notObject: 'the body must be a JSON object: { "tag", "dockerfile", "target", "build_args", "secrets", "no_cache", "platforms" }',
    unknownField: 'unknown field {key}: the fields are {fields}',
  },
);

// ---- query strings

const LIMIT = 200;
/** `GET /api/builds`: the filters and the page. Other parameters are ignored. */
export const BuildListQuery = z.object({
  repo: z
    .string()
    .refine((r) => repoPathProblem(r) === null, { error: (iss) => repoPathProblem(String(iss.input)) ?? 'repo must be <owner>/<name>' })
    .optional()
    .meta({ description: 'owner/name' }),
  commit: z
    .string()
    .regex(/^[0-9a-fA-F]{4,40}$/, says('commit must be 4 to 40 hex digits; got {got}'))
    .transform((s) => s.toLowerCase())
    .optional()
    .meta({ description: 'a sha or a prefix of 4 to 40 hex digits' }),
  ref: z.string().optional().meta({ description: 'a branch or tag name, or a full ref' }),
  status: z
    .enum(BUILD_STATUSES, says(`status must be one of ${BUILD_STATUSES.join(', ')}; got {got}`))
    .optional()
    .meta({ description: 'one status' }),
  source: z.enum(BUILD_SOURCES, says('source must be push or upload')).optional().meta({ description: 'only builds of pushes, or of uploads' }),
  limit: z.coerce
    .number(says(`limit must be a whole number from 1 to ${LIMIT}`))
    .pipe(wholeNumber(1, LIMIT, `limit must be a whole number from 1 to ${LIMIT}`))
    .default(50)
    .meta({ description: 'page size', type: 'integer', minimum: 1, maximum: LIMIT }),
  cursor: z.coerce
    .number(says('cursor must be a value from next_cursor'))
    .pipe(wholeNumber(1, Number.MAX_SAFE_INTEGER, 'cursor must be a value from next_cursor'))
    .optional()
    .meta({ description: 'next_cursor of the previous page', type: 'integer', minimum: 1 }),
});

/** `GET /api/builds/:id/log`: how the text comes (the SSE form is asked for with `Accept: text/event-stream`). */
export const LogQuery = z.object({
  timestamps: z
    .string()
    .optional()
    .meta({ description: '1 or true: prefix each line with its time', enum: ['1', 'true'] }),
  follow: z
    .string()
    .optional()
    .meta({ description: '1 or true: stream until the build ends', enum: ['1', 'true'] }),
  last_event_id: z.string().optional().meta({ description: 'SSE: the line to resume after (as the Last-Event-ID header)', type: 'integer', minimum: 0 }),
});

export type NewUserRequest = z.output<typeof NewUserRequest>;
export type NewTokenRequest = z.output<typeof NewTokenRequest>;
export type PullTokenRequest = z.output<typeof PullTokenRequest>;
export type RetentionRequest = z.output<typeof RetentionRequest>;
export type LinkRequest = z.output<typeof LinkRequest>;
export type UploadBuildRequest = z.output<typeof UploadBuildRequest>;
/** What the CLI sends: every field but the image's may be left out. */
export type UploadBuildRequestBody = z.input<typeof UploadBuildRequest>;
export type BuildListQuery = z.output<typeof BuildListQuery>;

export const SBOM_FORMATS = ['cyclonedx', 'spdx'] as const;

/** `GET /api/builds/:id/sbom`'s query. */
export const SbomQuery = z.object({
  format: z
    .enum(SBOM_FORMATS, { error: 'format must be cyclonedx or spdx' })
    .default('cyclonedx')
    .meta({ description: 'cyclonedx (CycloneDX 1.6 JSON, the default) or spdx (SPDX 2.3 JSON)' }),
  platform: z
    .string()
    .superRefine((text, ctx) => {
      const parsed = parsePlatform(text);
      if (!parsed.ok) ctx.addIssue({ code: 'custom', message: `platform: ${parsed.problem}`, input: text });
    })
    .optional()
    .meta({ description: "the platform image to list (a multi-platform image's); default: linux/amd64 when the image has it, else its first platform" }),
});

/** `GET /api/vulnerabilities/new`'s query. */
export const NewFindingsQuery = z.object({
  since: z
    .string()
    .regex(/^\d{4}-\d{2}-\d{2}(T[0-9:.]+Z)?$/, { error: 'since must be an ISO 8601 UTC date or time, e.g. 2026-12-01 or 2026-12-01T10:00:00Z' })
    .optional()
    .meta({ description: 'ISO 8601 UTC; default: the last import' }),
});

export const AUDIT_LIMIT = 1000;
/** `GET /api/audit` (and the /audit page's form): the filters and the page. Other parameters are ignored. */
export const AuditListQuery = z.object({
  actor: z.string().min(1, says('actor must be a user name, cli or system')).max(200).optional().meta({ description: 'a user name, `cli` or `system`' }),
  action: z
    .enum(AUDIT_ACTIONS, says(`action must be one of ${AUDIT_ACTIONS.join(', ')}; got {got}`))
    .optional()
    .meta({ description: 'one action' }),
  repo: z
    .string()
    .refine((r) => repoPathProblem(r) === null, {
      error: (iss) => {
        const p = repoPathProblem(String(iss.input)) ?? 'must be <owner>/<name>';
        return p.startsWith('repo ') ? p : `repo: ${p}`;
      },
    })
    .optional()
    .meta({ description: 'owner/name: a git repo, or an image repository' }),
  since: z
    .string()
    .regex(
      /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?$/,
      says('since must be an ISO 8601 date or time, e.g. 2026-12-01 or 2026-12-01T10:00:00Z; got {got}'),
    )
    .refine((s) => !Number.isNaN(Date.parse(s)), says('since must be a real date or time; got {got}'))
    // The database writes times as toISOString() does: compared as text, so `since` is written the same way.
    .transform((s) => new Date(s).toISOString())
    .optional()
    .meta({ description: 'ISO 8601: events at or after it' }),
  limit: z.coerce
    .number(says(`limit must be a whole number from 1 to ${AUDIT_LIMIT}`))
    .pipe(wholeNumber(1, AUDIT_LIMIT, `limit must be a whole number from 1 to ${AUDIT_LIMIT}`))
    .default(100)
    .meta({ description: 'page size', type: 'integer', minimum: 1, maximum: AUDIT_LIMIT }),
  before: z.coerce
    .number(says('before must be a value from next'))
    .pipe(wholeNumber(1, Number.MAX_SAFE_INTEGER, 'before must be a value from next'))
    .optional()
    .meta({ description: "the previous page's `next`: the events older than it", type: 'integer' }),
});
export type AuditListQuery = z.output<typeof AuditListQuery>;
