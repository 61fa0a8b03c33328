import { execa } from 'execa';
import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { gitEnv } from '../git/env.js';
import { refValue } from '../git/read.js';

/**
 * The upstream side of a repo linked to a forge (issue 17, DESIGN.md "Existing forges"): checking the
 * upstream URL an owner gives, and fetching pushed refs from it into the bare repo here.
 *
 * The URL is handed to git, which understands far more than http(s): local paths, `file://`, `ssh://`,
 * scp-like `host:path`, and `ext::<command>` which runs a command. Only http(s) is allowed, by the check
 * below and again by git's own `protocol.*.allow` settings at fetch time.
 *
 * A token for a private upstream never goes into a URL (git writes remote URLs into config, FETCH_HEAD and
 * error messages) nor into git's arguments (visible to every user through `ps`): it reaches git through the
 * environment only, as an `http.extraHeader` set with GIT_CONFIG_COUNT (git >= 2.31).
 *
 * Hosts: internal and loopback ones are allowed (on-premises forges live there), link-local addresses
 * (cloud metadata) are not, whether the URL spells one or its host name resolves to one, unless the
 * operator's list names the host; checked when a link is made and again before every git process.
 */

export type UpstreamUrlCheck = { ok: true; url: URL; display: string } | { ok: false; problem: string };

export interface UpstreamUrlOptions {
  /**
   * An operator's restriction of upstream hosts (CODEHUB_UPSTREAM_HOSTS). Without it every host is allowed but
   * link-local addresses (hostProblem): internal hosts are the normal case on-premises.
   */
  allowHosts?: (host: string) => boolean;
}

/**
 * Checks an upstream URL for fetching: its form (checkUpstreamShape) and its host (hostProblem: the operator's
 * list, else no link-local address).
 */
export function checkUpstreamUrl(raw: string, opts: UpstreamUrlOptions = {}): UpstreamUrlCheck {
  const shape = checkUpstreamShape(raw);
  if (!shape.ok) return shape;
  const problem = hostProblem(shape.url.hostname, opts);
  // The URL as given (it passed the checks, so it carries no credentials): a refused spelling is recognisable.
  return problem === null ? shape : { ok: false, problem: `upstream URL ${JSON.stringify(raw)} ${problem}` };
}

/**
 * The form of an upstream URL alone: http(s) only, no credentials, query, fragment, local paths, `ext::` or
 * git options. Parsing a stored link's URL (Forge.apiBase, repoPath) needs only this; whatever reaches the
 * network checks the host too (checkUpstreamUrl).
 */
export function checkUpstreamShape(raw: string): UpstreamUrlCheck {
  // Credentials in a refused URL are not repeated back (answers and logs would keep them).
  const shown = raw.replace(/\/\/[^/@]*@/, '//***@');
  const bad = (why: string): UpstreamUrlCheck => ({ ok: false, problem: `upstream URL ${JSON.stringify(shown)} ${why}` });
  if (raw === '') return { ok: false, problem: 'upstream URL is empty' };
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(raw)) return bad('contains control characters');
  if (raw.startsWith('-')) return bad('starts with "-", which git would read as an option');
  if (/^[A-Za-z0-9+.-]+::/.test(raw)) return bad('uses git\'s "<transport>::<address>" form (ext:: runs commands); only http:// and https:// URLs are allowed');
  if (/^(\/|\.{1,2}(\/|$)|~)/.test(raw) || /^[A-Za-z]:\\/.test(raw)) return bad('is a local path; only http:// and https:// URLs are allowed');
  if (/\s/.test(raw)) return bad('contains whitespace');
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(raw)?.[1]?.toLowerCase();
  if (scheme === undefined) {
    // Without "://", git reads "host:path" (and "user@host:path") as an ssh address, anything else as a path.
    const colon = /^([^/]*?):/.exec(raw);
    if (colon && /^[A-Za-z][A-Za-z0-9+.-]*$/.test(colon[1]!)) return bad(`has the scheme "${colon[1]}:", not http or https`);
    if (colon) return bad('looks like an ssh address (user@host:path); only http:// and https:// URLs are allowed');
    return bad('has no scheme; it would be read as a local path. Use http:// or https://');
  }
  if (scheme !== 'http' && scheme !== 'https') return bad(`uses ${scheme}://; only http:// and https:// URLs are allowed`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return bad('is not a valid URL');
  }
  if (url.username !== '' || url.password !== '') {
    return bad("contains credentials (user:token@); a token goes in the link's status_token, never in a URL");
  }
  if (url.hostname === '') return bad('has no host');
  if (url.search !== '' || url.hash !== '' || raw.includes('?') || raw.includes('#')) return bad('has a query or fragment; a repository URL has neither');
  let decoded: string;
  try {
    decoded = decodeURIComponent(url.pathname);
  } catch {
    return bad('has broken percent-encoding');
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]|\s/.test(decoded)) return bad('contains encoded control characters or whitespace');
  // The URL always follows `--` at fetch time; this only refuses URLs whose sole purpose is an attack.
  if (/--(upload-pack|receive-pack|exec|config)/i.test(decoded)) return bad('contains a git option (--upload-pack and the like)');
  const path = url.pathname.replace(/\/+$/, '');
  if (path === '') return bad('names a host but no repository path');
  const display = `${url.protocol}//${url.host}${path}`;
  return { ok: true, url: new URL(display), display };
}

// ---------------------------------------------------------------------------------------------------------
// Hosts

/**
 * Link-local addresses: 169.254.0.0/16 and fe80::/10, where cloud metadata services answer (169.254.169.254)
 * with the machine's credentials. Also the IPv6 forms that carry such an IPv4 address
 * (BlockList matches ::ffff:a.b.c.d itself): IPv4-compatible ::a.b.c.d, SIIT's ::ffff:0:a.b.c.d and NAT64's
 * 64:ff9b::a.b.c.d, which some stacks and gateways deliver to the IPv4 address.
 */
const LINK_LOCAL = new BlockList();
LINK_LOCAL.addSubnet('169.254.0.0', 16, 'ipv4');
LINK_LOCAL.addSubnet('fe80::', 10, 'ipv6');
for (const prefix of ['::', '::ffff:0:', '64:ff9b::']) LINK_LOCAL.addSubnet(`${prefix}a9fe:0`, 112, 'ipv6');

/** The rule, as every refusal states it. */
export const LINK_LOCAL_RULE =
  'link-local addresses (169.254.0.0/16, fe80::/10: cloud metadata services answer there) are refused unless the operator lists the host in CODEHUB_UPSTREAM_HOSTS';

/** Whether `address` (an IP address, IPv6 with or without brackets; a name is not) is link-local. */
export function isLinkLocal(address: string): boolean {
  const a = address.replace(/^\[(.*)\]$/, '$1');
  const v = isIP(a);
  return v !== 0 && LINK_LOCAL.check(a, v === 6 ? 'ipv6' : 'ipv4');
}

/**
 * Why a URL's host (`URL.hostname`: the WHATWG parser has already turned every IPv4 spelling, decimal, hex,
 * octal, short or with a trailing dot, into a.b.c.d, and IPv6 into its short form) may not be reached; null
 * when it may. The operator's list, when set, decides alone: a host it names is allowed, link-local or not.
 * Without it every host is allowed but link-local addresses: internal and loopback hosts are the normal case
 * on-premises.
 */
export function hostProblem(host: string, opts: UpstreamUrlOptions = {}): string | null {
  if (opts.allowHosts) return opts.allowHosts(host) ? null : `names host ${host}, which the operator's setting does not allow`;
  return isLinkLocal(host) ? `names host ${host}, a link-local address; ${LINK_LOCAL_RULE}` : null;
}

/** A host name's addresses (the system resolver's, as git's libcurl and node's http use); replaceable in tests. */
export type Resolve = (host: string) => Promise<string[]>;
export const systemResolve: Resolve = async (host) => (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);

export type ResolvedHost = { ok: true; addresses: string[] | null } | { ok: false; problem: string };

/**
 * A host name checked by what it resolves to now: a name can point at a link-local address as well as a
 * literal can. `addresses` are what was checked, for pinning the connection to them (a second lookup by the
 * client could be answered differently); null when nothing was resolved: an IP literal (checked as written),
 * a host the operator's list names, or a name that does not resolve here (the client then fails on it alone,
 * or reaches it through a proxy, which resolves it itself).
 */
export async function resolveHost(host: string, opts: UpstreamUrlOptions & { resolve?: Resolve } = {}): Promise<ResolvedHost> {
  const bare = host.replace(/^\[(.*)\]$/, '$1');
  if (isIP(bare) !== 0 || opts.allowHosts?.(host)) return { ok: true, addresses: null };
  let addresses: string[];
  try {
    addresses = await (opts.resolve ?? systemResolve)(bare);
  } catch {
    return { ok: true, addresses: null };
  }
  const bad = addresses.find(isLinkLocal);
  if (bad !== undefined) return { ok: false, problem: `host ${host} resolves to ${bad}, a link-local address; ${LINK_LOCAL_RULE}` };
  return { ok: true, addresses: addresses.length > 0 ? addresses : null };
}

/** One git process: what fetchUpstream runs, replaceable so tests can see every argument and variable. */
export type GitRun = (args: string[], env: Record<string, string>, opts: { timeoutMs: number; signal?: AbortSignal }) => Promise<GitRunResult>;
export interface GitRunResult {
  exitCode: number | undefined;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  aborted: boolean;
}

/**
 * Runs git in its own process group, and on timeout or abort kills the whole group: `git fetch` does the
 * network work in a `git-remote-https` child, which would otherwise outlive a killed parent and hang on a
 * silent server.
 */
export const runGit: GitRun = async (args, env, { timeoutMs, signal }) => {
  let timedOut = false;
  let aborted = false;
  const child = execa('git', args, { env, extendEnv: false, reject: false, stdin: 'ignore', detached: true, maxBuffer: 1_000_000 });
  const killGroup = () => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  };
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup();
  }, timeoutMs);
  const onAbort = () => {
    aborted = true;
    killGroup();
  };
  if (signal?.aborted) onAbort();
  else signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const r = await child;
    const spawnError = r.failed && r.exitCode === undefined && !timedOut && !aborted ? (r.shortMessage ?? '') : '';
    return { exitCode: r.exitCode, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') || spawnError, timedOut, aborted };
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
};

export interface FetchUpstreamOptions {
  /** The bare repo to fetch into (RepoStore.path). */
  gitDir: string;
  /** A URL that passed checkUpstreamUrl (checked again here). */
  url: URL;
  /** For a private upstream: sent as HTTP Basic auth through the environment only. */
  token?: string;
  /** The Basic auth user name sent with the token. GitHub and Gitea accept any name; GitLab wants `oauth2` for OAuth tokens. */
  username?: string;
  /** Full ref names, refs/heads/... or refs/tags/...; each is fetched onto the same name here, forced. */
  refs: string[];
  signal?: AbortSignal;
  /** Default 120 s. */
  timeoutMs?: number;
  /** The operator's restriction of hosts; the URL's host and what it resolves to are checked against it before git runs. */
  urlOptions?: UpstreamUrlOptions;
  /** Default: the system resolver. */
  resolve?: Resolve;
}

export type FetchUpstreamResult =
  | { ok: true; updated: { ref: string; sha: string }[] }
  /**
   * `missing`: requested refs the upstream does not have (deleted there, or never pushed); nothing was updated.
   * `refused`: the URL or its host is not allowed (hostProblem, resolveHost); nothing was contacted.
   */
  | { ok: false; problem: string; missing?: string[]; refused?: true };

const DEFAULT_TIMEOUT_MS = 120_000;

/** Variables passed through from the server's environment: an on-premises network may need a proxy or its own CA. */
const NETWORK_ENV = ['http_proxy', 'https_proxy', 'HTTPS_PROXY', 'no_proxy', 'NO_PROXY', 'GIT_SSL_CAINFO', 'GIT_SSL_CAPATH', 'SSL_CERT_FILE', 'SSL_CERT_DIR'];

/**
 * Fetches exactly `refs` from the upstream into the bare repo, each onto the same name and forced
 * (`+refs/heads/x:refs/heads/x`), so the commits land as if pushed here, rewritten history included. All
 * refs move together or none (`--atomic`).
 *
 * A ref the upstream does not have is a failure with `missing` naming it, and nothing is updated: this
 * library never deletes a ref. A branch deleted on the forge arrives as a push whose new sha is all zeros,
 * and the caller deletes the branch here through the same path as a deletion pushed here (so retention
 * sees it); a fetch that finds a ref gone anyway (deleted between the webhook and the fetch) should be
 * treated the same way.
 *
 * `updated` lists every requested ref with the sha it points at after the fetch, changed or not: the caller
 * compares it with the sha the webhook announced.
 */
export async function fetchUpstream(opts: FetchUpstreamOptions, run: GitRun = runGit): Promise<FetchUpstreamResult> {
  const checked = checkUpstreamUrl(opts.url.href, opts.urlOptions);
  if (!checked.ok) return { ...checked, refused: true };
  const display = checked.display;
  const refProblem = opts.refs.map(refNameProblem).find((p) => p !== null);
  if (refProblem) return { ok: false, problem: refProblem };
  if (opts.refs.length === 0) return { ok: true, updated: [] };
  const pin = await pinnedHost(checked.url, opts);
  if (!pin.ok) return { ok: false, problem: `fetch from ${display} refused: ${pin.problem}`, refused: true };
  const net = networkGit({ ...opts, pin: pin.pin }, display, 'fetch from');
  if (!net.ok) return net;
  const { env, secrets } = net;
  const args = [
    ...NETWORK_OPTIONS,
    '--git-dir',
    opts.gitDir,
    'fetch',
    '--quiet', // no progress lines in the error text
    '--no-tags', // exactly the refs asked for: no tags following along
    '--no-write-fetch-head', // nothing about the upstream is written into the repo
    '--no-recurse-submodules',
    '--atomic',
    '--',
    display,
    ...opts.refs.map((r) => `+${r}:${r}`),
  ];
  const r = await run(args, env, { timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS, signal: opts.signal });
  const stderr = mask(r.stderr.trim(), secrets).slice(-2000);
  if (r.timedOut) return { ok: false, problem: `fetch from ${display} took longer than ${(opts.timeoutMs ?? DEFAULT_TIMEOUT_MS) / 1000} s and was stopped` };
  if (r.aborted) return { ok: false, problem: `fetch from ${display} was cancelled` };
  if (r.exitCode !== 0) {
    const missing = opts.refs.filter((ref) => stderr.includes(`couldn't find remote ref ${ref}`));
    if (missing.length > 0)
      return { ok: false, problem: `fetch from ${display}: the upstream has no ${missing.join(', ')} (deleted there?); nothing was updated`, missing };
    if (/terminal prompts disabled|Authentication failed|HTTP 40[13]|\b40[13]\b/.test(stderr)) {
      const why = secrets.length > 0 ? 'refused the token' : 'asks for credentials and the link has no token';
      return { ok: false, problem: `fetch from ${display}: the upstream ${why} (git said: ${stderr})` };
    }
    return { ok: false, problem: `fetch from ${display} failed (git exit ${r.exitCode ?? 'none'}): ${stderr || 'no output'}` };
  }

  // Read from the ref files, not by another git process: this is on every webhook's path.
  const updated: { ref: string; sha: string }[] = [];
  for (const ref of opts.refs) {
    const sha = await refValue(opts.gitDir, ref);
    if (sha === null) return { ok: false, problem: `fetch from ${display} succeeded but ${ref} cannot be read here` };
    updated.push({ ref, sha });
  }
  return { ok: true, updated };
}

/**
 * Options of every git process that reaches an upstream. Only http(s) can be reached, whatever the URL turns
 * into (a redirect, a submodule): `never` for every other transport, including file and ext. A redirect
 * could send the request (and our Authorization header) to another host: none is followed. An empty helper
 * list: no stored credentials are sent to the upstream, and none are saved.
 */
const NETWORK_OPTIONS = [
  '-c',
  'protocol.allow=never',
  '-c',
  'protocol.http.allow=always',
  '-c',
  'protocol.https.allow=always',
  '-c',
  'http.followRedirects=false',
  '-c',
  'credential.helper=',
];

/**
 * What `url`'s host resolves to, checked (resolveHost), as an `http.curloptResolve` entry (`host:port:addr,...`,
 * git >= 2.37) that makes git's libcurl connect to exactly those addresses: a DNS answer that changes between
 * this check and git's own lookup (rebinding) cannot send git elsewhere. Null when nothing was resolved.
 */
async function pinnedHost(
  url: URL,
  opts: { urlOptions?: UpstreamUrlOptions | undefined; resolve?: Resolve | undefined },
): Promise<{ ok: true; pin: string | null } | { ok: false; problem: string }> {
  const r = await resolveHost(url.hostname, { ...opts.urlOptions, ...(opts.resolve ? { resolve: opts.resolve } : {}) });
  if (!r.ok) return r;
  if (r.addresses === null) return { ok: true, pin: null };
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  return { ok: true, pin: `${url.hostname}:${port}:${r.addresses.map((a) => (isIP(a) === 6 ? `[${a}]` : a)).join(',')}` };
}

/**
 * The environment of a git process that reaches an upstream: no prompts, no config of the server user's own
 * (`~/.gitconfig` could rewrite URLs or add headers for them), the network variables an on-premises network
 * needs, and the token as an `http.extraHeader` through GIT_CONFIG_COUNT, never in an argument or a URL.
 * `secrets` are what must be masked in git's output.
 */
function networkGit(
  opts: { token?: string | undefined; username?: string | undefined; pin?: string | null },
  display: string,
  doing: string,
): { ok: true; env: Record<string, string>; secrets: string[] } | { ok: false; problem: string } {
  const secrets: string[] = [];
  const env = gitEnv({
    ...Object.fromEntries(NETWORK_ENV.flatMap((k) => (process.env[k] ? [[k, process.env[k]!]] : []))),
    GIT_CONFIG_GLOBAL: '/dev/null',
    // Never ask anyone for a password: a refused token is an error, not a prompt that hangs the fetch.
    GIT_TERMINAL_PROMPT: '0',
    GIT_ASKPASS: '', // empty: no askpass program (git does not fall back to SSH_ASKPASS when it is set)
  });
  // The first entry empties any http.extraHeader list from other config, so only ours is sent.
  const config: [string, string][] = [['http.extraHeader', '']];
  // The same for name resolution: an empty value drops any other config's entries, then ours, when resolved.
  if (opts.pin) config.push(['http.curloptResolve', ''], ['http.curloptResolve', opts.pin]);
  if (opts.token !== undefined && opts.token !== '') {
    const username = opts.username || 'x-access-token';
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u001f\u007f]/.test(opts.token + username) || username.includes(':')) {
      return { ok: false, problem: `${doing} ${display}: the token or user name contains control characters or the user name a ":"; refused` };
    }
    const basic = Buffer.from(`${username}:${opts.token}`).toString('base64');
    config.push(['http.extraHeader', `Authorization: Basic ${basic}`]);
    secrets.push(opts.token, basic);
  }
  env.GIT_CONFIG_COUNT = String(config.length);
  config.forEach(([k, v], i) => {
    env[`GIT_CONFIG_KEY_${i}`] = k;
    env[`GIT_CONFIG_VALUE_${i}`] = v;
  });
  return { ok: true, env, secrets };
}

export type RemoteRefResult = { ok: true; sha: string | null } | { ok: false; problem: string; refused?: true };

/**
 * What `ref` names on the upstream now (null: it has no such ref), by `git ls-remote` with the same
 * protections as a fetch. A deletion announced by a webhook is checked with it: deliveries can arrive late
 * or out of order, and a branch made again since must not be deleted here.
 */
export async function remoteRef(
  opts: {
    url: URL;
    token?: string | undefined;
    username?: string | undefined;
    ref: string;
    timeoutMs?: number;
    urlOptions?: UpstreamUrlOptions | undefined;
    resolve?: Resolve;
  },
  run: GitRun = runGit,
): Promise<RemoteRefResult> {
  const checked = checkUpstreamUrl(opts.url.href, opts.urlOptions);
  if (!checked.ok) return { ...checked, refused: true };
  const problem = refNameProblem(opts.ref);
  if (problem) return { ok: false, problem };
  const pin = await pinnedHost(checked.url, opts);
  if (!pin.ok) return { ok: false, problem: `listing refs of ${checked.display} refused: ${pin.problem}`, refused: true };
  const net = networkGit({ ...opts, pin: pin.pin }, checked.display, 'listing refs of');
  if (!net.ok) return net;
  const r = await run([...NETWORK_OPTIONS, 'ls-remote', '--', checked.display, opts.ref], net.env, { timeoutMs: opts.timeoutMs ?? 30_000 });
  const stderr = mask(r.stderr.trim(), net.secrets).slice(-2000);
  if (r.timedOut) return { ok: false, problem: `listing refs of ${checked.display} took too long and was stopped` };
  if (r.exitCode !== 0) return { ok: false, problem: `listing refs of ${checked.display} failed (git exit ${r.exitCode ?? 'none'}): ${stderr || 'no output'}` };
  // ls-remote matches patterns by their tail: keep the exact ref only.
  const line = r.stdout
    .split('\n')
    .map((l) => l.split('\t'))
    .find(([, name]) => name === opts.ref);
  return { ok: true, sha: line?.[0] ?? null };
}

/** Refs are fetched as `+ref:ref`: only plain branch and tag names, nothing that changes the refspec's meaning. */
function refNameProblem(ref: string): string | null {
  const ok =
    /^refs\/(heads|tags)\/[^\s~^:?*[\\\u0000-\u001f\u007f]+$/.test(ref) &&
    !ref.includes('..') &&
    !ref.includes('@{') &&
    !ref.includes('//') &&
    !/(^|\/)\./.test(ref) &&
    !/(\.lock|\/|\.)$/.test(ref);
  return ok ? null : `cannot fetch ${JSON.stringify(ref)}: only full branch or tag names (refs/heads/..., refs/tags/...) are fetched`;
}

/** Defence in depth: git has no reason to print the token, but if it ever does, it is not passed on. */
function mask(text: string, secrets: string[]): string {
  return secrets.reduce((t, s) => t.split(s).join('***'), text);
}
