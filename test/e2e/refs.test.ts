/** How each kind of pushed ref turns into builds: hostile names, deletions, push options and path filters. */
import { execa } from 'execa';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { busyboxDockerfile, WorkRepo } from '../helpers/git.js';
import { TestServer, uniqueName, waitFor } from '../helpers/server.js';

let server: TestServer;
let owner: string;
let token: string;

beforeAll(async () => {
  server = await TestServer.start();
  owner = uniqueName('carol');
  token = server.addUser(owner);
});
afterAll(async () => {
  await server?.stop();
});

describe('pushed refs', () => {
  it('builds a branch named with shell syntax as data: sanitized tag, nothing executed', async () => {
    const repo = await WorkRepo.create({ Dockerfile: busyboxDockerfile(), 'hello.txt': 'x\n' });
    const sha = (await repo.git.revparse(['HEAD'])).trim();
    const branch = 'evil/$(touch_pwned);`touch_pwned2`|&<x>"q\'ünï';
    const push = await repo.push(server.gitUrl(owner, token, owner, 'hostile'), [`HEAD:refs/heads/${branch}`]);
    expect(push.exitCode, push.output).toBe(0);
    const [b] = await server.waitForBuilds(sha, token);
    expect(b).toMatchObject({ status: 'succeeded', ref_name: branch });
    const tag = 'evil-touch_pwned-touch_pwned2-x-q-n-';
    expect(b.image_refs).toContain(`${server.registry}/${owner}/hostile:${tag}`);
    expect(await server.registryClient().tags(`${owner}/hostile`)).toContain(tag);
    for (const dir of [process.cwd(), server.dataDir]) {
      expect(readdirSync(dir).filter((f) => f.startsWith('touch_pwned'))).toEqual([]);
    }
    expect(existsSync('/touch_pwned')).toBe(false);
  });

  it('refuses invalid repo names and reserved owners with a message naming the problem', async () => {
    const repo = await WorkRepo.create({ 'README.md': 'x\n' });
    const bad = await repo.push(`http://${owner}:${token}@127.0.0.1:${server.port}/git/${owner}/Bad_Name!.git`, ['main']);
    expect(bad.exitCode).not.toBe(0);
    expect(bad.output).toContain('repo name "Bad_Name!" is invalid');
    const reserved = await repo.push(`http://${owner}:${token}@127.0.0.1:${server.port}/git/system/x.git`, ['main']);
    expect(reserved.output).toContain('owner name "system" is reserved');
    expect(existsSync(join(server.dataDir, 'repos', 'system'))).toBe(false);
  });

  it('builds nothing for a branch deletion and says so', async () => {
    const repo = await WorkRepo.create({ Dockerfile: busyboxDockerfile(), 'hello.txt': 'x\n' });
    const sha = (await repo.git.revparse(['HEAD'])).trim();
    const url = server.gitUrl(owner, token, owner, 'deletes');
    await repo.push(url, ['HEAD:refs/heads/main', 'HEAD:refs/heads/gone']);
    await server.waitForBuilds(sha, token, { count: 2 });
    const del = await repo.push(url, [':refs/heads/gone']);
    expect(del.exitCode).toBe(0);
    expect(del.output).toContain('gone: deleted, nothing to build');
    const all = (await server.api<{ builds: any[] }>(`/api/builds?repo=${owner}/deletes`, token)).body.builds;
    expect(all).toHaveLength(2);
  });

  it('records skipped builds and builds nothing for git push -o skip', async () => {
    const repo = await WorkRepo.create({ Dockerfile: busyboxDockerfile(), 'hello.txt': 'x\n' });
    const sha = (await repo.git.revparse(['HEAD'])).trim();
    const push = await repo.push(server.gitUrl(owner, token, owner, 'skipper'), ['main'], ['skip']);
    expect(push.exitCode, push.output).toBe(0);
    const [b] = await server.waitForBuilds(sha, token);
    expect(b).toMatchObject({ status: 'skipped', reason: 'skipped by the pusher (git push -o skip)' });
    expect(await server.registryClient().tags(`${owner}/skipper`)).toEqual([]);
  });

  it('runs every step again for git push -o no-cache, and from cache without it', async () => {
    const repo = await WorkRepo.create({ Dockerfile: `FROM localhost:5000/cache/busybox:latest\nRUN echo nocache-${owner}\n` });
    const url = server.gitUrl(owner, token, owner, 'nocache');
    const runStep = async (sha: string) => {
      const [b] = await server.waitForBuilds(sha, token);
      expect(b.status, b.reason).toBe('succeeded');
      return (b.steps as { name: string; cached: boolean }[]).find((st) => st.name.includes(`RUN echo nocache-${owner}`));
    };
    expect((await repo.push(url, ['main'])).exitCode).toBe(0);
    expect(await runStep((await repo.git.revparse(['HEAD'])).trim())).toMatchObject({ cached: false });
    // The same tree again: cached, unless the push asks otherwise.
    const again = await repo.commit({}, 'same tree');
    expect((await repo.push(url, ['main'])).exitCode).toBe(0);
    expect(await runStep(again)).toMatchObject({ cached: true });
    const fresh = await repo.commit({}, 'same tree, no cache');
    const push = await repo.push(url, ['main'], ['no-cache']);
    expect(push.exitCode, push.output).toBe(0);
    expect(await runStep(fresh)).toMatchObject({ cached: false });
  });

  it('builds an image with a paths filter only when the push changed one of its paths', async () => {
    const repo = await WorkRepo.create({
      'codehub-build.yaml': 'version: 1\nimages:\n  - name: docs-site\n    context: site\n    paths: ["site/**"]\n',
      'site/Dockerfile': 'FROM localhost:5000/cache/busybox:latest\nCOPY . /site\n',
      'site/index.html': 'v1\n',
      'README.md': 'r1\n',
    });
    const url = server.gitUrl(owner, token, owner, 'paths');
    const first = (await repo.git.revparse(['HEAD'])).trim();
    await repo.push(url, ['main']);
    expect((await server.waitForBuilds(first, token))[0].status).toBe('succeeded'); // a new branch always builds

    const readmeOnly = await repo.commit({ 'README.md': 'r2\n' });
    const push2 = await repo.push(url, ['main']);
    expect(push2.output).toContain('docs-site: not built, the push changed none of paths: site/**');
    expect((await server.api<{ builds: any[] }>(`/api/builds?commit=${readmeOnly}`, token)).body.builds).toEqual([]);

    const siteChange = await repo.commit({ 'site/index.html': 'v2\n' });
    await repo.push(url, ['main']);
    expect((await server.waitForBuilds(siteChange, token))[0].status).toBe('succeeded');
  });

  it('clones back what was pushed, but only for its owner', async () => {
    const repo = await WorkRepo.create({ 'README.md': 'clone me\n' });
    const sha = (await repo.git.revparse(['HEAD'])).trim();
    await repo.push(server.gitUrl(owner, token, owner, 'clonable'), ['main']);
    const dest = join(mkdtempSync(join(tmpdir(), 'chb-clone-')), 'c');
    const ok = await execa('git', ['clone', server.gitUrl(owner, token, owner, 'clonable'), dest], { reject: false, env: { GIT_TERMINAL_PROMPT: '0' } });
    expect(ok.exitCode, ok.stderr).toBe(0);
    expect((await execa('git', ['rev-parse', 'HEAD'], { cwd: dest })).stdout).toBe(sha);

    const dave = uniqueName('dave');
    const daveToken = server.addUser(dave);
    const refused = await execa('git', ['clone', server.gitUrl(dave, daveToken, owner, 'clonable'), dest + '2'], {
      reject: false,
      env: { GIT_TERMINAL_PROMPT: '0' },
    });
    expect(refused.exitCode).not.toBe(0);
    // To someone it is not shared with, the repo does not exist (the same answer as for a missing one).
    expect(refused.stderr).toContain(`repository ${owner}/clonable does not exist`);
  });

  it('takes a push over 1 MB (a chunked request body) and builds it', async () => {
    const big = Buffer.alloc(3 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 4) big.writeUInt32LE((i * 2654435761) >>> 0, i); // incompressible enough
    const repo = await WorkRepo.create({
      Dockerfile: 'FROM localhost:5000/cache/busybox:latest\nCOPY big.bin /big.bin\nRUN wc -c /big.bin\n',
      'big.bin': big.toString('latin1') + owner,
    });
    const sha = (await repo.git.revparse(['HEAD'])).trim();
    const push = await repo.push(server.gitUrl(owner, token, owner, 'bigpush'), ['main']);
    expect(push.exitCode, push.output).toBe(0);
    const [b] = await server.waitForBuilds(sha, token);
    expect(b.status).toBe('succeeded');
  });

  it('lets a running build finish on SIGTERM before the server exits', async () => {
    const repo = await WorkRepo.create({ Dockerfile: `FROM localhost:5000/cache/busybox:latest\nRUN echo graceful-${owner} && sleep 2\n` });
    const sha = (await repo.git.revparse(['HEAD'])).trim();
    await repo.push(server.gitUrl(owner, token, owner, 'graceful'), ['main']);
    await waitUntilRunning(sha);
    const stopped = server.stop('SIGTERM'); // resolves when the process has exited
    // While it drains it refuses new work, but still answers reads and registry tokens (its running build's
    // push asks it for one: it is the registry's realm).
    const refused = await waitFor(
      'the stopping server to refuse new work',
      async () => fetch(`${server.url}/api/builds/999999/cancel`, { method: 'POST', headers: { authorization: `Bearer ${token}` } }),
      (r) => r.status === 503,
      5_000,
    );
    expect(await refused.text()).toContain('codehub-build is stopping');
    expect((await fetch(`${server.url}/registry/token?service=codehub-build-registry&scope=repository:cache/busybox:pull`)).status).toBe(200);
    await stopped;
    await server.boot();
    const [b] = await server.waitForBuilds(sha, token);
    expect(b, JSON.stringify(b) + server.logs.slice(-15).join('\n')).toMatchObject({ status: 'succeeded', attempts: 1 });
    expect(await server.registryClient().digest(`${owner}/graceful`, sha)).toBe(b.digest);
  });

  // The default builder drives dockerd over the Engine API: the solve lives on the server's connection and
  // stops with it. A buildx builder runs a client process, which outlives the server until the next one stops it.
  it.each([
    ['the Engine API (default)', {}],
    ['buildx', { CODEHUB_BUILDERS: 'default' }],
  ])(
    "finishes a build interrupted by SIGKILL of the server once it starts again, through %s; the dead server's solve does not outlive it",
    async (_label, env) => {
      const srv = Object.keys(env).length ? await TestServer.start({ env }) : server;
      const tok = srv === server ? token : srv.addUser(owner);
      try {
        const marker = `interrupt-kill-${owner}`;
        // busybox's sh execs the last command, so the RUN shows in the process table as exactly this sleep.
        const sleep = `sleep 6.${String(Date.now() % 1000).padStart(3, '0')}`;
        const running = async () => (await execa('ps', ['-eo', 'args'], { reject: false })).stdout.split('\n').some((l) => l.trim() === sleep);
        const repo = await WorkRepo.create({ Dockerfile: `FROM localhost:5000/cache/busybox:latest\nRUN echo ${marker} && ${sleep}\n` });
        const sha = (await repo.git.revparse(['HEAD'])).trim();
        await repo.push(srv.gitUrl(owner, tok, owner, 'interrupted'), ['main']);
        await waitUntilRunning(sha, new RegExp(`^#\\d+ ${marker}$`, 'm'), srv, tok);
        expect(await running()).toBe(true);
        await srv.stop('SIGKILL');
        if (srv === server) {
          // Gone with the connection, before any server is back: well before the RUN's own sleep would end it (it
          // goes within ~0.1 s; a wait as long as the sleep would pass a RUN that outlives the server).
          expect(await waitFor("the RUN to stop with the dead server's connection", running, (r) => !r, 3_000)).toBe(false);
          await srv.boot();
        } else {
          await new Promise((r) => setTimeout(r, 1500));
          expect(await running()).toBe(true); // the orphaned client keeps its solve going...
          await srv.boot();
          for (let i = 0; i < 100 && !srv.logs.some((l) => l.includes('stopped build clients left by a previous server process')); i++)
            await new Promise((r) => setTimeout(r, 50));
          expect(
            srv.logs.some((l) => l.includes('stopped build clients left by a previous server process')),
            srv.logs.join('\n'),
          ).toBe(true); // ...until the new server stops it
        }
        const [b] = await srv.waitForBuilds(sha, tok);
        const log = (await srv.api<string>(`/api/builds/${b.id}/log`, tok)).body;
        expect(b, `${b.reason}\n${log}`).toMatchObject({ status: 'succeeded', attempts: 2 });
        expect(log).toContain('the server stopped during attempt 1; the build was queued again');
        // The registry holds what the database says was pushed: the re-run's image, not the orphan's.
        expect(await srv.registryClient().digest(`${owner}/interrupted`, sha)).toBe(b.digest);
        expect(await srv.registryClient().digest(`${owner}/interrupted`, 'main')).toBe(b.digest);
      } finally {
        if (srv !== server) await srv.stop();
      }
    },
  );

  /** Waits until the build of `sha` is running and its log shows `logPattern` (by default: the RUN step began). */
  async function waitUntilRunning(sha: string, logPattern: RegExp = /RUN echo/, srv = server, tok = token): Promise<void> {
    for (let i = 0; i < 400; i++) {
      const { body } = await srv.api<{ builds: any[] }>(`/api/builds?commit=${sha}`, tok);
      const b = body.builds[0];
      if (b?.status === 'running' && logPattern.test((await srv.api<string>(`/api/builds/${b.id}/log`, tok)).body)) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`build of ${sha} never ran`);
  }
});
