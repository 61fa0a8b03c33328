import type { Child, FC, PropsWithChildren } from 'hono/jsx';
import { raw } from 'hono/html';
import type { LogLine } from '../../logs/store.js';
import type { Build, BuildStatus, BuildStep, CommitStatusRow, Repo, UploadBuild } from '../../store/schema.js';
import { BUILD_STATUSES, isPush } from '../../store/schema.js';
import { ansiToHtml } from './ansi.js';
import { absolute, ago, between, duration } from './format.js';
import type { ImageTag, UsageView } from '../../registry/usage.js';
import { formatBytes } from '../../units.js';
import { logExpiredMessage } from '../views.js';

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

export const Layout: FC<PropsWithChildren<{ title: string; viewer?: Viewer | undefined; scripts?: string[]; refreshWithoutScript?: number }>> = ({ title, viewer, scripts, refreshWithoutScript, children }) => (
  <html lang="en">
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      <title>{`${title} · codehub-build`}</title>
      <link rel="stylesheet" href="/static/app.css" />
      <link rel="icon" href="/static/favicon.svg" type="image/svg+xml" />
      {(scripts ?? []).map((s) => <script src={s} defer></script>)}
      {refreshWithoutScript && <noscript><meta http-equiv="refresh" content={String(refreshWithoutScript)} /></noscript>}
    </head>
    <body>
      <a class="skip" href="#main">Skip to content</a>
      <header class="site">
        <nav aria-label="Site">
          <a class="brand" href="/">codehub-build</a>
          {viewer && <a href={imagesPath(viewer.name)}>Images</a>}
          {viewer && <span>Signed in as <strong>{viewer.name}</strong></span>}
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
  <span class={`status s-${status}`}><span aria-hidden="true">{STATUS_MARK[status]} </span>{status === 'none' ? 'no builds' : status}</span>
);

/** A relative time, with the absolute one on hover and for machines. */
export const When: FC<{ iso: string | null | undefined; now: number }> = ({ iso, now }) =>
  iso ? <time datetime={iso} title={absolute(iso)}>{ago(iso, now)}</time> : <span class="muted">—</span>;

/** How long a build ran (or has been running), or how long it waited when it never started. */
function buildDuration(b: Build, now: number): string {
  const ms = between(b.startedAt, b.finishedAt ?? (b.status === 'running' ? new Date(now).toISOString() : null));
  return ms === null ? '—' : duration(ms);
}

const Sha: FC<{ repo: string; sha: string }> = ({ repo, sha }) => <a class="mono" href={commitPath(repo, sha)} title={sha}>{sha.slice(0, 7)}</a>;

/** A build of an uploaded workspace folder (`codehub-build build`): no repo page, ref or commit to link. */
const isUpload = (b: Build): b is UploadBuild => b.source === 'upload';

/** What a table's "Branch or tag" cell says of an upload: the folder it came from. */
const UploadRef: FC<{ b: UploadBuild }> = ({ b }) => <>upload: <span class="mono">{b.uploadFolder}</span></>;

/** A table's commit cell: the commit of a push; a dash for an upload, which has none. */
const CommitCell: FC<{ b: Build }> = ({ b }) =>
  isPush(b) ? <Sha repo={b.repo} sha={b.commitSha} /> : <span class="muted" title="an uploaded folder has no commit">—</span>;

export const SignInPage: FC<{ next: string; error?: string | undefined }> = ({ next, error }) => (
  <Layout title="Sign in">
    <h1>Sign in</h1>
    <form class="signin" method="post" action="/login">
      <p class="muted">Use a token from <code>codehub-build user add</code> or <code>codehub-build token create</code>: the one your workspace has as <code>CODEHUB_TOKEN</code>.</p>
      {error && <p class="error" role="alert" id="signin-error">{error}</p>}
      <label for="token">Token</label>
      <input id="token" name="token" type="password" autocomplete="current-password" required autofocus spellcheck={false} {...(error ? { 'aria-describedby': 'signin-error', 'aria-invalid': 'true' } : {})} />
      <input type="hidden" name="next" value={next} />
      <button type="submit">Sign in</button>
    </form>
  </Layout>
);

export const ErrorPage: FC<{ status: number; message: string; viewer?: Viewer | undefined }> = ({ status, message, viewer }) => (
  <Layout title={`${status}`} viewer={viewer}>
    <h1>{status === 404 ? 'Not found' : status === 403 ? 'Not allowed' : status === 429 ? 'Too many attempts' : status >= 500 ? 'Server error' : 'Cannot show this'}</h1>
    <p role="alert">{message}</p>
    <p><a href="/">Your repositories</a>{!viewer && <> · <a href="/login">Sign in</a></>}</p>
  </Layout>
);

export const HomePage: FC<{ viewer: Viewer; repos: { repo: Repo; lines: Build[] }[]; more: number; uploads?: Build[]; publicUrl: string; now: number }> = ({ viewer, repos, more, uploads = [], publicUrl, now }) => (
  <Layout title="Repositories" viewer={viewer}>
    <h1>Repositories</h1>
    {repos.length === 0 && <p>No repositories yet: a push from a workspace makes one (<a href="#workspace">below</a>).</p>}
    {repos.map(({ repo, lines }) => {
      const full = `${repo.owner}/${repo.name}`;
      return (
        <section class="card" aria-labelledby={`repo-${repo.id}`}>
          <h2 id={`repo-${repo.id}`}><a href={repoPath(full)}>{full}</a></h2>
          {lines.length === 0 ? <p class="muted">No builds yet.</p> : (
            <div class="scroll">
              <table>
                <thead><tr><th scope="col">Branch or tag</th><th scope="col">Image</th><th scope="col">Latest build</th><th scope="col">Commit</th><th scope="col" class="hide-narrow">When</th></tr></thead>
                <tbody>
                  {lines.map((b) => (
                    <tr>
                      <td>{isPush(b) ? <a href={repoPath(full, { branch: b.refName })}>{b.refName}</a> : isUpload(b) ? <UploadRef b={b} /> : b.refName}</td>
                      <td>{b.image}</td>
                      <td><a href={buildPath(b.id)}>#{b.id}</a> <Status status={b.status} /></td>
                      <td><CommitCell b={b} /></td>
                      <td class="hide-narrow"><When iso={b.finishedAt ?? b.startedAt ?? b.queuedAt} now={now} /></td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </section>
      );
    })}
    {more > 0 && <p>And {more} more repositories: open one at <code>/repos/&lt;owner&gt;/&lt;repo&gt;</code>, or list builds with <code>codehub-build builds --repo owner/name</code>.</p>}
    {uploads.length > 0 && (
      <section class="card" aria-labelledby="uploads">
        <h2 id="uploads">Your uploads</h2>
        <p class="muted">Workspace folders built with <code>codehub-build build</code>, newest first.</p>
        <BuildsTable builds={uploads} now={now} />
      </section>
    )}
    <WorkspaceSetup publicUrl={publicUrl} />
  </Layout>
);

/** How a workspace starts: the same commands as the README's walk-through, with this server's URL. */
const WorkspaceSetup: FC<{ publicUrl: string }> = ({ publicUrl }) => (
  <section class="card" aria-labelledby="workspace">
    <h2 id="workspace">In a workspace</h2>
    <p>With <code>CODEHUB_URL={publicUrl}</code> and <code>CODEHUB_TOKEN</code> in its environment, in a checkout:</p>
    <pre class="scroll"><code>{`mkdir -p ~/.local/bin
curl -fsSL "$CODEHUB_URL/downloads/codehub-build" -o ~/.local/bin/codehub-build
chmod +x ~/.local/bin/codehub-build
codehub-build remote add && git push build HEAD`}</code></pre>
    <p>The token stays in <code>CODEHUB_TOKEN</code>: git asks <code>codehub-build credential</code> for it. Build status in code-server:
      {' '}<a href="/downloads/codehub-build.vsix">codehub-build.vsix</a> (<code>code-server --install-extension codehub-build.vsix</code>).</p>
  </section>
);

export interface RepoFilter { branch?: string | undefined; status?: string | undefined; commit?: string | undefined }

export const BuildsTable: FC<{ builds: Build[]; now: number; showRepo?: boolean }> = ({ builds, now, showRepo }) => (
  <div class="scroll">
    <table>
      <thead>
        <tr><th scope="col">Build</th><th scope="col">Status</th>{showRepo && <th scope="col">Repo</th>}<th scope="col">Branch or tag</th><th scope="col">Commit</th>
          <th scope="col">Image</th><th scope="col" class="hide-narrow">Pushed by</th><th scope="col" class="hide-narrow">Queued</th><th scope="col">Duration</th></tr>
      </thead>
      <tbody>
        {builds.map((b) => (
          <tr>
            <td><a href={buildPath(b.id)}>#{b.id}</a></td>
            <td><Status status={b.status} /></td>
            {showRepo && <td>{isPush(b) ? <a href={repoPath(b.repo)}>{b.repo}</a> : b.repo}</td>}
            <td>{isUpload(b) ? <UploadRef b={b} /> : b.refName}</td>
            <td><CommitCell b={b} /></td>
            <td>{b.image}</td>
            <td class="hide-narrow">{b.pusher}</td>
            <td class="hide-narrow"><When iso={b.queuedAt} now={now} /></td>
            <td>{buildDuration(b, now)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  </div>
);

export const RepoPage: FC<{
  viewer: Viewer; repo: string; filter: RepoFilter; builds: Build[]; older?: string | undefined; newest: boolean; now: number; publicUrl: string; defaultBranch: string | null;
  images: UsageView['images']; showImages: boolean;
}> = ({ viewer, repo, filter, builds, older, newest, now, publicUrl, defaultBranch, images, showImages }) => {
  const owner = repo.split('/')[0]!;
  const badge = defaultBranch ? `/badge/${repo}/${defaultBranch.split('/').map(enc).join('/')}.svg` : null;
  return (
    <Layout title={repo} viewer={viewer}>
      <p class="crumbs"><a href="/">Repositories</a></p>
      <h1>{repo}</h1>
      <p class="muted">Clone or push: <code>{`${publicUrl}/git/${repo}.git`}</code></p>
      {badge && <p><img src={badge} alt={`build status of ${defaultBranch}`} height="20" /> <code class="hide-narrow">{`![build](${publicUrl}${badge})`}</code></p>}
      {images.length > 0 && (
        <section aria-labelledby="images">
          <h2 id="images">Images in the registry</h2>
          <div class="scroll">
            <table aria-labelledby="images">
              <thead><tr><th scope="col">Image</th><th scope="col" class="num">Tags</th><th scope="col" class="num">Size</th></tr></thead>
              <tbody>
                {images.map((i) => (
                  <tr>
                    <td>{showImages ? <a href={imagesPath(owner, i.image)}>{`${owner}/${i.image}`}</a> : `${owner}/${i.image}`}</td>
                    <td class="num">{i.tags}</td>
                    <td class="num">{formatBytes(i.bytes)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <p class="muted">Sizes count each layer once per image. Retention keeps each branch's newest builds; see <code>{`codehub-build repo retention ${repo}`}</code>.</p>
        </section>
      )}
      <h2>Builds</h2>
      <form class="filters" method="get" action={repoPath(repo)} role="search" aria-label="Filter builds">
        <label>Branch or tag<input name="branch" value={filter.branch ?? ''} spellcheck={false} /></label>
        <label>Status
          <select name="status">
            <option value="" selected={!filter.status}>any</option>
            {BUILD_STATUSES.map((s) => <option value={s} selected={filter.status === s}>{s}</option>)}
          </select>
        </label>
        <label>Commit<input name="commit" value={filter.commit ?? ''} size={12} spellcheck={false} placeholder="sha prefix" /></label>
        <button type="submit">Filter</button>
        {(filter.branch || filter.status || filter.commit) && <a href={repoPath(repo)}>Clear</a>}
      </form>
      {builds.length === 0 ? <p>No builds match.</p> : <BuildsTable builds={builds} now={now} />}
      <nav class="pager" aria-label="Pages">
        {!newest && <a href={repoPath(repo, { ...filter })}>Newest</a>}
        {older && <a href={repoPath(repo, { ...filter, before: older })} rel="next">Older builds</a>}
      </nav>
    </Layout>
  );
};

const ImageRefs: FC<{ b: Build }> = ({ b }) => (
  <ul class="refs mono">
    {b.imageRefs.map((r) => <li>{b.digest ? `${r}@${b.digest}` : r}</li>)}
  </ul>
);

export const CommitPage: FC<{ viewer: Viewer; repo: string; sha: string; builds: Build[]; now: number }> = ({ viewer, repo, sha, builds, now }) => (
  <Layout title={`${repo} @ ${sha.slice(0, 7)}`} viewer={viewer}>
    <p class="crumbs"><a href="/">Repositories</a> / <a href={repoPath(repo)}>{repo}</a></p>
    <h1>Commit <span class="mono">{sha.slice(0, 7)}</span></h1>
    <p class="mono muted">{sha}</p>
    {builds.map((b) => (
      <article class="card" aria-labelledby={`b${b.id}`}>
        <h2 id={`b${b.id}`}><a href={buildPath(b.id)}>Build #{b.id}</a> · {b.image} · <Status status={b.status} /></h2>
        <dl class="meta">
          <dt>Branch or tag</dt><dd>{b.refName}</dd>
          <dt>Pushed by</dt><dd>{b.pusher}</dd>
          <dt>Queued</dt><dd><When iso={b.queuedAt} now={now} /></dd>
          <dt>Duration</dt><dd>{buildDuration(b, now)}</dd>
          {b.digest && <><dt>Digest</dt><dd class="mono">{b.digest}</dd></>}
          {b.reason && <><dt>Reason</dt><dd>{b.reason}</dd></>}
          {b.imageRefs.length > 0 && <><dt>Images</dt><dd><ImageRefs b={b} /></dd></>}
        </dl>
      </article>
    ))}
  </Layout>
);

function stepState(s: BuildStep): string {
  if (s.error) return 'error';
  if (s.cached) return 'cached';
  return s.completed ? 'done' : s.started ? 'running' : 'waiting';
}

/** The commit status a build of a linked repo owes its forge: sent, being retried (and why), or given up. */
const ForgeStatus: FC<{ s: CommitStatusRow; now: number }> = ({ s, now }) => {
  const head = <><span class="mono">{s.context}</span> {s.state}</>;
  if (s.deliveredState === s.state) return <>{head}, delivered</>;
  if (s.gaveUp) return <>{head}, <strong>not delivered</strong>: {s.error}</>;
  if (s.attempts === 0) return <>{head}, sending</>;
  return <>{head}, <strong>not delivered yet</strong> ({s.attempts} attempt{s.attempts > 1 ? 's' : ''}): {s.error}{s.nextAttemptAt && <>; next try in {duration(Math.max(0, Date.parse(s.nextAttemptAt) - now))}</>}</>;
};

export const BuildPage: FC<{
  viewer: Viewer; b: Build; lines: LogLine[]; hidden: number; canWrite: boolean; now: number; forgeStatus?: CommitStatusRow | undefined;
}> = ({ viewer, b, lines, hidden, canWrite, now, forgeStatus }) => {
  const active = b.status === 'queued' || b.status === 'running';
  const steps = b.steps ?? [];
  // An upload has no repo page, branch or commit; and it cannot be rebuilt (the server keeps no copy of the folder).
  const upload = isUpload(b) ? b : null;
  const title = upload ? `#${b.id} upload ${upload.uploadFolder}` : `#${b.id} ${b.repo} ${b.refName}`;
  return (
    <Layout title={title} viewer={viewer} scripts={['/static/build.js']} {...(active ? { refreshWithoutScript: 5 } : {})}>
      {isPush(b)
        ? <p class="crumbs"><a href="/">Repositories</a> / <a href={repoPath(b.repo)}>{b.repo}</a> / <a href={commitPath(b.repo, b.commitSha)}>{b.commitSha.slice(0, 7)}</a></p>
        : <p class="crumbs"><a href="/#uploads">Uploads</a> / <span aria-current="page">#{b.id}</span></p>}
      <h1>Build #{b.id} · {b.image} · <Status status={b.status} /></h1>
      {canWrite && (
        <div class="actions">
          {active && (
            <form method="post" action={`${buildPath(b.id)}/cancel`}>
              <input type="hidden" name="csrf" value={viewer.csrf} />
              <button type="submit" class="danger">Cancel build</button>
            </form>
          )}
          {!active && !upload && (
            <form method="post" action={`${buildPath(b.id)}/rebuild`}>
              <input type="hidden" name="csrf" value={viewer.csrf} />
              <button type="submit">Rebuild</button>
            </form>
          )}
        </div>
      )}
      <dl class="meta">
        {isPush(b) ? <>
          <dt>Repository</dt><dd><a href={repoPath(b.repo)}>{b.repo}</a></dd>
          <dt>{b.refType === 'tag' ? 'Tag' : 'Branch'}</dt><dd><a href={repoPath(b.repo, { branch: b.refName })}>{b.refName}</a></dd>
          <dt>Commit</dt><dd><a class="mono" href={commitPath(b.repo, b.commitSha)}>{b.commitSha}</a></dd>
          <dt>Pushed by</dt><dd>{b.pusher}</dd>
        </> : <>
          <dt>Source</dt><dd>folder <span class="mono">{b.uploadFolder}</span> uploaded by {b.pusher}</dd>
          {b.contextBytes !== null && <><dt>Context</dt><dd>{formatBytes(b.contextBytes)}</dd></>}
        </>}
        <dt>Queued</dt><dd><When iso={b.queuedAt} now={now} /></dd>
        <dt>Started</dt><dd><When iso={b.startedAt} now={now} /></dd>
        <dt>Finished</dt><dd><When iso={b.finishedAt} now={now} /></dd>
        <dt>Duration</dt><dd>{buildDuration(b, now)}</dd>
        {b.builder && <><dt>Builder</dt><dd>{b.builder}{b.attempts > 1 ? ` (attempt ${b.attempts})` : ''}</dd></>}
        {b.reason && <><dt>Reason</dt><dd>{b.reasonCode ? `${b.reasonCode}: ` : ''}{b.reason}</dd></>}
        {b.digest && <><dt>Digest</dt><dd class="mono">{b.digest}</dd></>}
        {b.imageRefs.length > 0 && <><dt>{b.digest ? 'Pushed' : active ? 'Will push' : 'Tags (not pushed)'}</dt><dd><ImageRefs b={b} /></dd></>}
        {forgeStatus && <><dt>Forge status</dt><dd><ForgeStatus s={forgeStatus} now={now} /></dd></>}
      </dl>
      <h2 id="steps">Steps</h2>
      {steps.length === 0 ? <p class="muted">{active ? 'No steps yet.' : 'No BuildKit steps were recorded.'}</p> : (
        <div class="scroll">
          <table aria-labelledby="steps">
            <thead><tr><th scope="col">#</th><th scope="col">Step</th><th scope="col">Result</th><th scope="col">Time</th></tr></thead>
            <tbody>
              {steps.map((s) => {
                const ms = between(s.started, s.completed);
                return (
                  <tr>
                    <td>{s.n}</td>
                    <td class="mono">{s.name}{s.error && <div class="error">{s.error}</div>}</td>
                    <td class={`step-${stepState(s)}`}>{stepState(s)}</td>
                    <td>{s.cached ? '—' : ms === null ? '—' : duration(ms)}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {b.logExpiredAt ? <><h2 id="log-title">Log</h2><p id="log-expired">{logExpiredMessage(b)}.</p></> : <>
      <h2 id="log-title">Log <span id="live" class="live" aria-live="polite">{active ? `${b.status}: without script this page reloads every 5 s` : ''}</span></h2>
      <p><a href={`/api/builds/${b.id}/log`}>Raw log</a></p>
      {hidden > 0 && <p id="log-hidden" data-hidden={String(hidden)}>Lines 1 to {hidden} are not shown. <a href={`${buildPath(b.id)}?full=1`}>Show the whole log</a></p>}
      <div id="log" class="log mono" role="log" aria-labelledby="log-title" data-status={b.status} data-lines={String(lines.length ? lines[lines.length - 1]!.n : 0)} data-src={`/api/builds/${b.id}/log`}>
        {lines.length === 0 && <div id="log-empty" class="line"><a aria-hidden="true"></a><code>{active ? 'no output yet' : 'no output'}</code></div>}
        {raw(logHtml(lines))}
      </div>
      </>}
    </Layout>
  );
};

/** An owner's images: usage against the quota, then each image with its tags, newest pushed first. */
export const ImagesPage: FC<{ viewer: Viewer; usage: UsageView; images: { image: string; tags: ImageTag[] }[]; now: number }> = ({ viewer, usage, images, now }) => (
  <Layout title={`Images of ${usage.owner}`} viewer={viewer}>
    <p class="crumbs"><a href="/">Repositories</a></p>
    <h1>Images of {usage.owner}</h1>
    <p id="usage">
      <strong>{formatBytes(usage.bytes)}</strong> in the registry{usage.quota === null ? ' (no quota)' : <> of a <strong>{formatBytes(usage.quota)}</strong> quota{' '}
        <meter min={0} max={usage.quota} value={Math.min(usage.bytes, usage.quota)} high={usage.quota * 0.8} optimum={0}>{`${Math.floor((usage.bytes / usage.quota) * 100)} %`}</meter>
        {' '}{`${Math.floor((usage.bytes / usage.quota) * 100)} %`}</>}
    </p>
    <p class="muted">Each layer counts once however many images and tags share it. Builds fail with <code>quota</code> at 100 %; <code>codehub-build gc --dry-run</code> (on the server) says what retention would free.</p>
    {images.length === 0 && <p>No images yet: push a repo with a Dockerfile.</p>}
    {images.map(({ image, tags }) => {
      const row = usage.images.find((i) => i.image === image);
      return (
        <section class="card" id={`image-${image}`} aria-labelledby={`h-${image}`}>
          <h2 id={`h-${image}`}>{`${usage.owner}/${image}`} <span class="muted">· {formatBytes(row?.bytes ?? 0)} · {tags.length} tag{tags.length === 1 ? '' : 's'}</span></h2>
          <div class="scroll">
            <table>
              <thead><tr><th scope="col">Tag</th><th scope="col">Digest</th><th scope="col" class="num">Size</th><th scope="col">Pushed</th><th scope="col">Build</th><th scope="col" class="hide-narrow">Pull</th></tr></thead>
              <tbody>
                {tags.map((t) => (
                  <tr>
                    <td class="mono">{t.tag.length > 20 ? <span title={t.tag}>{t.tag.slice(0, 12)}…</span> : t.tag}</td>
                    <td class="mono" title={t.digest}>{t.digest.slice(0, 19)}</td>
                    <td class="num">{formatBytes(t.bytes)}</td>
                    <td><When iso={t.pushedAt} now={now} /></td>
                    <td>{t.buildId === null ? <span class="muted">docker push</span> : <a href={buildPath(t.buildId)}>#{t.buildId}</a>}</td>
                    <td class="hide-narrow"><code>{t.pull}</code></td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </section>
      );
    })}
  </Layout>
);

/**
 * Log lines as HTML, each with its number linking to itself. Built as one string because a JSX element per
 * line made a 10,000-line log take 200 ms to render; the script appends live lines in the same shape.
 */
export function logHtml(lines: LogLine[]): string {
  let out = '';
  for (const l of lines) out += `<div class="line" id="L${l.n}"><a href="#L${l.n}" aria-label="line ${l.n}">${l.n}</a><code>${ansiToHtml(l.text)}</code></div>`;
  return out;
}

/** The document for a page: the doctype, then the page. */
export function html(page: Child): string {
  return '<!doctype html>' + String(page);
}
