import { existsSync, ftruncateSync, mkdirSync, mkdtempSync, readdirSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BuilderDriver, BuildIO, BuildOutcome, BuildRequest } from '../../src/builder/driver.js';
import { BuilderPool } from '../../src/builder/pool.js';
import { Runner, type RunnerDeps } from '../../src/builds/runner.js';
import { noSecrets } from '../../src/secrets/source.js';
import { BuildMetrics } from '../../src/metrics.js';
import { RepoStore } from '../../src/git/repos.js';
import { silentLogger } from '../../src/log.js';
import { LogStore } from '../../src/logs/store.js';
import { openDb } from '../../src/store/db.js';
import type { Build } from '../../src/store/schema.js';
import { Store } from '../../src/store/store.js';
import { parseImageRef } from '../../src/images/tags.js';
import { removeWorkDirs } from '../../src/builds/orphans.js';
import { createLogger } from '../../src/log.js';
import { sendLog } from '../../src/logs/follow.js';

/** A driver that does what the test says, standing in for BuildKit at the driver boundary. */
class FakeDriver implements BuilderDriver {
  running = 0;
  maxRunning = 0;
  requests: BuildRequest[] = [];
  healthy = true;
  cachePrunedAt?: number;
  constructor(
    private behave: (req: BuildRequest, io: BuildIO) => Promise<BuildOutcome>,
    readonly name = 'fake',
  ) {}
  async build(req: BuildRequest, io: BuildIO): Promise<BuildOutcome> {
    this.requests.push(req);
    this.maxRunning = Math.max(this.maxRunning, ++this.running);
    try {
      return await this.behave(req, io);
    } finally {
      this.running--;
    }
  }
  checks = 0;
  async health() {
    this.checks++;
    return { ok: this.healthy, detail: this.healthy ? 'fake: up' : 'fake: down' };
  }
}

/** A driver whose builds run until their signal aborts, then end as a BuildKit client would: canceled. */
const runsUntilAborted = () =>
  new FakeDriver(async (_req, io) => {
    await untilAborted(io.signal);
    return { ok: false, code: 'canceled', problem: String(io.signal.reason), steps: [] };
  });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const untilAborted = (signal: AbortSignal) => new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }));

let store: Store;
let logs: LogStore;
let runner: Runner | undefined;
let repoId: number;
/** What the runner asked the registry to tag; `failTag` makes the next call throw. */
let tagged: { repository: string; digest: string; tags: string[] }[];
let failTag: string | null;
const tagger = {
  async tag(repository: string, digest: string, tags: string[]) {
    if (failTag) throw new Error(failTag);
    tagged.push({ repository, digest, tags });
  },
};

beforeEach(() => {
  tagged = [];
  failTag = null;
  store = new Store(openDb(':memory:'));
  logs = new LogStore(mkdtempSync(join(tmpdir(), 'chb-logs-')));
  repoId = store.repos.ensure('alice', 'shop').id;
});
afterEach(async () => {
  await runner?.stop();
  pool?.stop();
  runner = undefined;
});

function queue(n: number, config: Record<string, unknown> = {}, refs = (b: { id: number }) => [`r/alice/shop:${b.id}`]): Build[] {
  return store.builds.insert(
    Array.from({ length: n }, (_, i) => ({
      repoId,
      repo: 'alice/shop',
      owner: 'alice',
      ref: 'refs/heads/main',
      refType: 'branch' as const,
      refName: `b${i}`,
      commitSha: String(i).padStart(40, 'a'),
      image: 'shop',
      status: 'queued' as const,
      pusher: 'alice',
      config: {
        name: 'shop',
        context: '.',
        dockerfile: 'Dockerfile',
        target: null,
        args: {},
        secrets: [],
        branches: null,
        paths: null,
        tags: [],
        platforms: [],
        timeoutSeconds: null,
        ...config,
      },
    })),
    refs,
  );
}

let pool: BuilderPool;

async function start(drivers: BuilderDriver | { driver: BuilderDriver; capacity: number }[], over: Partial<RunnerDeps> = {}) {
  const members = Array.isArray(drivers) ? drivers : [{ driver: drivers, capacity: 2 }];
  pool = new BuilderPool(members, silentLogger, () => runner?.notify(), 50);
  pool.start();
  await pool.checkAll();
  runner = new Runner({
    store,
    repos: new RepoStore(mkdtempSync(join(tmpdir(), 'chb-data-'))),
    logs,
    pool,
    secrets: noSecrets,
    tagger,
    log: silentLogger,
    metrics: new BuildMetrics(),
    publicUrl: 'http://x',
    instance: 'test',
    maxBuilds: 2,
    defaultTimeoutMs: 60_000,
    retry: { maxAttempts: 3, baseMs: 20 },
    ...over,
  });
  return runner.start();
}

/**
 * A build's whole log: the runner records a build's end before its log's last lines are written out (followers
 * wait for the log's end, as this does), so a test that saw the status change waits for the writer to close.
 */
const logText = async (id: number) => {
  await until(() => !logs.isOpen(id), `build ${id}'s log to be closed`);
  return (await logs.read(id)).map((l) => l.text).join('\n');
};

async function until(pred: () => boolean, what: string) {
  for (let i = 0; i < 200; i++) {
    if (pred()) return;
    await sleep(10);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** A barrier: `passes` more passes of the runner's loop, each counted by `count`, the runner woken for each. */
async function loopPasses(count: () => number, passes: number) {
  const from = count();
  for (let i = 1; i <= passes; i++) {
    runner!.notify();
    await until(() => count() >= from + i, `pass ${i} of the runner's loop`);
  }
}

describe('Runner', () => {
  it('runs queued builds at most maxBuilds at a time and records their outcomes', async () => {
    const driver = new FakeDriver(async (req, io) => {
      io.onLog(`building ${req.tags[0]}`);
      await sleep(20);
      return req.tags[0]!.endsWith(':3')
        ? { ok: false, code: 'user', problem: 'exit code: 3', steps: [] }
        : { ok: true, digest: 'sha256:' + 'd'.repeat(64), steps: [] };
    });
    const builds = queue(5);
    await start(driver);
    await until(() => store.builds.list({ limit: 10 }).every((b) => b.status !== 'queued' && b.status !== 'running'), 'all builds to end');
    expect(driver.maxRunning).toBe(2);
    expect(builds.map((b) => store.builds.byId(b.id)!.status)).toEqual(['succeeded', 'succeeded', 'failed', 'succeeded', 'succeeded']);
    expect(store.builds.byId(builds[2]!.id)).toMatchObject({ reason: 'exit code: 3', reasonCode: 'user' });
    expect(store.builds.byId(builds[0]!.id)!.digest).toBe('sha256:' + 'd'.repeat(64));
    const log = await logText(builds[0]!.id);
    expect(log).toContain(`building r/alice/shop:${builds[0]!.id}`);
    expect(log).toContain('--- succeeded in');
    // Labels name the commit and the build.
    expect(driver.requests[0]!.labels['org.opencontainers.image.revision']).toBe(builds[0]!.commitSha);
  });

  it('has BuildKit push one tag and adds the others in the same repository by registry tagging', async () => {
    const driver = new FakeDriver(async () => ({ ok: true, digest: 'sha256:' + 'e'.repeat(64), steps: [] }));
    const [b] = queue(1, {}, () => ['reg:5000/alice/shop:abc', 'reg:5000/alice/shop:main', 'other:5000/alice/shop:x', 'reg:5000/alice/shop:latest']);
    await start(driver);
    await until(() => store.builds.byId(b!.id)!.status === 'succeeded', 'the build to succeed');
    expect(driver.requests.map((r) => r.tags)).toEqual([['reg:5000/alice/shop:abc', 'other:5000/alice/shop:x']]);
    expect(tagged).toEqual([{ repository: 'alice/shop', digest: 'sha256:' + 'e'.repeat(64), tags: ['main', 'latest'] }]);
    expect(await logText(b!.id)).toContain('tagged alice/shop:main, alice/shop:latest');
  });

  it('retries a build whose tagging fails, as an infrastructure error', async () => {
    failTag = 'PUT manifest alice/shop:main: 500';
    const driver = new FakeDriver(async () => ({ ok: true, digest: 'sha256:' + 'e'.repeat(64), steps: [] }));
    const [b] = queue(1, {}, () => ['reg:5000/alice/shop:abc', 'reg:5000/alice/shop:main']);
    await start(driver, { retry: { maxAttempts: 2, baseMs: 10 } });
    await until(() => store.builds.byId(b!.id)!.status === 'failed', 'the build to fail');
    expect(driver.requests).toHaveLength(2);
    expect(store.builds.byId(b!.id)).toMatchObject({
      reasonCode: 'infrastructure',
      reason: expect.stringContaining('tagging the pushed image failed: PUT manifest alice/shop:main: 500'),
    });
  });

  it('keeps going when claiming a build fails for a moment (e.g. SQLITE_BUSY)', async () => {
    const driver = new FakeDriver(async () => ({ ok: true, digest: 'sha256:' + 'e'.repeat(64), steps: [] }));
    const claim = store.queue.claimNext.bind(store.queue);
    let thrown = 0;
    store.queue.claimNext = (pick, now) => {
      if (thrown < 1) {
        thrown++;
        throw Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });
      }
      return claim(pick, now);
    };
    const [b] = queue(1);
    await start(driver);
    runner!.notify();
    await until(() => store.builds.byId(b!.id)!.status === 'succeeded', 'the build to succeed after the failed claim');
    expect(thrown).toBe(1);
    expect(store.builds.byId(b!.id)!.attempts).toBe(1);
  });

  it('fails a build with reason timeout when it runs past its timeout', async () => {
    const driver = new FakeDriver(async (_req, io) => {
      await untilAborted(io.signal);
      return { ok: false, code: 'timeout', problem: String(io.signal.reason), steps: [] };
    });
    const [b] = queue(1, { timeoutSeconds: 1 });
    await start(driver);
    await until(() => store.builds.byId(b!.id)!.status === 'failed', 'the timeout');
    expect(store.builds.byId(b!.id)).toMatchObject({ reasonCode: 'timeout', reason: 'timeout: the build ran longer than 1s' });
  });

  it('fails a build that names a secret the repo does not have, without running it', async () => {
    const driver = new FakeDriver(async () => ({ ok: true, digest: 'sha256:x', steps: [] }));
    const [b] = queue(1, { secrets: ['npm_token'] });
    await start(driver);
    await until(() => store.builds.byId(b!.id)!.status === 'failed', 'the failure');
    expect(store.builds.byId(b!.id)!.reason).toBe('secret "npm_token" is not set for alice/shop: codehub-build secret set alice/shop npm_token < file');
    expect(driver.requests).toHaveLength(0);
  });

  it('on stop, aborts running builds and leaves them running for the next start to re-queue', async () => {
    const driver = runsUntilAborted();
    const [b] = queue(1);
    await start(driver);
    await until(() => driver.running === 1, 'the build to start');
    await runner!.stop();
    runner = undefined;
    expect(store.builds.byId(b!.id)!.status).toBe('running');
    expect(await logText(b!.id)).toContain('because the server is stopping');
    expect(store.queue.recoverRunning(3).requeued.map((x) => x.id)).toEqual([b!.id]);
  });

  it('claims nothing while the registry gate is closed, and runs the queue when it opens', async () => {
    const driver = new FakeDriver(async () => ({ ok: true, digest: 'sha256:' + 'a'.repeat(64), steps: [] }));
    // Every pass of the runner's loop that could claim reads `open`: the barrier below counts them.
    let opened = false;
    let reads = 0;
    const gate = {
      get open() {
        reads++;
        return opened;
      },
      detail: 'read-only (maintenance)',
      check: async () => opened,
    };
    const [b] = queue(1);
    await start(driver, { registryGate: gate });
    await loopPasses(() => reads, 2);
    expect(store.builds.byId(b!.id)).toMatchObject({ status: 'queued', attempts: 0 });
    expect(driver.requests).toHaveLength(0);
    opened = true;
    runner!.notify();
    await until(() => store.builds.byId(b!.id)!.status === 'succeeded', 'the build to run once the gate opens');
  });

  it('queues a build again without counting the attempt when its push failed because the registry went away', async () => {
    const gate = { open: true, detail: 'registry down', check: async () => gate.open };
    let calls = 0;
    const driver = new FakeDriver(async () => {
      if (++calls > 1) return { ok: true, digest: 'sha256:' + 'b'.repeat(64), steps: [] };
      gate.open = false; // the registry went down while the build ran
      return { ok: false, code: 'infrastructure', problem: 'failed to push r/alice/shop:1: connection refused', steps: [] };
    });
    const [b] = queue(1);
    await start(driver, { registryGate: gate, retry: { maxAttempts: 1, baseMs: 10 } });
    await until(() => store.builds.byId(b!.id)!.status === 'queued' && calls === 1, 'the build to be queued again');
    expect(store.builds.byId(b!.id)).toMatchObject({ attempts: 0, reason: 'waiting for the registry: registry down' });
    gate.open = true;
    runner!.notify();
    await until(() => store.builds.byId(b!.id)!.status === 'succeeded', 'the build to succeed with its one attempt');
    expect(store.builds.byId(b!.id)!.attempts).toBe(1);
    expect(await logText(b!.id)).toContain('--- the build waits queued until the registry is back; this attempt does not count');
  });

  it('records what a build pushed before it reports the build succeeded', async () => {
    const seen: string[] = [];
    const driver = new FakeDriver(async () => ({ ok: true, digest: 'sha256:' + 'c'.repeat(64), steps: [] }));
    const [b] = queue(1);
    await start(driver, {
      onPushed: async (pushed, digest) => {
        seen.push(`${pushed.id} ${digest} ${store.builds.byId(pushed.id)!.status}`);
        return null;
      },
    });
    await until(() => store.builds.byId(b!.id)!.status === 'succeeded', 'the build to succeed');
    expect(seen).toEqual([`${b!.id} sha256:${'c'.repeat(64)} running`]);
  });

  it('passes the registry cache to the driver when asked, and records a mode=max cache it exported before success', async () => {
    const seen: string[] = [];
    const driver = new FakeDriver(async (req) => ({
      ok: true,
      digest: 'sha256:' + 'c'.repeat(64),
      steps: [],
      ...(req.cache ? { cacheExportedTo: req.cache.exportRef } : {}),
    }));
    const [b] = queue(1);
    await start(driver, {
      registryCache: true,
      onCacheExported: async (repository) => {
        seen.push(`${repository} ${store.builds.byId(b!.id)!.status}`);
      },
    });
    await until(() => store.builds.byId(b!.id)!.status === 'succeeded', 'the build to succeed');
    const cache = driver.requests[0]!.cache!;
    expect(cache.exportRef).toMatch(/\/buildcache:[A-Za-z0-9_.-]+$/);
    expect(cache.imageRefs.at(-1)).toMatch(/:latest$/);
    expect(seen).toEqual([`${parseImageRef(cache.exportRef).repository} running`]);
  });

  it("imports the registry cache only where the builder's own is cold: first build, after a trim of its cache", async () => {
    const driver = new FakeDriver(async () => ({ ok: true, digest: 'sha256:' + 'c'.repeat(64), steps: [] }));
    await start(driver, { registryCache: true, maxBuilds: 1 });
    const run = async () => {
      const [b] = queue(1);
      await until(() => store.builds.byId(b!.id)!.status === 'succeeded', 'the build to succeed');
      return { imports: driver.requests.at(-1)!.cache!.imageRefs.length, log: await logText(b!.id) };
    };
    const first = await run();
    expect(first.imports).toBeGreaterThan(0);
    expect(first.log).toContain("cache: fake has not built shop: importing the registry's cache");
    const second = await run();
    expect(second).toMatchObject({ imports: 0 });
    expect(second.log).toContain("cache: fake built shop last: its own cache is used, the registry's is not imported");
    driver.cachePrunedAt = Date.now() + 1000; // trimmed after the last build ended
    const third = await run();
    expect(third.imports).toBeGreaterThan(0);
    expect(third.log).toContain("cache: fake's cache was trimmed since it built shop: importing the registry's cache");
  });

  it('passes no registry cache when it is off', async () => {
    const driver = new FakeDriver(async () => ({ ok: true, digest: 'sha256:' + 'c'.repeat(64), steps: [] }));
    const [b] = queue(1);
    await start(driver);
    await until(() => store.builds.byId(b!.id)!.status === 'succeeded', 'the build to succeed');
    expect(driver.requests[0]!.cache).toBeUndefined();
  });

  it("records a multi-platform image's platforms with its end, none for one platform, and clears an earlier attempt's", async () => {
    const platforms = [
      { platform: 'linux/amd64', digest: 'sha256:' + 'a'.repeat(64) },
      { platform: 'linux/arm64', digest: 'sha256:' + 'b'.repeat(64) },
    ];
    const driver = new FakeDriver(async (req) => {
      if (req.tags[0]!.endsWith(':multi')) return { ok: true, digest: 'sha256:' + 'c'.repeat(64), steps: [], platforms };
      if (req.tags[0]!.endsWith(':one')) return { ok: true, digest: 'sha256:' + 'd'.repeat(64), steps: [] };
      return { ok: false, code: 'user', problem: 'exit code: 1', steps: [] };
    });
    const names = ['multi', 'one', 'failed'];
    const builds = queue(3, {}, (b) => [`r/alice/shop:${names[b.id - 1]}`]);
    // As if an earlier attempt of the failing build had pushed an index.
    store.builds.setPlatforms(builds[2]!.id, platforms);
    let atEnd: unknown;
    await start(driver, { onEnded: (b) => b.id === builds[0]!.id && (atEnd = b.platforms) });
    await until(() => builds.every((b) => ['succeeded', 'failed'].includes(store.builds.byId(b.id)!.status)), 'the builds to end');
    expect(atEnd).toEqual(platforms);
    expect(builds.map((b) => store.builds.byId(b.id)!.platforms)).toEqual([platforms, null, null]);
  });

  it('retries an infrastructure failure with back-off, then fails it as infrastructure', async () => {
    const driver = new FakeDriver(async () => ({ ok: false, code: 'infrastructure', problem: 'dial tcp 127.0.0.1:5999: connection refused', steps: [] }));
    const [b] = queue(1);
    await start(driver);
    await until(() => store.builds.byId(b!.id)!.status === 'failed', 'the final failure');
    expect(store.builds.byId(b!.id)).toMatchObject({ attempts: 3, reasonCode: 'infrastructure' });
    expect(driver.requests).toHaveLength(3);
    const log = await logText(b!.id);
    expect(log).toContain('--- retrying in 0.0s (attempt 2 of 3)');
    expect(log).toContain('--- failed after');
    expect(log).toContain('(infrastructure error, after 3 attempts)');
  });

  it('never retries a user failure', async () => {
    const driver = new FakeDriver(async () => ({ ok: false, code: 'user', problem: 'exit code: 1', steps: [] }));
    const [b] = queue(1);
    await start(driver);
    await until(() => store.builds.byId(b!.id)!.status === 'failed', 'the failure');
    expect(store.builds.byId(b!.id)!.attempts).toBe(1);
    expect(driver.requests).toHaveLength(1);
  });

  it('sends builds to a healthy builder when another is down, and keeps them queued while all are down', async () => {
    const ok = async (): Promise<BuildOutcome> => ({ ok: true, digest: 'sha256:' + 'f'.repeat(64), steps: [] });
    const down = new FakeDriver(ok, 'down');
    down.healthy = false;
    const up = new FakeDriver(ok, 'up');
    up.healthy = false;
    const builds = queue(3);
    await start([
      { driver: down, capacity: 2 },
      { driver: up, capacity: 2 },
    ]);
    // Every pass of the runner's loop that could claim asks the pool for room: the barrier below counts them.
    const hasRoom = pool.hasRoom.bind(pool);
    let asked = 0;
    pool.hasRoom = () => {
      asked++;
      return hasRoom();
    };
    const checked = down.checks + up.checks;
    await until(() => down.checks + up.checks >= checked + 4, 'two more health checks of each builder');
    await loopPasses(() => asked, 2);
    expect(builds.map((b) => store.builds.byId(b.id)!.status)).toEqual(['queued', 'queued', 'queued']);
    up.healthy = true; // comes back: the next health check lets the queue drain onto it
    await until(() => builds.every((b) => store.builds.byId(b.id)!.status === 'succeeded'), 'the builds to run on the healthy builder');
    expect(down.requests).toHaveLength(0);
    expect(builds.map((b) => store.builds.byId(b.id)!.builder)).toEqual(['up', 'up', 'up']);
  });

  it('cancels a running build and resolves once its client has stopped', async () => {
    const driver = runsUntilAborted();
    const [b] = queue(1);
    await start(driver);
    await until(() => driver.running === 1, 'the build to start');
    store.queue.cancel(b!.id, 'canceled by alice');
    expect(await runner!.cancel(b!.id, 'canceled by alice')).toBe(true);
    expect(driver.running).toBe(0);
    expect(store.builds.byId(b!.id)).toMatchObject({ status: 'canceled', reason: 'canceled by alice' });
    expect(await logText(b!.id)).toContain('--- canceled after');
    expect(await runner!.cancel(b!.id, 'again')).toBe(false);
  });

  describe('on a full disk', () => {
    const full = () => Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
    /** A logger whose JSON lines the test reads. */
    const captured = () => {
      const lines: any[] = [];
      return { lines, log: createLogger({ level: 'debug', write: (l) => lines.push(JSON.parse(l)) }) };
    };

    it('finishes a build whose end the database refused once it takes it, ending the log (and followers) meanwhile', async () => {
      const { lines, log } = captured();
      const driver = new FakeDriver(async (_req, io) => {
        io.onLog('built');
        return { ok: true, digest: 'sha256:' + 'f'.repeat(64), steps: [] };
      });
      const [b] = queue(1);
      const finish = store.queue.finish.bind(store.queue);
      let refused = 0;
      let diskFull = true;
      store.queue.finish = (id, r) => {
        if (diskFull) {
          refused++;
          throw full();
        }
        return finish(id, r);
      };
      await start(driver, { log, endRetryBaseMs: 5 });
      // Barrier: the end was refused twice, and the log writer is closed while the build is still running.
      await until(() => refused >= 2 && !logs.isOpen(b!.id), 'the end to be refused and the log closed');
      expect(store.builds.byId(b!.id)!.status).toBe('running');
      const following = sendLog({ logs, store, id: b!.id, after: 0, follow: true, signal: new AbortController().signal, send: async () => {} });
      diskFull = false;
      expect((await following)?.status).toBe('succeeded');
      expect(store.builds.byId(b!.id)!.digest).toBe('sha256:' + 'f'.repeat(64));
      expect(await logText(b!.id)).toContain('could not be recorded yet');
      const warned = lines.filter((l) => l.msg.startsWith("recording the build's end failed"));
      expect(warned).toHaveLength(1);
      expect(warned[0]).toMatchObject({ cause: 'the data dir is full', err: { code: 'SQLITE_FULL' } });
      expect(JSON.stringify(warned[0])).not.toContain('stack');
      expect(lines.filter((l) => l.msg.includes('recorded after all'))).toHaveLength(1);
    });

    it('fails a build whose log cannot be written, naming the full data dir, and the server goes on', async () => {
      let diskFull = false;
      const io = {
        write: (fd: number, buf: Buffer, offset: number, length: number) => {
          if (diskFull) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
          return writeSync(fd, buf, offset, length);
        },
        truncate: (fd: number, length: number) => ftruncateSync(fd, length),
      };
      const faulty = new LogStore(mkdtempSync(join(tmpdir(), 'chb-logs-')), { io });
      const driver = new FakeDriver(async (_req, buildIo) => {
        diskFull = true;
        buildIo.onLog('a line the disk has no room for');
        await untilAborted(buildIo.signal);
        return { ok: false, code: 'canceled', problem: String(buildIo.signal.reason), steps: [] };
      });
      const [b] = queue(1);
      await start(driver, { logs: faulty, retry: { maxAttempts: 1, baseMs: 10 } });
      await until(() => store.builds.byId(b!.id)!.status === 'failed', 'the build to fail');
      expect(store.builds.byId(b!.id)).toMatchObject({
        reasonCode: 'infrastructure',
        reason: expect.stringMatching(/^the data dir is full: its log could not be written \(ENOSPC/),
      });
      expect(faulty.isOpen(b!.id)).toBe(false);
    });

    it('logs a claim loop failing on a full disk once, as one line without a stack, and again when it works', async () => {
      const { lines, log } = captured();
      const driver = new FakeDriver(async () => ({ ok: true, digest: 'sha256:' + 'e'.repeat(64), steps: [] }));
      const claim = store.queue.claimNext.bind(store.queue);
      let tries = 0;
      let diskFull = true;
      store.queue.claimNext = (pick, now) => {
        tries++;
        if (diskFull) throw full();
        return claim(pick, now);
      };
      const [b] = queue(1);
      await start(driver, { log });
      for (let seen = tries; tries < seen + 3; ) {
        runner!.notify();
        await sleep(5);
      } // barrier: three more failed claims
      diskFull = false;
      runner!.notify();
      await until(() => store.builds.byId(b!.id)!.status === 'succeeded', 'the build to succeed once the claim works');
      const claims = lines.filter((l) => l.level === 'warn' && l.msg.startsWith('claiming a build failed'));
      expect(claims).toEqual([expect.objectContaining({ level: 'warn', cause: 'the data dir is full', fix: expect.stringContaining('CODEHUB_DATA_DIR') })]);
      expect(JSON.stringify(claims)).not.toContain('stack');
      expect(lines.filter((l) => l.msg.endsWith('works again'))).toHaveLength(1);
    });

    it('starts when the builds a dead process left running cannot be queued again yet, and queues them once it can', async () => {
      const driver = new FakeDriver(async () => ({ ok: true, digest: 'sha256:' + 'e'.repeat(64), steps: [] }));
      const [b] = queue(1);
      store.queue.claimNext(() => 'fake'); // left running by a "dead process"
      const recover = store.queue.recoverRunning.bind(store.queue);
      let diskFull = true;
      store.queue.recoverRunning = (n) => {
        if (diskFull) throw full();
        return recover(n);
      };
      await start(driver);
      expect(store.builds.byId(b!.id)!.status).toBe('running');
      diskFull = false;
      runner!.notify();
      await until(() => store.builds.byId(b!.id)!.status === 'succeeded', 'the recovered build to run');
      expect(await logText(b!.id)).toContain('the build was queued again');
    });
  });
});

describe('removeWorkDirs', () => {
  it("removes the work folders of this instance's builds that are not running, and nothing else", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'chb-tmp-'));
    const names = [
      'codehub-build-test-5-aB3dE9',
      'codehub-build-test-7-xYz123',
      'codehub-build-other-5-aB3dE9',
      'codehub-build-checkouts',
      'codehub-build-5-aB3dE9',
    ];
    for (const n of names) mkdirSync(join(dir, n, 'docker-config'), { recursive: true });
    expect(await removeWorkDirs('test', new Set([7]), dir)).toBe(1);
    expect(readdirSync(dir).sort()).toEqual(names.filter((n) => n !== 'codehub-build-test-5-aB3dE9').sort());
    expect(existsSync(join(dir, 'codehub-build-test-7-xYz123'))).toBe(true);
  });
});
