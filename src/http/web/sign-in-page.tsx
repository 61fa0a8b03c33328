import type { FC } from 'hono/jsx';
import { Layout } from './layout.js';

export const SignInPage: FC<{ next: string; error?: string | undefined }> = ({ next, error }) => (
  <Layout title="Sign in">
    <h1>Sign in</h1>
    <form class="signin" method="post" action="/login">
      <p class="muted">
        Use a token from <code>codehub-build user add</code> or <code>codehub-build token create</code>: the one your workspace has as{' '}
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
