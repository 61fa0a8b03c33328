/**
 * The cache that follows the repo (issue 15): builds export their BuildKit cache into the registry (dockerd's
 * inline cache, in the pushed image) and import the branch's, then the default branch's. Two real daemons: the
 * main dockerd (`local`) and the second one over TLS (`docker+tcp://`, scripts/stack.sh builder). A repo built on
 * the first is then forced onto the second (the server restarted with only it), which never built it: its
 * unchanged steps must come out `cached`, pulled through the registry cache, for the same branch and for a new
 * branch's first push; with CODEHUB_REGISTRY_CACHE=off the same move rebuilds them.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkRepo } from '../helpers/git.js';
import { registryFetch } from '../helpers/registry.js';
import { requireStack, stack, TestServer, uniqueName } from '../helpers/server.js';

const STACK_DIR = process.env.CODEHUB_STACK_DIR ?? '/var/lib/codehub-stack';
const PORT = Number(process.env.CODEHUB_STACK_BUILDER_PORT ?? 2376);
const REMOTE = `docker+tcp://127.0.0.1:${PORT}`;
const ENTRY = `${REMOTE}?tls=${join(STACK_DIR, 'builder', 'client')}`;

type Step = { name: string; cached: boolean };

/** A Dockerfile whose RUN is unique to the test run, so no daemon can have its cache from anywhere else. */
const dockerfile = (marker: string) =>
  `FROM localhost:5000/cache/busybox:latest\nCOPY app/ /app/\nRUN echo ran-${marker} && cat /app/version.txt > /built.txt\n`;

describe('the registry cache follows the repo to a builder that never built it', () => {
  let server: TestServer;
  let owner: string;
  let token: string;
  const repos: Record<string, WorkRepo> = {};

  /** The server on the same data dir, port and registry, with other builders and settings. */
  const restart = async (env: Record<string, string>) => {
    await server.stop();
    server = await TestServer.start({ dataDir: server.dataDir, port: server.port, env: { CODEHUB_REGISTRY: server.registry, ...env } });
  };
  const build = async (name: string, branch: string) => {
    const sha = (await repos[name]!.git.revparse(['HEAD'])).trim();
    const push = await repos[name]!.push(server.gitUrl(owner, token, owner, name), [`HEAD:${branch}`], ['wait']);
    expect(push.exitCode, push.output).toBe(0);
    const b = (await server.waitForBuilds(sha, token)).find((x: { ref: string }) => x.ref === `refs/heads/${branch}`);
    expect(b.status, b.reason).toBe('succeeded');
    const log = (await server.api<string>(`/api/builds/${b.id}/log`, token)).body;
    const step = (s: string) => (b.steps as Step[]).find((st) => st.name.includes(s));
    return { b, log, run: step('RUN echo ran-'), copy: step('COPY app/') };
  };

  /** The multi repo's RUN output line, as the log shows it for either platform. */
  const ranMulti = () => new RegExp(`^\\[linux/\\w+\\] #\\d+ (?:[\\d.]+ )?ran-multi-${owner}$`, 'm');

  beforeAll(async () => {
    requireStack();
    const up = await stack('builder', 'up');
    if (up.exitCode !== 0) throw new Error(`scripts/stack.sh builder up failed:\n${up.all}`);
    // One token registry for all three phases: the first server's (its key stays with the data dir).
    server = await TestServer.start({ env: { CODEHUB_BUILDERS: 'local' } });
    owner = uniqueName('cache');
    token = server.addUser(owner);
    for (const name of ['same', 'branch', 'off']) {
      repos[name] = await WorkRepo.create({ Dockerfile: dockerfile(`${name}-${owner}`), 'app/version.txt': `${name} 1\n`, 'README.md': 'one\n' });
    }
    // A two-platform image (its base from the open registry that has both platforms): one inline cache per platform.
    repos.multi = await WorkRepo.create({
      'codehub-build.yaml': 'version: 1\nimages:\n  - name: multi\n    platforms: [linux/amd64, linux/arm64]\n',
      Dockerfile: dockerfile(`multi-${owner}`).replace('localhost:5000/', 'localhost:5001/'),
      'app/version.txt': 'multi 1\n',
      'README.md': 'one\n',
    });
  }, 120_000);
  afterAll(async () => {
    await server?.stop();
  });

  it('builds on daemon A, exporting the inline cache into the pushed image', async () => {
    const same = await build('same', 'main');
    expect(same.b.builder).toBe('local');
    expect(same.run).toMatchObject({ cached: false });
    const branch = await build('branch', 'main');
    expect(branch.run).toMatchObject({ cached: false });
    const multi = await build('multi', 'main');
    expect(multi.b.platforms.map((p: { platform: string }) => p.platform)).toEqual(['linux/amd64', 'linux/arm64']);
    expect(multi.log.match(new RegExp(ranMulti(), 'gm'))).toHaveLength(2); // each platform's RUN printed its line
    // The image carries the cache: its config holds BuildKit's inline cache metadata.
    const client = server.registryClient();
    const manifest = await client.manifest(`${owner}/same`, 'main');
    const config = JSON.parse(manifest!.body.toString()).config.digest as string;
    const blob = await registryFetch(server.registryAccess, `/v2/${owner}/same/blobs/${config}`);
    expect(Object.keys((await blob.json()) as object)).toContain('moby.buildkit.cache.v0');
  }, 120_000);

  it("on a fresh daemon B, the same branch's next commit reports its unchanged steps cached, from the registry", async () => {
    await restart({ CODEHUB_BUILDERS: ENTRY });
    await repos.same!.commit({ 'README.md': 'two\n' }, 'a change the image does not copy');
    const r = await build('same', 'main');
    expect(r.b.builder).toBe(REMOTE);
    expect(r.log).toContain("cache: same was last built on local: importing the registry's cache");
    expect(r.log).toMatch(new RegExp(`importing cache manifest from ${server.registry}/${owner}/same:main`));
    expect(r.copy).toMatchObject({ cached: true });
    expect(r.run).toMatchObject({ cached: true });
    expect(r.log).not.toContain(`ran-same-${owner}\n`); // the RUN's own output: it did not run
    // The build's log and /metrics say how much came from the cache.
    const hits = /cache: (\d+) of (\d+) steps cached/.exec(r.log);
    expect(hits, r.log).not.toBeNull();
    expect(Number(hits![1])).toBeGreaterThanOrEqual(2);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    const cached = new RegExp(`codehub_build_steps_cached_total\\{builder="${REMOTE.replace(/[.+]/g, '\\$&')}"\\} (\\d+)`).exec(metrics);
    expect(Number(cached?.[1]), metrics).toBe(Number(hits![1]));
    expect(metrics).toMatch(/codehub_build_cache_hit_ratio_count 1\n/);

    // B's own cache is warm now: the next build there imports nothing (that would cost every build round trips).
    await repos.same!.commit({ 'README.md': 'three\n' }, 'another change the image does not copy');
    const again = await build('same', 'main');
    expect(again.log).toContain(`cache: ${REMOTE} built same last: its own cache is used, the registry's is not imported`);
    expect(again.log).not.toContain('importing cache manifest');
    expect(again.run).toMatchObject({ cached: true });
  }, 120_000);

  it("on daemon B, a multi-platform image's next commit reports each platform's unchanged steps cached, BuildKit taking its platform out of the index", async () => {
    await repos.multi!.commit({ 'README.md': 'two\n' }, 'a change the image does not copy');
    const r = await build('multi', 'main');
    expect(r.b.builder).toBe(REMOTE);
    expect(r.log).toContain("cache: multi was last built on local: importing the registry's cache");
    const runs = (r.b.steps as Step[]).filter((s) => s.name.includes('RUN echo ran-'));
    expect(runs.map((s) => [s.name.split(']')[0], s.cached])).toEqual([
      ['[linux/amd64 3/3', true],
      ['[linux/arm64 3/3', true],
    ]);
    expect(r.log).not.toMatch(ranMulti()); // neither RUN ran
  }, 120_000);

  it("on daemon B, a new branch's first push reuses the default branch's cache", async () => {
    await repos.branch!.commit({ 'README.md': 'feature\n' }, 'start a feature');
    const r = await build('branch', 'feature/try-it');
    expect(r.b.builder).toBe(REMOTE);
    expect(r.log).toContain(`${owner}/branch:latest`);
    expect(r.run).toMatchObject({ cached: true });
  }, 120_000);

  it('with CODEHUB_REGISTRY_CACHE=off, the same move rebuilds the steps', async () => {
    await restart({ CODEHUB_BUILDERS: 'local', CODEHUB_REGISTRY_CACHE: 'off' });
    expect((await build('off', 'main')).run).toMatchObject({ cached: false });
    await restart({ CODEHUB_BUILDERS: ENTRY, CODEHUB_REGISTRY_CACHE: 'off' });
    await repos.off!.commit({ 'README.md': 'two\n' }, 'a change the image does not copy');
    const r = await build('off', 'main');
    expect(r.b.builder).toBe(REMOTE);
    expect(r.log).not.toContain('importing cache manifest');
    expect(r.run).toMatchObject({ cached: false });
  }, 120_000);
});
