import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'x-codehub-signature-256';

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
