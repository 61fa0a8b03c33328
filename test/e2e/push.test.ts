/**
 * The spine, end to end through the real parts: the git client pushes over HTTP to the real server, the
 * post-receive hook reports the push, BuildKit builds, the registry receives the tags, SQLite records it.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { busyboxDockerfile, WorkRepo } from '../helpers/git.js';
import { TestServer, uniqueName } from '../helpers/server.js';

let server: TestServer;
let owner: string;
let token: string;

/** Reads the real SQLite file the server writes, as an operator's sqlite3 shell would. */
function dbRows<T>(sql: string, ...params: unknown[]): T[] {
  const db = new Database(join(server.dataDir, 'codehub.db'), { readonly: true, fileMustExist: true });
  try {
    return db.prepare(sql).all(...params) as T[];
  } finally {
    db.close();
  }
}

beforeAll(async () => {
  server = await TestServer.start();
  owner = uniqueName('alice');
  token = server.addUser(owner);
});
afterAll(async () => {
  await server?.stop();
});

describe('git push to image', () => {
  let repo: WorkRepo;
  let sha: string;
  const name = 'shop';

  beforeAll(async () => {
    // Unique content per run, so BuildKit's cache from earlier runs cannot hide the RUN step's output.
    repo = await WorkRepo.create({ Dockerfile: busyboxDockerfile(), 'hello.txt': `hello from the commit of ${owner}\n` });
    sha = (await repo.git.revparse(['HEAD'])).trim();
  });

  it('builds the pushed commit and tags branch, sha and latest in the registry, with the digest in SQLite', async () => {
    const push = await repo.push(server.gitUrl(owner, token, owner, name), ['main']);
    expect(push.exitCode, push.output).toBe(0);
    expect(push.output).toMatch(new RegExp(`remote: build #\\d+ shop \\(main @ ${sha.slice(0, 7)}\\): queued`));
    expect(push.output).toContain(`remote:   -> ${server.registry}/${owner}/shop:main`);

    const [build] = await server.waitForBuilds(sha, token);
    expect(build.status, build.reason).toBe('succeeded');
    const image = `${owner}/${name}`;
    expect((await server.registryClient().tags(image)).sort()).toEqual(['latest', 'main', sha].sort());
    const digest = await server.registryClient().digest(image, sha);
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(await server.registryClient().digest(image, 'main')).toBe(digest);
    const [row] = dbRows<{ status: string; digest: string; image_refs: string }>('SELECT status, digest, image_refs FROM builds WHERE id = ?', build.id);
    expect(row).toMatchObject({ status: 'succeeded', digest });
    expect(JSON.parse(row!.image_refs)).toContain(`${server.registry}/${image}:${sha}`);

    const labels = await server.registryClient().labels(image, sha);
    expect(labels['org.opencontainers.image.revision']).toBe(sha);
    expect(labels['org.opencontainers.image.source']).toBe(`${server.url}/git/${owner}/${name}.git`);
    expect(labels['org.opencontainers.image.ref.name']).toBe('main');
    expect(labels['dev.codehub.build.id']).toBe(String(build.id));

    // The log is BuildKit's own output: the COPY and RUN steps and what RUN printed.
    const log = await server.api<string>(`/api/builds/${build.id}/log`, token);
    expect(log.body).toContain('COPY hello.txt /hello.txt');
    expect(log.body).toContain(`hello from the commit of ${owner}`);
    expect(log.body).toContain('step-ran');
  });

  it('sanitizes a branch name into its tag, tags a tag push by name, and keeps latest for the default branch', async () => {
    const url = server.gitUrl(owner, token, owner, name);
    const fsha = await repo.commit({ 'hello.txt': 'feature\n' });
    expect((await repo.push(url, ['HEAD:refs/heads/feature/Foo_Bar'])).exitCode).toBe(0);
    await repo.git.addTag('v1.0.0');
    expect((await repo.push(url, ['refs/tags/v1.0.0'])).exitCode).toBe(0);
    const builds = await server.waitForBuilds(fsha, token, { count: 2 });
    expect(builds.map((b) => [b.ref_name, b.status])).toEqual([
      ['feature/Foo_Bar', 'succeeded'],
      ['v1.0.0', 'succeeded'],
    ]);
    const tags = await server.registryClient().tags(`${owner}/${name}`);
    expect(tags).toEqual(expect.arrayContaining(['feature-Foo_Bar', 'v1.0.0', fsha, 'latest', 'main']));
    // latest still points at main's image, not at the feature branch's.
    expect(await server.registryClient().digest(`${owner}/${name}`, 'latest')).toBe(await server.registryClient().digest(`${owner}/${name}`, sha));
  });

  it('finds a build and its log by a 7-character sha prefix through the CLI and the API', async () => {
    const prefix = sha.slice(0, 7);
    const env = { CODEHUB_TOKEN: token };
    const logs = server.cli(['logs', prefix], env);
    expect(logs.status, logs.stderr).toBe(0);
    expect(logs.stdout).toContain('step-ran');
    const list = server.cli(['builds', '--commit', prefix], env);
    expect(list.stdout).toMatch(new RegExp(`succeeded\\s+${owner}/shop\\s+main\\s+${prefix}`));

    const byCommit = await server.api(`/api/repos/${owner}/${name}/commits/${prefix}/builds`, token);
    expect(byCommit.status).toBe(200);
    expect(byCommit.body.commit).toBe(sha);
    expect(byCommit.body.builds.map((b: any) => b.ref_name)).toEqual(['main']);

    const unknown = await server.api(`/api/repos/${owner}/${name}/commits/0000000/builds`, token);
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.message).toContain('no build');
    const cliUnknown = server.cli(['logs', '0000000'], env);
    expect(cliUnknown.status).toBe(4);
    expect(cliUnknown.stderr).toContain('no build found for a commit starting with 0000000');
  });
});

describe('codehub-build.yaml', () => {
  it('builds two images from two contexts, and the branches filter skips what it names', async () => {
    const repo = await WorkRepo.create({
      'codehub-build.yaml':
        'version: 1\nimages:\n  - name: web\n    context: web\n    branches: [main]\n    args: { GREETING: hi-web }\n' +
        '  - name: api\n    context: api\n    dockerfile: build/Dockerfile\n',
      'web/Dockerfile': 'FROM localhost:5000/cache/busybox:latest\nARG GREETING\nCOPY . /app\nRUN echo "greeting=$GREETING" && test -f /app/index.html\n',
      'web/index.html': `<h1>web of ${owner}</h1>\n`, // unique per run: no cache hit from an earlier run
      'api/build/Dockerfile': 'FROM localhost:5000/cache/busybox:latest\nCOPY build/Dockerfile /api-dockerfile\nRUN echo api-built\n',
    });
    const url = server.gitUrl(owner, token, owner, 'mono');
    const sha = (await repo.git.revparse(['HEAD'])).trim();

    const dev = await repo.push(url, ['HEAD:refs/heads/dev']);
    expect(dev.output).toContain('web: not built for branch dev (branches: main)');
    const devBuilds = await server.waitForBuilds(sha, token);
    expect(devBuilds.map((b) => [b.image, b.status])).toEqual([['api', 'succeeded']]);

    await repo.push(url, ['HEAD:refs/heads/main']);
    const all = await server.waitForBuilds(sha, token, { count: 3 });
    expect(
      all
        .filter((b) => b.ref_name === 'main')
        .map((b) => [b.image, b.status])
        .sort(),
    ).toEqual([
      ['api', 'succeeded'],
      ['web', 'succeeded'],
    ]);
    expect(await server.registryClient().tags(`${owner}/web`)).toEqual(expect.arrayContaining(['main', sha]));
    expect(await server.registryClient().tags(`${owner}/api`)).toEqual(expect.arrayContaining(['dev', 'main', sha]));
    const web = all.find((b) => b.image === 'web')!;
    expect((await server.api<string>(`/api/builds/${web.id}/log`, token)).body).toContain('greeting=hi-web');
  });

  it('fails a build whose RUN fails, with the command and exit code in its log', async () => {
    const repo = await WorkRepo.create({ Dockerfile: 'FROM localhost:5000/cache/busybox:latest\nRUN echo before-failing && exit 3\n' });
    const sha = (await repo.git.revparse(['HEAD'])).trim();
    await repo.push(server.gitUrl(owner, token, owner, 'broken-run'), ['main']);
    const [b] = await server.waitForBuilds(sha, token);
    expect(b).toMatchObject({ status: 'failed', reason_code: 'user' });
    expect(b.reason).toContain('exit code: 3');
    const log = (await server.api<string>(`/api/builds/${b.id}/log`, token)).body;
    expect(log).toContain('RUN echo before-failing && exit 3');
    expect(log).toContain('before-failing');
    expect(log).toMatch(/did not complete successfully: exit code: 3/);
    expect(await server.registryClient().tags(`${owner}/broken-run`)).toEqual([]);
  });

  it('fails broken YAML with line and column, in the push output and the build', async () => {
    const repo = await WorkRepo.create({ 'codehub-build.yaml': 'version: 1\nimages:\n  - name: web\n    args: [unclosed\n', Dockerfile: busyboxDockerfile() });
    const sha = (await repo.git.revparse(['HEAD'])).trim();
    const push = await repo.push(server.gitUrl(owner, token, owner, 'badyaml'), ['main']);
    expect(push.exitCode).toBe(0); // the push itself lands; the build records why it cannot run
    expect(push.output).toMatch(/remote:\s+codehub-build\.yaml:\d+:\d+: /);
    const [b] = await server.waitForBuilds(sha, token);
    expect(b).toMatchObject({ status: 'failed', reason_code: 'config' });
    expect(b.reason).toMatch(/codehub-build\.yaml:\d+:\d+: /);
    expect((await server.api<string>(`/api/builds/${b.id}/log`, token)).body).toMatch(/codehub-build\.yaml:\d+:\d+: /);
  });

  it('refuses a context that leaves the repository with a clear error', async () => {
    const repo = await WorkRepo.create({ 'codehub-build.yaml': 'version: 1\nimages:\n  - context: ../..\n', Dockerfile: busyboxDockerfile() });
    const sha = (await repo.git.revparse(['HEAD'])).trim();
    const push = await repo.push(server.gitUrl(owner, token, owner, 'escape'), ['main']);
    expect(push.output).toContain('codehub-build.yaml:3:14: images[0].context: "../.." leaves the repository');
    const [b] = await server.waitForBuilds(sha, token);
    expect(b).toMatchObject({ status: 'failed', reason_code: 'config' });
    expect(b.reason).toContain('leaves the repository');
  });

  it('records a skipped build, with the reason, for a commit with no config and no Dockerfile', async () => {
    const repo = await WorkRepo.create({ 'README.md': 'no image here\n' });
    const sha = (await repo.git.revparse(['HEAD'])).trim();
    const push = await repo.push(server.gitUrl(owner, token, owner, 'docs'), ['main']);
    expect(push.output).toContain('skipped');
    const [b] = await server.waitForBuilds(sha, token);
    expect(b).toMatchObject({ status: 'skipped', reason_code: 'skipped' });
    expect(b.reason).toContain('neither codehub-build.yaml nor a Dockerfile');
  });
});

describe('access', () => {
  it('answers a wrong token with 401 and records nothing', async () => {
    const repo = await WorkRepo.create({ Dockerfile: busyboxDockerfile(), 'hello.txt': 'x\n' });
    const before = dbRows<{ n: number }>('SELECT count(*) AS n FROM builds')[0]!.n;
    const push = await repo.push(server.gitUrl(owner, 'chb_wrong', owner, 'nope'), ['main']);
    expect(push.exitCode).not.toBe(0);
    expect(push.output).toMatch(/401|Authentication failed/);
    expect(dbRows<{ n: number }>('SELECT count(*) AS n FROM builds')[0]!.n).toBe(before);
    expect(dbRows('SELECT * FROM repos WHERE name = ?', 'nope')).toEqual([]);
    expect((await server.api('/api/builds', 'chb_wrong')).status).toBe(401);
  });

  it("refuses a push to another user's repo with 403 and a message that says why", async () => {
    const bob = uniqueName('bob');
    const bobToken = server.addUser(bob);
    const repo = await WorkRepo.create({ Dockerfile: busyboxDockerfile(), 'hello.txt': 'x\n' });
    const push = await repo.push(server.gitUrl(bob, bobToken, owner, 'shop'), ['HEAD:refs/heads/bobs']);
    expect(push.exitCode).not.toBe(0);
    expect(push.output).toContain('403');
    expect(push.output).toContain(`${bob} may not push to ${owner}/shop`);
    expect(dbRows('SELECT * FROM builds WHERE ref_name = ?', 'bobs')).toEqual([]);
    // Nor does bob see alice's builds through the API.
    expect((await server.api<{ builds: unknown[] }>(`/api/builds?repo=${owner}/shop`, bobToken)).body.builds).toEqual([]);
  });

  it('refuses a forged hook call with 401 and records nothing', async () => {
    const before = dbRows<{ n: number }>('SELECT count(*) AS n FROM builds')[0]!.n;
    const body = JSON.stringify({
      repo: `${owner}/shop`,
      pusher: owner,
      updates: [{ old: '0'.repeat(40), new: 'a'.repeat(40), ref: 'refs/heads/x' }],
      options: [],
      sentAt: new Date().toISOString(),
    });
    for (const sig of [undefined, 'sha256=' + '0'.repeat(64)]) {
      const res = await fetch(`${server.url}/hooks/post-receive`, {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/json', ...(sig ? { 'x-codehub-signature-256': sig } : {}) },
      });
      expect(res.status).toBe(401);
    }
    expect(dbRows<{ n: number }>('SELECT count(*) AS n FROM builds')[0]!.n).toBe(before);
  });
});

describe('CLI', () => {
  it('lists the candidates of an ambiguous prefix instead of guessing', async () => {
    // Two commits sharing a 5-digit prefix are rare in real git, so write them into the live database file.
    const db = new Database(join(server.dataDir, 'codehub.db'));
    db.pragma('busy_timeout = 5000');
    const repoId = (db.prepare('SELECT id FROM repos WHERE owner = ? AND name = ?').get(owner, 'shop') as { id: number }).id;
    const insert = db.prepare(
      "INSERT INTO builds (repo_id, repo, ref, ref_type, ref_name, commit_sha, image, status, pusher) VALUES (?, ?, 'refs/heads/x', 'branch', 'x', ?, 'shop', 'skipped', ?)",
    );
    for (const sha of ['fedcb1' + '0'.repeat(34), 'fedcb2' + '0'.repeat(34)]) insert.run(repoId, `${owner}/shop`, sha, owner);
    db.close();
    const r = server.cli(['logs', 'fedcb'], { CODEHUB_TOKEN: token });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('commit prefix fedcb is ambiguous');
    expect(r.stderr).toContain(`${owner}/shop@fedcb1`);
    expect(r.stderr).toContain(`${owner}/shop@fedcb2`);
  });

  it('explains a missing CODEHUB_TOKEN and an unreachable server', () => {
    expect(server.cli(['builds']).stderr).toContain('CODEHUB_TOKEN is not set');
    const down = server.cli(['builds'], { CODEHUB_TOKEN: token, CODEHUB_URL: 'http://127.0.0.1:9' });
    expect(down.status).toBe(1);
    expect(down.stderr).toContain('cannot reach http://127.0.0.1:9');
  });

  it('migrate creates a database on a new data dir and leaves a current one as it is', () => {
    const r = server.cli(['migrate'], { CODEHUB_DATA_DIR: join(server.dataDir, 'fresh') });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/is up to date \(\d+ migrations applied\)/);
    expect(server.cli(['migrate']).stdout).toContain(join(server.dataDir, 'codehub.db'));
  });
});

describe('restart', () => {
  it('keeps the whole history across a server restart', async () => {
    const before = (await server.api<{ builds: any[] }>('/api/builds?limit=200', token)).body.builds;
    expect(before.length).toBeGreaterThan(5);
    const logsBefore = await Promise.all(before.map((b) => server.api<string>(`/api/builds/${b.id}/log?timestamps=1`, token).then((r) => r.body)));
    await server.stop();
    await server.boot();
    const after = (await server.api<{ builds: any[] }>('/api/builds?limit=200', token)).body.builds;
    expect(after).toEqual(before);
    const logsAfter = await Promise.all(after.map((b) => server.api<string>(`/api/builds/${b.id}/log?timestamps=1`, token).then((r) => r.body)));
    expect(logsAfter).toEqual(logsBefore); // every log intact, line for line and time for time
    expect(logsAfter.find((l) => l.includes('succeeded in'))).toBeDefined();
  });
});
