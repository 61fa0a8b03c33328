import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { findBuildx } from '../../src/builder/buildx.js';

const version = (cmd: string, args: string[]): string => {
  try {
    return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim()
      .split('\n')[0]!;
  } catch {
    return 'not found';
  }
};

/** What the figures were measured on. */
export function machine(): Record<string, string> {
  const [bin, ...pre] = findBuildx();
  return {
    cpu: `${os.cpus().length} cores, ${os.cpus()[0]?.model ?? 'unknown'}`,
    memory: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    git: version('git', ['--version']),
    docker: version('docker', ['version', '--format', 'client {{.Client.Version}}, server {{.Server.Version}}']),
    buildx: version(bin!, [...pre, 'version']),
  };
}
