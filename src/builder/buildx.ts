import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { classifyFailure, type BuilderDriver, type BuildIO, type BuildOutcome, type BuildRequest, type HealthReport } from './driver.js';
import { JsonTextSplitter, ProgressRenderer } from './progress.js';

const PLUGIN_PATHS = ['/usr/libexec/docker/cli-plugins/docker-buildx', '/usr/lib/docker/cli-plugins/docker-buildx', '/usr/local/lib/docker/cli-plugins/docker-buildx'];

export interface BuildxOptions {
  /** buildx builder name; undefined uses the current (local docker) builder. */
  builder?: string;
  /** The command to run: the buildx plugin binary itself, or ['docker', 'buildx']. */
  command?: string[];
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

/** Environment variable a secret's value travels in (never on the command line). */
export const secretEnvName = (id: string): string => `CODEHUB_SECRET_${id.toUpperCase()}`;

/** The exact buildx arguments for a request; the context tar comes on stdin (`-`). */
export function buildxArgs(req: BuildRequest, opts: { builder?: string; metadataFile: string }): string[] {
  const args = ['build', '--progress=rawjson', '--metadata-file', opts.metadataFile, '--provenance=false'];
  if (opts.builder) args.push('--builder', opts.builder);
  args.push('-f', req.dockerfile);
  if (req.target) args.push('--target', req.target);
  for (const [k, v] of Object.entries(req.args)) args.push('--build-arg', `${k}=${v}`);
  for (const [k, v] of Object.entries(req.labels)) args.push('--label', `${k}=${v}`);
  if (req.platforms.length) args.push('--platform', req.platforms.join(','));
  for (const id of Object.keys(req.secrets)) args.push('--secret', `id=${id},env=${secretEnvName(id)}`);
  for (const t of req.tags) args.push('-t', t);
  args.push('--push', '-');
  return args;
}

export class BuildxDriver implements BuilderDriver {
  readonly name: string;
  private command: string[];

  constructor(private opts: BuildxOptions = {}) {
    this.name = opts.builder ?? 'local';
    this.command = opts.command ?? findBuildx();
  }

  async build(req: BuildRequest, io: BuildIO): Promise<BuildOutcome> {
    const metadataFile = join(req.workDir, 'metadata.json');
    const [bin, ...pre] = this.command as [string, ...string[]];
    const renderer = new ProgressRenderer(io.onLog);
    const tail: string[] = []; // the plain-text lines buildx prints after a failure
    const splitter = new JsonTextSplitter((v) => renderer.status(v as never), (line) => {
      tail.push(line);
      if (tail.length > 50) tail.shift();
      io.onLog(line);
    });
    const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root' };
    if (process.env.DOCKER_HOST) env.DOCKER_HOST = process.env.DOCKER_HOST;
    if (process.env.DOCKER_CONFIG) env.DOCKER_CONFIG = process.env.DOCKER_CONFIG;
    for (const [id, value] of Object.entries(req.secrets)) env[secretEnvName(id)] = value;

    const proc = execa(bin, [...pre, ...buildxArgs(req, { builder: this.opts.builder, metadataFile })], {
      env, extendEnv: false, stdin: 'pipe', stdout: 'ignore', stderr: 'pipe', reject: false,
      cancelSignal: io.signal, killSignal: 'SIGTERM', forceKillAfterDelay: 5000,
    });
    io.context.on('error', (e) => io.onLog(`ERROR: reading the build context failed: ${e.message}`));
    io.context.pipe(proc.stdin!);
    proc.stdin!.on('error', () => {}); // buildx may stop reading early when it fails
    proc.stderr!.setEncoding('utf8');
    proc.stderr!.on('data', (d: string) => splitter.push(d));
    const result = await proc;
    splitter.end();
    renderer.end();
    const steps = renderer.steps;

    if (io.signal.aborted) {
      const why = String(io.signal.reason ?? 'canceled');
      const code = why.startsWith('timeout') ? 'timeout' : 'canceled';
      return { ok: false, code, reason: why, steps };
    }
    if (result.exitCode !== 0) {
      const err = tail.filter((l) => l.startsWith('ERROR')).pop() ?? tail.pop() ?? `buildx exited with code ${result.exitCode}`;
      return { ok: false, code: classifyFailure(err), reason: err.replace(/^ERROR:\s*/, ''), steps };
    }
    const digest = await readDigest(metadataFile);
    if (!digest) return { ok: false, code: 'infrastructure', reason: 'buildx succeeded but wrote no image digest to its metadata file', steps };
    return { ok: true, digest, steps };
  }

  async health(): Promise<HealthReport> {
    const [bin, ...pre] = this.command as [string, ...string[]];
    const args = [...pre, 'inspect', ...(this.opts.builder ? [this.opts.builder] : []), '--bootstrap'];
    const r = await execa(bin, args, { reject: false, timeout: 10_000 });
    if (r.exitCode !== 0) return { ok: false, detail: (r.stderr || r.stdout || `exit ${r.exitCode}`).trim().split('\n').pop()! };
    const status = /Status:\s*(\S+)/.exec(r.stdout)?.[1] ?? 'unknown';
    return { ok: status === 'running', detail: `builder ${this.name}: ${status}` };
  }
}

async function readDigest(file: string): Promise<string | null> {
  try {
    const meta = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
    const d = meta['containerimage.digest'];
    return typeof d === 'string' && d.startsWith('sha256:') ? d : null;
  } catch {
    return null;
  }
}
