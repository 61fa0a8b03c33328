import { execa } from 'execa';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import './answer-shapes.js';
import { PACKAGE_ROOT } from '../../src/paths.js';
import { RegistryClient } from '../../src/registry/client.js';
import { loadOrCreateTokenKey, parseScope, TokenIssuer } from '../../src/registry/token.js';

const CLI = join(PACKAGE_ROOT, 'dist', 'src', 'cli.js');
/**
 * An explicitly open registry (`npm test` starts it: `scripts/stack.sh registry up 127.0.0.1:5001 --with-base`) for the
 * builder drivers' own tests, which run BuildKit with no server (so no token realm) behind them. Every
 * server a test starts pushes to a token registry of its own instead (TestServer.registry), as a deployment
 * does, and tests reach it by logging in.
 */
export const OPEN_REGISTRY = 'localhost:5001';

/** Fails with the command that fixes it when the local stack or the build output is missing. */
export function requireStack(): void {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` (npm test does it)`);
  try {
    execFileSync('bash', [join(PACKAGE_ROOT, 'scripts', 'stack.sh'), 'status'], { stdio: 'pipe' });
  } catch (e) {
    throw new Error(`the build stack is not running (${(e as { stdout?: Buffer }).stdout}); start it: bash scripts/stack.sh up`);
  }
  if (spawnSync('curl', ['-fsS', '-o', '/dev/null', `http://${OPEN_REGISTRY}/v2/`]).status !== 0) {
    throw new Error(`the drivers' open test registry ${OPEN_REGISTRY} does not answer; start it: bash scripts/stack.sh registry up 127.0.0.1:5001 --with-base`);
  }
}

/** `scripts/stack.sh <args>`: its exit code and output, never throwing. */
export const stack = (...args: string[]) => execa('bash', [join(PACKAGE_ROOT, 'scripts', 'stack.sh'), ...args], { reject: false, all: true });

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `get` every 50 ms until `ok` holds; throws naming `what` and the last value when `timeoutMs` passes. */
export async function waitFor<T>(what: string, get: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let v = await get();
  while (!ok(v)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v)}`);
    await sleep(50);
    v = await get();
  }
  return v;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** A unique, valid owner name per test run, so runs never meet in the shared registry. */
export function uniqueName(base: string): string {
  return `${base}-${Date.now().toString(36)}${Math.floor(Math.random() * 1e4).toString(36)}`;
}

/** Token registries started for servers of this test file; removed with their data when the file ends. */
const ownRegistries = new Set<string>();
export async function removeOwnRegistries(): Promise<void> {
  for (const addr of ownRegistries) await stack('token-registry', 'down', addr, '--purge');
  ownRegistries.clear();
}
// Only under vitest: the benchmarks import this module too, and call removeOwnRegistries themselves.
if (process.env.VITEST) afterAll(removeOwnRegistries);

/** A registry as a client reaches it: its address and, for token auth, how to answer its challenge. */
export interface RegistryAccess {
  addr: string;
  /** A bearer token for a challenge's scope (`repository:alice/app:pull`); none for an open registry. */
  bearer?: (scope: string) => string;
}

/**
 * The real server, as an operator runs it: `codehub-build serve` in its own process. Unless the test names a
 * registry (CODEHUB_REGISTRY), it gets a token registry of its own (scripts/stack.sh token-registry) whose
 * realm it is, as on the default stack: builds push with their credential, tests log in to look.
 */
export class TestServer {
  proc: ChildProcess | null = null;
  logs: string[] = [];
  /** What the server printed on stdout (not its log): the first start's admin token. */
  stdout = '';
  readonly url: string;

  private constructor(
    readonly dataDir: string,
    readonly port: number,
    private extraEnv: Record<string, string>,
  ) {
    this.url = `http://127.0.0.1:${port}`;
  }

  static async start(opts: { dataDir?: string; port?: number; env?: Record<string, string> } = {}): Promise<TestServer> {
    requireStack();
    const env = { ...opts.env };
    const own = env.CODEHUB_REGISTRY === undefined ? `127.0.0.1:${await freePort()}` : null;
    if (own) env.CODEHUB_REGISTRY = own;
    const s = new TestServer(opts.dataDir ?? mkdtempSync(join(tmpdir(), 'chb-e2e-')), opts.port ?? (await freePort()), env);
    if (own) {
      // The key pair the server would make at its first start, made first, so the registry answers (and the
      // server's health check finds it writable) from the start.
      s.tokenKey();
      const up = await stack('token-registry', 'up', own, `${s.url}/registry/token`, join(s.dataDir, 'secrets', 'registry-token.crt'));
      if (up.exitCode !== 0) throw new Error(`the server's token registry on ${own} did not start:\n${up.all}`);
      ownRegistries.add(own);
    }
    await s.boot();
    return s;
  }

  private tokenKey() {
    return loadOrCreateTokenKey(join(this.dataDir, 'secrets', 'registry-token.key'), join(this.dataDir, 'secrets', 'registry-token.crt'));
  }

  private access: RegistryAccess | null = null;

  /**
   * The registry as its operator reads it: tokens signed with the server's own key, for any scope asked. Made
   * once (the key pair stays with the data dir); tests read it in loops.
   */
  get registryAccess(): RegistryAccess {
    if (!this.access) {
      const { key, certDer } = this.tokenKey();
      const issuer = new TokenIssuer(key, certDer, this.env.CODEHUB_REGISTRY_SERVICE ?? 'codehub-build-registry');
      this.access = { addr: this.registry, bearer: (scope) => issuer.issue('admin', [parseScope(scope)!]).token };
    }
    return this.access;
  }

  /** A Registry v2 client on this server's registry, reading with the operator's tokens. */
  registryClient(): RegistryClient {
    const access = this.registryAccess;
    return new RegistryClient(access.addr, 5000, access.bearer);
  }

  /** A docker config folder of its own, signed in to this server's registry as `user` by `docker login` (or empty). */
  async dockerConfig(user?: string, token?: string): Promise<string> {
    const config = mkdtempSync(join(tmpdir(), 'chb-docker-'));
    writeFileSync(join(config, 'config.json'), '{}');
    if (user) {
      const login = await execa('docker', ['login', '-u', user, '--password-stdin', this.registry], {
        input: token,
        env: { DOCKER_CONFIG: config },
        reject: false,
        all: true,
      });
      if (login.exitCode !== 0) throw new Error(`docker login ${this.registry} as ${user} failed: ${login.all}`);
    }
    return config;
  }

  /**
   * The docker CLI signed in to this server's registry as `user` with `docker login` (a config folder of its
   * own, so that parallel tests never share credentials), or anonymous without a user.
   */
  async docker(user?: string, token?: string): Promise<(...args: string[]) => Promise<{ exitCode: number; all: string }>> {
    const env = { DOCKER_CONFIG: await this.dockerConfig(user, token) };
    return async (...args: string[]) => {
      const r = await execa('docker', args, { env, reject: false, all: true });
      return { exitCode: r.exitCode ?? -1, all: r.all ?? '' };
    };
  }

  get env(): NodeJS.ProcessEnv {
    return {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      CODEHUB_DATA_DIR: this.dataDir,
      CODEHUB_PORT: String(this.port),
      CODEHUB_HOST: '127.0.0.1',
      // No scheduled gc unless a test asks: tests run `codehub-build gc` when they mean it.
      CODEHUB_LOG_LEVEL: 'debug',
      CODEHUB_GC_INTERVAL: '0',
      ...this.extraEnv,
    };
  }

  /** The registry this server pushes to (host:port), as builds and docker see it. */
  get registry(): string {
    return this.env.CODEHUB_REGISTRY!;
  }

  async boot(): Promise<void> {
    // Run as an operator does (`codehub-build serve`): the file's own #! line carries the server's Node flags.
    const proc = spawn(CLI, ['serve'], { env: this.env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    proc.stderr!.setEncoding('utf8');
    proc.stderr!.on('data', (d: string) => this.logs.push(...d.split('\n').filter(Boolean)));
    proc.stdout!.on('data', (d: Buffer) => {
      this.stdout += d.toString();
    });
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      if (proc.exitCode !== null) throw new Error(`server exited with ${proc.exitCode}:\n${this.logs.join('\n')}`);
      try {
        await fetch(`${this.url}/healthz`);
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    throw new Error(`server did not answer within 20 s:\n${this.logs.join('\n')}`);
  }

  /** Stops the process (SIGTERM, or SIGKILL to simulate a crash) and waits for it to exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill(signal);
    await exited;
  }

  /** `codehub-build <args>` against this server's data dir and URL. */
  cli(args: string[], env: Record<string, string> = {}, input?: string): { status: number; stdout: string; stderr: string } {
    const r = spawnSync(process.execPath, [CLI, ...args], {
      env: { ...this.env, CODEHUB_URL: this.url, ...env },
      stdio: 'pipe',
      ...(input !== undefined ? { input } : {}),
    });
    return { status: r.status ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
  }

  /** `codehub-build <args>` in a child process the event loop does not wait on (for CLI runs beside pushes). */
  async cliAsync(args: string[], env: Record<string, string> = {}): Promise<{ status: number; stdout: string; stderr: string }> {
    const r = await execa(process.execPath, [CLI, ...args], { env: { ...this.env, CODEHUB_URL: this.url, ...env }, extendEnv: false, reject: false });
    return { status: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr };
  }

  /** The admin token the server's first start printed on stdout (throws when it printed none). */
  get firstAdminToken(): string {
    const token = this.stdout.match(/first start: created user admin[^\n]*\n(chb_\S+)/)?.[1];
    if (!token) throw new Error(`the server printed no admin token at its first start: ${JSON.stringify(this.stdout)}`);
    return token;
  }

  /** The client CLI downloaded from this server into `dir` (as a workspace gets it); returns its path. */
  async downloadCli(dir: string): Promise<string> {
    const res = await fetch(`${this.url}/downloads/codehub-build`);
    if (res.status !== 200) throw new Error(`GET /downloads/codehub-build answered ${res.status}`);
    const path = join(dir, 'codehub-build');
    writeFileSync(path, Buffer.from(await res.arrayBuffer()), { mode: 0o755 });
    return path;
  }

  /** Adds a user with the CLI and returns the token (the last line it prints). */
  addUser(name: string): string {
    const r = this.cli(['user', 'add', name]);
    if (r.status !== 0) throw new Error(`user add ${name} failed: ${r.stderr}`);
    return r.stdout.trim().split('\n').pop()!;
  }

  async api<T = any>(path: string, token: string): Promise<{ status: number; body: T }> {
    const res = await fetch(this.url + path, { headers: { authorization: `Bearer ${token}` } });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      /* a log is text */
    }
    return { status: res.status, body: body as T };
  }

  /** Polls the API until every build of `commit` is in a terminal state; returns them oldest first. */
  async waitForBuilds(commit: string, token: string, opts: { count?: number; timeoutMs?: number } = {}): Promise<any[]> {
    const deadline = Date.now() + (opts.timeoutMs ?? 90_000);
    let last: any[] = [];
    while (Date.now() < deadline) {
      const { body } = await this.api<{ builds: any[] }>(`/api/builds?commit=${commit}&limit=200`, token);
      last = body.builds ?? [];
      if (last.length >= (opts.count ?? 1) && last.every((b) => ['succeeded', 'failed', 'canceled', 'skipped'].includes(b.status))) {
        return last.reverse();
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`builds of ${commit} not finished in time: ${JSON.stringify(last.map((b) => [b.id, b.status]))}\n${this.logs.slice(-30).join('\n')}`);
  }

  gitUrl(user: string, token: string, owner: string, repo: string): string {
    return `http://${user}:${token}@127.0.0.1:${this.port}/git/${owner}/${repo}.git`;
  }
}
