/** A repo's page (its images and its builds, filtered and paged) and a commit's page (the builds of one commit). */
import type { FC } from 'hono/jsx';
import { raw } from 'hono/html';
import { span, type TrendPoint, trendStats, trendSvg } from '../../insight/draw.js';
import type { TrendLine } from '../../store/build-trends.js';
import type { UsageView } from '../../registry/usage.js';
import type { Build } from '../../store/schema.js';
import { BUILD_STATUSES } from '../../store/schema.js';
import { formatBytes } from '../../units.js';
import { BuildsTable, buildDuration, ImageRefs, Platforms } from './builds.js';
import { buildPath, imagesPath, Layout, repoPath, Status, When, type Viewer } from './layout.js';

const enc = encodeURIComponent;

export interface RepoFilter {
  branch?: string | undefined;
  status?: string | undefined;
  commit?: string | undefined;
}

export const RepoPage: FC<{
  viewer: Viewer;
  repo: string;
  filter: RepoFilter;
  builds: Build[];
  older?: string | undefined;
  newest: boolean;
  now: number;
  publicUrl: string;
  defaultBranch: string | null;
  images: UsageView['images'];
  showImages: boolean;
  /** Its branches' last finished builds (src/store/build-trends.ts), the most recently built first. */
  trends?: TrendLine[];
}> = ({ viewer, repo, filter, builds, older, newest, now, publicUrl, defaultBranch, images, showImages, trends = [] }) => {
  const owner = repo.split('/')[0]!;
  const badge = defaultBranch ? `/badge/${repo}/${defaultBranch.split('/').map(enc).join('/')}.svg` : null;
  return (
    <Layout title={repo} viewer={viewer}>
      <p class="crumbs">
        <a href="/">Repositories</a>
      </p>
      <h1>{repo}</h1>
      <p class="muted">
        Clone or push: <code>{`${publicUrl}/git/${repo}.git`}</code>
      </p>
      {badge && (
        <p>
          <img src={badge} alt={`build status of ${defaultBranch}`} height="20" /> <code class="hide-narrow">{`![build](${publicUrl}${badge})`}</code>
        </p>
      )}
      {images.length > 0 && (
        <section aria-labelledby="images">
          <h2 id="images">Images in the registry</h2>
          <div class="scroll">
            <table aria-labelledby="images">
              <thead>
                <tr>
                  <th scope="col">Image</th>
                  <th scope="col" class="num">
                    Tags
                  </th>
                  <th scope="col" class="num">
                    Size
                  </th>
                </tr>
              </thead>
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
          <p class="muted">
            Sizes count each layer once per image. Retention keeps each branch's newest builds; see <code>{`codehub-build repo retention ${repo}`}</code>.
          </p>
        </section>
      )}
      <Trends repo={repo} lines={trends} />
      <h2>Builds</h2>
      {/* biome-ignore lint/a11y/useSemanticElements: the <search> element is newer than some browsers code-server runs in; role=search is the same landmark */}
      <form class="filters" method="get" action={repoPath(repo)} role="search" aria-label="Filter builds">
        <label>
          Branch or tag
          <input name="branch" value={filter.branch ?? ''} spellcheck={false} />
        </label>
        <label>
          Status
          <select name="status">
            <option value="" selected={!filter.status}>
              any
            </option>
            {BUILD_STATUSES.map((s) => (
              <option value={s} selected={filter.status === s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Commit
          <input name="commit" value={filter.commit ?? ''} size={12} spellcheck={false} placeholder="sha prefix" />
        </label>
        <button type="submit">Filter</button>
        {(filter.branch || filter.status || filter.commit) && <a href={repoPath(repo)}>Clear</a>}
      </form>
      {builds.length === 0 ? <p>No builds match.</p> : <BuildsTable builds={builds} now={now} />}
      <nav class="pager" aria-label="Pages">
        {!newest && <a href={repoPath(repo, { ...filter })}>Newest</a>}
        {older && (
          <a href={repoPath(repo, { ...filter, before: older })} rel="next">
            Older builds
          </a>
        )}
      </nav>
    </Layout>
  );
};

const pointsOf = (line: TrendLine): TrendPoint[] =>
  line.builds.map((b) => ({
    build: b.id,
    succeeded: b.status === 'succeeded',
    ms: Math.max(0, Date.parse(b.finishedAt) - Date.parse(b.startedAt)),
    imageBytes: b.imageBytes,
  }));

/** Each branch's build time (p50, p90 of its succeeded builds) and image size, in figures and as a small chart. */
const Trends: FC<{ repo: string; lines: TrendLine[] }> = ({ repo, lines }) => {
  if (!lines.length) return <></>;
  return (
    <section aria-labelledby="trends">
      <h2 id="trends">Trends</h2>
      <p class="muted">
        Each branch's last finished builds per image: the build time's p50 and p90 are of the succeeded ones (nearest rank: a time a build took).
      </p>
      <div class="trends">
        {lines.map((line, i) => {
          const points = pointsOf(line);
          const st = trendStats(points);
          const label = `${line.branch} · ${line.image}`;
          return (
            <article class="trend" aria-labelledby={`trend-${i}-h`} data-branch={line.branch} data-image={line.image}>
              <h3 id={`trend-${i}-h`}>
                <a href={repoPath(repo, { branch: line.branch })}>{line.branch}</a> · {line.image}
              </h3>
              <p class="trend-figures">
                {st.p50 !== null ? (
                  <>
                    p50 <strong class="p50">{span(st.p50)}</strong>, p90 <strong class="p90">{span(st.p90!)}</strong> over {st.succeeded} succeeded of{' '}
                    {points.length}
                  </>
                ) : (
                  <>none of its last {points.length} succeeded</>
                )}
                {st.lastImageBytes !== null && (
                  <>
                    ; image <strong>{formatBytes(st.lastImageBytes)}</strong>
                  </>
                )}
              </p>
              {raw(trendSvg(points, { id: `trend-${i}`, label }))}
            </article>
          );
        })}
      </div>
    </section>
  );
};

export const CommitPage: FC<{ viewer: Viewer; repo: string; sha: string; builds: Build[]; now: number }> = ({ viewer, repo, sha, builds, now }) => (
  <Layout title={`${repo} @ ${sha.slice(0, 7)}`} viewer={viewer}>
    <p class="crumbs">
      <a href="/">Repositories</a> / <a href={repoPath(repo)}>{repo}</a>
    </p>
    <h1>
      Commit <span class="mono">{sha.slice(0, 7)}</span>
    </h1>
    <p class="mono muted">{sha}</p>
    {builds.map((b) => (
      <article class="card" aria-labelledby={`b${b.id}`}>
        <h2 id={`b${b.id}`}>
          <a href={buildPath(b.id)}>Build #{b.id}</a> · {b.image} · <Status status={b.status} />
        </h2>
        <dl class="meta">
          <dt>Branch or tag</dt>
          <dd>{b.refName}</dd>
          <dt>Pushed by</dt>
          <dd>{b.pusher}</dd>
          <dt>Queued</dt>
          <dd>
            <When iso={b.queuedAt} now={now} />
          </dd>
          <dt>Duration</dt>
          <dd>{buildDuration(b, now)}</dd>
          {b.digest && (
            <>
              <dt>Digest</dt>
              <dd class="mono">{b.digest}</dd>
            </>
          )}
          <Platforms b={b} />
          {b.reason && (
            <>
              <dt>Reason</dt>
              <dd>{b.reason}</dd>
            </>
          )}
          {b.imageRefs.length > 0 && (
            <>
              <dt>Images</dt>
              <dd>
                <ImageRefs b={b} />
              </dd>
            </>
          )}
        </dl>
      </article>
    ))}
  </Layout>
);
