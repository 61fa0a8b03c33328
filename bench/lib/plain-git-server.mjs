// The baseline git server: `git http-backend` behind a minimal Node HTTP server, no authentication, bare
// repos under argv[2]. Run in its own small process (plain JavaScript, nothing else loaded), so its process
// spawns cost what a lean server's do. Prints its URL on stdout.
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';

const root = process.argv[2];
const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://x');
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/root',
    // The hook's docker pushes with the credentials of `docker login` in that folder.
    ...(process.env.DOCKER_CONFIG ? { DOCKER_CONFIG: process.env.DOCKER_CONFIG } : {}),
    GIT_PROJECT_ROOT: root,
    GIT_HTTP_EXPORT_ALL: '1',
    REQUEST_METHOD: req.method ?? 'GET',
    PATH_INFO: url.pathname,
    QUERY_STRING: url.search.slice(1),
    REMOTE_USER: 'plain',
  };
  for (const [h, k] of [
    ['content-type', 'CONTENT_TYPE'],
    ['content-length', 'CONTENT_LENGTH'],
    ['content-encoding', 'HTTP_CONTENT_ENCODING'],
    ['git-protocol', 'GIT_PROTOCOL'],
  ]) {
    if (typeof req.headers[h] === 'string') env[k] = req.headers[h];
  }
  const child = spawn('git', ['http-backend'], { env, stdio: ['pipe', 'pipe', 'inherit'] });
  req.pipe(child.stdin);
  let head = Buffer.alloc(0);
  const onData = (chunk) => {
    head = Buffer.concat([head, chunk]);
    const at = head.indexOf('\r\n\r\n');
    if (at < 0) return;
    child.stdout.off('data', onData);
    let status = 200;
    const headers = {};
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
server.listen(0, '127.0.0.1', () => console.log(`http://127.0.0.1:${server.address().port}`));
