/**
 * `codehub-build build .` through the real parts: the CLI downloaded from the server, run from a folder that is
 * not a git repo with only what a workspace has, uploading to the real server, which builds on dockerd's
 * BuildKit and pushes to its token registry.
 */
import { execa, type ResultPromise } from 'execa';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dbFile } from '../../src/store/db.js';
import { tagDigest } from '../helpers/registry.js';
import { filesContaining } from '../helpers/files.js';
import { TestServer, uniqueName, waitFor } from '../helpers/server.js';

const FROM = 'FROM localhost:5000/cache/busybox:latest';
let server: TestServer;
let owner: string;
let token: string;
let work: string;
let cli: string;

/** What a workspace has: node and git on PATH, a HOME, CODEHUB_URL and CODEHUB_TOKEN. */
const env = () => ({ HOME: join(work, 'home'), PATH: '/usr/local/bin:/usr/bin:/bin', CODEHUB_URL: server.url, CODEHUB_TOKEN: token });
const build = (cwd: string, ...args: string[]): ResultPromise<{ cwd: string; env: Record<string, string>; extendEnv: false; reject: false; all: true }> =>
  execa(cli, ['build', ...args], { cwd, env: env(), extendEnv: false, reject: false, all: true });

/** Bytes of the files under `dir`. */
function bytesUnder(dir: string): number {
  let n = 0;
  if (!existsSync(dir)) return 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) n += statSync(join(e.parentPath, e.name)).size;
  return n;
}

function folder(name: string, files: Record<string, string | Buffer>): string {
  const dir = join(work, name);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  return dir;
}

beforeAll(async () => {
  server = await TestServer.start();
  owner = uniqueName('uma');
  token = server.addUser(owner);
  work = mkdtempSync(join(tmpdir(), 'chb-upload-'));
  mkdirSync(join(work, 'home'));
  cli = await server.downloadCli(join(work, 'home'));
}, 120_000);
afterAll(async () => {
  await server?.stop();
});

describe('codehub-build build', () => {
  it('builds a folder that is not a git repo: RUN output, the digest, the image pulls, the build is listed', async () => {
    const web = folder('web', {
      Dockerfile: `${FROM}\nCOPY src/ /src/\nARG GREETING\nRUN cat /src/hello.txt && echo "$GREETING from ${owner}"\n`,
      'src/hello.txt': `hello from ${owner}'s folder\n`,
      // 50 MB the build does not need: .dockerignore keeps it in the workspace.
      'big/data.bin': Buffer.alloc(50 * 1024 * 1024, 7),
      '.dockerignore': 'big\n',
    });
    const r = await build(web, '-t', 'web:try1', '--build-arg', 'GREETING=hi', '.');
    expect(r.exitCode, r.all).toBe(0);
    expect(r.all).toContain(`hello from ${owner}'s folder`);
    expect(r.all).toContain(`hi from ${owner}`);
    const ref = `${server.registry}/${owner}/web:try1`;
    const last = r.stdout.trim().split('\n').pop()!;
    expect(last).toMatch(new RegExp(`^${ref.replace(/[.:/]/g, '\\$&')}@sha256:[0-9a-f]{64}$`));
    // The registry holds that manifest under that tag, and the owner pulls it.
    expect(await tagDigest(server.registryAccess, `${owner}/web`, 'try1')).toBe(last.split('@')[1]);
    const docker = await server.docker(owner, token);
    const pulled = await docker('pull', ref);
    expect(pulled.exitCode, pulled.all).toBe(0);
    expect(pulled.all).toContain(last.split('@')[1]);
    await docker('rmi', ref);

    // The ignored 50 MB never left the workspace: the owner's upload store holds the two small files alone.
    const stored = bytesUnder(join(server.dataDir, 'uploads', 'blobs', owner));
    expect(stored).toBeLessThan(4096);
    expect(r.stderr).toMatch(/context: 3 files/);

    const list = await build(web, '--help').then(() => execa(cli, ['builds', '--json'], { env: env(), extendEnv: false }));
    const builds = JSON.parse(list.stdout) as any[];
    const b = builds.find((x) => x.image_refs.includes(ref));
    expect(b).toMatchObject({ source: 'upload', status: 'succeeded', repo: `${owner}/web`, commit: null, upload: { folder: 'web' }, pusher: owner });
    expect(b.upload.bytes).toBeLessThan(4096);
    // It counts toward the owner's registry usage (and so the quota), as soon as it is reported pushed.
    const usage = await server.api(`/api/usage`, token);
    expect(usage.body.images).toContainEqual(expect.objectContaining({ image: 'web', tags: 1 }));
    expect(usage.body.bytes).toBeGreaterThan(0);
    const page = await fetch(`${server.url}/builds/${b.id}`, { headers: { authorization: `Bearer ${token}` } });
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain(`uploaded by <!-- -->${owner}`.replace('<!-- -->', '')); // the Source row
    expect(html).toContain(ref);
    // The database records the upload's source, folder and size; the upload's manifest is gone once it ended.
    const db = new Database(dbFile(server.dataDir), { readonly: true });
    try {
      expect(db.prepare('SELECT source, commit_sha, upload_folder, context_bytes FROM builds WHERE id = ?').get(b.id)).toEqual({
        source: 'upload',
        commit_sha: null,
        upload_folder: 'web',
        context_bytes: b.upload.bytes,
      });
      expect(db.prepare('SELECT count(*) AS n FROM uploads WHERE build_id = ?').get(b.id)).toEqual({ n: 0 });
    } finally {
      db.close();
    }
  }, 180_000);

  it('a repeat build after a one-line change uploads that file alone', async () => {
    const dir = folder('again', {
      Dockerfile: `${FROM}\nCOPY . /app/\nRUN wc -c /app/a.txt\n`,
      'a.txt': 'one\n',
      // The owner in it: BuildKit's cache is the daemon's, and an earlier run built these same files.
      'b.txt': `two ${owner}\n`,
      'c.txt': 'x'.repeat(200_000),
    });
    const first = await build(dir, '-t', 'again');
    expect(first.exitCode, first.all).toBe(0);
    writeFileSync(join(dir, 'a.txt'), 'one, changed\n');
    const second = await build(dir, '-t', 'again');
    expect(second.exitCode, second.all).toBe(0);
    expect(second.stderr).toMatch(/context: 4 files, .*\(13 B uploaded/);
    // BuildKit was sent that file (and the Dockerfile, which its frontend reads afresh), not the 200 KB beside it.
    const sent = /context: (\d+) files?, (\d+) bytes sent/.exec(second.all ?? '');
    expect(sent, second.all).not.toBeNull();
    expect(Number(sent![2])).toBeLessThan(1024);
    // Its insight names the COPY and the file whose content changed since the folder's last build.
    const { body } = await server.api(`/api/builds?repo=${owner}/again`, token);
    const miss = body.builds[0].insight.cache_miss;
    expect(miss.step).toMatch(/COPY \. \/app\/$/);
    expect(miss.because.files).toEqual(['a.txt']);
  }, 180_000);

  it('a secret reaches RUN --mount=type=secret only: masked in the log, in no file of the server', async () => {
    const value = `upload-secret-${owner}-${Date.now()}`;
    writeFileSync(join(work, 'token.txt'), value);
    const dir = folder('secret', {
      Dockerfile: `${FROM}\nRUN --mount=type=secret,id=api_token,required=true echo "token is $(cat /run/secrets/api_token)" && ls /run/secrets\n`,
    });
    const r = await build(dir, '--secret', `id=api_token,src=${join(work, 'token.txt')}`, '--no-cache');
    expect(r.exitCode, r.all).toBe(0);
    expect(r.all).toContain('token is ***');
    expect(r.all).not.toContain(value);
    // Nothing the server wrote holds it: database (and its WAL), logs, uploaded files.
    expect(filesContaining(server.dataDir, value)).toEqual([]);
    // Nor is it in the image: a secret mount is not a layer.
    const docker = await server.docker(owner, token);
    const ref = r.stdout.trim().split('\n').pop()!;
    expect((await docker('pull', ref)).exitCode).toBe(0);
    const saved = await execa('docker', ['save', ref.split('@')[0]!], { encoding: 'buffer', reject: false });
    expect(Buffer.from(saved.stdout).includes(value)).toBe(false);
    await docker('rmi', ref.split('@')[0]!);
  }, 180_000);

  it('a failing RUN exits non-zero with the exit code in the output', async () => {
    const dir = folder('fails', { Dockerfile: `${FROM}\nRUN echo about to fail-${owner} && exit 3\n` });
    const r = await build(dir);
    expect(r.exitCode, r.all).toBe(1);
    expect(r.all).toContain(`about to fail-${owner}`);
    expect(r.all).toMatch(/exit code: 3/);
    expect(r.stderr).toMatch(/build #\d+ failed/);
  }, 180_000);

  it('Ctrl-C cancels the build on the server and leaves no BuildKit process', async () => {
    const marker = `${owner}-${Date.now()}`;
    const dir = folder('slow', { Dockerfile: `${FROM}\nRUN echo started-${marker} && sleep 120 && echo ${marker}\n` });
    const p = build(dir, '-t', 'slow:1');
    let out = '';
    p.all!.on('data', (d: Buffer) => {
      out += d.toString();
    });
    // The step's output (`#7 started-…`), not its name (`#7 [2/2] RUN echo started-…`), which comes first.
    await waitFor(
      'the RUN step to start',
      async () => out,
      (o) => new RegExp(`^#\\d+ started-${marker}$`, 'm').test(o),
      120_000,
    );
    // The RUN's own process runs on this host under dockerd's runc.
    expect(pgrep(`sleep 120 && echo ${marker}`)).not.toEqual([]);
    p.kill('SIGINT');
    const r = await p;
    expect(r.exitCode, r.all).toBe(130);
    const id = /build #(\d+) queued/.exec(r.all ?? '')![1];
    const b = await server.api(`/api/builds/${id}`, token);
    expect(b.body.status).toBe('canceled');
    expect(b.body.reason).toBe(`canceled by ${owner}`);
    await waitFor(
      'the RUN process to go',
      async () => pgrep(`sleep 120 && echo ${marker}`),
      (l) => l.length === 0,
      30_000,
    );
  }, 240_000);

  it('an upload cut off midway records no build and leaves no partial file', async () => {
    const content = Buffer.alloc(8 * 1024 * 1024, 1);
    const sha = createHash('sha256').update(content).digest('hex');
    const dockerfile = `${FROM}\nCOPY big.bin /\n`;
    const entries = [
      { path: 'Dockerfile', mode: 0o644, size: dockerfile.length, sha256: createHash('sha256').update(dockerfile).digest('hex') },
      { path: 'big.bin', mode: 0o644, size: content.length, sha256: sha },
    ];
    const begun = await fetch(`${server.url}/api/uploads`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ folder: 'cut', entries }),
    });
    const upload = (await begun.json()) as { id: string; missing: string[] };
    expect(upload.missing).toContain(sha);
    // Half the file, then the connection drops (a workspace losing its network, a killed CLI).
    const blobs = join(server.dataDir, 'uploads', 'blobs', owner);
    const req = httpRequest(`${server.url}/api/uploads/${upload.id}/blobs/${sha}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${token}`, 'content-length': String(content.length) },
    });
    req.on('error', () => {});
    req.write(content.subarray(0, content.length / 2));
    // The server is writing it (a temp file beside where the blob would go) ...
    await waitFor(
      'the server to write part of the file',
      async () => bytesUnder(blobs),
      (n) => n >= 1024 * 1024,
      30_000,
    );
    req.destroy();
    // ... and removes it once the connection is gone.
    await waitFor(
      'no partial file',
      async () => bytesUnder(blobs),
      (n) => n < 1024 * 1024,
      30_000,
    );
    expect(existsSync(join(blobs, sha.slice(0, 2), sha))).toBe(false);
    // The build cannot be asked for while the file is missing; nothing is recorded or pushed.
    const asked = await fetch(`${server.url}/api/uploads/${upload.id}/build`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(asked.status).toBe(409);
    expect(((await asked.json()) as any).error.details.missing).toContain(sha);
    const { body } = await server.api(`/api/builds?repo=${owner}/cut`, token);
    expect(body.builds).toEqual([]);
    expect(await tagDigest(server.registryAccess, `${owner}/cut`, 'dev')).toBeNull();
  }, 180_000);

  it("refuses a context over the server's limit before any file moves, naming the setting", async () => {
    const small = await TestServer.start({ env: { CODEHUB_MAX_UPLOAD_BYTES: '1MiB' } });
    try {
      const t = small.addUser(owner);
      const dir = folder('too-big', { Dockerfile: `${FROM}\n`, 'data.bin': Buffer.alloc(2 * 1024 * 1024, 3) });
      const r = await execa(cli, ['build', '.'], {
        cwd: dir,
        env: { ...env(), CODEHUB_URL: small.url, CODEHUB_TOKEN: t },
        extendEnv: false,
        reject: false,
        all: true,
      });
      expect(r.exitCode).not.toBe(0);
      expect(r.stderr).toMatch(/CODEHUB_MAX_UPLOAD_BYTES/);
      expect(r.stderr).toMatch(/\.dockerignore/);
      expect(bytesUnder(join(small.dataDir, 'uploads'))).toBe(0);
    } finally {
      await small.stop();
    }
  }, 180_000);

  it('refuses bad input before building: no Dockerfile, another namespace; keeps a Dockerfile .dockerignore lists', async () => {
    const none = folder('empty', { 'README.md': 'no Dockerfile here\n' });
    const r1 = await build(none);
    expect(r1.exitCode).not.toBe(0);
    expect(r1.stderr).toMatch(/Dockerfile/);
    expect(r1.stderr).toMatch(/-f/);

    const ok = folder('ns', { Dockerfile: `${FROM}\n` });
    const r2 = await build(ok, '-t', 'someone-else/web:x');
    expect(r2.exitCode).not.toBe(0);
    expect(r2.stderr).toMatch(new RegExp(`${owner} may push only to ${owner}/`));
    expect(r2.stderr).not.toMatch(/uploaded/); // refused with the manifest, before any file moved

    // A .dockerignore that lists the Dockerfile still sends it (docker's behaviour).
    const ignored = folder('ignores-dockerfile', { Dockerfile: `${FROM}\nRUN echo kept-${owner}\n`, '.dockerignore': 'Dockerfile\n.dockerignore\n' });
    const r3 = await build(ignored);
    expect(r3.exitCode, r3.all).toBe(0);
    expect(r3.all).toContain(`kept-${owner}`);
  }, 180_000);
});

/** Processes on this host whose command line contains `text`. */
function pgrep(text: string): string[] {
  try {
    return execFileSync('pgrep', ['-f', '--', text], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
  } catch {
    return [];
  }
}
