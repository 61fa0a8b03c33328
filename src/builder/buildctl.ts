import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { checkoutsAt, defaultCheckoutsDir, type Checkouts } from '../context/checkout.js';
import { dockerConfigWith, keptContext, registryCacheExport, secretEnvName, treeChanges, type FolderContextOptions } from './buildx.js';
import { buildctlTlsArgs, buildkitdState } from './buildkitd.js';
import type { BuilderDriver, BuildIO, BuildOutcome, BuildRequest, HealthReport } from './driver.js';
import { clientEnv, runSolve } from './solve.js';
import type { BuilderTls } from './tls.js';

/**
 * The exact buildctl arguments for a request. buildctl takes no tar on stdin, so the context is a folder
 * (`contextDir`), which also holds the Dockerfile. A buildkitd keeps the registry cache `mode=max`; the import
 * side goes with `noCache`, the export stays.
 */
export function buildctlArgs(req: BuildRequest, opts: { addr: string; tls?: BuilderTls; contextDir: string; metadataFile: string }): string[] {
  const args = [
    '--addr',
    opts.addr,
    ...buildctlTlsArgs(opts.tls),
    'build',
    '--progress=rawjson',
    '--frontend',
    'dockerfile.v0',
    '--local',
    `context=${opts.contextDir}`,
    '--local',
    `dockerfile=${opts.contextDir}`,
    '--opt',
    `filename=${req.dockerfile}`,
  ];
  if (req.target) args.push('--opt', `target=${req.target}`);
  if (req.noCache) args.push('--no-cache');
  for (const [k, v] of Object.entries(req.args)) args.push('--opt', `build-arg:${k}=${v}`);
  for (const [k, v] of Object.entries(req.labels)) args.push('--opt', `label:${k}=${v}`);
  if (req.platforms.length) args.push('--opt', `platform=${req.platforms.join(',')}`);
  for (const id of Object.keys(req.secrets)) args.push('--secret', `id=${id},env=${secretEnvName(id)}`);
  if (req.cache) {
    args.push('--export-cache', registryCacheExport(req.cache.exportRef));
    if (!req.noCache) for (const r of req.cache.cacheRefs) args.push('--import-cache', `type=registry,ref=${r}`);
  }
  // The image exporter takes several names in one comma-separated, quoted value.
  args.push('--output', `type=image,"name=${req.tags.join(',')}",push=true`, '--metadata-file', opts.metadataFile);
  return args;
}

/**
 * BuildKit through `buildctl` against a buildkitd address (for clusters that ship buildctl, not buildx).
 * buildctl sets no shared key of its own (every folder is `context` to buildkitd), so a kept work tree pays
 * off for the repo built last under that key; the tar path unpacks a new folder per build.
 */
export class BuildctlDriver implements BuilderDriver {
  readonly name: string;
  /** A standalone buildkitd builds every platform in one solve and pushes the index itself. */
  readonly multiPlatform = true;
  private checkouts: Checkouts | null;
  identity?: string;
  cachePrunedAt?: number;

  constructor(
    private addr: string,
    private bin = 'buildctl',
    private tls?: BuilderTls,
    opts: FolderContextOptions = {},
  ) {
    this.name = `buildctl+${addr}`;
    this.checkouts = opts.contextTransfer === 'session' ? (opts.checkouts ?? checkoutsAt(defaultCheckoutsDir())) : null;
  }

  async build(req: BuildRequest, io: BuildIO): Promise<BuildOutcome> {
    const kept = this.checkouts ? await keptContext(this.checkouts, this.name, req, io) : null;
    try {
      if (kept) return treeChanges(await this.solve(req, io, kept.tree.path), kept.tree);
      const contextDir = join(req.workDir, 'context');
      const problem = await untar(io, contextDir);
      return problem ? { ok: false, code: 'infrastructure', problem: problem, steps: [] } : await this.solve(req, io, contextDir);
    } finally {
      await kept?.tree.release();
    }
  }

  private async solve(req: BuildRequest, io: BuildIO, contextDir: string): Promise<BuildOutcome> {
    const env = clientEnv({ ...io.processEnv });
    for (const [id, value] of Object.entries(req.secrets)) env[secretEnvName(id)] = value;
    // buildctl reads registry credentials (push, cache import and export) from DOCKER_CONFIG.
    if (req.registryAuth) env.DOCKER_CONFIG = await dockerConfigWith(req.workDir, req.registryAuth);
    const metadataFile = join(req.workDir, 'metadata.json');
    const outcome = await runSolve(
      { bin: this.bin, args: buildctlArgs(req, { addr: this.addr, tls: this.tls, contextDir, metadataFile }), env, stdin: null, metadataFile },
      io,
    );
    return outcome.ok && req.cache ? { ...outcome, cacheExportedTo: req.cache.exportRef } : outcome;
  }

  /** Answers with buildkitd's worker list, which also names who answers (`identity`); notes an empty cache. */
  async health(): Promise<HealthReport> {
    const state = await buildkitdState(this.bin, ['--addr', this.addr, ...buildctlTlsArgs(this.tls)]);
    if (!state.ok) return { ok: false, detail: `buildkitd ${this.addr}: ${state.problem}` };
    this.identity = state.identity ?? this.identity;
    if (state.empty) this.cachePrunedAt = Date.now();
    return { ok: true, detail: `buildkitd ${this.addr}: answers${state.identity ? ` (${state.identity})` : ''}` };
  }
}

/** Unpacks the context tar into `dir`; the problem, or null. */
async function untar(io: BuildIO, dir: string): Promise<string | null> {
  await mkdir(dir, { recursive: true });
  const proc = spawn('tar', ['-x', '-C', dir], { stdio: ['pipe', 'ignore', 'pipe'] });
  io.context.pipe(proc.stdin);
  const code = await new Promise<number | null>((resolve) => proc.on('close', resolve));
  return code === 0 ? null : `unpacking the build context failed (tar exit ${code})`;
}
