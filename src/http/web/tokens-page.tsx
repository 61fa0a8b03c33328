import type { FC } from 'hono/jsx';
import type { Scope, TokenInfo } from '../../store/scopes.js';
import { Layout, When, type Viewer } from './layout.js';

/** A token just made: shown on this one answer only (the server keeps its hash). */
export interface NewToken {
  id: number;
  token: string;
  label: string;
  scopes: readonly Scope[];
  expiresAt: string | null;
}

/**
 * The signed-in user's personal tokens (for git, the CLI and the API): the list with a revoke button each, and a
 * form to make one. `made` is a token just made, shown once; `error` what was wrong with the form.
 */
export const TokensPage: FC<{
  viewer: Viewer;
  tokens: TokenInfo[];
  /** Scopes the viewer may give a token: those they are signed in with (admin only to an admin). */
  offered: readonly Scope[];
  /** The lifetimes offered, in days (null: never), the first the default; expiryChoices makes them. */
  expiries: readonly (number | null)[];
  made?: NewToken | undefined;
  error?: string | undefined;
  now: number;
}> = ({ viewer, tokens, offered, expiries, made, error, now }) => (
  <Layout title="Tokens" viewer={viewer}>
    <p class="crumbs">
      <a href="/">Repositories</a>
    </p>
    <h1>Tokens of {viewer.name}</h1>
    {made && (
      <section class="card" id="new-token" aria-labelledby="h-new-token">
        <h2 id="h-new-token">New token {made.label ? `“${made.label}”` : `#${made.id}`}</h2>
        <p role="status">
          Copy it now: it is shown only this once. It signs in as {viewer.name} with the scopes {made.scopes.join(', ')}
          {made.expiresAt ? ` until ${made.expiresAt}` : ', and never expires'}.
        </p>
        <p>
          <code id="token-value">{made.token}</code>
        </p>
        <p class="muted">
          With git: <code>{`git clone http://${viewer.name}:<token>@…`}</code>, or set <code>CODEHUB_TOKEN</code> for the CLI.
        </p>
      </section>
    )}
    <section class="card" aria-labelledby="h-list">
      <h2 id="h-list">Your tokens</h2>
      {tokens.length === 0 ? (
        <p>No tokens yet.</p>
      ) : (
        <div class="scroll">
          <table id="tokens">
            <thead>
              <tr>
                <th scope="col">Id</th>
                <th scope="col">Label</th>
                <th scope="col">Scopes</th>
                <th scope="col">Created</th>
                <th scope="col">Last used</th>
                <th scope="col">Expires</th>
                <th scope="col">
                  <span class="muted">Revoke</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {tokens.map((t) => (
                <tr id={`token-${t.id}`}>
                  <td class="num">{t.id}</td>
                  <td>{t.label || <span class="muted">—</span>}</td>
                  <td>{t.scopes.join(', ')}</td>
                  <td>
                    <When iso={t.createdAt} now={now} />
                  </td>
                  <td>
                    <When iso={t.lastUsedAt} now={now} />
                  </td>
                  <td>{t.expiresAt ? <When iso={t.expiresAt} now={now} /> : 'never'}</td>
                  <td>
                    <form method="post" action={`/tokens/${t.id}/revoke`}>
                      <input type="hidden" name="csrf" value={viewer.csrf} />
                      <button type="submit" aria-label={`Revoke token ${t.id}`}>
                        Revoke
                      </button>
                    </form>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
    <section class="card" aria-labelledby="h-make">
      <h2 id="h-make">Make a token</h2>
      {error && (
        <p class="error" role="alert" id="token-error">
          {error}
        </p>
      )}
      <form method="post" action="/tokens">
        <input type="hidden" name="csrf" value={viewer.csrf} />
        <label for="label">Label</label>
        <input id="label" name="label" maxlength={100} placeholder="what it is for: laptop, CI, workspace" />
        <fieldset>
          <legend>Scopes</legend>
          {offered.map((s) => (
            <label>
              <input type="checkbox" name="scopes" value={s} checked={s !== 'admin'} /> {s}
            </label>
          ))}
        </fieldset>
        <label for="expires">Expires</label>
        <select id="expires" name="expires">
          {expiries.map((d) => (
            <option value={d === null ? 'never' : String(d)}>{d === null ? 'never' : `in ${d} days`}</option>
          ))}
        </select>
        <button type="submit">Make token</button>
      </form>
    </section>
  </Layout>
);

/**
 * The lifetimes the form offers: 90 days first (a quarter: long enough for a laptop, short enough that a
 * forgotten token dies), then 30 and 7, and never; under a site maximum (CODEHUB_TOKEN_MAX_DAYS) only what fits,
 * with the maximum itself, and no "never".
 */
export function expiryChoices(maxDays: number | null): (number | null)[] {
  if (maxDays === null) return [90, 30, 7, null];
  return [...new Set([90, 30, 7].filter((d) => d <= maxDays).concat(maxDays > 90 ? [] : [maxDays]))].sort((a, b) => b - a);
}
