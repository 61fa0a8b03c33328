/**
 * A BuildKit session of our own (src/context/session.ts) against real daemons: the local dockerd over its unix
 * socket and the stack's second dockerd over TCP with TLS client certificates (`scripts/stack.sh builder up`).
 * A build with an empty body reads the Dockerfile and the context from an in-memory ContextTree through the
 * session; a second build under the same shared key gets only the changed file; a 5 MB file no COPY names is
 * never listed nor sent (followpaths). Needs dockerd and the stack's registry (localhost:5000), not the
 * server's build output.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createReadStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { EngineConnection } from '../../src/builder/engine-connection.js';
import { decodeSolveStatus } from '../../src/builder/solve-status.js';
import { parseTlsQuery } from '../../src/builder/tls.js';
import { openSession, type DiffCopyStats, type Session } from '../../src/context/session.js';
import type { ContextTree, TreeFilter } from '../../src/context/tree.js';
import { PACKAGE_ROOT } from '../../src/paths.js';
import { walkContext } from '../../src/client/context-walk.js';
import { UploadTree } from '../../src/context/upload-tree.js';
import { BlobStore } from '../../src/uploads/blobs.js';
import { validateManifest } from '../../src/uploads/manifest.js';

const STACK_DIR = process.env.CODEHUB_STACK_DIR ?? '/var/lib/codehub-stack';
const BUILDER_PORT = Number(process.env.CODEHUB_STACK_BUILDER_PORT ?? 2376);
const DOCKERFILE = 'FROM localhost:5000/cache/busybox:latest\nCOPY a.txt /a.txt\nCOPY b.txt /b.txt\nRUN cat /a.txt\n';
const BIG = 5 * 1024 * 1024;

/** Files in memory as a ContextTree: flat (no directories), followpaths applied as fsutil does, patterns not. */
class MemoryTree implements ContextTree {
  readonly files = new Map<string, { content: Buffer; mtimeNs: bigint }>();
  readonly filters: TreeFilter[] = [];

  set(path: string, content: string | Buffer, mtimeNs: bigint): void {
    this.files.set(path, { content: Buffer.from(content), mtimeNs });
  }

  async entries(filter: TreeFilter): ReturnType<ContextTree['entries']> {
    this.filters.push(filter);
    const follows = (p: string) => filter.followPaths.length === 0 || filter.followPaths.some((f) => f === p || p.startsWith(`${f}/`) || f.startsWith(`${p}/`));
    const entries = [...this.files]
      .filter(([p]) => follows(p))
      .sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
      .map(([path, f]) => ({ path, mode: 0o644, size: f.content.length, mtimeNs: f.mtimeNs }));
    return { ok: true, entries };
  }

  async read(path: string): Promise<Buffer> {
    const f = this.files.get(path);
    if (!f) throw new Error(`no file ${path}`);
    return f.content;
  }
}

/** `POST /build` with an empty body against the session: whether it succeeded, and the steps' output. */
async function build(conn: EngineConnection, session: Session, tag: string): Promise<{ error: string | null; imageId: string | null; log: string }> {
  const q = new URLSearchParams({ version: '2', session: session.id, remote: 'client-session', dockerfile: 'Dockerfile', t: tag, buildid: randomUUID() });
  return new Promise((resolve, reject) => {
    const req = conn.request({ method: 'POST', path: `/v1.41/build?${q}`, headers: { 'content-type': 'application/x-tar' } }, (res) => {
      let buf = '';
      let log = '';
      let error: string | null = null;
      let imageId: string | null = null;
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        buf += d;
      });
      res.on('end', () => {
        if (res.statusCode !== 200) {
          resolve({ error: `HTTP ${res.statusCode}: ${buf}`, imageId, log });
          return;
        }
        for (const line of buf.split('\n').filter((l) => l.trim())) {
          const m = JSON.parse(line) as { id?: string; aux?: unknown; error?: string; stream?: string };
          if (m.id === 'moby.buildkit.trace' && typeof m.aux === 'string') {
            const s = decodeSolveStatus(Buffer.from(m.aux, 'base64'));
            for (const l of s.logs ?? []) log += l.data.toString();
            for (const v of s.vertexes ?? []) if (v.error) log += `ERROR ${v.name}: ${v.error}\n`;
          } else if (m.id === 'moby.image.id') imageId = (m.aux as { ID?: string }).ID ?? null;
          else if (m.error) error = m.error;
          else if (m.stream) log += m.stream;
        }
        resolve({ error, imageId, log });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/** DELETE /images/<tag>, ignoring the answer (cleanup). */
function removeImage(conn: EngineConnection, tag: string): Promise<void> {
  return new Promise((resolve) => {
    const req = conn.request({ method: 'DELETE', path: `/v1.41/images/${tag}?force=1` }, (res) => {
      res.resume();
      res.on('end', resolve);
    });
    req.on('error', () => resolve());
    req.end();
  });
}

/** Sockets this process holds (unix and TCP, TLS runs over TCP): what a closed session must give back. */
const openSockets = () => process.getActiveResourcesInfo().filter((r) => /Pipe|TCP|TLS/.test(r)).length;
/**
 * Waits (up to a second) for the count of open sockets to come to `n`: a TLS socket's TCP handle is released
 * just after the socket's 'close' event, which close() waits for.
 */
async function socketsSettleAt(n: number): Promise<void> {
  for (let i = 0; i < 100 && openSockets() !== n; i++) await new Promise((r) => setTimeout(r, 10));
  expect(openSockets(), process.getActiveResourcesInfo().join(',')).toBe(n);
}

const mainCall = (stats: DiffCopyStats[]): DiffCopyStats => {
  // The context call that COPY reads (followpaths = its sources), not the one for .dockerignore.
  const calls = stats.filter((s) => s.dirName === 'context' && s.followPaths.includes('a.txt'));
  expect(calls, JSON.stringify(stats)).toHaveLength(1);
  return calls[0]!;
};

/** Two builds under one shared key on one daemon: the first sends a.txt and b.txt, the second a.txt alone. */
async function incrementalBuilds(conn: EngineConnection, label: string, cleanup: (() => Promise<void>)[]): Promise<void> {
  const tree = new MemoryTree();
  const t0 = 1_764_000_000_000_000_000n;
  tree.set('Dockerfile', DOCKERFILE, t0);
  tree.set('a.txt', `first ${label} ${randomUUID()}\n`, t0 + 1n);
  tree.set('b.txt', 'b stays the same\n', t0 + 2n);
  tree.set('big.bin', randomBytes(BIG), t0 + 3n); // no COPY names it
  const sharedKey = `codehub-session-test-${randomUUID()}`; // a new key: the first build gets everything
  const tag = `codehub-session-test:${label}-${randomBytes(4).toString('hex')}`;
  cleanup.push(() => removeImage(conn, tag));
  const problems: string[] = [];

  const s1 = await openSession(conn, { sharedKey, name: 'codehub-session-test', tree, onProblem: (m) => problems.push(m) });
  const b1 = await build(conn, s1, tag);
  expect(b1.error, b1.log).toBeNull();
  expect(b1.imageId).toMatch(/^sha256:/);
  expect(b1.log).toContain(tree.files.get('a.txt')!.content.toString());
  const first = mainCall(s1.stats);
  expect(first.requested.sort()).toEqual(['a.txt', 'b.txt']);
  // followpaths: the 5 MB file was neither listed nor sent, in any call
  for (const call of s1.stats) expect(call.requested).not.toContain('big.bin');
  const sent1 = s1.stats.reduce((n, c) => n + c.bytesSent, 0);
  expect(sent1).toBeLessThan(1024);
  expect(first.entries).toBe(2);
  expect(tree.filters.some((f) => f.followPaths.includes('Dockerfile'))).toBe(true); // the `dockerfile` call

  // Closing gives the connection back: one socket fewer (the /build request's keep-alive socket stays pooled).
  const before = openSockets();
  await s1.close();
  await socketsSettleAt(before - 1);
  await s1.close(); // idempotent

  tree.set('a.txt', `second ${label}, a little longer ${randomUUID()}\n`, t0 + 10n);
  const s2 = await openSession(conn, { sharedKey, name: 'codehub-session-test', tree, onProblem: (m) => problems.push(m) });
  const b2 = await build(conn, s2, tag);
  await s2.close();
  expect(b2.error, b2.log).toBeNull();
  expect(b2.log).toContain(tree.files.get('a.txt')!.content.toString());
  const second = mainCall(s2.stats);
  expect(second.requested).toEqual(['a.txt']);
  expect(second.bytesSent).toBe(tree.files.get('a.txt')!.content.length);
  for (const call of s2.stats) {
    expect(call.finished, JSON.stringify(call)).toBe(true);
    expect(call.requested).not.toContain('big.bin');
  }
  const sent2 = s2.stats.reduce((n, c) => n + c.bytesSent, 0);
  console.log(`[${label}] first build: ${JSON.stringify(s1.stats)}; bytes sent ${sent1}`);
  console.log(`[${label}] second build: ${JSON.stringify(s2.stats)}; bytes sent ${sent2}`);
  expect(problems).toEqual([]);
}

const cleanup: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanup) await c();
});

describe('a BuildKit session serving the context from a ContextTree', () => {
  const local = new EngineConnection({ socket: '/var/run/docker.sock' });

  it('builds on the local dockerd over its unix socket, the second time sending only the changed file', async () => {
    await incrementalBuilds(local, 'unix', cleanup);
  });

  it('builds on the second dockerd over TCP with TLS client certificates', async () => {
    const stack = (...args: string[]) => execa('bash', [join(PACKAGE_ROOT, 'scripts', 'stack.sh'), ...args], { reject: false, all: true });
    if ((await stack('builder', 'status')).exitCode !== 0) {
      const up = await stack('builder', 'up');
      if (up.exitCode !== 0) throw new Error(`the second dockerd is down and \`bash scripts/stack.sh builder up\` failed:\n${up.all}`);
    }
    const tls = new EngineConnection({ host: '127.0.0.1', port: BUILDER_PORT, tls: parseTlsQuery(`tls=${join(STACK_DIR, 'builder', 'client')}`) });
    await incrementalBuilds(tls, 'tls', cleanup);
  });

  it("serves a workspace folder uploaded to the blob store (issue 16's path): the second build gets only the changed file", async () => {
    // The parts issue 16 wires together, here without HTTP: the CLI's walk, the owner's blob store, the tree.
    const dir = mkdtempSync(join(tmpdir(), 'chb-upload-'));
    cleanup.push(async () => rmSync(dir, { recursive: true, force: true }));
    const folder = join(dir, 'folder');
    mkdirSync(join(folder, 'ignored'), { recursive: true });
    writeFileSync(join(folder, 'Dockerfile'), 'FROM localhost:5000/cache/busybox:latest\nCOPY . /ctx/\nRUN cat /ctx/app.txt && ls /ctx\n');
    writeFileSync(join(folder, '.dockerignore'), 'ignored\n');
    writeFileSync(join(folder, 'ignored', 'big.bin'), randomBytes(BIG));
    writeFileSync(join(folder, 'big.bin'), randomBytes(BIG));
    const store = new BlobStore(join(dir, 'blobs'));
    const key = `codehub-session-test-${randomUUID()}`;
    const uploadAndBuild = async (line: string) => {
      writeFileSync(join(folder, 'app.txt'), `${line}\n`);
      const walked = await walkContext(folder, { dockerfile: 'Dockerfile', cacheDir: join(dir, 'cache') });
      if (!walked.ok) throw new Error(walked.problem);
      const checked = validateManifest({ entries: walked.entries }, { maxBytes: 64 * 1024 * 1024 });
      if (!checked.ok) throw new Error(checked.problems.join('\n'));
      const missing = await store.missing('alice', checked.manifest.blobs);
      for (const sha of missing) {
        const e = walked.entries.find((x) => x.sha256 === sha)!;
        await store.write('alice', sha, e.size, createReadStream(join(folder, e.path)));
      }
      const tag = `codehub-session-test:upload-${randomBytes(4).toString('hex')}`;
      cleanup.push(() => removeImage(local, tag));
      const s = await openSession(local, { sharedKey: key, name: 'codehub-session-test', tree: new UploadTree(store, 'alice', checked.manifest) });
      const b = await build(local, s, tag);
      await s.close();
      expect(b.error, b.log).toBeNull();
      const main = s.stats.filter((c) => c.dirName === 'context').at(-1)!;
      return { b, uploaded: missing.length, sent: main.bytesSent, requested: main.requested };
    };
    const first = await uploadAndBuild('one');
    expect(first.b.log).toContain('one');
    expect(first.b.log).not.toContain('ignored'); // .dockerignore applied: the folder is not in /ctx
    expect(first.sent).toBeGreaterThan(BIG); // big.bin once; ignored/big.bin never
    expect(first.sent).toBeLessThan(2 * BIG);
    const second = await uploadAndBuild('two');
    expect(second.b.log).toContain('two');
    expect(second.uploaded).toBe(1); // only app.txt's new content left the workspace
    expect(second.requested).toEqual(['app.txt']);
    expect(second.sent).toBe(4);
  });

  it("fails the build with the tree's problem as its message", async () => {
    const tree = new MemoryTree();
    tree.set('Dockerfile', DOCKERFILE, 1n);
    tree.set('a.txt', 'a\n', 1n);
    tree.set('b.txt', 'b\n', 1n);
    const listed = tree.entries.bind(tree);
    // The Dockerfile reads fine; the context that COPY reads does not.
    tree.entries = async (f) => (f.followPaths.includes('a.txt') ? { ok: false, problem: '.dockerignore line 2: bad pattern "[a"' } : listed(f));
    const tag = `codehub-session-test:problem-${randomBytes(4).toString('hex')}`;
    cleanup.push(() => removeImage(local, tag));
    const s = await openSession(local, { sharedKey: `codehub-session-test-${randomUUID()}`, name: 'codehub-session-test', tree });
    const b = await build(local, s, tag);
    await s.close();
    // dockerd reports the first error its solve met: the refusal, or (about 1 run in 8) the `context canceled` of a
    // step BuildKit stopped because of it. The refusal is recorded either way, and EngineDriver reports it as the
    // build's error (test/e2e/submodules.test.ts, through the server).
    expect(b.error).toMatch(/\.dockerignore line 2: bad pattern "\[a"|context canceled/);
    expect(s.stats.find((c) => c.followPaths.includes('a.txt'))).toMatchObject({
      problem: '.dockerignore line 2: bad pattern "[a"',
      refusal: '.dockerignore line 2: bad pattern "[a"',
    });
  });

  it('closes at once when its signal aborts', async () => {
    const tree = new MemoryTree();
    const abort = new AbortController();
    const problems: string[] = [];
    const s = await openSession(local, {
      sharedKey: `codehub-session-test-${randomUUID()}`,
      name: 'codehub-session-test',
      tree,
      signal: abort.signal,
      onProblem: (m) => problems.push(m),
    });
    expect(s.id).toMatch(/^[0-9a-f-]{36}$/);
    // Counted once open: the upgrade may have taken an idle keep-alive socket out of the pool.
    const open = openSockets();
    abort.abort(); // closes the connection without close()
    await socketsSettleAt(open - 1);
    await s.close();
    expect(problems).toEqual([]);
    const aborted = new AbortController();
    aborted.abort();
    await expect(openSession(local, { sharedKey: 'x', name: 'x', tree, signal: aborted.signal })).rejects.toThrow();
  });
});
