/**
 * The workspace side through the real parts: the README's workspace walk-through run as written (the CLI
 * downloaded from the server, `remote add`, a real `git push` with the token only in CODEHUB_TOKEN, `logs`),
 * from a folder outside this checkout with a HOME of its own; then what must not happen (the token on disk,
 * a push without the variable, a token for the wrong host).
 */
import { execa } from 'execa';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tagDigest } from '../helpers/registry.js';
import { filesContaining } from '../helpers/files.js';
import { TestServer, uniqueName } from '../helpers/server.js';

const FROM = 'FROM localhost:5000/cache/busybox:latest';
let server: TestServer;
let owner: string;
let token: string;
let work: string;
let home: string;

/** The shell block the README marks as the workspace walk-through, exactly as written there. */
function walkthrough(): string {
  const readme = readFileSync(join(process.cwd(), 'README.md'), 'utf8');
  const m = /<!-- workspace-walkthrough[^>]*-->\n```sh\n([\s\S]*?)\n```/.exec(readme);
  if (!m) throw new Error('README.md has no workspace-walkthrough block');
  return m[1]!;
}

/** What a workspace has: node and git on the system PATH, its HOME, CODEHUB_URL and CODEHUB_TOKEN. */
function workspaceEnv(extra: Record<string, string | undefined> = {}): Record<string, string> {
  const env: Record<string, string | undefined> = {
    HOME: home,
    PATH: `${home}/.local/bin:/usr/local/bin:/usr/bin:/bin`,
    CODEHUB_URL: server.url,
    CODEHUB_TOKEN: token,
    REGISTRY_URL: server.registry,
    GIT_TERMINAL_PROMPT: '0',
    ...extra,
  };
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
}

function sh(script: string, cwd: string, extra: Record<string, string | undefined> = {}) {
  return execa('bash', ['--norc', '-euo', 'pipefail', '-c', script], { cwd, env: workspaceEnv(extra), extendEnv: false, reject: false, all: true });
}

beforeAll(async () => {
  server = await TestServer.start();
  owner = uniqueName('wanda');
  token = server.addUser(owner);
  work = mkdtempSync(join(tmpdir(), 'chb-workspace-'));
  home = join(work, 'home');
  mkdirSync(home);
  // A global store helper, as many people have: it must never receive the token.
  writeFileSync(join(home, '.gitconfig'), '[credential]\n\thelper = store\n[user]\n\tname = Wanda\n\temail = wanda@example.test\n');
  const shop = join(work, 'shop');
  mkdirSync(shop);
  writeFileSync(join(shop, 'Dockerfile'), `${FROM}\nCOPY hello.txt /hello.txt\nRUN cat /hello.txt && echo walkthrough-ran\n`);
  // The owner's name makes the RUN step new to BuildKit's cache, so its output is in this build's log.
  writeFileSync(join(shop, 'hello.txt'), `hello from ${owner}'s workspace\n`);
  const r = await sh('git init -q -b main && git add -A && git commit -qm first', shop);
  expect(r.exitCode, r.all).toBe(0);
}, 120_000);
afterAll(async () => {
  await server?.stop();
});

describe('the README workspace walk-through', () => {
  let out = '';
  let sha = '';

  it('runs as written: downloads the CLI, adds the remote, pushes with the token only in CODEHUB_TOKEN, follows the log', async () => {
    const r = await sh(walkthrough(), work);
    out = r.all ?? '';
    expect(r.exitCode, out).toBe(0);
    expect(out).toContain(`added remote build -> ${server.url}/git/${owner}/shop.git`);
    expect(out).toMatch(/remote: build #\d+ shop \(main @ [0-9a-f]{7}\): queued/);
    expect(out).toContain(`hello from ${owner}'s workspace`);
    expect(out).toMatch(/--- succeeded in/);
    sha = (await sh('git rev-parse HEAD', join(work, 'shop'))).stdout.trim();
    const [build] = await server.waitForBuilds(sha, token);
    expect(build.status).toBe('succeeded');
    expect(build.repo).toBe(`${owner}/shop`);
    expect(await tagDigest(server.registryAccess, `${owner}/shop`, 'main')).toBe(build.digest);
  }, 180_000);

  it('writes no token anywhere: not in .git, not in HOME (the global store helper got nothing)', () => {
    expect(out).not.toContain(token);
    expect(filesContaining(join(work, 'shop', '.git'), token)).toEqual([]);
    expect(filesContaining(home, token)).toEqual([]);
    const config = readFileSync(join(work, 'shop', '.git', 'config'), 'utf8');
    expect(config).toContain(`[credential "${server.url}/git/"]`);
    expect(config).toMatch(/helper = \n\thelper = "!f\(\) \{ test \\"\$1\\" = store \|\| exec '[^']*codehub-build' credential \\"\$1\\"; \}; f"\n/);
    expect(config).toContain(`url = ${server.url}/git/${owner}/shop.git`);
  });

  it('fails a push without CODEHUB_TOKEN with a message that names the variable, and moves nothing', async () => {
    const shop = join(work, 'shop');
    await sh('echo two >> hello.txt && git commit -qam second', shop);
    const r = await sh('git push build main', shop, { CODEHUB_TOKEN: undefined });
    expect(r.exitCode).not.toBe(0);
    expect(r.all).toContain('codehub-build: CODEHUB_TOKEN is not set');
    expect(r.all).not.toMatch(/Username for/);
    const refused = await sh('git push build main', shop, { CODEHUB_TOKEN: 'chb_not-a-real-token' });
    expect(refused.exitCode).not.toBe(0);
    expect(refused.all).toMatch(/refused the token in CODEHUB_TOKEN/);
    const { body } = await server.api<{ builds: unknown[] }>(`/api/builds?repo=${owner}/shop`, token);
    expect(body.builds).toHaveLength(1);
  }, 60_000);

  it('runs `status`, `logs HEAD`, `vulns HEAD` and `sbom HEAD` from the checkout, and `--help` with nothing set and no server', async () => {
    const shop = join(work, 'shop');
    await sh('git reset -q --hard HEAD~1', shop);
    const status = await sh('codehub-build status', shop);
    expect(status.exitCode, status.all).toBe(0);
    expect(status.stdout).toMatch(new RegExp(`#\\d+\\s+succeeded\\s+${owner}/shop\\s+main`));
    const logs = await sh('codehub-build logs HEAD', shop);
    expect(logs.stdout).toContain('walkthrough-ran');
    // The README's scanning commands in a workspace: no vulnerability data on this server, so a clean verdict.
    const vulns = await sh('codehub-build vulns HEAD', shop);
    expect(vulns.exitCode, vulns.all).toBe(0);
    expect(vulns.stdout).toMatch(new RegExp(`build #\\d+ [^ ]+/${owner}/shop@sha256:[0-9a-f]{12}: scan passed`));
    expect(vulns.stdout).toContain('the vulnerability database is empty');
    const sbom = await sh('codehub-build sbom HEAD --format spdx', shop);
    expect(sbom.exitCode, sbom.all).toBe(0);
    expect(JSON.parse(sbom.stdout).spdxVersion).toBe('SPDX-2.3');
    const help = await sh('codehub-build --help', shop, { CODEHUB_URL: undefined, CODEHUB_TOKEN: undefined });
    expect(help.exitCode).toBe(0);
    expect(help.stdout).toContain('remote add [NAME] [owner/repo]');
    // The server's own commands (serve, user, token, gc) are not offered in a workspace.
    expect(help.stdout).not.toMatch(/^ {2}(serve|user|token|gc|migrate|backup)\b/m);
    expect(help.stdout).toMatch(/^ {2}build \[PATH\]/m);
  }, 60_000);
});

describe('the downloaded CLI', () => {
  const cli = () => join(home, '.local', 'bin', 'codehub-build');

  it('is one file that imports only node built-ins (no server code, no native module, no package)', () => {
    const text = readFileSync(cli(), 'utf8');
    expect(text.startsWith('#!/usr/bin/env node\n')).toBe(true);
    const specifiers = [...text.matchAll(/\bfrom\s*["']([^"']+)["']|\bimport\s*\(\s*["']([^"']+)["']|\brequire\s*\(\s*["']([^"']+)["']/g)].map(
      (m) => m[1] ?? m[2] ?? m[3],
    );
    expect(specifiers.length).toBeGreaterThan(0);
    expect(specifiers.filter((s) => !s!.startsWith('node:'))).toEqual([]);
    for (const server of ['better-sqlite3', 'drizzle', 'hono', 'src/store/', 'src/http/', 'src/builder/']) expect(text).not.toContain(server);
  });

  it("answers git only for CODEHUB_URL's host", async () => {
    const other = await sh(`printf 'protocol=http\\nhost=elsewhere.example:80\\n\\n' | codehub-build credential get`, work);
    expect(other.exitCode).toBe(0);
    expect(other.stdout).toBe('');
    const host = new URL(server.url).host;
    const ours = await sh(`printf 'protocol=http\\nhost=${host}\\n\\n' | codehub-build credential get`, work);
    expect(ours.stdout).toBe(`username=${owner}\npassword=${token}`); // execa drops the last newline
  });

  it('refuses remote add outside a checkout, and over a remote that points elsewhere; is idempotent otherwise', async () => {
    const plain = mkdtempSync(join(tmpdir(), 'chb-plain-'));
    const outside = await sh('codehub-build remote add', plain);
    expect(outside.exitCode).toBe(1);
    expect(outside.stderr).toContain('is not in a git checkout: run `git init`');
    const shop = join(work, 'shop');
    const again = await sh('codehub-build remote add', shop);
    expect(again.exitCode, again.all).toBe(0);
    expect(again.stdout).toContain('kept remote build');
    expect(readFileSync(join(shop, '.git', 'config'), 'utf8').match(/codehub-build' credential/g)).toHaveLength(1);
    await sh('git remote add other http://example.test/x.git', shop);
    const clash = await sh('codehub-build remote add other', shop);
    expect(clash.exitCode).toBe(1);
    expect(clash.stderr).toContain('the remote other already exists with URL http://example.test/x.git');
    const bad = await sh('codehub-build remote add build "al ice/shop"', shop);
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toMatch(/owner name "al ice" is invalid/);
  });

  it('works from a folder whose path is full of shell characters, and names a repo after an odd folder', async () => {
    const odd = join(work, `it's "odd" $(touch pwned) ; \`x\``);
    mkdirSync(odd);
    copyFileSync(cli(), join(odd, 'codehub-build'));
    const checkout = join(work, 'My App!');
    mkdirSync(checkout);
    writeFileSync(join(checkout, 'Dockerfile'), `${FROM}\nRUN echo odd-${owner}\n`);
    const run = (script: string, extra: Record<string, string> = {}) =>
      execa('bash', ['--norc', '-euo', 'pipefail', '-c', script], {
        cwd: checkout,
        env: { ...workspaceEnv(), ODD: join(odd, 'codehub-build'), ...extra },
        extendEnv: false,
        reject: false,
        all: true,
      });
    expect((await run('git init -q -b main && git add -A && git commit -qm odd')).exitCode).toBe(0);
    const added = await run('"$ODD" remote add');
    expect(added.exitCode, added.all).toBe(0);
    expect(added.stdout).toContain(`-> ${server.url}/git/${owner}/my-app.git`);
    const pushed = await run('git push -o wait build main');
    expect(pushed.exitCode, pushed.all).toBe(0);
    expect(pushed.all).toContain(`odd-${owner}`);
    expect(existsSync(join(checkout, 'pwned'))).toBe(false);
    expect(existsSync(join(work, 'pwned'))).toBe(false);
  }, 120_000);
});
