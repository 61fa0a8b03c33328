import { execFileSync } from 'node:child_process';
import { createPublicKey, verify, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Access } from '../../src/auth/access.js';
import type { Caller } from '../../src/store/scopes.js';
import { BuildCredentials, grant, isRepositoryName, loadOrCreateTokenKey, parseScope, TokenIssuer } from '../../src/registry/token.js';
import { openDb } from '../../src/store/db.js';
import { Store } from '../../src/store/store.js';

const dir = mkdtempSync(join(tmpdir(), 'chb-rt-'));
const { key, certDer } = loadOrCreateTokenKey(join(dir, 'k.pem'), join(dir, 'c.pem'));
const store = new Store(openDb(':memory:'));
const ctx = { access: new Access(store), store };
const caller = (name: string, scopes: Caller['scopes'] = ['read', 'push']): Caller => ({
  user: { id: store.accounts.userByName(name)?.id ?? 0, name, createdAt: '', quotaBytes: null, ssoSubject: null },
  tokenId: 1,
  scopes,
});

describe('registry tokens', () => {
  it('makes its key once, private to this user, with a certificate the registry can trust', () => {
    expect(statSync(join(dir, 'k.pem')).mode & 0o777).toBe(0o600);
    const again = loadOrCreateTokenKey(join(dir, 'k.pem'), join(dir, 'c.pem'));
    expect(again.certDer.equals(certDer)).toBe(true);
    expect(execFileSync('openssl', ['x509', '-in', join(dir, 'c.pem'), '-noout', '-subject']).toString()).toContain('codehub-build');
  });

  it('signs an RS256 JWT with its certificate in x5c and the spec claims', () => {
    const t = new TokenIssuer(key, certDer, 'svc').issue('alice', [{ type: 'repository', name: 'alice/app', actions: ['pull'] }], 60);
    const [h, c, sig] = t.token.split('.') as [string, string, string];
    const header = JSON.parse(Buffer.from(h, 'base64url').toString());
    const claims = JSON.parse(Buffer.from(c, 'base64url').toString());
    expect(header).toMatchObject({ alg: 'RS256', typ: 'JWT' });
    expect(Buffer.from(header.x5c[0], 'base64').equals(certDer)).toBe(true);
    expect(claims).toMatchObject({ iss: 'codehub-build', sub: 'alice', aud: 'svc', access: [{ type: 'repository', name: 'alice/app', actions: ['pull'] }] });
    expect(claims.exp - claims.iat).toBe(60);
    const pub = createPublicKey(new X509Certificate(readFileSync(join(dir, 'c.pem'))).publicKey.export({ format: 'pem', type: 'spki' }));
    expect(verify('sha256', Buffer.from(`${h}.${c}`), pub, Buffer.from(sig, 'base64url'))).toBe(true);
  });

  it("grants a user their namespace, pull of system and cache, nothing of another's; a build exactly its repositories", () => {
    store.accounts.createUser('alice', 'h-a');
    store.accounts.createUser('bob', 'h-b');
    const want = (s: string) => parseScope(s)!;
    const alice = { kind: 'user' as const, caller: caller('alice') };
    expect(grant(alice, want('repository:alice/app:pull,push'), ctx)).toEqual(['pull', 'push']);
    expect(grant(alice, want('repository:bob/app:pull,push'), ctx)).toEqual([]);
    expect(grant(alice, want('repository:cache/busybox:pull,push'), ctx)).toEqual(['pull']);
    expect(grant({ kind: 'anonymous' }, want('repository:system/base:pull'), ctx)).toEqual(['pull']);
    expect(grant({ kind: 'anonymous' }, want('repository:alice/app:pull'), ctx)).toEqual([]);
    expect(grant({ kind: 'user', caller: caller('alice', ['read']) }, want('repository:alice/app:pull,push'), ctx)).toEqual(['pull']);
    expect(grant({ kind: 'user', caller: caller('bob', ['admin']) }, want('repository:alice/app:pull,push'), ctx)).toEqual(['pull', 'push']);
    const creds = new BuildCredentials();
    const c = creds.issue(7, ['alice/app'], 60_000);
    const build = { kind: 'build' as const, cred: creds.check(c.username, c.password)! };
    expect(grant(build, want('repository:alice/app:pull,push'), ctx)).toEqual(['pull', 'push']);
    expect(grant(build, want('repository:alice/other:pull,push'), ctx)).toEqual([]);
    expect(creds.check(c.username, c.password + 'x')).toBeUndefined();
    creds.revoke(c.username);
    expect(creds.check(c.username, c.password)).toBeUndefined();
    expect(parseScope('registry:catalog:*')).toEqual({ type: 'registry', name: 'catalog', actions: ['*'] });
  });

  it('grants nothing on a repository with no image part (out of every namespace, so of usage and quota), nor on a name the registry would refuse', () => {
    const want = (s: string) => parseScope(s)!;
    const alice = { kind: 'user' as const, caller: caller('alice') };
    const admin = { kind: 'user' as const, caller: caller('bob', ['admin']) };
    expect(grant(alice, want('repository:alice:pull,push'), ctx)).toEqual([]);
    expect(grant(alice, want('repository:cache:pull'), ctx)).toEqual([]);
    for (const name of [
      'alice/../bob/x',
      'alice/./x',
      'alice//x',
      'alice/x/',
      '/alice/x',
      'alice/X',
      'alice/-x',
      'alice/x-',
      'alice/x..y',
      'alice/x___y',
      `alice/${'x'.repeat(250)}`,
    ]) {
      expect(isRepositoryName(name), name).toBe(false);
      expect(grant(alice, want(`repository:${name}:pull,push`), ctx), name).toEqual([]);
      expect(grant(admin, want(`repository:${name}:pull,push`), ctx), name).toEqual([]);
    }
    for (const name of ['alice/app', 'alice/my-app', 'alice/a--b', 'alice/a__b', 'alice/a.b_c', 'alice/web/buildcache']) {
      expect(isRepositoryName(name), name).toBe(true);
      expect(grant(alice, want(`repository:${name}:pull,push`), ctx), name).toEqual(['pull', 'push']);
    }
    expect(parseScope('nonsense')).toBeNull();
  });
});
