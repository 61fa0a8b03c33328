/**
 * The baseline a user would set up instead of codehub-build: `git http-backend` behind a minimal Node HTTP
 * server, no authentication, bare repos under one folder. Used for the plain-push and plain-hook figures.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface PlainGitServer {
  url: string;
  close(): Promise<void>;
}

export async function startPlainGitServer(root: string): Promise<PlainGitServer> {
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root',
      GIT_PROJECT_ROOT: root, GIT_HTTP_EXPORT_ALL: '1', REQUEST_METHOD: req.method ?? 'GET',
      PATH_INFO: url.pathname, QUERY_STRING: url.search.slice(1), REMOTE_USER: 'plain',
    };
    for (const [h, k] of [['content-type', 'CONTENT_TYPE'], ['content-length', 'CONTENT_LENGTH'], ['content-encoding', 'HTTP_CONTENT_ENCODING'], ['git-protocol', 'GIT_PROTOCOL']] as const) {
      const v = req.headers[h];
      if (typeof v === 'string') env[k] = v;
    }
    const child = spawn('git', ['http-backend'], { env, stdio: ['pipe', 'pipe', 'inherit'] });
    req.pipe(child.stdin);
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const at = head.indexOf('\r\n\r\n');
      if (at < 0) return;
      child.stdout.off('data', onData);
      let status = 200;
      const headers: Record<string, string> = {};
      for (const line of head.subarray(0, at).toString('latin1').split('\r\n')) {
        const i = line.indexOf(':');
        if (line.slice(0, i).toLowerCase() === 'status') status = parseInt(line.slice(i + 1), 10);
        else headers[line.slice(0, i)] = line.slice(i + 1).trim();
      }
      res.writeHead(status, headers);
      res.write(head.subarray(at + 4));
      child.stdout.pipe(res);
    };
    child.stdout.on('data', onData);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

/** A bare repo under `root` that accepts pushes (and push options), with `postReceive` as its hook if given. */
export function initBare(root: string, name: string, postReceive?: string): string {
  const dir = join(root, `${name}.git`);
  execFileSync('git', ['init', '--quiet', '--bare', '--initial-branch=main', dir]);
  for (const [k, v] of [['http.receivepack', 'true'], ['receive.advertisePushOptions', 'true'], ['gc.auto', '0']]) execFileSync('git', ['--git-dir', dir, 'config', k!, v!]);
  if (postReceive) {
    writeFileSync(join(dir, 'hooks', 'post-receive'), postReceive);
    chmodSync(join(dir, 'hooks', 'post-receive'), 0o755);
  }
  return dir;
}
