/**
 * Build insight drawn: a build's steps as a timeline and a branch's builds as a trend, each an SVG string the
 * server inlines in a page. No script, no inline style (the pages' CSP allows neither): presentation attributes
 * give a picture that stands alone, and the stylesheet's `.chart` classes recolour it for dark and light. Every
 * meaning is in words as well as colour ("cached", "first miss", "p90 12.3 s"), the full text of anything
 * shortened is in a <title>, and each picture says what it shows in its own <title> and <desc>.
 *
 * Step names come from Dockerfiles: every text goes through `esc`, never into an attribute or element unescaped.
 */
import type { InsightAnswer } from '../api/answers.js';
import { formatBytes } from '../units.js';

/** The drawings' width in user units: the pages scale them to the column (360 px on a phone, as drawn). */
const W = 360;
const PAD = 4;
const MONO = 'ui-monospace, SFMono-Regular, DejaVu Sans Mono, Menlo, Consolas, monospace';
const SANS = 'system-ui, -apple-system, Segoe UI, Roboto, Noto Sans, DejaVu Sans, sans-serif';
/** The default colours (the light theme's); the stylesheet's classes override them. */
const INK = '#1f2328';
const MUTED = '#59636e';
const RUN = '#0550ae';
const BG = '#ffffff';

/** Text and attribute values as XML: `<script>` and quotes come out as characters, not markup. */
export function esc(text: string): string {
  return (
    text
      // C0 controls (but tab and newline) are not allowed in XML at all; a step name may carry them.
      .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, '')
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;')
      .replace(/"/g, '&quot;')
      .replace(/'/g, '&#39;')
  );
}

/** `text` cut to `max` characters, with an ellipsis when cut. */
function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** A time for a chart's labels: "850 ms", "12.3 s", "4 min 05 s". */
export function span(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  if (ms < 60_000) return `${+(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
  const s = Math.round(ms / 1000);
  return s % 60 === 0 ? `${s / 60} min` : `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
}

const n = (v: number) => +v.toFixed(1);

/** The opening of a picture: scalable (the viewBox, width 100%), with its title and description for screen readers. */
function open(id: string, height: number, cls: string, title: string, desc: string): string {
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" class="chart ${cls}" viewBox="0 0 ${W} ${n(height)}" width="100%" preserveAspectRatio="xMinYMin meet"` +
    ` role="img" aria-labelledby="${id}-t ${id}-d" font-family="${SANS}" font-size="12" fill="${INK}">` +
    `<title id="${id}-t">${esc(title)}</title><desc id="${id}-d">${esc(desc)}</desc>`
  );
}

/** Where a step's text sits on a light or dark page: drawn with a halo of the background so bars never hide it. */
const HALO = `paint-order="stroke" stroke="${BG}" stroke-width="3" stroke-linejoin="round"`;

// ---- the timeline

/** A step's label: its number in the stage and the instruction (`4. COPY src/ /src/`), without BuildKit's `[4/5]`. */
export function stepTitle(name: string): string {
  const m = /^\[(?:([^\]\s]+) )?(\d+)\/\d+\]\s*(.*)$/s.exec(name);
  const text = (m ? m[3]! : name).replace(/\s+/g, ' ').trim();
  if (!m) return text;
  return `${m[1] ? `${m[1]} ` : ''}${m[2]}. ${text}`;
}

const ms = (iso: string | null) => (iso === null ? null : Date.parse(iso));

/** Time ticks for a span: 0 and a few round steps after it (at most 4 intervals). */
function ticks(total: number): number[] {
  const steps = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 15e3, 3e4, 6e4, 12e4, 3e5, 6e5, 9e5, 18e5, 36e5, 72e5];
  const step = steps.find((s) => total / s <= 4) ?? Math.ceil(total / 4 / 36e5) * 36e5;
  const out: number[] = [];
  for (let t = 0; t <= total + 1e-9; t += step) out.push(t);
  return out;
}

const ROW = 34;

/**
 * A build's Dockerfile steps as a timeline: one row per step, its label (number, instruction shortened, and
 * "cached" / "ran" / "first miss" with its time) above a bar from its start to its end, on one time axis from
 * the first step's start. Cached bars are hatched and outlined, run bars solid, the first miss bold and
 * outlined thick; a step without times is a short upright marker and says "no time". Labels sit above the
 * bars so the whole width is time, which keeps the bars readable at 360 px.
 */
export function timelineSvg(insight: InsightAnswer, id = 'timeline'): string {
  const steps = insight.steps;
  const missStep = insight.cache_miss?.step ?? null;
  const starts = steps.map((s) => ms(s.started_at)).filter((v): v is number => v !== null && Number.isFinite(v));
  const ends = steps.flatMap((s) => [ms(s.started_at), ms(s.finished_at)]).filter((v): v is number => v !== null && Number.isFinite(v));
  const t0 = starts.length ? Math.min(...starts) : 0;
  const total = Math.max(1, ends.length ? Math.max(...ends) - t0 : 1);
  const x = (t: number) => PAD + ((t - t0) / total) * (W - 2 * PAD);
  const cached = steps.filter((s) => s.cached).length;

  const rows = steps.map((s, i) => {
    const y = i * ROW;
    const start = ms(s.started_at);
    const end = ms(s.finished_at);
    const miss = s.name === missStep;
    const timed = start !== null && end !== null && Number.isFinite(start) && Number.isFinite(end);
    const took = timed ? Math.max(0, end - start) : null;
    const state = miss ? 'first miss' : s.cached ? 'cached' : 'ran';
    const right = took === null ? `${state} · no time` : `${state} · ${span(took)}`;
    const label = stepTitle(s.name);
    let mark: string;
    if (timed) {
      const x1 = x(start);
      // A cached step takes a few ms: it keeps a visible sliver so its hatching shows where it was.
      const width = Math.max(s.cached ? 6 : 3, x(end) - x1);
      const cls = miss ? 'bar bar-miss' : s.cached ? 'bar bar-cached' : 'bar bar-run';
      const fill = s.cached ? `url(#${id}-hatch)` : RUN;
      const stroke = miss ? `stroke="${INK}" stroke-width="2"` : `stroke="${s.cached ? MUTED : RUN}" stroke-width="1"`;
      mark = `<rect class="${cls}" x="${n(Math.min(x1, W - PAD - width))}" y="${y + 18}" width="${n(width)}" height="10" fill="${fill}" ${stroke}/>`;
    } else {
      const at = start !== null && Number.isFinite(start) ? x(start) : PAD;
      mark = `<rect class="bar bar-none" x="${n(at)}" y="${y + 16}" width="2" height="14" fill="${MUTED}"/>`;
    }
    const weight = miss ? ' font-weight="700"' : '';
    return (
      `<g class="step${miss ? ' step-miss' : s.cached ? ' step-cached' : ''}"><title>${esc(`${s.name}: ${right}`)}</title>` +
      `<text class="label" x="${PAD}" y="${y + 13}" font-family="${MONO}" font-size="11"${weight}>${esc(clip(label, 34))}</text>` +
      `<text class="state" x="${W - PAD}" y="${y + 13}" text-anchor="end" font-size="11"${weight}>${esc(right)}</text>` +
      mark +
      '</g>'
    );
  });

  const axisY = steps.length * ROW + 4;
  const tickMarks = steps.length
    ? ticks(total).map((t) => {
        const tx = x(t0 + t);
        const anchor = tx < PAD + 12 ? 'start' : tx > W - PAD - 24 ? 'end' : 'middle';
        return (
          `<line class="tick" x1="${n(tx)}" x2="${n(tx)}" y1="0" y2="${axisY + 4}" stroke="${MUTED}" stroke-opacity="0.35"/>` +
          `<text class="axis" x="${n(tx)}" y="${axisY + 16}" text-anchor="${anchor}" font-size="11" fill="${MUTED}">${t === 0 ? '0' : esc(span(t))}</text>`
        );
      })
    : [];
  const height = steps.length ? axisY + 22 : 24;
  const desc = steps.length
    ? `${steps.length} step${steps.length === 1 ? '' : 's'} over ${span(total)}: ${cached} cached, ${steps.length - cached} ran` +
      (insight.cache_miss
        ? `; the first to miss the cache: ${stepTitle(insight.cache_miss.step)}`
        : cached === steps.length
          ? '; every step came from the cache'
          : '') +
      '. Each row is a step, its bar from its start to its end.'
    : 'No Dockerfile steps were recorded.';
  return (
    open(id, height, 'timeline', 'Step timeline', desc) +
    `<defs><pattern id="${id}-hatch" width="4" height="4" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">` +
    `<rect width="4" height="4" fill="${BG}" class="hatch-bg"/><line class="hatch" x1="0" y1="0" x2="0" y2="4" stroke="${MUTED}" stroke-width="1.5"/></pattern></defs>` +
    tickMarks.join('') +
    (steps.length ? `<line class="axis-line" x1="${PAD}" x2="${W - PAD}" y1="${axisY + 4}" y2="${axisY + 4}" stroke="${MUTED}"/>` : '') +
    rows.join('') +
    (steps.length ? '' : `<text class="axis" x="${PAD}" y="16" fill="${MUTED}">No Dockerfile steps were recorded.</text>`) +
    '</svg>'
  );
}

// ---- the trend

/**
 * The `p`-th percentile (0 < p <= 100) of `values` by the nearest-rank method: sorted ascending, the value at
 * rank ceil(p / 100 * count), counting from 1. Always one of the values (no interpolation), so "p90 12 s" is a
 * build that took 12 s; with fewer than 10 values p90 is the largest. Null when there are none.
 */
export function percentile(values: readonly number[], p: number): number | null {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

/** One finished build of a branch, as its trend shows it. */
export interface TrendPoint {
  build: number;
  /** Whether it succeeded: only those count in the percentiles (a failed build's time says little). */
  succeeded: boolean;
  /** started -> finished, in ms; null when it never started. */
  ms: number | null;
  /** The pushed image's size (insight's image_bytes); null when none is known. */
  imageBytes: number | null;
}

export interface TrendStats {
  /** Succeeded builds among the points, those the percentiles are of. */
  succeeded: number;
  /** Nearest-rank p50 and p90 of their times (ms); null when none succeeded. */
  p50: number | null;
  p90: number | null;
  /** The newest point's image size with one known; null when none has one. */
  lastImageBytes: number | null;
}

/** What the trend's labels and the page's figures say of a branch's builds. */
export function trendStats(points: readonly TrendPoint[]): TrendStats {
  const times = points.filter((p) => p.succeeded && p.ms !== null).map((p) => p.ms!);
  const sized = points.filter((p) => p.imageBytes !== null);
  return {
    succeeded: times.length,
    p50: percentile(times, 50),
    p90: percentile(times, 90),
    lastImageBytes: sized.length ? sized[sized.length - 1]!.imageBytes : null,
  };
}

/**
 * A branch's last builds, oldest left: build time as bars (solid for succeeded, outlined and dashed for the
 * others) with the p50 and p90 of the succeeded as labelled lines across, and the image size under it as a
 * small line of its own with its range in words.
 */
export function trendSvg(points: readonly TrendPoint[], opts: { id: string; label: string }): string {
  const { id, label } = opts;
  const st = trendStats(points);
  const count = points.length;
  const top = 20;
  const h = 96;
  const base = top + h;
  const timed = points.map((p) => p.ms ?? 0);
  const max = Math.max(1, ...timed, st.p90 ?? 0) * 1.08;
  const slot = (W - 2 * PAD) / Math.max(1, count);
  const bw = Math.max(1, Math.min(24, slot * 0.7));
  const cx = (i: number) => PAD + slot * i + slot / 2;
  const y = (v: number) => base - (v / max) * h;

  const bars = points.map((p, i) => {
    const what = `#${p.build}: ${p.succeeded ? 'succeeded' : 'did not succeed'}${p.ms === null ? '' : `, ${span(p.ms)}`}`;
    const hgt = p.ms === null ? 0 : Math.max(1, base - y(p.ms));
    const shape = p.succeeded
      ? `<rect class="bar bar-run" x="${n(cx(i) - bw / 2)}" y="${n(base - hgt)}" width="${n(bw)}" height="${n(hgt)}" fill="${RUN}"/>`
      : `<rect class="bar bar-failed" x="${n(cx(i) - bw / 2 + 0.5)}" y="${n(base - Math.max(hgt, 2))}" width="${n(Math.max(1, bw - 1))}" height="${n(Math.max(hgt, 2))}" fill="none" stroke="${MUTED}" stroke-dasharray="2 1.5"/>`;
    return `<g class="point"><title>${esc(what)}</title>${shape}</g>`;
  });

  const line = (v: number | null, name: 'p50' | 'p90', above: boolean, text: string = name) => {
    if (v === null) return '';
    const ly = n(y(v));
    return (
      `<line class="pline p-${name}" x1="${PAD}" x2="${W - PAD}" y1="${ly}" y2="${ly}" stroke="${INK}" stroke-width="1.5" stroke-dasharray="${name === 'p50' ? '6 3' : '2 2'}"/>` +
      `<text class="plabel" x="${W - PAD}" y="${n(above ? y(v) - 4 : y(v) + 12)}" text-anchor="end" font-size="11" font-weight="700" ${HALO}>${text} ${esc(span(v))}</text>`
    );
  };
  // p50 under its line and p90 over its own, so the two labels never sit on each other.
  const lines = st.p90 === st.p50 ? line(st.p50, 'p50', true, 'p50 = p90') : line(st.p50, 'p50', false) + line(st.p90, 'p90', true);

  const axis = base + 14;
  const first = points[0];
  const last = points[count - 1];
  const ends =
    first && last
      ? `<text class="axis" x="${PAD}" y="${axis}" font-size="11" fill="${MUTED}">#${first.build}</text>` +
        (count > 1 ? `<text class="axis" x="${W - PAD}" y="${axis}" text-anchor="end" font-size="11" fill="${MUTED}">#${last.build}</text>` : '') +
        `<text class="axis" x="${W / 2}" y="${axis}" text-anchor="middle" font-size="11" fill="${MUTED}">${count} build${count === 1 ? '' : 's'}, oldest left</text>`
      : '';

  // The image size: a small line of its own (its range is its own, far from the times').
  const sTop = axis + 22;
  const sH = 34;
  const sized = points.map((p, i) => ({ i, v: p.imageBytes })).filter((p): p is { i: number; v: number } => p.v !== null);
  let sizes = `<text class="axis" x="${PAD}" y="${sTop - 6}" font-size="11" fill="${MUTED}">image size: none known</text>`;
  if (sized.length) {
    const lo = Math.min(...sized.map((p) => p.v));
    const hi = Math.max(...sized.map((p) => p.v));
    const sy = (v: number) => sTop + sH - (hi === lo ? sH / 2 : ((v - lo) / (hi - lo)) * sH);
    const range = hi === lo ? formatBytes(hi) : `${formatBytes(lo)} to ${formatBytes(hi)}`;
    sizes =
      `<text class="axis" x="${PAD}" y="${sTop - 6}" font-size="11" fill="${MUTED}">image size: ${esc(range)}, last ${esc(formatBytes(st.lastImageBytes!))}</text>` +
      `<polyline class="size-line" fill="none" stroke="${INK}" stroke-width="1.5" points="${sized.map((p) => `${n(cx(p.i))},${n(sy(p.v))}`).join(' ')}"/>` +
      sized
        .map(
          (p) =>
            `<circle class="size-dot" cx="${n(cx(p.i))}" cy="${n(sy(p.v))}" r="2.5" fill="${INK}"><title>#${points[p.i]!.build}: ${esc(formatBytes(p.v))}</title></circle>`,
        )
        .join('');
  }
  const height = sized.length ? sTop + sH + 6 : sTop;
  const desc =
    `${count} finished build${count === 1 ? '' : 's'} of ${label}, oldest first, ${st.succeeded} succeeded` +
    (st.p50 !== null ? `: build time p50 ${span(st.p50)}, p90 ${span(st.p90!)}` : '') +
    (st.lastImageBytes !== null ? `; the last image ${formatBytes(st.lastImageBytes)}` : '') +
    '.';
  return (
    open(id, height, 'trend', `Build time and image size of ${label}`, desc) +
    `<text class="axis" x="${PAD}" y="12" font-size="11" fill="${MUTED}">build time (outlined: did not succeed)</text>` +
    `<line class="axis-line" x1="${PAD}" x2="${W - PAD}" y1="${base}" y2="${base}" stroke="${MUTED}"/>` +
    bars.join('') +
    lines +
    ends +
    sizes +
    '</svg>'
  );
}
