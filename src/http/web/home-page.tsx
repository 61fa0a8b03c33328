import type { FC } from 'hono/jsx';
import type { Build, Repo } from '../../store/schema.js';
import { isPush } from '../../store/schema.js';
import { BuildsTable, CommitCell, isUpload, UploadRef } from './builds.js';
import { buildPath, Layout, repoPath, Status, When, type Viewer } from './layout.js';

export const HomePage: FC<{ viewer: Viewer; repos: { repo: Repo; lines: Build[] }[]; more: number; uploads?: Build[]; publicUrl: string; now: number }> = ({
  viewer,
  repos,
  more,
  uploads = [],
  publicUrl,
  now,
}) => (
  <Layout title="Repositories" viewer={viewer}>
    <h1>Repositories</h1>
    {repos.length === 0 && (
      <p>
        No repositories yet: a push from a workspace makes one (<a href="#workspace">below</a>).
      </p>
    )}
    {repos.map(({ repo, lines }) => {
      const full = `${repo.owner}/${repo.name}`;
      return (
        <section class="card" aria-labelledby={`repo-${repo.id}`}>
          <h2 id={`repo-${repo.id}`}>
            <a href={repoPath(full)}>{full}</a>
          </h2>
          {lines.length === 0 ? (
            <p class="muted">No builds yet.</p>
          ) : (
            <div class="scroll">
              <table>
                <thead>
                  <tr>
                    <th scope="col">Branch or tag</th>
                    <th scope="col">Image</th>
                    <th scope="col">Latest build</th>
                    <th scope="col">Commit</th>
                    <th scope="col" class="hide-narrow">
                      When
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {lines.map((b) => (
                    <tr>
                      <td>{isPush(b) ? <a href={repoPath(full, { branch: b.refName })}>{b.refName}</a> : isUpload(b) ? <UploadRef b={b} /> : b.refName}</td>
                      <td>{b.image}</td>
                      <td>
                        <a href={buildPath(b.id)}>#{b.id}</a> <Status status={b.status} />
                      </td>
                      <td>
                        <CommitCell b={b} />
                      </td>
                      <td class="hide-narrow">
                        <When iso={b.finishedAt ?? b.startedAt ?? b.queuedAt} now={now} />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </section>
      );
    })}
    {more > 0 && (
      <p>
        And {more} more repositories: open one at <code>/repos/&lt;owner&gt;/&lt;repo&gt;</code>, or list builds with{' '}
        <code>codehub-build builds --repo owner/name</code>.
      </p>
    )}
    {uploads.length > 0 && (
      <section class="card" aria-labelledby="uploads">
        <h2 id="uploads">Your uploads</h2>
        <p class="muted">
          Workspace folders built with <code>codehub-build build</code>, newest first.
        </p>
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
    <p>
      With <code>CODEHUB_URL={publicUrl}</code> and <code>CODEHUB_TOKEN</code> in its environment, in a checkout:
    </p>
    <pre class="scroll">
      <code>{`mkdir -p ~/.local/bin
curl -fsSL "$CODEHUB_URL/downloads/codehub-build" -o ~/.local/bin/codehub-build
chmod +x ~/.local/bin/codehub-build
codehub-build remote add && git push build HEAD`}</code>
    </pre>
    <p>
      The token stays in <code>CODEHUB_TOKEN</code>: git asks <code>codehub-build credential</code> for it. Build status in code-server:{' '}
      <a href="/downloads/codehub-build.vsix">codehub-build.vsix</a> (<code>code-server --install-extension codehub-build.vsix</code>).
    </p>
  </section>
);
