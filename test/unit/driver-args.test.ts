/**
 * One suite for every driver's command line: whatever the client, a request must reach it whole (tags,
 * args, labels, target, platforms), secrets only by reference, and user text only as separate arguments.
 */
import { describe, expect, it } from 'vitest';
import { buildctlArgs } from '../../src/builder/buildctl.js';
import { buildxArgs } from '../../src/builder/buildx.js';
import type { BuildRequest } from '../../src/builder/driver.js';
import { BuilderSpecError, parseBuilders } from '../../src/builder/pool.js';

const request: BuildRequest = {
  dockerfile: 'docker/Dockerfile', target: 'runtime', args: { NODE_ENV: 'production', TRICKY: '$(id); `x` | y' },
  labels: { 'org.opencontainers.image.revision': 'abc' }, tags: ['r:5000/a/web:main', 'r:5000/a/web:abc'],
  platforms: ['linux/amd64'], secrets: { npm_token: 'S3CR3T-VALUE' }, workDir: '/tmp/w',
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
      '--addr', 'tcp://bk:1234', 'build', '--progress=rawjson', '--frontend', 'dockerfile.v0',
      '--local', 'context=/c', '--local', 'dockerfile=/c', '--opt', 'filename=docker/Dockerfile', '--opt', 'target=runtime',
      '--opt', 'build-arg:A=1', '--opt', 'label:org.opencontainers.image.revision=abc', '--opt', 'platform=linux/amd64',
      '--output', 'type=image,"name=r:5000/a/web:main,r:5000/a/web:abc",push=true', '--metadata-file', '/m.json',
    ]);
  });
});

describe('parseBuilders', () => {
  it('reads names, tcp and buildctl addresses with optional capacities', () => {
    expect(parseBuilders([], 2)).toEqual([{ target: 'local', capacity: 2 }]);
    expect(parseBuilders(['local=3', 'tcp://buildkitd:1234', 'buildctl+tcp://10.0.0.5:1234=4', 'ci-builder'], 2)).toEqual([
      { target: 'local', capacity: 3 }, { target: 'tcp://buildkitd:1234', capacity: 2 },
      { target: 'buildctl+tcp://10.0.0.5:1234', capacity: 4 }, { target: 'ci-builder', capacity: 2 },
    ]);
  });
  it('refuses entries that are neither, with the entry in the message', () => {
    expect(() => parseBuilders(['local=0'], 2)).toThrow(BuilderSpecError);
    expect(() => parseBuilders(['http://x:1'], 2)).toThrow(/"http:\/\/x:1" is not a builder name/);
    expect(() => parseBuilders(['$(rm -rf /)'], 2)).toThrow(/is not a builder name/);
  });
});
