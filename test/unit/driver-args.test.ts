/**
 * One suite for every driver's command line: whatever the client, a request must reach it whole (tags,
 * args, labels, target, platforms), secrets only by reference, and user text only as separate arguments.
 */
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { buildctlArgs } from '../../src/builder/buildctl.js';
import { buildxArgs } from '../../src/builder/buildx.js';
import type { BuildRequest } from '../../src/builder/driver.js';
import { BuilderSpecError, parseBuilders } from '../../src/builder/pool.js';

// A file made unreadable: as root (CI) a mode-000 file is readable anyway, so the access check is told it is not.
const unreadable = vi.hoisted(() => new Set<string>());
vi.mock('node:fs', async (importOriginal) => {
  const orig = await importOriginal<typeof import('node:fs')>();
  const accessSync: typeof orig.accessSync = (path, mode) => {
    if (unreadable.has(String(path))) throw Object.assign(new Error(`EACCES: permission denied, access '${String(path)}'`), { code: 'EACCES' });
    orig.accessSync(path, mode);
  };
  return { ...orig, default: { ...orig, accessSync }, accessSync };
});

const request: BuildRequest = {
  dockerfile: 'docker/Dockerfile',
  target: 'runtime',
  args: { NODE_ENV: 'production', TRICKY: '$(id); `x` | y' },
  labels: { 'org.opencontainers.image.revision': 'abc' },
  tags: ['r:5000/a/web:main', 'r:5000/a/web:abc'],
  platforms: ['linux/amd64'],
  secrets: { npm_token: 'S3CR3T-VALUE' },
  workDir: '/tmp/w',
};

const drivers: [string, (r: BuildRequest) => string[]][] = [
  ['buildx', (r) => buildxArgs(r, { metadataFile: '/tmp/w/metadata.json' })],
  ['buildctl', (r) => buildctlArgs(r, { addr: 'tcp://bk:1234', contextDir: '/tmp/w/context', metadataFile: '/tmp/w/metadata.json' })],
];

describe.each(drivers)('%s arguments', (_name, argv) => {
  const args = argv(request);
  const joined = args.join('\n');

  it('carry every tag, build arg, label, the target, the platforms and the metadata file', () => {
    for (const t of request.tags) expect(joined).toContain(t);
    expect(joined).toContain('NODE_ENV=production');
    expect(joined).toContain('org.opencontainers.image.revision=abc');
    expect(joined).toContain('runtime');
    expect(joined).toContain('linux/amd64');
    expect(joined).toContain('docker/Dockerfile');
    expect(args).toContain('/tmp/w/metadata.json');
    expect(args).toContain('--progress=rawjson');
  });

  it('give ids differing only in case their own environment variables', () => {
    const both = argv({ ...request, secrets: { npm_token: 'a', NPM_TOKEN: 'b' } }).filter((a) => a.startsWith('id='));
    expect(new Set(both.map((a) => a.split('env=')[1])).size).toBe(2);
  });

  it('name secrets by id and environment variable, never by value', () => {
    expect(joined).not.toContain('S3CR3T-VALUE');
    expect(args).toContain('id=npm_token,env=CODEHUB_SECRET_6e706d5f746f6b656e');
  });

  it('keep shell syntax in values as data inside one argument', () => {
    expect(args.some((a) => a.endsWith('TRICKY=$(id); `x` | y'))).toBe(true);
  });

  it('leave out what the request does not ask for', () => {
    const bare = argv({ ...request, target: null, args: {}, labels: {}, platforms: [], secrets: {} });
    expect(bare.join(' ')).not.toMatch(/target|build-arg|label|platform|--secret|--no-cache/);
  });

  it('ask for no cache only when the push did (git push -o no-cache)', () => {
    expect(argv({ ...request, noCache: true })).toContain('--no-cache');
    expect(argv({ ...request, noCache: false })).not.toContain('--no-cache');
  });
});

describe('buildctlArgs', () => {
  it('builds a folder context with the dockerfile frontend and pushes all tags from one image output', () => {
    expect(buildctlArgs({ ...request, args: { A: '1' }, secrets: {} }, { addr: 'tcp://bk:1234', contextDir: '/c', metadataFile: '/m.json' })).toEqual([
      '--addr',
      'tcp://bk:1234',
      'build',
      '--progress=rawjson',
      '--frontend',
      'dockerfile.v0',
      '--local',
      'context=/c',
      '--local',
      'dockerfile=/c',
      '--opt',
      'filename=docker/Dockerfile',
      '--opt',
      'target=runtime',
      '--opt',
      'build-arg:A=1',
      '--opt',
      'label:org.opencontainers.image.revision=abc',
      '--opt',
      'platform=linux/amd64',
      '--output',
      'type=image,"name=r:5000/a/web:main,r:5000/a/web:abc",push=true',
      '--metadata-file',
      '/m.json',
    ]);
  });
});

describe('buildctlArgs with the registry cache', () => {
  const cached: BuildRequest = {
    ...request,
    args: {},
    labels: {},
    target: null,
    platforms: [],
    secrets: {},
    tags: ['r/a/web:main'],
    cache: { imageRefs: ['r/a/web:feature'], cacheRefs: ['r/a/web:cache-feature', 'r/a/web:cache-main'], exportRef: 'r/a/web:cache-feature' },
  };
  const opts = { addr: 'tcp://bk:1234', contextDir: '/data/checkouts/trees/0123456789abcdef-0', metadataFile: '/m.json' };

  it("exports mode=max to the branch's reference and imports every cache reference, from the kept work tree", () => {
    expect(buildctlArgs(cached, opts)).toEqual([
      '--addr',
      'tcp://bk:1234',
      'build',
      '--progress=rawjson',
      '--frontend',
      'dockerfile.v0',
      '--local',
      'context=/data/checkouts/trees/0123456789abcdef-0',
      '--local',
      'dockerfile=/data/checkouts/trees/0123456789abcdef-0',
      '--opt',
      'filename=docker/Dockerfile',
      '--export-cache',
      'type=registry,ref=r/a/web:cache-feature,mode=max,image-manifest=true,oci-mediatypes=true,ignore-error=true',
      '--import-cache',
      'type=registry,ref=r/a/web:cache-feature',
      '--import-cache',
      'type=registry,ref=r/a/web:cache-main',
      '--output',
      'type=image,"name=r/a/web:main",push=true',
      '--metadata-file',
      '/m.json',
    ]);
  });

  it('imports nothing with no-cache, and still exports', () => {
    const args = buildctlArgs({ ...cached, noCache: true }, opts);
    expect(args).toContain('--no-cache');
    expect(args).not.toContain('--import-cache');
    expect(args).toContain('--export-cache');
  });
});

describe('parseBuilders', () => {
  it('reads names, tcp and buildctl addresses with optional capacities', () => {
    expect(parseBuilders([], 2)).toEqual([{ target: 'local', capacity: 2 }]);
    expect(parseBuilders(['local=3', 'tcp://buildkitd:1234', 'buildctl+tcp://10.0.0.5:1234=4', 'ci-builder'], 2)).toEqual([
      { target: 'local', capacity: 3 },
      { target: 'tcp://buildkitd:1234', capacity: 2 },
      { target: 'buildctl+tcp://10.0.0.5:1234', capacity: 4 },
      { target: 'ci-builder', capacity: 2 },
    ]);
  });
  it('refuses entries that are neither, with the entry in the message', () => {
    expect(() => parseBuilders(['local=0'], 2)).toThrow(BuilderSpecError);
    expect(() => parseBuilders(['http://x:1'], 2)).toThrow(/"http:\/\/x:1" is not a builder name/);
    expect(() => parseBuilders(['$(rm -rf /)'], 2)).toThrow(/is not a builder name/);
    expect(() => parseBuilders(['local', 'local=2'], 2)).toThrow(/lists builder local twice/);
  });

  describe('TLS parameters', () => {
    // Files that exist (their contents do not matter to parsing); one folder in the tls=DIR layout.
    const dir = mkdtempSync(join(tmpdir(), 'chb-tls-'));
    for (const f of ['ca.pem', 'cert.pem', 'key.pem', 'other-ca.pem']) writeFileSync(join(dir, f), 'x');
    const [ca, cert, key] = ['ca.pem', 'cert.pem', 'key.pem'].map((f) => join(dir, f));
    const all = { ca, cert, key, dir };

    it('reads tls=DIR and separate files, before the capacity, and names the builder without its query', () => {
      expect(
        parseBuilders(
          [
            `tcp://buildkitd-0.buildkitd:1234?tls=${dir}=4`,
            `buildctl+tcp://10.0.0.5:1234?ca=${ca}&cert=${cert}&key=${key}&servername=bk.example`,
            `docker+tcp://build2.example:2376?tls=${dir}`,
            `tcp://bk:1234?ca=${ca}`,
          ],
          2,
        ),
      ).toEqual([
        { target: 'tcp://buildkitd-0.buildkitd:1234', capacity: 4, tls: all },
        { target: 'buildctl+tcp://10.0.0.5:1234', capacity: 2, tls: { ca, cert, key, servername: 'bk.example' } },
        { target: 'docker+tcp://build2.example:2376', capacity: 2, tls: all },
        { target: 'tcp://bk:1234', capacity: 2, tls: { ca } },
      ]);
    });

    it("takes a trailing =N as the last parameter's value when that parameter has none yet", () => {
      expect(parseBuilders([`tcp://bk:1234?ca=${ca}&servername=1234`], 2)).toEqual([{ target: 'tcp://bk:1234', capacity: 2, tls: { ca, servername: '1234' } }]);
      expect(parseBuilders([`tcp://bk:1234?ca=${ca}&servername=bk=3`], 2)).toEqual([{ target: 'tcp://bk:1234', capacity: 3, tls: { ca, servername: 'bk' } }]);
    });

    it('allows docker+tcp:// without TLS on loopback only, saying why', () => {
      expect(parseBuilders(['docker+tcp://127.0.0.1:2375=1', 'docker+tcp://localhost:2377'], 2)).toEqual([
        { target: 'docker+tcp://127.0.0.1:2375', capacity: 1 },
        { target: 'docker+tcp://localhost:2377', capacity: 2 },
      ]);
      expect(() => parseBuilders(['docker+tcp://10.0.0.9:2375'], 2)).toThrow(
        /"docker\+tcp:\/\/10\.0\.0\.9:2375" has no TLS parameters .*an Engine API without TLS is root on that machine/,
      );
      expect(() => parseBuilders([`docker+tcp://10.0.0.9:2376?ca=${ca}`], 2)).toThrow(/has no client certificate/);
      expect(() => parseBuilders([`docker+tcp://10.0.0.9:2376?tls=${dir}&servername=x`], 2)).toThrow(/servername=/);
    });

    it.each([
      [`tcp://bk:1234?tls=${dir}&verify=no`, /has an unknown parameter "verify" \(known: tls, ca, cert, key, servername\)/],
      [`tcp://bk:1234?ca=${ca}&cert=${cert}`, /gives cert= without key=/],
      [`tcp://bk:1234?ca=${ca}&key=${key}`, /gives key= without cert=/],
      [`tcp://bk:1234?cert=${cert}&key=${key}`, /no ca=/],
      [`tcp://bk:1234?servername=bk`, /servername= without certificates/],
      [`tcp://bk:1234?tls=${dir}&ca=${ca}`, /both tls=DIR and ca=/],
      [`tcp://bk:1234?ca=${ca}&ca=${ca}`, /gives ca= twice/],
      [`tcp://bk:1234?ca=`, /gives ca= no value/],
      [`tcp://bk:1234?ca=${join(dir, 'missing.pem')}`, /ca file .*missing\.pem does not exist/],
      [`tcp://bk:1234?tls=${join(dir, 'nowhere')}`, /ca file .*nowhere\/ca\.pem does not exist/],
      ['tcp://bk:1234?ca=certs/ca.pem', /the path must be absolute/],
      [`tcp://bk:1234?ca=${dir}`, /is not a file/],
      [`local?tls=${dir}`, /only tcp:\/\/, buildctl\+tcp:\/\/ and docker\+tcp:\/\/ builders take TLS parameters/],
    ])('refuses %s', (entry, message) => {
      expect(() => parseBuilders([entry], 2)).toThrow(BuilderSpecError);
      expect(() => parseBuilders([entry], 2)).toThrow(message);
      expect(() => parseBuilders([entry], 2)).toThrow(`CODEHUB_BUILDERS entry ${JSON.stringify(entry)}`);
    });

    it('refuses a key file it cannot read', () => {
      const locked = join(dir, 'locked.pem');
      writeFileSync(locked, 'x');
      chmodSync(locked, 0);
      unreadable.add(locked);
      expect(() => parseBuilders([`tcp://bk:1234?ca=${ca}&cert=${cert}&key=${locked}`], 2)).toThrow(/key file .* cannot be read \(EACCES\)/);
    });
  });
});

describe('buildctlArgs with TLS', () => {
  it('puts the TLS flags before the command, client certificate and server name only when given', () => {
    const bare = { ...request, args: {}, labels: {}, target: null, platforms: [], secrets: {}, tags: ['r/a/b:t'] };
    const opts = { addr: 'tcp://bk:1234', contextDir: '/c', metadataFile: '/m.json' };
    expect(buildctlArgs(bare, { ...opts, tls: { ca: '/t/ca.pem', cert: '/t/cert.pem', key: '/t/key.pem', servername: 'bk.example' } }).slice(0, 11)).toEqual([
      '--addr',
      'tcp://bk:1234',
      '--tlscacert',
      '/t/ca.pem',
      '--tlscert',
      '/t/cert.pem',
      '--tlskey',
      '/t/key.pem',
      '--tlsservername',
      'bk.example',
      'build',
    ]);
    expect(buildctlArgs(bare, { ...opts, tls: { ca: '/t/ca.pem' } }).slice(0, 5)).toEqual(['--addr', 'tcp://bk:1234', '--tlscacert', '/t/ca.pem', 'build']);
    expect(buildctlArgs(bare, opts).slice(0, 3)).toEqual(['--addr', 'tcp://bk:1234', 'build']);
  });
});
