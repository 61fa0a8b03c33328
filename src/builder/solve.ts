import { execa } from 'execa';
import { readFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { classifyFailure, type BuildIO, type BuildOutcome } from './driver.js';
import { JsonTextSplitter, ProgressRenderer } from './progress.js';

export interface SolveCommand {
  bin: string;
  args: string[];
  /** The child's whole environment (no inheritance), including secret values and process markers. */
  env: Record<string, string>;
  /** Piped to the child's stdin (a tar context); null closes stdin at once. */
  stdin: Readable | null;
  metadataFile: string;
}

/**
 * Runs one BuildKit client (buildx or buildctl) with `--progress=rawjson`, renders its progress into the
 * log, and turns its exit into a BuildOutcome. Aborting `io.signal` sends SIGTERM, which makes the client
 * cancel the solve on the daemon; SIGKILL follows after 5 s if it has not exited.
 */
export async function runSolve(cmd: SolveCommand, io: BuildIO): Promise<BuildOutcome> {
  const renderer = new ProgressRenderer(io.onLog);
  const tail: string[] = []; // the plain-text lines a client prints after a failure
  const splitter = new JsonTextSplitter(
    (v) => renderer.status(v as never),
    (line) => {
      tail.push(line);
      if (tail.length > 50) tail.shift();
      io.onLog(line);
    },
  );
  const proc = execa(cmd.bin, cmd.args, {
    env: cmd.env,
    extendEnv: false,
    stdin: cmd.stdin ? 'pipe' : 'ignore',
    stdout: 'ignore',
    stderr: 'pipe',
    reject: false,
    cancelSignal: io.signal,
    killSignal: 'SIGTERM',
    forceKillAfterDelay: 5000,
  });
  if (cmd.stdin) {
    cmd.stdin.on('error', (e) => io.onLog(`ERROR: reading the build context failed: ${e.message}`));
    cmd.stdin.pipe(proc.stdin!);
    proc.stdin!.on('error', () => {}); // the client may stop reading early when it fails
  }
  proc.stderr!.setEncoding('utf8');
  proc.stderr!.on('data', (d: string) => splitter.push(d));
  const result = await proc;
  splitter.end();
  renderer.end();
  const steps = renderer.steps;

  if (io.signal.aborted) {
    const why = String(io.signal.reason ?? 'canceled');
    return { ok: false, code: why.startsWith('timeout') ? 'timeout' : 'canceled', problem: why, steps };
  }
  if (result.exitCode !== 0) {
    const err =
      tail.filter((l) => l.startsWith('ERROR') || l.startsWith('error:')).pop() ??
      tail.pop() ??
      (result.exitCode === undefined ? `could not start ${cmd.bin}: ${result.message}` : `${cmd.bin} exited with code ${result.exitCode}`);
    return { ok: false, code: result.exitCode === undefined ? 'infrastructure' : classifyFailure(err), problem: err.replace(/^(ERROR|error):\s*/, ''), steps };
  }
  const digest = await readDigest(cmd.metadataFile);
  if (!digest) return { ok: false, code: 'infrastructure', problem: `${cmd.bin} succeeded but wrote no image digest to its metadata file`, steps };
  return { ok: true, digest, steps };
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

/** PATH and HOME, plus the docker client settings a BuildKit client needs; nothing else of the server's. */
export function clientEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root' };
  for (const k of ['DOCKER_HOST', 'DOCKER_CONFIG', 'BUILDX_CONFIG']) if (process.env[k]) env[k] = process.env[k]!;
  return { ...env, ...extra };
}
