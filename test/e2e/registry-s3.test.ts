/**
 * The registry on S3 storage (production runs it on MinIO), against a real S3 API: OpenStack Swift with its
 * s3api middleware (scripts/stack.sh s3), and a token registry of this file's own whose storage is a bucket
 * of its own (scripts/stack.sh token-registry ... --s3). A build's image lands in the bucket and docker pulls
 * it back; retention, codehub-build gc and the registry's garbage collector (scripts/stack.sh gc) free
 * exactly the blobs of the manifests retention let go, in the bucket.
 */
import { execa } from 'execa';
import { createHash, createHmac } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkRepo } from '../helpers/git.js';
import { freePort, stack, TestServer, uniqueName } from '../helpers/server.js';

const FROM = 'FROM localhost:5000/cache/busybox:latest';
const S3 = `http://127.0.0.1:${process.env.CODEHUB_STACK_S3_PORT ?? '9000'}`;
const ACCESS_KEY = process.env.CODEHUB_STACK_S3_ACCESS_KEY ?? 'test:tester';
const SECRET_KEY = process.env.CODEHUB_STACK_S3_SECRET_KEY ?? 'testing';
const BLOBS = 'docker/registry/v2/blobs/';
const ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const hmac = (key: string | Buffer, s: string) => createHmac('sha256', key).update(s).digest();
const uriEncode = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** One S3 request without a body, signed with AWS sigv4 (what the registry's S3 driver does), to the S3 server itself. */
async function s3(method: string, path: string, query: Record<string, string> = {}): Promise<{ status: number; text: string }> {
  const host = new URL(S3).host;
  const amzDate = new Date().toISOString().replace(/[-:]|\.\d{3}/g, '');
  const scope = `${amzDate.slice(0, 8)}/us-east-1/s3/aws4_request`;
  const payload = sha256('');
  const canonicalPath = path.split('/').map(uriEncode).join('/');
  const canonicalQuery = Object.keys(query)
    .sort()
    .map((k) => `${uriEncode(k)}=${uriEncode(query[k]!)}`)
    .join('&');
  const signed = 'host;x-amz-content-sha256;x-amz-date';
  const canonical = [method, canonicalPath, canonicalQuery, `host:${host}\nx-amz-content-sha256:${payload}\nx-amz-date:${amzDate}\n`, signed, payload].join(
    '\n',
  );
  let key = hmac(`AWS4${SECRET_KEY}`, amzDate.slice(0, 8));
  for (const part of ['us-east-1', 's3', 'aws4_request']) key = hmac(key, part);
  const signature = createHmac('sha256', key)
    .update(['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonical)].join('\n'))
    .digest('hex');
  const res = await fetch(`${S3}${canonicalPath}${canonicalQuery ? `?${canonicalQuery}` : ''}`, {
    method,
    headers: {
      'x-amz-content-sha256': payload,
      'x-amz-date': amzDate,
      authorization: `AWS4-HMAC-SHA256 Credential=${ACCESS_KEY}/${scope}, SignedHeaders=${signed}, Signature=${signature}`,
    },
  });
  return { status: res.status, text: await res.text() };
}

/** Every object of the bucket under `prefix` (ListObjectsV2, page by page): key -> size. */
async function objects(bucket: string, prefix = ''): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  let token: string | undefined;
  do {
    const r = await s3('GET', `/${bucket}`, { 'list-type': '2', prefix, ...(token ? { 'continuation-token': token } : {}) });
    expect(r.status, r.text).toBe(200);
    for (const m of r.text.matchAll(/<Contents>.*?<Key>([^<]*)<\/Key>.*?<Size>(\d+)<\/Size>.*?<\/Contents>/gs)) out.set(m[1]!, Number(m[2]));
    token = r.text.includes('<IsTruncated>true</IsTruncated>') ? /<NextContinuationToken>([^<]*)</.exec(r.text)![1] : undefined;
  } while (token);
  return out;
}

/** Where the registry's S3 driver keeps a blob (rootdirectory /). */
const blobKey = (digest: string) => `${BLOBS}sha256/${digest.slice(7, 9)}/${digest.slice(7)}/data`;

let server: TestServer;
let bucket: string;
let owner: string;
let token: string;
let docker: (...args: string[]) => Promise<{ exitCode: number; all: string; stdout: string }>;

beforeAll(async () => {
  const up = await stack('s3', 'up');
  expect(up.exitCode, up.all).toBe(0);
  const addr = `127.0.0.1:${await freePort()}`;
  bucket = uniqueName('chb-registry');
  server = await TestServer.start({ env: { CODEHUB_REGISTRY_AUTH: 'token', CODEHUB_REGISTRY: addr, CODEHUB_MAX_ATTEMPTS: '1' } });
  const reg = await stack(
    'token-registry',
    'up',
    server.registry,
    `${server.url}/registry/token`,
    join(server.dataDir, 'secrets', 'registry-token.crt'),
    '--s3',
    `${S3}/${bucket}`,
  );
  expect(reg.exitCode, reg.all).toBe(0);
  owner = uniqueName('s3');
  token = server.addUser(owner);
  // The docker CLI signed in to the registry as the owner, with a config folder of its own.
  const config = mkdtempSync(join(tmpdir(), 'chb-dcfg-'));
  docker = async (...args: string[]) => {
    const r = await execa('docker', args, { reject: false, all: true, env: { DOCKER_CONFIG: config } });
    return { exitCode: r.exitCode ?? -1, all: r.all ?? '', stdout: r.stdout ?? '' };
  };
  const login = await execa('docker', ['login', server.registry, '-u', owner, '--password-stdin'], {
    input: token,
    reject: false,
    all: true,
    env: { DOCKER_CONFIG: config },
  });
  expect(login.exitCode, login.all).toBe(0);
});

afterAll(async () => {
  if (server) await stack('token-registry', 'down', server.registry);
  await server?.stop();
  // The bucket goes with this run: its objects, then itself.
  if (bucket) {
    for (const key of (await objects(bucket).catch(() => new Map<string, number>())).keys()) await s3('DELETE', `/${bucket}/${key}`);
    await s3('DELETE', `/${bucket}`);
  }
});

/** A registry token with pull on `repository`, from the realm, as the owner (the registry asks for one). */
async function pullToken(repository: string): Promise<string> {
  const res = await fetch(`${server.url}/registry/token?service=codehub-build-registry&scope=${encodeURIComponent(`repository:${repository}:pull`)}`, {
    headers: { authorization: `Basic ${Buffer.from(`${owner}:${token}`).toString('base64')}` },
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { token: string }).token;
}

/** Every blob a tag needs, read from the registry with the owner's token: digest -> size (the manifest's too). */
async function blobsOf(repository: string, reference: string): Promise<Map<string, number>> {
  const res = await fetch(`http://${server.registry}/v2/${repository}/manifests/${reference}`, {
    headers: { accept: ACCEPT, authorization: `Bearer ${await pullToken(repository)}` },
  });
  expect(res.status, `${repository}:${reference}`).toBe(200);
  const body = Buffer.from(await res.arrayBuffer());
  const m = JSON.parse(body.toString('utf8')) as { config: { digest: string; size: number }; layers: { digest: string; size: number }[] };
  expect(m.layers, 'a plain image manifest (no index)').toBeDefined();
  return new Map([
    [res.headers.get('docker-content-digest')!, body.length],
    [m.config.digest, m.config.size],
    ...m.layers.map((l) => [l.digest, l.size] as [string, number]),
  ]);
}

describe('the registry on S3 (Swift s3api)', () => {
  const repository = () => `${owner}/app`;
  const shas: string[] = [];
  let repo: WorkRepo;

  it('stores a pushed build in the bucket, and docker pulls it back with the same digest', async () => {
    repo = await WorkRepo.create({ Dockerfile: `${FROM}\nRUN echo 0 && head -c 2000000 /dev/urandom > /blob\n` });
    const sha = (await repo.git.revparse(['HEAD'])).trim();
    const pushed = await repo.push(server.gitUrl(owner, token, owner, 'app'), ['main']);
    expect(pushed.exitCode, pushed.output).toBe(0);
    const [b] = await server.waitForBuilds(sha, token);
    expect(b.status, b.reason).toBe('succeeded');
    shas.push(sha);

    // Every blob of the image (manifest, config, layers) is an object of the bucket, of the blob's size.
    const blobs = await blobsOf(repository(), sha);
    expect(blobs.get(b.digest)).toBeGreaterThan(0);
    const inBucket = await objects(bucket, `${BLOBS}sha256/`);
    for (const [digest, size] of blobs) expect(inBucket.get(blobKey(digest)), digest).toBe(size);
    expect(
      [...blobs.values()].some((size) => size > 1_900_000),
      'the 2 MB layer',
    ).toBe(true);

    // docker pull, signed in with the user's token, gets the very manifest the build pushed.
    const ref = `${server.registry}/${repository()}:${sha}`;
    await docker('image', 'rm', ref);
    const pull = await docker('pull', ref);
    expect(pull.exitCode, pull.all).toBe(0);
    expect(pull.all).toContain(`Digest: ${b.digest}`);
    const inspect = await docker('image', 'inspect', '-f', '{{json .RepoDigests}}', ref);
    expect(inspect.stdout).toContain(`${server.registry}/${repository()}@${b.digest}`);
    await docker('image', 'rm', ref);
  });

  it('retention and codehub-build gc delete the older manifests, and stack.sh gc frees exactly their blobs in the bucket', async () => {
    expect(shas).toHaveLength(1);
    const url = server.gitUrl(owner, token, owner, 'app');
    for (let i = 1; i < 4; i++) {
      const sha = await repo.commit({ Dockerfile: `${FROM}\nRUN echo ${i} && head -c 2000000 /dev/urandom > /blob\n` });
      expect((await repo.push(url, ['main'])).exitCode).toBe(0);
      const [b] = await server.waitForBuilds(sha, token);
      expect(b.status, b.reason).toBe('succeeded');
      shas.push(sha);
    }
    // What only the three older builds' manifests need: what retention lets go.
    const kept = await blobsOf(repository(), shas[3]!);
    const freed = new Map<string, number>();
    for (const s of shas.slice(0, 3)) for (const [d, size] of await blobsOf(repository(), s)) if (!kept.has(d)) freed.set(d, size);
    const freedBytes = [...freed.values()].reduce((a, b) => a + b, 0);
    expect(freedBytes).toBeGreaterThan(3 * 1_900_000);

    expect(server.cli(['repo', 'retention', repository(), '--keep', '1', '--days', '0'], { CODEHUB_TOKEN: token }).status).toBe(0);
    const gc = server.cli(['gc', '--repo', repository()]);
    expect(gc.stdout, gc.stderr).toContain('removed 3 tags');
    expect(Number(/removed 3 tags, .* \((\d+) bytes\)/.exec(gc.stdout)![1])).toBe(freedBytes);

    // The manifests are gone from the registry, their blobs still in the bucket until the registry's gc.
    let inBucket = await objects(bucket, BLOBS);
    for (const d of freed.keys()) expect(inBucket.has(blobKey(d)), d).toBe(true);
    const collect = await stack('gc', server.registry);
    expect(collect.exitCode, collect.all).toBe(0);
    expect(collect.all).toMatch(
      new RegExp(`registry ${server.registry}: ${freed.size} blobs deleted; bucket \\S+ before, \\S+ after, freed \\S+ \\(${freedBytes} bytes\\)`),
    );

    inBucket = await objects(bucket, BLOBS);
    for (const d of freed.keys()) expect(inBucket.has(blobKey(d)), `${d} is freed`).toBe(false);
    for (const [d, size] of kept) expect(inBucket.get(blobKey(d)), `${d} is kept`).toBe(size);

    // The kept build still pulls whole, by its sha tag and as latest.
    for (const t of [shas[3]!, 'latest']) {
      const ref = `${server.registry}/${repository()}:${t}`;
      await docker('image', 'rm', ref);
      const pull = await docker('pull', '-q', ref);
      expect(pull.exitCode, pull.all).toBe(0);
      const run = await docker('run', '--rm', ref, 'sh', '-c', 'wc -c /blob');
      expect(run.all).toContain('2000000 /blob');
      await docker('image', 'rm', ref);
    }
    for (const s of shas.slice(0, 3)) {
      const res = await fetch(`http://${server.registry}/v2/${repository()}/manifests/${s}`, {
        method: 'HEAD',
        headers: { accept: ACCEPT, authorization: `Bearer ${await pullToken(repository())}` },
      });
      expect(res.status, s).toBe(404);
    }
  }, 300_000);
});
