/**
 * The token server of the Docker registry's token authentication (distribution's token spec): the registry
 * answers 401 with `WWW-Authenticate: Bearer realm=<this server>/registry/token,service=...,scope=...`; the
 * client asks the realm with its credentials for the scopes; this issues a JWT (RS256, its certificate in
 * `x5c`; the registry trusts that certificate as `rootcertbundle`) granting what the caller may do.
 *
 * Who may do what: a user pushes and pulls their own namespace (`<user>/*`) and pulls `system/*` and
 * `cache/*` (anyone may pull those, signed in or not); an image of another user is pulled by those its git
 * repo is shared with; an admin token may do everything; a build's own credential pushes exactly its
 * repositories; a pull token (a deployment's) pulls its git repo's images and nothing else.
 */
import { execFileSync } from 'node:child_process';
import { createPrivateKey, randomBytes, sign, timingSafeEqual, X509Certificate, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Caller } from '../store/scopes.js';
import type { Store } from '../store/store.js';

export interface AccessEntry {
  type: string;
  name: string;
  actions: string[];
}

/** Reads `repository:alice/app:pull,push` (the name may hold `/`, never `:`); null when malformed. */
export function parseScope(scope: string): AccessEntry | null {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first <= 0 || last === first) return null;
  const actions = scope
    .slice(last + 1)
    .split(',')
    .filter((a) => /^[a-z*]+$/.test(a));
  return { type: scope.slice(0, first), name: scope.slice(first + 1, last), actions };
}

/**
 * The signing key and certificate under `<data>/secrets/registry-token.{key,crt}`, made with openssl on first
 * use (key mode 0600). The certificate is what the registry's `auth.token.rootcertbundle` must point at.
 */
export function loadOrCreateTokenKey(keyFile: string, certFile: string): { key: KeyObject; certDer: Buffer } {
  if (!existsSync(keyFile) || !existsSync(certFile)) {
    mkdirSync(dirname(keyFile), { recursive: true, mode: 0o700 });
    const tmpKey = `${keyFile}.tmp-${process.pid}`;
    const tmpCert = `${certFile}.tmp-${process.pid}`;
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        tmpKey,
        '-out',
        tmpCert,
        '-days',
        '3650',
        '-subj',
        '/CN=codehub-build registry token issuer',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    chmodSync(tmpKey, 0o600);
    renameSync(tmpCert, certFile);
    renameSync(tmpKey, keyFile);
  }
  const certPem = readFileSync(certFile, 'utf8');
  return { key: createPrivateKey(readFileSync(keyFile)), certDer: new X509Certificate(certPem).raw };
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

export class TokenIssuer {
  constructor(
    private key: KeyObject,
    private certDer: Buffer,
    readonly service: string,
    readonly issuer = 'codehub-build',
  ) {}

  /** A signed JWT for `sub` granting `access`, valid for `ttlSeconds`. */
  issue(sub: string, access: AccessEntry[], ttlSeconds = 300): { token: string; expiresIn: number; issuedAt: string } {
    const now = Math.floor(Date.now() / 1000);
    const header = { alg: 'RS256', typ: 'JWT', x5c: [this.certDer.toString('base64')] };
    const claims = { iss: this.issuer, sub, aud: this.service, exp: now + ttlSeconds, nbf: now - 5, iat: now, jti: randomBytes(12).toString('hex'), access };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const signature = sign('sha256', Buffer.from(input), this.key);
    return { token: `${input}.${b64url(signature)}`, expiresIn: ttlSeconds, issuedAt: new Date(now * 1000).toISOString() };
  }
}

/** A short-lived registry credential of one build: it may push and pull exactly `repositories`. */
interface BuildCredential {
  repositories: string[];
  expires: number;
}

/** Credentials handed to builds, in memory only: gone when the build ends or the server stops. */
export class BuildCredentials {
  private byUser = new Map<string, { password: Buffer; cred: BuildCredential }>();

  issue(buildId: number, repositories: string[], ttlMs: number): { username: string; password: string } {
    const username = `codehub-build-${buildId}-${randomBytes(4).toString('hex')}`;
    const password = randomBytes(24).toString('base64url');
    this.byUser.set(username, { password: Buffer.from(password), cred: { repositories, expires: Date.now() + ttlMs } });
    return { username, password };
  }

  revoke(username: string): void {
    this.byUser.delete(username);
  }

  /** The credential these basic-auth values name, if they are right and it has not expired. */
  check(username: string, password: string): BuildCredential | undefined {
    const e = this.byUser.get(username);
    if (!e || e.cred.expires < Date.now()) return undefined;
    const given = Buffer.from(password);
    return given.length === e.password.length && timingSafeEqual(given, e.password) ? e.cred : undefined;
  }
}

/** Who asks for a token: a signed-in user, a build's credential, a pull token of git repo owner/repo, or nobody. */
export type Requester =
  | { kind: 'user'; caller: Caller }
  | { kind: 'build'; cred: { repositories: string[] } }
  | { kind: 'pull'; owner: string; repo: string }
  | { kind: 'anonymous' };

/**
 * A repository name the registry accepts (distribution's reference grammar: path components of lowercase
 * alphanumerics joined by `.`, `_`, `__` or runs of `-`, separated by `/`; at most 255 characters). Nothing
 * else is ever signed: a token for `alice/../bob/x` would mean whatever the registry makes of it.
 */
const REPOSITORY_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
export const isRepositoryName = (name: string): boolean => name.length <= 255 && REPOSITORY_RE.test(name);

/** The actions of `want` that `who` may have, for one repository of the registry. */
export function grant(who: Requester, want: AccessEntry, ctx: { store: Store }): string[] {
  if (want.type !== 'repository' || !isRepositoryName(want.name)) return [];
  const [namespace = '', ...rest] = want.name.split('/');
  const image = rest.join('/');
  const allowed = new Set<string>();
  if ((namespace === 'system' || namespace === 'cache') && image) allowed.add('pull');
  if (who.kind === 'build') {
    if (who.cred.repositories.includes(want.name)) {
      allowed.add('pull');
      allowed.add('push');
    }
  } else if (who.kind === 'user') {
    const c = who.caller;
    const may = (scope: 'read' | 'push') => c.scopes.includes(scope) || c.scopes.includes('admin');
    // A user's namespace is `<user>/<image>`: a repository named just `<user>` is in no namespace, and usage,
    // quotas and retention (which count by namespace) would never see what was pushed there.
    if (c.scopes.includes('admin') || (namespace === c.user.name && image)) {
      if (may('read')) allowed.add('pull');
      if (may('push')) allowed.add('push');
    } else if (image && may('read') && sharedImage(ctx.store, c, namespace, image)) {
      allowed.add('pull');
    }
  } else if (who.kind === 'pull') {
    // A git repo's images are `<owner>/<image>`, the images its builds recorded (the repo's name unless its
    // codehub-build.yaml names others). Pull only, whatever is asked.
    if (namespace === who.owner && image && ctx.store.builds.builtImage(`${who.owner}/${who.repo}`, image)) allowed.add('pull');
  }
  return want.actions.filter((a) => allowed.has(a));
}

/** Whether some git repo of `owner` shared with the caller built an image named `image`. */
function sharedImage(store: Store, caller: Caller, owner: string, image: string): boolean {
  return store.repos.sharedWith(caller.user.id).some((repo) => repo.startsWith(`${owner}/`) && store.builds.builtImage(repo, image));
}
