import { createHash } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { generateToken, hashToken } from '../../src/auth/tokens.js';
import { MODE_DIR } from '../../src/context/tree.js';
import { parseTag } from '../../src/uploads/request.js';
import { memoryApp } from '../helpers/memory-app.js';

let m: ReturnType<typeof memoryApp>;
let alice: string;
let bob: string;

const sha = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');
const DOCKERFILE = 'FROM scratch\nCOPY app.txt /\n';
const APP = 'hello\n';
const entries = () => [
  { path: 'Dockerfile', mode: 0o644, size: DOCKERFILE.length, sha256: sha(DOCKERFILE) },
  { path: 'src', mode: (MODE_DIR | 0o755) >>> 0, size: 0 },
  { path: 'src/app.txt', mode: 0o644, size: APP.length, sha256: sha(APP) },
];

const call = async (method: string, path: string, token: string, body?: unknown, raw?: string) => {
  const res = await m.app.request(path, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': raw !== undefined ? 'application/octet-stream' : 'application/json' },
    ...(raw !== undefined ? { body: raw } : body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as any };
};
const begin = (token = alice, body: unknown = { folder: 'web', entries: entries() }) => call('POST', '/api/uploads', token, body);
const put = (id: string, content: string, token = alice, as = sha(content)) => call('PUT', `/api/uploads/${id}/blobs/${as}`, token, undefined, content);

beforeEach(() => {
  m = memoryApp();
  alice = m.addUser('alice');
  bob = m.addUser('bob');
});

describe('uploads API', () => {
  it('asks only for the files the owner has not uploaded before, then queues one build as an upload', async () => {
    const first = await begin();
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({
      folder: 'web',
      files: 2,
      bytes: DOCKERFILE.length + APP.length,
      missing: [sha(DOCKERFILE), sha(APP)],
      missing_bytes: DOCKERFILE.length + APP.length,
    });
    expect(await put(first.body.id, DOCKERFILE)).toEqual({ status: 201, body: { sha256: sha(DOCKERFILE), size: DOCKERFILE.length } });
    expect((await put(first.body.id, APP)).status).toBe(201);
    expect((await put(first.body.id, APP)).status).toBe(200); // there already

    const built = await call('POST', `/api/uploads/${first.body.id}/build`, alice, { tag: 'web:try1', build_args: { A: '1' } });
    expect(built.status).toBe(201);
    expect(built.body).toMatchObject({
      source: 'upload',
      repo: 'alice/web',
      image: 'web',
      image_refs: ['reg:5000/alice/web:try1'],
      status: 'queued',
      pusher: 'alice',
      ref: null,
      commit: null,
      upload: { folder: 'web', bytes: DOCKERFILE.length + APP.length },
    });
    expect((await call('GET', `/api/builds?source=upload`, alice)).body.builds.map((b: any) => b.id)).toEqual([built.body.id]);
    // The same upload builds once; another user does not see it at all.
    expect((await call('POST', `/api/uploads/${first.body.id}/build`, alice, {})).status).toBe(409);
    expect((await call('GET', `/api/builds/${built.body.id}`, bob)).status).toBe(404);

    // The next upload of the folder after a one-line change asks for that file alone.
    const changed = 'hello, again\n';
    const second = await begin(alice, {
      folder: 'web',
      entries: [entries()[0], entries()[1], { path: 'src/app.txt', mode: 0o644, size: changed.length, sha256: sha(changed) }],
    });
    expect(second.body.missing).toEqual([sha(changed)]);
    // Blobs are per owner: bob uploading the same files sends them all.
    expect((await begin(bob)).body.missing).toHaveLength(2);
  });

  it('defaults the image to the folder name and the tag to dev', async () => {
    const u = await begin(alice, { folder: 'My App', entries: entries() });
    await put(u.body.id, DOCKERFILE);
    await put(u.body.id, APP);
    const b = await call('POST', `/api/uploads/${u.body.id}/build`, alice, {});
    expect(b.body.image_refs).toEqual(['reg:5000/alice/my-app:dev']);
  });

  it('refuses a context over the limit before any file moves, naming the setting and both sizes', async () => {
    const r = await begin(alice, { folder: 'big', entries: [...entries(), { path: 'blob.bin', mode: 0o644, size: 2 * 1024 * 1024, sha256: sha('x') }] });
    expect(r.status).toBe(413);
    expect(r.body.error.message).toMatch(/CODEHUB_MAX_UPLOAD_BYTES/);
    expect(r.body.error.message).toMatch(/2(\.0)? MiB/);
    expect(r.body.error.message).toMatch(/1(\.0)? MiB/);
  });

  it('names every bad entry and a bad folder', async () => {
    const r = await begin(alice, {
      folder: 'web',
      entries: [
        { path: '../etc/passwd', mode: 0o644, size: 1, sha256: sha('x') },
        { path: 'a', mode: 0o644, size: 1 },
      ],
    });
    expect(r.status).toBe(400);
    expect(r.body.error.details.problems.join('\n')).toMatch(/\.\.\/etc\/passwd/);
    expect(r.body.error.details.problems).toHaveLength(2);
    expect((await begin(alice, { folder: 'a/b', entries: entries() })).status).toBe(400);
  });

  it('stores nothing from a wrong or unknown blob', async () => {
    const u = await begin();
    const wrong = await put(u.body.id, 'hellO\n', alice, sha(APP));
    expect(wrong.status).toBe(400);
    expect(wrong.body.error.code).toBe('content_mismatch');
    expect(wrong.body.error.message).toMatch(/src\/app\.txt changed while it was uploaded/);
    expect(await m.blobs.has('alice', sha(APP))).toBe(false);
    expect((await put(u.body.id, 'not in the manifest')).status).toBe(400);
    expect((await put(u.body.id, 'x'.repeat(APP.length + 5), alice, sha(APP))).status).toBe(413);
    expect(await m.blobs.has('alice', sha(APP))).toBe(false);
  });

  it('keeps at most a few uploads waiting for their build: the oldest abandoned one goes', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await begin()).body.id);
    expect((await put(ids[0]!, DOCKERFILE)).status).toBe(404);
    expect((await put(ids[1]!, DOCKERFILE)).status).toBe(201);
    expect(m.store.db.$client.prepare("SELECT count(*) AS n FROM uploads WHERE owner = 'alice'").get()).toEqual({ n: 4 });
  });

  it('refuses a folder name with a control character (it would forge log lines)', async () => {
    const r = await begin(alice, { folder: 'web\nbuild #1 succeeded', entries: entries() });
    expect(r.status).toBe(400);
    expect(r.body.error.message).toMatch(/no control characters/);
  });

  it('builds nothing while files are missing, saying which', async () => {
    const u = await begin();
    await put(u.body.id, DOCKERFILE);
    const r = await call('POST', `/api/uploads/${u.body.id}/build`, alice, {});
    expect(r.status).toBe(409);
    expect(r.body.error.details.missing).toEqual([sha(APP)]);
    expect(m.store.builds.list({ limit: 10 })).toEqual([]);
  });

  it("refuses another namespace (403), a missing Dockerfile, and someone else's upload", async () => {
    const u = await begin();
    await put(u.body.id, DOCKERFILE);
    await put(u.body.id, APP);
    const other = await call('POST', `/api/uploads/${u.body.id}/build`, alice, { tag: 'bob/web:x' });
    expect(other.status).toBe(403);
    expect(other.body.error.message).toMatch(/alice may push only to alice\//);
    // Given with the manifest, the tag is refused before anything is recorded or uploaded.
    const early = await begin(alice, { folder: 'web', tag: 'bob/web:x', entries: entries() });
    expect(early.status).toBe(403);
    expect((await begin(alice, { folder: 'web', tag: 'Web!', entries: entries() })).status).toBe(400);
    expect(m.store.db.$client.prepare('SELECT count(*) AS n FROM uploads').get()).toEqual({ n: 1 });
    const noFile = await call('POST', `/api/uploads/${u.body.id}/build`, alice, { dockerfile: 'docker/Dockerfile.dev' });
    expect(noFile.status).toBe(400);
    expect(noFile.body.error.message).toMatch(/no Dockerfile at docker\/Dockerfile\.dev in the uploaded folder web: give its path with -f/);
    expect((await call('POST', `/api/uploads/${u.body.id}/build`, bob, {})).status).toBe(404);
    expect((await put(u.body.id, APP, bob)).status).toBe(404);
    expect(m.store.builds.list({ limit: 10 })).toEqual([]);
  });

  it('refuses an unknown platform with a 400 naming its index before any build is queued, and keeps the order sent', async () => {
    const u = await begin();
    await put(u.body.id, DOCKERFILE);
    await put(u.body.id, APP);
    const bad = await call('POST', `/api/uploads/${u.body.id}/build`, alice, { platforms: ['linux/amd64', 'linux/amd46'] });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toContain('platforms[1]: "linux/amd46": unknown architecture "amd46"');
    expect(m.store.builds.list({ limit: 10 })).toEqual([]);
    const good = await call('POST', `/api/uploads/${u.body.id}/build`, alice, { platforms: ['linux/arm64', 'linux/amd64'] });
    expect(good.status).toBe(201);
    expect(good.body.config.platforms).toEqual(['linux/arm64', 'linux/amd64']);
  });

  it('needs the push scope', async () => {
    const readOnly = generateToken();
    m.store.accounts.createToken(m.store.accounts.userByName('alice')!.id, hashToken(readOnly), 'ro', ['read']);
    expect((await begin(readOnly)).status).toBe(403);
  });

  it('holds secret values in memory only: not in the database, masked in the config', async () => {
    const u = await begin();
    await put(u.body.id, DOCKERFILE);
    await put(u.body.id, APP);
    const value = 'sekrit-value-4242';
    const b = await call('POST', `/api/uploads/${u.body.id}/build`, alice, { secrets: { NPM_TOKEN: value } });
    expect(b.status).toBe(201);
    expect(b.body.config.secrets).toEqual(['NPM_TOKEN']);
    expect(m.held.get(b.body.id)).toEqual({ NPM_TOKEN: value });
    const everything = JSON.stringify([m.store.db.$client.prepare('SELECT * FROM builds').all(), m.store.db.$client.prepare('SELECT * FROM uploads').all()]);
    expect(everything).not.toContain(value);
    expect(everything).toContain('NPM_TOKEN');
  });

  it('an upload build cannot be rebuilt: the folder is not kept', async () => {
    const u = await begin();
    await put(u.body.id, DOCKERFILE);
    await put(u.body.id, APP);
    const b = await call('POST', `/api/uploads/${u.body.id}/build`, alice, {});
    const r = await call('POST', `/api/builds/${b.body.id}/rebuild`, alice);
    expect(r.status).toBe(409);
    expect(r.body.error.message).toMatch(/run codehub-build build in that folder again/);
  });
});

describe('parseTag', () => {
  const ctx = { caller: 'alice', registry: 'localhost:5000' };
  it.each([
    ['web', { name: 'web', tag: 'dev' }],
    ['web:try1', { name: 'web', tag: 'try1' }],
    ['alice/web:1.0', { name: 'web', tag: '1.0' }],
    ['localhost:5000/alice/web:x', { name: 'web', tag: 'x' }],
  ])('%s', (raw, want) => expect(parseTag(raw, ctx)).toEqual(want));
  it.each([
    ['bob/web', /alice may push only to alice\/…, not bob\/…/],
    ['docker.io/library/web', /images go to localhost:5000\/alice\/NAME:TAG/],
    ['Web:x', /image name "Web" is invalid/],
    ['web:-x', /"-x" is not a tag/],
    ['a/b/c', /images go to/],
  ])('refuses %s', (raw, re) => expect((parseTag(raw, ctx) as { problem: string }).problem).toMatch(re));
});
