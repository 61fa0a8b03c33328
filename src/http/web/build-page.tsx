import type { FC } from 'hono/jsx';
import { raw } from 'hono/html';
import type { LogLine } from '../../logs/store.js';
import type { Build, BuildStep, CommitStatusRow } from '../../store/schema.js';
import { isPush } from '../../store/schema.js';
import { formatBytes, formatBytesDelta } from '../../units.js';
import type { InsightAnswer } from '../../api/answers.js';
import { timelineSvg } from '../../insight/draw.js';
import { insightView } from '../../insight/stored.js';
import type { ReportedFinding } from '../../scan/report.js';
import { storedBuildScan } from '../../scan/report.js';
import { logExpiredMessage } from '../views.js';
import { ansiToHtml } from './ansi.js';
import { buildDuration, ImageRefs, isUpload, Platforms } from './builds.js';
import { between, duration } from './format.js';
import { buildPath, commitPath, Layout, repoPath, Status, When, type Viewer } from './layout.js';

function stepState(s: BuildStep): string {
  if (s.error) return 'error';
  if (s.cached) return 'cached';
  return s.completed ? 'done' : s.started ? 'running' : 'waiting';
}

/** The commit status a build of a linked repo owes its forge: sent, being retried (and why), or given up. */
const ForgeStatus: FC<{ s: CommitStatusRow; now: number }> = ({ s, now }) => {
  const head = (
    <>
      <span class="mono">{s.context}</span> {s.state}
    </>
  );
  if (s.deliveredState === s.state) return <>{head}, delivered</>;
  if (s.gaveUp)
    return (
      <>
        {head}, <strong>not delivered</strong>: {s.error}
      </>
    );
  if (s.attempts === 0) return <>{head}, sending</>;
  return (
    <>
      {head}, <strong>not delivered yet</strong> ({s.attempts} attempt{s.attempts > 1 ? 's' : ''}): {s.error}
      {s.nextAttemptAt && <>; next try in {duration(Math.max(0, Date.parse(s.nextAttemptAt) - now))}</>}
    </>
  );
};

export const BuildPage: FC<{
  viewer: Viewer;
  b: Build;
  lines: LogLine[];
  hidden: number;
  canWrite: boolean;
  now: number;
  forgeStatus?: CommitStatusRow | undefined;
  /** The image's findings judged now by the build's policy (empty when it was not scanned or nothing was found). */
  findings?: ReportedFinding[];
}> = ({ viewer, b, lines, hidden, canWrite, now, forgeStatus, findings = [] }) => {
  const active = b.status === 'queued' || b.status === 'running';
  const steps = b.steps ?? [];
  // An upload has no repo page, branch or commit; and it cannot be rebuilt (the server keeps no copy of the folder).
  const upload = isUpload(b) ? b : null;
  const title = upload ? `#${b.id} upload ${upload.uploadFolder}` : `#${b.id} ${b.repo} ${b.refName}`;
  return (
    <Layout title={title} viewer={viewer} scripts={['/static/build.js']} {...(active ? { refreshWithoutScript: 5 } : {})}>
      {isPush(b) ? (
        <p class="crumbs">
          <a href="/">Repositories</a> / <a href={repoPath(b.repo)}>{b.repo}</a> / <a href={commitPath(b.repo, b.commitSha)}>{b.commitSha.slice(0, 7)}</a>
        </p>
      ) : (
        <p class="crumbs">
          <a href="/#uploads">Uploads</a> / <span aria-current="page">#{b.id}</span>
        </p>
      )}
      <h1>
        Build #{b.id} · {b.image} · <Status status={b.status} />
      </h1>
      {canWrite && (
        <div class="actions">
          {active && (
            <form method="post" action={`${buildPath(b.id)}/cancel`}>
              <input type="hidden" name="csrf" value={viewer.csrf} />
              <button type="submit" class="danger">
                Cancel build
              </button>
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
        {isPush(b) ? (
          <>
            <dt>Repository</dt>
            <dd>
              <a href={repoPath(b.repo)}>{b.repo}</a>
            </dd>
            <dt>{b.refType === 'tag' ? 'Tag' : 'Branch'}</dt>
            <dd>
              <a href={repoPath(b.repo, { branch: b.refName })}>{b.refName}</a>
            </dd>
            <dt>Commit</dt>
            <dd>
              <a class="mono" href={commitPath(b.repo, b.commitSha)}>
                {b.commitSha}
              </a>
            </dd>
            <dt>Pushed by</dt>
            <dd>{b.pusher}</dd>
          </>
        ) : (
          <>
            <dt>Source</dt>
            <dd>
              folder <span class="mono">{b.uploadFolder}</span> uploaded by {b.pusher}
            </dd>
            {b.contextBytes !== null && (
              <>
                <dt>Context</dt>
                <dd>{formatBytes(b.contextBytes)}</dd>
              </>
            )}
          </>
        )}
        <dt>Queued</dt>
        <dd>
          <When iso={b.queuedAt} now={now} />
        </dd>
        <dt>Started</dt>
        <dd>
          <When iso={b.startedAt} now={now} />
        </dd>
        <dt>Finished</dt>
        <dd>
          <When iso={b.finishedAt} now={now} />
        </dd>
        <dt>Duration</dt>
        <dd>{buildDuration(b, now)}</dd>
        {b.builder && (
          <>
            <dt>Builder</dt>
            <dd>
              {b.builder}
              {b.attempts > 1 ? ` (attempt ${b.attempts})` : ''}
            </dd>
          </>
        )}
        {b.reason && (
          <>
            <dt>Reason</dt>
            <dd>
              {b.reasonCode ? `${b.reasonCode}: ` : ''}
              {b.reason}
            </dd>
          </>
        )}
        {b.digest && (
          <>
            <dt>Digest</dt>
            <dd class="mono">{b.digest}</dd>
          </>
        )}
        <Platforms b={b} />
        {b.imageRefs.length > 0 && (
          <>
            <dt>{b.digest ? 'Pushed' : active ? 'Will push' : 'Tags (not pushed)'}</dt>
            <dd>
              <ImageRefs b={b} />
            </dd>
          </>
        )}
        {forgeStatus && (
          <>
            <dt>Forge status</dt>
            <dd>
              <ForgeStatus s={forgeStatus} now={now} />
            </dd>
          </>
        )}
      </dl>
      <Insight insight={insightView(b)} />
      <h2 id="steps">Steps</h2>
      {steps.length === 0 ? (
        <p class="muted">{active ? 'No steps yet.' : 'No BuildKit steps were recorded.'}</p>
      ) : (
        <div class="scroll">
          <table aria-labelledby="steps">
            <thead>
              <tr>
                <th scope="col">#</th>
                <th scope="col">Step</th>
                <th scope="col">Result</th>
                <th scope="col">Time</th>
              </tr>
            </thead>
            <tbody>
              {steps.map((s) => {
                const ms = between(s.started, s.completed);
                return (
                  <tr>
                    <td>{s.n}</td>
                    <td class="mono">
                      {s.name}
                      {s.error && <div class="error">{s.error}</div>}
                    </td>
                    <td class={`step-${stepState(s)}`}>{stepState(s)}</td>
                    <td>{s.cached ? '—' : ms === null ? '—' : duration(ms)}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      <Vulnerabilities b={b} findings={findings} />
      {b.logExpiredAt ? (
        <>
          <h2 id="log-title">Log</h2>
          <p id="log-expired">{logExpiredMessage(b)}.</p>
        </>
      ) : (
        <>
          <h2 id="log-title">
            Log{' '}
            <span id="live" class="live" aria-live="polite">
              {active ? `${b.status}: without script this page reloads every 5 s` : ''}
            </span>
          </h2>
          <p>
            <a href={`/api/builds/${b.id}/log`}>Raw log</a>
          </p>
          {hidden > 0 && (
            <p id="log-hidden" data-hidden={String(hidden)}>
              Lines 1 to {hidden} are not shown. <a href={`${buildPath(b.id)}?full=1`}>Show the whole log</a>
            </p>
          )}
          <div
            id="log"
            class="log mono"
            role="log"
            aria-labelledby="log-title"
            data-status={b.status}
            data-lines={String(lines.length ? lines[lines.length - 1]!.n : 0)}
            data-src={`/api/builds/${b.id}/log`}
          >
            {lines.length === 0 && (
              <div id="log-empty" class="line">
                <span class="ln" aria-hidden="true"></span>
                <code>{active ? 'no output yet' : 'no output'}</code>
              </div>
            )}
            {raw(logHtml(lines))}
          </div>
        </>
      )}
    </Layout>
  );
};

/** Instructions longer than this are cut in the layer table (the whole is in the cell's title). */
const LAYER_TEXT = 300;

/**
 * Why the build missed the cache (one sentence), where its time went (the timeline), and why the image is the
 * size it is (its size against the previous build, and each layer's); nothing before the build has an insight.
 */
const Insight: FC<{ insight: InsightAnswer | null }> = ({ insight }) => {
  if (!insight) return <></>;
  const prev = insight.previous_build;
  return (
    <section aria-labelledby="insight" class="insight">
      <h2 id="insight">Insight</h2>
      {insight.steps.length > 0 && (
        <p id="cache-miss" class={insight.cache_miss ? 'miss' : ''}>
          {insight.cache_miss ? insight.cache_miss.sentence : 'Every step came from the cache.'}
        </p>
      )}
      {insight.steps.length > 0 && raw(timelineSvg(insight))}
      {insight.image_bytes !== null && (
        <p id="image-size">
          Image size <strong>{formatBytes(insight.image_bytes)}</strong>
          {insight.image_bytes_delta !== null && prev !== null ? (
            <>
              , <strong>{formatBytesDelta(insight.image_bytes_delta)}</strong> against <a href={buildPath(prev)}>build #{prev}</a>.
            </>
          ) : (
            '; no earlier build of this branch and image to compare with.'
          )}
        </p>
      )}
      {insight.layers.length > 0 && (
        <table class="layers" aria-labelledby="layers-title">
          <caption id="layers-title">Layers, base first{prev !== null ? <>; change against build #{prev}</> : ''}</caption>
          <thead>
            <tr>
              <th scope="col">Instruction</th>
              <th scope="col" class="num">
                Size
              </th>
              <th scope="col" class="num">
                Change
              </th>
            </tr>
          </thead>
          <tbody>
            {insight.layers.map((l) => (
              <tr>
                <td class="mono instr" title={l.instruction.length > LAYER_TEXT ? l.instruction : undefined}>
                  {l.instruction === '' ? (
                    <span class="muted" title="the image's history names no instruction for this layer">
                      —
                    </span>
                  ) : l.instruction.length > LAYER_TEXT ? (
                    `${l.instruction.slice(0, LAYER_TEXT - 1)}…`
                  ) : (
                    l.instruction
                  )}
                </td>
                <td class="num">{formatBytes(l.bytes)}</td>
                <td class="num">{l.bytes_delta !== null ? formatBytesDelta(l.bytes_delta) : prev === null ? '—' : 'new'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
};

/** The scan of the pushed image: its verdict and counts, then each finding with what allows or blocks it. */
const Vulnerabilities: FC<{ b: Build; findings: ReportedFinding[] }> = ({ b, findings }) => {
  const scan = storedBuildScan(b.scan);
  if (!scan) return <></>;
  const c = scan.counts;
  return (
    <>
      <h2 id="vulnerabilities">Vulnerabilities</h2>
      <p id="scan-summary">
        Scan <strong class={scan.status === 'passed' ? '' : 'error'}>{scan.status}</strong>
        {scan.reason ? `: ${scan.reason}` : ''}. {c.critical} critical, {c.high} high, {c.medium} medium, {c.low} low, {c.unknown} unknown; {scan.fixable}{' '}
        fixable; policy fail_on <span class="mono">{scan.fail_on}</span>; {scan.packages} packages.{' '}
        {scan.db_imported_at ? `Vulnerability data imported ${scan.db_imported_at.slice(0, 10)}.` : 'The vulnerability database is empty.'}{' '}
        <a href={`/api/builds/${b.id}/sbom?format=cyclonedx`}>SBOM (CycloneDX)</a> · <a href={`/api/builds/${b.id}/sbom?format=spdx`}>SBOM (SPDX)</a>
      </p>
      {scan.expired.map((e) => (
        <p class="error">
          The allowance for {e.id} expired on {e.until} ("{e.reason}"): it allows nothing.
        </p>
      ))}
      {findings.length > 0 && (
        <div class="scroll">
          <table aria-labelledby="vulnerabilities" id="findings">
            <thead>
              <tr>
                <th scope="col">Vulnerability</th>
                <th scope="col">Package</th>
                <th scope="col">Installed</th>
                <th scope="col">Fixed in</th>
                <th scope="col">Severity</th>
                <th scope="col">Layer</th>
                <th scope="col">Verdict</th>
              </tr>
            </thead>
            <tbody>
              {findings.map((f) => (
                <tr data-id={f.id}>
                  <td class="mono">
                    {f.id}
                    {f.aliases.length > 0 && <div class="muted">{f.aliases.join(', ')}</div>}
                  </td>
                  <td>
                    {f.package}
                    {f.installed.some((p) => p.name !== f.package) && <div class="muted">{f.installed.map((p) => p.name).join(', ')}</div>}
                  </td>
                  <td class="mono">{f.version}</td>
                  <td class="mono">{f.fixed.join(', ') || '—'}</td>
                  <td>
                    {f.severity}
                    {f.score !== null ? ` ${f.score.toFixed(1)}` : ''}
                  </td>
                  <td class="mono" title={f.layer}>
                    {f.layer.slice(7, 19)}
                  </td>
                  <td>
                    {f.blocking ? (
                      <strong class="error">blocks</strong>
                    ) : f.allowed ? (
                      f.allowed.by === 'allowance' ? (
                        `allowed until ${f.allowed.until}: ${f.allowed.reason}`
                      ) : (
                        `VEX ${f.allowed.status}${f.allowed.justification ? `: ${f.allowed.justification}` : ''}`
                      )
                    ) : (
                      'below the policy'
                    )}
                    <div class="muted">first seen {f.firstSeen.slice(0, 16).replace('T', ' ')}</div>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
};

/**
 * Log lines as HTML, each with its number linking to itself. Built as one string because a JSX element per
 * line made a 10,000-line log take 200 ms to render; the script appends live lines in the same shape.
 */
export function logHtml(lines: LogLine[]): string {
  let out = '';
  for (const l of lines) out += `<div class="line" id="L${l.n}"><a href="#L${l.n}" aria-label="line ${l.n}">${l.n}</a><code>${ansiToHtml(l.text)}</code></div>`;
  return out;
}
