/**
 * The registry under maintenance, each case on a registry of its own (scripts/stack.sh registry) so that
 * stopping it or making it read-only never disturbs another test: blob garbage collection frees the disk,
 * builds wait while the registry is read-only or down and then succeed, the server's scheduled upkeep,
 * and gc running while builds push.
 */
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkRepo } from '../helpers/git.js';
import { blobsOf, registryFetch, tagStatus } from '../helpers/registry.js';
import { freePort, sleep, stack, TestServer, uniqueName, waitFor } from '../helpers/server.js';

const FROM = 'FROM localhost:5000/cache/busybox:latest';
const TERMINAL = ['succeeded', 'failed', 'canceled', 'skipped'];

/** A registry of this test file's own on a free port; stopped at the end. */
async function ownRegistry(): Promise<string> {
  const addr = `127.0.0.1:${await freePort()}`;
  const up = await stack('registry', 'up', addr);
  expect(up.exitCode, up.all).toBe(0);
  registries.push(addr);
  return addr;
}
const registries: string[] = [];
afterAll(async () => {
  for (const addr of registries) await stack('registry', 'down', addr);
});

const buildsOf = (server: TestServer, token: string, q: string) =>
  server.api<{ builds: any[] }>(`/api/builds?${q}&limit=200`, token).then((r) => r.body.builds);

// The four parts run at the same time, each on its own server and registry: most of what they do is waiting (a
// registry down for 30 s, builds queued behind a read-only one), and they share nothing but dockerd. Within a
// part, its tests run in order. The two longest have 3 minutes, not 2: they build beside the others.
describe.concurrent('blob garbage collection (scripts/stack.sh gc)', () => {
  let addr: string;
  let server: TestServer;
  beforeAll(async () => {
    addr = await ownRegistry();
    server = await TestServer.start({ env: { CODEHUB_REGISTRY: addr, CODEHUB_HEALTH_INTERVAL_MS: '300', CODEHUB_MAX_ATTEMPTS: '1' } });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it.sequential('frees at least the layers gc let go, every kept tag still pulls, and a build pushed meanwhile succeeds', async () => {
    const owner = uniqueName('blobs');
    const token = server.addUser(owner);
    const repo = await WorkRepo.create({ Dockerfile: `${FROM}\nRUN echo 0 && head -c 2000000 /dev/urandom > /blob\n` });
    const url = server.gitUrl(owner, token, owner, 'app');
    const shas: string[] = [];
    for (let i = 0; i < 4; i++) {
      if (i) await repo.commit({ Dockerfile: `${FROM}\nRUN echo ${i} && head -c 2000000 /dev/urandom > /blob\n` });
      expect((await repo.push(url, ['main'])).exitCode).toBe(0);
      const sha = (await repo.git.revparse(['HEAD'])).trim();
      expect((await server.waitForBuilds(sha, token))[0].status).toBe('succeeded');
      shas.push(sha);
    }
    const repository = `${owner}/app`;
    // The layers that only the three older builds' manifests need: what retention lets go.
    const kept = await blobsOf(addr, repository, shas[3]!);
    const freed = new Map<string, number>();
    for (const s of shas.slice(0, 3)) for (const [d, size] of await blobsOf(addr, repository, s)) if (!kept.has(d)) freed.set(d, size);
    const freedBytes = [...freed.values()].reduce((a, b) => a + b, 0);
    expect(freedBytes).toBeGreaterThan(3 * 1_900_000);

    expect(server.cli(['repo', 'retention', repository, '--keep', '1', '--days', '0'], { CODEHUB_TOKEN: token }).status).toBe(0);
    const gc = server.cli(['gc', '--repo', repository]);
    expect(gc.stdout, gc.stderr).toContain('removed 3 tags');
    expect(Number(/removed 3 tags, .* \((\d+) bytes\)/.exec(gc.stdout)![1])).toBe(freedBytes);

    // A build pushed while the registry collects: it waits (read-only), then pushes.
    await repo.commit({ Dockerfile: `${FROM}\nRUN echo during-gc-${owner}\n` });
    const pushed = repo.push(url, ['main']);
    const collect = await stack('gc', addr);
    expect(collect.exitCode, collect.all).toBe(0);
    const bytes = Number(/freed \S+ \((\d+) bytes\)/.exec(collect.all!)![1]);
    expect(bytes).toBeGreaterThanOrEqual(freedBytes);
    expect(collect.all).toMatch(/disk \S+ before, \S+ after/);
    expect((await pushed).exitCode).toBe(0);
    const [during] = await server.waitForBuilds((await repo.git.revparse(['HEAD'])).trim(), token);
    expect(during).toMatchObject({ status: 'succeeded', attempts: 1 });

    for (const t of [shas[3]!, 'latest']) {
      const pull = await execa('docker', ['pull', '-q', `${addr}/${repository}:${t}`], { reject: false, all: true });
      expect(pull.exitCode, pull.all).toBe(0);
      // The kept build's own layer is whole (the newest, `latest`, is the build pushed during gc: no /blob).
      const run = await execa('docker', ['run', '--rm', `${addr}/${repository}:${t}`, 'sh', '-c', 'wc -c /blob || echo no blob'], { reject: false, all: true });
      expect(run.all).toContain(t === 'latest' ? 'no blob' : '2000000 /blob');
      await execa('docker', ['image', 'rm', `${addr}/${repository}:${t}`], { reject: false });
    }
    for (const s of shas.slice(0, 3)) expect(await tagStatus(addr, repository, s)).toBe(404);
  });

  it.sequential('keeps builds queued while the registry is read-only, saying so in healthz, and runs them when it takes pushes again', async () => {
    const owner = uniqueName('readonly');
    const token = server.addUser(owner);
    expect((await stack('registry', 'up', addr, '--read-only')).exitCode).toBe(0);
    try {
      await waitFor(
        'healthz to see the read-only registry',
        async () => (await (await fetch(`${server.url}/healthz`)).json()) as any,
        (h) => h.checks.registry.writable === false,
        10_000,
      );
      const repo = await WorkRepo.create({ Dockerfile: `${FROM}\nRUN echo readonly-${owner}\n` });
      expect((await repo.push(server.gitUrl(owner, token, owner, 'app'), ['main'])).exitCode).toBe(0);
      const sha = (await repo.git.revparse(['HEAD'])).trim();
      expect((await buildsOf(server, token, `commit=${sha}`))[0]).toMatchObject({ status: 'queued', attempts: 0 });
      const h = (await (await fetch(`${server.url}/healthz`)).json()) as any;
      expect(h.checks.registry.detail).toContain('read-only (maintenance');
    } finally {
      expect((await stack('registry', 'up', addr)).exitCode).toBe(0);
    }
    const [b] = await waitFor(
      'the build to finish',
      () => buildsOf(server, token, `repo=${owner}/app`),
      (bs) => bs.length === 1 && TERMINAL.includes(bs[0].status),
      60_000,
    );
    expect(b).toMatchObject({ status: 'succeeded', attempts: 1 });
    // The barrier for "queued meanwhile": its log holds one attempt, once the registry took pushes, and none given back for the registry.
    const log = (await server.api<string>(`/api/builds/${b.id}/log`, token)).body;
    expect(log.match(/^build #\d+ of .*, attempt \d+,/gm)).toHaveLength(1);
    expect(log).not.toContain('this attempt does not count');
  });
});

describe.concurrent('a registry that stops', () => {
  it('loses no build of a burst of 10 pushes while it is down for 30 s, nor the one that was pushing when it stopped', async () => {
    const addr = await ownRegistry();
    // One attempt only: a build that counted the registry's absence against itself would fail.
    const server = await TestServer.start({
      env: { CODEHUB_REGISTRY: addr, CODEHUB_HEALTH_INTERVAL_MS: '300', CODEHUB_MAX_ATTEMPTS: '1', CODEHUB_MAX_BUILDS: '4' },
    });
    try {
      const owner = uniqueName('regdown');
      const token = server.addUser(owner);
      const repo = await WorkRepo.create({ Dockerfile: `${FROM}\nRUN echo slow-${owner} && sleep 3\n` });
      const url = server.gitUrl(owner, token, owner, 'app');
      expect((await repo.push(url, ['main'])).exitCode).toBe(0);
      await waitFor(
        'the slow build to run',
        () => buildsOf(server, token, `repo=${owner}/app`),
        (bs) => bs[0]?.status === 'running',
      );
      expect((await stack('registry', 'down', addr)).exitCode).toBe(0);
      const stopped = Date.now();
      for (let i = 0; i < 10; i++) {
        await repo.commit({ Dockerfile: `${FROM}\nRUN echo burst-${owner}-${i}\n` });
        expect((await repo.push(url, [`HEAD:refs/heads/b${i}`])).exitCode).toBe(0);
      }
      while (Date.now() - stopped < 30_000) {
        const failed = (await buildsOf(server, token, `repo=${owner}/app`)).filter((b) => b.status !== 'queued' && b.status !== 'running');
        expect(failed, 'no build may end while the registry is down').toEqual([]);
        await sleep(1000);
      }
      expect((await stack('registry', 'up', addr)).exitCode).toBe(0);
      const all = await waitFor(
        'all 11 builds to finish',
        () => buildsOf(server, token, `repo=${owner}/app`),
        (bs) => bs.length === 11 && bs.every((b) => TERMINAL.includes(b.status)),
        120_000,
      );
      for (const b of all) expect(b, JSON.stringify(b)).toMatchObject({ status: 'succeeded', attempts: 1 });
      const slow = all.find((b) => b.ref_name === 'main');
      const log = (await server.api<string>(`/api/builds/${slow.id}/log`, token)).body;
      expect(log).toContain('the build waits queued until the registry is back; this attempt does not count');
    } finally {
      await server.stop();
    }
  }, 180_000);
});

describe.concurrent('scheduled upkeep', () => {
  it('reconciles usage with the registry (counting a docker push) and runs gc every CODEHUB_GC_INTERVAL', async () => {
    const server = await TestServer.start({ env: { CODEHUB_GC_INTERVAL: '2s' } });
    try {
      const owner = uniqueName('sched');
      const token = server.addUser(owner);
      const ref = `${server.registry}/${owner}/byhand:1`;
      const docker = await server.docker(owner, token);
      expect((await docker('tag', 'localhost:5000/cache/busybox:latest', ref)).exitCode).toBe(0);
      const pushed = await docker('push', '-q', ref);
      expect(pushed.exitCode, pushed.all).toBe(0);
      await docker('image', 'rm', ref);
      const usage = await waitFor(
        'the reconcile to count the pushed image',
        async () => (await server.api('/api/usage', token)).body,
        (u) => u.images.some((i: any) => i.image === 'byhand'),
        30_000,
      );
      expect(usage.bytes).toBeGreaterThan(0);
      await waitFor(
        'a gc run in the log',
        async () => server.logs.filter((l) => l.includes('"msg":"gc run"')),
        (l) => l.length > 0,
        30_000,
      );
      const reconciled = server.logs.map((l) => JSON.parse(l)).find((l) => l.msg === 'usage reconciled with the registry');
      expect(reconciled).toMatchObject({ repositories: expect.any(Number), tags: expect.any(Number), requests: expect.any(Number) });
      // A tag nobody built stays: retention removes only what a build pushed.
      expect(await tagStatus(server.registryAccess, `${owner}/byhand`, '1')).toBe(200);
      // The catalog is read page by page (2.8 serves at most 1,000 a page): small pages give the same list.
      const client = server.registryClient();
      expect((await client.catalog(7)).sort()).toEqual((await client.catalog()).sort());
    } finally {
      await server.stop();
    }
  });
});

describe.concurrent('gc beside pushes', () => {
  it('loses nothing a finished build reports as pushed while gc runs again and again during a burst', async () => {
    const server = await TestServer.start({ env: { CODEHUB_MAX_BUILDS: '3' } });
    try {
      const owner = uniqueName('busy');
      const token = server.addUser(owner);
      const repo = await WorkRepo.create({ Dockerfile: `${FROM}\nRUN echo busy-${owner}\n` });
      const url = server.gitUrl(owner, token, owner, 'app');
      expect((await repo.push(url, ['main'])).exitCode).toBe(0);
      await server.waitForBuilds((await repo.git.revparse(['HEAD'])).trim(), token);
      expect(server.cli(['repo', 'retention', `${owner}/app`, '--keep', '1', '--days', '0'], { CODEHUB_TOKEN: token }).status).toBe(0);
      let pushing = true;
      let runs = 0;
      const gcLoop = (async () => {
        while (pushing) {
          const r = await server.cliAsync(['gc', '--repo', `${owner}/app`]);
          expect([0, 3], r.stderr).toContain(r.status); // 3: a repository was skipped because a build was running
          runs++;
        }
      })();
      for (let round = 0; round < 3; round++) {
        await Promise.all(
          [0, 1, 2, 3].map(async (i) => {
            const branch = await WorkRepo.create({ Dockerfile: `${FROM}\nRUN echo busy-${owner}-${round}-${i}\n` });
            expect((await branch.push(url, [`+HEAD:refs/heads/b${i}`])).exitCode).toBe(0);
          }),
        );
        await waitFor(
          'the round to finish',
          () => buildsOf(server, token, `repo=${owner}/app`),
          (bs) => bs.every((b) => TERMINAL.includes(b.status)),
          60_000,
        );
      }
      pushing = false;
      await gcLoop;
      expect(runs).toBeGreaterThan(1);
      expect(server.cli(['gc', '--repo', `${owner}/app`]).status).toBe(0);
      // Every branch's newest succeeded build: its branch tag and its sha tag answer with its digest.
      const builds = await buildsOf(server, token, `repo=${owner}/app&status=succeeded`);
      for (const branch of ['b0', 'b1', 'b2', 'b3', 'main']) {
        const newest = builds.find((b) => b.ref_name === branch)!;
        for (const tag of [branch, newest.commit]) {
          const res = await registryFetch(server.registryAccess, `/v2/${owner}/app/manifests/${tag}`, {
            method: 'HEAD',
            headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json' },
          });
          expect(res.status, `${branch} ${tag}`).toBe(200);
          if (tag === branch) expect(res.headers.get('docker-content-digest')).toBe(newest.digest);
        }
      }
    } finally {
      await server.stop();
    }
  }, 180_000);
});
