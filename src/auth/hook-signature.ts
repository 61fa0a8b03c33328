import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export const SIGNATURE_HEADER = 'x-codehub-signature-256';

/** Reads the hook HMAC key, generating it (mode 0600) on first start. */
export function loadOrCreateKey(file: string): Buffer {
  if (!existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    try {
      writeFileSync(file, randomBytes(32).toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e; // another process made it first
    }
  }
  return Buffer.from(readFileSync(file, 'utf8').trim(), 'hex');
}

export function sign(key: Buffer, body: Uint8Array | string): string {
  return 'sha256=' + createHmac('sha256', key).update(body).digest('hex');
}

/** Constant-time check of `X-Codehub-Signature-256: sha256=<hex>` against the raw body. */
export function verify(key: Buffer, body: Uint8Array, header: string | undefined): boolean {
  if (!header) return false;
  const expected = Buffer.from(sign(key, body));
  const got = Buffer.from(header.trim());
  return got.length === expected.length && timingSafeEqual(got, expected);
}
