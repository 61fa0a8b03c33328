/**
 * The build engine through the real parts: bursts, superseding, cancel, timeouts, builder fail-over and
 * infrastructure retries. Each scenario that needs other settings gets a server of its own.
 */
import Database from 'better-sqlite3';
import { execa } from 'execa';
import { type AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkRepo } from '../helpers/git.js';
import { freePort, stack, TestServer, uniqueName, waitFor } from '../helpers/server.js';

const FROM = 'FROM localhost:5000/cache/busybox:latest';
let sleeps = 0;
/** A sleep duration of about five minutes that no other test or run uses. */
const uniqueSleep = () => 300_000 + (Date.now() % 100_000) * 10 + sleeps++;

/**
 * Processes on this machine whose command line contains `marker`. A RUN step's processes show here too;
 * busybox's sh execs the last command, so a RUN is recognised by a `sleep` of a duration unique to the test.
 */
async function processesWith(marker: string): Promise<string[]> {
  const { stdout } = await execa('ps', ['-eo', 'args'], { reject: false });
  return stdout.split('\n').filter((l) => l.includes(marker));
}

describe('build engine', () => {
  let server: TestServer;
  let owner: string;
  let token: string;
  const build = (id: number) => server.api(`/api/builds/${id}`, token).then((r) => r.body);
  const buildsOf = (sha: string) => server.api<{ builds: any[] }>(`/api/builds?commit=${sha}`, token).then((r) => r.body.builds);

  beforeAll(async () => {
    server = await TestServer.start({ env: { CODEHUB_MAX_BUILDS: '2' } });
    owner = uniqueName('eng');
    token = server.addUser(owner);
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('records and finishes exactly 50 builds from 50 pushes fired at once, with no error for any pusher', async () => {
    const repos = await Promise.all(Array.from({ length: 10 }, (_, i) => WorkRepo.create({ Dockerfile: `${FROM}\nRUN echo burst-${owner}-${i}\n` })));
    const pushes = await Promise.all(
      repos.flatMap((repo, i) =>
        Array.from({ length: 5 }, (_, j) => repo.push(server.gitUrl(owner, token, owner, `burst${i}`), [`HEAD:refs/heads/branch${j}`])),
      ),
    );
    for (const p of pushes) {
      expect(p.exitCode, p.output).toBe(0);
      expect(p.output).toMatch(/remote: build #\d+ burst\d+ \(branch\d @ [0-9a-f]{7}\): queued/);
      expect(p.output).not.toMatch(/error|SQLITE|locked/i);
    }
    const db = new Database(join(server.dataDir, 'codehub.db'), { readonly: true });
    const count = () => (db.prepare("SELECT count(*) AS n FROM builds WHERE owner = ? AND repo LIKE ? || '/burst%'").get(owner, owner) as { n: number }).n;
    expect(count()).toBe(50);
    const done = await waitFor(
      '50 terminal builds',
      async () =>
        db.prepare("SELECT status, count(*) AS n FROM builds WHERE owner = ? AND repo LIKE ? || '/burst%' GROUP BY status").all(owner, owner) as {
          status: string;
          n: number;
        }[],
      (rows) => rows.every((r) => ['succeeded', 'failed', 'canceled', 'skipped'].includes(r.status)),
      180_000,
    );
    const failures = db.prepare("SELECT id, reason FROM builds WHERE owner = ? AND status != 'succeeded'").all(owner);
    db.close();
    expect(done, JSON.stringify(failures)).toEqual([{ status: 'succeeded', n: 50 }]);
    for (let i = 0; i < 10; i++)
      expect((await server.registryClient().tags(`${owner}/burst${i}`)).filter((t) => t.startsWith('branch')).sort()).toEqual([
        'branch0',
        'branch1',
        'branch2',
        'branch3',
        'branch4',
      ]);
  });

  it('cancels the running build of a branch when a newer push arrives, and the branch tag ends at the newer image', async () => {
    const marker = `sleep ${uniqueSleep()}`;
    const repo = await WorkRepo.create({ Dockerfile: `${FROM}\nRUN echo supersede-${owner} && ${marker}\n` });
    const first = (await repo.git.revparse(['HEAD'])).trim();
    const url = server.gitUrl(owner, token, owner, 'racing');
    await repo.push(url, ['main']);
    const [old] = await waitFor(
      'the first build to run its RUN step',
      () => buildsOf(first),
      (bs) => bs[0]?.status === 'running',
    );
    await waitFor(
      'the RUN step to start',
      () => processesWith(marker),
      (ps) => ps.length > 0,
    );

    const second = await repo.commit({ Dockerfile: `${FROM}\nRUN echo newer-${owner}\n` });
    const push = await repo.push(url, ['main']);
    // The push answers only after the superseded build's client has stopped.
    const after = await build(old.id);
    expect(after).toMatchObject({ status: 'canceled', reason_code: 'superseded' });
    expect(push.output).toMatch(new RegExp(`build #${old.id} \\(${first.slice(0, 7)}\\) was running and is canceled: superseded by #\\d+`));
    const [newer] = await server.waitForBuilds(second, token);
    expect(newer.status, newer.reason).toBe('succeeded');
    expect(after.reason).toBe(`superseded by #${newer.id}`);
    expect(await server.registryClient().digest(`${owner}/racing`, 'main')).toBe(newer.digest);
    expect((await server.api<string>(`/api/builds/${old.id}/log`, token)).body).toContain(`--- canceled after`);
    expect(
      await waitFor(
        'the old RUN to be gone',
        () => processesWith(marker),
        (ps) => ps.length === 0,
        5000,
      ),
    ).toEqual([]);
  });

  it('cancels a running build through the CLI, leaving no process of it behind; rebuild runs it again', async () => {
    const marker = `sleep ${uniqueSleep()}`;
    const repo = await WorkRepo.create({ Dockerfile: `${FROM}\nRUN echo cancel-${owner} && ${marker}\n` });
    const sha = (await repo.git.revparse(['HEAD'])).trim();
    await repo.push(server.gitUrl(owner, token, owner, 'cancelme'), ['main']);
    const [b] = await waitFor(
      'the build to run',
      () => buildsOf(sha),
      (bs) => bs[0]?.status === 'running',
    );
    await waitFor(
      'the RUN step to start',
      () => processesWith(marker),
      (ps) => ps.length > 0,
    );
    const t0 = Date.now();
    const r = server.cli(['cancel', String(b.id)], { CODEHUB_TOKEN: token });
    const took = Date.now() - t0;
    expect(r.stdout, r.stderr).toContain(`build #${b.id} canceled: canceled by ${owner}`);
    console.log(`cancel of a running build returned in ${took} ms`);
    expect((await build(b.id)).status).toBe('canceled');
    expect(
      await waitFor(
        'the RUN to be gone',
        () => processesWith(marker),
        (ps) => ps.length === 0,
        5000,
      ),
    ).toEqual([]);
    expect(server.cli(['cancel', String(b.id)], { CODEHUB_TOKEN: token }).stderr).toContain('already ended: canceled');

    const re = server.cli(['rebuild', String(b.id)], { CODEHUB_TOKEN: token });
    expect(re.stdout, re.stderr).toContain(`a rebuild of #${b.id}`);
    const rebuilt = await waitFor(
      'the rebuild to run',
      () => buildsOf(sha),
      (bs) => bs.length === 2 && bs[0].status === 'running',
    );
    expect(rebuilt[0]).toMatchObject({ commit: sha, pusher: owner });
    const stop = await fetch(`${server.url}/api/builds/${rebuilt[0].id}/cancel`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    expect(((await stop.json()) as any).status).toBe('canceled');
  });

  it('fails a build that runs past its timeout with reason timeout', async () => {
    const marker = `sleep ${uniqueSleep()}`;
    const repo = await WorkRepo.create({
      'codehub-build.yaml': 'version: 1\nimages:\n  - timeout: 3s\n',
      Dockerfile: `${FROM}\nRUN echo timeout-${owner} && ${marker}\n`,
    });
    const sha = (await repo.git.revparse(['HEAD'])).trim();
    await repo.push(server.gitUrl(owner, token, owner, 'slow'), ['main']);
    const [b] = await server.waitForBuilds(sha, token);
    expect(b).toMatchObject({ status: 'failed', reason_code: 'timeout', reason: 'timeout: the build ran longer than 3s' });
    // The RUN step had started (its echo's output line; busybox's sh then execs the sleep), so "none left" means it was stopped.
    expect((await server.api<string>(`/api/builds/${b.id}/log`, token)).body).toMatch(new RegExp(`^#\\d+ timeout-${owner}$`, 'm'));
    expect(
      await waitFor(
        'the RUN to be gone',
        () => processesWith(marker),
        (ps) => ps.length === 0,
        5000,
      ),
    ).toEqual([]);
  });

  it('exports build counts, queue depth, histograms and builder health as Prometheus text', async () => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    expect(text).toMatch(/^codehub_builds\{status="succeeded"\} [1-9]\d*$/m);
    expect(text).toMatch(/^codehub_queue_depth \d+$/m);
    expect(text).toMatch(/^codehub_build_duration_seconds_count [1-9]\d*$/m);
    expect(text).toMatch(/^codehub_build_queue_wait_seconds_bucket\{le="\+Inf"\} [1-9]\d*$/m);
    expect(text).toContain('codehub_builder_healthy{builder="local"} 1');
  });
});

describe('builders', () => {
  it('sends builds to the healthy builder when another is at a closed port', async () => {
    const closed = await freePort();
    const server = await TestServer.start({ env: { CODEHUB_BUILDERS: `tcp://127.0.0.1:${closed},local`, CODEHUB_HEALTH_INTERVAL_MS: '500' } });
    try {
      const owner = uniqueName('failover');
      const token = server.addUser(owner);
      const repos = await Promise.all([1, 2, 3].map((i) => WorkRepo.create({ Dockerfile: `${FROM}\nRUN echo failover-${owner}-${i}\n` })));
      const shas = await Promise.all(
        repos.map(async (r, i) => {
          await r.push(server.gitUrl(owner, token, owner, `fo${i}`), ['main']);
          return (await r.git.revparse(['HEAD'])).trim();
        }),
      );
      for (const sha of shas) expect((await server.waitForBuilds(sha, token))[0]).toMatchObject({ status: 'succeeded', builder: 'local' });
      const health = await waitFor(
        'the remote builder to be reported down',
        async () => (await fetch(`${server.url}/healthz`)).json() as Promise<any>,
        (h) => h.checks.builders.some((b: any) => b.name.startsWith('tcp://') && b.detail !== 'not checked yet'),
        30_000,
      );
      expect(health.status).toBe('ok');
      expect(health.checks.builders.find((b: any) => b.name === `tcp://127.0.0.1:${closed}`)).toMatchObject({ ok: false });
    } finally {
      await server.stop();
    }
  });

  it('keeps builds queued while every builder is down and runs them when one comes back', async () => {
    const context = uniqueName('chb-ctx');
    const server = await TestServer.start({ env: { CODEHUB_BUILDERS: context, CODEHUB_HEALTH_INTERVAL_MS: '200' } });
    try {
      const owner = uniqueName('down');
      const token = server.addUser(owner);
      const repo = await WorkRepo.create({ Dockerfile: `${FROM}\nRUN echo comeback-${owner}\n` });
      const sha = (await repo.git.revparse(['HEAD'])).trim();
      const push = await repo.push(server.gitUrl(owner, token, owner, 'waits'), ['main']);
      expect(push.exitCode).toBe(0);
      const h = await waitFor(
        'healthz to report the builder missing',
        async () => {
          const res = await fetch(`${server.url}/healthz`);
          return { status: res.status, body: (await res.json()) as any };
        },
        (x) => x.body.checks.builders[0]?.detail?.includes(`no builder "${context}" found`),
        30_000,
      );
      expect(h.status).toBe(503);
      expect((await server.api<{ builds: any[] }>(`/api/builds?commit=${sha}`, token)).body.builds[0]).toMatchObject({ status: 'queued', attempts: 0 });
      // The builder appears: a docker context of that name is a docker-driver builder to buildx.
      await execa('docker', ['context', 'create', context, '--docker', 'host=unix:///var/run/docker.sock']);
      const [b] = await server.waitForBuilds(sha, token);
      // Its one attempt is the one on the builder that came back: none was tried while there was none.
      expect(b, JSON.stringify(b)).toMatchObject({ status: 'succeeded', builder: context, attempts: 1 });
      expect((await server.api<string>(`/api/builds/${b.id}/log`, token)).body.match(/^build #\d+ of .*, attempt \d+,/gm)).toHaveLength(1);
    } finally {
      await server.stop();
      await execa('docker', ['context', 'rm', '-f', context], { reject: false });
    }
  });
});

describe('shutdown', () => {
  it('stops a build still running when the grace period ends, and runs it again at the next start', async () => {
    const server = await TestServer.start({ env: { CODEHUB_SHUTDOWN_GRACE: '1' } });
    try {
      const owner = uniqueName('grace');
      const token = server.addUser(owner);
      const repo = await WorkRepo.create({ Dockerfile: `${FROM}\nRUN echo grace-${owner} && sleep 4\n` });
      const sha = (await repo.git.revparse(['HEAD'])).trim();
      await repo.push(server.gitUrl(owner, token, owner, 'grace'), ['main']);
      await waitFor(
        'the build to run',
        async () => (await server.api<{ builds: any[] }>(`/api/builds?commit=${sha}`, token)).body.builds,
        (bs) => bs[0]?.status === 'running',
      );
      await server.stop('SIGTERM');
      await server.boot();
      const [b] = await server.waitForBuilds(sha, token);
      expect(b).toMatchObject({ status: 'succeeded', attempts: 2 });
      const log = (await server.api<string>(`/api/builds/${b.id}/log`, token)).body;
      expect(log).toContain('because the server is stopping; it runs again when the server starts');
      expect(log).toContain('the server stopped during attempt 1; the build was queued again');
    } finally {
      await server.stop();
    }
  });
});

describe('infrastructure errors', () => {
  it('keeps a build queued, using up no attempt, while its registry is down, and says so in healthz', async () => {
    // The registry's address is held while it is down (every connection closed at once), so no other process of
    // the suite takes the port before the registry starts on it.
    const holder = createServer((s) => s.destroy());
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const registry = `127.0.0.1:${(holder.address() as AddressInfo).port}`;
    const server = await TestServer.start({ env: { CODEHUB_REGISTRY: registry, CODEHUB_HEALTH_INTERVAL_MS: '200', CODEHUB_MAX_ATTEMPTS: '1' } });
    try {
      const owner = uniqueName('noreg');
      const token = server.addUser(owner);
      const repo = await WorkRepo.create({ Dockerfile: `${FROM}\nRUN echo noreg-${owner}\n` });
      const sha = (await repo.git.revparse(['HEAD'])).trim();
      await repo.push(server.gitUrl(owner, token, owner, 'unpushable'), ['main']);
      const h = await waitFor(
        'healthz to report the registry down',
        async () => {
          const res = await fetch(`${server.url}/healthz`);
          return { status: res.status, body: (await res.json()) as any };
        },
        (x) => x.body.checks.registry?.ok === false,
        30_000,
      );
      expect(h.status).toBe(503);
      expect(await (await fetch(`${server.url}/metrics`)).text()).toContain('codehub_registry_writable 0');
      const [b] = (await server.api<{ builds: any[] }>(`/api/builds?commit=${sha}`, token)).body.builds;
      expect(b).toMatchObject({ status: 'queued', attempts: 0 });
      // The registry comes up at that address: with one attempt allowed, the build succeeding proves none was used up meanwhile.
      await new Promise((resolve) => holder.close(resolve));
      const up = await stack('token-registry', 'up', registry, `${server.url}/registry/token`, join(server.dataDir, 'secrets', 'registry-token.crt'));
      try {
        expect(up.exitCode, up.all).toBe(0);
        const [done] = await server.waitForBuilds(sha, token);
        expect(done, JSON.stringify(done)).toMatchObject({ status: 'succeeded', attempts: 1 });
      } finally {
        await stack('token-registry', 'down', registry, '--purge');
      }
    } finally {
      if (holder.listening) holder.close();
      await server.stop();
    }
  });
});
