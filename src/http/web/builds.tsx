/** A build as more than one page shows it: in a table of builds, its duration, its commit, the images it tags. */
import type { FC } from 'hono/jsx';
import type { Build, UploadBuild } from '../../store/schema.js';
import { isPush } from '../../store/schema.js';
import { between, duration } from './format.js';
import { buildPath, commitPath, repoPath, Status, When } from './layout.js';

/** How long a build ran (or has been running), or how long it waited when it never started. */
export function buildDuration(b: Build, now: number): string {
  const ms = between(b.startedAt, b.finishedAt ?? (b.status === 'running' ? new Date(now).toISOString() : null));
  return ms === null ? '—' : duration(ms);
}

const Sha: FC<{ repo: string; sha: string }> = ({ repo, sha }) => (
  <a class="mono" href={commitPath(repo, sha)} title={sha}>
    {sha.slice(0, 7)}
  </a>
);

/** A build of an uploaded workspace folder (`codehub-build build`): no repo page, ref or commit to link. */
export const isUpload = (b: Build): b is UploadBuild => b.source === 'upload';

/** What a table's "Branch or tag" cell says of an upload: the folder it came from. */
export const UploadRef: FC<{ b: UploadBuild }> = ({ b }) => (
  <>
    upload: <span class="mono">{b.uploadFolder}</span>
  </>
);

/** A table's commit cell: the commit of a push; a dash for an upload, which has none. */
export const CommitCell: FC<{ b: Build }> = ({ b }) =>
  isPush(b) ? (
    <Sha repo={b.repo} sha={b.commitSha} />
  ) : (
    <span class="muted" title="an uploaded folder has no commit">
      —
    </span>
  );

export const BuildsTable: FC<{ builds: Build[]; now: number; showRepo?: boolean }> = ({ builds, now, showRepo }) => (
  <div class="scroll">
    <table>
      <thead>
        <tr>
          <th scope="col">Build</th>
          <th scope="col">Status</th>
          {showRepo && <th scope="col">Repo</th>}
          <th scope="col">Branch or tag</th>
          <th scope="col">Commit</th>
          <th scope="col">Image</th>
          <th scope="col" class="hide-narrow">
            Pushed by
          </th>
          <th scope="col" class="hide-narrow">
            Queued
          </th>
          <th scope="col">Duration</th>
        </tr>
      </thead>
      <tbody>
        {builds.map((b) => (
          <tr>
            <td>
              <a href={buildPath(b.id)}>#{b.id}</a>
            </td>
            <td>
              <Status status={b.status} />
            </td>
            {showRepo && <td>{isPush(b) ? <a href={repoPath(b.repo)}>{b.repo}</a> : b.repo}</td>}
            <td>{isUpload(b) ? <UploadRef b={b} /> : b.refName}</td>
            <td>
              <CommitCell b={b} />
            </td>
            <td>{b.image}</td>
            <td class="hide-narrow">{b.pusher}</td>
            <td class="hide-narrow">
              <When iso={b.queuedAt} now={now} />
            </td>
            <td>{buildDuration(b, now)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  </div>
);

export const ImageRefs: FC<{ b: Build }> = ({ b }) => (
  <ul class="refs mono">
    {b.imageRefs.map((r) => (
      <li>{b.digest ? `${r}@${b.digest}` : r}</li>
    ))}
  </ul>
);

/** A digest as tables show it: the algorithm and 12 hex digits. */
export const shortDigest = (digest: string): string => digest.slice(0, 19);

/**
 * A multi-platform image's platforms, each with its own manifest inside the index (`dt` and `dd` of a `dl.meta`):
 * the digest short, the whole on hover; nothing for an image of one platform.
 */
export const Platforms: FC<{ b: Pick<Build, 'platforms'> }> = ({ b }) =>
  b.platforms?.length ? (
    <>
      <dt>Platforms</dt>
      <dd>
        <ul class="refs platforms">
          {b.platforms.map((p) => (
            <li>
              {p.platform}{' '}
              <span class="mono" title={p.digest}>
                {shortDigest(p.digest)}…
              </span>
            </li>
          ))}
        </ul>
      </dd>
    </>
  ) : null;
