/**
 * An OSV record (https://ossf.github.io/osv-schema/), as the vulnerability data an operator imports: the fields
 * matching and reporting use are checked strictly (an id, a modified time, each affected package, each range and
 * its events as the schema's rules say), and every other field is taken as it comes and kept, so a record from a
 * newer schema version still reads. A record that breaks a rule is refused with one sentence naming the field
 * (`affected[0].ranges[1].events[2]: ...`): an import skips it and says why, it never throws halfway.
 */
import { z } from 'zod';

/** The range types the schema defines. GIT ranges hold commit hashes: they are read but never match a package version. */
export const RANGE_TYPES = ['ECOSYSTEM', 'SEMVER', 'GIT'] as const;
export type RangeType = (typeof RANGE_TYPES)[number];

/** The four kinds of range event, in the words the schema uses. */
export const EVENT_KINDS = ['introduced', 'fixed', 'last_affected', 'limit'] as const;
export type EventKind = (typeof EVENT_KINDS)[number];

/** One event of a range: exactly one of the four kinds, with its version (a commit hash in a GIT range). */
export type RangeEvent = { introduced: string } | { fixed: string } | { last_affected: string } | { limit: string };

/** A value in a problem: its JSON, cut short (a problem should be smaller than the record it is about). */
function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  const json = JSON.stringify(v) ?? String(v);
  return json.length > 60 ? `${json.slice(0, 57)}...` : json;
}

/** A check's words: `missing` when the field is absent, `wrong` (followed by what came) when it is there but bad. */
const says = (missing: string, wrong: string) => ({
  error: (iss: { input?: unknown }) => (iss.input === undefined ? missing : `${wrong}; got ${describe(iss.input)}`),
});

/** A string field that must be there and not be empty (`what` names it for the problem). */
const required = (what: string) => z.string(says(`is missing (${what})`, `must be a string (${what})`)).min(1, { error: `must not be empty (${what})` });

/** An optional string field: absent is fine, anything but a string is not. */
const optionalText = (what: string) => z.string(says('', `must be a string (${what})`)).optional();

/** A list of strings the schema allows to be null or absent: both read as an empty list. */
const strings = (what: string) =>
  z
    .array(z.string(says('', `must be a string (${what})`)), says('', `must be a list of strings (${what})`))
    .nullish()
    .transform((v) => v ?? []);

// The schema says RFC 3339 (date-time); OSV.dev writes fractions of up to nine digits, GHSA none, both with Z.
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
const time = (what: string) =>
  z.string(says(`is missing (${what})`, `must be a time (${what})`)).refine((s) => RFC3339.test(s) && !Number.isNaN(Date.parse(s)), {
    error: (iss) => `must be an RFC 3339 time like 2024-02-21T23:18:25Z (${what}); got ${describe(iss.input)}`,
  });

/** A JSON object whose fields a database or an ecosystem defines: only its being an object is checked. */
const openObject = (what: string) => z.record(z.string(), z.unknown(), says('', `must be a JSON object (${what})`)).optional();

/** One severity: its `type` (CVSS_V2, CVSS_V3, CVSS_V4, Ubuntu or one the schema adds later) and its `score` (a vector or a word). */
const SeveritySchema = z.looseObject(
  {
    type: required('a type, e.g. CVSS_V3'),
    score: required('a score, e.g. a CVSS vector'),
  },
  says('', 'a severity must be a JSON object like {"type": "CVSS_V3", "score": "CVSS:3.1/..."}'),
);
const severities = z
  .array(SeveritySchema, says('', 'must be a list of severities'))
  .nullish()
  .transform((v) => v ?? []);

/** What is wrong with one range event, or undefined when it is one kind with a version. */
function eventProblem(value: unknown): string | undefined {
  const kinds = 'exactly one of introduced, fixed, last_affected, limit';
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return `an event must be a JSON object with ${kinds}; got ${describe(value)}`;
  const present = EVENT_KINDS.filter((k) => k in value);
  if (present.length !== 1) return `an event must have ${kinds}; got ${describe(value)}`;
  const version = (value as Record<string, unknown>)[present[0]!];
  if (typeof version !== 'string' || version === '') return `${present[0]} must be a non-empty version string; got ${describe(version)}`;
  return undefined;
}

// abort: a bad event stops its range's own checks below, which need every event to be one.
const EventSchema = z.custom<RangeEvent>((v) => eventProblem(v) === undefined, { error: (iss) => eventProblem(iss.input) ?? 'not an event', abort: true });

/** Whether a range has an event of this kind (safe on anything: zod runs range checks on what it could read). */
const hasKind = (events: readonly unknown[], kind: EventKind) => events.some((e) => typeof e === 'object' && e !== null && kind in e);

const RangeSchema = z
  .looseObject(
    {
      type: z.enum(RANGE_TYPES, says('is missing: a range has a type (ECOSYSTEM, SEMVER or GIT)', 'the type must be ECOSYSTEM, SEMVER or GIT')),
      repo: optionalText('the repository of a GIT range'),
      events: z
        .array(EventSchema, says('is missing: a range has a list of events', 'must be a list of events'))
        .min(1, { error: 'a range must have at least one event' }),
      database_specific: openObject("the range's database_specific"),
    },
    says('', 'a range must be a JSON object like {"type": "ECOSYSTEM", "events": [...]}'),
  )
  // Both rules are the schema's own; a range that breaks them has no single reading, so matching must not guess one.
  .refine((r) => hasKind(r.events, 'introduced'), { error: 'a range must have an introduced event (use "0" for every version before)', path: ['events'] })
  .refine((r) => !(hasKind(r.events, 'fixed') && hasKind(r.events, 'last_affected')), {
    error: 'a range may have fixed or last_affected events, not both',
    path: ['events'],
  });

const PackageSchema = z.looseObject(
  {
    ecosystem: required('an ecosystem, e.g. npm or Debian:12'),
    name: required('a package name'),
    purl: optionalText('a package URL'),
  },
  says('', 'a package must be a JSON object like {"ecosystem": "npm", "name": "lodash"}'),
);

const AffectedSchema = z.looseObject(
  {
    // Optional: OSV.dev's records converted from CVEs name only GIT ranges of a repository, with no package.
    package: PackageSchema.optional(),
    severity: severities,
    ranges: z
      .array(RangeSchema, says('', 'must be a list of ranges'))
      .nullish()
      .transform((v) => v ?? []),
    versions: strings('an affected version'),
    ecosystem_specific: openObject("the affected package's ecosystem_specific"),
    database_specific: openObject("the affected package's database_specific"),
  },
  says('', 'an affected entry must be a JSON object like {"package": {...}, "ranges": [...]}'),
);

/** `related` was a list of ids and may become a list of {type, id}: either reads as the ids. */
const related = z
  .array(
    z.union([z.string(), z.looseObject({ id: z.string() })], says('', 'must be an id or a JSON object with an id (a related record)')),
    says('', 'must be a list of related ids'),
  )
  .nullish()
  .transform((v) => (v ?? []).map((r) => (typeof r === 'string' ? r : r.id)));

export const OsvRecordSchema = z.looseObject(
  {
    schema_version: optionalText('the OSV schema version'),
    id: required('an id, e.g. GHSA-35jh-r3h4-6jhm'),
    modified: time('a modified time'),
    published: time('a published time').optional(),
    withdrawn: time('a withdrawn time').optional(),
    aliases: strings('an alias'),
    upstream: strings('an upstream id'),
    related,
    summary: optionalText('a summary'),
    details: optionalText('details'),
    severity: severities,
    affected: z
      .array(AffectedSchema, says('', 'must be a list of affected packages'))
      .nullish()
      .transform((v) => v ?? []),
    database_specific: openObject("the record's database_specific"),
  },
  says('the record must be a JSON object; got nothing', 'the record must be a JSON object'),
);

/** A record as read: lists the schema lets be null or absent are empty lists here. */
export type OsvRecord = z.output<typeof OsvRecordSchema>;
export type Affected = OsvRecord['affected'][number];
export type AffectedRange = Affected['ranges'][number];
export type SeverityEntry = OsvRecord['severity'][number];

/** A record read: the record, or the first thing wrong with it as a sentence that names the field. */
export type ParsedRecord = { ok: true; record: OsvRecord } | { ok: false; problem: string };

/** `json` (parsed JSON of one record) checked and read; never throws. */
export function parseOsvRecord(json: unknown): ParsedRecord {
  const result = OsvRecordSchema.safeParse(json);
  if (result.success) return { ok: true, record: result.data };
  const issue = result.error.issues[0];
  if (issue === undefined) return { ok: false, problem: 'the record does not read as OSV' };
  const where = fieldPath(issue.path);
  return { ok: false, problem: where === '' ? issue.message : `${where}: ${issue.message}` };
}

/** A path as the record's reader writes it: `affected[0].ranges[1].events[2]`. */
function fieldPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) out += typeof key === 'number' ? `[${key}]` : out === '' ? String(key) : `.${String(key)}`;
  return out;
}

/** An event's kind and version, for code that walks a range. */
export function eventOf(event: RangeEvent): { kind: EventKind; version: string } {
  if ('introduced' in event) return { kind: 'introduced', version: event.introduced };
  if ('fixed' in event) return { kind: 'fixed', version: event.fixed };
  if ('last_affected' in event) return { kind: 'last_affected', version: event.last_affected };
  return { kind: 'limit', version: event.limit };
}

/**
 * An ecosystem string split at its first colon: `Debian:12` is base `Debian`, release `12`; `Alpine:v3.20` is
 * `Alpine`, `v3.20`; `Ubuntu:22.04:LTS` is `Ubuntu`, `22.04:LTS`; `npm` has no release (undefined). The schema
 * scopes a record to a release with this suffix (for Maven and Packagist the suffix is a repository URL instead).
 */
export function splitEcosystem(ecosystem: string): { base: string; release: string | undefined } {
  const colon = ecosystem.indexOf(':');
  if (colon < 0) return { base: ecosystem, release: undefined };
  const release = ecosystem.slice(colon + 1);
  return { base: ecosystem.slice(0, colon), release: release === '' ? undefined : release };
}
