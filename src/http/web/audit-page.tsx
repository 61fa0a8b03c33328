import type { FC } from 'hono/jsx';
import type { AuditEventAnswer } from '../../api/answers.js';
import { AUDIT_ACTIONS } from '../../auth/audit.js';
import { Layout, When, type Viewer } from './layout.js';

/** The filters as the form sent them (empty fields left out). */
export interface AuditPageFilter {
  actor?: string | undefined;
  action?: string | undefined;
  repo?: string | undefined;
  since?: string | undefined;
}

/** `/audit?…` with these filters (and a page), empty ones left out. */
export const auditPath = (f: AuditPageFilter & { before?: string | undefined }) => {
  const params = new URLSearchParams(Object.entries(f).filter((e): e is [string, string] => !!e[1]));
  return `/audit${params.size ? `?${params}` : ''}`;
};

/** An event's detail as one line: `key: value` pairs, arrays joined (names and numbers only, by the log's rule). */
function detailText(d: Record<string, unknown> | null): string {
  if (!d) return '';
  return Object.entries(d)
    .map(
      ([k, v]) =>
        `${k}: ${Array.isArray(v) ? v.map((x) => (typeof x === 'object' ? JSON.stringify(x) : String(x))).join(', ') : typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v)}`,
    )
    .join('; ');
}

/**
 * The audit log as the viewer may see it (an admin everything, anyone else their own repos' events), newest
 * first, with a GET form of filters and a link to older events. No script: the form and the links are plain.
 */
export const AuditPage: FC<{ viewer: Viewer; admin: boolean; filter: AuditPageFilter; events: AuditEventAnswer[]; older: number | null; now: number }> = ({
  viewer,
  admin,
  filter,
  events,
  older,
  now,
}) => (
  <Layout title="Audit log" viewer={viewer}>
    <p class="crumbs">
      <a href="/">Repositories</a>
    </p>
    <h1>Audit log</h1>
    <p class="muted">
      {admin
        ? 'Every event of this server: you hold an admin token.'
        : `The events of your repos (${viewer.name}/*): who changed their secrets, shares, retention and links, removed their images, canceled or rebuilt their builds.`}{' '}
      Secret values and tokens are never recorded.
    </p>
    {/* biome-ignore lint/a11y/useSemanticElements: the <search> element is newer than some browsers code-server runs in; role=search is the same landmark */}
    <form class="filters" method="get" action="/audit" role="search" aria-label="Filter events">
      <label>
        Actor
        <input name="actor" value={filter.actor ?? ''} spellcheck={false} placeholder="user, cli or system" />
      </label>
      <label>
        Action
        <select name="action">
          <option value="" selected={!filter.action}>
            any
          </option>
          {AUDIT_ACTIONS.map((a) => (
            <option value={a} selected={filter.action === a}>
              {a}
            </option>
          ))}
        </select>
      </label>
      <label>
        Repo
        <input name="repo" value={filter.repo ?? ''} spellcheck={false} placeholder="owner/name" />
      </label>
      <label>
        Since
        <input name="since" value={filter.since ?? ''} spellcheck={false} placeholder="2026-12-01" />
      </label>
      <button type="submit">Filter</button>
      {(filter.actor || filter.action || filter.repo || filter.since) && <a href="/audit">Clear</a>}
    </form>
    {events.length === 0 ? (
      <p id="audit-none">No events match.</p>
    ) : (
      <div class="scroll">
        <table id="audit-events" aria-label="Events">
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Actor</th>
              <th scope="col">Action</th>
              <th scope="col">Repo</th>
              <th scope="col">Target</th>
              <th scope="col">Detail</th>
              <th scope="col">From</th>
            </tr>
          </thead>
          <tbody>
            {events.map((e) => (
              <tr id={`event-${e.id}`}>
                <td>
                  <When iso={e.at} now={now} />
                </td>
                <td>
                  {e.actor}
                  <div class="muted">
                    {e.actor_kind}
                    {e.token_id !== null ? ` #${e.token_id}` : ''}
                  </div>
                </td>
                <td class="mono">{e.action}</td>
                <td>{e.repo ?? '—'}</td>
                <td class="mono">{e.target}</td>
                <td>{detailText(e.detail)}</td>
                <td class="mono">{e.address ?? '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    )}
    <nav class="pager" aria-label="Pages">
      {older !== null && (
        <a href={auditPath({ ...filter, before: String(older) })} rel="next">
          Older events
        </a>
      )}
    </nav>
  </Layout>
);
