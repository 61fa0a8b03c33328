/**
 * Security review (issue 24, finding 8b), through the real server on its default builder (`local`: dockerd's
 * BuildKit over the Engine API) and the real dockerd: a build that moves a tag off an older image the server
 * made leaves that image untagged (`<none>`) in dockerd's store, where removing tags never reaches it; the
 * server removes it by ID once the builder is idle, and never an image a container uses or one it did not make.
 */
import { execa } from 'execa';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestServer, uniqueName, waitFor } from '../helpers/server.js';

const FROM = 'FROM localhost:5000/cache/busybox:latest';
/** A prune (src/builder/idle-prune.ts; 4 s idle here, CODEHUB_PRUNE_IDLE_MS) is waited for, up to this. */
const PRUNED_WITHIN = 30_000;

let server: TestServer;
let owner: string;
let token: string;
const work = mkdtempSync(join(tmpdir(), 'chb-sec-images-'));
const cleanup: string[][] = [];

beforeAll(async () => {
  // The builder prunes after 4 s idle (30 s by default), so the test need not wait the default out. Not less: the
  // next `codehub-build build` starts its build 1-2 s after the last ended, and a prune between the two (of the
  // tag the first pushed, racing the second's start) made what the tag named, and so what was left untagged,
  // differ from run to run (2 runs in 8 saw an extra untagged image at 1 s).
  server = await TestServer.start({ env: { CODEHUB_PRUNE_IDLE_MS: '4000' } });
  owner = uniqueName('secimg');
  token = server.addUser(owner);
  // The default builder is dockerd over the Engine API (its health check says so once it has run).
  await waitFor(
    'the local builder over the Engine API',
    () => fetch(`${server.url}/healthz`).then((r) => r.text()),
    (t) => /"name":"local".*Engine API/.test(t),
  );
});
afterAll(async () => {
  await server?.stop();
  for (const args of cleanup) await execa('docker', args, { reject: false });
});

const docker = async (...args: string[]) => (await execa('docker', args)).stdout.trim();

/** Whether dockerd's store holds an image of this ID. */
const exists = async (id: string) => (await execa('docker', ['image', 'inspect', id], { reject: false })).exitCode === 0;

/** A folder of a Dockerfile and one file whose content makes the image differ from the last. */
function folder(name: string, content: string): string {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'Dockerfile'), `${FROM}\nCOPY a.txt /a.txt\n`);
  writeFileSync(join(dir, 'a.txt'), content);
  return dir;
}

/** `codehub-build build -t <tag> <dir>` as the owner; returns the ID of the image the tag names in dockerd's store. */
async function build(dir: string, tag: string): Promise<string> {
  const r = await server.cliAsync(['build', '-t', tag, dir], { CODEHUB_TOKEN: token });
  expect(r.status, r.stderr + r.stdout).toBe(0);
  return docker('image', 'inspect', '--format', '{{.Id}}', `${server.registry}/${owner}/${tag}`);
}

/** IDs of the untagged images this folder's builds made (their label names the uploaded folder). */
const untaggedOf = async (name: string) =>
  (await docker('images', '--no-trunc', '-q', '--filter', 'dangling=true', '--filter', `label=dev.codehub.build.upload=${name}`)).split('\n').filter(Boolean);

/** The untagged images of this folder are exactly `expected` (the server's last lines in the message, should they not be). */
async function expectUntagged(name: string, expected: string[]): Promise<void> {
  expect((await untaggedOf(name)).sort(), server.logs.slice(-20).join('\n')).toEqual([...expected].sort());
}

describe('images left untagged by a rebuilt tag, on the local driver', () => {
  it('removes the older image when the same tag is built twice with different content', async () => {
    const name = uniqueName('retag');
    const first = await build(folder(name, 'one\n'), 'app:dev');
    const second = await build(folder(name, 'two\n'), 'app:dev');
    expect(second).not.toBe(first);
    // The tag moved: the first image is `<none>` now, as `docker images` shows it.
    await expectUntagged(name, [first]);
    await waitFor(
      'the untagged image to be removed',
      () => untaggedOf(name),
      (ids) => ids.length === 0,
      PRUNED_WITHIN,
    );
    expect(await exists(first)).toBe(false);
  });

  it('leaves an image a container uses, and one it did not make, and removes its own beside them', async () => {
    const name = uniqueName('keep');
    const ref = `${server.registry}/${owner}/app2:dev`;
    // Not the server's: an image with no label whose only tag is the one the builds will take over.
    const empty = mkdtempSync(join(tmpdir(), 'chb-sec-empty-'));
    writeFileSync(join(empty, 'marker'), `${name}\n`);
    const tar = await execa('tar', ['-C', empty, '-c', '.'], { encoding: 'buffer' });
    const foreign = (await execa('docker', ['import', '-', ref], { input: tar.stdout })).stdout.trim();
    cleanup.push(['rmi', foreign]);

    const held = await build(folder(name, 'one\n'), 'app2:dev');
    const container = `${name}-c`;
    await docker('create', '--name', container, held, 'true');
    cleanup.unshift(['rm', container], ['rmi', held]);
    const mine = await build(folder(name, 'two\n'), 'app2:dev');
    await build(folder(name, 'three\n'), 'app2:dev');
    expect(await docker('image', 'inspect', '--format', '{{len .RepoTags}}', foreign)).toBe('0');
    await expectUntagged(name, [held, mine]);

    // Its own untagged image goes at the idle prune; the one a container uses and the foreign one stay.
    await waitFor(
      `image ${mine} to be removed`,
      () => exists(mine),
      (e) => !e,
      PRUNED_WITHIN,
    );
    await waitFor(
      'only the image a container uses to be left untagged',
      () => untaggedOf(name),
      (ids) => ids.length === 1 && ids[0] === held,
      PRUNED_WITHIN,
    );
    expect(await exists(held)).toBe(true);
    expect(await exists(foreign)).toBe(true);
  });
});
