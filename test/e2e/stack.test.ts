/**
 * scripts/stack.sh against what operators meet: a dockerd pid file left by a daemon still shutting down (or
 * by one long dead), and a registry that cannot come up, whose error must name its log. Each case runs on a
 * stack state folder, ports and a bridge of its own, so the suite's own daemons are never touched.
 */
import { execa } from 'execa';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../src/paths.js';
import { freePort } from '../helpers/server.js';

const stackDir = mkdtempSync(join(tmpdir(), 'chb-stack-ops-'));
let env: Record<string, string>;
const stackSh = (...args: string[]) => execa('bash', [join(PACKAGE_ROOT, 'scripts', 'stack.sh'), ...args], { reject: false, all: true, env });
const pidFile = join(stackDir, 'builder', 'dockerd.pid');

beforeAll(async () => {
  const n = Math.floor(Math.random() * 200) + 20;
  env = {
    CODEHUB_STACK_DIR: stackDir,
    CODEHUB_STACK_BUILDER_PORT: String(await freePort()),
    CODEHUB_STACK_BUILDER_BRIDGE: `chb-t${n}`,
    CODEHUB_STACK_BUILDER_BRIDGE_ADDR: `10.214.${n}.1/24`,
  };
});

afterAll(async () => {
  await stackSh('builder', 'down');
  await execa('ip', ['link', 'del', env.CODEHUB_STACK_BUILDER_BRIDGE!], { reject: false });
  await execa('rm', ['-rf', stackDir], { reject: false });
});

describe('scripts/stack.sh, as operators meet it', () => {
  it('waits for a dockerd still shutting down that holds its pid file, then starts; and starts over a stale pid file', async () => {
    mkdirSync(join(stackDir, 'builder'), { recursive: true });
    // A process that looks like that builder's dockerd (its command line names the pid file) and exits in 3 s
    // (two commands, so bash stays the process rather than exec'ing sleep).
    const lingering = spawn('bash', ['-c', 'sleep 3; exit 0', 'dockerd', '--pidfile', pidFile], { detached: true, stdio: 'ignore' });
    writeFileSync(pidFile, String(lingering.pid));
    const up = await stackSh('builder', 'up');
    expect(up.exitCode, up.all).toBe(0);
    expect(up.all).toContain(`builder dockerd (pid ${lingering.pid}) is running but does not answer: waiting up to 60 s`);
    expect(up.all).toContain(`removing the stale pid file ${pidFile}`);
    expect((await stackSh('builder', 'status')).exitCode).toBe(0);
    const started = Number(readFileSync(pidFile, 'utf8'));
    expect(started).not.toBe(lingering.pid);

    // Stopped (its pid file gone), then a pid file naming a long-dead process: up starts it again.
    expect((await stackSh('builder', 'down')).exitCode).toBe(0);
    expect(existsSync(pidFile)).toBe(false);
    const dead = spawn('true');
    await new Promise((r) => dead.on('exit', r));
    writeFileSync(pidFile, String(dead.pid));
    const again = await stackSh('builder', 'up');
    expect(again.exitCode, again.all).toBe(0);
    expect(again.all).toContain(`removing the stale pid file ${pidFile}`);
    expect((await stackSh('builder', 'status')).exitCode).toBe(0);
  }, 120_000);

  it('collects nothing, successfully, on a registry nothing was pushed to yet', async () => {
    const addr = `127.0.0.1:${await freePort()}`;
    expect((await stackSh('registry', 'up', addr)).exitCode).toBe(0);
    try {
      const gc = await stackSh('gc', addr);
      expect(gc.exitCode, gc.all).toBe(0);
      expect(gc.all).toContain(`registry ${addr}: nothing pushed yet, nothing to collect`);
    } finally {
      await stackSh('registry', 'down', addr);
    }
  });

  it('says a registry could not come up, naming its log, even when something else answers on its port', async () => {
    // Something that answers /v2/ with 200 holds the port: answering alone must not pass for a started registry.
    const squatter: Server = createServer((_, res) => {
      res.writeHead(200);
      res.end('{}');
    });
    const port = await freePort();
    await new Promise<void>((r) => squatter.listen(port, '127.0.0.1', r));
    try {
      const up = await stackSh('registry', 'up', `127.0.0.1:${port}`);
      expect(up.exitCode).not.toBe(0);
      const log = join(stackDir, `registry-${port}.log`);
      expect(up.all).toContain(`registry-${port} exited at start (log above: ${log})`);
      expect(readFileSync(log, 'utf8')).toMatch(/address already in use/);
    } finally {
      squatter.close();
    }
  });
});
