import { describe, expect, it } from 'vitest';
import { buildxArgs, buildxConfigDir, remoteCreateArgs } from '../../src/builder/buildx.js';
import { classifyFailure, type BuildRequest } from '../../src/builder/driver.js';

describe('buildxArgs', () => {
  it('passes every part of a request as its own argument, the context tar on stdin and secrets by env name only', () => {
    const args = buildxArgs(
      {
        dockerfile: 'docker/Dockerfile',
        target: 'runtime',
        args: { NODE_ENV: 'production', EMPTY: '' },
        labels: { 'org.opencontainers.image.revision': 'abc' },
        tags: ['r:5000/a/web:main', 'r:5000/a/web:abc'],
        platforms: ['linux/amd64'],
        secrets: { npm_token: 's3cr3t-value' },
        workDir: '/tmp/w',
      },
      { metadataFile: '/tmp/w/metadata.json', builder: 'remote1' },
    );
    expect(args).toEqual([
      'build',
      '--progress=rawjson',
      '--metadata-file',
      '/tmp/w/metadata.json',
      '--provenance=false',
      '--builder',
      'remote1',
      '-f',
      'docker/Dockerfile',
      '--target',
      'runtime',
      '--build-arg',
      'NODE_ENV=production',
      '--build-arg',
      'EMPTY=',
      '--label',
      'org.opencontainers.image.revision=abc',
      '--platform',
      'linux/amd64',
      '--secret',
      'id=npm_token,env=CODEHUB_SECRET_6e706d5f746f6b656e',
      '-t',
      'r:5000/a/web:main',
      '-t',
      'r:5000/a/web:abc',
      '--push',
      '-',
    ]);
    expect(args.join(' ')).not.toContain('s3cr3t-value');
  });

  it('keeps shell characters in values as data, not syntax', () => {
    const args = buildxArgs(
      {
        dockerfile: 'Dockerfile',
        target: null,
        args: { X: '$(touch /tmp/pwned); `id` | x' },
        labels: {},
        tags: ['r/a/b:t'],
        platforms: [],
        secrets: {},
        workDir: '/w',
      },
      { metadataFile: '/w/m.json' },
    );
    expect(args).toContain('X=$(touch /tmp/pwned); `id` | x');
    expect(args).not.toContain('--builder');
    expect(args).not.toContain('--target');
  });
});

describe('buildxArgs with a kept work tree and the registry cache', () => {
  const req: BuildRequest = {
    dockerfile: 'docker/Dockerfile',
    target: null,
    args: {},
    labels: {},
    tags: ['r:5000/a/web:main'],
    platforms: [],
    secrets: {},
    workDir: '/w',
    cache: {
      imageRefs: ['r:5000/a/web:feature', 'r:5000/a/web:main'],
      cacheRefs: ['r:5000/a/web:cache-feature', 'r:5000/a/web:cache-main'],
      exportRef: 'r:5000/a/web:cache-feature',
    },
  };
  const folder = { dir: '/data/checkouts/trees/0123456789abcdef-0', dockerfile: '/data/checkouts/trees/0123456789abcdef-0/docker/Dockerfile' };

  it('builds the folder, with the Dockerfile by its path on disk, and exports the inline cache on a docker driver', () => {
    expect(buildxArgs(req, { metadataFile: '/w/m.json', folder, cacheMode: 'inline' })).toEqual([
      'build',
      '--progress=rawjson',
      '--metadata-file',
      '/w/m.json',
      '--provenance=false',
      '-f',
      '/data/checkouts/trees/0123456789abcdef-0/docker/Dockerfile',
      '--cache-to',
      'type=inline',
      '--cache-from',
      'type=registry,ref=r:5000/a/web:feature',
      '--cache-from',
      'type=registry,ref=r:5000/a/web:main',
      '-t',
      'r:5000/a/web:main',
      '--push',
      '/data/checkouts/trees/0123456789abcdef-0',
    ]);
  });

  it("exports mode=max to the branch's cache reference and imports the cache references on a buildkitd", () => {
    expect(buildxArgs(req, { metadataFile: '/w/m.json', builder: 'codehub-x', cacheMode: 'registry' })).toEqual([
      'build',
      '--progress=rawjson',
      '--metadata-file',
      '/w/m.json',
      '--provenance=false',
      '--builder',
      'codehub-x',
      '-f',
      'docker/Dockerfile',
      '--cache-to',
      'type=registry,ref=r:5000/a/web:cache-feature,mode=max,image-manifest=true,oci-mediatypes=true,ignore-error=true',
      '--cache-from',
      'type=registry,ref=r:5000/a/web:cache-feature',
      '--cache-from',
      'type=registry,ref=r:5000/a/web:cache-main',
      '-t',
      'r:5000/a/web:main',
      '--push',
      '-',
    ]);
  });

  it('imports nothing with no-cache, and still exports', () => {
    const inline = buildxArgs({ ...req, noCache: true }, { metadataFile: '/w/m.json', cacheMode: 'inline' });
    expect(inline).toContain('--no-cache');
    expect(inline).not.toContain('--cache-from');
    expect(inline.slice(inline.indexOf('--cache-to'), inline.indexOf('--cache-to') + 2)).toEqual(['--cache-to', 'type=inline']);
    const max = buildxArgs({ ...req, noCache: true }, { metadataFile: '/w/m.json', cacheMode: 'registry' });
    expect(max).not.toContain('--cache-from');
    expect(max).toContain('type=registry,ref=r:5000/a/web:cache-feature,mode=max,image-manifest=true,oci-mediatypes=true,ignore-error=true');
  });

  it('passes no cache arguments when the request has no cache', () => {
    const { cache: _, ...plain } = req;
    expect(buildxArgs(plain, { metadataFile: '/w/m.json', cacheMode: 'registry' }).join(' ')).not.toMatch(/--cache/);
  });
});

describe('buildxConfigDir', () => {
  it('is BUILDX_CONFIG, else the buildx folder of DOCKER_CONFIG or ~/.docker: fixed, whatever DOCKER_CONFIG a build gets', () => {
    expect(buildxConfigDir({ BUILDX_CONFIG: '/etc/bx', DOCKER_CONFIG: '/d', HOME: '/h' })).toBe('/etc/bx');
    expect(buildxConfigDir({ DOCKER_CONFIG: '/d', HOME: '/h' })).toBe('/d/buildx');
    expect(buildxConfigDir({ HOME: '/h' })).toBe('/h/.docker/buildx');
  });
});

describe('remoteCreateArgs', () => {
  it('creates a remote builder, with TLS files as driver options when given', () => {
    expect(remoteCreateArgs('codehub-x', 'tcp://bk:1234')).toEqual([
      'create',
      '--name',
      'codehub-x',
      '--node',
      'codehub-x0',
      '--driver',
      'remote',
      'tcp://bk:1234',
    ]);
    expect(remoteCreateArgs('codehub-x', 'tcp://bk:1234', { ca: '/c/ca.pem', cert: '/c/cert.pem', key: '/c/key.pem', servername: 'bk.example' })).toEqual([
      'create',
      '--name',
      'codehub-x',
      '--node',
      'codehub-x0',
      '--driver',
      'remote',
      '--driver-opt',
      'cacert=/c/ca.pem,cert=/c/cert.pem,key=/c/key.pem,servername=bk.example',
      'tcp://bk:1234',
    ]);
    expect(remoteCreateArgs('codehub-x', 'tcp://bk:1234', { ca: '/c/ca.pem' })).toContain('cacert=/c/ca.pem');
  });

  it('quotes a path holding a comma, as buildx reads the value as CSV', () => {
    expect(remoteCreateArgs('n', 'tcp://bk:1', { ca: '/a,b/ca.pem', cert: '/c/"x".pem', key: '/c/key.pem' })[8]).toBe(
      '"cacert=/a,b/ca.pem","cert=/c/""x"".pem",key=/c/key.pem',
    );
  });
});

describe('classifyFailure', () => {
  it.each([
    ['failed to solve: process "/bin/sh -c exit 3" did not complete successfully: exit code: 3', 'user'],
    ['failed to solve: dockerfile parse error on line 2: unknown instruction: RUNN', 'user'],
    ['failed to push localhost:5999/a/b:main: failed to do request: dial tcp 127.0.0.1:5999: connect: connection refused', 'infrastructure'],
    ['Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?', 'infrastructure'],
    ['no builder "x" found', 'infrastructure'],
    ['failed to solve: failed to read dockerfile: no local sources enabled', 'infrastructure'],
  ])('%s -> %s', (text, want) => expect(classifyFailure(text)).toBe(want));
});
