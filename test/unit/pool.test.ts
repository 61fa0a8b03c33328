import { describe, expect, it } from 'vitest';
import type { BuilderDriver } from '../../src/builder/driver.js';
import { BuilderPool } from '../../src/builder/pool.js';
import { silentLogger } from '../../src/log.js';

function driver(name: string, healthy = true): BuilderDriver & { healthy: boolean } {
  return {
    name, healthy,
    async build() { throw new Error('not used'); },
    async health() { return { ok: this.healthy, detail: `${name}: ${this.healthy ? 'up' : 'down'}` }; },
  };
}

async function poolOf(...drivers: (BuilderDriver & { healthy: boolean })[]) {
  const pool = new BuilderPool(drivers.map((d) => ({ driver: d, capacity: 100 })), silentLogger);
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
    const before = new Map(Array.from({ length: 30 }, (_, i) => {
      const d = pool.acquire(`o/r${i}`)!.name;
      pool.release(d);
      return [`o/r${i}`, d] as const;
    }));
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

  it('respects each builder\'s capacity and reports running builds', async () => {
    const pool = new BuilderPool([{ driver: driver('a'), capacity: 1 }, { driver: driver('b'), capacity: 1 }], silentLogger);
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
