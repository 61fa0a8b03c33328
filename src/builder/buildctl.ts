import { execa } from 'execa';
import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { secretEnvName } from './buildx.js';
import type { BuilderDriver, BuildIO, BuildOutcome, BuildRequest, HealthReport } from './driver.js';
import { clientEnv, runSolve } from './solve.js';
import type { BuilderTls } from './tls.js';

/** buildctl's TLS flags (global ones: they go before the command). */
export function buildctlTlsArgs(tls?: BuilderTls): string[] {
  if (!tls) return [];
  const args = ['--tlscacert', tls.ca];
  if (tls.cert && tls.key) args.push('--tlscert', tls.cert, '--tlskey', tls.key);
  if (tls.servername) args.push('--tlsservername', tls.servername);
  return args;
}

/**
 * The exact buildctl arguments for a request. buildctl takes no tar on stdin, so the context is a folder
 * (`contextDir`), which also holds the Dockerfile.
 */
export function buildctlArgs(req: BuildRequest, opts: { addr: string; tls?: BuilderTls; contextDir: string; metadataFile: string }): string[] {
  const args = ['--addr', opts.addr, ...buildctlTlsArgs(opts.tls), 'build', '--progress=rawjson', '--frontend', 'dockerfile.v0',
    '--local', `context=${opts.contextDir}`, '--local', `dockerfile=${opts.contextDir}`, '--opt', `filename=${req.dockerfile}`];
  if (req.target) args.push('--opt', `target=${req.target}`);
  if (req.noCache) args.push('--no-cache');
  for (const [k, v] of Object.entries(req.args)) args.push('--opt', `build-arg:${k}=${v}`);
  for (const [k, v] of Object.entries(req.labels)) args.push('--opt', `label:${k}=${v}`);
  if (req.platforms.length) args.push('--opt', `platform=${req.platforms.join(',')}`);
  for (const id of Object.keys(req.secrets)) args.push('--secret', `id=${id},env=${secretEnvName(id)}`);
  // The image exporter takes several names in one comma-separated, quoted value.
  args.push('--output', `type=image,"name=${req.tags.join(',')}",push=true`, '--metadata-file', opts.metadataFile);
  return args;
}

/** BuildKit through `buildctl` against a buildkitd address (for clusters that ship buildctl, not buildx). */
export class BuildctlDriver implements BuilderDriver {
  readonly name: string;

  constructor(private addr: string, private bin = 'buildctl', private tls?: BuilderTls) {
    this.name = `buildctl+${addr}`;
  }

  async build(req: BuildRequest, io: BuildIO): Promise<BuildOutcome> {
    const contextDir = join(req.workDir, 'context');
    await mkdir(contextDir, { recursive: true });
    const untar = spawn('tar', ['-x', '-C', contextDir], { stdio: ['pipe', 'ignore', 'pipe'] });
    io.context.pipe(untar.stdin);
    const untarred = await new Promise<number | null>((resolve) => untar.on('close', resolve));
    if (untarred !== 0) return { ok: false, code: 'infrastructure', reason: `unpacking the build context failed (tar exit ${untarred})`, steps: [] };
    const env = clientEnv({ ...io.processEnv });
    for (const [id, value] of Object.entries(req.secrets)) env[secretEnvName(id)] = value;
    const metadataFile = join(req.workDir, 'metadata.json');
    return runSolve({ bin: this.bin, args: buildctlArgs(req, { addr: this.addr, tls: this.tls, contextDir, metadataFile }), env, stdin: null, metadataFile }, io);
  }

  async health(): Promise<HealthReport> {
    const r = await execa(this.bin, ['--addr', this.addr, ...buildctlTlsArgs(this.tls), 'debug', 'workers'], { env: clientEnv({}), extendEnv: false, reject: false, timeout: 8_000 });
    if (r.exitCode === 0) return { ok: true, detail: `buildkitd ${this.addr}: answers` };
    return { ok: false, detail: `buildkitd ${this.addr}: ${r.timedOut ? 'no answer within 8 s' : (r.stderr || r.message || 'failed').trim().split('\n').pop()}` };
  }
}
