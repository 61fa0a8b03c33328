import { createHash } from 'node:crypto';
import { ansiToHtml } from './ansi.js';

/**
 * The pages' only stylesheet: system fonts (the network is closed, and nothing is fetched from elsewhere),
 * one column that reads at phone width, light and dark from the system's preference, and contrast that
 * passes WCAG AA for text.
 */
const CSS = `
:root { color-scheme: light dark; --fg: #1f2328; --muted: #59636e; --bg: #fff; --panel: #f6f8fa; --line: #d1d9e0; --link: #0550ae;
  --ok: #1a7f37; --bad: #cf222e; --run: #9a6700; --idle: #59636e; --focus: #0969da; --logbg: #0d1117; --logfg: #e6edf3; --lognum: #8b949e; --hl: #3b2e00; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6edf3; --muted: #9198a1; --bg: #0d1117; --panel: #151b23; --line: #3d444d; --link: #4493f8;
  --ok: #3fb950; --bad: #f85149; --run: #d29922; --idle: #9198a1; --focus: #4493f8; --logbg: #010409; } }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", sans-serif; color: var(--fg); background: var(--bg); }
a { color: var(--link); }
a:focus-visible, button:focus-visible, input:focus-visible, select:focus-visible, summary:focus-visible { outline: 2px solid var(--focus); outline-offset: 2px; }
code, pre, .mono { font-family: ui-monospace, "SFMono-Regular", "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 13px; }
.skip { position: absolute; left: -9999px; } .skip:focus { left: 8px; top: 8px; background: var(--bg); padding: 4px 8px; z-index: 2; }
header.site { border-bottom: 1px solid var(--line); background: var(--panel); }
header.site nav { max-width: 1100px; margin: 0 auto; padding: 8px 16px; display: flex; gap: 16px; align-items: center; flex-wrap: wrap; }
header.site .brand { font-weight: 600; color: var(--fg); text-decoration: none; margin-right: auto; }
header.site form { margin: 0; }
main { max-width: 1100px; margin: 0 auto; padding: 16px; }
h1 { font-size: 1.5rem; margin: 8px 0 12px; overflow-wrap: anywhere; } h2 { font-size: 1.15rem; margin: 20px 0 8px; overflow-wrap: anywhere; }
.crumbs { color: var(--muted); margin: 0; overflow-wrap: anywhere; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; color: var(--muted); font-size: 13px; }
.scroll { overflow-x: auto; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 0 0 12px; }
dl.meta dt { color: var(--muted); } dl.meta dd { margin: 0; overflow-wrap: anywhere; }
.status { display: inline-block; font-weight: 600; white-space: nowrap; }
.s-succeeded { color: var(--ok); } .s-failed { color: var(--bad); } .s-running, .s-queued { color: var(--run); } .s-canceled, .s-skipped, .s-none { color: var(--idle); }
.muted { color: var(--muted); }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 12px 16px; margin: 12px 0; background: var(--panel); }
.card h2, .card h3 { margin-top: 0; }
.refs { list-style: none; padding: 0; margin: 0; } .refs li { overflow-wrap: anywhere; }
form.filters { display: flex; flex-wrap: wrap; gap: 8px 12px; align-items: end; margin: 0 0 12px; }
form.filters label { display: flex; flex-direction: column; font-size: 13px; color: var(--muted); }
input, select, button { font: inherit; padding: 5px 8px; border: 1px solid var(--line); border-radius: 6px; background: var(--bg); color: var(--fg); }
button { cursor: pointer; background: var(--panel); font-weight: 600; }
button.danger { color: var(--bad); }
.actions { display: flex; gap: 8px; flex-wrap: wrap; margin: 8px 0 16px; } .actions form { margin: 0; }
.signin { max-width: 420px; } .signin label { display: block; font-weight: 600; margin-bottom: 4px; } .signin input { width: 100%; margin-bottom: 12px; }
a.button { display: inline-block; padding: 6px 12px; border: 1px solid var(--line); border-radius: 6px; background: var(--panel); font-weight: 600; text-decoration: none; }
.error { color: var(--bad); font-weight: 600; }
.pager { display: flex; gap: 16px; margin: 12px 0; }
.log { background: var(--logbg); color: var(--logfg); border-radius: 6px; padding: 8px 0; overflow-x: auto; }
.log .line { display: flex; white-space: pre; min-height: 1.4em; line-height: 1.4em; }
.log .line:target { background: var(--hl); }
.log .line a, .log .line .ln { flex: none; width: 5ch; text-align: right; padding-right: 1.5ch; color: var(--lognum); text-decoration: none; user-select: none; }
.log .line a:hover { text-decoration: underline; }
.log .line code { white-space: pre; padding-right: 16px; }
.live { color: var(--run); font-weight: 600; }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
meter { width: 10em; vertical-align: middle; }
.chart { display: block; width: 100%; max-width: 540px; height: auto; min-height: 4rem; margin: 8px 0 12px; fill: var(--fg); }
.chart .axis { fill: var(--muted); } .chart .tick, .chart .axis-line, .chart .hatch, .chart .bar-cached, .chart .bar-failed { stroke: var(--muted); }
.chart .hatch-bg { fill: var(--bg); } .chart .bar-none { fill: var(--muted); }
.chart .bar-run { fill: var(--link); stroke: var(--link); } .chart .bar-miss { fill: var(--link); stroke: var(--fg); }
.chart .pline, .chart .size-line { stroke: var(--fg); } .chart .size-dot { fill: var(--fg); } .chart .plabel { fill: var(--fg); stroke: var(--bg); }
.insight #cache-miss { overflow-wrap: anywhere; } .insight #cache-miss.miss { border-left: 3px solid var(--run); padding-left: 8px; }
table.layers caption { text-align: left; color: var(--muted); font-size: 13px; padding: 4px 0; }
table.layers td.instr { overflow-wrap: anywhere; word-break: break-word; }
.trends { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(100%, 420px), 1fr)); gap: 0 24px; }
.trend h3 { font-size: 1rem; margin: 12px 0 4px; overflow-wrap: anywhere; } .trend-figures { margin: 0; }
.fg0{color:#6e7681}.fg1{color:#ff7b72}.fg2{color:#3fb950}.fg3{color:#d29922}.fg4{color:#58a6ff}.fg5{color:#bc8cff}.fg6{color:#39c5cf}.fg7{color:#b1bac4}
.fg8{color:#8b949e}.fg9{color:#ffa198}.fg10{color:#56d364}.fg11{color:#e3b341}.fg12{color:#79c0ff}.fg13{color:#d2a8ff}.fg14{color:#56d4dd}.fg15{color:#fff}
.bg0{background:#484f58}.bg1{background:#b62324}.bg2{background:#1a7f37}.bg3{background:#9a6700}.bg4{background:#1f6feb}.bg5{background:#8250df}.bg6{background:#1b7c83}.bg7{background:#b1bac4;color:#0d1117}
.bg8{background:#6e7681}.bg9{background:#da3633}.bg10{background:#2ea043}.bg11{background:#bb8009}.bg12{background:#388bfd}.bg13{background:#a371f7}.bg14{background:#2b9aa3}.bg15{background:#fff;color:#0d1117}
.b{font-weight:700}.d{opacity:.7}.i{font-style:italic}.u{text-decoration:underline}
@media (max-width: 640px) { main { padding: 12px 8px; } .hide-narrow { display: none; } th, td { padding: 6px 4px; } dl.meta { grid-template-columns: 1fr; gap: 0; } dl.meta dd { margin-bottom: 6px; } }
`;

/**
 * The build page's script: opens the whole log when a link names a line the page left out; and follows the log over the API's SSE endpoint (the sign-in cookie authenticates
 * it; EventSource resumes with Last-Event-ID by itself), appends each line rendered by the same ANSI code
 * the server uses, keeps the view at the bottom while the reader is there, and reloads the page when the
 * build ends so steps, digest and status are the final ones. Without script the page is complete as sent,
 * and a running build's page reloads itself every few seconds (a <noscript> refresh).
 */
const BUILD_JS = `'use strict';
${ansiToHtml.toString()}
(function () {
  // A link to a line of a long log that the page left out opens the whole log at that line.
  var cut = document.getElementById('log-hidden');
  function openCut() {
    var target = /^#L(\\d+)$/.exec(location.hash);
    if (!cut || !target || Number(target[1]) > Number(cut.getAttribute('data-hidden'))) return false;
    location.replace(location.pathname + '?full=1' + location.hash);
    return true;
  }
  if (openCut()) return;
  window.addEventListener('hashchange', openCut);
  var log = document.getElementById('log');
  if (!log || !window.EventSource) return;
  var status = log.getAttribute('data-status');
  if (status !== 'queued' && status !== 'running') return;
  var live = document.getElementById('live');
  var empty = document.getElementById('log-empty');
  var last = Number(log.getAttribute('data-lines')) || 0;
  var src = new EventSource(log.getAttribute('data-src') + '?last_event_id=' + last);
  if (live) live.textContent = 'following live';
  var pill = document.querySelector('h1 .status');
  src.onmessage = function (e) {
    var n = Number(e.lastEventId);
    if (!(n > last)) return;
    last = n;
    // A queued build writes nothing: its first line means the runner has started it.
    if (status === 'queued' && pill) {
      status = 'running';
      log.setAttribute('data-status', status);
      pill.className = 'status s-running';
      pill.innerHTML = '<span aria-hidden="true">\u25cf </span>running';
    }
    var atBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 40;
    var div = document.createElement('div');
    div.className = 'line';
    div.id = 'L' + n;
    var a = document.createElement('a');
    a.href = '#L' + n;
    a.textContent = String(n);
    a.setAttribute('aria-label', 'line ' + n);
    var code = document.createElement('code');
    code.innerHTML = ansiToHtml(e.data);
    div.appendChild(a);
    div.appendChild(code);
    log.appendChild(div);
    log.setAttribute('data-lines', String(n));
    if (empty) { empty.remove(); empty = null; }
    if (atBottom) window.scrollTo(0, document.body.scrollHeight);
  };
  src.addEventListener('end', function () {
    src.close();
    if (live) live.textContent = 'finished; reloading';
    location.reload();
  });
  src.onerror = function () { if (live) live.textContent = 'reconnecting'; };
  src.onopen = function () { if (live) live.textContent = 'following live'; };
})();
`;

const FAVICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#1f6feb"/><path d="M4 5h8v2H4zM4 9h5v2H4z" fill="#fff"/></svg>`;

export interface Asset {
  body: string;
  type: string;
  etag: string;
}

const asset = (body: string, type: string): Asset => ({ body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 16)}"` });

/** The static files under /static/, by name. */
export const ASSETS: Record<string, Asset> = {
  'app.css': asset(CSS, 'text/css; charset=utf-8'),
  'build.js': asset(BUILD_JS, 'text/javascript; charset=utf-8'),
  'favicon.svg': asset(FAVICON, 'image/svg+xml'),
};
