import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { calendarDate, insidePath, parseConfig, parseDuration } from '../../src/config/parse.js';
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
      'codehub-build.yaml:4:5: unknown key "dockerfil" at images[0] (expected one of: name, context, dockerfile, target, args, secrets, branches, paths, tags, platforms, timeout, cancel_superseded, scan)',
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

  it('reads platforms BuildKit builds for, in the order written', () => {
    for (const good of [['linux/amd64'], ['linux/arm64', 'linux/amd64'], ['linux/arm64/v8'], ['linux/arm/v7', 'linux/amd64', 'linux/arm64']]) {
      const one = parseConfig(`version: 1\nimages:\n  - platforms: [${good.join(', ')}]\n`, 'shop');
      expect(one.ok && one.value.images[0]!.platforms).toEqual(good);
    }
    const none = parseConfig('version: 1\nimages:\n  - platforms: []\n', 'shop');
    expect(none.ok && none.value.images[0]!.platforms).toEqual([]);
  });

  it("refuses an unknown platform with parsePlatform's reason, at its key path, line and column", () => {
    const yaml = [
      'version: 1',
      'images:',
      '  - name: web',
      '    platforms:',
      '      - linux/amd64',
      '      - linux/amd46',
      '      - linux/x86_64',
      '  - name: api',
      '    platforms: [windows/amd64, linux/arm/v9, linux]',
      '',
    ].join('\n');
    expect(errorsOf(yaml)).toEqual([
      'codehub-build.yaml:6:9: images[0].platforms[1]: "linux/amd46": unknown architecture "amd46" (known: 386, amd64, arm64, arm, ppc64le, s390x, riscv64, mips64le, mips64, loong64)',
      'codehub-build.yaml:7:9: images[0].platforms[2]: "linux/x86_64": write linux/amd64 (BuildKit\'s name for x86_64)',
      'codehub-build.yaml:9:17: images[1].platforms[0]: "windows/amd64": the operating system "windows" is not one BuildKit builds for here (linux)',
      'codehub-build.yaml:9:32: images[1].platforms[1]: "linux/arm/v9": arm has the variants v5, v6, v7, not "v9"',
      'codehub-build.yaml:9:46: images[1].platforms[2]: "linux" is not a platform like linux/amd64 or linux/arm64 (os/architecture[/variant])',
    ]);
    expect(errorsOf('version: 1\nimages:\n  - platforms: linux/amd64\n')).toEqual(['codehub-build.yaml:3:16: images[0].platforms: expected a list of strings']);
    expect(errorsOf('version: 1\nimages:\n  - platforms: [linux/amd64, 64]\n')).toEqual([
      'codehub-build.yaml:3:30: images[0].platforms: expected a non-empty string',
    ]);
  });

  it('refuses a platform listed twice, naming both entries (also when BuildKit reads two spellings as one)', () => {
    expect(errorsOf('version: 1\nimages:\n  - platforms: [linux/amd64, linux/arm64, linux/amd64]\n')).toEqual([
      'codehub-build.yaml:3:43: images[0].platforms[2]: "linux/amd64" is listed twice (images[0].platforms[0] and images[0].platforms[2])',
    ]);
    expect(errorsOf('version: 1\nimages:\n  - platforms:\n    - linux/arm64\n    - linux/arm64/v8\n    - linux/arm\n    - linux/arm/v7\n')).toEqual([
      'codehub-build.yaml:5:7: images[0].platforms[1]: "linux/arm64/v8" is "linux/arm64" again, as BuildKit reads it (images[0].platforms[0] and images[0].platforms[1])',
      'codehub-build.yaml:7:7: images[0].platforms[3]: "linux/arm/v7" is "linux/arm" again, as BuildKit reads it (images[0].platforms[2] and images[0].platforms[3])',
    ]);
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

describe('parseConfig: scan', () => {
  const image = (scan: string) => `version: 1\nimages:\n  - name: web\n    scan:\n${scan}`;

  it("reads DESIGN.md's example whole", () => {
    const r = parseConfig(
      image(`      fail_on: high
      ignore_unfixed: false
      allow:
        - { id: CVE-2021-23337, package: lodash, until: 2027-03-31, reason: "template() is never called" }
      vex: [security/openvex.json]
`),
      'shop',
    );
    expect(r.ok && r.value.images[0]!.scan).toEqual({
      failOn: 'high',
      ignoreUnfixed: false,
      allow: [{ id: 'CVE-2021-23337', package: 'lodash', until: '2027-03-31', reason: 'template() is never called' }],
      vex: ['security/openvex.json'],
    });
  });

  it('fills the defaults and leaves fail_on to the server when the file does not set it', () => {
    const r = parseConfig(image('      ignore_unfixed: true\n      vex: [./security//a.json, b.json]\n'), 'shop');
    expect(r.ok && r.value.images[0]!.scan).toEqual({ ignoreUnfixed: true, allow: [], vex: ['security/a.json', 'b.json'] });
    const empty = parseConfig(image('      {}\n'), 'shop');
    expect(empty.ok && empty.value.images[0]!.scan).toEqual({ ignoreUnfixed: false, allow: [], vex: [] });
  });

  it('reads the scan: key of codehub-build.yaml.example as documented', () => {
    const r = parseConfig(readFileSync(new URL('../../codehub-build.yaml.example', import.meta.url), 'utf8'), 'shop');
    expect(r.ok && r.value.images.map((i) => i.scan)).toEqual([
      {
        failOn: 'high',
        ignoreUnfixed: false,
        allow: [{ id: 'CVE-2021-23337', package: 'lodash', until: '2027-03-31', reason: 'template() is never called' }],
        vex: ['security/openvex.json'],
      },
      undefined,
    ]);
  });

  it('adds no scan key to an image that has none, so stored configs read as before', () => {
    const r = parseConfig('version: 1\nimages:\n  - name: web\n', 'shop');
    expect(r.ok && Object.keys(r.value.images[0]!)).not.toContain('scan');
  });

  it('names each bad value with its key path, line and column', () => {
    expect(errorsOf(image('      fail_on: severe\n'))).toEqual([
      'codehub-build.yaml:5:16: images[0].scan.fail_on: expected one of critical, high, medium, low, none',
    ]);
    expect(errorsOf(image('      ignore_unfixed: "yes"\n'))).toEqual(['codehub-build.yaml:5:23: images[0].scan.ignore_unfixed: expected true or false']);
    expect(errorsOf(image('      failon: high\n'))).toEqual([
      'codehub-build.yaml:5:7: unknown key "failon" at images[0].scan (expected one of: fail_on, ignore_unfixed, allow, vex)',
    ]);
    expect(errorsOf(image('      vex: [../other/openvex.json, /etc/vex.json, "."]\n'))).toEqual([
      'codehub-build.yaml:5:13: images[0].scan.vex: "../other/openvex.json" is not a file inside the repository',
      'codehub-build.yaml:5:36: images[0].scan.vex: "/etc/vex.json" is not a file inside the repository',
      'codehub-build.yaml:5:51: images[0].scan.vex: "." is not a file inside the repository',
    ]);
    expect(errorsOf(image('      allow: CVE-2021-23337\n'))[0]).toBe(
      'codehub-build.yaml:5:14: images[0].scan.allow: expected a list of allowances like { id: CVE-2021-23337, until: 2027-03-31, reason: "..." }',
    );
    expect(errorsOf('version: 1\nimages:\n  - scan: strict\n')).toEqual([
      'codehub-build.yaml:3:11: images[0].scan: expected a mapping with keys fail_on, ignore_unfixed, allow, vex',
    ]);
  });

  it('holds each allowance to an id, a real date and a reason, and says which one is wrong', () => {
    const errs = errorsOf(
      image(`      allow:
        - { id: CVE-2021-23337, until: 2027-03-31, reason: ok }
        - { id: CVE-2021-23337, until: 2027-02-30, reason: ok }
        - { id: CVE-2021-23337, until: 31/03/2027, reason: ok }
        - { id: CVE-2021-23337, until: 2027-03-31 }
        - { id: CVE-2021-23337, until: 2027-03-31, reason: "  " }
        - { until: 2027-03-31, reason: ok, pkg: lodash }
        - { id: CVE-2021-23337, reason: ok }
        - { id: CVE-2021-23337, until: 2027-03-31, reason: ok, package: "" }
`),
    );
    expect(errs).toEqual([
      'codehub-build.yaml:7:40: images[0].scan.allow[1].until: expected a calendar date YYYY-MM-DD',
      'codehub-build.yaml:8:40: images[0].scan.allow[2].until: expected a calendar date YYYY-MM-DD',
      'codehub-build.yaml:9:11: images[0].scan.allow[3]: missing key "reason" (each allowance names why)',
      'codehub-build.yaml:10:60: images[0].scan.allow[4].reason: expected a non-empty sentence saying why (each allowance names why)',
      'codehub-build.yaml:11:44: unknown key "pkg" at images[0].scan.allow[5] (expected one of: id, package, until, reason)',
      'codehub-build.yaml:11:11: images[0].scan.allow[5]: missing key "id" (the vulnerability\'s id or any of its aliases, e.g. CVE-2021-23337)',
      'codehub-build.yaml:12:11: images[0].scan.allow[6]: missing key "until" (each allowance expires: a date like 2027-03-31)',
      'codehub-build.yaml:13:73: images[0].scan.allow[7].package: expected a non-empty string',
    ]);
  });

  it('reads a leap day only in a leap year', () => {
    expect(parseConfig(image('      allow: [{ id: X, until: 2028-02-29, reason: ok }]\n'), 'shop').ok).toBe(true);
    expect(errorsOf(image('      allow: [{ id: X, until: 2027-02-29, reason: ok }]\n'))[0]).toContain('allow[0].until: expected a calendar date');
  });
});

describe('calendarDate', () => {
  it.each([
    ['2027-03-31', '2027-03-31T00:00:00.000Z'],
    ['2028-02-29', '2028-02-29T00:00:00.000Z'],
    ['2027-02-29', null],
    ['2027-13-01', null],
    ['2027-04-31', null],
    ['2027-3-31', null],
    ['2027-03-31T00:00:00Z', null],
  ])('%s -> %s', (text, want) => expect(calendarDate(text)?.toISOString() ?? null).toBe(want));
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
