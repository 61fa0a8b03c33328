import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sign, verify } from '../../src/auth/hook-signature.js';
import { loadOrCreateKey } from '../../src/auth/key-file.js';
import { hashToken, parseAuthorization } from '../../src/auth/tokens.js';

describe('hook signatures', () => {
  const dir = mkdtempSync(join(tmpdir(), 'chb-key-'));
  const file = join(dir, 'secrets', 'hook.key');
  const key = loadOrCreateKey(file);

  it('creates the key once, mode 0600, and reads the same key back', () => {
    expect(key).toHaveLength(32);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(loadOrCreateKey(file).equals(key)).toBe(true);
  });

  it('accepts only the exact body it signed with the right key', () => {
    const body = Buffer.from('{"repo":"alice/shop"}');
    const sig = sign(key, body);
    expect(sig).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(verify(key, body, sig)).toBe(true);
    expect(verify(key, Buffer.from('{"repo":"alice/shoq"}'), sig)).toBe(false);
    expect(verify(Buffer.alloc(32), body, sig)).toBe(false);
    expect(verify(key, body, undefined)).toBe(false);
    expect(verify(key, body, 'sha256=00')).toBe(false);
  });
});

describe('authorization header', () => {
  it('reads bearer and basic credentials and rejects the malformed', () => {
    expect(parseAuthorization('Bearer abc')).toEqual({ token: 'abc' });
    expect(parseAuthorization('Basic ' + Buffer.from('alice:t:k').toString('base64'))).toEqual({ user: 'alice', token: 't:k' });
    expect(parseAuthorization('Basic ' + Buffer.from('nocolon').toString('base64'))).toBeUndefined();
    expect(parseAuthorization('Digest x')).toBeUndefined();
    expect(parseAuthorization(undefined)).toBeUndefined();
    expect(hashToken('x')).toMatch(/^[0-9a-f]{64}$/);
  });
});
