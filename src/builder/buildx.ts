import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, realpath, symlink, writeFile } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { checkoutsAt, defaultCheckoutsDir, type Checkouts, type WorkTree } from '../context/checkout.js';
import { buildctlTlsArgs, buildkitdState, cacheIsEmpty } from './buildkitd.js';
import type { BuildCache, BuilderDriver, BuildIO, BuildOutcome, BuildRequest, HealthReport } from './driver.js';
import { IdlePruner } from './idle-prune.js';
import { clientEnv, runSolve } from './solve.js';
import type { BuilderTls } from './tls.js';

const PLUGIN_PATHS = [
  '/usr/libexec/docker/cli-plugins/docker-buildx',
  '/usr/lib/docker/cli-plugins/docker-buildx',
  '/usr/local/lib/docker/cli-plugins/docker-buildx',
];

/** Whether an executable of that name is on the PATH. */
export function onPath(bin: string, path = process.env.PATH ?? ''): boolean {
  return path.split(':').some((dir) => dir !== '' && existsSync(join(dir, bin)));
}

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

/** How a builder keeps the registry cache: dockerd's BuildKit exports only `inline`; a buildkitd exports `mode=max`. */
export type CacheMode = 'inline' | 'registry';

export interface BuildxArgsOptions {
  builder?: string;
  metadataFile: string;
  /** A folder context (a kept work tree) and the Dockerfile's path in it; absent: the context tar on stdin. */
  folder?: { dir: string; dockerfile: string };
  /** Default `inline` (the local docker driver). */
  cacheMode?: CacheMode;
}

/** The exact buildx arguments for a request: a folder context, or the tar on stdin (`-`). */
export function buildxArgs(req: BuildRequest, opts: BuildxArgsOptions): string[] {
  const args = ['build', '--progress=rawjson', '--metadata-file', opts.metadataFile, '--provenance=false'];
  if (opts.builder) args.push('--builder', opts.builder);
  // buildx resolves -f inside a tar context, but against its working directory for a folder.
  args.push('-f', opts.folder ? opts.folder.dockerfile : req.dockerfile);
  if (req.target) args.push('--target', req.target);
  if (req.noCache) args.push('--no-cache');
  for (const [k, v] of Object.entries(req.args)) args.push('--build-arg', `${k}=${v}`);
  for (const [k, v] of Object.entries(req.labels)) args.push('--label', `${k}=${v}`);
  if (req.platforms.length) args.push('--platform', req.platforms.join(','));
  for (const id of Object.keys(req.secrets)) args.push('--secret', `id=${id},env=${secretEnvName(id)}`);
  args.push(...buildxCacheArgs(req, opts.cacheMode ?? 'inline'));
  for (const t of req.tags) args.push('-t', t);
  args.push('--push', opts.folder ? opts.folder.dir : '-');
  return args;
}

/** A `mode=max` cache export that a registry refusing it (or its OCI index) cannot fail the build with. */
export const registryCacheExport = (ref: string): string => `type=registry,ref=${ref},mode=max,image-manifest=true,oci-mediatypes=true,ignore-error=true`;

/**
 * The registry cache arguments. The import side goes with `noCache` (a build asked to run every step must
 * not take steps from the registry either); the export stays, so the next build starts from this one.
 */
export function buildxCacheArgs(req: Pick<BuildRequest, 'cache' | 'noCache'>, mode: CacheMode): string[] {
  const cache: BuildCache | undefined = req.cache;
  if (!cache) return [];
  const args = ['--cache-to', mode === 'inline' ? 'type=inline' : registryCacheExport(cache.exportRef)];
  if (!req.noCache) for (const r of mode === 'inline' ? cache.imageRefs : cache.cacheRefs) args.push('--cache-from', `type=registry,ref=${r}`);
  return args;
}

/**
 * buildx's own config folder, where it keeps its builders and the node id that is half of BuildKit's shared
 * key for a folder context. Pinned for every call: the per-build DOCKER_CONFIG (dockerConfigWith) would
 * otherwise give buildx a new node id each build, and BuildKit would then keep no snapshot to send a
 * difference against. The operator's own folder, so the builders made with `docker buildx create` are found.
 */
export function buildxConfigDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.BUILDX_CONFIG || join(env.DOCKER_CONFIG || join(env.HOME ?? '/root', '.docker'), 'buildx');
}

/** How a build's context reaches a BuildKit client that runs its own session from a folder. */
export interface FolderContextOptions {
  /**
   * `session` (incremental): from a work tree kept per builder, repo, context and Dockerfile, so BuildKit sends
   * only what changed since its snapshot of that folder; `tar` (the default): the whole archive every build.
   */
  contextTransfer?: 'tar' | 'session';
  /** The work trees (default: those under defaultCheckoutsDir()). */
  checkouts?: Checkouts;
}

/**
 * The kept work tree for this build's context and its Dockerfile's path in it, or null for the tar: when
 * the build names no commit, or the tree could not be brought to the commit (logged; the tar then behaves
 * as before).
 */
export async function keptContext(
  checkouts: Checkouts,
  builder: string,
  req: BuildRequest,
  io: BuildIO,
): Promise<{ tree: WorkTree; dockerfile: string } | null> {
  // An upload goes as the tar: its files are in the blob store, not in a git repo a work tree could follow.
  if (io.source?.kind !== 'commit' || io.signal.aborted) return null;
  const { gitDir, commit, dir, repo } = io.source;
  let tree: WorkTree;
  try {
    tree = await checkouts.take(JSON.stringify([builder, repo, dir, req.dockerfile]), { gitDir, commit, dir }, io.signal);
  } catch (e) {
    if (!io.signal.aborted) io.onLog(`context: the kept work tree could not be updated (${(e as Error).message.split('\n')[0]}); sending the whole context`);
    return null;
  }
  const dockerfile = await insideTree(tree.path, req.dockerfile);
  if (!dockerfile) {
    // A link out of the tree would be read on this machine; inside a tar BuildKit resolves it in the context.
    await tree.release();
    io.onLog(`context: ${req.dockerfile} leads out of the context; sending the whole context`);
    return null;
  }
  io.onLog(`context: work tree ${tree.name} at ${commit.slice(0, 7)} (updated in ${tree.updateMs} ms)`);
  return { tree, dockerfile };
}

/** The outcome with the files the kept work tree's update rewrote (BuildKit sends those alone), when it can tell. */
export function treeChanges(outcome: BuildOutcome, tree: WorkTree | undefined): BuildOutcome {
  return tree?.changed ? { ...outcome, contextChanged: tree.changed } : outcome;
}

/** `rel`'s absolute path in `root` when it is inside it, symlinks followed; a missing file is left to BuildKit to report. */
async function insideTree(root: string, rel: string): Promise<string | null> {
  const top = await realpath(root);
  const path = join(top, rel);
  const real = await realpath(path).catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? path : null));
  return real?.startsWith(top + sep) ? path : null;
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

export type BuildxDriverOptions = BuildxOptions & FolderContextOptions;

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
    const opts = [
      `cacert=${tls.ca}`,
      ...(tls.cert && tls.key ? [`cert=${tls.cert}`, `key=${tls.key}`] : []),
      ...(tls.servername ? [`servername=${tls.servername}`] : []),
    ];
    args.push('--driver-opt', opts.map(csvField).join(','));
  }
  return [...args, addr];
}

/**
 * BuildKit through buildx: the local docker driver (dockerd's embedded BuildKit), a named builder, or a
 * remote buildkitd. The context is a kept work tree (`contextTransfer: 'session'`: buildx's own session sends
 * what changed since BuildKit's snapshot of that folder, and applies `.dockerignore` before sending) or the
 * commit's tar on stdin. On a docker-driver builder the pushed images also stay in dockerd's store; they are
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
  private checkouts: Checkouts | null;
  private env: Record<string, string>;
  identity?: string;
  cachePrunedAt?: number;

  /** A remote or named builder (a standalone BuildKit) pushes the index itself; the docker driver makes one platform. */
  get multiPlatform(): boolean {
    return !this.dockerDriver;
  }

  constructor(private opts: BuildxDriverOptions = {}) {
    this.name = opts.remote ?? opts.builder ?? 'local';
    this.builder = opts.remote ? remoteBuilderName(opts.remote) : opts.builder;
    // Run directly, the buildx plugin takes no TLS settings from the environment (DOCKER_TLS_VERIFY and
    // DOCKER_CERT_PATH reach it only through the docker CLI) and speaks plain HTTP to a TLS daemon. Through
    // `docker buildx` it gets them; the docker CLI (25 and later) stops the plugin when it is signalled, so a
    // cancel still stops the solve (~80 ms here).
    this.command = opts.command ?? (opts.env?.DOCKER_TLS_VERIFY ? ['docker', 'buildx'] : findBuildx());
    this.dockerDriver = !opts.remote && !opts.builder;
    this.checkouts = opts.contextTransfer === 'session' ? (opts.checkouts ?? checkoutsAt(defaultCheckoutsDir())) : null;
    this.env = { ...opts.env, BUILDX_CONFIG: buildxConfigDir() };
    this.pruner = new IdlePruner(async (tags) => {
      const env = clientEnv({ ...this.opts.env, ...(this.opts.builder ? { DOCKER_CONTEXT: this.opts.builder } : {}) });
      await execa('docker', ['image', 'rm', ...tags], { env, extendEnv: false, reject: false, timeout: 60_000 });
    }, opts.pruneIdleMs);
  }

  private run(args: string[], timeout: number) {
    const [bin, ...pre] = this.command as [string, ...string[]];
    return execa(bin, [...pre, ...args], { env: clientEnv(this.env), extendEnv: false, reject: false, timeout });
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
      return { ok: false, code: 'infrastructure', problem: (e as Error).message, steps: [] };
    }
    // Keyed by the daemon too: the fallbacks of two Engine API builders are both named `local`.
    const builderKey = this.opts.env?.DOCKER_HOST ? `${this.name}@${this.opts.env.DOCKER_HOST}` : this.name;
    const kept = this.checkouts ? await keptContext(this.checkouts, builderKey, req, io) : null;
    try {
      return treeChanges(await this.solveWith(req, io, kept && { dir: kept.tree.path, dockerfile: kept.dockerfile }), kept?.tree);
    } finally {
      await kept?.tree.release();
    }
  }

  private async solveWith(req: BuildRequest, io: BuildIO, folder: BuildxArgsOptions['folder'] | null): Promise<BuildOutcome> {
    const [bin, ...pre] = this.command as [string, ...string[]];
    const env = clientEnv({ ...this.env, ...io.processEnv });
    for (const [id, value] of Object.entries(req.secrets)) env[secretEnvName(id)] = value;
    // buildx refuses `--builder <docker context>` for a docker-driver builder of another context; selecting
    // the context itself makes it the builder.
    const viaContext = this.dockerDriver && this.builder !== undefined;
    if (viaContext) env.DOCKER_CONTEXT = this.builder!;
    if (req.registryAuth) env.DOCKER_CONFIG = await dockerConfigWith(req.workDir, req.registryAuth);
    const metadataFile = join(req.workDir, 'metadata.json');
    const args = buildxArgs(req, {
      builder: viaContext ? undefined : this.builder,
      metadataFile,
      cacheMode: this.dockerDriver ? 'inline' : 'registry',
      ...(folder ? { folder } : {}),
    });
    const outcome = await runSolve({ bin, args: [...pre, ...args], env, stdin: folder ? null : io.context, metadataFile }, io);
    if (this.dockerDriver) this.pruner.add(req.tags);
    return outcome.ok && req.cache && !this.dockerDriver ? { ...outcome, cacheExportedTo: req.cache.exportRef } : outcome;
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
    if (status === 'running' && this.opts.remote) await this.readRemoteState();
    return { ok: status === 'running', detail: `builder ${this.name}: ${status}${this.identity ? ` (${this.identity})` : ''}` };
  }

  /**
   * Who answers at the remote buildkitd and whether its cache is empty (for the cache decision). buildx shows no
   * worker id, so that takes `buildctl` on the PATH; without it the identity stays unknown and `buildx du` still
   * tells an empty cache (a replaced buildkitd's, until its first build).
   */
  private async readRemoteState(): Promise<void> {
    if (onPath('buildctl')) {
      const state = await buildkitdState('buildctl', ['--addr', this.opts.remote!, ...buildctlTlsArgs(this.opts.tls)]);
      if (state.ok) {
        this.identity = state.identity ?? this.identity;
        if (state.empty) this.cachePrunedAt = Date.now();
        return;
      }
    }
    const du = await this.run(['du', '--builder', this.builder!], 8_000);
    if (du.exitCode === 0 && cacheIsEmpty(String(du.stdout))) this.cachePrunedAt = Date.now();
  }
}

/**
 * A docker config folder in the build's scratch folder holding only this build's registry credential, with
 * the user's contexts and buildx state linked in, so that named builders are still found.
 */
export async function dockerConfigWith(workDir: string, auth: NonNullable<BuildRequest['registryAuth']>): Promise<string> {
  const dir = join(workDir, 'docker-config');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const auths = { [auth.server]: { auth: Buffer.from(`${auth.username}:${auth.password}`).toString('base64') } };
  await writeFile(join(dir, 'config.json'), JSON.stringify({ auths }), { mode: 0o600 });
  const home = process.env.DOCKER_CONFIG ?? join(process.env.HOME ?? '/root', '.docker');
  for (const sub of ['contexts', 'buildx']) if (existsSync(join(home, sub))) await symlink(join(home, sub), join(dir, sub)).catch(() => {});
  return dir;
}
