import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BuildctlDriver } from '../../src/builder/buildctl.js';
import { BuildxDriver } from '../../src/builder/buildx.js';
import { EngineDriver } from '../../src/builder/dockerd.js';
import type { BuilderDriver } from '../../src/builder/driver.js';
import { BuilderPool, driverFor, parseBuilders, rendezvousOrder } from '../../src/builder/pool.js';
import { silentLogger } from '../../src/log.js';

function driver(name: string, healthy = true): BuilderDriver & { healthy: boolean } {
  return {
    name,
    healthy,
    async build() {
      throw new Error('not used');
    },
    async health() {
      return { ok: this.healthy, detail: `${name}: ${this.healthy ? 'up' : 'down'}` };
    },
  };
}

async function poolOf(...drivers: (BuilderDriver & { healthy: boolean })[]) {
  const pool = new BuilderPool(
    drivers.map((d) => ({ driver: d, capacity: 100 })),
    silentLogger,
  );
  await pool.checkAll();
  return pool;
}

describe('BuilderPool', () => {
  it('uses no builder before its first health check has passed', async () => {
    const pool = new BuilderPool([{ driver: driver('a'), capacity: 1 }], silentLogger);
    expect(pool.hasRoom()).toBe(false);
    expect(pool.acquire('alice/shop')).toBeNull();
    await pool.checkAll();
    expect(pool.acquire('alice/shop')?.name).toBe('a');
  });

  it('sends a repo to the same builder every time, and spreads repos over builders', async () => {
    const pool = await poolOf(driver('a'), driver('b'), driver('c'));
    const chosen = new Map<string, string>();
    for (let i = 0; i < 60; i++) {
      const repo = `owner/repo${i}`;
      const first = pool.acquire(repo)!.name;
      pool.release(first);
      for (let k = 0; k < 3; k++) {
        const again = pool.acquire(repo)!.name;
        pool.release(again);
        expect(again).toBe(first);
      }
      chosen.set(repo, first);
    }
    const counts = ['a', 'b', 'c'].map((n) => [...chosen.values()].filter((v) => v === n).length);
    expect(Math.min(...counts)).toBeGreaterThan(5);
  });

  it('moves only the repos of a builder that goes down, and brings them back when it returns', async () => {
    const a = driver('a');
    const pool = await poolOf(a, driver('b'), driver('c'));
    const before = new Map(
      Array.from({ length: 30 }, (_, i) => {
        const d = pool.acquire(`o/r${i}`)!.name;
        pool.release(d);
        return [`o/r${i}`, d] as const;
      }),
    );
    a.healthy = false;
    await pool.recheck('a');
    for (const [repo, was] of before) {
      const now = pool.acquire(repo)!.name;
      pool.release(now);
      if (was === 'a') expect(now).not.toBe('a');
      else expect(now).toBe(was); // consistent hashing: the others stay put
    }
    a.healthy = true;
    await pool.recheck('a');
    for (const [repo, was] of before) {
      const now = pool.acquire(repo)!.name;
      pool.release(now);
      expect(now).toBe(was);
    }
  });

  it("respects each builder's capacity and reports running builds", async () => {
    const pool = new BuilderPool(
      [
        { driver: driver('a'), capacity: 1 },
        { driver: driver('b'), capacity: 1 },
      ],
      silentLogger,
    );
    await pool.checkAll();
    const first = pool.acquire('o/x')!.name;
    const second = pool.acquire('o/x')!.name;
    expect(second).not.toBe(first);
    expect(pool.acquire('o/x')).toBeNull();
    expect(pool.hasRoom()).toBe(false);
    expect(pool.status().map((s) => s.running)).toEqual([1, 1]);
    pool.release(first);
    expect(pool.acquire('o/y')?.name).toBe(first);
  });
});

/** A driver whose health checks answer only when the test says, in the order they were asked. */
function heldDriver(name: string) {
  const waiting: ((ok: boolean) => void)[] = [];
  const d: BuilderDriver & { asked: () => number; answer: (ok: boolean) => Promise<void> } = {
    name,
    async build() {
      throw new Error('not used');
    },
    health: () => new Promise((resolve) => waiting.push((ok) => resolve({ ok, detail: `${name}: ${ok ? 'up' : 'down'}` }))),
    asked: () => waiting.length,
    // Answers the oldest check still waiting, then lets the pool take the answer in.
    async answer(ok) {
      waiting.shift()!(ok);
      await new Promise((r) => setImmediate(r));
    },
  };
  return d;
}

describe('BuilderPool after an infrastructure failure', () => {
  /** Pool of a held `a` and an always-healthy `b`, both checked once; `repo` ranks `a` first. */
  async function setup() {
    const a = heldDriver('a');
    const pool = new BuilderPool(
      [
        { driver: a, capacity: 10 },
        { driver: driver('b'), capacity: 10 },
      ],
      silentLogger,
    );
    const first = pool.checkAll();
    await a.answer(true);
    await first;
    const repo = Array.from({ length: 50 }, (_, i) => `o/r${i}`).find((r) => rendezvousOrder(r, ['a', 'b'])[0] === 'a')!;
    expect(pool.acquire(repo)?.name).toBe('a');
    pool.release('a');
    return { a, pool, repo };
  }

  it('sends no build to the failed builder until a check begun after the failure passes', async () => {
    const { a, pool, repo } = await setup();
    const rechecked = pool.recheck('a');
    // The check is still running (buildx takes its whole bootstrap timeout over a dead remote): the retry goes elsewhere.
    expect(pool.acquire(repo)?.name).toBe('b');
    pool.release('b');
    expect(pool.status().find((s) => s.name === 'a')!.detail).toMatch(/^checking again after an infrastructure error/);
    await a.answer(true);
    await rechecked;
    expect(pool.acquire(repo)?.name).toBe('a');
  });

  it('keeps it out while the recheck fails, and lets it back once a later check passes', async () => {
    const { a, pool, repo } = await setup();
    const rechecked = pool.recheck('a');
    await a.answer(false);
    await rechecked;
    expect(pool.acquire(repo)?.name).toBe('b');
    pool.release('b');
    const periodic = pool.checkAll();
    await a.answer(true);
    await periodic;
    expect(pool.acquire(repo)?.name).toBe('a');
  });

  it('does not take the answer of a check begun before the failure as the recheck', async () => {
    const { a, pool, repo } = await setup();
    const periodic = pool.checkAll(); // under way when the build fails
    const rechecked = pool.recheck('a');
    expect(a.asked()).toBe(1);
    await a.answer(true); // the earlier check's answer: it may predate the failure
    await periodic;
    expect(pool.acquire(repo)?.name).toBe('b');
    pool.release('b');
    expect(a.asked()).toBe(1); // the recheck proper, asked once the earlier one ended
    await a.answer(true);
    await rechecked;
    expect(pool.acquire(repo)?.name).toBe('a');
  });
});

describe('rendezvousOrder', () => {
  it('is the order acquire tries builders in', async () => {
    const pool = await poolOf(driver('a'), driver('b'), driver('c'));
    for (let i = 0; i < 20; i++) {
      const first = pool.acquire(`o/r${i}`)!.name;
      pool.release(first);
      expect(rendezvousOrder(`o/r${i}`, ['a', 'b', 'c'])[0]).toBe(first);
    }
  });
});

describe('driverFor', () => {
  const dir = mkdtempSync(join(tmpdir(), 'chb-tls-'));
  for (const f of ['ca.pem', 'cert.pem', 'key.pem']) writeFileSync(join(dir, f), 'x');

  it('drives a docker+tcp:// builder over the Engine API, named without its query', () => {
    const [spec] = parseBuilders([`docker+tcp://127.0.0.1:2376?tls=${dir}=3`], 2);
    const d = driverFor(spec!);
    expect(d).toBeInstanceOf(EngineDriver);
    expect(d.name).toBe('docker+tcp://127.0.0.1:2376');
    const plain = driverFor(parseBuilders(['docker+tcp://127.0.0.1:2375'], 2)[0]!);
    expect(plain).toBeInstanceOf(EngineDriver);
    expect(plain.name).toBe('docker+tcp://127.0.0.1:2375');
  });

  it('connects a docker+tcp:// builder to the address of its entry', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const d = driverFor(parseBuilders([`docker+tcp://127.0.0.1:${port}`], 2)[0]!);
    expect(await d.health()).toEqual({
      ok: false,
      detail: `builder docker+tcp://127.0.0.1:${port}: cannot reach dockerd at tcp://127.0.0.1:${port} (ECONNREFUSED)`,
    });
  });

  it('makes the other networked kinds their own drivers, named by address', () => {
    const [tcp, bk] = parseBuilders([`tcp://bk:1234?tls=${dir}`, `buildctl+tcp://bk:1234?tls=${dir}`], 2).map((spec) => driverFor(spec));
    expect(tcp).toBeInstanceOf(BuildxDriver);
    expect(tcp!.name).toBe('tcp://bk:1234');
    expect(bk).toBeInstanceOf(BuildctlDriver);
    expect(bk!.name).toBe('buildctl+tcp://bk:1234');
  });
});
