/**
 * A builder over the network, for real: a second dockerd (`scripts/stack.sh builder up`) listening on
 * tcp://127.0.0.1:2376 with TLS client certificates, used as `docker+tcp://127.0.0.1:2376?tls=<client dir>`:
 * the driver contract, then through the real server (push, secrets, cancel, a refused certificate), then
 * fail-over to `local` when the builder stops.
 */
import { createHash, randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineDriver } from '../../src/builder/dockerd.js';
import type { BuilderDriver, BuildRequest } from '../../src/builder/driver.js';
import { driverFor, parseBuilders, rendezvousOrder } from '../../src/builder/pool.js';
import { parseTlsQuery } from '../../src/builder/tls.js';
import { describeDriverContract } from '../helpers/driver-contract.js';
import { WorkRepo } from '../helpers/git.js';
import { OPEN_REGISTRY, requireStack, stack, TestServer, uniqueName, waitFor } from '../helpers/server.js';

const STACK_DIR = process.env.CODEHUB_STACK_DIR ?? '/var/lib/codehub-stack';
const PORT = Number(process.env.CODEHUB_STACK_BUILDER_PORT ?? 2376);
const CLIENT = join(STACK_DIR, 'builder', 'client');
const REMOTE = `docker+tcp://127.0.0.1:${PORT}`;
const ENTRY = `${REMOTE}?tls=${CLIENT}`;
const FROM = 'FROM localhost:5000/cache/busybox:latest';

/** `docker` against the builder's own daemon (its admin socket), e.g. to see what its image store holds. */
const onBuilder = (...args: string[]) => execa('docker', args, { env: { DOCKER_HOST: `unix://${join(STACK_DIR, 'builder', 'docker.sock')}` }, reject: false });
const onMain = (...args: string[]) => execa('docker', args, { env: { DOCKER_HOST: 'unix:///var/run/docker.sock' }, reject: false });

async function processesWith(marker: string): Promise<string[]> {
  const { stdout } = await execa('ps', ['-eo', 'args'], { reject: false });
  return stdout.split('\n').filter((l) => l.includes(marker));
}

const healthz = async (server: TestServer) => {
  const res = await fetch(`${server.url}/healthz`);
  return { status: res.status, body: (await res.json()) as { checks: { builders: { name: string; ok: boolean; detail: string }[] } } };
};

async function builderUp(): Promise<void> {
  const r = await stack('builder', 'up');
  if (r.exitCode !== 0) throw new Error(`scripts/stack.sh builder up failed:\n${r.all}`);
}

beforeAll(async () => {
  requireStack();
  await builderUp();
}, 120_000);
afterAll(async () => {
  // The fail-over test stops the builder; whatever happened, leave it up for later tests.
  await builderUp();
}, 120_000);

/** The driver is made on first use: its certificate files exist only once beforeAll has started the builder. */
function lazyDriver(make: () => BuilderDriver): BuilderDriver {
  let d: BuilderDriver | undefined;
  const get = () => (d ??= make());
  return { name: REMOTE, build: (req, io) => get().build(req, io), health: () => get().health() };
}

describeDriverContract('remote dockerd over TCP with TLS (docker+tcp://)', () => lazyDriver(() => driverFor(parseBuilders([ENTRY], 1)[0]!)), {
  clientProcess: false,
});

describe('docker+tcp:// housekeeping', () => {
  const tarOf = (dockerfile: string) => {
    const dir = mkdtempSync(join(tmpdir(), 'chb-ctx-'));
    writeFileSync(join(dir, 'Dockerfile'), dockerfile);
    return spawn('tar', ['-c', '-C', dir, '.']).stdout;
  };
  const request = (tag: string, secrets: Record<string, string> = {}): BuildRequest => ({
    dockerfile: 'Dockerfile',
    target: null,
    args: {},
    labels: {},
    tags: [tag],
    platforms: [],
    secrets,
    workDir: mkdtempSync(join(tmpdir(), 'chb-w-')),
  });

  it("removes pushed images from the remote daemon's store once idle, for builds with and without secrets alike", async () => {
    const tls = parseTlsQuery(`tls=${CLIENT}`);
    // Long enough idle time to see each image in the store right after its build, short enough to wait for.
    const driver = new EngineDriver({ endpoint: { host: '127.0.0.1', port: PORT, tls }, pruneIdleMs: 1000 }, REMOTE);
    const owner = uniqueName('rprune');
    const plain = `${OPEN_REGISTRY}/${owner}/plain:x`;
    const secret = `${OPEN_REGISTRY}/${owner}/secret:x`;
    const io = (dockerfile: string) => ({ context: tarOf(dockerfile), onLog: () => {}, signal: new AbortController().signal, processEnv: {} });
    const a = await driver.build(request(plain), io(`${FROM}\nRUN echo ${owner}\n`));
    expect(a.ok, JSON.stringify(a)).toBe(true);
    // Built by the remote daemon (its store has it) and not by the main one.
    expect((await onBuilder('image', 'inspect', plain)).exitCode).toBe(0);
    expect((await onMain('image', 'inspect', plain)).exitCode).not.toBe(0);
    const b = await driver.build(request(secret, { TOKEN: 'v' }), io(`${FROM}\nRUN --mount=type=secret,id=TOKEN cat /run/secrets/TOKEN && echo ${owner}\n`));
    expect(b.ok, JSON.stringify(b)).toBe(true);
    expect((await onBuilder('image', 'inspect', secret)).exitCode).toBe(0);
    expect((await onMain('image', 'inspect', secret)).exitCode).not.toBe(0);
    for (const tag of [plain, secret]) {
      await waitFor(
        `${tag} to be pruned from the remote store`,
        async () => (await onBuilder('image', 'inspect', tag)).exitCode,
        (c) => c !== 0,
        10_000,
      );
    }
  });

  it("trims BuildKit's build cache on the daemon to its budget once idle", async () => {
    const tls = parseTlsQuery(`tls=${CLIENT}`);
    // A budget of one byte: every record no build is using goes, this build's RUN among them.
    const driver = new EngineDriver({ endpoint: { host: '127.0.0.1', port: PORT, tls }, pruneIdleMs: 300, cacheMaxBytes: 1 }, REMOTE);
    const owner = uniqueName('rbudget');
    const records = async () => {
      const r = await execa('curl', ['-sf', '--unix-socket', join(STACK_DIR, 'builder', 'docker.sock'), 'http://builder/v1.41/system/df'], { reject: false });
      const df = JSON.parse(r.stdout) as { BuildCache: { Description: string }[] | null };
      return (df.BuildCache ?? []).filter((c) => c.Description.includes(`echo ${owner}`)).length;
    };
    const a = await driver.build(request(`${OPEN_REGISTRY}/${owner}/budget:x`), {
      context: tarOf(`${FROM}\nRUN echo ${owner}\n`),
      onLog: () => {},
      signal: new AbortController().signal,
      processEnv: {},
    });
    expect(a.ok, JSON.stringify(a)).toBe(true);
    expect(await records()).toBeGreaterThan(0);
    await waitFor("the RUN step's cache record to be pruned", records, (n) => n === 0, 15_000);
  });
});

describe('through the server, on the remote builder', () => {
  let server: TestServer;
  let owner: string;
  let token: string;
  const buildsOf = (sha: string) => server.api<{ builds: any[] }>(`/api/builds?commit=${sha}`, token).then((r) => r.body.builds);

  beforeAll(async () => {
    server = await TestServer.start({ env: { CODEHUB_BUILDERS: ENTRY, CODEHUB_HEALTH_INTERVAL_MS: '500' } });
    owner = uniqueName('remote');
    token = server.addUser(owner);
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('builds a pushed commit there: /healthz names it, the build records it, the registry has the image', async () => {
    const health = await waitFor(
      'the remote builder to be healthy',
      () => healthz(server),
      (h) => h.body.checks.builders[0]?.ok === true,
      20_000,
    );
    expect(health.body.checks.builders).toEqual([
      expect.objectContaining({ name: REMOTE, ok: true, detail: expect.stringContaining(`at tcp://127.0.0.1:${PORT} (TLS)`) }),
    ]);
    expect(JSON.stringify(health.body)).not.toContain(CLIENT); // the name is the entry without its query

    const repo = await WorkRepo.create({ Dockerfile: `${FROM}\nRUN echo built-remotely-${owner}\n` });
    const sha = (await repo.git.revparse(['HEAD'])).trim();
    const push = await repo.push(server.gitUrl(owner, token, owner, 'app'), ['main']);
    expect(push.exitCode, push.output).toBe(0);
    const [b] = await server.waitForBuilds(sha, token);
    expect(b, b.reason).toMatchObject({ status: 'succeeded', builder: REMOTE });
    expect(await server.registryClient().digest(`${owner}/app`, 'main')).toBe(b.digest);
    // The RUN step's output line, not its header (`#5 [2/2] RUN echo built-remotely-…`), which names it too.
    expect((await server.api<string>(`/api/builds/${b.id}/log`, token)).body).toMatch(new RegExp(`^#\\d+ built-remotely-${owner}$`, 'm'));
    // Built by the remote daemon: its store holds the image BuildKit pushed (until idle pruning), the main one's does not.
    expect((await onBuilder('image', 'inspect', b.image_refs[0])).exitCode).toBe(0);
    expect((await onMain('image', 'inspect', b.image_refs[0])).exitCode).not.toBe(0);
  });

  it("runs a build with a secret there, served by the server's own BuildKit session", async () => {
    const value = `tok-${randomBytes(12).toString('hex')}`;
    const set = server.cli(['secret', 'set', `${owner}/sec`, 'TOKEN'], { CODEHUB_TOKEN: token }, `${value}\n`);
    expect(set.status, set.stderr).toBe(0);
    const repo = await WorkRepo.create({
      'codehub-build.yaml': 'version: 1\nimages:\n  - name: sec\n    secrets: [TOKEN]\n',
      Dockerfile: `${FROM}\nRUN --mount=type=secret,id=TOKEN echo ${owner} && sha256sum /run/secrets/TOKEN\n`,
    });
    const sha = (await repo.git.revparse(['HEAD'])).trim();
    expect((await repo.push(server.gitUrl(owner, token, owner, 'sec'), ['main'])).exitCode).toBe(0);
    const [b] = await server.waitForBuilds(sha, token);
    expect(b, b.reason).toMatchObject({ status: 'succeeded', builder: REMOTE });
    expect((await server.api<string>(`/api/builds/${b.id}/log`, token)).body).toContain(createHash('sha256').update(value).digest('hex'));
    expect((await onBuilder('image', 'inspect', b.image_refs[0])).exitCode).toBe(0);
    expect(server.logs.join('\n')).not.toContain(value);
  });

  it('cancels a running build there, leaving no process of it behind', async () => {
    const marker = `sleep ${300_000 + (Date.now() % 100_000) * 10 + 7}`;
    const repo = await WorkRepo.create({ Dockerfile: `${FROM}\nRUN echo cancel-${owner} && ${marker}\n` });
    const sha = (await repo.git.revparse(['HEAD'])).trim();
    await repo.push(server.gitUrl(owner, token, owner, 'cancelme'), ['main']);
    const [b] = await waitFor(
      'the build to run',
      () => buildsOf(sha),
      (bs) => bs[0]?.status === 'running',
    );
    expect(b.builder).toBe(REMOTE);
    await waitFor(
      'the RUN step to start on the remote daemon',
      () => processesWith(marker),
      (ps) => ps.length > 0,
    );
    const r = server.cli(['cancel', String(b.id)], { CODEHUB_TOKEN: token });
    expect(r.stdout, r.stderr).toContain(`build #${b.id} canceled: canceled by ${owner}`);
    expect((await buildsOf(sha))[0].status).toBe('canceled');
    expect(
      await waitFor(
        'the RUN to be gone',
        () => processesWith(marker),
        (ps) => ps.length === 0,
        5000,
      ),
    ).toEqual([]);
  });
});

describe('a client without the right certificate', () => {
  it('is refused by the builder, and the server reports it unhealthy saying why', async () => {
    // The right CA (so the client trusts the daemon), but a client certificate from a CA the daemon does not know.
    const dir = mkdtempSync(join(tmpdir(), 'chb-wrong-cert-'));
    const ssl = (...args: string[]) => execa('openssl', args, { cwd: dir });
    await ssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'other-ca-key.pem');
    await ssl('req', '-x509', '-new', '-key', 'other-ca-key.pem', '-days', '2', '-subj', '/CN=not the builder CA', '-out', 'other-ca.pem');
    await ssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'key.pem');
    await ssl('req', '-new', '-key', 'key.pem', '-subj', '/CN=mallory', '-out', 'client.csr');
    writeFileSync(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
    await ssl(
      'x509',
      '-req',
      '-in',
      'client.csr',
      '-CA',
      'other-ca.pem',
      '-CAkey',
      'other-ca-key.pem',
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      'client.ext',
      '-out',
      'cert.pem',
    );
    copyFileSync(join(CLIENT, 'ca.pem'), join(dir, 'ca.pem'));

    const server = await TestServer.start({ env: { CODEHUB_BUILDERS: `${REMOTE}?tls=${dir}`, CODEHUB_HEALTH_INTERVAL_MS: '500' } });
    try {
      const h = await waitFor(
        'the builder to be checked',
        () => healthz(server),
        (x) => x.body.checks.builders[0]?.detail !== 'not checked yet',
        20_000,
      );
      expect(h.status).toBe(503);
      expect(h.body.checks.builders[0]).toMatchObject({ name: REMOTE, ok: false });
      expect(h.body.checks.builders[0]!.detail).toMatch(
        /refused this client's TLS certificate \(TLS alert "(unknown ca|bad certificate)"\): the client certificate must be signed by the CA the daemon trusts/,
      );
    } finally {
      await server.stop();
    }
  });
});

describe('fail-over', () => {
  it('builds on local while the remote builder is down, and on the remote again once it is back', async () => {
    const server = await TestServer.start({ env: { CODEHUB_BUILDERS: `local,${ENTRY}`, CODEHUB_HEALTH_INTERVAL_MS: '500', CODEHUB_RETRY_BASE_MS: '200' } });
    try {
      const owner = uniqueName('fover');
      const token = server.addUser(owner);
      // A repo whose builds go to the remote builder while it is healthy (rendezvous order, as the pool ranks).
      const name = Array.from({ length: 50 }, (_, i) => `app${i}`).find((n) => rendezvousOrder(`${owner}/${n}`, ['local', REMOTE])[0] === REMOTE)!;
      await waitFor(
        'both builders to be healthy',
        () => healthz(server),
        (h) => h.body.checks.builders.every((b) => b.ok),
        20_000,
      );

      const repo = await WorkRepo.create({ Dockerfile: `${FROM}\nRUN echo fail-over-${owner}\n` });
      const first = (await repo.git.revparse(['HEAD'])).trim();
      await repo.push(server.gitUrl(owner, token, owner, name), ['main']);
      expect((await server.waitForBuilds(first, token))[0]).toMatchObject({ status: 'succeeded', builder: REMOTE });

      const down = await stack('builder', 'down');
      expect(down.exitCode, down.all).toBe(0);
      const second = await repo.commit({ 'x.txt': 'again\n' });
      await repo.push(server.gitUrl(owner, token, owner, name), ['main']);
      const [b] = await server.waitForBuilds(second, token);
      expect(b, b.reason).toMatchObject({ status: 'succeeded', builder: 'local' });
      expect(await server.registryClient().digest(`${owner}/${name}`, 'main')).toBe(b.digest);
      const h = await waitFor(
        'the remote builder to be reported down',
        () => healthz(server),
        (x) => x.body.checks.builders[1]?.ok === false,
        10_000,
      );
      expect(h.body.checks.builders[1]).toMatchObject({
        name: REMOTE,
        detail: expect.stringContaining(`cannot reach dockerd at tcp://127.0.0.1:${PORT} (ECONNREFUSED)`),
      });

      await builderUp();
      await waitFor(
        'the remote builder to be healthy again',
        () => healthz(server),
        (x) => x.body.checks.builders[1]?.ok === true,
        20_000,
      );
      const third = await repo.commit({ 'x.txt': 'back\n' });
      await repo.push(server.gitUrl(owner, token, owner, name), ['main']);
      expect((await server.waitForBuilds(third, token))[0]).toMatchObject({ status: 'succeeded', builder: REMOTE });
    } finally {
      await server.stop();
    }
  }, 120_000);
});
