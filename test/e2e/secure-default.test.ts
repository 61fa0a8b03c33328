/**
 * The local stack on its defaults is secure: `scripts/stack.sh up` starts the registry with codehub-build's
 * token auth (realm: the server on CODEHUB_PORT; trust: the token certificate in CODEHUB_DATA_DIR), so an
 * anonymous `docker push` into a user's namespace is refused, and a user's `docker login` with their token
 * pushes their own images and pulls only what they may read. Run as a second default stack (its own state
 * folder, registry port and server port) beside the suite's, through the same code path as `npm start`.
 */
import { execa } from 'execa';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../src/paths.js';
import { freePort, TestServer, uniqueName } from '../helpers/server.js';

let server: TestServer;
let addr: string;
let env: Record<string, string>;
const stackDir = mkdtempSync(join(tmpdir(), 'chb-stack-'));
const dataDir = mkdtempSync(join(tmpdir(), 'chb-secure-'));
const defaultStack = (...args: string[]) => execa('bash', [join(PACKAGE_ROOT, 'scripts', 'stack.sh'), ...args], { reject: false, all: true, env });

beforeAll(async () => {
  addr = `127.0.0.1:${await freePort()}`;
  const port = await freePort();
  env = { CODEHUB_STACK_DIR: stackDir, CODEHUB_STACK_REGISTRY_ADDR: addr, CODEHUB_PORT: String(port), CODEHUB_DATA_DIR: dataDir };
  const up = await defaultStack('up');
  expect(up.exitCode, up.all).toBe(0);
  expect(up.all).toContain(`registry http://${addr} (token auth)`);
  // The server `npm start` would run: same port and data dir, every other setting its default.
  server = await TestServer.start({ dataDir, port, env: { CODEHUB_REGISTRY: addr } });
}, 120_000);

afterAll(async () => {
  await server?.stop();
  await defaultStack('token-registry', 'down', addr);
  await execa('docker', ['image', 'rm', `localhost:${addr.split(':')[1]}/cache/busybox:latest`], { reject: false });
  rmSync(stackDir, { recursive: true, force: true });
});

/** The docker CLI with a config folder of its own: signed in with `docker login` as `user`, or anonymous. */
async function dockerAs(user?: string, token?: string) {
  const config = mkdtempSync(join(tmpdir(), 'chb-dcfg-'));
  writeFileSync(join(config, 'config.json'), '{}');
  const run = (...args: string[]) => execa('docker', args, { reject: false, all: true, env: { DOCKER_CONFIG: config } });
  if (user) {
    const login = await execa('docker', ['login', '-u', user, '--password-stdin', addr], {
      input: token,
      reject: false,
      all: true,
      env: { DOCKER_CONFIG: config },
    });
    expect(login.exitCode, login.all).toBe(0);
  }
  return run;
}

describe('the default local stack', () => {
  it("trusts the server's own token certificate and names it as the realm", () => {
    const config = readFileSync(join(stackDir, 'registry.yml'), 'utf8');
    expect(config).toContain(`realm: ${server.url}/registry/token`);
    expect(config).toContain(`rootcertbundle: ${join(dataDir, 'secrets', 'registry-token.crt')}`);
  });

  it("refuses an anonymous docker push into a user's namespace, and lets users push their own and pull only what they may read", async () => {
    const alice = uniqueName('alice');
    const bob = uniqueName('bob');
    const aliceToken = server.addUser(alice);
    const bobToken = server.addUser(bob);
    const base = 'localhost:5000/cache/busybox:latest';
    const shop = `${addr}/${alice}/shop:main`;
    expect((await execa('docker', ['tag', base, shop])).exitCode).toBe(0);

    const anonymous = await dockerAs();
    const refused = await anonymous('push', shop);
    expect(refused.exitCode).not.toBe(0);
    expect(refused.all).toMatch(/unauthorized|authentication required|denied/i);
    expect((await fetch(`http://${addr}/v2/${alice}/shop/tags/list`)).status).toBe(401);

    const asAlice = await dockerAs(alice, aliceToken);
    const pushed = await asAlice('push', shop);
    expect(pushed.exitCode, pushed.all).toBe(0);
    const asBob = await dockerAs(bob, bobToken);
    // Bob may not write into alice's namespace, nor read her unshared image.
    const bobsPush = await asBob('push', shop);
    expect(bobsPush.exitCode).not.toBe(0);
    expect(bobsPush.all).toMatch(/denied|unauthorized|authentication required/i);
    await execa('docker', ['image', 'rm', shop], { reject: false });
    const bobsPull = await asBob('pull', shop);
    expect(bobsPull.exitCode).not.toBe(0);
    expect(bobsPull.all).toMatch(/denied|unauthorized|not found|authentication required/i);
    const alicesPull = await asAlice('pull', shop);
    expect(alicesPull.exitCode, alicesPull.all).toBe(0);
    // The base images are public: pulled without a login, from the registry the stack seeded past its auth.
    const baseRef = `${addr}/cache/busybox:latest`;
    const publicPull = await anonymous('pull', baseRef);
    expect(publicPull.exitCode, publicPull.all).toBe(0);
    await execa('docker', ['image', 'rm', shop, baseRef], { reject: false });
  });
});
