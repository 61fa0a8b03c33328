import { describe, expect, it } from 'vitest';
import type { InsightAnswer } from '../../src/api/answers.js';
import { esc, percentile, stepTitle, type TrendPoint, trendStats, trendSvg, timelineSvg } from '../../src/insight/draw.js';

// The insight's pictures: the step timeline of a build page and the trend of a repo page, as SVG strings.

const at = (s: number) => new Date(Date.UTC(2026, 11, 7, 12, 0, 0) + s * 1000).toISOString();
const step = (n: number, name: string, from: number | null, to: number | null, cached: boolean) => ({
  n,
  name,
  started_at: from === null ? null : at(from),
  finished_at: to === null ? null : at(to),
  cached,
});

function insight(over: Partial<InsightAnswer> = {}): InsightAnswer {
  return {
    steps: [
      step(1, '[1/5] FROM localhost:5000/cache/busybox:latest', 0, 0.01, true),
      step(2, '[2/5] COPY conf/ /conf/', 0.01, 0.02, true),
      step(3, '[3/5] RUN cat /conf/*', 0.02, 0.03, true),
      step(4, '[4/5] COPY src/ /src/', 2, 3, false),
      step(5, '[5/5] RUN ls /src', 3, 10, false),
    ],
    cache_miss: {
      step: '[4/5] COPY src/ /src/',
      number: 4,
      after: 1,
      because: { files: ['src/a.txt'], files_total: 1, build_args: [], base: null, unknown: null },
      sentence: 'step 4 `COPY src/ /src/` ran because 1 file changed: src/a.txt; the step after it ran because it did',
    },
    layers: [],
    image_bytes: null,
    image_bytes_delta: null,
    previous_build: null,
    ...over,
  };
}

/** Each step's row of a timeline. */
const rows = (svg: string) => svg.match(/<g class="step[^"]*">[\s\S]*?<\/g>/g) ?? [];

describe('timelineSvg', () => {
  it('draws one row per step, each with its label and time, in order', () => {
    const svg = timelineSvg(insight());
    const r = rows(svg);
    expect(r).toHaveLength(5);
    expect(r[1]).toContain('>2. COPY conf/ /conf/</text>');
    expect(r[4]).toContain('>5. RUN ls /src</text>');
    expect(r[4]).toContain('>ran · 7 s</text>');
    // Scalable and described: a viewBox, the column's width, a title and a description it is labelled by.
    expect(svg).toMatch(/^<svg [^>]*viewBox="0 0 360 \d+(\.\d)?" width="100%"/);
    expect(svg).toContain('role="img" aria-labelledby="timeline-t timeline-d"');
    expect(svg).toContain('<title id="timeline-t">Step timeline</title>');
    expect(svg).toContain('<desc id="timeline-d">5 steps over 10 s: 3 cached, 2 ran; the first to miss the cache: 4. COPY src/ /src/.');
    expect(svg).not.toContain('<script');
    expect(svg).not.toContain('style=');
  });

  it('puts each bar on one time axis from the first start: 2 s to 3 s of 10 s, over 352 units from x=4', () => {
    const r = rows(timelineSvg(insight()));
    expect(r[3]).toMatch(/<rect class="bar bar-miss" x="74.4" y="\d+" width="35.2"/);
    expect(r[4]).toMatch(/<rect class="bar bar-run" x="109.6" y="\d+" width="246.4"/);
    // Ticks at round times, labelled: 0, 5 s, 10 s.
    const ticks = timelineSvg(insight())
      .match(/<text class="axis"[^>]*>[^<]*<\/text>/g)!
      .map((t) => t.replace(/<[^>]+>/g, ''));
    expect(ticks).toEqual(['0', '5 s', '10 s']);
  });

  it('marks cached steps in words and with a hatched bar, and the first miss in bold words, not by colour alone', () => {
    const r = rows(timelineSvg(insight()));
    for (const cached of r.slice(0, 3)) {
      expect(cached).toContain('<g class="step step-cached">');
      expect(cached).toMatch(/>cached · \d+ ms<\/text>/);
      expect(cached).toContain('fill="url(#timeline-hatch)"');
    }
    expect(r[3]).toContain('<g class="step step-miss">');
    expect(r[3]).toContain('font-weight="700">first miss · 1 s</text>');
    expect(r[4]).not.toContain('first miss');
    expect(r[4]).not.toContain('cached');
  });

  it('turns hostile step names into inert text', () => {
    const name = `[2/2] RUN echo "<script>alert('x')</script>" && </text><svg onload=alert(1)>`;
    const svg = timelineSvg(insight({ steps: [step(1, name, 0, 1, false)], cache_miss: null }));
    expect(svg).not.toContain('<script>');
    expect(svg).not.toContain('<svg onload');
    expect(svg).not.toContain("'x'");
    expect(svg).toContain('echo &quot;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&quot; &amp;&amp;');
    // The whole name is in the row's title; the label is cut with an ellipsis.
    expect(svg).toContain(`<title>${esc(name)}: ran · 1 s</title>`);
    expect(rows(svg)[0]).toMatch(/>2\. RUN echo &quot;&lt;script&gt;alert\(&#39;[^<]*…<\/text>/);
    expect(esc('a\u0000b\u001bc')).toBe('abc');
  });

  it('draws a step without times as a marker that says so, and a build without steps as a sentence', () => {
    const svg = timelineSvg(insight({ steps: [step(1, '[1/2] COPY a /a', 0, 4, false), step(2, '[2/2] RUN never', null, null, false)], cache_miss: null }));
    const r = rows(svg);
    expect(r[1]).toContain('>ran · no time</text>');
    expect(r[1]).toMatch(/<rect class="bar bar-none" x="4" y="\d+" width="2"/);
    expect(svg).not.toContain('every step came from the cache');
    expect(timelineSvg(insight({ steps: [step(1, '[1/1] COPY a /a', 0, 0, true)], cache_miss: null }))).toContain('every step came from the cache');

    const empty = timelineSvg(insight({ steps: [], cache_miss: null }));
    expect(rows(empty)).toHaveLength(0);
    expect(empty).toContain('No Dockerfile steps were recorded.');
    expect(empty).not.toContain('NaN');
    // Only a start: the marker sits at it.
    expect(rows(timelineSvg(insight({ steps: [step(1, '[1/2] A', 0, 4, false), step(2, '[2/2] B', 2, null, false)] })))[1]).toContain('x="180"');
  });

  it("labels a step by its stage's number and instruction", () => {
    expect(stepTitle('[4/5] COPY src/ /src/')).toBe('4. COPY src/ /src/');
    expect(stepTitle('[build 3/4] RUN  make\n  all')).toBe('build 3. RUN make all');
    expect(stepTitle('exporting to image')).toBe('exporting to image');
  });
});

describe('percentile (nearest rank)', () => {
  it('is the value at rank ceil(p/100 * n) of the sorted values', () => {
    // The textbook example: 15, 20, 35, 40, 50.
    const v = [50, 15, 40, 20, 35];
    expect(percentile(v, 30)).toBe(20);
    expect(percentile(v, 40)).toBe(20);
    expect(percentile(v, 50)).toBe(35);
    expect(percentile(v, 90)).toBe(50);
    expect(percentile(v, 100)).toBe(50);
    const ten = [10, 9, 8, 7, 6, 5, 4, 3, 2, 1];
    expect(percentile(ten, 50)).toBe(5);
    expect(percentile(ten, 90)).toBe(9);
    expect(percentile([7], 90)).toBe(7);
    expect(percentile([], 50)).toBeNull();
    expect(v).toEqual([50, 15, 40, 20, 35]);
  });
});

describe('trendSvg', () => {
  const points: TrendPoint[] = Array.from({ length: 20 }, (_, i) => ({
    build: 100 + i,
    succeeded: i !== 5,
    ms: (i + 1) * 1000,
    imageBytes: i === 19 ? null : 1_000_000 + i * 1024,
  }));

  it('shows p50 and p90 of the succeeded builds as labelled lines, one bar per build, and the image size', () => {
    const st = trendStats(points);
    // 19 succeeded: 1..20 s without 6 s; nearest rank 10 of 19 is 11 s, rank 18 is 19 s.
    expect(st).toEqual({ succeeded: 19, p50: 11_000, p90: 19_000, lastImageBytes: 1_000_000 + 18 * 1024 });
    const svg = trendSvg(points, { id: 'trend-0', label: 'main · web' });
    expect(svg.match(/<g class="point">/g)).toHaveLength(20);
    expect(svg.match(/class="bar bar-failed"/g)).toHaveLength(1);
    expect(svg).toContain('<title>#105: did not succeed, 6 s</title>');
    expect(svg).toMatch(/<line class="pline p-p50"[^>]*\/><text class="plabel"[^>]*>p50 11 s<\/text>/);
    expect(svg).toMatch(/<line class="pline p-p90"[^>]*\/><text class="plabel"[^>]*>p90 19 s<\/text>/);
    expect(svg).toContain('>#100</text>');
    expect(svg).toContain('>#119</text>');
    expect(svg).toContain('20 builds, oldest left');
    expect(svg).toContain('image size: 977 KiB to 995 KiB, last 995 KiB');
    expect(svg.match(/<circle class="size-dot"/g)).toHaveLength(19);
    expect(svg).toContain('<title id="trend-0-t">Build time and image size of main · web</title>');
    expect(svg).toContain('20 finished builds of main · web, oldest first, 19 succeeded: build time p50 11 s, p90 19 s; the last image 995 KiB.');
    expect(svg).not.toContain('NaN');
  });

  it('the p90 line is above the p50 line (higher times are higher up)', () => {
    const svg = trendSvg(points, { id: 't', label: 'x' });
    const y = (name: string) => Number(new RegExp(`class="pline p-${name}"[^>]*y1="([\\d.]+)"`).exec(svg)![1]);
    expect(y('p90')).toBeLessThan(y('p50'));
  });

  it('escapes the label and says so when nothing succeeded or no size is known', () => {
    const svg = trendSvg([{ build: 1, succeeded: false, ms: null, imageBytes: null }], { id: 't', label: '<b>&"x' });
    expect(svg).toContain('&lt;b&gt;&amp;&quot;x');
    expect(svg).not.toContain('<b>');
    expect(svg).not.toContain('pline');
    expect(svg).toContain('image size: none known');
    expect(trendStats([])).toEqual({ succeeded: 0, p50: null, p90: null, lastImageBytes: null });
    expect(trendSvg([], { id: 'e', label: 'none' })).not.toContain('NaN');
  });
});
