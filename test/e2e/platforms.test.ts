/**
 * Multi-platform images (issue 29) through the real server, git, dockerd's BuildKit, QEMU and a registry: a repo
 * whose image lists linux/amd64 and linux/arm64 is built once per platform (dockerd's overlay2 store holds one) and
 * joined into one index under every tag; `docker pull --platform` of the tag runs each (arm64 under QEMU). A
 * failing platform fails the build by name, a builder without an emulator says so, and retention and the
 * registry's gc keep every platform of a kept image and free the removed ones' blobs.
 */
import { execa } from 'execa';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkRepo } from '../helpers/git.js';
import { blobsOf, registryFetch, tagDigest, tagsOf, uniqueBytes } from '../helpers/registry.js';
import { freePort, stack, TestServer, uniqueName } from '../helpers/server.js';

/** The open registry npm test starts with the base image's two platforms (scripts/stack.sh registry up --with-base). */
const FROM = 'FROM localhost:5001/cache/busybox:latest';
const YAML = 'version: 1\nimages:\n  - name: app\n    platforms: [linux/amd64, linux/arm64]\n';
const LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
const QEMU = '/proc/sys/fs/binfmt_misc/qemu-aarch64';

let addr: string;
let server: TestServer;
let owner: string;
let token: string;
let repo: WorkRepo;
let repository: string;

beforeAll(async () => {
  addr = `127.0.0.1:${await freePort()}`;
  const up = await stack('registry', 'up', addr);
  expect(up.exitCode, up.all).toBe(0);
  server = await TestServer.start({ env: { CODEHUB_REGISTRY: addr, CODEHUB_MAX_ATTEMPTS: '1', CODEHUB_RETENTION_GRACE: '0' } });
  owner = uniqueName('plat');
  token = server.addUser(owner);
  repository = `${owner}/app`;
  repo = await WorkRepo.create({ 'codehub-build.yaml': YAML, Dockerfile: `${FROM}\nRUN echo ${owner} > /marker && uname -m > /arch\nCMD ["cat", "/arch"]\n` });
}, 120_000);

afterAll(async () => {
  await server?.stop();
  if (addr) await stack('registry', 'down', addr);
});

/** Pushes HEAD to main and returns the commit's build once it ended. */
async function pushed(): Promise<any> {
  const sha = (await repo.git.revparse(['HEAD'])).trim();
  const push = await repo.push(server.gitUrl(owner, token, owner, 'app'), ['HEAD:main']);
  expect(push.exitCode, push.output).toBe(0);
  return (await server.waitForBuilds(sha, token, { timeoutMs: 240_000 }))[0];
}

async function manifest(reference: string): Promise<any> {
  const res = await registryFetch(addr, `/v2/${repository}/manifests/${reference}`, {
    headers: { accept: `${LIST}, application/vnd.docker.distribution.manifest.v2+json` },
  });
  expect(res.status, `${repository}@${reference}`).toBe(200);
  return res.json();
}

async function configOf(digest: string): Promise<{ architecture: string; os: string }> {
  const m = await manifest(digest);
  return (await registryFetch(addr, `/v2/${repository}/blobs/${m.config.digest}`)).json() as Promise<{ architecture: string; os: string }>;
}

/** Pulls the tag for one platform and runs it: what `cat /arch` prints. */
async function runFor(platform: string): Promise<string> {
  const ref = `${addr}/${repository}:main`;
  const pull = await execa('docker', ['pull', '-q', '--platform', platform, ref], { reject: false, all: true });
  expect(pull.exitCode, pull.all).toBe(0);
  const run = await execa('docker', ['run', '--rm', '--platform', platform, ref], { reject: false, all: true });
  await execa('docker', ['image', 'rm', ref], { reject: false });
  expect(run.exitCode, run.all).toBe(0);
  return run.stdout.trim();
}

const noStagingTags = async () => expect((await tagsOf(addr, repository)).filter((t) => t.startsWith('codehub-platform-'))).toEqual([]);

describe('multi-platform images', () => {
  let first: any;
  let firstIndex: any;

  it('joins linux/amd64 and linux/arm64 into one index under every tag; arm64 runs under QEMU and prints aarch64', async () => {
    first = await pushed();
    expect(first.status, first.reason ?? '').toBe('succeeded');
    const index = await manifest('main');
    firstIndex = index;
    expect(index.mediaType).toBe(LIST);
    expect(index.manifests.map((m: any) => `${m.platform.os}/${m.platform.architecture}`)).toEqual(['linux/amd64', 'linux/arm64']);
    for (const tag of [first.commit, 'main', 'latest']) expect(await tagDigest(addr, repository, tag), tag).toBe(first.digest);
    // Each platform's own image: its config says its architecture, and its RUN layer is its own.
    const [amd64, arm64] = index.manifests.map((m: any) => m.digest as string);
    expect(await configOf(amd64!)).toMatchObject({ os: 'linux', architecture: 'amd64' });
    expect(await configOf(arm64!)).toMatchObject({ os: 'linux', architecture: 'arm64' });
    const layers = async (d: string) => (await manifest(d)).layers.map((l: any) => l.digest as string);
    expect((await layers(amd64!)).at(-1)).not.toBe((await layers(arm64!)).at(-1));
    await noStagingTags();

    const log = (await server.api(`/api/builds/${first.id}/log`, token)).body as string;
    for (const p of ['linux/amd64', 'linux/arm64']) expect(log).toMatch(new RegExp(`^\\[${p}\\] #\\d+ \\[2/2\\] RUN echo ${owner}`, 'm'));
    expect(log).toContain(`joined linux/amd64 ${amd64!.slice(0, 19)}, linux/arm64 ${arm64!.slice(0, 19)} into ${addr}/${repository}:`);
    expect(first.insight.steps.map((s: any) => s.name)).toEqual(
      expect.arrayContaining([
        `[linux/amd64 2/2] RUN echo ${owner} > /marker && uname -m > /arch`,
        `[linux/arm64 2/2] RUN echo ${owner} > /marker && uname -m > /arch`,
      ]),
    );

    expect(await runFor('linux/arm64')).toBe('aarch64');
    expect(await runFor('linux/amd64')).toBe('x86_64');
  });

  it('lists the platforms with their digests in the API and on the build page, and scans each platform', async () => {
    expect(first.platforms).toEqual([
      { platform: 'linux/amd64', digest: firstIndex.manifests[0].digest },
      { platform: 'linux/arm64', digest: firstIndex.manifests[1].digest },
    ]);
    expect(first.scan).toMatchObject({ status: 'passed', platforms: ['linux/amd64', 'linux/arm64'] });
    const page = await (await fetch(`${server.url}/builds/${first.id}`, { headers: { authorization: `Bearer ${token}` } })).text();
    for (const p of first.platforms) expect(page).toContain(`<li>${p.platform} <span class="mono" title="${p.digest}">${p.digest.slice(0, 19)}`);
    // Each platform's SBOM names its own architecture in the image's purl.
    for (const arch of ['amd64', 'arm64']) {
      const sbom = (await server.api(`/api/builds/${first.id}/sbom?format=cyclonedx&platform=linux/${arch}`, token)).body;
      expect(sbom.metadata.component.purl).toContain(`arch=${arch}`);
    }
    const other = await server.api(`/api/builds/${first.id}/sbom?platform=linux/s390x`, token);
    expect(other.status).toBe(400);
    expect(JSON.stringify(other.body)).toContain('its platforms are linux/amd64, linux/arm64');
  });

  it('builds a workspace folder for two platforms with codehub-build build --platform, and names a bad platform before uploading', async () => {
    const home = mkdtempSync(join(tmpdir(), 'chb-plat-home-'));
    const cli = await server.downloadCli(home);
    const folder = mkdtempSync(join(tmpdir(), 'chb-plat-folder-'));
    writeFileSync(join(folder, 'Dockerfile'), `${FROM}\nRUN echo ${owner}-folder && uname -m > /arch\nCMD ["cat", "/arch"]\n`);
    const env = { HOME: home, PATH: '/usr/local/bin:/usr/bin:/bin', CODEHUB_URL: server.url, CODEHUB_TOKEN: token };
    const r = await execa(cli, ['build', '--platform', 'linux/amd64,linux/arm64', '-t', 'multi:1', '.'], {
      cwd: folder,
      env,
      extendEnv: false,
      reject: false,
      all: true,
    });
    expect(r.exitCode, r.all).toBe(0);
    expect(r.all).toMatch(/\[linux\/arm64\] #\d+ \[2\/2\] RUN echo/);
    expect(r.stdout).toMatch(/platforms: linux\/amd64 sha256:[0-9a-f]{12}…, linux\/arm64 sha256:[0-9a-f]{12}…/);
    const index = (await (await registryFetch(addr, `/v2/${owner}/multi/manifests/1`, { headers: { accept: LIST } })).json()) as any;
    expect(index.manifests.map((m: any) => m.platform.architecture)).toEqual(['amd64', 'arm64']);

    const bad = await execa(cli, ['build', '--platform', 'linux/amd64,linux/x86_64', '.'], { cwd: folder, env, extendEnv: false, reject: false, all: true });
    expect(bad.exitCode).toBe(1);
    expect(bad.all).toContain('--platform: "linux/x86_64": write linux/amd64');
    expect(bad.all).not.toContain('uploading');
  });

  it('refuses an unknown platform in codehub-build.yaml at its line and column, building nothing', async () => {
    const other = await WorkRepo.create({
      'codehub-build.yaml': 'version: 1\nimages:\n  - name: app\n    platforms: [linux/amd64, linux/amd46]\n',
      Dockerfile: `${FROM}\n`,
    });
    const sha = (await other.git.revparse(['HEAD'])).trim();
    const push = await other.push(server.gitUrl(owner, token, owner, 'typo'), ['HEAD:main']);
    expect(push.output).toContain('codehub-build.yaml:4:30: images[0].platforms[1]: "linux/amd46": unknown architecture "amd46"');
    const [b] = await server.waitForBuilds(sha, token);
    expect(b).toMatchObject({ status: 'failed', reason_code: 'config', digest: null });
  });

  it('fails the build when one platform fails, naming it; the tags stay on the last whole image', async () => {
    await repo.commit({ Dockerfile: `${FROM}\nRUN echo ${owner}-only-x86 && test "$(uname -m)" = x86_64\n` });
    const b = await pushed();
    expect(b.status).toBe('failed');
    expect(b.reason).toMatch(/^linux\/arm64: process "\/bin\/sh -c echo .*" did not complete successfully: exit code: 1/);
    expect(await tagDigest(addr, repository, 'main')).toBe(first.digest);
    await noStagingTags();
  });

  it('names the platform a builder cannot run when no emulator is registered for it', async () => {
    writeFileSync(QEMU, '0');
    try {
      await repo.commit({ Dockerfile: `${FROM}\nRUN echo ${owner}-no-emulator && uname -m > /arch\n` });
      const b = await pushed();
      expect(b.status).toBe('failed');
      expect(b.reason).toContain('linux/arm64: the builder cannot run linux/arm64 programs (exec /bin/sh: exec format error)');
      expect(b.reason).toContain('update-binfmts --enable qemu-aarch64');
    } finally {
      writeFileSync(QEMU, '1');
    }
  });

  it("retention and the registry's gc keep every platform of the kept image and free the removed ones' blobs; usage counts each blob once", async () => {
    const builds = [first];
    for (const n of [1, 2]) {
      await repo.commit({
        Dockerfile: `${FROM}\nRUN echo ${owner}-${n} > /marker && head -c 300000 /dev/urandom > /blob && uname -m > /arch\nCMD ["cat", "/arch"]\n`,
      });
      const b = await pushed();
      expect(b.status, b.reason ?? '').toBe('succeeded');
      builds.push(b);
    }
    const usage = (await server.api('/api/usage', token)).body;
    expect(usage.bytes).toBe(await uniqueBytes(addr, [repository, `${owner}/multi`]));

    const kept = await blobsOf(addr, repository, builds[2]!.commit);
    const freed = new Map<string, number>();
    for (const b of builds.slice(0, 2)) for (const [d, size] of await blobsOf(addr, repository, b.commit)) if (!kept.has(d)) freed.set(d, size);
    // The second build's two platforms each have a random 300 kB layer that nothing kept shares.
    expect([...freed.values()].reduce((a, x) => a + x, 0)).toBeGreaterThan(2 * 300_000);

    expect(server.cli(['repo', 'retention', repository, '--keep', '1', '--days', '0'], { CODEHUB_TOKEN: token }).status).toBe(0);
    const gc = server.cli(['gc', '--repo', repository]);
    expect(gc.stdout, gc.stderr).toContain('removed 2 tags');
    const collect = await stack('gc', addr);
    expect(collect.exitCode, collect.all).toBe(0);
    for (const d of freed.keys()) expect((await registryFetch(addr, `/v2/${repository}/blobs/${d}`, { method: 'HEAD' })).status, d).toBe(404);
    // Every blob of the kept index (both platforms' manifests, configs and layers) is still there, and both run.
    for (const d of kept.keys()) {
      const blob = (await registryFetch(addr, `/v2/${repository}/blobs/${d}`, { method: 'HEAD' })).status;
      expect(blob === 200 || (await isManifest(d)), d).toBe(true);
    }
    expect(await runFor('linux/arm64')).toBe('aarch64');
    expect(await runFor('linux/amd64')).toBe('x86_64');
  });
});

/** Whether the repository holds a manifest of this digest (a manifest is not served as a blob of the repository). */
async function isManifest(digest: string): Promise<boolean> {
  const res = await registryFetch(addr, `/v2/${repository}/manifests/${digest}`, {
    method: 'HEAD',
    headers: { accept: `${LIST}, application/vnd.docker.distribution.manifest.v2+json` },
  });
  return res.status === 200;
}
