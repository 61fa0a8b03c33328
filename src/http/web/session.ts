import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Context } from 'hono';
import { deleteCookie, setCookie } from 'hono/cookie';
import { SESSION_COOKIE } from '../auth.js';

/**
 * The web sign-in: the cookie holds the token the user typed (HTTP-only, SameSite=Lax, Secure behind
 * https), so revoking the token signs the browser out too and nothing new is stored. Forms that change
 * state carry a CSRF token: an HMAC of the session token under the server's web key, which another site
 * can neither read nor compute.
 */
export class WebSession {
  constructor(
    private key: Buffer,
    private secure: boolean,
    private maxAgeDays = 30,
  ) {}

  /** Sets the cookie; `days` is how long the browser keeps it (a single sign-on session's own lifetime). */
  signIn(c: Context, token: string, days = this.maxAgeDays): void {
    setCookie(c, SESSION_COOKIE, token, { httpOnly: true, sameSite: 'Lax', secure: this.secure, path: '/', maxAge: Math.round(days * 86400) });
  }

  signOut(c: Context): void {
    deleteCookie(c, SESSION_COOKIE, { path: '/', secure: this.secure });
  }

  /** The CSRF token the forms of a page signed in with `token` carry. */
  csrf(token: string): string {
    return createHmac('sha256', this.key)
      .update('csrf\0' + token)
      .digest('base64url');
  }

  /** Whether a form's CSRF token is the one for `token`, compared in constant time. */
  csrfValid(token: string, sent: unknown): boolean {
    if (typeof sent !== 'string') return false;
    const want = Buffer.from(this.csrf(token));
    const got = Buffer.from(sent);
    return got.length === want.length && timingSafeEqual(got, want);
  }
}
