/**
 * The baseline a user would set up instead of codehub-build: `git http-backend` behind a minimal Node HTTP
 * server, no authentication, bare repos under one folder. Used for the plain-push and plain-hook figures.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface PlainGitServer {
  url: string;
  close(): Promise<void>;
}

/** Starts plain-git-server.mjs in its own process over the bare repos under `root`. */
/** `env` reaches the hooks (e.g. DOCKER_CONFIG signed in to the registry). */
export async function startPlainGitServer(root: string, env: NodeJS.ProcessEnv = process.env): Promise<PlainGitServer> {
  const proc = spawn(process.execPath, [join(dirname(fileURLToPath(import.meta.url)), 'plain-git-server.mjs'), root], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env,
  });
  const url = await new Promise<string>((resolve, reject) => {
    proc.stdout.once('data', (d: Buffer) => resolve(d.toString().trim()));
    proc.once('exit', (code) => reject(new Error(`the plain git server exited (${code})`)));
  });
  return {
    url,
    close: () =>
      new Promise((r) => {
        proc.once('exit', () => r());
        proc.kill();
      }),
  };
}

/** A bare repo under `root` that accepts pushes (and push options), with `postReceive` as its hook if given. */
export function initBare(root: string, name: string, postReceive?: string): string {
  const dir = join(root, `${name}.git`);
  execFileSync('git', ['init', '--quiet', '--bare', '--initial-branch=main', dir]);
  for (const [k, v] of [
    ['http.receivepack', 'true'],
    ['receive.advertisePushOptions', 'true'],
    ['gc.auto', '0'],
  ])
    execFileSync('git', ['--git-dir', dir, 'config', k!, v!]);
  if (postReceive) {
    writeFileSync(join(dir, 'hooks', 'post-receive'), postReceive);
    chmodSync(join(dir, 'hooks', 'post-receive'), 0o755);
  }
  return dir;
}
