/**
 * The registry's token auth against the real registry (scripts/stack.sh token-registry), dockerd and the
 * docker CLI: a namespace is its user's, an image of a shared repo can be pulled by those it is shared with,
 * and a build pushes with a credential of its own.
 */
import { execa } from 'execa';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkRepo } from '../helpers/git.js';
import { freePort, stack, TestServer, uniqueName } from '../helpers/server.js';

let server: TestServer;
let addr: string;
let alice: string;
let aliceToken: string;
let bob: string;
let bobToken: string;

beforeAll(async () => {
  addr = `127.0.0.1:${await freePort()}`;
  server = await TestServer.start({ env: { CODEHUB_REGISTRY_AUTH: 'token', CODEHUB_REGISTRY: addr } });
  const up = await stack('token-registry', 'up', addr, `${server.url}/registry/token`, join(server.dataDir, 'secrets', 'registry-token.crt'));
  expect(up.exitCode, up.stderr).toBe(0);
  alice = uniqueName('alice');
  bob = uniqueName('bob');
  aliceToken = server.addUser(alice);
  bobToken = server.addUser(bob);
});
afterAll(async () => {
  await stack('token-registry', 'down', addr);
  await server?.stop();
});

/** The docker CLI signed in to the token registry as `user` (a config folder of its own), or anonymous. */
function dockerAs(user?: string, token?: string) {
  const dir = mkdtempSync(join(tmpdir(), 'chb-dcfg-'));
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify(user ? { auths: { [addr]: { auth: Buffer.from(`${user}:${token}`).toString('base64') } } } : {}));
  return (...args: string[]) => execa('docker', args, { reject: false, env: { DOCKER_CONFIG: dir }, all: true });
}

/** A registry token for `user` with the given scope, from the realm, as a docker client would get one. */
async function tokenFor(user: string, token: string, scope: string): Promise<string> {
  const res = await fetch(`${server.url}/registry/token?service=codehub-build-registry&scope=${encodeURIComponent(scope)}`, {
    headers: { authorization: `Basic ${Buffer.from(`${user}:${token}`).toString('base64')}` },
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { token: string }).token;
}

describe('registry token auth', () => {
  it('builds push with their own credential: the image and every tag land in the token registry', async () => {
    const repo = await WorkRepo.create({ Dockerfile: `FROM localhost:5000/cache/busybox:latest\nRUN echo token-${alice}\n` });
    const sha = (await repo.git.revparse(['HEAD'])).trim();
    expect((await repo.push(server.gitUrl(alice, aliceToken, alice, 'app'), ['main'])).exitCode).toBe(0);
    const [b] = await server.waitForBuilds(sha, aliceToken);
    expect(b.status, b.reason).toBe('succeeded');
    const anonymous = await fetch(`http://${addr}/v2/${alice}/app/tags/list`);
    expect(anonymous.status).toBe(401); // the registry really asks for a token
    expect(anonymous.headers.get('www-authenticate')).toContain(`realm="${server.url}/registry/token"`);
    const t = await tokenFor(alice, aliceToken, `repository:${alice}/app:pull`);
    const tags = (await (await fetch(`http://${addr}/v2/${alice}/app/tags/list`, { headers: { authorization: `Bearer ${t}` } })).json()) as { tags: string[] };
    expect(tags.tags.sort()).toEqual([sha, 'latest', 'main'].sort());
  });

  it("lets docker push into one's own namespace and refuses another's, and anonymous pushes", async () => {
    const docker = dockerAs(alice, aliceToken);
    expect((await docker('tag', 'localhost:5000/cache/busybox:latest', `${addr}/${alice}/own:1`)).exitCode).toBe(0);
    const own = await docker('push', `${addr}/${alice}/own:1`);
    expect(own.exitCode, own.all).toBe(0);
    expect((await docker('tag', 'localhost:5000/cache/busybox:latest', `${addr}/${bob}/theirs:1`)).exitCode).toBe(0);
    const theirs = await docker('push', `${addr}/${bob}/theirs:1`);
    expect(theirs.exitCode).not.toBe(0);
    expect(theirs.all).toMatch(/denied|insufficient_scope|authentication required|unauthorized/i);
    const anon = await dockerAs()('push', `${addr}/${alice}/own:1`);
    expect(anon.exitCode).not.toBe(0);
    for (const ref of [`${addr}/${alice}/own:1`, `${addr}/${bob}/theirs:1`]) await docker('image', 'rm', ref);
  });

  it("lets bob pull alice's image only once she shares its repo with him", async () => {
    const docker = dockerAs(bob, bobToken);
    const refused = await docker('pull', `${addr}/${alice}/app:main`);
    expect(refused.exitCode).not.toBe(0);
    expect(refused.all).toMatch(/denied|insufficient_scope|unauthorized|authentication required/i);
    expect(server.cli(['repo', 'share', `${alice}/app`, bob, '--role', 'read'], { CODEHUB_TOKEN: aliceToken }).status).toBe(0);
    const pulled = await docker('pull', `${addr}/${alice}/app:main`);
    expect(pulled.exitCode, pulled.all).toBe(0);
    await docker('image', 'rm', `${addr}/${alice}/app:main`);
  });

  it('refuses a direct docker push to a namespace over quota, saying why, and still lets its owner pull', async () => {
    // One byte: alice's images (recorded when her build pushed them) are over it.
    expect(server.cli(['user', 'quota', alice, '1']).status).toBe(0);
    try {
      const docker = dockerAs(alice, aliceToken);
      expect((await docker('tag', 'localhost:5000/cache/busybox:latest', `${addr}/${alice}/own:2`)).exitCode).toBe(0);
      const push = await docker('push', `${addr}/${alice}/own:2`);
      expect(push.exitCode).not.toBe(0);
      expect(push.all).toContain(`${alice} is over quota:`);
      expect(push.all).toContain('free space with codehub-build image rm, gc or a smaller retention');
      const pull = await docker('pull', `${addr}/${alice}/app:main`);
      expect(pull.exitCode, pull.all).toBe(0);
      for (const ref of [`${addr}/${alice}/own:2`, `${addr}/${alice}/app:main`]) await docker('image', 'rm', ref);
    } finally {
      server.cli(['user', 'quota', alice, 'default']);
    }
  });

  it("removes a tag pushed by hand when its owner asks, through the server's own token for the delete", async () => {
    const rm = server.cli(['image', 'rm', `${alice}/own:1`], { CODEHUB_TOKEN: aliceToken });
    expect(rm.stdout, rm.stderr).toContain(`removed ${alice}/own:1`);
    const t = await tokenFor(alice, aliceToken, `repository:${alice}/own:pull`);
    const res = await fetch(`http://${addr}/v2/${alice}/own/manifests/1`, {
      method: 'HEAD',
      headers: { authorization: `Bearer ${t}`, accept: 'application/vnd.docker.distribution.manifest.v2+json' },
    });
    expect(res.status).toBe(404);
    expect(server.cli(['image', 'rm', `${alice}/app:main`], { CODEHUB_TOKEN: bobToken }).stderr).toContain(`no user ${alice}`);
  });
});
