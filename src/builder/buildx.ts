import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BuilderDriver, BuildIO, BuildOutcome, BuildRequest, HealthReport } from './driver.js';
import { IdlePruner } from './idle-prune.js';
import { clientEnv, runSolve } from './solve.js';
import type { BuilderTls } from './tls.js';

const PLUGIN_PATHS = ['/usr/libexec/docker/cli-plugins/docker-buildx', '/usr/lib/docker/cli-plugins/docker-buildx', '/usr/local/lib/docker/cli-plugins/docker-buildx'];

/**
 * Runs the buildx plugin binary directly when it is installed: `docker buildx` would start the docker CLI
 * first and then the plugin, costing a process start per build and putting two processes between a cancel
 * signal and the solve.
 */
export function findBuildx(): string[] {
  const plugin = PLUGIN_PATHS.find((p) => existsSync(p));
  return plugin ? [plugin] : ['docker', 'buildx'];
}

/**
 * Environment variable a secret's value travels in (never on the command line). The id in hex, so that ids
 * differing only in case (npm_token, NPM_TOKEN) never share a variable.
 */
export const secretEnvName = (id: string): string => `CODEHUB_SECRET_${Buffer.from(id, 'utf8').toString('hex')}`;

/** The exact buildx arguments for a request; the context tar comes on stdin (`-`). */
export function buildxArgs(req: BuildRequest, opts: { builder?: string; metadataFile: string }): string[] {
  const args = ['build', '--progress=rawjson', '--metadata-file', opts.metadataFile, '--provenance=false'];
  if (opts.builder) args.push('--builder', opts.builder);
  args.push('-f', req.dockerfile);
  if (req.target) args.push('--target', req.target);
  if (req.noCache) args.push('--no-cache');
  for (const [k, v] of Object.entries(req.args)) args.push('--build-arg', `${k}=${v}`);
  for (const [k, v] of Object.entries(req.labels)) args.push('--label', `${k}=${v}`);
  if (req.platforms.length) args.push('--platform', req.platforms.join(','));
  for (const id of Object.keys(req.secrets)) args.push('--secret', `id=${id},env=${secretEnvName(id)}`);
  for (const t of req.tags) args.push('-t', t);
  args.push('--push', '-');
  return args;
}

export interface BuildxOptions {
  /** buildx builder to use; undefined is the current builder (the local docker driver). */
  builder?: string;
  /** A tcp:// buildkitd address: a buildx "remote" builder for it is created (idempotently) before use. */
  remote?: string;
  /** TLS files for the remote buildkitd (its CA, a client certificate and key, the server name to check). */
  tls?: BuilderTls;
  /**
   * Docker client settings of every buildx and docker call (DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH):
   * the docker driver of another daemon, for builds, inspects and image pruning alike.
   */
  env?: Record<string, string>;
  /** The command to run: the buildx plugin binary itself, or ['docker', 'buildx']. */
  command?: string[];
  /** How long a docker-driver builder must be idle before its images are removed from dockerd's store. */
  pruneIdleMs?: number;
}

/** The buildx builder name codehub-build gives a remote buildkitd address. */
export const remoteBuilderName = (addr: string): string => 'codehub-' + createHash('sha256').update(addr).digest('hex').slice(0, 10);

/** One CSV field of a `--driver-opt` value (buildx reads it as CSV): quoted when a path holds `,` or `"`. */
const csvField = (v: string): string => (/[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);

/**
 * `buildx create` for a remote buildkitd. `--node` makes a repeat call update the builder (new certificate
 * paths included) rather than fail.
 */
export function remoteCreateArgs(name: string, addr: string, tls?: BuilderTls): string[] {
  const args = ['create', '--name', name, '--node', `${name}0`, '--driver', 'remote'];
  if (tls) {
    const opts = [`cacert=${tls.ca}`, ...(tls.cert && tls.key ? [`cert=${tls.cert}`, `key=${tls.key}`] : []), ...(tls.servername ? [`servername=${tls.servername}`] : [])];
    args.push('--driver-opt', opts.map(csvField).join(','));
  }
  return [...args, addr];
}

/**
 * BuildKit through buildx: the local docker driver (dockerd's embedded BuildKit), a named builder, or a
 * remote buildkitd. On a docker-driver builder the pushed images also stay in dockerd's store; they are
 * removed once the builder is idle (IdlePruner).
 */
export class BuildxDriver implements BuilderDriver {
  readonly name: string;
  private command: string[];
  private builder: string | undefined;
  private ensured = false;
  /** Whether the builder is a docker driver, learned from `inspect`; images are pruned only there. */
  private dockerDriver: boolean;
  private pruner: IdlePruner;

  constructor(private opts: BuildxOptions = {}) {
    this.name = opts.remote ?? opts.builder ?? 'local';
    this.builder = opts.remote ? remoteBuilderName(opts.remote) : opts.builder;
    // Run directly, the buildx plugin takes no TLS settings from the environment (DOCKER_TLS_VERIFY and
    // DOCKER_CERT_PATH reach it only through the docker CLI) and speaks plain HTTP to a TLS daemon. Through
    // `docker buildx` it gets them; the docker CLI (25 and later) stops the plugin when it is signalled, so a
    // cancel still stops the solve (~80 ms here).
    this.command = opts.command ?? (opts.env?.DOCKER_TLS_VERIFY ? ['docker', 'buildx'] : findBuildx());
    this.dockerDriver = !opts.remote && !opts.builder;
    this.pruner = new IdlePruner(async (tags) => {
      const env = clientEnv({ ...this.opts.env, ...(this.opts.builder ? { DOCKER_CONTEXT: this.opts.builder } : {}) });
      await execa('docker', ['image', 'rm', ...tags], { env, extendEnv: false, reject: false, timeout: 60_000 });
    }, opts.pruneIdleMs);
  }

  private run(args: string[], timeout: number) {
    const [bin, ...pre] = this.command as [string, ...string[]];
    return execa(bin, [...pre, ...args], { env: clientEnv({ ...this.opts.env }), extendEnv: false, reject: false, timeout });
  }

  /** Creates the remote builder if needed; `--node` makes a repeat call update rather than fail. */
  private async ensure(): Promise<void> {
    if (this.ensured || !this.opts.remote) return;
    const name = this.builder!;
    const r = await this.run(remoteCreateArgs(name, this.opts.remote, this.opts.tls), 30_000);
    if (r.exitCode !== 0) throw new Error(`could not create buildx builder ${name} for ${this.opts.remote}: ${(r.stderr || r.stdout).trim()}`);
    this.ensured = true;
  }

  build(req: BuildRequest, io: BuildIO): Promise<BuildOutcome> {
    return this.pruner.around(() => this.solve(req, io));
  }

  /** Tags waiting to be removed from dockerd's store (for tests and /healthz detail). */
  get pendingPrune(): number {
    return this.pruner.pending;
  }

  private async solve(req: BuildRequest, io: BuildIO): Promise<BuildOutcome> {
    try {
      await this.ensure();
    } catch (e) {
      return { ok: false, code: 'infrastructure', reason: (e as Error).message, steps: [] };
    }
    const [bin, ...pre] = this.command as [string, ...string[]];
    const env = clientEnv({ ...this.opts.env, ...io.processEnv });
    for (const [id, value] of Object.entries(req.secrets)) env[secretEnvName(id)] = value;
    // buildx refuses `--builder <docker context>` for a docker-driver builder of another context; selecting
    // the context itself makes it the builder.
    const viaContext = this.dockerDriver && this.builder !== undefined;
    if (viaContext) env.DOCKER_CONTEXT = this.builder!;
    if (req.registryAuth) env.DOCKER_CONFIG = await dockerConfigWith(req.workDir, req.registryAuth);
    const outcome = await runSolve({
      bin, args: [...pre, ...buildxArgs(req, { builder: viaContext ? undefined : this.builder, metadataFile: join(req.workDir, 'metadata.json') })],
      env, stdin: io.context, metadataFile: join(req.workDir, 'metadata.json'),
    }, io);
    if (this.dockerDriver) this.pruner.add(req.tags);
    return outcome;
  }

  async health(): Promise<HealthReport> {
    try {
      await this.ensure();
    } catch (e) {
      return { ok: false, detail: (e as Error).message };
    }
    const r = await this.run(['inspect', ...(this.builder ? [this.builder] : []), '--bootstrap'], 8_000);
    if (r.timedOut) return { ok: false, detail: `builder ${this.name}: no answer within 8 s` };
    if (r.exitCode !== 0) return { ok: false, detail: `builder ${this.name}: ${(r.stderr || r.stdout || `exit ${r.exitCode}`).trim().split('\n').pop()}` };
    const status = /Status:\s*(\S+)/.exec(r.stdout)?.[1] ?? 'unknown';
    this.dockerDriver = /Driver:\s*docker\s*$/m.test(r.stdout);
    return { ok: status === 'running', detail: `builder ${this.name}: ${status}` };
  }
}

/**
 * A docker config folder in the build's scratch folder holding only this build's registry credential, with
 * the user's contexts and buildx state linked in, so that named builders are still found.
 */
async function dockerConfigWith(workDir: string, auth: NonNullable<BuildRequest['registryAuth']>): Promise<string> {
  const dir = join(workDir, 'docker-config');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const auths = { [auth.server]: { auth: Buffer.from(`${auth.username}:${auth.password}`).toString('base64') } };
  await writeFile(join(dir, 'config.json'), JSON.stringify({ auths }), { mode: 0o600 });
  const home = process.env.DOCKER_CONFIG ?? join(process.env.HOME ?? '/root', '.docker');
  for (const sub of ['contexts', 'buildx']) if (existsSync(join(home, sub))) await symlink(join(home, sub), join(dir, sub)).catch(() => {});
  return dir;
}
