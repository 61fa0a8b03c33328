import { execa } from 'execa';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BuildxDriver } from '../../src/builder/buildx.js';
import { describeDriverContract } from '../helpers/driver-contract.js';
import { OPEN_REGISTRY, requireStack, uniqueName } from '../helpers/server.js';

requireStack();
describeDriverContract('buildx, local docker driver', () => new BuildxDriver(), { clientProcess: true });

describe('buildx docker driver housekeeping', () => {
  it("removes pushed images from dockerd's store once the builder has been idle", async () => {
    const driver = new BuildxDriver({ pruneIdleMs: 200 });
    const dir = mkdtempSync(join(tmpdir(), 'chb-prune-'));
    const owner = uniqueName('prune');
    writeFileSync(join(dir, 'Dockerfile'), `FROM localhost:5000/cache/busybox:latest\nRUN echo ${owner}\n`);
    const tag = `${OPEN_REGISTRY}/${owner}/pruned:x`;
    const out = await driver.build({ dockerfile: 'Dockerfile', target: null, args: {}, labels: {}, tags: [tag], platforms: [], secrets: {}, workDir: mkdtempSync(join(tmpdir(), 'chb-w-')) }, {
      context: spawn('tar', ['-c', '-C', dir, '.']).stdout, onLog: () => {}, signal: new AbortController().signal, processEnv: {},
    });
    expect(out.ok).toBe(true);
    expect((await execa('docker', ['image', 'inspect', tag], { reject: false })).exitCode).toBe(0); // still there right after
    expect(driver.pendingPrune).toBe(1);
    for (let i = 0; i < 100 && driver.pendingPrune > 0; i++) await new Promise((r) => setTimeout(r, 50));
    for (let i = 0; i < 100 && (await execa('docker', ['image', 'inspect', tag], { reject: false })).exitCode === 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect((await execa('docker', ['image', 'inspect', tag], { reject: false })).exitCode).not.toBe(0);
  });
});
