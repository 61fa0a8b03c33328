/**
 * Build output where the developer is, through the real parts: git push -o wait, SSE and follow, notes on
 * commits, lookups from a checkout, masking, and the cap.
 */
import { execa } from 'execa';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkRepo } from '../helpers/git.js';
import { TestServer, uniqueName } from '../helpers/server.js';

const FROM = 'FROM localhost:5000/cache/busybox:latest';
let server: TestServer;
let owner: string;
let token: string;

beforeAll(async () => {
  server = await TestServer.start();
  owner = uniqueName('dora');
  token = server.addUser(owner);
});
afterAll(async () => {
  await server?.stop();
});

/** Reads an SSE stream until its `end` event (or until `stopAfter` lines when given), returning the events. */
async function readSse(url: string, headers: Record<string, string>, stopAfter?: number) {
  const ctl = new AbortController();
  const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: ctl.signal });
  expect(res.headers.get('content-type')).toContain('text/event-stream');
  const events: { id?: string; event?: string; data: string }[] = [];
  let buf = '';
  const decoder = new TextDecoder();
  try {
    for await (const chunk of res.body!) {
      buf += decoder.decode(chunk as Uint8Array, { stream: true });
      let i: number;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (block.startsWith(':')) continue;
        const ev: { id?: string; event?: string; data: string } = { data: '' };
        for (const line of block.split('\n')) {
          const [k, ...rest] = line.split(':');
          const v = rest.join(':').replace(/^ /, '');
          if (k === 'id') ev.id = v;
          else if (k === 'event') ev.event = v;
          else if (k === 'data') ev.data += v;
        }
        events.push(ev);
        if (ev.event === 'end' || (stopAfter !== undefined && events.length >= stopAfter)) {
          ctl.abort();
          return events;
        }
      }
    }
  } catch (e) {
    if (!ctl.signal.aborted) throw e;
  }
  return events;
}

describe('git push -o wait', () => {
  it('streams the RUN output into the push and ends with the image references and digest', async () => {
    const repo = await WorkRepo.create({ Dockerfile: `${FROM}\nRUN echo waiting-output-${owner} && echo second-line\n` });
    const sha = (await repo.git.revparse(['HEAD'])).trim();
    const push = await repo.push(server.gitUrl(owner, token, owner, 'waiter'), ['main'], ['wait']);
    expect(push.exitCode, push.output).toBe(0);
    expect(push.output).toMatch(new RegExp(`remote: #\\d+ waiting-output-${owner}`));
    expect(push.output).toMatch(/remote: #\d+ second-line/);
    const [b] = await server.waitForBuilds(sha, token);
    expect(push.output).toContain(`remote: build #${b.id} waiter succeeded:`);
    expect(push.output).toContain(`remote:   ${server.registry}/${owner}/waiter:main@${b.digest}`);
    // The output came before the push ended, in order: the RUN line, then the result.
    expect(push.output.indexOf(`waiting-output-${owner}`)).toBeLessThan(push.output.indexOf('succeeded:'));
  });

  it('reports a failed build plainly, with where to read more', async () => {
    const repo = await WorkRepo.create({ Dockerfile: `${FROM}\nRUN echo about-to-fail && exit 4\n` });
    const sha = (await repo.git.revparse(['HEAD'])).trim();
    const push = await repo.push(server.gitUrl(owner, token, owner, 'waitfail'), ['main'], ['wait']);
    expect(push.exitCode).toBe(0); // the push landed; the build did not
    const [b] = await server.waitForBuilds(sha, token);
    expect(push.output).toContain(`remote: build #${b.id} waitfail FAILED (user): `);
    expect(push.output).toContain('exit code: 4');
    expect(push.output).toContain(`remote:   log: codehub-build logs ${b.id}`);
  });

  it('leaves the build running when the waiting pusher goes away (Ctrl-C)', async () => {
    const repo = await WorkRepo.create({ Dockerfile: `${FROM}\nRUN echo interrupted-wait-${owner} && sleep 2 && echo still-built\n` });
    const sha = (await repo.git.revparse(['HEAD'])).trim();
    // Its own process group, so SIGINT reaches git and its helpers together, as Ctrl-C in a terminal does.
    const push = execa('git', ['push', '-o', 'wait', server.gitUrl(owner, token, owner, 'ctrlc'), 'main'], {
      cwd: repo.dir,
      reject: false,
      all: true,
      detached: true,
      env: { GIT_TERMINAL_PROMPT: '0' },
    });
    let seen = '';
    let interrupted = false;
    push.all!.on('data', (d: Buffer) => {
      seen += d.toString();
      if (!interrupted && seen.includes(`interrupted-wait-${owner}`)) {
        interrupted = true;
        process.kill(-push.pid!, 'SIGINT');
      }
    });
    const r = await push;
    expect(r.exitCode).not.toBe(0); // the pusher left before the build ended
    expect(seen).toContain(`interrupted-wait-${owner}`);
    expect(seen).not.toContain('succeeded:');
    const [b] = await server.waitForBuilds(sha, token);
    expect(b.status).toBe('succeeded');
    expect((await server.api<string>(`/api/builds/${b.id}/log`, token)).body).toContain('still-built');
  });

  it('returns without waiting when not asked to, printing how to follow', async () => {
    const repo = await WorkRepo.create({ Dockerfile: `${FROM}\nRUN echo no-wait-${owner} && sleep 2\n` });
    const sha = (await repo.git.revparse(['HEAD'])).trim();
    const push = await repo.push(server.gitUrl(owner, token, owner, 'nowait'), ['main']);
    expect(push.output).toContain(`follow: codehub-build logs ${sha.slice(0, 7)} --follow`);
    expect(push.output).not.toContain(`no-wait-${owner}`);
    const [b] = (await server.api<{ builds: any[] }>(`/api/builds?commit=${sha}`, token)).body.builds;
    expect(['queued', 'running']).toContain(b.status);
    await server.waitForBuilds(sha, token);
  });
});

describe('live logs', () => {
  it('gives an SSE client connected before the build starts every line once, in order, also across a reconnect', async () => {
    // Hold the only build slot with a slow build, so the next one is queued when the client connects.
    const blocker = await WorkRepo.create({ Dockerfile: `${FROM}\nRUN echo blocker-${owner} && sleep 3\n` });
    const blocker2 = await WorkRepo.create({ Dockerfile: `${FROM}\nRUN echo blocker2-${owner} && sleep 3\n` });
    const blockerSha = (await blocker.git.revparse(['HEAD'])).trim();
    const repo = await WorkRepo.create({ Dockerfile: `${FROM}\nRUN for i in $(seq 1 40); do echo sse-line-$i; done; sleep 1; echo ${owner}-done\n` });
    const sha = (await repo.git.revparse(['HEAD'])).trim();
    await blocker.push(server.gitUrl(owner, token, owner, 'blocker'), ['main']);
    await blocker2.push(server.gitUrl(owner, token, owner, 'blocker2'), ['main']); // both build slots are now busy
    await repo.push(server.gitUrl(owner, token, owner, 'ssestream'), ['main']);
    const [b] = (await server.api<{ builds: any[] }>(`/api/builds?commit=${sha}`, token)).body.builds;
    expect(b.status).toBe('queued');
    const url = `${server.url}/api/builds/${b.id}/log`;
    const auth = { authorization: `Bearer ${token}` };

    const first = await readSse(url, auth, 20); // leaves after 20 events, mid-build
    const lastId = first.at(-1)!.id!;
    const rest = await readSse(url, { ...auth, 'last-event-id': lastId });
    const all = [...first, ...rest.filter((e) => e.event !== 'end')];
    const ids = all.map((e) => Number(e.id));
    expect(ids).toEqual(Array.from({ length: ids.length }, (_, i) => i + 1)); // every line once, in order
    const texts = all.map((e) => e.data);
    const runLines = texts.filter((t) => /^#\d+ sse-line-\d+$/.test(t)).map((t) => Number(t.split('sse-line-')[1]));
    expect(runLines).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(texts.some((t) => t.endsWith(`${owner}-done`))).toBe(true);
    expect(JSON.parse(rest.at(-1)!.data)).toMatchObject({ status: 'succeeded' });
    await server.waitForBuilds(blockerSha, token);

    // The whole log again, as plain text with ?follow=1 on a finished build: the same lines.
    const text = await (await fetch(`${url}?follow=1`, { headers: auth })).text();
    expect(text.trimEnd().split('\n')).toEqual(texts);
  });

  it('follows a running build to its end from the CLI', async () => {
    const repo = await WorkRepo.create({ Dockerfile: `${FROM}\nRUN echo follow-start && sleep 1 && echo follow-end-${owner}\n` });
    const sha = (await repo.git.revparse(['HEAD'])).trim();
    await repo.push(server.gitUrl(owner, token, owner, 'follower'), ['main']);
    const r = await execa(process.execPath, [join(process.cwd(), 'dist/src/cli.js'), 'logs', sha.slice(0, 7), '--follow'], {
      env: { ...server.env, CODEHUB_URL: server.url, CODEHUB_TOKEN: token },
      reject: false,
    });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain(`follow-end-${owner}`);
    expect(r.stdout).toMatch(/--- succeeded in/);
  });
});

describe('logs on disk', () => {
  it('never stores a secret-looking build arg value, in the log or the API', async () => {
    const value = `s3cr3t-${owner}`;
    const repo = await WorkRepo.create({
      'codehub-build.yaml': `version: 1\nimages:\n  - args: { NPM_TOKEN: ${value}, PLAIN: visible-${owner} }\n`,
      Dockerfile: `${FROM}\nARG NPM_TOKEN\nARG PLAIN\nRUN echo "token=$NPM_TOKEN plain=$PLAIN"\n`,
    });
    const sha = (await repo.git.revparse(['HEAD'])).trim();
    await repo.push(server.gitUrl(owner, token, owner, 'masked'), ['main']);
    const [b] = await server.waitForBuilds(sha, token);
    expect(b.status).toBe('succeeded');
    const file = readFileSync(join(server.dataDir, 'logs', String(b.id % 1000), `${b.id}.log`), 'utf8');
    expect(file).toContain(`token=*** plain=visible-${owner}`);
    expect(file).not.toContain(value);
    const apiText = JSON.stringify((await server.api(`/api/builds/${b.id}`, token)).body);
    expect(apiText, apiText).not.toContain(value);
  });

  it('caps a log that prints 50 MB with a notice, keeping the server memory bounded', async () => {
    // BuildKit clips a step's output itself (dockerd's: 200 KiB/s), so the cap is set below what gets through.
    const capped = await TestServer.start({ env: { CODEHUB_LOG_MAX_BYTES: String(64 * 1024) } });
    try {
      const o = uniqueName('big');
      const t = capped.addUser(o);
      const repo = await WorkRepo.create({
        Dockerfile: `${FROM}\nRUN yes "${o} 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" | head -c 52428800\nRUN echo after-the-flood\n`,
      });
      const sha = (await repo.git.revparse(['HEAD'])).trim();
      await repo.push(capped.gitUrl(o, t, o, 'flood'), ['main']);
      let peak = 0;
      const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${capped.proc!.pid}/status`, 'utf8'))![1]) * 1024;
      const poll = setInterval(() => {
        peak = Math.max(peak, rss());
      }, 20);
      const [b] = await capped.waitForBuilds(sha, t);
      clearInterval(poll);
      expect(b.status, b.reason).toBe('succeeded');
      const path = join(capped.dataDir, 'logs', String(b.id % 1000), `${b.id}.log`);
      expect(statSync(path).size).toBeLessThan(64 * 1024 + 4096);
      const log = readFileSync(path, 'utf8');
      expect(log).toContain('--- log truncated: it reached 64 KiB');
      expect(log).toMatch(/--- succeeded in/);
      console.log(`50 MB build: stored log ${(statSync(path).size / 1048576).toFixed(2)} MB, server RSS peak ${(peak / 1048576).toFixed(0)} MB`);
      expect(peak).toBeLessThan(400 * 1024 * 1024);
    } finally {
      await capped.stop();
    }
  });
});

describe('results on commits', () => {
  it('keeps the results of builds of one commit that end together in one note', async () => {
    const repo = await WorkRepo.create({
      'codehub-build.yaml': 'version: 1\nimages:\n  - name: one\n  - name: two\n  - name: three\n',
      Dockerfile: `${FROM}\nRUN echo together-${owner}\n`,
    });
    const sha = (await repo.git.revparse(['HEAD'])).trim();
    const url = server.gitUrl(owner, token, owner, 'together');
    await repo.push(url, ['main'], ['wait']);
    const builds = await server.waitForBuilds(sha, token, { count: 3 });
    let note = '';
    for (let i = 0; i < 50 && !builds.every((b) => note.includes(`#${b.id} `)); i++) {
      await execa('git', ['fetch', '-q', url, '+refs/notes/builds:refs/notes/builds'], { cwd: repo.dir, reject: false });
      note = (await execa('git', ['notes', '--ref=builds', 'show', sha], { cwd: repo.dir, reject: false })).stdout;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(note).toContain('codehub-build: 3 builds of');
    for (const b of builds) expect(note).toContain(`#${b.id} ${b.image} (main): succeeded`);
  });

  it("shows each built commit's result in git log --notes=builds of a fresh clone", async () => {
    const repo = await WorkRepo.create({ Dockerfile: `${FROM}\nRUN echo notes-${owner}\n` });
    const url = server.gitUrl(owner, token, owner, 'noted');
    const first = (await repo.git.revparse(['HEAD'])).trim();
    await repo.push(url, ['main'], ['wait']);
    const second = await repo.commit({ Dockerfile: `${FROM}\nRUN exit 9\n` }, 'breaks the build');
    await repo.push(url, ['main'], ['wait']);
    const [b1] = await server.waitForBuilds(first, token);
    const [b2] = await server.waitForBuilds(second, token);
    // Notes are written when builds end; give the writer a moment after the last one.
    const dest = join(mkdtempSync(join(tmpdir(), 'chb-notes-')), 'clone');
    let log = '';
    for (let i = 0; i < 50 && !(log.includes(`#${b1.id}`) && log.includes(`#${b2.id}`)); i++) {
      await execa('rm', ['-rf', dest]);
      await execa('git', ['clone', '-q', url, dest], { env: { GIT_TERMINAL_PROMPT: '0' } });
      await execa('git', ['fetch', '-q', 'origin', 'refs/notes/builds:refs/notes/builds'], { cwd: dest, reject: false });
      log = (await execa('git', ['log', '--notes=builds'], { cwd: dest })).stdout;
      if (!log.includes(`#${b2.id}`)) await new Promise((r) => setTimeout(r, 100));
    }
    expect(log).toContain(`#${b1.id} noted (main): succeeded`);
    expect(log).toContain(`${server.registry}/${owner}/noted:${first}`);
    expect(log).toContain(`digest ${b1.digest}`);
    expect(log).toMatch(new RegExp(`#${b2.id} noted \\(main\\): failed - .*exit code: 9`));

    // And from that checkout, the CLI finds builds by revision.
    const env = { ...server.env, CODEHUB_URL: server.url, CODEHUB_TOKEN: token };
    const cli = join(process.cwd(), 'dist/src/cli.js');
    const status = await execa(process.execPath, [cli, 'status'], { cwd: dest, env, reject: false });
    expect(status.stdout).toMatch(new RegExp(`#${b2.id}\\s+failed\\s+${owner}/noted\\s+main`));
    // The links the notes and `status` print open the build's and the commit's pages.
    const pageOf = async (url: string) => {
      const r = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
      return { status: r.status, html: await r.text() };
    };
    const notePage = new RegExp(`page: (http\\S+/builds/${b2.id})$`, 'm').exec(log);
    expect(notePage, log).not.toBeNull();
    expect(await pageOf(notePage![1]!)).toMatchObject({ status: 200, html: expect.stringContaining(`<h1>Build #${b2.id} · noted · `) });
    const commitPage = /^page: (http\S+\/commits\/[0-9a-f]{7})$/m.exec(status.stdout);
    expect(commitPage, status.stdout).not.toBeNull();
    expect(await pageOf(commitPage![1]!)).toMatchObject({ status: 200, html: expect.stringContaining(`href="/builds/${b2.id}">Build #${b2.id}</a>`) });
    const logs = await execa(process.execPath, [cli, 'logs', 'HEAD~1'], { cwd: dest, env, reject: false });
    expect(logs.stdout).toContain(`notes-${owner}`);
  });
});
