/**
 * Who answers at a builder's address, and whether its cache is empty: what the cache decision compares with the
 * builder a repo's image was last built on. buildctl is played by a script printing buildctl's own tables
 * (cmd/buildctl/debug/workers.go printWorkersTable, cmd/buildctl/diskusage.go printTable and printSummary).
 */
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BuildctlDriver } from '../../src/builder/buildctl.js';
import { cacheIsEmpty, workerIdentity } from '../../src/builder/buildkitd.js';

const WORKERS = 'ID\t\t\t\tPLATFORMS\nwsl5y4hq4cjdb9i4dnvm2ghpo\tlinux/amd64,linux/amd64/v2,linux/386\n';
/** `buildx du` as buildx 0.13.1 printed it here (rows shortened to three). */
const DU = [
  'ID\t\t\t\t\t\tRECLAIMABLE\tSIZE\t\tLAST ACCESSED',
  'r9ygoaurfm9wnub14i69fc530               \ttrue \t\t20.97MB*  \t7 minutes ago',
  'k2blwtj2n4n87o2tb3w63hlx4*              \ttrue \t\t20.97MB   \t7 minutes ago',
  '0103lk4q34rtw4ufob5qtaz3j               \ttrue \t\t0B*       \t14 minutes ago',
  'Shared:\t\t52.84MB',
  'Private:\t23.65MB',
  'Reclaimable:\t76.5MB',
  'Total:\t\t76.5MB',
  '',
].join('\n');
const DU_EMPTY = 'ID\t\t\t\t\t\tRECLAIMABLE\tSIZE\t\tLAST ACCESSED\nReclaimable:\t0.00B\nTotal:\t\t0.00B\n';

describe('workerIdentity', () => {
  it('is the worker ids of `buildctl debug workers`', () => {
    expect(workerIdentity(WORKERS)).toBe('worker wsl5y4hq4cjdb9i4dnvm2ghpo');
    expect(workerIdentity(`${WORKERS}b2c3\tlinux/arm64\n`)).toBe('worker b2c3,wsl5y4hq4cjdb9i4dnvm2ghpo');
    expect(workerIdentity('ID\tPLATFORMS\n')).toBeUndefined();
  });
});

describe('cacheIsEmpty', () => {
  it('tells a cache with records from one without', () => {
    expect(cacheIsEmpty(DU)).toBe(false);
    expect(cacheIsEmpty(DU_EMPTY)).toBe(true);
    expect(cacheIsEmpty('')).toBe(true);
  });
});

describe('BuildctlDriver health', () => {
  /** A fake buildctl answering from files the test rewrites: a replaced buildkitd is a new workers table. */
  function fakeBuildctl() {
    const dir = mkdtempSync(join(tmpdir(), 'chb-buildctl-'));
    const bin = join(dir, 'buildctl');
    writeFileSync(bin, `#!/bin/sh\ncase "$*" in\n*"debug workers"*) cat ${dir}/workers;;\n*du*) cat ${dir}/du;;\nesac\n`);
    chmodSync(bin, 0o755);
    const set = (workers: string, du: string) => {
      writeFileSync(join(dir, 'workers'), workers);
      writeFileSync(join(dir, 'du'), du);
    };
    return { bin, set };
  }

  it('reads who answers, sees a replacement as a new identity, and an empty cache as a trim', async () => {
    const fake = fakeBuildctl();
    const d = new BuildctlDriver('tcp://bk:1234', fake.bin);
    fake.set(WORKERS, DU);
    expect(await d.health()).toEqual({ ok: true, detail: 'buildkitd tcp://bk:1234: answers (worker wsl5y4hq4cjdb9i4dnvm2ghpo)' });
    expect(d.identity).toBe('worker wsl5y4hq4cjdb9i4dnvm2ghpo');
    expect(d.cachePrunedAt).toBeUndefined();

    fake.set('ID\t\t\t\tPLATFORMS\nq8ngw1uxg6h3bjmd1h0f3x3m9\tlinux/amd64\n', DU_EMPTY);
    const before = Date.now();
    expect((await d.health()).ok).toBe(true);
    expect(d.identity).toBe('worker q8ngw1uxg6h3bjmd1h0f3x3m9');
    expect(d.cachePrunedAt).toBeGreaterThanOrEqual(before);
  });
});
