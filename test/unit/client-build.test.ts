/**
 * `codehub-build build` (src/client/build.ts): docker build's flags read exactly (parseBuildArgs, no server), the
 * streamed request bodies of src/client/http.ts, and the command run against a small fake server that holds to
 * the upload routes' contract: the manifest is the walk, only the missing blobs are uploaded, each streamed with
 * its own bytes, a changed file costs one more walk, a Ctrl-C cancels once, and the exit status is the build's.
 */
import { createHash, randomBytes } from 'node:crypto';
import { appendFileSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { buildCmd, parseBuildArgs, runBuild, type BuildIo, type BuildPlan } from '../../src/client/build.js';
import { walkContext } from '../../src/client/context-walk.js';
import { ClientError, UsageError } from '../../src/client/errors.js';
import { BodyError, send } from '../../src/client/http.js';

const made: string[] = [];
afterAll(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

/** A fresh folder `top` holding `ctx/` with these files; `cache` is where the walk keeps its hashes. */
function workspace(files: Record<string, string | Buffer>, name = 'ctx'): { top: string; ctx: string; cache: string } {
  const top = realpathSync(mkdtempSync(join(tmpdir(), 'client-build-')));
  made.push(top);
  const ctx = join(top, name);
  mkdirSync(ctx);
  for (const [p, content] of Object.entries(files)) {
    mkdirSync(dirname(join(ctx, p)), { recursive: true });
    writeFileSync(join(ctx, p), content);
  }
  return { top, ctx, cache: join(top, 'cache') };
}

const sha = (b: string | Buffer) => createHash('sha256').update(b).digest('hex');

function plan(argv: string[], cwd: string, env: NodeJS.ProcessEnv = {}): BuildPlan {
  const r = parseBuildArgs(argv, env, cwd);
  if (!r.ok) throw new Error(r.problems.join('\n'));
  return r.plan;
}

function problems(argv: string[], cwd: string, env: NodeJS.ProcessEnv = {}): string[] {
  const r = parseBuildArgs(argv, env, cwd);
  if (r.ok) throw new Error(`expected problems, got ${JSON.stringify(r.plan)}`);
  return r.problems;
}

describe('parseBuildArgs', () => {
  it('takes the current folder by default, the Dockerfile in it, its name as folder, and sends nothing else', () => {
    const { ctx } = workspace({ Dockerfile: 'FROM scratch\n' }, 'My App');
    expect(plan([], ctx)).toEqual({ context: ctx, folder: 'My App', dockerfile: 'Dockerfile', request: {} });
    expect(plan(['.'], ctx)).toEqual(plan([], ctx));
  });

  it("names the folder by its realpath, so a symlink to it or `..` gives the real folder's name", () => {
    const { top, ctx } = workspace({ Dockerfile: 'FROM scratch\n' }, 'shop');
    symlinkSync(ctx, join(top, 'link'));
    expect(plan(['link'], top)).toMatchObject({ context: join(top, 'link'), folder: 'shop' });
    mkdirSync(join(ctx, 'sub'));
    expect(plan(['..'], join(ctx, 'sub'))).toMatchObject({ context: ctx, folder: 'shop' });
  });

  it('passes -t to the server as typed, in each of its forms', () => {
    const { ctx } = workspace({ Dockerfile: 'FROM scratch\n' });
    for (const tag of ['web', 'web:try1', 'alice/web:try1', 'localhost:5000/alice/web:try1', 'Web:Latest']) {
      expect(plan(['-t', tag], ctx).request).toEqual({ tag });
      expect(plan([`--tag=${tag}`], ctx).request).toEqual({ tag });
    }
    expect(problems(['-t', 'a', '-t', 'b'], ctx)).toEqual(['give one -t: a build pushes one image here (got a, b)']);
    expect(problems(['-t', ''], ctx)).toEqual(['-t "" is not an image name: give NAME[:TAG], e.g. -t web:try1']);
  });

  it('without -t, refuses a folder whose name makes no image name (and takes it with -t)', () => {
    const { ctx } = workspace({ Dockerfile: 'FROM scratch\n' }, '___');
    expect(problems([], ctx)).toEqual(['cannot name the image after the folder "___" (repo name is empty): give a name with -t NAME[:TAG]']);
    expect(plan(['-t', 'web'], ctx).request).toEqual({ tag: 'web' });
  });

  it('reads --build-arg K=V, and K alone from the environment (left out when unset, as docker does)', () => {
    const { ctx } = workspace({ Dockerfile: 'FROM scratch\n' });
    const argv = [
      '--build-arg',
      'A=1',
      '--build-arg',
      'FROM_ENV',
      '--build-arg',
      'UNSET',
      '--build-arg',
      'EMPTY=',
      '--build-arg',
      'EQ=x=y',
      '--build-arg',
      '__proto__=p',
    ];
    const args = plan(argv, ctx, { FROM_ENV: 'from env' }).request.build_args!;
    expect(args).toEqual({ A: '1', FROM_ENV: 'from env', EMPTY: '', EQ: 'x=y', ['__proto__']: 'p' });
    expect(Object.keys(args)).toEqual(['A', 'FROM_ENV', 'EMPTY', 'EQ', '__proto__']);
    expect(plan(['--build-arg', 'UNSET'], ctx).request).toEqual({});
    expect(problems(['--build-arg', '=v'], ctx)).toEqual(['--build-arg =v: give NAME=VALUE']);
  });

  it('reads --secret from a file (src= or source=, relative to the current folder), a variable (env=), or as buildx does with the id alone', () => {
    const { top } = workspace({ Dockerfile: 'FROM scratch\n' });
    writeFileSync(join(top, 'npmrc'), 'token-from-file\n');
    writeFileSync(join(top, 'bare'), 'bare file');
    const env = { TOKEN: 'token-from-env', GH: 'gh-from-env' };
    const argv = [
      'ctx',
      '--secret',
      'id=npm,src=npmrc',
      '--secret',
      'id=npm2,source=npmrc',
      '--secret',
      'id=tok,env=TOKEN',
      '--secret',
      'type=env,id=tok2,src=TOKEN',
      '--secret',
      'id=GH', // the variable GH
      '--secret',
      'id=bare', // no such variable: the file bare
      '--secret',
      '"id=quoted","src=npmrc"',
    ];
    expect(plan(argv, top, env).request.secrets).toEqual({
      npm: 'token-from-file\n',
      npm2: 'token-from-file\n',
      tok: 'token-from-env',
      tok2: 'token-from-env',
      GH: 'gh-from-env',
      bare: 'bare file',
      quoted: 'token-from-file\n',
    });
  });

  it("names a missing secret file or variable, and never a secret's value", () => {
    const { top } = workspace({ Dockerfile: 'FROM scratch\n' });
    const got = problems(
      [
        'ctx',
        '--secret',
        'id=ok,env=SET',
        '--secret',
        'id=a,src=nope.txt',
        '--secret',
        'id=b,env=NOPE',
        '--secret',
        'id=C',
        '--secret',
        'src=x',
        '--secret',
        'id=d,bogus=1',
        '--secret',
        'id=e,src=f,env=G',
        '--secret',
        'idonly',
      ],
      top,
      { SET: 'the-value' },
    );
    expect(got).toEqual([
      '--secret id=a,src=nope.txt: there is no file nope.txt',
      '--secret id=b,env=NOPE: the environment variable NOPE is not set',
      '--secret id=C: there is no environment variable C and no file C: give src=FILE or env=VAR',
      "--secret src=x: give the secret's id (id=ID), the name RUN --mount=type=secret,id=ID uses",
      '--secret id=d,bogus=1: unexpected key "bogus" (id, src, env or type)',
      '--secret id=e,src=f,env=G: give src=FILE or env=VAR, not both',
      '--secret idonly: "idonly" must be key=value (e.g. id=npmrc,src=.npmrc)',
    ]);
    expect(got.join('\n')).not.toContain('the-value');
    writeFileSync(join(top, 'big'), Buffer.alloc(600 * 1024));
    expect(problems(['ctx', '--secret', 'id=big,src=big'], top)).toEqual(['--secret id=big,src=big: the file big is 600 KiB; a secret may be at most 64 KiB']);
  });

  it('splits --platform on commas and takes it repeated, in order without repeats', () => {
    const { ctx } = workspace({ Dockerfile: 'FROM scratch\n' });
    const argv = ['--platform', 'linux/amd64,linux/arm64', '--platform', 'linux/arm64', '--platform', ' linux/riscv64 '];
    expect(plan(argv, ctx).request.platforms).toEqual(['linux/amd64', 'linux/arm64', 'linux/riscv64']);
    expect(plan(['--platform', 'linux/arm/v7,linux/arm64/v8', '--platform', 'linux/amd64'], ctx).request.platforms).toEqual([
      'linux/arm/v7',
      'linux/arm64/v8',
      'linux/amd64',
    ]);
    // A repeat as BuildKit reads it (arm64/v8 is arm64, arm is arm/v7) is dropped; the first spelling stays.
    expect(plan(['--platform', 'linux/arm64,linux/arm64/v8,linux/arm/v7,linux/arm'], ctx).request.platforms).toEqual(['linux/arm64', 'linux/arm/v7']);
    expect(plan([], ctx).request.platforms).toBeUndefined();
  });

  it("refuses an unknown --platform with parsePlatform's reason, every one at once", () => {
    const { ctx } = workspace({ Dockerfile: 'FROM scratch\n' });
    expect(problems(['--platform', 'linux/amd64,linux/amd46', '--platform', 'linux/x86_64', '--platform', 'windows/amd64,linux/arm/v9,linux'], ctx)).toEqual([
      '--platform: "linux/amd46": unknown architecture "amd46" (known: 386, amd64, arm64, arm, ppc64le, s390x, riscv64, mips64le, mips64, loong64)',
      '--platform: "linux/x86_64": write linux/amd64 (BuildKit\'s name for x86_64)',
      '--platform: "windows/amd64": the operating system "windows" is not one BuildKit builds for here (linux)',
      '--platform: "linux/arm/v9": arm has the variants v5, v6, v7, not "v9"',
      '--platform: "linux" is not a platform like linux/amd64 or linux/arm64 (os/architecture[/variant])',
    ]);
    expect(problems(['--platform', ''], ctx)).toEqual(['--platform is empty: give a platform like linux/amd64']);
  });

  it('buildCmd stops at a bad --platform with a usage error, before any server is asked', async () => {
    const { ctx } = workspace({ Dockerfile: 'FROM scratch\n' });
    // No CODEHUB_URL or token is set up: reaching the server would fail with another error than this one.
    const err = await buildCmd(['--platform', 'linux/amd46', ctx]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toMatch(/^--platform: "linux\/amd46": unknown architecture "amd46" .*\nusage: codehub-build build /);
  });

  it('reads -f relative to the current folder (not the context), and refuses one outside the context', () => {
    const { top, ctx } = workspace({ Dockerfile: 'FROM scratch\n', 'docker/Dockerfile.dev': 'FROM scratch\n' });
    writeFileSync(join(top, 'Dockerfile'), 'FROM scratch\n');
    expect(plan(['-f', 'ctx/docker/Dockerfile.dev', 'ctx'], top).dockerfile).toBe('docker/Dockerfile.dev');
    expect(plan(['--file', join(ctx, 'docker/Dockerfile.dev'), ctx], '/').dockerfile).toBe('docker/Dockerfile.dev');
    expect(plan(['-f', 'Dockerfile.dev'], join(ctx, 'docker'), {}).dockerfile).toBe('Dockerfile.dev');
    expect(problems(['-f', 'Dockerfile', 'ctx'], top)).toEqual([
      'the Dockerfile Dockerfile is outside the context ctx: move it in, or build from a folder that contains it',
    ]);
    expect(problems(['-f', '../Dockerfile', '.'], ctx)).toEqual([
      'the Dockerfile ../Dockerfile is outside the context .: move it in, or build from a folder that contains it',
    ]);
    expect(problems(['-f', '-'], ctx)).toEqual(["-f -: give the Dockerfile's path (a Dockerfile from stdin is not supported: put it in the folder)"]);
    // A context reached through a symlink still contains the Dockerfile given by its real path.
    symlinkSync(ctx, join(top, 'link'));
    expect(plan(['-f', join(ctx, 'Dockerfile'), 'link'], top).dockerfile).toBe('Dockerfile');
    // A -f that does not exist is the walk's to report (one message, naming the path and -f).
    expect(plan(['-f', 'ctx/nope/Dockerfile', 'ctx'], top).dockerfile).toBe('nope/Dockerfile');
  });

  it('takes --target and --no-cache, and reports every problem at once', () => {
    const { top, ctx } = workspace({ Dockerfile: 'FROM scratch\n' });
    expect(plan(['--target', 'dev', '--no-cache'], ctx).request).toEqual({ target: 'dev', no_cache: true });
    expect(problems(['a', 'b'], top)).toEqual(['give one folder to build (the context); got "a", "b"']);
    expect(problems(['nope'], top)).toEqual(['there is no folder nope: give the folder to build (the context), e.g. .']);
    expect(problems(['ctx/Dockerfile'], top)).toEqual(['ctx/Dockerfile is not a folder: give the folder to build (the context), e.g. .']);
    expect(problems(['https://github.com/a/b.git'], top)[0]).toMatch(/is not a folder: this build uploads a folder/);
    expect(problems(['--squash'], top)[0]).toMatch(/Unknown option '--squash'/);
    expect(problems(['ctx', '-t', 'a', '-t', 'b', '--build-arg', '=x', '--secret', 'id=s,env=NOPE'], top)).toHaveLength(3);
  });
});

describe('send with a streamed body', () => {
  let server: Server | undefined;
  afterEach(() => {
    server?.closeAllConnections();
    server?.close();
    server = undefined;
  });

  /** A server that answers with what it received; `onChunk` sees each chunk as it arrives. */
  async function echo(onChunk: (c: Buffer) => void = () => {}): Promise<string> {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => {
        chunks.push(c);
        onChunk(c);
      });
      req.on('end', () =>
        res.end(
          JSON.stringify({ length: req.headers['content-length'], chunked: req.headers['transfer-encoding'] ?? null, sha256: sha(Buffer.concat(chunks)) }),
        ),
      );
      req.on('error', () => {});
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  }

  it('sends the stream chunk by chunk with its content-length: a chunk is read only after the previous one reached the server', async () => {
    const parts = [randomBytes(70_000), randomBytes(70_000), randomBytes(5)];
    let arrived = 0;
    let waiting: (() => void) | null = null;
    const url = await echo((c) => {
      arrived += c.length;
      waiting?.();
    });
    let i = 0;
    let progress = 0;
    const stream = new Readable({
      async read() {
        if (i === parts.length) return void this.push(null);
        const before = parts.slice(0, i).reduce((n, p) => n + p.length, 0);
        // Not in memory ahead of the connection: the next part is made only once the server has the previous ones.
        while (arrived < before)
          await new Promise<void>((r) => {
            waiting = r;
          });
        this.push(parts[i++]);
      },
    });
    const res = await send(url, {
      method: 'PUT',
      headers: {},
      body: {
        stream,
        length: 140_005,
        onProgress: (n) => {
          progress += n;
        },
      },
    });
    expect(await res.json()).toEqual({ length: '140005', chunked: null, sha256: sha(Buffer.concat(parts)) });
    expect(progress).toBe(140_005);
  });

  it('fails with a BodyError when the stream ends short of its length or runs past it, or cannot be read', async () => {
    const url = await echo();
    await expect(send(url, { method: 'PUT', headers: {}, body: { stream: Readable.from([Buffer.from('abc')]), length: 10 } })).rejects.toThrow(
      new BodyError('the body ended after 3 of the 10 bytes announced'),
    );
    await expect(send(url, { method: 'PUT', headers: {}, body: { stream: Readable.from([Buffer.from('abcdef')]), length: 4 } })).rejects.toThrow(
      new BodyError('the body is longer than the 4 bytes announced'),
    );
    const failing = new Readable({
      read() {
        this.destroy(Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT' }));
      },
    });
    const e = await send(url, { method: 'PUT', headers: {}, body: { stream: failing, length: 4 } }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(BodyError);
    expect(((e as BodyError).cause as NodeJS.ErrnoException).code).toBe('ENOENT');
  });
});

// ---------------------------------------------------------------------------------------------------------------
// The command against a fake server

interface FakeOptions {
  /** Blobs the server has before the upload. */
  have?: string[];
  /** The build's end: its status and reason. */
  end?: { status: string; reason?: string };
  /** Answer the first N blob uploads with 400 (the content did not hash to its name). */
  badPuts?: number;
  /** Answer the first build request with 409 naming these blobs (forgetting them first). */
  missingOnBuild?: string[];
  /** Answer POST /api/uploads with this error instead. */
  uploadError?: { status: number; body: unknown };
  /** Called as POST /api/uploads arrives (before answering). */
  onUpload?: (n: number) => void;
  /** Called as the log is asked for; the log stays open until a cancel when `holdLog`. */
  onLog?: () => void;
  holdLog?: boolean;
  /** The platforms the succeeded build's answer lists (none: the answer has no `platforms`, as an older server's). */
  platforms?: { platform: string; digest: string }[];
}

interface Fake {
  url: string;
  uploads: { folder: string; entries: unknown[] }[];
  puts: { sha: string; bytes: Buffer; length: string | undefined; type: string | undefined }[];
  builds: Record<string, unknown>[];
  cancels: number;
  /** Every request, `METHOD path`. */
  calls: string[];
}

const DIGEST = `sha256:${'d'.repeat(64)}`;

async function fakeServer(opts: FakeOptions = {}): Promise<Fake> {
  const have = new Set(opts.have ?? []);
  const fake: Fake = { url: '', uploads: [], puts: [], builds: [], cancels: 0, calls: [] };
  let badPuts = opts.badPuts ?? 0;
  let missingOnBuild = opts.missingOnBuild;
  let status = 'queued';
  let endLog: (() => void) | null = null;
  const view = () => ({
    id: 7,
    status,
    image: 'ctx',
    image_refs: ['localhost:5000/alice/ctx:dev'],
    digest: status === 'succeeded' ? DIGEST : null,
    ...(opts.platforms ? { platforms: status === 'succeeded' ? opts.platforms : [] } : {}),
    reason: status === 'failed' || status === 'canceled' ? (opts.end?.reason ?? 'canceled by alice') : null,
    web_url: `${fake.url}/builds/7`,
    log_url: `${fake.url}/api/builds/7/log`,
  });
  const json = (res: ServerResponse, code: number, body: unknown) => {
    res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const path = req.url ?? '';
    fake.calls.push(`${req.method} ${path}`);
    if (req.headers.authorization !== 'Bearer chb_test') return json(res, 401, { error: { code: 'unauthorized', message: 'no' } });
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    let m: RegExpExecArray | null;
    if (req.method === 'POST' && path === '/api/uploads') {
      const manifest = JSON.parse(body.toString()) as Fake['uploads'][number];
      fake.uploads.push(manifest);
      opts.onUpload?.(fake.uploads.length);
      if (opts.uploadError) return json(res, opts.uploadError.status, opts.uploadError.body);
      const missing = [...new Set((manifest.entries as { sha256?: string }[]).flatMap((e) => (e.sha256 && !have.has(e.sha256) ? [e.sha256] : [])))];
      return json(res, 201, {
        id: `up${fake.uploads.length}`,
        folder: manifest.folder,
        files: 0,
        bytes: 0,
        missing,
        missing_bytes: 0,
        expires_at: '2030-01-01T00:00:00Z',
      });
    }
    if (req.method === 'PUT' && (m = /^\/api\/uploads\/(up\d+)\/blobs\/([0-9a-f]{64})$/.exec(path))) {
      fake.puts.push({ sha: m[2]!, bytes: body, length: req.headers['content-length'], type: req.headers['content-type'] });
      if (badPuts > 0 || sha(body) !== m[2]) {
        badPuts--;
        const path = (fake.uploads.at(-1)!.entries as { path: string; sha256?: string }[]).find((e) => e.sha256 === m![2])!.path;
        return json(res, 400, {
          error: {
            code: 'content_mismatch',
            message: `${path} changed while it was uploaded (its bytes are not the sha256 the manifest gave): run the build again`,
          },
        });
      }
      have.add(m[2]!);
      return json(res, 201, { sha256: m[2], size: body.length });
    }
    if (req.method === 'POST' && (m = /^\/api\/uploads\/(up\d+)\/build$/.exec(path))) {
      fake.builds.push(JSON.parse(body.toString()) as Record<string, unknown>);
      if (missingOnBuild) {
        for (const s of missingOnBuild) have.delete(s);
        const missing = missingOnBuild;
        missingOnBuild = undefined;
        return json(res, 409, { error: { code: 'conflict', message: 'blobs are missing', details: { missing } } });
      }
      return json(res, 201, view());
    }
    if (req.method === 'GET' && path === '/api/builds/7/log?follow=1') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('#1 [1/2] FROM scratch\n');
      opts.onLog?.();
      if (opts.holdLog && status !== 'canceled')
        await new Promise<void>((r) => {
          endLog = r;
        });
      else status = opts.end?.status ?? 'succeeded';
      res.end(`--- ${status}\n`);
      return;
    }
    if (req.method === 'POST' && path === '/api/builds/7/cancel') {
      fake.cancels++;
      status = 'canceled';
      endLog?.();
      return json(res, 200, view());
    }
    if (req.method === 'GET' && path === '/api/builds/7') return json(res, 200, view());
    json(res, 404, { error: { code: 'not_found', message: `no route ${req.method} ${path}` } });
  };
  const server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  servers.push(server);
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return fake;
}

const servers: Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    s.close();
  }
});

/** Collects what is written to it. */
class Sink extends Writable {
  text = '';
  isTTY?: boolean;
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

/** runBuild against `fake`, with its output caught and Ctrl-C pressed by the test through `press`. */
function harness(fake: Fake, cache: string, tty = false) {
  const stdout = new Sink();
  const stderr = new Sink();
  if (tty) stderr.isTTY = true;
  let handler: (() => void) | null = null;
  const exits: number[] = [];
  let clock = 0;
  const io: Partial<BuildIo> = {
    stdout,
    stderr,
    cacheDir: cache,
    onInterrupt: (h) => {
      handler = h;
      return () => {
        handler = null;
      };
    },
    exit: (code) => {
      exits.push(code);
    },
    // Each look at the clock is 3 s later, so every progress update is shown.
    now: () => (clock += 3000),
  };
  return {
    stdout,
    stderr,
    exits,
    io,
    press: () => handler?.(),
    listening: () => handler !== null,
    run: (p: BuildPlan) => runBuild({ url: fake.url, token: 'chb_test' }, p, io),
  };
}

describe('runBuild', () => {
  it('sends the walk as the manifest, uploads only the missing blobs (one per content, streamed with its bytes), builds, follows and prints the reference', async () => {
    const big = randomBytes(3 * 1024 * 1024 + 17);
    const { ctx, cache, top } = workspace(
      {
        Dockerfile: 'FROM scratch\nCOPY . /\n',
        'a.txt': 'shared\n',
        'copy-of-a.txt': 'shared\n',
        'sub/big.bin': big,
        'on-server.txt': 'already there\n',
        '.dockerignore': 'ignored\n',
        'ignored/secret.key': 'never leaves',
      },
      'web app',
    );
    const fake = await fakeServer({ have: [sha('already there\n')] });
    const h = harness(fake, cache);
    const p = plan(['--build-arg', 'A=1', '--secret', 'id=tok,env=TOKEN', '--platform', 'linux/amd64'], ctx, { TOKEN: 'the-secret-value' });
    expect(await h.run(p)).toBe(0);

    const walk = await walkContext(ctx, { dockerfile: 'Dockerfile', cacheDir: join(top, 'other-cache') });
    if (!walk.ok) throw new Error(walk.problem);
    expect(fake.uploads).toEqual([{ folder: 'web app', entries: JSON.parse(JSON.stringify(walk.entries)) }]);
    expect(JSON.stringify(fake.uploads)).not.toContain('secret.key');

    const contents = ['FROM scratch\nCOPY . /\n', 'shared\n', big, 'ignored\n'];
    expect(fake.puts.map((x) => x.sha).sort()).toEqual(contents.map(sha).sort());
    for (const put of fake.puts) {
      expect(sha(put.bytes)).toBe(put.sha);
      expect(put.length).toBe(String(put.bytes.length));
      expect(put.type).toBe('application/octet-stream');
    }
    expect(fake.builds).toEqual([{ dockerfile: 'Dockerfile', build_args: { A: '1' }, secrets: { tok: 'the-secret-value' }, platforms: ['linux/amd64'] }]);
    expect(fake.calls.slice(-3)).toEqual(['POST /api/uploads/up1/build', 'GET /api/builds/7/log?follow=1', 'GET /api/builds/7']);

    expect(h.stdout.text).toBe(`#1 [1/2] FROM scratch\n--- succeeded\nlocalhost:5000/alice/ctx:dev@${DIGEST}\n`);
    // Already there: on-server.txt (14 B) and copy-of-a.txt (7 B), whose content went up as a.txt's.
    expect(h.stderr.text).toContain('context: 6 files, 3 MiB (3 MiB uploaded, 21 B already on the server)\n');
    expect(h.stderr.text).toContain(`build #7 queued: ${fake.url}/builds/7\n`);
    expect(h.stderr.text).toMatch(/^reading context: \d+ files, /m); // plain lines: no \r when stderr is not a terminal
    expect(h.stderr.text).toMatch(/^uploading context: \d of 4 files, .* of 3 MiB$/m);
    expect(h.stderr.text).not.toContain('\r');
    expect(h.stdout.text + h.stderr.text).not.toContain('the-secret-value');
    expect(h.listening()).toBe(false);
  });

  it('draws progress in place on a terminal, and erases it before the summary', async () => {
    const { ctx, cache } = workspace({ Dockerfile: 'FROM scratch\n', 'a.txt': 'a' });
    const fake = await fakeServer();
    const h = harness(fake, cache, true);
    expect(await h.run(plan(['-t', 'web:try1'], ctx))).toBe(0);
    expect(h.stderr.text).toContain(
      '\ruploading context: 2 of 2 files, 14 B of 14 B\x1b[K\r\x1b[Kcontext: 2 files, 14 B (14 B uploaded, 0 B already on the server)\n',
    );
    expect(fake.builds).toEqual([{ tag: 'web:try1', dockerfile: 'Dockerfile' }]);
  });

  it('uploads nothing when the server has every blob', async () => {
    const { ctx, cache } = workspace({ Dockerfile: 'FROM scratch\n' });
    const fake = await fakeServer({ have: [sha('FROM scratch\n')] });
    const h = harness(fake, cache);
    expect(await h.run(plan([], ctx))).toBe(0);
    expect(fake.puts).toEqual([]);
    expect(h.stderr.text).toContain('context: 1 files, 13 B (0 B uploaded, 13 B already on the server)\n');
  });

  it('sends the Dockerfile the walk found (-f through a symlink: the file it leads to)', async () => {
    const { ctx, cache } = workspace({ 'docker/real.Dockerfile': 'FROM scratch\n' });
    symlinkSync('docker/real.Dockerfile', join(ctx, 'Dockerfile'));
    const fake = await fakeServer();
    expect(await harness(fake, cache).run(plan([], ctx))).toBe(0);
    expect(fake.builds).toEqual([{ dockerfile: 'docker/real.Dockerfile' }]);
  });

  it("walks again and uploads again when a file changed while it was uploaded (the server's hash check)", async () => {
    const { ctx, cache } = workspace({ Dockerfile: 'FROM scratch\n' });
    const fake = await fakeServer({ badPuts: 1 });
    const h = harness(fake, cache);
    expect(await h.run(plan([], ctx))).toBe(0);
    expect(fake.uploads).toHaveLength(2);
    expect(fake.puts).toHaveLength(2);
    expect(h.stderr.text).toContain('Dockerfile changed since the folder was read: reading the folder again\n');
    expect(h.stderr.text.match(/^context: /gm)).toHaveLength(1);
  });

  it('walks again when a file grew between the walk and its upload, and sends its new content', async () => {
    const { ctx, cache } = workspace({ Dockerfile: 'FROM scratch\n', 'log.txt': 'one\n' });
    const fake = await fakeServer({
      onUpload: (n) => {
        if (n === 1) appendFileSync(join(ctx, 'log.txt'), 'two\n');
      },
    });
    const h = harness(fake, cache);
    expect(await h.run(plan([], ctx))).toBe(0);
    expect(fake.uploads).toHaveLength(2);
    const second = fake.uploads[1]!.entries as { path: string; sha256?: string }[];
    expect(second.find((e) => e.path === 'log.txt')!.sha256).toBe(sha('one\ntwo\n'));
    expect(
      fake.puts
        .filter((x) => sha(x.bytes) === x.sha)
        .map((x) => x.bytes.toString())
        .sort(),
    ).toEqual(['FROM scratch\n', 'one\ntwo\n']);
    expect(h.stderr.text).toContain('log.txt changed since the folder was read: reading the folder again\n');
  });

  it('gives up after a second change, naming the file', async () => {
    const { ctx, cache } = workspace({ Dockerfile: 'FROM scratch\n' });
    const fake = await fakeServer({ badPuts: 2 });
    const e = await harness(fake, cache)
      .run(plan([], ctx))
      .catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ClientError);
    expect((e as Error).message).toBe('Dockerfile changed while it was uploaded: wait for what writes it to finish (or add it to .dockerignore) and run again');
    expect(fake.builds).toEqual([]);
  });

  it('uploads the blobs a 409 names and asks for the build once more', async () => {
    const { ctx, cache } = workspace({ Dockerfile: 'FROM scratch\n', 'a.txt': 'a\n' });
    const fake = await fakeServer({ missingOnBuild: [sha('a\n')] });
    const h = harness(fake, cache);
    expect(await h.run(plan([], ctx))).toBe(0);
    expect(fake.builds).toHaveLength(2);
    expect(fake.puts.map((x) => x.bytes.toString())).toEqual(expect.arrayContaining(['a\n']));
    expect(fake.puts).toHaveLength(3);
  });

  it('reports a missing Dockerfile before anything is sent, naming it and -f', async () => {
    const { ctx, cache } = workspace({ 'app.js': '' });
    const fake = await fakeServer();
    const e = await harness(fake, cache)
      .run(plan([], ctx))
      .catch((x: unknown) => x);
    expect((e as Error).message).toBe(
      `there is no Dockerfile at ${join(ctx, 'Dockerfile')}: give the Dockerfile's path with -f (e.g. codehub-build build -f docker/Dockerfile ${ctx})`,
    );
    expect(fake.calls).toEqual([]);
  });

  it('says a 413 as the server words it, and lists the bad entries of a 400', async () => {
    const { ctx, cache } = workspace({ Dockerfile: 'FROM scratch\n' });
    const message = 'the context is 12 GiB, over CODEHUB_MAX_UPLOAD_BYTES (10 GiB)';
    let fake = await fakeServer({ uploadError: { status: 413, body: { error: { code: 'too_large', message } } } });
    await expect(harness(fake, cache).run(plan([], ctx))).rejects.toThrow(new ClientError(message, 413, 'too_large'));
    fake = await fakeServer({
      uploadError: {
        status: 400,
        body: {
          error: {
            code: 'bad_request',
            message: '3 problems in the manifest: a: bad mode; …',
            details: { problems: ['a: bad mode', { path: 'b', problem: 'too long' }, 'c: not UTF-8'] },
          },
        },
      },
    });
    await expect(harness(fake, cache).run(plan([], ctx))).rejects.toThrow('3 problems in the manifest: a: bad mode; …\n  b: too long\n  c: not UTF-8');
  });

  it("prints a multi-platform image's platforms before the reference, which stays stdout's last line", async () => {
    const { ctx, cache } = workspace({ Dockerfile: 'FROM scratch\n' });
    const platforms = [
      { platform: 'linux/amd64', digest: `sha256:0123456789ab${'c'.repeat(52)}` },
      { platform: 'linux/arm64', digest: `sha256:fedcba987654${'e'.repeat(52)}` },
    ];
    let h = harness(await fakeServer({ platforms }), cache);
    expect(await h.run(plan([], ctx))).toBe(0);
    expect(h.stdout.text).toBe(
      `#1 [1/2] FROM scratch\n--- succeeded\nplatforms: linux/amd64 sha256:0123456789ab…, linux/arm64 sha256:fedcba987654…\nlocalhost:5000/alice/ctx:dev@${DIGEST}\n`,
    );
    h = harness(await fakeServer({ platforms: [] }), cache);
    expect(await h.run(plan([], ctx))).toBe(0);
    expect(h.stdout.text).toBe(`#1 [1/2] FROM scratch\n--- succeeded\nlocalhost:5000/alice/ctx:dev@${DIGEST}\n`);
  });

  it('exits 1 with the reason when the build fails', async () => {
    const { ctx, cache } = workspace({ Dockerfile: 'FROM scratch\n' });
    const fake = await fakeServer({ end: { status: 'failed', reason: 'RUN make: exit code 2' } });
    const h = harness(fake, cache);
    expect(await h.run(plan([], ctx))).toBe(1);
    expect(h.stderr.text).toMatch(/build #7 failed: RUN make: exit code 2\n$/);
    expect(h.stdout.text).toBe('#1 [1/2] FROM scratch\n--- failed\n');
  });

  it('exits 1 when the build was canceled by someone else, and when it is skipped', async () => {
    const { ctx, cache } = workspace({ Dockerfile: 'FROM scratch\n' });
    let h = harness(await fakeServer({ end: { status: 'canceled', reason: 'canceled by bob' } }), cache);
    expect(await h.run(plan([], ctx))).toBe(1);
    expect(h.stderr.text).toMatch(/build #7 canceled: canceled by bob\n$/);
    h = harness(await fakeServer({ end: { status: 'skipped' } }), cache);
    expect(await h.run(plan([], ctx))).toBe(1);
    expect(h.stderr.text).toMatch(/build #7 skipped\n$/);
  });

  it('cancels the build once on Ctrl-C, follows the log to its end, and exits 130', async () => {
    const { ctx, cache } = workspace({ Dockerfile: 'FROM scratch\n' });
    let h: ReturnType<typeof harness> | undefined;
    const fake = await fakeServer({ holdLog: true, onLog: () => h!.press() });
    h = harness(fake, cache);
    expect(await h.run(plan([], ctx))).toBe(130);
    expect(fake.cancels).toBe(1);
    expect(h.stderr.text).toContain('canceling build #7…\n');
    expect(h.stderr.text).toMatch(/build #7 canceled: canceled by alice\n$/);
    expect(h.stdout.text).toBe('#1 [1/2] FROM scratch\n--- canceled\n');
    expect(h.exits).toEqual([]);
  });

  it('leaves at once with 130 on a second Ctrl-C, having sent one cancel', async () => {
    const { ctx, cache } = workspace({ Dockerfile: 'FROM scratch\n' });
    let h: ReturnType<typeof harness> | undefined;
    const fake = await fakeServer({
      holdLog: true,
      onLog: () => {
        h!.press();
        h!.press();
        h!.press();
      },
    });
    h = harness(fake, cache);
    await h.run(plan([], ctx));
    expect(h.exits).toEqual([130, 130]);
    expect(fake.cancels).toBe(1);
    expect(h.stderr.text).toContain('left build #7 to the server (follow it: codehub-build logs 7 --follow)\n');
  });

  it("cancels a build Ctrl-C'd while it was being asked for, as soon as it has an id", async () => {
    const { ctx, cache } = workspace({ Dockerfile: 'FROM scratch\n' });
    const fake = await fakeServer({ holdLog: true });
    const h = harness(fake, cache);
    // Pressed as soon as the command listens, which is before it asks for the build.
    const listen = h.io.onInterrupt!;
    h.io.onInterrupt = (handler) => {
      const stop = listen(handler);
      handler();
      return stop;
    };
    expect(await h.run(plan([], ctx))).toBe(130);
    expect(fake.cancels).toBe(1);
    expect(fake.calls.indexOf('POST /api/builds/7/cancel')).toBeGreaterThan(fake.calls.indexOf('POST /api/uploads/up1/build'));
  });
});
