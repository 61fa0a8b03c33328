/**
 * The API's request schemas (src/api/requests.ts) say what today's hand-written checks said: every problem at
 * once, each naming its field, in the words the routes' tests and the CLI already show.
 */
import { describe, expect, it } from 'vitest';
import {
  BadgeRequest,
  BuildListQuery,
  LinkRequest,
  MemberRequest,
  NewTokenRequest,
  NewUserRequest,
  parseRequest,
  RetentionRequest,
  UploadBuildRequest,
} from '../../src/api/requests.js';

const problems = (schema: Parameters<typeof parseRequest>[0], value: unknown): string[] => {
  const r = parseRequest(schema, value);
  if (r.ok) throw new Error(`expected problems, got ${JSON.stringify(r.value)}`);
  return r.problems;
};

describe('parseRequest', () => {
  it('gives the value with its defaults filled in', () => {
    expect(parseRequest(UploadBuildRequest, {})).toEqual({ ok: true, value: { dockerfile: 'Dockerfile', build_args: {}, secrets: {}, no_cache: false } });
    expect(parseRequest(BuildListQuery, { commit: 'ABCD', limit: '7' })).toEqual({ ok: true, value: { commit: 'abcd', limit: 7 } });
  });

  it('names an unknown field first, each on its own, cut short', () => {
    expect(problems(NewTokenRequest, { scopes: 'read,push', expires: 1, owner: 'x' })).toEqual([
      'unknown field "expires": the fields are scopes, label, expires_in_days',
      'unknown field "owner": the fields are scopes, label, expires_in_days',
      'scopes must be a list of scope names, e.g. ["read", "push"]; got "read,push"',
    ]);
    expect(problems(NewUserRequest, { name: 'a', ['k'.repeat(100)]: 1 })).toEqual([`unknown field "${'k'.repeat(60)}": the fields are name`]);
  });

  it('says one problem per field, however many checks it fails', () => {
    expect(problems(RetentionRequest, { keep: -1.5 })).toEqual([
      "keep must be a whole number from 0 to 10000 (builds per branch), or null for the server's default; got -1.5",
    ]);
    expect(problems(LinkRequest, { url: 'https://x/a/b', forge: 'github', webhook_secret: '' })).toEqual(['webhook_secret must be a non-empty string']);
  });
});

describe('the admin bodies (as checkNewUser and checkNewToken said)', () => {
  it('names the field and what came', () => {
    expect(problems(NewUserRequest, { name: 5 })).toEqual(["name must be a string (the new user's name); got 5"]);
    expect(problems(NewUserRequest, {})).toEqual(["name must be a string (the new user's name); got nothing"]);
    expect(problems(NewUserRequest, ['alice'])).toEqual(['the body must be a JSON object like {"name": "alice"}; got ["alice"]']);
    expect(problems(NewTokenRequest, { scopes: 'read,push', label: 7 })).toEqual([
      'scopes must be a list of scope names, e.g. ["read", "push"]; got "read,push"',
      'label must be a string; got 7',
    ]);
    expect(problems(NewTokenRequest, { scopes: [1] })[0]).toMatch(/^scopes must be/);
    expect(parseRequest(NewTokenRequest, { scopes: ['read'], label: 'ci' })).toEqual({ ok: true, value: { scopes: ['read'], label: 'ci' } });
  });
});

describe("a repo's settings", () => {
  it('retention: keep and days, each whole and in range or null, and at least one', () => {
    expect(parseRequest(RetentionRequest, { keep: 3, days: 0 })).toEqual({ ok: true, value: { keep: 3, days: 0 } });
    expect(parseRequest(RetentionRequest, { keep: null })).toEqual({ ok: true, value: { keep: null } });
    expect(problems(RetentionRequest, { keep: -1, days: 100000, colour: 'red' })).toEqual([
      'unknown field "colour": only keep and days can be set',
      "keep must be a whole number from 0 to 10000 (builds per branch), or null for the server's default; got -1",
      "days must be a whole number from 0 to 3650 (days), or null for the server's default; got 100000",
    ]);
    expect(problems(RetentionRequest, { keep: '3' })).toHaveLength(1);
    expect(problems(RetentionRequest, [])).toEqual(['the body must be a JSON object like {"keep": 10, "days": 30}']);
    expect(problems(RetentionRequest, {})).toEqual(['give keep, days or both, e.g. {"keep": 10, "days": 30}']);
    expect(problems(RetentionRequest, { colour: 'red' })).toEqual(['unknown field "colour": only keep and days can be set']);
  });

  it('badge and member: one sentence for any wrong body; other fields ignored, as before', () => {
    for (const body of [null, [], 'x', {}, { public: 'yes' }])
      expect(problems(BadgeRequest, body)).toEqual(['the body must be {"public": true} or {"public": false}']);
    expect(parseRequest(BadgeRequest, { public: true, other: 1 })).toEqual({ ok: true, value: { public: true } });
    for (const body of [null, {}, { role: 'admin' }]) expect(problems(MemberRequest, body)).toEqual(['the body must be {"role": "read"} or {"role": "write"}']);
    expect(parseRequest(MemberRequest, { role: 'write' })).toEqual({ ok: true, value: { role: 'write' } });
  });
});

describe('a link to a forge (the shape; the service checks the forge, the URL and the hosts)', () => {
  const VALID = { url: 'https://github.com/a/b', forge: 'github', webhook_secret: 'x'.repeat(16) };
  it('requires url, forge and webhook_secret, each a non-empty string', () => {
    expect(problems(LinkRequest, {})).toEqual(['url is required', 'forge is required', 'webhook_secret is required']);
    expect(problems(LinkRequest, { ...VALID, webhook_secret: null })).toEqual(['webhook_secret is required']);
    expect(problems(LinkRequest, { url: 1, forge: '', webhook_secret: [], status_token: '', api_url: 2 })).toEqual([
      'url must be a non-empty string',
      'forge must be a non-empty string',
      'webhook_secret must be a non-empty string',
      'status_token must be a non-empty string',
      'api_url must be a non-empty string',
    ]);
    expect(problems(LinkRequest, [])).toEqual(['the body must be a JSON object: {"url", "forge", "webhook_secret", "status_token", "api_url"}']);
    expect(problems(LinkRequest, { ...VALID, extra: 1 })).toEqual(['unknown field "extra": the fields are url, forge, webhook_secret, status_token, api_url']);
    expect(parseRequest(LinkRequest, { ...VALID, status_token: null })).toEqual({ ok: true, value: { ...VALID, status_token: null } });
  });
  it('bounds the secret and the token', () => {
    expect(problems(LinkRequest, { ...VALID, webhook_secret: 'x'.repeat(15) })).toEqual([
      expect.stringMatching(/^webhook_secret must be at least 16 characters/),
    ]);
    expect(problems(LinkRequest, { ...VALID, webhook_secret: 'x'.repeat(65537) })).toEqual(['webhook_secret is longer than 65536 bytes']);
    for (const token of ['a b', 'a\nb', 'x'.repeat(4097)]) {
      expect(problems(LinkRequest, { ...VALID, status_token: token })).toEqual([
        'status_token must be at most 4096 characters without spaces or control characters',
      ]);
    }
  });
});

describe("an upload's build request (the shape; the service checks the tag's namespace and the Dockerfile)", () => {
  it('names every field that is wrong', () => {
    expect(
      problems(UploadBuildRequest, {
        tag: 5,
        dockerfile: '',
        target: 'a b',
        build_args: { '1x': 'v', OK: 2 },
        secrets: { 'bad-id': 'v' },
        no_cache: 'yes',
        platforms: ['linux', 'x/y', 7],
        extra: 1,
      }),
    ).toEqual([
      'unknown field "extra": the fields are tag, dockerfile, target, build_args, secrets, no_cache, platforms',
      'tag must be a string like "web:try1"',
      "dockerfile must be the Dockerfile's path in the folder",
      'target must be a build stage name (letters, digits, _ . -)',
      'build arg "1x" is not a valid name',
      'build_args.OK must be a string',
      'secret id "bad-id" is not valid: letters, digits and _, at most 64, not starting with a digit',
      'no_cache must be true or false',
      'platforms must be a list of platforms like linux/amd64',
    ]);
    expect(problems(UploadBuildRequest, 'x')).toEqual([
      'the body must be a JSON object: { "tag", "dockerfile", "target", "build_args", "secrets", "no_cache", "platforms" }',
    ]);
    expect(problems(UploadBuildRequest, { build_args: [] })).toEqual(['build_args must be an object of names to string values']);
  });
  it('bounds the secrets', () => {
    expect(problems(UploadBuildRequest, { secrets: { BIG: 'x'.repeat(65537) } })).toEqual(['secret BIG is larger than 65536 bytes']);
    expect(problems(UploadBuildRequest, { secrets: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`S${i}`, 'v'])) })).toEqual(['at most 32 secrets']);
  });
  it("refuses an unknown platform with parsePlatform's reason, naming its index", () => {
    expect(problems(UploadBuildRequest, { platforms: ['linux/amd64', 'linux/amd46', 'linux/x86_64', 'windows/amd64', 'linux/arm/v9', 'linux'] })).toEqual([
      'platforms[1]: "linux/amd46": unknown architecture "amd46" (known: 386, amd64, arm64, arm, ppc64le, s390x, riscv64, mips64le, mips64, loong64)',
      'platforms[2]: "linux/x86_64": write linux/amd64 (BuildKit\'s name for x86_64)',
      'platforms[3]: "windows/amd64": the operating system "windows" is not one BuildKit builds for here (linux)',
      'platforms[4]: "linux/arm/v9": arm has the variants v5, v6, v7, not "v9"',
      'platforms[5]: "linux" is not a platform like linux/amd64 or linux/arm64 (os/architecture[/variant])',
    ]);
    expect(problems(UploadBuildRequest, { platforms: 'linux/amd64' })).toEqual(['platforms must be a list of platforms like linux/amd64']);
  });
  it('takes the platforms BuildKit builds for, in the order sent, and refuses one sent twice', () => {
    const platforms = ['linux/arm/v7', 'linux/arm64', 'linux/amd64'];
    expect(parseRequest(UploadBuildRequest, { platforms })).toEqual({ ok: true, value: expect.objectContaining({ platforms }) });
    expect(parseRequest(UploadBuildRequest, { platforms: ['linux/arm64/v8'] })).toEqual({
      ok: true,
      value: expect.objectContaining({ platforms: ['linux/arm64/v8'] }),
    });
    expect(problems(UploadBuildRequest, { platforms: ['linux/amd64', 'linux/arm64', 'linux/amd64', 'linux/arm64/v8'] })).toEqual([
      'platforms[2]: "linux/amd64" is listed twice (platforms[0] and platforms[2])',
      'platforms[3]: "linux/arm64/v8" is "linux/arm64" again, as BuildKit reads it (platforms[1] and platforms[3])',
    ]);
  });
  it('takes null for target and platforms, as before', () => {
    expect(parseRequest(UploadBuildRequest, { tag: 'web', target: null, platforms: null, no_cache: true })).toEqual({
      ok: true,
      value: { tag: 'web', dockerfile: 'Dockerfile', target: null, build_args: {}, secrets: {}, no_cache: true, platforms: null },
    });
  });
});

describe("GET /api/builds's query", () => {
  it.each([
    ['commit=xyz', 'commit must be 4 to 40 hex digits; got "xyz"'],
    ['commit=abc', 'commit must be 4 to 40 hex digits'],
    ['limit=0', 'limit must be a whole number from 1 to 200'],
    ['limit=9999', 'limit must be'],
    ['limit=x', 'limit must be'],
    ['limit=2.5', 'limit must be'],
    ['status=done', 'status must be one of queued, running, succeeded, failed, canceled, skipped; got "done"'],
    ['source=git', 'source must be push or upload'],
    ['repo=../etc', 'owner name ".." is invalid'],
    ['repo=justone', 'repo must be <owner>/<name>'],
    ['cursor=-1', 'cursor must be a value from next_cursor'],
    ['cursor=x', 'cursor must be'],
  ])('%s: %s', (query, message) => {
    expect(problems(BuildListQuery, Object.fromEntries(new URLSearchParams(query))).join('; ')).toContain(message);
  });
  it('reports every bad parameter at once, and ignores others', () => {
    expect(problems(BuildListQuery, { limit: '0', status: 'done', other: 'x' })).toHaveLength(2);
    expect(parseRequest(BuildListQuery, { repo: 'a/b', ref: 'main', status: 'failed', source: 'push', cursor: '12', other: 'x' })).toEqual({
      ok: true,
      value: { repo: 'a/b', ref: 'main', status: 'failed', source: 'push', limit: 50, cursor: 12 },
    });
  });
});
