import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { open, seal, SecretError, secretProblem } from '../../src/secrets/vault.js';

const key = randomBytes(32);
const value = Buffer.from('hunter2-ünï\n');

describe('secret sealing (AES-256-GCM)', () => {
  it('opens what it sealed, and never puts the value in the sealed text', () => {
    const sealed = seal(key, 'alice/shop', 'NPM_TOKEN', value);
    expect(sealed).toMatch(/^v1:[A-Za-z0-9+/=]+$/);
    expect(sealed).not.toContain(value.toString('base64'));
    expect(open(key, 'alice/shop', 'NPM_TOKEN', sealed).equals(value)).toBe(true);
    expect(seal(key, 'alice/shop', 'NPM_TOKEN', value)).not.toBe(sealed); // a fresh IV each time
  });

  it('refuses another key, another repo or name (a copied row), and any changed byte', () => {
    const sealed = seal(key, 'alice/shop', 'NPM_TOKEN', value);
    expect(() => open(randomBytes(32), 'alice/shop', 'NPM_TOKEN', sealed)).toThrow(SecretError);
    expect(() => open(key, 'bob/shop', 'NPM_TOKEN', sealed)).toThrow(SecretError);
    expect(() => open(key, 'alice/shop', 'OTHER', sealed)).toThrow(SecretError);
    const raw = Buffer.from(sealed.slice(3), 'base64');
    raw[raw.length - 1]! ^= 1;
    expect(() => open(key, 'alice/shop', 'NPM_TOKEN', 'v1:' + raw.toString('base64'))).toThrow(/cannot be decrypted/);
    expect(() => open(key, 'alice/shop', 'NPM_TOKEN', 'plain')).toThrow(/unknown format/);
  });

  it('says what is wrong with a name or value without repeating the value', () => {
    expect(secretProblem('NPM_TOKEN', value)).toBeNull();
    expect(secretProblem('9lives')).toContain('is not valid');
    expect(secretProblem('a-b')).toContain('is not valid');
    expect(secretProblem('x'.repeat(65))).toContain('is not valid');
    expect(secretProblem('EMPTY', Buffer.alloc(0))).toContain('is empty');
    const big = secretProblem('BIG', Buffer.alloc(70_000, 'z'));
    expect(big).toContain('limit is 65536');
    expect(big).not.toContain('zzz');
  });
});
