/**
 * The server image as an operator runs it: built here by scripts/image.sh (no outside image), started with a
 * data volume and the Docker socket, on its own defaults (token auth included) with a token registry whose
 * realm is the container. A user added inside it pushes a commit; the image lands in the registry; the
 * container restarted keeps its history.
 */
import { execa } from 'execa';
import { statSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../src/paths.js';
import { WorkRepo } from '../helpers/git.js';
import { freePort, stack, uniqueName, waitFor } from '../helpers/server.js';

const docker = (...args: string[]) => execa('docker', args, { reject: false, all: true });
let image = '';
let size = '';
const name = uniqueName('chb-image');
const volume = `${name}-data`;
let port = 0;
let registry = '';
const url = () => `http://127.0.0.1:${port}`;

beforeAll(async () => {
  const built = await execa('bash', [join(PACKAGE_ROOT, 'scripts', 'image.sh')], { reject: false, all: true });
  expect(built.exitCode, built.all).toBe(0);
  [image, size] = built.stdout.trim().split('\n').pop()!.split(' ') as [string, string];
  port = await freePort();
  registry = `127.0.0.1:${await freePort()}`;
}, 900_000);

afterAll(async () => {
  await docker('rm', '-f', name);
  await docker('volume', 'rm', volume);
  await stack('token-registry', 'down', registry, '--purge');
});

async function healthy(): Promise<void> {
  await waitFor(
    'the container to answer /healthz',
    async () => {
      try {
        return (await fetch(`${url()}/healthz`)).status;
      } catch {
        return 0;
      }
    },
    (s) => s === 200,
    60_000,
  );
}

describe('the server image (scripts/image.sh)', () => {
  it('is Node 24, non-root, with git and the BuildKit clients, and says its size', async () => {
    expect(image).toMatch(/^localhost:5000\/system\/codehub-build:\d+\.\d+\.\d+$/);
    expect(size).toMatch(/^\d+(\.\d+)?MiB$/);
    const inspect = JSON.parse((await docker('image', 'inspect', image)).stdout)[0];
    expect(inspect.Config.User).toBe('node');
    expect(inspect.Config.Volumes).toHaveProperty(['/data']);
    const versions = await docker(
      'run',
      '--rm',
      '--entrypoint',
      'sh',
      image,
      '-c',
      'node -v; git --version; docker-buildx version || /usr/libexec/docker/cli-plugins/docker-buildx version; id -u',
    );
    expect(versions.exitCode, versions.all).toBe(0);
    const [node, git, buildx, uid] = versions.stdout.trim().split('\n');
    expect(node).toMatch(/^v24\./);
    expect(git).toMatch(/^git version 2\./);
    expect(buildx).toMatch(/buildx/);
    expect(uid).toBe('1000');
  });

  it('survives background GC of many finished SQLite statements (better-sqlite3 built against headers that do not abort, nodejs/node#65446)', async () => {
    const script =
      "const D = require('/app/node_modules/better-sqlite3'); const db = new D(':memory:');" +
      " for (let i = 0; i < 200000; i++) db.prepare('select ' + i).get(); setTimeout(() => console.log('alive'), 1500);";
    const r = await docker('run', '--rm', '--entrypoint', 'node', image, '-e', script);
    expect(r.exitCode, r.all).toBe(0);
    expect(r.stdout).toBe('alive');
  });

  it('runs on its defaults with a data volume: serves the downloads, migrates, builds a pushed commit into the token registry, and keeps its history across a restart', async () => {
    const socketGid = String(statSync('/var/run/docker.sock').gid);
    // Host networking: the registry and the server are on this machine's loopback, as dockerd (which pushes) sees them.
    const run = await docker(
      'run',
      '-d',
      '--name',
      name,
      '--network',
      'host',
      '-v',
      `${volume}:/data`,
      '-v',
      '/var/run/docker.sock:/var/run/docker.sock',
      '--group-add',
      socketGid,
      '-e',
      `CODEHUB_PORT=${port}`,
      '-e',
      'CODEHUB_HOST=127.0.0.1',
      '-e',
      `CODEHUB_REGISTRY=${registry}`,
      image,
    );
    expect(run.exitCode, run.all).toBe(0);
    await waitFor(
      'the server to listen',
      async () => {
        try {
          return (await fetch(`${url()}/healthz`)).status;
        } catch {
          return 0;
        }
      },
      (s) => s > 0,
      60_000,
    ).catch(async (e: Error) => {
      throw new Error(`${e.message}\n${(await docker('logs', name)).all}`);
    });
    // The token key pair the server made in its volume on first start is what the registry trusts.
    const certDir = mkdtempSync(join(tmpdir(), 'chb-image-cert-'));
    expect((await docker('cp', `${name}:/data/secrets/registry-token.crt`, certDir)).exitCode).toBe(0);
    const up = await stack('token-registry', 'up', registry, `${url()}/registry/token`, join(certDir, 'registry-token.crt'));
    expect(up.exitCode, up.all).toBe(0);
    await healthy();
    // What workspaces download from it: the client CLI and the extension, built in the image.
    const cli = await fetch(`${url()}/downloads/codehub-build`);
    expect(cli.status).toBe(200);
    expect((await cli.text()).startsWith('#!/usr/bin/env node\n')).toBe(true);
    const vsix = await fetch(`${url()}/downloads/codehub-build.vsix`);
    expect(vsix.status).toBe(200);
    expect(
      Buffer.from(await vsix.arrayBuffer())
        .subarray(0, 2)
        .toString(),
    ).toBe('PK'); // a zip, as a .vsix is

    const owner = uniqueName('imaged');
    const added = await docker('exec', name, 'dist/src/cli.js', 'user', 'add', owner);
    expect(added.exitCode, added.all).toBe(0);
    const token = added.stdout.trim().split('\n').pop()!;
    const repo = await WorkRepo.create({ Dockerfile: `FROM localhost:5000/cache/busybox:latest\nRUN echo image-${owner}\n` });
    const sha = (await repo.git.revparse(['HEAD'])).trim();
    const push = await repo.push(`http://${owner}:${token}@127.0.0.1:${port}/git/${owner}/app.git`, ['main'], ['wait']);
    expect(push.exitCode, push.output).toBe(0);
    const builds = async () =>
      ((await (await fetch(`${url()}/api/builds?commit=${sha}`, { headers: { authorization: `Bearer ${token}` } })).json()) as { builds: any[] }).builds;
    const [b] = await waitFor('the build', builds, (bs) => bs.length === 1 && ['succeeded', 'failed'].includes(bs[0].status), 120_000);
    expect(b.status, b.reason).toBe('succeeded');

    // The registry is token-auth: anonymous gets 401; the owner's docker login pulls the pushed digest.
    expect((await fetch(`http://${registry}/v2/${owner}/app/tags/list`)).status).toBe(401);
    const config = mkdtempSync(join(tmpdir(), 'chb-image-docker-'));
    const as = (...args: string[]) => execa('docker', args, { reject: false, all: true, env: { DOCKER_CONFIG: config } });
    expect(
      (await execa('docker', ['login', '-u', owner, '--password-stdin', registry], { input: token, reject: false, env: { DOCKER_CONFIG: config } })).exitCode,
    ).toBe(0);
    const pulled = await as('pull', `${registry}/${owner}/app:${sha}`);
    expect(pulled.exitCode, pulled.all).toBe(0);
    expect(pulled.all).toContain(b.digest);
    await as('image', 'rm', `${registry}/${owner}/app:${sha}`);

    // Restarted, it keeps the user, the token and the build.
    expect((await docker('restart', name)).exitCode).toBe(0);
    await healthy();
    const after = await builds();
    expect(after.map((x) => [x.id, x.status, x.digest])).toEqual([[b.id, 'succeeded', b.digest]]);
    // It migrated its database at start: nothing is left to apply.
    const migrated = await docker('exec', name, 'dist/src/cli.js', 'migrate');
    expect(migrated.stdout).toMatch(/database \/data\/codehub\.db is up to date \(\d+ migrations applied\)/);
  });
});
