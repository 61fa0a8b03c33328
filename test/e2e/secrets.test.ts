/** Repo secrets through the real parts: CLI, API, SQLite file, BuildKit (served by the server's own BuildKit session) and the log. */
import { createHash, randomBytes } from 'node:crypto';
import { type Dirent, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkRepo } from '../helpers/git.js';
import { TestServer, uniqueName } from '../helpers/server.js';

let server: TestServer;
let owner: string;
let token: string;

beforeAll(async () => {
  server = await TestServer.start();
  owner = uniqueName('sofia');
  token = server.addUser(owner);
});
afterAll(async () => {
  await server?.stop();
});

describe('repo secrets', () => {
  it('reach a RUN --mount=type=secret, and no log, API answer, database byte or server log line', async () => {
    const value = `tok-${randomBytes(12).toString('hex')}`;
    const asToken = { CODEHUB_TOKEN: token };
    const set = server.cli(['secret', 'set', `${owner}/app`, 'NPM_TOKEN'], asToken, `${value}\n`);
    expect(set, set.stderr).toMatchObject({ status: 0, stdout: expect.stringContaining(`set secret NPM_TOKEN of ${owner}/app (${value.length} bytes)`) });
    expect(server.cli(['secret', 'list', `${owner}/app`], asToken).stdout).toMatch(/^NPM_TOKEN\s+updated /);

    const repo = await WorkRepo.create({
      'codehub-build.yaml': 'version: 1\nimages:\n  - name: app\n    secrets: [NPM_TOKEN]\n',
      // The build proves it read the value (its hash) and tries to print it (which the log must mask). The
      // owner makes the step new to BuildKit: a secret is not part of a step's cache key.
      Dockerfile: `FROM localhost:5000/cache/busybox:latest\nRUN --mount=type=secret,id=NPM_TOKEN echo ${owner} && sha256sum /run/secrets/NPM_TOKEN && echo "leak:$(cat /run/secrets/NPM_TOKEN):end"\n`,
    });
    const sha = (await repo.git.revparse(['HEAD'])).trim();
    const push = await repo.push(server.gitUrl(owner, token, owner, 'app'), ['main']);
    expect(push.exitCode, push.output).toBe(0);
    const [b] = await server.waitForBuilds(sha, token);
    expect(b.status, b.reason).toBe('succeeded');

    const log = (await server.api<string>(`/api/builds/${b.id}/log`, token)).body;
    expect(log).toContain(createHash('sha256').update(value).digest('hex')); // readable inside the build
    expect(log).toContain('leak:***:end'); // and masked where printed
    const answers = [
      log,
      JSON.stringify((await server.api(`/api/builds/${b.id}`, token)).body),
      JSON.stringify((await server.api(`/api/builds?commit=${sha}`, token)).body),
      JSON.stringify((await server.api(`/api/repos/${owner}/app/secrets`, token)).body),
      push.output,
      server.logs.join('\n'),
    ];
    const forms = [value, Buffer.from(value).toString('base64'), Buffer.from(value).toString('hex')];
    for (const a of answers) for (const f of forms) expect(a).not.toContain(f);
    // Every file of the data dir, whatever its name: the database and its journal among them.
    const files = (readdirSync(server.dataDir, { recursive: true, withFileTypes: true }) as Dirent[])
      .filter((e) => e.isFile())
      .map((e) => relative(server.dataDir, join(e.parentPath, e.name)));
    expect(files).toContain('codehub.db');
    for (const file of files) {
      const bytes = readFileSync(join(server.dataDir, file));
      for (const f of forms) expect(bytes.includes(Buffer.from(f)), `${file} holds the secret as ${f.slice(0, 6)}…`).toBe(false);
    }

    // Without the secret the next build fails as the user's problem, and says how to fix it.
    expect(server.cli(['secret', 'remove', `${owner}/app`, 'NPM_TOKEN'], asToken).status).toBe(0);
    const again = await repo.commit({ 'README.md': 'again\n' });
    await repo.push(server.gitUrl(owner, token, owner, 'app'), ['main']);
    const [c] = await server.waitForBuilds(again, token);
    expect(c).toMatchObject({
      status: 'failed',
      reason_code: 'user',
      reason: expect.stringContaining(`secret "NPM_TOKEN" is not set for ${owner}/app: codehub-build secret set`),
    });
  });

  it("keeps another user out of a repo's secrets", async () => {
    const mallory = uniqueName('mallory');
    const malloryToken = server.addUser(mallory);
    const r = server.cli(['secret', 'set', `${owner}/app`, 'NPM_TOKEN'], { CODEHUB_TOKEN: malloryToken }, 'stolen');
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(`no repository ${owner}/app`);
    expect(server.cli(['secret', 'list', `${owner}/app`], { CODEHUB_TOKEN: malloryToken }).status).not.toBe(0);
  });
});
