/**
 * Issue 24's findings on the registry, build args and logs, through the real server, its token registry,
 * dockerd's BuildKit and the SQLite file: a repository named just after a user gets no token (and one made
 * anyway counts toward that user), secret-looking build args are in no server file, and a line break or ESC in
 * a value never makes a line of its own in a log.
 */
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { filesContaining } from '../helpers/files.js';
import { WorkRepo } from '../helpers/git.js';
import { uniqueBytes } from '../helpers/registry.js';
import { TestServer, uniqueName } from '../helpers/server.js';

const FROM = 'FROM localhost:5000/cache/busybox:latest';
let server: TestServer;
let alice: string;
let token: string;
let adminToken: string;
let work: string;
let cli: string;

/** What a workspace has: node on PATH, a HOME, CODEHUB_URL and CODEHUB_TOKEN. */
const build = (cwd: string, ...args: string[]) =>
  execa(cli, ['build', ...args], {
    cwd,
    env: { HOME: join(work, 'home'), PATH: '/usr/local/bin:/usr/bin:/bin', CODEHUB_URL: server.url, CODEHUB_TOKEN: token },
    extendEnv: false,
    reject: false,
    all: true,
  });

const sha256 = (value: string) => createHash('sha256').update(`${value}\n`).digest('hex');

function folder(name: string, files: Record<string, string>): string {
  const dir = join(work, name);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  return dir;
}

/** What the token server grants `user` for `scope`: the access list of the JWT it answers with. */
async function granted(user: string, secret: string, scope: string): Promise<{ status: number; access: { name: string; actions: string[] }[] }> {
  const res = await fetch(`${server.url}/registry/token?service=codehub-build-registry&scope=${encodeURIComponent(scope)}`, {
    headers: { authorization: `Basic ${Buffer.from(`${user}:${secret}`).toString('base64')}` },
  });
  const body = (await res.json()) as { token?: string };
  const claims = body.token
    ? (JSON.parse(Buffer.from(body.token.split('.')[1]!, 'base64url').toString()) as { access: { name: string; actions: string[] }[] })
    : { access: [] };
  return { status: res.status, access: claims.access };
}

beforeAll(async () => {
  server = await TestServer.start();
  adminToken = server.firstAdminToken;
  alice = uniqueName('sec');
  token = server.addUser(alice);
  work = mkdtempSync(join(tmpdir(), 'chb-security-'));
  mkdirSync(join(work, 'home'));
  cli = await server.downloadCli(join(work, 'home'));
}, 120_000);
afterAll(async () => {
  await server?.stop();
});

describe('registry namespaces (quota bypass)', () => {
  it('grants nothing on a repository named just after the user, nor on a name the registry would not accept; docker push there is denied', async () => {
    expect((await granted(alice, token, `repository:${alice}/app:push,pull`)).access).toEqual([
      { type: 'repository', name: `${alice}/app`, actions: ['push', 'pull'] },
    ]);
    for (const name of [alice, `${alice}/../bob/x`, `${alice}//x`, `${alice}/X`, `${alice}/x/`, `${alice}/-x`, `${alice}/x..y`]) {
      const r = await granted(alice, token, `repository:${name}:push,pull`);
      expect(r.status, name).toBe(200);
      expect(r.access, name).toEqual([]);
    }
    // An admin neither: nothing is signed for a name outside the registry's grammar.
    expect((await granted('admin', adminToken, `repository:${alice}/../bob/x:push,pull`)).access).toEqual([]);

    const docker = await server.docker(alice, token);
    expect((await docker('tag', 'localhost:5000/cache/busybox:latest', `${server.registry}/${alice}:x`)).exitCode).toBe(0);
    const top = await docker('push', `${server.registry}/${alice}:x`);
    expect(top.exitCode).not.toBe(0);
    expect(top.all).toMatch(/denied|unauthorized/i);
    // The same image into the namespace goes through, so the refusal above is the name's.
    expect((await docker('tag', 'localhost:5000/cache/busybox:latest', `${server.registry}/${alice}/app:x`)).exitCode).toBe(0);
    expect((await docker('push', `${server.registry}/${alice}/app:x`)).exitCode).toBe(0);
    await docker('image', 'rm', `${server.registry}/${alice}:x`, `${server.registry}/${alice}/app:x`);
  });

  it('counts a top-level repository made before the fix toward the user it is named after, and says so to the operator', async () => {
    const bob = uniqueName('old');
    const bobToken = server.addUser(bob);
    // As made before the fix (only an admin can now): a repository named just `bob`, holding a layer of its own.
    const admin = await server.docker('admin', adminToken);
    const dir = folder(`old-${bob}`, { Dockerfile: `${FROM}\nRUN head -c 300000 /dev/urandom > /blob\n` });
    const built = await execa('docker', ['build', '-q', '-t', `${server.registry}/${bob}:old`, dir], { reject: false, all: true });
    expect(built.exitCode, built.all).toBe(0);
    const pushed = await admin('push', `${server.registry}/${bob}:old`);
    expect(pushed.exitCode, pushed.all).toBe(0);
    await admin('image', 'rm', `${server.registry}/${bob}:old`);

    const gc = server.cli(['gc', '--dry-run']);
    expect(gc.status, gc.stderr).toBe(0);
    expect(gc.stdout).toContain(`${bob} is outside every namespace`);
    expect(gc.stdout).toContain(`its usage counts toward user ${bob}`);
    const usage = (await server.api('/api/usage', bobToken)).body;
    expect(usage.bytes).toBe(await uniqueBytes(server.registryAccess, [bob]));
    expect(usage.bytes).toBeGreaterThan(300_000);
    expect(usage.images).toEqual([{ image: '', bytes: usage.bytes, tags: 1 }]);
    const cliUsage = server.cli(['usage'], { CODEHUB_TOKEN: bobToken });
    expect(cliUsage.stdout).toContain(`${bob} (top level, counted as ${bob}'s)`);
  });
});

describe('secret-looking build args', () => {
  it('an upload build gets the value, and no server file (database, WAL, logs) holds it', async () => {
    const value = `tok-${uniqueName('v')}-upload`;
    // The Dockerfile checks the value by its hash: the uploaded Dockerfile itself must not hold it either.
    const dir = folder('args-upload', {
      Dockerfile: `${FROM}\nARG API_TOKEN\nARG MODE\nRUN test "$(echo "$API_TOKEN" | sha256sum | cut -c1-64)" = "${sha256(value)}" && echo "arg-check-ok $MODE"\n`,
    });
    const r = await build(dir, '-t', 'args:1', '--build-arg', `API_TOKEN=${value}`, '--build-arg', 'MODE=plain', '.');
    expect(r.exitCode, r.all).toBe(0);
    expect(r.all).toMatch(/^#\d+ arg-check-ok plain$/m);
    const id = Number(/build #(\d+) queued/.exec(r.all)![1]);
    const b = (await server.api(`/api/builds/${id}`, token)).body;
    expect(b.config.args).toEqual({ API_TOKEN: '***', MODE: 'plain' });
    expect(filesContaining(server.dataDir, value)).toEqual([]);
  });

  it('a push build reads the value from its commit, and no server file but the git repo holds it', async () => {
    const value = `pw-${uniqueName('v')}-push`;
    const repo = await WorkRepo.create({
      Dockerfile: `${FROM}\nARG DB_PASSWORD\nRUN test "$DB_PASSWORD" = "${value}" && echo push-arg-ok\n`,
      'codehub-build.yaml': `version: 1\nimages:\n  - name: app\n    args:\n      DB_PASSWORD: ${value}\n`,
    });
    expect((await repo.push(server.gitUrl(alice, token, alice, 'args'), ['main'])).exitCode).toBe(0);
    const [b] = await server.waitForBuilds((await repo.git.revparse(['HEAD'])).trim(), token);
    expect(b.status, b.reason).toBe('succeeded');
    expect(b.config.args).toEqual({ DB_PASSWORD: '***' });
    const log = (await server.api(`/api/builds/${b.id}/log`, token)).body as string;
    expect(log).toMatch(/^#\d+ push-arg-ok$/m);
    // The repo holds its own commit (a loose object, compressed); nothing else the server wrote holds the value.
    expect(filesContaining(server.dataDir, value)).toEqual([]);
  });
});

describe('log injection', () => {
  it('a line break or ESC in a build arg stays inside its step line, in the log, its timestamped text and the SSE stream', async () => {
    const forged = `build #999: succeeded FORGED-${uniqueName('f')}`;
    const dir = folder('inject', { Dockerfile: `${FROM}\nARG NOTE\nRUN echo "note: \${NOTE}" > /dev/null\n` });
    const r = await build(dir, '-t', 'inject:1', '--build-arg', `NOTE=a\n${forged}\n\x1b[2Jb`, '.');
    expect(r.exitCode, r.all).toBe(0);
    const id = Number(/build #(\d+) queued/.exec(r.all)![1]);
    for (const query of ['', '?timestamps=1']) {
      const text = (await server.api(`/api/builds/${id}/log${query}`, token)).body as string;
      const lines = text.split('\n').map((l) => (query ? l.replace(/^\S+ /, '') : l));
      expect(
        lines.filter((l) => l.startsWith('build #999')),
        query,
      ).toEqual([]);
      expect(text).not.toContain('\x1b[2J');
      expect(lines.join('\n')).toMatch(new RegExp(`^#\\d+ \\[2/2\\] RUN echo "note: a\\\\n${forged}\\\\n\\\\x1b\\[2Jb" > /dev/null$`, 'm'));
    }
    const sse = await fetch(`${server.url}/api/builds/${id}/log`, { headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' } });
    const data = (await sse.text()).split('\n').filter((l) => l.startsWith('data:'));
    expect(data.filter((l) => l.startsWith('data: build #999') || l.startsWith('data:build #999'))).toEqual([]);
    expect(data.some((l) => l.includes(`a\\n${forged}\\n\\x1b[2Jb`))).toBe(true);
    expect(data.join('\n')).not.toContain('\x1b[2J');
  });

  it('refuses upload paths with control characters, naming the entry, and the folder ".."', async () => {
    const entry = { mode: 0o644, size: 0, sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' };
    for (const [path, char] of [
      ['a\x1bb.txt', 'U+001B'],
      ['bell\x07', 'U+0007'],
      ['del\x7f', 'U+007F'],
      ['c1\u0085x', 'U+0085'],
    ] as const) {
      const res = await fetch(`${server.url}/api/uploads`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          folder: 'web',
          entries: [
            { path: 'Dockerfile', ...entry },
            { path, ...entry },
          ],
        }),
      });
      expect(res.status, path).toBe(400);
      const { error } = (await res.json()) as { error: { message: string } };
      expect(error.message).toContain(`the path holds the control character ${char}`);
      expect(error.message).toContain(`entries[1] (${JSON.stringify(path).replace(/[\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16)}`)})`);
      expect(error.message).not.toMatch(/[\x7f-\x9f]/);
    }
    for (const name of ['..', '.']) {
      const res = await fetch(`${server.url}/api/uploads`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ folder: name, entries: [{ path: 'Dockerfile', ...entry }] }),
      });
      expect(res.status, name).toBe(400);
      expect(((await res.json()) as { error: { message: string } }).error.message).toContain('not "." or ".."');
    }
  });
});
