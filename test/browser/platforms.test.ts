/**
 * A multi-platform image's build page in a real browser (Debian's Chromium, headless) at a phone's width (360 px),
 * against the real server: a push whose image lists linux/amd64 and linux/arm64, built through BuildKit (arm64
 * under QEMU) and joined into one index; the page lists each platform with its manifest's digest, with no
 * sideways scroll.
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../helpers/browser.js';
import { WorkRepo } from '../helpers/git.js';
import { TestServer, uniqueName } from '../helpers/server.js';

// What the page functions below use in the browser (this project's type-check has no DOM library).
interface Element {
  textContent: string | null;
  getAttribute(name: string): string | null;
  querySelector(selector: string): Element | null;
}
declare const document: { documentElement: { scrollWidth: number }; querySelectorAll(selector: string): Iterable<Element> };

let server: TestServer;
let browser: Browser;

beforeAll(async () => {
  server = await TestServer.start();
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

describe('a multi-platform build page in Chromium at 360 px', () => {
  it('lists each platform with its digest (the whole in the title), readable without scrolling sideways', async () => {
    const owner = uniqueName('plat');
    const token = server.addUser(owner);
    const repo = await WorkRepo.create({
      'codehub-build.yaml': 'version: 1\nimages:\n  - name: app\n    platforms: [linux/amd64, linux/arm64]\n',
      Dockerfile: `FROM localhost:5001/cache/busybox:latest\nRUN echo ${owner} && uname -m > /arch\n`,
    });
    const push = await repo.push(server.gitUrl(owner, token, owner, 'app'), ['main']);
    expect(push.exitCode, push.output).toBe(0);
    const [b] = await server.waitForBuilds((await repo.git.revparse(['HEAD'])).trim(), token);
    expect(b.status, b.reason ?? '').toBe('succeeded');
    expect(b.platforms).toHaveLength(2);

    const context = await browser.newContext({ viewport: { width: 360, height: 740 } });
    await context.addCookies([{ name: 'codehub_token', value: token, url: server.url }]);
    const page = await context.newPage();
    await page.goto(`${server.url}/builds/${b.id}`);
    const listed = await page.evaluate(() =>
      [...document.querySelectorAll('ul.platforms li')].map((li) => ({ text: li.textContent, title: li.querySelector('span')?.getAttribute('title') ?? null })),
    );
    expect(listed).toEqual(
      b.platforms.map((p: { platform: string; digest: string }) => ({ text: `${p.platform} ${p.digest.slice(0, 19)}…`, title: p.digest })),
    );
    for (const p of b.platforms as { platform: string }[]) expect(await page.getByText(p.platform, { exact: false }).first().isVisible()).toBe(true);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(360);
    await context.close();
  });
});
