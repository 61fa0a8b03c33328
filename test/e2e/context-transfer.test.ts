/**
 * Contexts through a BuildKit session of the server's own (CODEHUB_CONTEXT_TRANSFER=session), through the real
 * git client, server, dockerd and registry: the first build of a repo sends what the Dockerfile uses, a later
 * one only what changed, and a 100 MB file that .dockerignore lists is never sent at all.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkRepo } from '../helpers/git.js';
import { tagDigest } from '../helpers/registry.js';
import { TestServer, uniqueName } from '../helpers/server.js';

const FROM = 'FROM localhost:5000/cache/busybox:latest';
let server: TestServer;
let owner: string;
let token: string;

beforeAll(async () => {
  server = await TestServer.start({ env: { CODEHUB_CONTEXT_TRANSFER: 'session' } });
  owner = uniqueName('sally');
  token = server.addUser(owner);
});
afterAll(async () => {
  await server?.stop();
});

/** Pushes with `-o wait` and returns the commit's build and its log, once it succeeded. */
async function build(repo: WorkRepo, url: string, sha: string): Promise<{ b: any; log: string }> {
  const p = await repo.push(url, ['HEAD:main'], ['wait']);
  expect(p.exitCode, p.output).toBe(0);
  const [b] = await server.waitForBuilds(sha, token);
  expect(b.status, b.reason).toBe('succeeded');
  return { b, log: (await server.api<string>(`/api/builds/${b.id}/log`, token)).body };
}

/** The bytes the build's log says the session sent. */
function sentBytes(log: string): number {
  const m = /context: (\d+) files?, (\d+) bytes sent/.exec(log);
  if (!m) throw new Error(`the log names no bytes sent:\n${log}`);
  return Number(m[2]);
}

describe("contexts through a session of the server's own", () => {
  it('never sends a 100 MB file .dockerignore lists, and later sends only what changed', async () => {
    const repo = await WorkRepo.create({
      Dockerfile: `${FROM}\nCOPY . /app/\nRUN ls /app && cat /app/version.txt\n`,
      '.dockerignore': '# big files stay in git\nbig.bin\n',
      'version.txt': `version 1 of ${owner}\n`,
      'other.txt': 'unchanged\n',
    });
    writeFileSync(join(repo.dir, 'big.bin'), randomBytes(100 * 1024 * 1024));
    await repo.git.add('big.bin');
    const first = await repo.commit({}, 'a 100 MB file');
    const url = server.gitUrl(owner, token, owner, 'ctx');
    const { log: log1 } = await build(repo, url, first);
    expect(log1).toContain(`version 1 of ${owner}`);
    expect(log1).not.toMatch(/big\.bin/);
    expect(sentBytes(log1)).toBeLessThan(64 * 1024);

    const second = await repo.commit({ 'version.txt': `version 2 of ${owner}\n` });
    const { b: b2, log: log2 } = await build(repo, url, second);
    expect(log2).toContain(`version 2 of ${owner}`);
    // The changed file, and the Dockerfile and .dockerignore (dockerd reads those two afresh every build).
    expect(log2).toMatch(/context: 3 files, \d+ bytes sent/);
    expect(sentBytes(log2)).toBeLessThan(sentBytes(log1));
    expect(await tagDigest(server.registryAccess, `${owner}/ctx`, 'main')).toBe(b2.digest);
  }, 240_000);
});
