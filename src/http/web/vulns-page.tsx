import type { FC } from 'hono/jsx';
import type { NewFinding } from '../../scan/report.js';
import type { VulnDbSource } from '../../scan/vulndb.js';
import { buildPath, Layout, When, type Viewer } from './layout.js';

/**
 * The vulnerability data and what it found lately: each source's records and last import (a warning past
 * CODEHUB_VULNDB_MAX_AGE), then the findings new since the last import on the images the viewer may read.
 */
export const VulnsPage: FC<{
  viewer: Viewer;
  sources: VulnDbSource[];
  maxAgeMs: number;
  since: string;
  findings: NewFinding[];
  more: boolean;
  now: number;
}> = ({ viewer, sources, maxAgeMs, since, findings, more, now }) => {
  const newest = sources.reduce<string | null>((m, s) => (s.imported_at && (!m || s.imported_at > m) ? s.imported_at : m), null);
  const stale = newest !== null && now - Date.parse(newest) > maxAgeMs;
  return (
    <Layout title="Vulnerabilities" viewer={viewer}>
      <p class="crumbs">
        <a href="/">Repositories</a>
      </p>
      <h1>Vulnerabilities</h1>
      <h2 id="vulndb">Vulnerability data</h2>
      {sources.length === 0 ? (
        <p id="vulndb-empty" class="error">
          No vulnerability data has been imported: scans find nothing. An admin imports OSV's exports on the server with{' '}
          <code>codehub-build vulndb import &lt;file|folder&gt;</code> or <code>POST /api/vulndb/imports</code>.
        </p>
      ) : (
        <>
          {stale && (
            <p id="vulndb-stale" class="error">
              The data was last imported <When iso={newest} now={now} />, longer ago than CODEHUB_VULNDB_MAX_AGE ({Math.round(maxAgeMs / 86_400_000)} days):
              import OSV's current exports.
            </p>
          )}
          <div class="scroll">
            <table aria-labelledby="vulndb">
              <thead>
                <tr>
                  <th scope="col">Ecosystem</th>
                  <th scope="col" class="num">
                    Records
                  </th>
                  <th scope="col">Newest record</th>
                  <th scope="col">Imported</th>
                </tr>
              </thead>
              <tbody>
                {sources.map((s) => (
                  <tr>
                    <td>{s.ecosystem}</td>
                    <td class="num">{s.records}</td>
                    <td>{s.newest_modified ? s.newest_modified.slice(0, 10) : '—'}</td>
                    <td>
                      <When iso={s.imported_at} now={now} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
      <h2 id="new">New since {since.slice(0, 16).replace('T', ' ')} UTC</h2>
      <p class="muted">
        After each import every image retention keeps is matched again from its stored inventory; what is new to an image shows here, on the images of the repos
        you may read.
      </p>
      {findings.length === 0 ? (
        <p id="new-none">Nothing new.</p>
      ) : (
        <div class="scroll">
          <table aria-labelledby="new" id="new-findings">
            <thead>
              <tr>
                <th scope="col">Repository</th>
                <th scope="col">Vulnerability</th>
                <th scope="col">Package</th>
                <th scope="col">Fixed in</th>
                <th scope="col">Severity</th>
                <th scope="col">Build</th>
              </tr>
            </thead>
            <tbody>
              {findings.map((f) => (
                <tr>
                  <td>{f.repo}</td>
                  <td class="mono">
                    {f.id}
                    {f.aliases.length > 0 && <div class="muted">{f.aliases.join(', ')}</div>}
                  </td>
                  <td>
                    {f.package} <span class="mono">{f.version}</span>
                  </td>
                  <td class="mono">{f.fixed.join(', ') || '—'}</td>
                  <td>
                    {f.severity}
                    {f.blocking ? <strong class="error"> blocks</strong> : ''}
                  </td>
                  <td>
                    <a href={`${buildPath(f.build)}#vulnerabilities`}>#{f.build}</a>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {more && <p class="muted">More findings than shown: see GET /api/vulnerabilities/new.</p>}
    </Layout>
  );
};
