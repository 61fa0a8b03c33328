import type { FC } from 'hono/jsx';
import { Layout } from './layout.js';

/** The sign-in page: the provider of single sign-on when there is one (`sso`), and the token form. */
export const SignInPage: FC<{ next: string; error?: string | undefined; sso?: { providerName: string } | undefined }> = ({ next, error, sso }) => (
  <Layout title="Sign in">
    <h1>Sign in</h1>
    {sso && (
      <p class="signin-sso">
        <a class="button" id="sso-sign-in" href={`/auth/login?next=${encodeURIComponent(next)}`}>
          Sign in with {sso.providerName}
        </a>
      </p>
    )}
    <form class="signin" method="post" action="/login">
      <p class="muted">
        {sso ? 'Or use' : 'Use'} a token from <code>codehub-build user add</code> or <code>codehub-build token create</code>: the one your workspace has as{' '}
        <code>CODEHUB_TOKEN</code>.
      </p>
      {error && (
        <p class="error" role="alert" id="signin-error">
          {error}
        </p>
      )}
      <label for="token">Token</label>
      <input
        id="token"
        name="token"
        type="password"
        autocomplete="current-password"
        required
        autofocus
        spellcheck={false}
        {...(error ? { 'aria-describedby': 'signin-error', 'aria-invalid': 'true' } : {})}
      />
      <input type="hidden" name="next" value={next} />
      <button type="submit">Sign in</button>
    </form>
  </Layout>
);
