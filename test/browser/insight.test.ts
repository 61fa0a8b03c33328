/**
 * Build insight's pictures in a real browser (Debian's Chromium, headless) at a phone's width (360 px),
 * against the real server: a build page with the insight of a real build (two pushes through BuildKit, the
 * second changing a file the Dockerfile copies), and a repo page's trend of a branch over 22 builds.
 *
 * `CODEHUB_INSIGHT_SCREENSHOT=docs/insight-build-page.png` also saves the build page's Insight section at
 * 360 px there (the README shows it).
 */
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { percentile, span } from '../../src/insight/draw.js';
import { dbFile, openDb } from '../../src/store/db.js';
import { Store } from '../../src/store/store.js';
import { builds } from '../../src/store/schema.js';
import { eq } from 'drizzle-orm';
import { launchChromium } from '../helpers/browser.js';
import { WorkRepo } from '../helpers/git.js';
import { TestServer, uniqueName } from '../helpers/server.js';

// What the page functions below use in the browser (this project's type-check has no DOM library).
declare const document: { documentElement: { scrollWidth: number } };

let server: TestServer;
let browser: Browser;
let alice: string;
let token: string;
const repoName = 'insight';
/** Requests any page made to another origin: there must be none. */
const foreign: string[] = [];

beforeAll(async () => {
  server = await TestServer.start();
  alice = uniqueName('alice');
  token = server.addUser(alice);
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

/** A page at a phone's width, signed in as alice (the sign-in cookie set directly: the sign-in form has its own test). */
async function phone(): Promise<Page> {
  // Twice the pixels (as a phone has): the screenshot stays sharp; the page's widths are in CSS pixels still.
  const context = await browser.newContext({ viewport: { width: 360, height: 740 }, deviceScaleFactor: 2 });
  await context.addCookies([{ name: 'codehub_token', value: token, url: server.url }]);
  const page = await context.newPage();
  page.on('request', (r) => {
    if (!r.url().startsWith(server.url)) foreign.push(r.url());
  });
  return page;
}

const DOCKERFILE = [
  'FROM localhost:5000/cache/busybox:latest',
  'COPY conf/ /conf/',
  'RUN cat /conf/app.conf > /etc/app.conf',
  'COPY src/ /src/',
  'RUN ls -l /src > /src.list',
].join('\n');

describe('insight in Chromium at 360 px', () => {
  let first: number;

  it("draws a real build's insight: the sentence, the timeline and the layers, with no sideways scroll", async () => {
    const repo = await WorkRepo.create({ Dockerfile: DOCKERFILE, 'conf/app.conf': 'a=1\n', 'src/a.txt': 'one\n' });
    const url = server.gitUrl(alice, token, alice, repoName);
    const one = await repo.push(url, ['main']);
    expect(one.exitCode, one.output).toBe(0);
    const [b1] = await server.waitForBuilds((await repo.git.revparse(['HEAD'])).trim(), token);
    expect(b1.status).toBe('succeeded');
    first = b1.id;

    // One file of src/ changes and a file of 512 KiB joins it: the COPY src/ step misses, the conf steps are cached.
    const sha = await repo.commit({ 'src/a.txt': 'two\n', 'src/blob.bin': randomBytes(384 * 1024).toString('base64') });
    const two = await repo.push(url, ['main']);
    expect(two.exitCode, two.output).toBe(0);
    const [b2] = await server.waitForBuilds(sha, token);
    expect(b2.status).toBe('succeeded');
    const insight = b2.insight;
    expect(insight?.cache_miss?.step, JSON.stringify(insight)).toContain('COPY src/ /src/');

    const page = await phone();
    await page.goto(`${server.url}/builds/${b2.id}`);
    const sentence = page.locator('#cache-miss');
    await sentence.waitFor();
    expect(await sentence.isVisible()).toBe(true);
    expect(await sentence.textContent()).toBe(insight.cache_miss.sentence);
    const svg = page.locator('section.insight svg.chart.timeline');
    expect(await svg.isVisible()).toBe(true);
    const box = (await svg.boundingBox())!;
    expect(box.width).toBeLessThanOrEqual(360);
    expect(box.height).toBeGreaterThan(60);
    expect(await svg.locator('g.step').count()).toBe(insight.steps.length);
    expect(await svg.locator('g.step-cached').count()).toBe(insight.steps.filter((s: { cached: boolean }) => s.cached).length);
    expect(await svg.locator('g.step-miss text', { hasText: 'first miss' }).count()).toBe(1);
    expect(await page.locator('#image-size').textContent()).toContain(`against build #${first}`);
    expect(await page.locator('table.layers tbody tr').count()).toBe(insight.layers.length);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(360);

    if (process.env.CODEHUB_INSIGHT_SCREENSHOT) {
      // The section across the page's whole width, as a phone shows it.
      const section = (await page.locator('section.insight').boundingBox())!;
      await page.screenshot({
        path: resolve(process.env.CODEHUB_INSIGHT_SCREENSHOT),
        fullPage: true,
        clip: { x: 0, y: Math.max(0, section.y - 8), width: 360, height: section.height + 16 },
      });
    }
    await page.context().close();
  });

  it("charts a branch's p50 and p90 over 22 builds on the repo page", async () => {
    // 22 finished builds of a branch, written into the server's database through its store (a push each would
    // take minutes); their times and sizes are what the page must summarise.
    const times = Array.from({ length: 22 }, (_, i) => 4000 + ((i * 7919) % 23) * 1000);
    const store = new Store(openDb(dbFile(server.dataDir)));
    try {
      const repoId = store.repos.ensure(alice, repoName).id;
      const rows = store.builds.insert(
        times.map((_, i) => ({
          repoId,
          repo: `${alice}/${repoName}`,
          owner: alice,
          ref: 'refs/heads/trend',
          refType: 'branch' as const,
          refName: 'trend',
          commitSha: i.toString(16).padStart(40, 'e'),
          image: repoName,
          status: 'succeeded' as const,
          pusher: alice,
        })),
        () => [],
      );
      const t0 = Date.parse('2026-12-01T10:00:00Z');
      rows.forEach((b, i) => {
        store.db
          .update(builds)
          .set({
            startedAt: new Date(t0 + i * 60_000).toISOString(),
            finishedAt: new Date(t0 + i * 60_000 + times[i]!).toISOString(),
            insight: {
              v: 1,
              cache_miss: null,
              layers: [],
              image_bytes: 2_000_000 + i * 10_000,
              image_bytes_delta: null,
              previous_build: null,
              inputs: { args: {}, bases: {}, layers: [] },
            },
          })
          .where(eq(builds.id, b.id))
          .run();
      });
    } finally {
      store.db.$client.close();
    }

    const page = await phone();
    await page.goto(`${server.url}/repos/${alice}/${repoName}`);
    const trend = page.locator('article.trend[data-branch="trend"]');
    await trend.waitFor();
    expect(await trend.locator('.p50').textContent()).toBe(span(percentile(times, 50)!));
    expect(await trend.locator('.p90').textContent()).toBe(span(percentile(times, 90)!));
    const chart = trend.locator('svg.chart.trend');
    expect(await chart.isVisible()).toBe(true);
    expect(await chart.locator('g.point').count()).toBe(22);
    expect(await chart.locator('text.plabel', { hasText: `p90 ${span(percentile(times, 90)!)}` }).count()).toBe(1);
    // The pushed builds' branch has its trend too, after the written ones (they are newer).
    expect(await page.locator('article.trend').nth(1).getAttribute('data-branch')).toBe('main');
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(360);
    await page.context().close();
    expect(foreign).toEqual([]);
  });
});
