/**
 * The post-receive hook program. git runs it (through the shared hook script) after a push has updated the
 * refs, with one `<old> <new> <ref>` line per ref on stdin. It reports them to the server, signed with the
 * hook key, and prints the server's answer, which git shows the pusher as `remote:` lines. The push waits
 * only until the builds are recorded, never for the builds themselves.
 */
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { SIGNATURE_HEADER, sign } from '../auth/hook-signature.js';

function fail(message: string): never {
  process.stdout.write(`codehub-build: ${message}\n`);
  // A failing post-receive hook cannot undo the push; exit 0 so git does not add a confusing error of its own.
  process.exit(0);
}

const env = process.env;
const url = env.CODEHUB_HOOK_URL;
const keyFile = env.CODEHUB_HOOK_KEY_FILE;
if (!url || !keyFile || !env.CODEHUB_REPO || !env.CODEHUB_PUSHER) {
  fail('the hook was run outside codehub-build (CODEHUB_HOOK_URL is missing); no build was queued');
}

const stdin = readFileSync(0, 'utf8');
const updates = stdin
  .split('\n')
  .filter(Boolean)
  .map((line) => {
    const [oldSha, newSha, ref] = line.split(' ');
    return { old: oldSha, new: newSha, ref };
  });
const options: string[] = [];
for (let i = 0; i < Number(env.GIT_PUSH_OPTION_COUNT ?? 0); i++) options.push(env[`GIT_PUSH_OPTION_${i}`] ?? '');

const body = JSON.stringify({ repo: env.CODEHUB_REPO, pusher: env.CODEHUB_PUSHER, updates, options, sentAt: new Date().toISOString() });
const key = Buffer.from(readFileSync(keyFile!, 'utf8').trim(), 'hex');

const req = request(
  url!,
  {
    method: 'POST',
    headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: sign(key, body), 'content-length': Buffer.byteLength(body) },
  },
  (res) => {
    // Streamed straight through, so later features can print build progress as it happens.
    res.pipe(process.stdout);
    res.on('end', () => {
      if ((res.statusCode ?? 500) >= 300)
        process.stdout.write(`codehub-build: the server answered ${res.statusCode}; the push landed but its builds may not have been queued\n`);
    });
  },
);
req.on('error', (e) => fail(`could not reach the build server at ${url} (${e.message}); the push landed but no build was queued`));
req.end(body);
