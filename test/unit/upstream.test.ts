import { execa } from 'execa';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkUpstreamUrl,
  fetchUpstream,
  hostProblem,
  isLinkLocal,
  remoteRef,
  resolveHost,
  runGit,
  type GitRun,
  type Resolve,
} from '../../src/forges/upstream.js';
import { gitEnv } from '../../src/git/env.js';
import { RepoStore } from '../../src/git/repos.js';
import { WorkRepo } from '../helpers/git.js';

describe('checkUpstreamUrl', () => {
  it.each([
    ['https://gitea.internal/team/app.git', 'https://gitea.internal/team/app.git'],
    ['http://10.0.0.5:3000/a/b', 'http://10.0.0.5:3000/a/b'],
    ['http://localhost:8929/group/sub/proj.git', 'http://localhost:8929/group/sub/proj.git'],
    ['https://GitHub.com/Org/Repo/', 'https://github.com/Org/Repo'], // host lower-cased, trailing slash dropped
    ['https://h.example:443/a', 'https://h.example/a'], // default port dropped
  ])('accepts %s as %s', (raw, display) => {
    const r = checkUpstreamUrl(raw);
    expect(r).toMatchObject({ ok: true, display });
    if (r.ok) expect(r.url.href).toBe(display);
  });

  it.each([
    ['file:///etc', /file:\/\/; only http/],
    ['/srv/repo', /local path/],
    ['../repo.git', /local path/],
    ['ext::sh -c touch', /<transport>::<address>.*ext:: runs commands/], // the transport form is named, with spaces…
    ['ext::sh%20-c%20touch', /<transport>::<address>.*ext:: runs commands/], // …or without
    ['https://h/a b/c', /whitespace/],
    ['ssh://git@h/x', /ssh:\/\/; only http/],
    ['git://h/x', /git:\/\/; only http/],
    ['git@host:a/b.git', /ssh address/],
    ['-uhttps://x', /starts with "-"/],
    ['--upload-pack=touch', /starts with "-"/],
    ['https://h/x/--upload-pack=touch', /git option/],
    ['https://h/x/%2D%2Dupload-pack=touch', /git option/],
    ['https://user:tok@host/a', /credentials.*never in a URL/],
    ['https://tok@host/a', /credentials/],
    ['https://h/a b', /whitespace/],
    ['https://h/a\n', /control characters/],
    ['https://h/a%0a', /encoded control/],
    ['https://h/a\u0000', /control characters/],
    ['javascript:alert(1)', /scheme "javascript:", not http/],
    ['gitea.internal/team/app', /no scheme/],
    ['https://h/a?x=1', /query or fragment/],
    ['https://h/a#frag', /query or fragment/],
    ['https://h/', /no repository path/],
    ['https://h/%zz', /percent-encoding/],
    ['', /empty/],
  ])('refuses %j', (raw, why) => {
    const r = checkUpstreamUrl(raw);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problem).toMatch(why);
  });

  it('lets an operator setting restrict hosts, and allows internal ones by default', () => {
    expect(checkUpstreamUrl('http://192.168.1.20/a/b').ok).toBe(true);
    expect(checkUpstreamUrl('http://gitlab/a/b').ok).toBe(true);
    const onlyCorp = { allowHosts: (h: string) => h.endsWith('.corp.example') };
    expect(checkUpstreamUrl('https://git.corp.example/a/b', onlyCorp).ok).toBe(true);
    expect(checkUpstreamUrl('http://127.0.0.1/a/b', onlyCorp)).toMatchObject({ ok: false, problem: expect.stringMatching(/127\.0\.0\.1.*does not allow/) });
  });
});

/**
 * The link-local spellings of the review (issue 24): every one a URL parser (WHATWG, as node's) reads as
 * 169.254.169.254 or fe80::/10, and git's libcurl connects to.
 */
const LINK_LOCAL_SPELLINGS: [string, string][] = [
  ['http://169.254.169.254/a/b', '169.254.169.254'],
  ['http://2852039166/a/b', '169.254.169.254'], // decimal
  ['http://0xa9fea9fe/a/b', '169.254.169.254'], // hex
  ['http://0xA9.0xFE.0xA9.0xFE/a/b', '169.254.169.254'], // hex per part
  ['http://0251.0376.0251.0376/a/b', '169.254.169.254'], // octal
  ['http://169.254.43518/a/b', '169.254.169.254'], // short form
  ['http://169.254.169.254./a/b', '169.254.169.254'], // trailing dot
  ['http://169.254.169.254:80/a/b', '169.254.169.254'],
  ['http://%31%36%39.254.169.254/a/b', '169.254.169.254'], // percent-encoded host
  ['http://169\u3002254\u3002169\u3002254/a/b', '169.254.169.254'], // ideographic full stops
  ['https://169.254.0.1/a/b', '169.254.0.1'],
  ['http://169.254.255.255/a/b', '169.254.255.255'],
  ['http://[::ffff:169.254.169.254]/a/b', '[::ffff:a9fe:a9fe]'], // IPv4-mapped IPv6
  ['http://[::ffff:a9fe:a9fe]/a/b', '[::ffff:a9fe:a9fe]'],
  ['http://[0:0:0:0:0:ffff:a9fe:a9fe]/a/b', '[::ffff:a9fe:a9fe]'],
  ['http://[::169.254.169.254]/a/b', '[::a9fe:a9fe]'], // IPv4-compatible
  ['http://[64:ff9b::169.254.169.254]/a/b', '[64:ff9b::a9fe:a9fe]'], // NAT64
  ['http://[fe80::1]/a/b', '[fe80::1]'],
  ['http://[FE80:0::1]/a/b', '[fe80::1]'],
  ['http://[febf:ffff::1]/a/b', '[febf:ffff::1]'], // the top of fe80::/10
];

describe('link-local hosts', () => {
  it.each(LINK_LOCAL_SPELLINGS)('refuses %s (host %s) by default, naming the rule', (raw, host) => {
    const r = checkUpstreamUrl(raw);
    expect(r).toMatchObject({
      ok: false,
      problem: `upstream URL ${JSON.stringify(raw)} names host ${host}, a link-local address; link-local addresses (169.254.0.0/16, fe80::/10: cloud metadata services answer there) are refused unless the operator lists the host in CODEHUB_UPSTREAM_HOSTS`,
    });
  });

  it.each(LINK_LOCAL_SPELLINGS)('allows %s when the operator lists %s', (raw, host) => {
    expect(checkUpstreamUrl(raw, { allowHosts: (h) => h === host })).toMatchObject({ ok: true });
  });

  it.each([
    'http://[FE80::1%25eth0]/a/b',
    'http://[fe80::1%eth0]/a/b', // zone ids: not a URL host at all
  ])('refuses %s as no valid URL', (raw) => {
    expect(checkUpstreamUrl(raw)).toMatchObject({ ok: false, problem: expect.stringMatching(/is not a valid URL/) });
  });

  it.each([
    'http://127.0.0.1/a/b',
    'http://localhost/a/b',
    'http://10.0.0.5:3000/a/b',
    'http://192.168.1.20/a/b',
    'http://172.16.0.1/a/b',
    'http://[::1]/a/b',
    'http://[fd00::5]/a/b',
    'http://[fec0::1]/a/b',
    'http://169.255.0.1/a/b',
    'http://169.253.255.255/a/b',
    'http://gitlab/a/b',
    'http://0x7f.1/a/b',
  ])('still allows the internal or loopback %s', (raw) => {
    expect(checkUpstreamUrl(raw).ok).toBe(true);
  });

  it('knows link-local addresses in every IP form, and no name', () => {
    for (const a of ['169.254.169.254', '::ffff:169.254.169.254', '[fe80::1]', 'FE80::abcd', '::a9fe:1', '::ffff:0:a9fe:1', '64:ff9b::a9fe:a9fe'])
      expect(isLinkLocal(a), a).toBe(true);
    for (const a of ['127.0.0.1', '::1', 'fec0::1', '169.255.0.0', '::ffff:127.0.0.1', 'metadata.google.internal', '169.254.169.254.nip.io', ''])
      expect(isLinkLocal(a), a).toBe(false);
    expect(hostProblem('169.254.169.254')).toMatch(/link-local/);
    expect(hostProblem('169.254.169.254', { allowHosts: (h) => h === 'git.corp' })).toMatch(/does not allow/);
    expect(hostProblem('git.corp', { allowHosts: (h) => h === 'git.corp' })).toBeNull();
  });

  it('refuses a name that resolves to a link-local address, and keeps what it checked for pinning', async () => {
    const names: Record<string, string[]> = { 'meta.test': ['10.1.2.3', '169.254.169.254'], 'six.test': ['fe80::1'], 'ok.test': ['10.1.2.3', '::1'] };
    const resolve: Resolve = async (h) => {
      if (!names[h]) throw Object.assign(new Error('ENOTFOUND'), { code: 'ENOTFOUND' });
      return names[h]!;
    };
    expect(await resolveHost('meta.test', { resolve })).toEqual({
      ok: false,
      problem: expect.stringMatching(/^host meta\.test resolves to 169\.254\.169\.254, a link-local address; .*CODEHUB_UPSTREAM_HOSTS$/),
    });
    expect(await resolveHost('six.test', { resolve })).toMatchObject({ ok: false, problem: expect.stringContaining('resolves to fe80::1') });
    expect(await resolveHost('ok.test', { resolve })).toEqual({ ok: true, addresses: ['10.1.2.3', '::1'] });
    // Not resolved: literals (checked as written), a name the operator lists, a name that does not resolve here.
    expect(await resolveHost('10.0.0.1', { resolve })).toEqual({ ok: true, addresses: null });
    expect(await resolveHost('[::1]', { resolve })).toEqual({ ok: true, addresses: null });
    expect(await resolveHost('meta.test', { resolve, allowHosts: (h) => h === 'meta.test' })).toEqual({ ok: true, addresses: null });
    expect(await resolveHost('nowhere.test', { resolve })).toEqual({ ok: true, addresses: null });
  });
});

/** Every file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

const git = async (gitDir: string, ...args: string[]) =>
  (await execa('git', ['--git-dir', gitDir, ...args], { env: gitEnv(), extendEnv: false })).stdout.trim();

describe('fetchUpstream against git http-backend', () => {
  const TOKEN = `tok-${randomUUID()}`;
  const USER = 'x-access-token';
  const BASIC = Buffer.from(`${USER}:${TOKEN}`).toString('base64');
  let server: Server;
  let base: string;
  let upstream: string; // the bare repo the "forge" serves
  let work: WorkRepo;
  let target: string; // the bare repo here
  const authSeen: string[] = [];
  let hangReached: () => void = () => {};

  beforeAll(async () => {
    const root = mkdtempSync(join(tmpdir(), 'chb-upstream-'));
    upstream = join(root, 'forge', 'team', 'app.git');
    await execa('git', ['init', '--quiet', '--bare', '--initial-branch=main', upstream]);
    work = await WorkRepo.create({ 'a.txt': 'one' });
    await work.git.checkoutLocalBranch('feature');
    await work.commit({ 'b.txt': 'two' });
    await work.git.checkout('main');
    await work.git.addTag('v1');
    expect((await work.push(upstream, ['main', 'feature', 'v1'])).exitCode).toBe(0);
    target = await new RepoStore(join(root, 'data')).ensure('alice', 'app');

    // The forge: git http-backend as CGI behind node:http, requiring Basic auth with TOKEN. /hang/ never
    // answers; /moved/ redirects to the real path.
    server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname.startsWith('/hang/')) {
        hangReached();
        return;
      }
      if (url.pathname.startsWith('/moved/')) {
        res.writeHead(301, { location: url.pathname.slice('/moved'.length) + url.search }).end();
        return;
      }
      authSeen.push(req.headers.authorization ?? '');
      if (req.headers.authorization !== `Basic ${BASIC}`) {
        res.writeHead(401, { 'www-authenticate': 'Basic realm="forge"' }).end();
        return;
      }
      const h = (k: string) => {
        const v = req.headers[k];
        return typeof v === 'string' ? v : undefined;
      };
      const env: Record<string, string> = gitEnv({
        GIT_PROJECT_ROOT: join(root, 'forge'),
        GIT_HTTP_EXPORT_ALL: '1',
        REQUEST_METHOD: req.method ?? 'GET',
        PATH_INFO: url.pathname,
        QUERY_STRING: url.search.slice(1),
      });
      for (const [k, header] of [
        ['CONTENT_TYPE', 'content-type'],
        ['CONTENT_LENGTH', 'content-length'],
        ['HTTP_CONTENT_ENCODING', 'content-encoding'],
        ['GIT_PROTOCOL', 'git-protocol'],
      ] as const) {
        const v = h(header);
        if (v !== undefined) env[k] = v;
      }
      const child = spawn('git', ['http-backend'], { env, stdio: ['pipe', 'pipe', 'inherit'] });
      req.pipe(child.stdin);
      const out: Buffer[] = [];
      child.stdout.on('data', (d: Buffer) => out.push(d));
      child.on('close', () => {
        // Small test repos: the whole CGI answer is buffered, then split into headers and body.
        const all = Buffer.concat(out);
        const end = all.indexOf('\r\n\r\n') >= 0 ? all.indexOf('\r\n\r\n') : all.indexOf('\n\n');
        const sep = all.indexOf('\r\n\r\n') >= 0 ? 4 : 2;
        const headers: Record<string, string> = {};
        let status = 200;
        for (const line of all.subarray(0, end).toString('latin1').split(/\r?\n/)) {
          const i = line.indexOf(':');
          const [k, v] = [line.slice(0, i).trim(), line.slice(i + 1).trim()];
          if (k.toLowerCase() === 'status') status = Number.parseInt(v, 10);
          else headers[k] = v;
        }
        res.writeHead(status, headers).end(all.subarray(end + sep));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  const url = (path: string) => {
    const c = checkUpstreamUrl(`${base}${path}`);
    if (!c.ok) throw new Error(c.problem);
    return c.url;
  };

  it('fetches exactly the asked refs, with the token only in an environment header: not in arguments, files or the URL', async () => {
    const calls: { args: string[]; env: Record<string, string> }[] = [];
    const recording: GitRun = (args, env, o) => {
      calls.push({ args, env });
      return runGit(args, env, o);
    };
    authSeen.length = 0;
    const r = await fetchUpstream({ gitDir: target, url: url('/team/app.git'), token: TOKEN, refs: ['refs/heads/main', 'refs/heads/feature'] }, recording);
    expect(r).toEqual({
      ok: true,
      updated: [
        { ref: 'refs/heads/main', sha: await git(upstream, 'rev-parse', 'refs/heads/main') },
        { ref: 'refs/heads/feature', sha: await git(upstream, 'rev-parse', 'refs/heads/feature') },
      ],
    });
    expect(await git(target, 'rev-parse', 'refs/heads/main')).toBe(await git(upstream, 'rev-parse', 'refs/heads/main'));
    expect(await git(target, 'for-each-ref', 'refs/tags/')).toBe(''); // --no-tags: v1 did not come along
    // The server got the header on every request.
    expect(authSeen.length).toBeGreaterThan(0);
    expect(authSeen.every((a) => a === `Basic ${BASIC}`)).toBe(true);
    // Not in any argument of any git process; in the environment only as the base64 header.
    const fetchCall = calls.find((c) => c.args.includes('fetch'))!;
    for (const c of calls) expect(c.args.join(' ')).not.toMatch(new RegExp(`${TOKEN}|${BASIC}`));
    expect(fetchCall.args).toEqual(
      expect.arrayContaining(['protocol.allow=never', 'http.followRedirects=false', 'credential.helper=', '--', `${base}/team/app.git`]),
    );
    expect(fetchCall.args.indexOf('--')).toBe(fetchCall.args.indexOf(`${base}/team/app.git`) - 1);
    expect(Object.values(fetchCall.env).filter((v) => v.includes(BASIC))).toEqual([`Authorization: Basic ${BASIC}`]);
    expect(Object.values(fetchCall.env).some((v) => v.includes(TOKEN))).toBe(false);
    // Nor in any file of the repo (and no FETCH_HEAD naming the upstream).
    expect(existsSync(join(target, 'FETCH_HEAD'))).toBe(false);
    for (const f of filesUnder(target)) {
      const content = readFileSync(f).toString('latin1');
      expect(content.includes(TOKEN) || content.includes(BASIC), f).toBe(false);
    }
  });

  it('lands rewritten history too (forced), as a push here would', async () => {
    await work.git.checkout('feature');
    await work.git.raw(['reset', '--hard', 'main']);
    const rewritten = await work.commit({ 'c.txt': 'three' }, 'rewritten');
    expect((await work.push(upstream, ['+feature'])).exitCode).toBe(0);
    const r = await fetchUpstream({ gitDir: target, url: url('/team/app.git'), token: TOKEN, refs: ['refs/heads/feature'] });
    expect(r).toEqual({ ok: true, updated: [{ ref: 'refs/heads/feature', sha: rewritten }] });
    await work.git.checkout('main');
  });

  it('says a wrong or missing token was refused, without the token in the problem', async () => {
    const wrong = `wrong-${randomUUID()}`;
    const r = await fetchUpstream({ gitDir: target, url: url('/team/app.git'), token: wrong, refs: ['refs/heads/main'] });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problem).toMatch(new RegExp(`fetch from ${base}/team/app.git: the upstream refused the token`));
    expect(r.problem).not.toContain(wrong);
    expect(r.problem).not.toContain(Buffer.from(`${USER}:${wrong}`).toString('base64'));
    const none = await fetchUpstream({ gitDir: target, url: url('/team/app.git'), refs: ['refs/heads/main'] });
    expect(none).toMatchObject({ ok: false, problem: expect.stringMatching(/asks for credentials and the link has no token/) });
  });

  it('refuses a branch the upstream no longer has, naming it, and moves nothing', async () => {
    const before = { main: await git(target, 'rev-parse', 'refs/heads/main'), feature: await git(target, 'rev-parse', 'refs/heads/feature') };
    await work.commit({ 'a.txt': 'newer' });
    expect((await work.push(upstream, ['main', ':feature'])).exitCode).toBe(0);
    const r = await fetchUpstream({ gitDir: target, url: url('/team/app.git'), token: TOKEN, refs: ['refs/heads/main', 'refs/heads/feature'] });
    expect(r).toEqual({
      ok: false,
      missing: ['refs/heads/feature'],
      problem: expect.stringMatching(/the upstream has no refs\/heads\/feature \(deleted there\?\); nothing was updated/),
    });
    // --atomic: main did not move either; the library deletes nothing (the caller handles deletions).
    expect(await git(target, 'rev-parse', 'refs/heads/main')).toBe(before.main);
    expect(await git(target, 'rev-parse', 'refs/heads/feature')).toBe(before.feature);
  });

  it('stops a fetch from a server that never answers, killing git and its helper, with the token in no process arguments', async () => {
    const reached = new Promise<void>((r) => {
      hangReached = r;
    });
    const started = Date.now();
    const fetching = fetchUpstream({ gitDir: target, url: url('/hang/team/app.git'), token: TOKEN, refs: ['refs/heads/main'], timeoutMs: 1500 });
    await reached;
    // While git hangs on the server: every process's command line (what `ps` shows to all users).
    const cmdlines = () =>
      readdirSync('/proc')
        .filter((p) => /^\d+$/.test(p))
        .map((p) => {
          try {
            return readFileSync(`/proc/${p}/cmdline`).toString().replace(/\0/g, ' ');
          } catch {
            return '';
          }
        });
    const hanging = cmdlines().filter((c) => c.includes('/hang/team/app.git'));
    expect(hanging.length).toBeGreaterThan(0); // git fetch and git-remote-http
    expect(cmdlines().some((c) => c.includes(TOKEN) || c.includes(BASIC))).toBe(false);
    const r = await fetching;
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(r).toEqual({ ok: false, problem: `fetch from ${base}/hang/team/app.git took longer than 1.5 s and was stopped` });
    await new Promise((res) => setTimeout(res, 200));
    expect(cmdlines().filter((c) => c.includes('/hang/team/app.git'))).toEqual([]); // the whole process group is gone
  });

  it('stops a fetch when its signal aborts', async () => {
    const reached = new Promise<void>((r) => {
      hangReached = r;
    });
    const abort = new AbortController();
    const fetching = fetchUpstream({ gitDir: target, url: url('/hang/team/app.git'), refs: ['refs/heads/main'], signal: abort.signal });
    await reached;
    abort.abort();
    expect(await fetching).toEqual({ ok: false, problem: `fetch from ${base}/hang/team/app.git was cancelled` });
  });

  it('masks the token should git ever print it', async () => {
    const leaky: GitRun = async () => ({ exitCode: 128, stdout: '', stderr: `fatal: something about ${TOKEN} and ${BASIC}`, timedOut: false, aborted: false });
    const r = await fetchUpstream({ gitDir: target, url: url('/team/app.git'), token: TOKEN, refs: ['refs/heads/main'] }, leaky);
    expect(r).toEqual({ ok: false, problem: `fetch from ${base}/team/app.git failed (git exit 128): fatal: something about *** and ***` });
  });

  it('does not follow redirects', async () => {
    const r = await fetchUpstream({ gitDir: target, url: url('/moved/team/app.git'), token: TOKEN, refs: ['refs/heads/main'] });
    expect(r).toMatchObject({ ok: false, problem: expect.stringMatching(new RegExp(`fetch from ${base}/moved/team/app.git failed.*301`)) });
  });

  it('fetches by a name through the addresses it checked, pinned for git (http.curloptResolve), so a second lookup cannot differ', async () => {
    const calls: { args: string[]; env: Record<string, string> }[] = [];
    const recording: GitRun = (args, env, o) => {
      calls.push({ args, env });
      return runGit(args, env, o);
    };
    const port = new URL(base).port;
    // forge.test resolves nowhere but through this resolver: git reaching it proves git used the pinned address.
    const resolve: Resolve = async (h) => (h === 'forge.test' ? ['127.0.0.1'] : Promise.reject(new Error('ENOTFOUND')));
    const r = await fetchUpstream(
      { gitDir: target, url: new URL(`http://forge.test:${port}/team/app.git`), token: TOKEN, refs: ['refs/heads/main'], resolve },
      recording,
    );
    expect(r).toMatchObject({ ok: true, updated: [{ ref: 'refs/heads/main', sha: await git(upstream, 'rev-parse', 'refs/heads/main') }] });
    const env = calls[0]!.env;
    const config = Array.from({ length: Number(env.GIT_CONFIG_COUNT) }, (_, i) => [env[`GIT_CONFIG_KEY_${i}`], env[`GIT_CONFIG_VALUE_${i}`]]);
    // An empty entry first drops any other config's entries, then exactly the address checked.
    expect(config.filter(([k]) => k === 'http.curloptResolve')).toEqual([
      ['http.curloptResolve', ''],
      ['http.curloptResolve', `forge.test:${port}:127.0.0.1`],
    ]);
  });

  it('refuses to fetch from or list a name that resolves to a link-local address, without running git', async () => {
    const never: GitRun = () => {
      throw new Error('git must not run');
    };
    const resolve: Resolve = async () => ['169.254.169.254'];
    const url = new URL('http://metadata.test/team/app.git');
    expect(await fetchUpstream({ gitDir: target, url, refs: ['refs/heads/main'], resolve }, never)).toEqual({
      ok: false,
      refused: true,
      problem: expect.stringMatching(
        /^fetch from http:\/\/metadata\.test\/team\/app\.git refused: host metadata\.test resolves to 169\.254\.169\.254, a link-local address; /,
      ),
    });
    expect(await remoteRef({ url, ref: 'refs/heads/main', resolve }, never)).toMatchObject({
      ok: false,
      refused: true,
      problem: expect.stringContaining('resolves to 169.254.169.254'),
    });
    // A literal one stored before the rule: refused as written, nothing resolved.
    for (const raw of ['http://2852039166/team/app.git', 'http://[::ffff:a9fe:a9fe]/team/app.git']) {
      expect(await fetchUpstream({ gitDir: target, url: new URL(raw), refs: ['refs/heads/main'] }, never)).toMatchObject({
        ok: false,
        refused: true,
        problem: expect.stringContaining('a link-local address'),
      });
      expect(await remoteRef({ url: new URL(raw), ref: 'refs/heads/main' }, never)).toMatchObject({ ok: false, refused: true });
    }
    // Unless the operator lists it.
    const listed = await fetchUpstream(
      {
        gitDir: target,
        url: new URL('http://169.254.169.254/team/app.git'),
        refs: ['refs/heads/main'],
        urlOptions: { allowHosts: (h) => h === '169.254.169.254' },
      },
      async () => ({ exitCode: 128, stdout: '', stderr: 'fatal: unable to access', timedOut: false, aborted: false }),
    );
    expect(listed).toMatchObject({ ok: false, problem: expect.stringMatching(/failed \(git exit 128\)/) });
    expect(listed).not.toHaveProperty('refused');
  });

  it('refuses refs that are not plain branch or tag names, and URLs that are not http(s), without running git', async () => {
    const never: GitRun = () => {
      throw new Error('git must not run');
    };
    for (const ref of [
      'main',
      'refs/heads/a:refs/heads/b',
      '+refs/heads/x',
      'refs/heads/*',
      'refs/remotes/o/x',
      'refs/heads/a..b',
      '-refs/heads/x',
      'refs/heads/x.lock',
    ]) {
      const r = await fetchUpstream({ gitDir: target, url: url('/team/app.git'), refs: [ref] }, never);
      expect(r, ref).toMatchObject({ ok: false, problem: expect.stringMatching(/only full branch or tag names/) });
    }
    expect(await fetchUpstream({ gitDir: target, url: new URL('file:///etc'), refs: ['refs/heads/main'] }, never)).toMatchObject({
      ok: false,
      problem: expect.stringMatching(/only http/),
    });
    expect(await fetchUpstream({ gitDir: target, url: new URL(`http://u:${TOKEN}@h/a`), refs: ['refs/heads/main'] }, never)).toMatchObject({
      ok: false,
      problem: expect.stringMatching(/credentials/),
    });
  });
});
