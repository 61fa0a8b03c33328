/**
 * Build insight (issue 28) through the real server, git, dockerd's BuildKit and the token registry: a repo with
 * `COPY conf/`, a RUN on it, `COPY src/` and a RUN on that, built once per change. Each build's `insight` says
 * which step first missed the cache and why (the changed file, a build arg, a base image re-pushed under its
 * tag), its layers and sizes against the previous build of the branch. The server resolves bases at every build
 * (CODEHUB_BASE_PULL=always), the base living in its own registry's public `cache/` namespace.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BuildAnswer } from '../../src/api/answers.js';
import { WorkRepo } from '../helpers/git.js';
import { TestServer, uniqueName } from '../helpers/server.js';

let server: TestServer;
let owner: string;
let token: string;
let repo: WorkRepo;
let base: string;
let asAdmin: Awaited<ReturnType<TestServer['docker']>>;

const yaml = (flavour: string) => `version: 1\nimages:\n  - name: app\n    args:\n      FLAVOUR: ${flavour}\n`;
const dockerfile = () =>
  `FROM ${base}\nCOPY conf/ /conf/\nRUN cat /conf/* > /conf.out\nCOPY src/ /src/\nARG FLAVOUR\nRUN echo "$FLAVOUR" && ls -l /src > /src.out\n`;

/** Pushes HEAD to main with `-o wait`, and returns the build of that commit once it ended, and what the push printed. */
async function pushed(): Promise<{ b: BuildAnswer; output: string }> {
  const sha = (await repo.git.revparse(['HEAD'])).trim();
  const push = await repo.push(server.gitUrl(owner, token, owner, 'app'), ['HEAD:main'], ['wait']);
  expect(push.exitCode, push.output).toBe(0);
  const [b] = (await server.waitForBuilds(sha, token)) as BuildAnswer[];
  expect(b!.status, b!.reason ?? '').toBe('succeeded');
  return { b: b!, output: push.output };
}

/** The base image, made new: busybox with a marker file, pushed under the same tag as the admin. */
async function pushBase(marker: string): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'chb-insight-base-'));
  writeFileSync(join(dir, 'Dockerfile'), `FROM localhost:5000/cache/busybox:latest\nRUN echo ${marker} ${owner} > /base-marker\n`);
  const built = await asAdmin('build', '-q', '-t', base, dir);
  expect(built.exitCode, built.all).toBe(0);
  const push = await asAdmin('push', '-q', base);
  expect(push.exitCode, push.all).toBe(0);
}

beforeAll(async () => {
  server = await TestServer.start({ env: { CODEHUB_BASE_PULL: 'always' } });
  owner = uniqueName('insight');
  token = server.addUser(owner);
  base = `${server.registry}/cache/${owner}-base:1`;
  asAdmin = await server.docker('admin', server.firstAdminToken);
  await pushBase('one');
  repo = await WorkRepo.create({
    'codehub-build.yaml': yaml('plain'),
    Dockerfile: dockerfile(),
    // The owner in every file: BuildKit's cache is the daemon's, and earlier runs of this test built the same steps.
    'conf/app.conf': `port=80 ${owner}\n`,
    'src/a.txt': `a ${owner}\n`,
    'src/b.txt': `b ${owner}\n`,
  });
}, 120_000);

afterAll(async () => {
  await server?.stop();
  await asAdmin?.('image', 'rm', base);
});

const stepNamed = (b: BuildAnswer, text: string) => b.insight!.steps.find((s) => s.name.includes(text));

describe('build insight', () => {
  let first: BuildAnswer;

  it('records the steps, layers and size of a first build, with nothing to compare with', async () => {
    ({ b: first } = await pushed());
    const i = first.insight!;
    expect(i.steps.map((s) => s.name.replace(/^\[\d+\/\d+\] /, '').split(' ')[0])).toEqual(['FROM', 'COPY', 'RUN', 'COPY', 'RUN']);
    expect(i.steps.every((s) => s.started_at !== null && s.finished_at !== null)).toBe(true);
    expect(i.previous_build).toBeNull();
    expect(i.image_bytes_delta).toBeNull();
    expect(i.cache_miss?.because.unknown).toMatch(/no earlier build/);
    // The layers: the base's, then one per COPY and RUN, named by their instruction; the total is what the registry holds.
    expect(i.layers.slice(-4).map((l) => l.instruction)).toEqual([
      'COPY conf/ /conf/',
      expect.stringMatching(/^RUN .*cat \/conf\/\* > \/conf\.out$/),
      'COPY src/ /src/',
      expect.stringMatching(/^RUN .*ls -l \/src > \/src\.out$/),
    ]);
    const manifest = await server.registryClient().manifest(`${owner}/app`, first.digest!);
    const m = JSON.parse(manifest!.body.toString()) as { config: { size: number }; layers: { size: number }[] };
    expect(i.image_bytes).toBe(m.config.size + m.layers.reduce((n, l) => n + l.size, 0));
    expect(i.layers.map((l) => l.bytes)).toEqual(m.layers.map((l) => l.size));
  });

  it('names the COPY step and exactly the file that changed, the conf steps cached', async () => {
    await repo.commit({ 'src/a.txt': `a, changed ${owner}\n` });
    const { b, output } = await pushed();
    const miss = b.insight!.cache_miss!;
    expect(miss.step).toMatch(/COPY src\/ \/src\/$/);
    expect(miss.number).toBe(4);
    expect(miss.because).toEqual({ files: ['src/a.txt'], files_total: 1, build_args: [], base: null, unknown: null });
    expect(miss.after).toBe(1);
    expect(miss.sentence).toBe('step 4 `COPY src/ /src/` ran because 1 file changed: src/a.txt; the step after it ran because it did');
    expect(stepNamed(b, 'COPY conf/')!.cached).toBe(true);
    expect(stepNamed(b, 'RUN cat /conf')!.cached).toBe(true);
    expect(stepNamed(b, 'COPY src/')!.cached).toBe(false);
    expect(b.insight!.previous_build).toBe(first.id);
    // The push's own last lines say it too, and `codehub-build explain` in the terminal.
    expect(output).toContain(`remote:   cache: ${miss.sentence}`);
    const explained = await server.cliAsync(['explain', String(b.id)], { CODEHUB_TOKEN: token });
    expect(explained.status, explained.stderr).toBe(0);
    expect(explained.stdout).toMatch(new RegExp(`^build #${b.id} app @ main: succeeded in \\d+\\.\\ds$`, 'm'));
    expect(explained.stdout.split('\n')).toContain(`  cache: ${miss.sentence}`);
    expect(explained.stdout).toMatch(/^ {2}\[2\/5\] .* {2}cached {2}COPY conf\/ \/conf\/$/m);
    expect(explained.stdout).toMatch(/^ {2}\[4\/5\] {2}█+ +\d+\.\ds {2}ran {5}COPY src\/ \/src\/$/m);
    expect(explained.stdout).toMatch(new RegExp(`^  image: [\\d.]+ (B|KiB|MiB), [+-]?[\\d.]+ (B|KiB|MiB) against build #${first.id}$`, 'm'));
    const json = await server.cliAsync(['explain', String(b.id), '--json'], { CODEHUB_TOKEN: token });
    expect(JSON.parse(json.stdout)).toEqual(b.insight);
    const unknown = await server.cliAsync(['explain', '999999'], { CODEHUB_TOKEN: token });
    expect(unknown).toMatchObject({ status: 4, stdout: '' });
    expect(unknown.stderr).toContain('no build #999999');
  });

  it('says nothing missed for an empty commit, and the image changed by its labels alone', async () => {
    await repo.commit({}, 'empty');
    const { b, output } = await pushed();
    expect(b.insight!.cache_miss).toBeNull();
    expect(output).not.toContain('remote:   cache:');
    expect(Math.abs(b.insight!.image_bytes_delta!)).toBeLessThan(1024);
    expect(b.insight!.layers.every((l) => l.bytes_delta === 0)).toBe(true);
  });

  it('shows a 3 MB file on its layer and on the image', async () => {
    mkdirSync(join(repo.dir, 'src'), { recursive: true });
    writeFileSync(join(repo.dir, 'src', 'big.bin'), randomBytes(3 * 1024 * 1024));
    await repo.git.add('src/big.bin');
    await repo.commit({}, 'a 3 MB file');
    const { b } = await pushed();
    const i = b.insight!;
    expect(i.cache_miss!.because.files).toEqual(['src/big.bin']);
    const copy = i.layers.find((l) => l.instruction === 'COPY src/ /src/')!;
    // Random bytes do not compress: the layer and the image grow by the file, give or take gzip's framing.
    expect(copy.bytes_delta).toBeGreaterThan(3 * 1024 * 1024 - 1024);
    expect(copy.bytes_delta).toBeLessThan(3 * 1024 * 1024 + 64 * 1024);
    expect(i.image_bytes_delta).toBeGreaterThan(3 * 1024 * 1024 - 1024);
    expect(i.image_bytes_delta).toBeLessThan(3 * 1024 * 1024 + 64 * 1024);
    const conf = i.layers.find((l) => l.instruction === 'COPY conf/ /conf/')!;
    expect(conf.bytes_delta).toBe(0);
  });

  it('names a changed build arg', async () => {
    await repo.commit({ 'codehub-build.yaml': yaml(`spicy-${owner}`) });
    const { b } = await pushed();
    const miss = b.insight!.cache_miss!;
    // BuildKit names the RUN with the arg's value in it; every RUN after the ARG reads it, so that is the first to run.
    expect(miss.step).toMatch(new RegExp(`^\\[5/5\\] RUN echo "spicy-${owner}"`));
    expect(stepNamed(b, 'COPY src/')!.cached).toBe(true);
    expect(miss.because).toMatchObject({ files: [], build_args: ['FLAVOUR'], base: null, unknown: null });
    expect(miss.sentence).toMatch(/ran because build arg FLAVOUR changed$/);
  });

  it('names a base image re-pushed under the same tag', async () => {
    await pushBase('two');
    await repo.commit({}, 'after the base moved');
    const { b } = await pushed();
    const miss = b.insight!.cache_miss!;
    // The first step after FROM that BuildKit ran (it takes a COPY onto the new base from the cache, by content).
    const ran = b.insight!.steps.filter((s) => !s.cached && !/\] FROM /.test(s.name));
    expect(ran.length).toBeGreaterThan(0);
    expect(miss.step).toBe(ran[0]!.name);
    expect(miss.after).toBe(ran.length - 1);
    const digest = (await server.registryClient().manifest(base.slice(base.indexOf('/') + 1).replace(/:1$/, ''), '1'))!.digest;
    expect(miss.because).toEqual({ files: [], files_total: 0, build_args: [], base: `${base}@${digest}`, unknown: null });
    expect(miss.sentence).toContain(`ran because its base image moved: ${base}@${digest}`);
  });
});
