/**
 * Git submodules in contexts served from git through the server's own BuildKit session, through the real git
 * client over HTTP, the real server, dockerd and registry: a submodule that is a repo of this server the pusher
 * may read is built with its content (added with `git submodule add`, and by a relative URL); one the pusher may
 * not read fails naming the submodule and why, until its owner shares it; an external URL fails clearly when
 * the Dockerfile copies it, and does not matter when the build does not read it.
 */
import { execa } from 'execa';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkRepo } from '../helpers/git.js';
import { TestServer, uniqueName } from '../helpers/server.js';

const FROM = 'FROM localhost:5000/cache/busybox:latest';
let server: TestServer;
let alice: string;
let aliceToken: string;
let bob: string;
let bobToken: string;
let libSha: string;
const libLine = `lib content ${randomUUID()}`;

beforeAll(async () => {
  server = await TestServer.start({ env: { CODEHUB_CONTEXT_TRANSFER: 'session' } });
  alice = uniqueName('alice');
  aliceToken = server.addUser(alice);
  bob = uniqueName('bob');
  bobToken = server.addUser(bob);
  // alice's lib: no Dockerfile, so its own push builds nothing.
  const lib = await WorkRepo.create({ 'lib.txt': `${libLine}\n` });
  libSha = (await lib.git.revparse(['HEAD'])).trim();
  const pushed = await lib.push(server.gitUrl(alice, aliceToken, alice, 'lib'), ['HEAD:main']);
  expect(pushed.exitCode, pushed.output).toBe(0);
});
afterAll(async () => {
  await server?.stop();
});

/** Adds gitlinks (path -> [commit, url]) by hand, as `git submodule add` records them, and commits. */
async function addLinks(repo: WorkRepo, links: Record<string, [string, string]>, files: Record<string, string>): Promise<string> {
  let modules = '';
  for (const [path, [commit, url]] of Object.entries(links)) {
    await execa('git', ['update-index', '--add', '--cacheinfo', `160000,${commit},${path}`], { cwd: repo.dir });
    modules += `[submodule "${path}"]\n\tpath = ${path}\n\turl = ${url}\n`;
  }
  return repo.commit({ ...files, '.gitmodules': modules }, 'submodules');
}

/** Pushes with `-o wait`; returns the commit's newest build (finished) and its log. */
async function pushAndWait(repo: WorkRepo, url: string, sha: string, token: string, count = 1): Promise<{ b: any; log: string; output: string }> {
  const p = await repo.push(url, ['HEAD:main'], ['wait']);
  const builds = await server.waitForBuilds(sha, token, { count });
  const b = builds[builds.length - 1];
  return { b, log: (await server.api<string>(`/api/builds/${b.id}/log`, token)).body, output: p.output };
}

describe('submodules in a build context', () => {
  it('builds a submodule that is a repo of this server the pusher may read, by absolute and by relative URL', async () => {
    const app = await WorkRepo.create({
      Dockerfile: `${FROM}\nCOPY vendor/lib /lib\nCOPY vendor/rel/lib.txt /rel.txt\nRUN cat /lib/lib.txt && echo "rel: $(cat /rel.txt)"\n`,
    });
    // The real client adds the submodule over HTTP (the token in a header given to this command only, so that
    // .gitmodules records the plain URL, as a workspace's credential helper would leave it).
    const libUrl = `${server.url}/git/${alice}/lib.git`;
    const basic = Buffer.from(`${alice}:${aliceToken}`).toString('base64');
    const added = await execa('git', ['-c', `http.extraHeader=Authorization: Basic ${basic}`, 'submodule', 'add', '-q', libUrl, 'vendor/lib'], {
      cwd: app.dir,
      reject: false,
      all: true,
      env: { GIT_TERMINAL_PROMPT: '0' },
    });
    expect(added.exitCode, added.all).toBe(0);
    await app.git.commit('add lib');
    const gitmodules = (await execa('git', ['config', '-f', '.gitmodules', '--get-regexp', 'url'], { cwd: app.dir })).stdout;
    expect(gitmodules).toBe(`submodule.vendor/lib.url ${libUrl}`);
    expect(gitmodules).not.toContain(aliceToken);
    const sha = await addLinks(app, { 'vendor/lib': [libSha, libUrl], 'vendor/rel': [libSha, '../lib.git'] }, {});

    const { b, log } = await pushAndWait(app, server.gitUrl(alice, aliceToken, alice, 'app'), sha, aliceToken);
    expect(b.status, `${b.reason}\n${log}`).toBe('succeeded');
    expect(log).toContain(libLine);
    expect(log).toContain(`rel: ${libLine}`);
  }, 240_000);

  it('fails a build whose submodule is a repo its pusher may not read, naming it, until it is shared', async () => {
    const secretLine = `alice's secret ${randomUUID()}`;
    const secret = await WorkRepo.create({ 'secret.txt': `${secretLine}\n` });
    const secretSha = (await secret.git.revparse(['HEAD'])).trim();
    expect((await secret.push(server.gitUrl(alice, aliceToken, alice, 'secret'), ['HEAD:main'])).exitCode).toBe(0);

    const app = await WorkRepo.create({ Dockerfile: `${FROM}\nCOPY vendor/secret /s\nRUN cat /s/secret.txt\n` });
    const url = `${server.url}/git/${alice}/secret.git`;
    const sha = await addLinks(app, { 'vendor/secret': [secretSha, url] }, {});
    const { b, log, output } = await pushAndWait(app, server.gitUrl(bob, bobToken, bob, 'app'), sha, bobToken);
    expect(b.status).toBe('failed');
    expect(b.reason_code).toBe('user');
    const problem = `submodule vendor/secret (${url}): ${bob} may not read ${alice}/secret (it is not shared with ${bob}, or does not exist); its owner can share it: codehub-build repo share ${alice}/secret ${bob} --role read`;
    expect(b.reason).toBe(problem); // as the tree said it: no gRPC status text around it
    expect(log).toContain(problem);
    expect(output).toContain(`${bob} may not read ${alice}/secret`); // -o wait shows it in the push too
    expect(log).not.toContain(secretLine);

    // Shared with bob for reading: the same commit builds when bob runs it again.
    const shared = await fetch(`${server.url}/api/repos/${alice}/secret/members/${bob}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${aliceToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ role: 'read' }),
    });
    expect(shared.status, await shared.text()).toBeLessThan(300);
    const rebuilt = await fetch(`${server.url}/api/builds/${b.id}/rebuild`, { method: 'POST', headers: { authorization: `Bearer ${bobToken}` } });
    expect(rebuilt.status).toBe(201);
    const builds = await server.waitForBuilds(sha, bobToken, { count: 2 });
    const again = builds[builds.length - 1];
    expect(again.status, again.reason).toBe('succeeded');
    expect((await server.api<string>(`/api/builds/${again.id}/log`, bobToken)).body).toContain(secretLine);
  }, 240_000);

  it('fails clearly when the Dockerfile copies a submodule with an external URL, and not when the build leaves it out', async () => {
    const app = await WorkRepo.create({
      Dockerfile: `${FROM}\nCOPY hello.txt /hello.txt\nCOPY third_party/ext /ext\nRUN cat /hello.txt\n`,
      'hello.txt': 'hello\n',
    });
    const url = `https://${alice}:ghp_not_a_real_token@github.com/x/y.git`;
    const sha = await addLinks(app, { 'third_party/ext': [libSha, url] }, {});
    const repoUrl = server.gitUrl(alice, aliceToken, alice, 'ext');
    const { b, log } = await pushAndWait(app, repoUrl, sha, aliceToken);
    expect(b.status).toBe('failed');
    expect(b.reason_code).toBe('user');
    expect(b.reason).toContain(
      `submodule third_party/ext (https://${alice}:***@github.com/x/y.git) cannot be read: github.com is another host: codehub-build has no credentials for it`,
    );
    expect(`${b.reason}\n${log}`).not.toContain('ghp_not_a_real_token');

    // Not copied: an empty folder, as git archive makes it.
    const unused = await app.commit({ Dockerfile: `${FROM}\nCOPY hello.txt /hello.txt\nRUN cat /hello.txt && echo unused-ok\n` });
    const r1 = await pushAndWait(app, repoUrl, unused, aliceToken);
    expect(r1.b.status, `${r1.b.reason}\n${r1.log}`).toBe('succeeded');
    expect(r1.log).toContain('unused-ok');
    // COPY . with the submodule in .dockerignore: not read either.
    const ignored = await app.commit({
      Dockerfile: `${FROM}\nCOPY . /app/\nRUN ls /app && cat /app/hello.txt && echo ignored-ok\n`,
      '.dockerignore': 'third_party\n',
    });
    const r2 = await pushAndWait(app, repoUrl, ignored, aliceToken);
    expect(r2.b.status, `${r2.b.reason}\n${r2.log}`).toBe('succeeded');
    expect(r2.log).toContain('ignored-ok');
  }, 240_000);
});
