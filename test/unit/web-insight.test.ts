import { eq } from 'drizzle-orm';
import { beforeEach, describe, expect, it } from 'vitest';
import type { StoredInsight } from '../../src/insight/types.js';
import { BuildTrends } from '../../src/store/build-trends.js';
import { type BuildStep, builds } from '../../src/store/schema.js';
import { formatBytesDelta } from '../../src/units.js';
import { memoryApp } from '../helpers/memory-app.js';

// Build insight on the pages (issue 28), through the app over an in-memory database: the build page's Insight
// section from a build's stored insight and steps, and the repo page's Trends from its finished builds.

const at = (s: number) => new Date(Date.UTC(2026, 11, 7, 12, 0, 0) + s * 1000).toISOString();
const sha = (i: number) => i.toString(16).padStart(40, '0');

const HOSTILE = `RUN echo "<script>alert('x')</script>" &`;
const steps: BuildStep[] = [
  { n: 1, name: '[internal] load build context', cached: false, started: at(0), completed: at(0.1) },
  { n: 2, name: '[1/5] FROM localhost:5000/cache/busybox:latest', cached: true, started: at(0.1), completed: at(0.2) },
  { n: 3, name: '[2/5] COPY conf/ /conf/', cached: true, started: at(0.2), completed: at(0.2) },
  { n: 4, name: '[3/5] RUN cat /conf/x', cached: true, started: at(0.2), completed: at(0.2) },
  { n: 5, name: '[4/5] COPY src/ /src/', cached: false, started: at(1), completed: at(2) },
  { n: 6, name: `[5/5] ${HOSTILE}`, cached: false, started: at(2), completed: at(6) },
  { n: 7, name: 'exporting to image', cached: false, started: at(6), completed: at(7) },
];

function stored(over: Partial<StoredInsight> = {}): StoredInsight {
  return {
    v: 1,
    cache_miss: {
      step: '[4/5] COPY src/ /src/',
      number: 4,
      after: 1,
      because: { files: ['src/a.txt'], files_total: 1, build_args: [], base: null, unknown: null },
    },
    layers: [
      { instruction: 'ADD alpine-minirootfs.tar.gz /', bytes: 3_600_000, bytes_delta: 0 },
      { instruction: 'COPY src/ /src/', bytes: 3_146_000, bytes_delta: 3_145_728 },
      { instruction: HOSTILE, bytes: 512, bytes_delta: null },
      { instruction: '', bytes: 100, bytes_delta: 0 },
    ],
    image_bytes: 6_747_000,
    image_bytes_delta: 3_145_800,
    previous_build: 1,
    inputs: { args: {}, bases: {}, layers: [] },
    ...over,
  };
}

describe('insight on the pages', () => {
  let m: ReturnType<typeof memoryApp>;
  let alice: string;
  const page = async (path: string) => {
    const res = await m.app.request(path, { headers: { cookie: `codehub_token=${alice}` } });
    expect(res.status).toBe(200);
    return res.text();
  };
  /** Finished builds of alice/shop on `branch`, one per duration (seconds), each with an image size when given. */
  const finished = (branch: string, runs: { s: number; status?: 'succeeded' | 'failed'; bytes?: number }[], opts: { refType?: 'tag'; from?: number } = {}) => {
    const rows = m.addBuilds(
      'alice',
      'shop',
      runs.map((_, i) => sha((opts.from ?? 0) + i + 1)),
      'succeeded',
      branch,
    );
    rows.forEach((b, i) => {
      const r = runs[i]!;
      m.store.db
        .update(builds)
        .set({
          status: r.status ?? 'succeeded',
          startedAt: at(i * 100),
          finishedAt: at(i * 100 + r.s),
          ...(opts.refType ? { refType: opts.refType } : {}),
          ...(r.bytes !== undefined ? { insight: { ...stored({ image_bytes: r.bytes }) } as unknown as Record<string, unknown> } : {}),
        })
        .where(eq(builds.id, b.id))
        .run();
    });
    return rows.map((b) => b.id);
  };
  const withInsight = (insight: StoredInsight | null, s: BuildStep[] = steps) => {
    const [b] = m.addBuilds('alice', 'shop', [sha(999)]);
    m.store.db
      .update(builds)
      .set({ startedAt: at(0), finishedAt: at(7), steps: s, insight: insight as unknown as Record<string, unknown> })
      .where(eq(builds.id, b!.id))
      .run();
    return b!.id;
  };

  beforeEach(() => {
    m = memoryApp();
    alice = m.addUser('alice');
  });

  describe('the build page', () => {
    it('shows the insight before the steps and the log: the sentence, the timeline, the size and its change, the layers', async () => {
      const id = withInsight(stored());
      const body = await page(`/builds/${id}`);
      const at = (s: string) => body.indexOf(s);
      expect(at('<h2 id="insight">Insight</h2>')).toBeGreaterThan(0);
      expect(at('<h2 id="insight">')).toBeLessThan(at('<h2 id="steps">'));
      expect(at('<h2 id="steps">')).toBeLessThan(at('<h2 id="log-title">'));
      expect(body).toContain(
        '<p id="cache-miss" class="miss">step 4 `COPY src/ /src/` ran because 1 file changed: src/a.txt; the step after it ran because it did</p>',
      );
      // The timeline: the Dockerfile's 5 steps (BuildKit's own left out), the miss marked in words.
      const svg = /<svg [^>]*class="chart timeline"[\s\S]*?<\/svg>/.exec(body)![0];
      expect(svg.match(/<g class="step[^"]*">/g)).toHaveLength(5);
      expect(svg.match(/>cached · /g)).toHaveLength(3);
      expect(svg).toContain('>first miss · 1 s</text>');
      expect(svg).not.toContain('internal');
      // The size, its change and the build it is against.
      expect(body).toContain('<p id="image-size">Image size <strong>6.43 MiB</strong>, <strong>+3 MiB</strong> against <a href="/builds/1">build #1</a>.</p>');
      // The layers: instruction, size, change; a layer the previous build lacked is new.
      const table = /<table class="layers"[\s\S]*?<\/table>/.exec(body)![0];
      const rows = table.match(/<tr><td[\s\S]*?<\/tr>/g)!;
      expect(rows).toHaveLength(4);
      expect(rows[0]).toBe('<tr><td class="mono instr">ADD alpine-minirootfs.tar.gz /</td><td class="num">3.43 MiB</td><td class="num">0 B</td></tr>');
      expect(rows[1]).toContain('<td class="num">+3 MiB</td>');
      expect(rows[2]).toContain('<td class="num">new</td>');
      // A layer the image's history does not name says so rather than showing an empty cell.
      expect(rows[3]).toContain('<span class="muted" title="the image&#39;s history names no instruction for this layer">—</span>');
      // Names from the Dockerfile are text everywhere on the page, never markup.
      expect(body).not.toContain("<script>alert('x')");
      expect(body).toContain('RUN echo &quot;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&quot; &amp;');
      // The pages' CSP allows no inline style: the drawing has none.
      expect(body).not.toMatch(/\sstyle=/);
    });

    it('says when every step came from the cache, and says nothing of the cache when there were no steps', async () => {
      const allCached = withInsight(
        stored({ cache_miss: null, image_bytes_delta: 0 }),
        steps.map((s) => ({ ...s, cached: true })),
      );
      const cachedPage = await page(`/builds/${allCached}`);
      expect(cachedPage).toContain('<p id="cache-miss" class="">Every step came from the cache.</p>');
      expect(cachedPage).toContain('<strong>0 B</strong> against <a href="/builds/1">build #1</a>');

      const none = withInsight(stored({ cache_miss: null, previous_build: null, image_bytes_delta: null, layers: [] }), []);
      const nonePage = await page(`/builds/${none}`);
      expect(nonePage).toContain('<h2 id="insight">Insight</h2>');
      expect(nonePage).not.toContain('id="cache-miss"');
      expect(nonePage).not.toContain('class="chart timeline"');
      expect(nonePage).not.toContain('class="layers"');
      expect(nonePage).toContain('Image size <strong>6.43 MiB</strong>; no earlier build of this branch and image to compare with.');
    });

    it('has no Insight section before the build has one', async () => {
      const body = await page(`/builds/${withInsight(null)}`);
      expect(body).not.toContain('id="insight"');
      expect(body).toContain('<h2 id="steps">Steps</h2>');
    });
  });

  describe('the repo page', () => {
    it("shows each branch's p50 and p90 over its last 30 finished builds, succeeded ones only, and the last image size", async () => {
      // 35 builds of 1..35 s, the 31st failed: the last 30 are 6..35 s, and without the failed 31 s, 29 times.
      const ids = finished(
        'main',
        Array.from({ length: 35 }, (_, i) => ({ s: i + 1, status: i === 30 ? ('failed' as const) : undefined, bytes: 1_000_000 + i * 1000 })),
      );
      const body = await page('/repos/alice/shop');
      expect(body).toContain('<h2 id="trends">Trends</h2>');
      expect(body.indexOf('id="trends"')).toBeLessThan(body.indexOf('<h2>Builds</h2>'));
      const trend = /<article class="trend"[\s\S]*?<\/article>/.exec(body)![0];
      expect(trend).toContain('data-branch="main" data-image="shop"');
      // Nearest rank of 29: p50 is the 15th (20 s), p90 the 27th (33 s).
      expect(trend).toContain('p50 <strong class="p50">20 s</strong>, p90 <strong class="p90">33 s</strong> over 29 succeeded of 30');
      expect(trend).toContain(`image <strong>1010 KiB</strong>`);
      expect(trend.match(/<g class="point">/g)).toHaveLength(30);
      expect(trend).toContain(`>#${ids[5]}</text>`);
      expect(trend).toContain(`>#${ids[34]}</text>`);
      expect(trend).toMatch(/>p50 20 s<\/text>/);
      expect(trend).toMatch(/>p90 33 s<\/text>/);
      expect(body).not.toMatch(/\sstyle=/);
    });

    it('shows at most 5 branches, the most recently built first, and leaves out tags, unfinished builds and other pages of builds', async () => {
      for (const [i, branch] of ['a', 'b', 'c', 'd', 'e', 'f'].entries()) finished(branch, [{ s: 10 + i }], { from: i * 10 });
      finished('v1.0', [{ s: 3 }], { refType: 'tag', from: 100 });
      m.addBuilds('alice', 'shop', [sha(200)], 'running', 'g');
      const body = await page('/repos/alice/shop');
      const shown = [...body.matchAll(/<article class="trend"[^>]*data-branch="([^"]+)"/g)].map((x) => x[1]);
      expect(shown).toEqual(['f', 'e', 'd', 'c', 'b']);
      // One build each: its time is both percentiles, said once.
      expect(body).toContain('>p50 = p90 15 s</text>');
      expect(body).toContain('none known');

      const older = await page(`/repos/alice/shop?before=${Number.MAX_SAFE_INTEGER}`);
      expect(older).not.toContain('id="trends"');
    });

    it('has no Trends section for a repo without finished branch builds', async () => {
      m.addBuilds('alice', 'shop', [sha(1)], 'queued');
      const body = await page('/repos/alice/shop');
      expect(body).not.toContain('id="trends"');
      expect(body).toContain('<h2>Builds</h2>');
    });
  });

  it("BuildTrends reads a line's builds oldest first, its image sizes from the insight, within its window", () => {
    finished('main', [{ s: 5, bytes: 100 }, { s: 6 }, { s: 7, bytes: 300 }]);
    const lines = new BuildTrends(m.store.db).of('alice/shop');
    expect(lines).toHaveLength(1);
    expect(lines[0]!.builds.map((b) => [b.status, b.imageBytes])).toEqual([
      ['succeeded', 100],
      ['succeeded', null],
      ['succeeded', 300],
    ]);
    expect(lines[0]!.builds.map((b) => b.id)).toEqual([...lines[0]!.builds.map((b) => b.id)].sort((a, b) => a - b));
    // A window of the repo's newest 2 finished builds sees only those.
    expect(new BuildTrends(m.store.db).of('alice/shop', { lines: 5, builds: 30, window: 2 })[0]!.builds).toHaveLength(2);
    expect(new BuildTrends(m.store.db).of('alice/other')).toEqual([]);
    expect(formatBytesDelta(-1536)).toBe('-1.5 KiB');
  });
});
