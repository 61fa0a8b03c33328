/**
 * Retention, gc and log retention through the real parts: git pushes to the real server, builds on
 * BuildKit, `codehub-build gc` as an operator runs it, and the registry's own API to check what is left.
 */
import Database from 'better-sqlite3';
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../src/paths.js';
import { WorkRepo } from '../helpers/git.js';
import { registryFetch, tagsOf, tagStatus } from '../helpers/registry.js';
import { TestServer, uniqueName } from '../helpers/server.js';

const FROM = 'FROM localhost:5000/cache/busybox:latest';
let server: TestServer;

beforeAll(async () => {
  server = await TestServer.start({ env: { CODEHUB_RETENTION_GRACE: '0', CODEHUB_LOG_RETENTION_DAYS: '1' } });
});
afterAll(async () => {
  await server?.stop();
});

/** Commits a new Dockerfile (a build of its own), pushes `refspec`, waits for the commit's builds; returns the sha. */
async function pushBuild(repo: WorkRepo, url: string, token: string, refspec: string, opts: { commit?: boolean; builds?: number } = {}): Promise<string> {
  const sha = opts.commit === false ? (await repo.git.revparse(['HEAD'])).trim() : await repo.commit({ Dockerfile: `${FROM}\nRUN echo ${Math.random()}\n` });
  const p = await repo.push(url, [refspec]);
  expect(p.exitCode, p.output).toBe(0);
  const builds = await server.waitForBuilds(sha, token, { count: opts.builds ?? 1 });
  for (const b of builds) expect(b.status, b.reason).toBe('succeeded');
  return sha;
}

/** The `<repository>:<tag>` a gc output's removal lines name, in order. */
const removedIn = (out: string, verb: 'would remove' | 'removed') =>
  out
    .split('\n')
    .filter((l) => l.startsWith(`${verb} `))
    .map((l) => l.slice(verb.length + 1).split(/\s+/)[0]!)
    .filter((what) => /^[^@\s]+:[^@\s]+$/.test(what));

/** The JSON log lines a CLI run wrote on stderr with this message. */
const logLines = (stderr: string, msg: string) =>
  stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l))
    .filter((l) => l.msg === msg);

// Every test runs at the same time as the others, on the one server: each has an owner of its own, and each gc it
// runs names its repository (--repo). Most of their time is builds one after another, BuildKit's work and waiting.
describe.concurrent('retention', () => {
  it('keeps the branch tag and the 10 newest sha tags of 15 pushes; the dry run lists exactly the 5 it then removes', async () => {
    const owner = uniqueName('ret');
    const token = server.addUser(owner);
    const repo = await WorkRepo.create({ Dockerfile: `${FROM}\nRUN echo first\n` });
    const url = server.gitUrl(owner, token, owner, 'app');
    const shas = [await pushBuild(repo, url, token, 'main', { commit: false })];
    const set = server.cli(['repo', 'retention', `${owner}/app`, '--keep', '10', '--days', '0'], { CODEHUB_TOKEN: token });
    expect(set.stdout, set.stderr).toContain(
      "keeps the tags of its newest 10 (this repo's; the server's default is 10) builds, and every tag pushed within 0 (this repo's",
    );
    for (let i = 1; i < 15; i++) shas.push(await pushBuild(repo, url, token, 'main'));
    const repository = `${owner}/app`;
    expect(await tagsOf(server.registryAccess, repository)).toEqual([...shas, 'latest', 'main'].sort());
    const before = (await server.api('/api/usage', token)).body;

    const dry = server.cli(['gc', '--dry-run', '--repo', repository]);
    expect(dry.status, dry.stderr).toBe(0);
    expect(removedIn(dry.stdout, 'would remove').sort()).toEqual(
      shas
        .slice(0, 5)
        .map((s) => `${repository}:${s}`)
        .sort(),
    );
    expect(dry.stdout).toContain('older than the 10 newest builds of branch main and pushed 0 days ago (keep 10, days 0)');
    expect(dry.stdout).toMatch(/would remove 5 tags, [\d.]+ KiB \(\d+ bytes\); kept 12 tags/);
    expect(await tagsOf(server.registryAccess, repository)).toEqual([...shas, 'latest', 'main'].sort()); // the dry run deleted nothing

    const run = server.cli(['gc', '--repo', repository]);
    expect(run.status, run.stderr).toBe(0);
    expect(removedIn(run.stdout, 'removed').sort()).toEqual(removedIn(dry.stdout, 'would remove').sort());
    for (const s of shas.slice(0, 5)) expect(await tagStatus(server.registryAccess, repository, s)).toBe(404);
    for (const t of [...shas.slice(5), 'main', 'latest']) expect(await tagStatus(server.registryAccess, repository, t), t).toBe(200);
    // One JSON line per removal, for operators.
    expect(
      logLines(run.stderr, 'gc removed a tag')
        .map((l) => l.tag)
        .sort(),
    ).toEqual(shas.slice(0, 5).sort());
    const after = (await server.api('/api/usage', token)).body;
    expect(after.bytes).toBeLessThan(before.bytes);
    expect(run.stdout).toContain(`usage of ${owner}: `);
    // Nothing left to do: a second run removes nothing.
    expect(removedIn(server.cli(['gc', '--repo', repository]).stdout, 'removed')).toEqual([]);
  });

  it("removes a deleted branch's tags at the next gc (grace 0), keeping a sha that is main's head and the git tag pushed from it", async () => {
    const owner = uniqueName('del');
    const token = server.addUser(owner);
    const repo = await WorkRepo.create({ Dockerfile: `${FROM}\nRUN echo main\n` });
    const url = server.gitUrl(owner, token, owner, 'shop');
    await pushBuild(repo, url, token, 'main', { commit: false });
    await repo.git.checkoutLocalBranch('feat');
    const a = await pushBuild(repo, url, token, 'feat:feat');
    await pushBuild(repo, url, token, 'feat:main', { commit: false, builds: 2 }); // main fast-forwards to a: sha a is main's head
    const x = await pushBuild(repo, url, token, 'feat:feat');
    // Tag v1 first, then the branch at the same commit: `feat` and sha b end up on one manifest.
    const b = await repo.commit({ Dockerfile: `${FROM}\nRUN echo b-${owner}\n` });
    await repo.git.addTag('v1');
    expect((await repo.push(url, ['refs/tags/v1'])).exitCode).toBe(0);
    await server.waitForBuilds(b, token);
    await pushBuild(repo, url, token, 'feat:feat', { commit: false, builds: 2 });
    const repository = `${owner}/shop`;
    const featDigest = (await server.api(`/api/builds?repo=${repository}&ref=feat&status=succeeded&limit=1`, token)).body.builds[0].digest;
    const headers = { accept: 'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json' };
    expect(
      (await registryFetch(server.registryAccess, `/v2/${repository}/manifests/${b}`, { method: 'HEAD', headers })).headers.get('docker-content-digest'),
    ).toBe(featDigest);

    const del = await repo.push(url, [':refs/heads/feat']);
    expect(del.output).toContain('feat: deleted, nothing to build; its image tags go at the next gc');
    const dry = server.cli(['gc', '--dry-run', '--repo', `${owner}/shop`]);
    expect(removedIn(dry.stdout, 'would remove').sort()).toEqual([`${repository}:feat`, `${repository}:${x}`].sort());
    expect(dry.stdout).toMatch(new RegExp(`would remove ${repository}:feat .*\\(this tag only\\) .*branch feat was deleted`));
    expect(dry.stdout).toContain('untagged: its tags moved to newer builds');

    const run = server.cli(['gc', '--repo', `${owner}/shop`]);
    expect(run.status, run.stderr).toBe(0);
    expect(await tagStatus(server.registryAccess, repository, 'feat')).toBe(404);
    expect(await tagStatus(server.registryAccess, repository, x)).toBe(404);
    for (const t of [a, b, 'v1', 'main', 'latest']) expect(await tagStatus(server.registryAccess, repository, t), t).toBe(200);
    // The tag removed alone left its manifest to sha b, digest and all.
    expect(
      (await registryFetch(server.registryAccess, `/v2/${repository}/manifests/${b}`, { method: 'HEAD', headers })).headers.get('docker-content-digest'),
    ).toBe(featDigest);
    const docker = await server.docker(owner, token);
    for (const t of [a, b, 'v1']) {
      const pull = await docker('pull', '-q', `${server.registry}/${repository}:${t}`);
      expect(pull.exitCode, pull.all).toBe(0);
      await docker('image', 'rm', `${server.registry}/${repository}:${t}`);
    }
  });
});

describe.concurrent('retention of a build cache in the registry', () => {
  it("counts a branch's mode=max cache (<image>/buildcache:<branch>) in usage, and removes it with the branch", async () => {
    // What a standalone buildkitd exports (type=registry,mode=max,image-manifest=true), made here with docker push:
    // no buildkitd runs on this machine. An image manifest per branch, in the owner's namespace.
    const owner = uniqueName('bcache');
    const token = server.addUser(owner);
    const repo = await WorkRepo.create({ Dockerfile: `${FROM}\nRUN echo main-${owner}\n` });
    const url = server.gitUrl(owner, token, owner, 'shop');
    await pushBuild(repo, url, token, 'main', { commit: false });
    await repo.git.checkoutLocalBranch('feat');
    await pushBuild(repo, url, token, 'feat:feat');
    const docker = await server.docker(owner, token);
    const cache = `${server.registry}/${owner}/shop/buildcache`;
    for (const [from, to] of [
      ['main', 'main'],
      ['feat', 'feat'],
      ['feat', 'gone-branch'],
    ] as const) {
      expect((await docker('pull', '-q', `${server.registry}/${owner}/shop:${from}`)).exitCode).toBe(0);
      expect((await docker('tag', `${server.registry}/${owner}/shop:${from}`, `${cache}:${to}`)).exitCode).toBe(0);
      const push = await docker('push', '-q', `${cache}:${to}`);
      expect(push.exitCode, push.all).toBe(0);
      await docker('image', 'rm', `${cache}:${to}`, `${server.registry}/${owner}/shop:${from}`);
    }
    const dry = server.cli(['gc', '--dry-run', '--repo', `${owner}/shop`]);
    expect(dry.status, dry.stderr).toBe(0);
    // Only the cache of a branch the image has no tag for goes while both branches live.
    expect(removedIn(dry.stdout, 'would remove')).toEqual([`${owner}/shop/buildcache:gone-branch`]);
    const usage = (await server.api<{ images: { image: string; tags: number }[] }>('/api/usage', token)).body;
    expect(usage.images).toContainEqual(expect.objectContaining({ image: 'shop/buildcache', tags: 3 }));

    const del = await repo.push(url, [':refs/heads/feat']);
    expect(del.exitCode, del.output).toBe(0);
    const run = server.cli(['gc', '--repo', `${owner}/shop`]);
    expect(run.status, run.stderr).toBe(0);
    expect(removedIn(run.stdout, 'removed')).toEqual(
      expect.arrayContaining([`${owner}/shop:feat`, `${owner}/shop/buildcache:feat`, `${owner}/shop/buildcache:gone-branch`]),
    );
    expect(await tagsOf(server.registryAccess, `${owner}/shop/buildcache`)).toEqual(['main']);
  });
});

describe.concurrent('log retention', () => {
  it("removes logs older than CODEHUB_LOG_RETENTION_DAYS (410 saying when), keeping each branch's newest build's log", async () => {
    const owner = uniqueName('logs');
    const token = server.addUser(owner);
    const repo = await WorkRepo.create({ Dockerfile: `${FROM}\nRUN echo logs\n` });
    const url = server.gitUrl(owner, token, owner, 'app');
    const first = await pushBuild(repo, url, token, 'main', { commit: false });
    const second = await pushBuild(repo, url, token, 'main');
    const [b1] = await server.waitForBuilds(first, token);
    const [b2] = await server.waitForBuilds(second, token);
    // Both builds finished three days ago, as far as the database knows.
    const db = new Database(join(server.dataDir, 'codehub.db'));
    db.prepare('UPDATE builds SET finished_at = ? WHERE id IN (?, ?)').run(new Date(Date.now() - 3 * 86_400_000).toISOString(), b1.id, b2.id);
    db.close();
    const logFile = join(server.dataDir, 'logs', String(b1.id % 1000), `${b1.id}.log`);
    expect(existsSync(logFile)).toBe(true);

    const dry = server.cli(['gc', '--dry-run', '--repo', `${owner}/app`]);
    expect(dry.stdout).toContain('logs: 1 would expire');
    expect(existsSync(logFile)).toBe(true);
    const run = server.cli(['gc', '--repo', `${owner}/app`]);
    expect(run.stdout).toContain('logs: 1 expired');
    expect(existsSync(logFile)).toBe(false);

    const gone = await server.api(`/api/builds/${b1.id}/log`, token);
    expect(gone.status).toBe(410);
    expect(gone.body.error.message).toContain(`the log of build #${b1.id} expired on ${new Date().toISOString().slice(0, 10)}`);
    expect((await server.api(`/api/builds/${b1.id}`, token)).body).toMatchObject({ status: 'succeeded', log_expired_at: expect.any(String) });
    const kept = await server.api(`/api/builds/${b2.id}/log`, token);
    expect(kept.status).toBe(200);
    expect(kept.body).toContain('--- succeeded in');
    const page = await fetch(`${server.url}/builds/${b1.id}`, { headers: { cookie: `codehub_token=${token}` } });
    expect(await page.text()).toContain(`the log of build #${b1.id} expired on`);
  });
});

describe.concurrent('bad input', () => {
  it("refuses malformed sizes, absurd retention, retention of another owner's repo and gc flags that make no sense, changing nothing", async () => {
    const owner = uniqueName('bad');
    const token = server.addUser(owner);
    const other = uniqueName('other');
    const otherToken = server.addUser(other);
    const repo = await WorkRepo.create({ Dockerfile: `${FROM}\nRUN echo bad\n` });
    await pushBuild(repo, server.gitUrl(owner, token, owner, 'app'), token, 'main', { commit: false });
    const tagsBefore = await tagsOf(server.registryAccess, `${owner}/app`);
    const quota = () => {
      const db = new Database(join(server.dataDir, 'codehub.db'), { readonly: true });
      const row = db.prepare('SELECT quota_bytes AS q FROM users WHERE name = ?').get(owner) as { q: number | null };
      db.close();
      return row.q;
    };

    const size = server.cli(['user', 'quota', owner, '10XB']);
    expect(size.status).toBe(1);
    expect(size.stderr).toContain('"10XB" is not a size: write a number with a unit, e.g. 10GiB');
    expect(server.cli(['user', 'quota', 'nobody-here', '1GiB']).stderr).toContain('no user nobody-here');
    expect(quota()).toBeNull();

    const neg = server.cli(['repo', 'retention', `${owner}/app`, '--keep=-1'], { CODEHUB_TOKEN: token });
    expect(neg.status).toBe(1);
    expect(neg.stderr).toContain('--keep must be a whole number from 0 to 10000; got "-1"');
    const put = (body: unknown, t = token, path = `${owner}/app`) =>
      fetch(`${server.url}/api/repos/${path}/retention`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${t}`, 'content-type': 'application/json' },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
    const absurd = await put({ keep: -1, days: 100000 });
    expect(absurd.status).toBe(400);
    const msg = ((await absurd.json()) as any).error.message;
    expect(msg).toContain('keep must be a whole number from 0 to 10000');
    expect(msg).toContain('days must be a whole number from 0 to 3650');
    expect((await put('{"keep": 3,')).status).toBe(400);
    expect((await put({ keep: 3 }, otherToken)).status).toBe(404); // another owner's repo does not exist to them
    const view = (await server.api(`/api/repos/${owner}/app/retention`, token)).body;
    expect(view).toMatchObject({ keep: 10, days: 30, override: { keep: null, days: null } });

    for (const [args, says] of [
      [['gc', '--keep', '3'], "Unknown option '--keep'"],
      [['gc', 'now'], 'gc takes no arguments'],
      [['gc', '--repo', 'Bad/Name'], 'owner name "Bad" is invalid'],
      [['gc', '--repo', `${owner}/nothing`], `no repository ${owner}/nothing`],
      [['gc', '--repo'], "Option '--repo <value>' argument missing"],
    ] as const) {
      const r = server.cli([...args]);
      expect(r.status, args.join(' ')).toBe(1);
      expect(r.stderr).toContain(says);
    }
    expect(await tagsOf(server.registryAccess, `${owner}/app`)).toEqual(tagsBefore);

    const start = await execa(process.execPath, [join(PACKAGE_ROOT, 'dist', 'src', 'cli.js'), 'serve'], {
      env: { ...server.env, CODEHUB_PORT: '0', CODEHUB_QUOTA: '10XB' },
      extendEnv: false,
      reject: false,
      timeout: 20_000,
    });
    expect(start.exitCode).toBe(1);
    expect(start.stderr).toContain('CODEHUB_QUOTA: "10XB" is not a size');
  });
});
