/**
 * The workspace side: what the downloadable CLI costs against the server's own CLI, and what a push with the
 * token in CODEHUB_TOKEN (git asks `codehub-build credential`) costs against the token in the remote's URL
 * (what the README used to show, and what writes the token into .git/config).
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../src/paths.js';
import { WorkRepo } from '../test/helpers/git.js';
import type { TestServer } from '../test/helpers/server.js';
import { run } from './lib/proc.js';
import { Scratch } from './lib/scratch.js';
import { msSince, stats, type Stats } from './lib/stats.js';

export interface WorkspaceResult {
  bundleBytes: number;
  download: Stats;
  help: { client: Stats; server: Stats };
  status: { client: Stats; server: Stats };
  push: { url: Stats; helper: Stats };
}

const CLIENT = join(PACKAGE_ROOT, 'dist', 'downloads', 'codehub-build');
const SERVER_CLI = join(PACKAGE_ROOT, 'dist', 'src', 'cli.js');

async function timed(
  cmd: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
  ok: (code: number | null) => boolean = (code) => code === 0,
): Promise<number> {
  const t0 = process.hrtime.bigint();
  const r = await run(cmd, opts);
  const ms = msSince(t0);
  if (!ok(r.code)) throw new Error(`${cmd.join(' ')} failed (${r.code}):\n${r.out}`);
  return ms;
}

export async function workspaceBench(server: TestServer, owner: string, token: string, runs: number, progress: (s: string) => void): Promise<WorkspaceResult> {
  const tmp = new Scratch();
  try {
    return await workspace(server, owner, token, runs, progress, tmp);
  } finally {
    tmp.remove();
  }
}

async function workspace(
  server: TestServer,
  owner: string,
  token: string,
  runs: number,
  progress: (s: string) => void,
  tmp: Scratch,
): Promise<WorkspaceResult> {
  progress('workspace: the downloaded CLI and the credential helper');
  const repo = tmp.repo(await WorkRepo.create({ Dockerfile: 'FROM localhost:5000/cache/busybox:latest\nCOPY n.txt /n.txt\n', 'n.txt': '0\n' }));
  const env = { ...process.env, CODEHUB_URL: server.url, CODEHUB_TOKEN: token, GIT_TERMINAL_PROMPT: '0' };
  const added = await run([process.execPath, CLIENT, 'remote', 'add', 'build', `${owner}/ws-bench`], { cwd: repo.dir, env });
  if (added.code !== 0) throw new Error(`remote add failed:\n${added.out}`);
  const t = {
    download: [] as number[],
    helpC: [] as number[],
    helpS: [] as number[],
    statusC: [] as number[],
    statusS: [] as number[],
    url: [] as number[],
    helper: [] as number[],
  };
  const urlWithToken = server.gitUrl(owner, token, owner, 'ws-bench');
  for (let i = -2; i < runs; i++) {
    const keep = i >= 0;
    const d0 = process.hrtime.bigint();
    const res = await fetch(`${server.url}/downloads/codehub-build`);
    await res.arrayBuffer();
    if (keep) t.download.push(msSince(d0));
    const pairs: [number[], string[], ((c: number | null) => boolean)?][] = [
      [t.helpC, [process.execPath, CLIENT, '--help']],
      [t.helpS, [process.execPath, SERVER_CLI, '--help']],
      // status exits 4 while HEAD has no build (the first rounds push with -o skip, which records them skipped).
      [t.statusC, [process.execPath, CLIENT, 'status'], (c) => c === 0 || c === 4],
      [t.statusS, [process.execPath, SERVER_CLI, 'status'], (c) => c === 0 || c === 4],
    ];
    for (const [into, cmd, ok] of i % 2 ? pairs : [...pairs].reverse()) {
      const ms = await timed(cmd, { cwd: repo.dir, env }, ok);
      if (keep) into.push(ms);
    }
    // Each way pushes a new commit with -o skip: the same hook, record and answer, no build to wait for.
    for (const way of i % 2 ? (['url', 'helper'] as const) : (['helper', 'url'] as const)) {
      await repo.commit({ 'n.txt': `${i} ${way}\n` }, `round ${i} ${way}`);
      const ms = await timed(['git', 'push', '-o', 'skip', way === 'url' ? urlWithToken : 'build', 'HEAD:main'], { cwd: repo.dir, env });
      if (keep) t[way].push(ms);
    }
  }
  return {
    bundleBytes: statSync(CLIENT).size,
    download: stats(t.download),
    help: { client: stats(t.helpC), server: stats(t.helpS) },
    status: { client: stats(t.statusC), server: stats(t.statusS) },
    push: { url: stats(t.url), helper: stats(t.helper) },
  };
}
