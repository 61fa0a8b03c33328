/**
 * Usage and quotas through the real parts: what the API reports against the registry's own manifests, a
 * warning from 80 %, and an owner over quota whose next build fails before BuildKit does anything, while
 * another owner builds as usual.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkRepo } from '../helpers/git.js';
import { tagDigest, tagStatus, uniqueBytes } from '../helpers/registry.js';
import { TestServer, uniqueName } from '../helpers/server.js';

const FROM = 'FROM localhost:5000/cache/busybox:latest';
/** A layer of 1.5 MB of random bytes (it does not compress), unique to each build. */
const bigDockerfile = (tag: string) => `${FROM}\nRUN echo ${tag} && head -c 1500000 /dev/urandom > /blob\n`;
let server: TestServer;

beforeAll(async () => {
  server = await TestServer.start({ env: { CODEHUB_QUOTA: '0' } });
});
afterAll(async () => {
  await server?.stop();
});

describe('usage and quota', () => {
  it("reports usage equal to the unique blob sizes of the registry's manifests, warns from 80 %, and fails the next build of an owner over quota before BuildKit runs", async () => {
    const alice = uniqueName('quota');
    const token = server.addUser(alice);
    const bob = uniqueName('roomy');
    const bobToken = server.addUser(bob);
    const repo = await WorkRepo.create({ Dockerfile: bigDockerfile('one') });
    const url = server.gitUrl(alice, token, alice, 'app');
    expect((await repo.push(url, ['main'])).exitCode).toBe(0);
    const [first] = await server.waitForBuilds((await repo.git.revparse(['HEAD'])).trim(), token);
    expect(first.status, first.reason).toBe('succeeded');

    const usage = (await server.api('/api/usage', token)).body;
    expect(usage).toMatchObject({ owner: alice, quota: null, images: [{ image: 'app', tags: 3 }] });
    expect(usage.bytes).toBe(await uniqueBytes(server.registryAccess, [`${alice}/app`]));
    expect(usage.bytes).toBeGreaterThan(1_500_000);
    expect(usage.images[0].bytes).toBe(usage.bytes);
    const cli = server.cli(['usage'], { CODEHUB_TOKEN: token });
    expect(cli.stdout).toContain(`${alice}: `);
    expect(cli.stdout).toContain(`(${usage.bytes} bytes) no quota`);

    // 85 % of a quota: the push says so, and builds.
    const quota = Math.ceil(usage.bytes / 0.85);
    expect(server.cli(['user', 'quota', alice, String(quota)]).status).toBe(0);
    await repo.commit({ Dockerfile: bigDockerfile('two') });
    const warned = await repo.push(url, ['main']);
    expect(warned.output).toContain(`remote: warning: ${alice} uses`);
    expect(warned.output).toMatch(/quota \((84|85) %\); at 100 % builds fail until space is freed/);
    const [second] = await server.waitForBuilds((await repo.git.revparse(['HEAD'])).trim(), token);
    expect(second.status, second.reason).toBe('succeeded');
    const now = (await server.api('/api/usage', token)).body;
    expect(now.bytes).toBe(await uniqueBytes(server.registryAccess, [`${alice}/app`]));
    expect(now.bytes).toBeGreaterThan(quota);

    // Over quota: recorded failed at push time, nothing ran; bob, pushing at the same time, builds.
    expect(server.cli(['user', 'quota', alice, '1MiB']).stdout).toContain(`${alice}'s quota: 1 MiB`);
    await repo.commit({ Dockerfile: bigDockerfile('three') });
    const bobRepo = await WorkRepo.create({ Dockerfile: `${FROM}\nRUN echo bob-${bob}\n` });
    const [over, bobPush] = await Promise.all([repo.push(url, ['main']), bobRepo.push(server.gitUrl(bob, bobToken, bob, 'app'), ['main'])]);
    const sha = (await repo.git.revparse(['HEAD'])).trim();
    const [failed] = (await server.api(`/api/builds?commit=${sha}`, token)).body.builds;
    expect(failed).toMatchObject({ status: 'failed', reason_code: 'quota', attempts: 0, started_at: null, builder: null, steps: null });
    expect(failed.reason).toContain(`of a 1 MiB quota`);
    expect(failed.reason).toContain('so the build was not started');
    expect(failed.reason).toMatch(/gc would free [\d.]+ (B|KiB|MiB) now/);
    expect(failed.reason).toMatch(new RegExp(`codehub-build repo retention ${alice}/app --keep 1 --days 0, then gc\\) would free [\\d.]+ MiB`));
    expect(over.output).toMatch(new RegExp(`remote: build #${failed.id} app \\(main @ ${sha.slice(0, 7)}\\): failed: ${alice} uses`));
    const log = (await server.api(`/api/builds/${failed.id}/log`, token)).body as string;
    expect(log).not.toMatch(/^#\d+ /m); // no BuildKit step ever started
    expect(bobPush.exitCode).toBe(0);
    const [bobBuild] = await server.waitForBuilds((await bobRepo.git.revparse(['HEAD'])).trim(), bobToken);
    expect(bobBuild.status, bobBuild.reason).toBe('succeeded');

    // A rebuild is queued like a push: refused as well, and it says why.
    const rebuild = server.cli(['rebuild', String(second.id)], { CODEHUB_TOKEN: token });
    expect(rebuild.status, rebuild.stderr).toBe(0);
    const [rb] = (await server.api(`/api/builds?repo=${alice}/app&limit=1`, token)).body.builds;
    expect(rb).toMatchObject({ status: 'failed', reason_code: 'quota' });

    // Back under (no quota): the same commit builds again.
    expect(server.cli(['user', 'quota', alice, 'none']).stdout).toContain('no quota');
    const again = await fetch(`${server.url}/api/builds/${failed.id}/rebuild`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    expect(again.status).toBe(201);
    const [, rebuilt] = await server.waitForBuilds(sha, token, { count: 2 });
    expect(rebuilt.status, rebuilt.reason).toBe('succeeded');
  });

  it('shows an owner their images with tags, sizes, builds and pull commands, and no one else', async () => {
    const owner = uniqueName('pages');
    const token = server.addUser(owner);
    const other = uniqueName('nosy');
    const otherToken = server.addUser(other);
    const repo = await WorkRepo.create({ Dockerfile: `${FROM}\nRUN echo pages-${owner}\n` });
    expect((await repo.push(server.gitUrl(owner, token, owner, 'web'), ['main'])).exitCode).toBe(0);
    const sha = (await repo.git.revparse(['HEAD'])).trim();
    const [b] = await server.waitForBuilds(sha, token);
    const page = await fetch(`${server.url}/images/${owner}`, { headers: { cookie: `codehub_token=${token}` } });
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain(`${owner}/web`);
    expect(html).toContain(`docker pull ${server.registry}/${owner}/web:main`);
    expect(html).toContain(`href="/builds/${b.id}"`);
    expect(html).toContain(b.digest.slice(0, 19));
    const repoPage = await (await fetch(`${server.url}/repos/${owner}/web`, { headers: { cookie: `codehub_token=${token}` } })).text();
    expect(repoPage).toContain('Images in the registry');
    expect(repoPage).toContain(`href="/images/${owner}#image-web"`);
    expect((await fetch(`${server.url}/images/${owner}`, { headers: { cookie: `codehub_token=${otherToken}` } })).status).toBe(404);
    expect((await server.api(`/api/users/${owner}/usage`, otherToken)).status).toBe(404);
    expect((await server.api(`/api/users/${owner}/usage`, token)).body.owner).toBe(owner);
  });

  it('lets an owner over quota because of docker pushes remove a tag, exactly that tag, and build again', async () => {
    const owner = uniqueName('byhand');
    const token = server.addUser(owner);
    const other = uniqueName('notyours');
    const otherToken = server.addUser(other);
    // Pushed by hand, as the owner signed in with `docker login`.
    const docker = await server.docker(owner, token);
    for (const tag of ['1', '2']) {
      expect((await docker('tag', 'localhost:5000/cache/busybox:latest', `${server.registry}/${owner}/tool:${tag}`)).exitCode).toBe(0);
      const pushed = await docker('push', '-q', `${server.registry}/${owner}/tool:${tag}`);
      expect(pushed.exitCode, pushed.all).toBe(0);
      await docker('image', 'rm', `${server.registry}/${owner}/tool:${tag}`);
    }
    // gc finds what was pushed by hand (it reads the catalog); it keeps it, as nothing built it.
    const gc = server.cli(['gc']);
    expect(gc.status, gc.stderr).toBe(0);
    const digest = await tagDigest(server.registryAccess, `${owner}/tool`, '2');
    expect(digest).toMatch(/^sha256:/);
    expect((await server.api('/api/usage', token)).body.images).toEqual([{ image: 'tool', bytes: expect.any(Number), tags: 2 }]);
    expect(server.cli(['user', 'quota', owner, '1KiB']).status).toBe(0);
    const repo = await WorkRepo.create({ Dockerfile: `${FROM}\nRUN echo again-${owner}\n` });
    await repo.push(server.gitUrl(owner, token, owner, 'app'), ['main']);
    const sha = (await repo.git.revparse(['HEAD'])).trim();
    expect((await server.waitForBuilds(sha, token))[0]).toMatchObject({ status: 'failed', reason_code: 'quota' });

    expect(server.cli(['image', 'rm', `${owner}/tool:1`], { CODEHUB_TOKEN: otherToken }).stderr).toContain(`no user ${owner}`);
    expect(server.cli(['image', 'rm', `${owner}/tool:nope`], { CODEHUB_TOKEN: token }).stderr).toContain(`${owner}/tool has no tag nope`);
    expect(server.cli(['image', 'rm', `${owner}/tool`], { CODEHUB_TOKEN: token }).stderr).toContain('is not owner/image:tag');
    const one = server.cli(['image', 'rm', `${owner}/tool:1`], { CODEHUB_TOKEN: token });
    expect(one.stdout, one.stderr).toContain(`removed ${owner}/tool:1 (its manifest stays for its other tags)`);
    expect(await tagStatus(server.registryAccess, `${owner}/tool`, '1')).toBe(404);
    expect(await tagDigest(server.registryAccess, `${owner}/tool`, '2')).toBe(digest);
    const two = server.cli(['image', 'rm', `${owner}/tool:2`], { CODEHUB_TOKEN: token });
    expect(two.stdout, two.stderr).toMatch(new RegExp(`removed ${owner}/tool:2\n${owner}'s usage falls by [\\d.]+ (KiB|MiB)`));
    expect(await tagStatus(server.registryAccess, `${owner}/tool`, '2')).toBe(404);
    expect((await server.api('/api/usage', token)).body).toMatchObject({ bytes: 0, images: [] });

    const rebuild = await fetch(`${server.url}/api/builds/${(await server.waitForBuilds(sha, token))[0].id}/rebuild`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(rebuild.status).toBe(201);
    const [, again] = await server.waitForBuilds(sha, token, { count: 2 });
    expect(again.status, again.reason).toBe('succeeded');
  });
});
