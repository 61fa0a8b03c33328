/**
 * What every page shares: the layout around it, the paths pages link by, a build's status mark, a time, the
 * error page, and the document a page is sent as. Each page is a module of its own beside this one.
 */
import type { Child, FC, PropsWithChildren } from 'hono/jsx';
import type { BuildStatus } from '../../store/schema.js';
import { absolute, ago } from './format.js';

/** Who is looking, as the layout and the action buttons need it. */
export interface Viewer {
  name: string;
  /** The CSRF token this viewer's forms carry. */
  csrf: string;
}

const enc = encodeURIComponent;
export const buildPath = (id: number) => `/builds/${id}`;
export const repoPath = (repo: string, q?: Record<string, string | undefined>) => {
  const params = new URLSearchParams(Object.entries(q ?? {}).filter((e): e is [string, string] => !!e[1]));
  return `/repos/${repo.split('/').map(enc).join('/')}${params.size ? `?${params}` : ''}`;
};
export const commitPath = (repo: string, sha: string) => `${repoPath(repo)}/commits/${sha}`;
export const imagesPath = (owner: string, image?: string) => `/images/${enc(owner)}${image ? `#image-${enc(image)}` : ''}`;

export const Layout: FC<PropsWithChildren<{ title: string; viewer?: Viewer | undefined; scripts?: string[]; refreshWithoutScript?: number }>> = ({
  title,
  viewer,
  scripts,
  refreshWithoutScript,
  children,
}) => (
  <html lang="en">
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      <title>{`${title} · codehub-build`}</title>
      <link rel="stylesheet" href="/static/app.css" />
      <link rel="icon" href="/static/favicon.svg" type="image/svg+xml" />
      {(scripts ?? []).map((s) => (
        <script src={s} defer></script>
      ))}
      {refreshWithoutScript && (
        <noscript>
          <meta http-equiv="refresh" content={String(refreshWithoutScript)} />
        </noscript>
      )}
    </head>
    <body>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="site">
        <nav aria-label="Site">
          <a class="brand" href="/">
            codehub-build
          </a>
          {viewer && <a href={imagesPath(viewer.name)}>Images</a>}
          {viewer && <a href="/vulnerabilities">Vulnerabilities</a>}
          {viewer && <a href="/tokens">Tokens</a>}
          {viewer && <a href="/audit">Audit log</a>}
          {viewer && (
            <span>
              Signed in as <strong>{viewer.name}</strong>
            </span>
          )}
          {viewer && (
            <form method="post" action="/logout">
              <input type="hidden" name="csrf" value={viewer.csrf} />
              <button type="submit">Sign out</button>
            </form>
          )}
        </nav>
      </header>
      <main id="main">{children}</main>
    </body>
  </html>
);

const STATUS_MARK: Record<BuildStatus | 'none', string> = { succeeded: '✓', failed: '✗', running: '●', queued: '○', canceled: '⊘', skipped: '–', none: '·' };

export const Status: FC<{ status: BuildStatus | 'none' }> = ({ status }) => (
  <span class={`status s-${status}`}>
    <span aria-hidden="true">{STATUS_MARK[status]} </span>
    {status === 'none' ? 'no builds' : status}
  </span>
);

/** A relative time, with the absolute one on hover and for machines. */
export const When: FC<{ iso: string | null | undefined; now: number }> = ({ iso, now }) =>
  iso ? (
    <time datetime={iso} title={absolute(iso)}>
      {ago(iso, now)}
    </time>
  ) : (
    <span class="muted">—</span>
  );

export const ErrorPage: FC<{ status: number; message: string; viewer?: Viewer | undefined }> = ({ status, message, viewer }) => (
  <Layout title={`${status}`} viewer={viewer}>
    <h1>
      {status === 404
        ? 'Not found'
        : status === 403
          ? 'Not allowed'
          : status === 429
            ? 'Too many attempts'
            : status >= 500
              ? 'Server error'
              : 'Cannot show this'}
    </h1>
    <p role="alert">{message}</p>
    <p>
      <a href="/">Your repositories</a>
      {!viewer && (
        <>
          {' '}
          · <a href="/login">Sign in</a>
        </>
      )}
    </p>
  </Layout>
);

/** The document for a page: the doctype, then the page. */
export function html(page: Child): string {
  return '<!doctype html>' + String(page);
}
