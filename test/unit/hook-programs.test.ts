/**
 * One suite for both post-receive hook programs (the native one, and the Node one it replaces where no C
 * compiler is found): run as git runs them, against a small HTTP server standing in for POST /hooks/post-receive.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SIGNATURE_HEADER, verify } from '../../src/auth/hook-signature.js';
import { HOOK_PROGRAM, NATIVE_HOOK } from '../../src/paths.js';
import { freePort } from '../helpers/server.js';

const key = Buffer.from('00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff', 'hex');
const keyFile = join(mkdtempSync(join(tmpdir(), 'chb-hookkey-')), 'hook.key');
writeFileSync(keyFile, key.toString('hex') + '\n', { mode: 0o600 });

const programs: [string, string[]][] = [
  ['native', [NATIVE_HOOK]],
  ['node', [process.execPath, HOOK_PROGRAM]],
];

let close: (() => Promise<void>) | null = null;
afterEach(async () => {
  await close?.();
  close = null;
});

/** A stand-in hook endpoint; `answer` gets each request with its raw body. */
async function endpoint(answer: (req: IncomingMessage, body: Buffer, res: ServerResponse) => void): Promise<string> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => answer(req, Buffer.concat(chunks), res));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  close = () =>
    new Promise((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/post-receive`;
}

/** Runs a hook program with git's stdin and environment; resolves with its exit code and output. */
function runHook(cmd: string[], stdin: string, env: Record<string, string>, onOut?: (all: string) => void) {
  return new Promise<{ code: number | null; out: string }>((resolve) => {
    const p = spawn(cmd[0]!, cmd.slice(1), { env: { PATH: process.env.PATH!, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      onOut?.(out);
    });
    p.stderr.on('data', (d: Buffer) => {
      out += d.toString();
    });
    p.on('close', (code) => resolve({ code, out }));
    p.stdin.on('error', () => {}); // a hook that gives up early does not read its stdin
    p.stdin.end(stdin);
  });
}

const hookEnv = (url: string) => ({ CODEHUB_HOOK_URL: url, CODEHUB_HOOK_KEY_FILE: keyFile, CODEHUB_REPO: 'alice/shop', CODEHUB_PUSHER: 'bob' });
const A = 'a'.repeat(40);
const B = 'b'.repeat(40);

describe.each(programs)('the %s post-receive hook', (_name, cmd) => {
  it('is built', () => {
    expect(existsSync(cmd[cmd.length - 1]!), `${cmd.join(' ')} is missing: npm run build (the native hook needs a C compiler: apt-get install gcc)`).toBe(true);
  });

  it('reports every ref update and push option, signed over the raw body, and prints the answer', async () => {
    let got: { body: Buffer; sig: string | undefined; type: string | undefined } | null = null;
    const url = await endpoint((req, body, res) => {
      got = { body, sig: req.headers[SIGNATURE_HEADER] as string | undefined, type: req.headers['content-type'] };
      res.end('build #7 queued\n');
    });
    const ref = 'refs/heads/we"ird\\näme\ttab';
    const r = await runHook(cmd, `${A} ${B} refs/heads/main\n${'0'.repeat(40)} ${A} ${ref}\n`, {
      ...hookEnv(url),
      GIT_PUSH_OPTION_COUNT: '2',
      GIT_PUSH_OPTION_0: 'wait',
      GIT_PUSH_OPTION_1: 'x="$(id)" \\ ünï',
    });
    expect(r).toEqual({ code: 0, out: 'build #7 queued\n' });
    expect(got).not.toBeNull();
    const { body, sig, type } = got!;
    expect(type).toBe('application/json');
    expect(verify(key, body, sig)).toBe(true);
    expect(verify(Buffer.alloc(32), body, sig)).toBe(false);
    const json = JSON.parse(body.toString('utf8'));
    expect(json).toMatchObject({
      repo: 'alice/shop',
      pusher: 'bob',
      options: ['wait', 'x="$(id)" \\ ünï'],
      updates: [
        { old: A, new: B, ref: 'refs/heads/main' },
        { old: '0'.repeat(40), new: A, ref },
      ],
    });
    expect(Math.abs(Date.parse(json.sentAt) - Date.now())).toBeLessThan(5000);
  });

  it('streams the answer as it arrives rather than at the end', async () => {
    let more: (() => void) | null = null;
    const url = await endpoint((_req, _body, res) => {
      res.write('first line\n');
      more = () => res.end('second line\n');
    });
    // The server sends its second line only after the hook has printed the first: a hook that waited for
    // the end of the answer would never finish.
    const r = await runHook(cmd, `${A} ${B} refs/heads/main\n`, hookEnv(url), (out) => {
      if (out.includes('first line') && more) {
        more();
        more = null;
      }
    });
    expect(r).toEqual({ code: 0, out: 'first line\nsecond line\n' });
  });

  it('prints a refusal with its status, and exits 0 (the push has landed either way)', async () => {
    const url = await endpoint((_req, _body, res) => {
      res.writeHead(401).end('missing or wrong signature\n');
    });
    const r = await runHook(cmd, `${A} ${B} refs/heads/main\n`, hookEnv(url));
    expect(r.code).toBe(0);
    expect(r.out).toContain('missing or wrong signature');
    expect(r.out).toContain('the server answered 401');
  });

  it('says so when the server is down, and exits 0', async () => {
    const r = await runHook(cmd, `${A} ${B} refs/heads/main\n`, hookEnv(`http://127.0.0.1:${await freePort()}/hooks/post-receive`));
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/could not reach the build server at http:\/\/127\.0\.0\.1:\d+\/hooks\/post-receive .*no build was queued/);
  });

  it('refuses to run outside codehub-build', async () => {
    const r = await runHook(cmd, `${A} ${B} refs/heads/main\n`, {});
    expect(r).toEqual({ code: 0, out: expect.stringContaining('the hook was run outside codehub-build') });
  });
});
