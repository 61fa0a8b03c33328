import { describe, expect, it } from 'vitest';
import { insidePath, parseConfig, parseDuration } from '../../src/config/parse.js';
import { formatProblem } from '../../src/config/types.js';

const errorsOf = (text: string) => {
  const r = parseConfig(text, 'shop');
  if (r.ok) throw new Error('expected errors, got ' + JSON.stringify(r.value));
  return r.errors.map(formatProblem);
};

describe('parseConfig', () => {
  it('fills every default for a minimal image', () => {
    const r = parseConfig('version: 1\nimages:\n  - {}\n', 'shop');
    expect(r.ok && r.value.images).toEqual([
      {
        name: 'shop',
        context: '.',
        dockerfile: 'Dockerfile',
        target: null,
        args: {},
        secrets: [],
        branches: null,
        paths: null,
        tags: ['{branch}', '{sha}'],
        platforms: [],
        timeoutSeconds: null,
        cancelSuperseded: true,
      },
    ]);
  });

  it('reads every documented key', () => {
    const r = parseConfig(
      `version: 1
images:
  - name: web
    context: ./web/
    dockerfile: docker/Dockerfile.prod
    target: runtime
    args: { NODE_ENV: production, PORT: 8080, DEBUG: false }
    secrets: [npm_token]
    branches: [main, "release/*"]
    paths: ["web/**"]
    tags: ["{branch}", "{short_sha}", "b{build}"]
    platforms: [linux/amd64]
    timeout: 1h30m
    cancel_superseded: false
`,
      'shop',
    );
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.images[0]).toEqual({
      name: 'web',
      context: 'web',
      dockerfile: 'docker/Dockerfile.prod',
      target: 'runtime',
      args: { NODE_ENV: 'production', PORT: '8080', DEBUG: 'false' },
      secrets: ['npm_token'],
      branches: ['main', 'release/*'],
      paths: ['web/**'],
      tags: ['{branch}', '{short_sha}', 'b{build}'],
      platforms: ['linux/amd64'],
      timeoutSeconds: 5400,
      cancelSuperseded: false,
    });
  });

  it('names file, line and column of a YAML syntax error', () => {
    const errs = errorsOf('version: 1\nimages:\n  - name: web\n    args: { A: 1\n');
    expect(errs[0]).toMatch(/^codehub-build\.yaml:\d+:\d+: /);
    expect(errs[0]).toMatch(/flow|map|\}/i);
  });

  it('rejects unknown keys where they stand', () => {
    expect(errorsOf('version: 1\nimages:\n  - name: web\n    dockerfil: x\n')).toEqual([
      'codehub-build.yaml:4:5: unknown key "dockerfil" at images[0] (expected one of: name, context, dockerfile, target, args, secrets, branches, paths, tags, platforms, timeout, cancel_superseded)',
    ]);
    expect(errorsOf('version: 1\nimage: []\n')[0]).toMatch(/^codehub-build\.yaml:2:1: unknown key "image" at top level/);
  });

  it('refuses a context or dockerfile that leaves the repository', () => {
    expect(errorsOf('version: 1\nimages:\n  - context: ../..\n')).toEqual([
      'codehub-build.yaml:3:14: images[0].context: "../.." leaves the repository; use a folder inside it',
    ]);
    expect(errorsOf('version: 1\nimages:\n  - context: /etc\n')[0]).toContain('leaves the repository');
    expect(errorsOf('version: 1\nimages:\n  - context: web\n    dockerfile: ../Dockerfile\n')[0]).toContain('is not a file inside the context "web"');
  });

  it('reports wrong types, versions and names, all at once', () => {
    const errs = errorsOf('version: 2\nimages:\n  - name: Web!\n    tags: "{branch}"\n    timeout: soon\n    args: { "bad-name": x }\n');
    expect(errs).toEqual([
      'codehub-build.yaml:1:10: expected version: 1',
      "codehub-build.yaml:3:11: images[0].name: image name \"Web!\" is invalid: use lowercase letters and digits, joined by single '.', '_' or '-'",
      'codehub-build.yaml:6:13: images[0].args: "bad-name" is not a build-arg name (letters, digits, _)',
      'codehub-build.yaml:4:11: images[0].tags: expected a list of strings',
      'codehub-build.yaml:5:14: images[0].timeout: expected a duration like 90s, 30m or 1h30m (at most 24h)',
    ]);
  });

  it('rejects unknown tag placeholders, duplicate image names and missing keys', () => {
    expect(errorsOf('version: 1\nimages:\n  - tags: ["{branch}-{when}"]\n')[0]).toContain('unknown placeholder {when}');
    expect(errorsOf('version: 1\nimages:\n  - name: a\n  - name: a\n')[0]).toContain('image name "a" is used twice');
    expect(errorsOf('images:\n  - {}\n')[0]).toContain('missing key "version"');
    expect(errorsOf('version: 1\n')[0]).toContain('missing key "images"');
    expect(errorsOf('- a\n- b\n')[0]).toContain('expected a mapping');
  });

  it('does not expand aliases, so an alias bomb is a type error and not a memory blow-up', () => {
    const bomb =
      'a: &a ["x","x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n' +
      'version: 1\nimages:\n  - args: { A: *c }\n';
    const errs = errorsOf(bomb);
    expect(errs.some((e) => e.includes('unknown key "a"'))).toBe(true);
    expect(errs.some((e) => e.includes('images[0].args.A: expected a string'))).toBe(true);
  });

  it('refuses an oversized file before parsing it', () => {
    expect(errorsOf('#'.repeat(70_000))[0]).toContain('larger than 65536 bytes');
  });
});

describe('insidePath', () => {
  it.each([
    ['.', '.'],
    ['./', '.'],
    ['web', 'web'],
    ['web/../api/', 'api'],
    ['a//b', 'a/b'],
    ['..', null],
    ['../x', null],
    ['a/../../x', null],
    ['/abs', null],
    ['a\\..\\b', null],
  ])('%s -> %s', (p, want) => expect(insidePath(p)).toBe(want));
});

describe('parseDuration', () => {
  it.each([
    ['90s', 90],
    ['30m', 1800],
    ['1h30m', 5400],
    [45, 45],
    ['', null],
    ['soon', null],
    [1.5, null],
  ])('%s -> %s', (v, want) => {
    expect(parseDuration(v)).toBe(want);
  });
});
