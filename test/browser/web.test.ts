/**
 * The web pages in a real browser (Debian's Chromium, headless, through playwright-core) against the real
 * server, with real pushes built by BuildKit: sign in, find a pushed commit's build, watch its log grow
 * live, cancel a running build, and be refused another user's build.
 *
 * `CODEHUB_SCREENSHOT=docs/build-page.png` also saves the finished build's page there (the README shows it).
 */
import { resolve } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../helpers/browser.js';
import { WorkRepo } from '../helpers/git.js';
import { TestServer, uniqueName } from '../helpers/server.js';

// What the page functions below use in the browser (this project's type-check has no DOM library).
declare const document: { activeElement: { textContent: string | null } | null; documentElement: { scrollWidth: number } };
declare const window: Record<string, unknown>;
declare function getComputedStyle(e: unknown): { color: string; backgroundColor: string };

let server: TestServer;
let browser: Browser;
let alice: string;
let aliceToken: string;
let bob: string;
let bobToken: string;
let aliceContext: BrowserContext;
/** Requests any page made to another origin: there must be none (no CDNs, no fonts; the network is closed). */
const foreign: string[] = [];

beforeAll(async () => {
  server = await TestServer.start();
  alice = uniqueName('alice');
  bob = uniqueName('bob');
  aliceToken = server.addUser(alice);
  bobToken = server.addUser(bob);
  browser = await launchChromium();
  // Alice's browser for the tests after the first, signed in through the form (the first test signs in its own).
  aliceContext = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  const page = await newPage(aliceContext);
  await page.goto(`${server.url}/login`);
  await signIn(page, aliceToken);
  await page.close();
});
afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

async function newPage(context: BrowserContext): Promise<Page> {
  const page = await context.newPage();
  page.on('request', (r) => {
    if (!r.url().startsWith(server.url)) foreign.push(r.url());
  });
  return page;
}

async function signIn(page: Page, token: string): Promise<void> {
  await page.waitForURL(/\/login/);
  await page.getByLabel('Token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((u) => !u.pathname.startsWith('/login'));
}

/** A repo whose build prints a green line every 0.7 s for about 6 s (or sleeps `sleep` s first, for cancel). */
async function pushSlowBuild(repoName: string, opts: { ticks?: number; sleep?: number } = {}) {
  const dockerfile = [
    'FROM localhost:5000/cache/busybox:latest',
    'COPY hello.txt /hello.txt',
    opts.sleep ? `RUN echo started-long && sleep ${opts.sleep}` : '',
    `RUN for i in $(seq 1 ${opts.ticks ?? 8}); do printf '\\033[32mtick %s\\033[0m\\n' $i; sleep 0.7; done`,
  ].join('\n');
  const repo = await WorkRepo.create({ Dockerfile: dockerfile, 'hello.txt': `${repoName} ${Date.now()}\n` });
  const sha = (await repo.git.revparse(['HEAD'])).trim();
  const push = await repo.push(server.gitUrl(alice, aliceToken, alice, repoName), ['main']);
  expect(push.exitCode, push.output).toBe(0);
  // The links the push printed: each build's page, and the commit's page on the follow line.
  const buildUrl = /page: (http\S+\/builds\/(\d+))/.exec(push.output);
  const commitUrl = /\((http\S+\/commits\/[0-9a-f]{7})\)/.exec(push.output);
  expect(buildUrl, push.output).not.toBeNull();
  expect(commitUrl, push.output).not.toBeNull();
  return { sha, buildUrl: buildUrl![1]!, id: Number(buildUrl![2]), commitUrl: commitUrl![1]! };
}

/** A line the RUN step printed (the step's own header line shows the command, with `tick %s`). */
const TICK = /tick \d/;
/** The long step's output line (not its header, which shows the command). */
const STARTED = /^#\d+ started-long$/;
const lineCount = (page: Page, text: string | RegExp) => page.locator('#log .line code', { hasText: text }).count();

describe('the web pages in Chromium', () => {
  it("signs in from a pushed link, finds the commit's build, follows its log live, and shows the finished build", async () => {
    const pushed = await pushSlowBuild('webapp');
    const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
    const page = await newPage(context);

    // The commit link from the push output asks for a sign-in, then comes back to the commit.
    await page.goto(pushed.commitUrl);
    await signIn(page, aliceToken);
    expect(page.url()).toBe(pushed.commitUrl);
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe(`Commit ${pushed.sha.slice(0, 7)}`);

    // Find it the long way too: repositories, the repo, the commit filter, the build.
    await page.getByRole('link', { name: 'Repositories' }).click();
    await page.getByRole('link', { name: `${alice}/webapp` }).click();
    await page.getByLabel('Commit').fill(pushed.sha.slice(0, 7));
    await page.getByLabel('Commit').press('Enter');
    await page.waitForURL(/commit=/);
    await page.getByRole('link', { name: `#${pushed.id}`, exact: true }).click();
    await page.waitForURL(pushed.buildUrl);

    // The log grows on this same page load (the marker would not survive a reload) as BuildKit runs.
    await page.evaluate(() => {
      window.sameLoad = true;
    });
    await expect.poll(() => lineCount(page, TICK), { timeout: 60_000, interval: 100 }).toBeGreaterThanOrEqual(1);
    const first = await lineCount(page, TICK);
    await expect.poll(() => lineCount(page, TICK), { timeout: 20_000, interval: 100 }).toBeGreaterThan(first);
    expect(await page.evaluate(() => window.sameLoad)).toBe(true);
    expect(first).toBeLessThan(8);
    // The status says running once output arrives, whether the page was loaded while queued or running.
    expect(await page.locator('h1 .s-running').count()).toBe(1);

    // At the end the page reloads itself with the final status, steps and digest.
    await page.locator('h1 .s-succeeded').waitFor({ timeout: 90_000 });
    const build = (await server.api(`/api/builds/${pushed.id}`, aliceToken)).body;
    expect(build.status).toBe('succeeded');
    expect(await page.locator('dd.mono', { hasText: build.digest }).count()).toBe(1);
    expect(await page.locator('table[aria-labelledby="steps"] tbody tr').count()).toBe(build.steps.length);
    expect(await page.locator('td.step-done').count()).toBeGreaterThanOrEqual(1);
    expect(await lineCount(page, TICK)).toBe(8);

    // ANSI colour as colour, not as escape codes.
    const green = page.locator('#log span.fg2', { hasText: 'tick 1' });
    expect(await green.count()).toBe(1);
    expect(await green.evaluate((e) => getComputedStyle(e).color)).toBe('rgb(63, 185, 80)');
    expect(await page.locator('#log').textContent()).not.toContain('\u001b');

    // Line anchors: a line's number links to it, and the linked line is highlighted.
    const lineNo = Number(
      await page
        .locator('#log .line', { hasText: 'tick 3' })
        .getAttribute('id')
        .then((id) => id!.slice(1)),
    );
    await page.getByRole('link', { name: `line ${lineNo}`, exact: true }).click();
    expect(new URL(page.url()).hash).toBe(`#L${lineNo}`);
    expect(await page.locator(`#L${lineNo}`).evaluate((e) => getComputedStyle(e).backgroundColor)).toBe('rgb(59, 46, 0)');

    // Relative times carry the absolute time.
    expect(await page.locator('time').first().getAttribute('title')).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);

    if (process.env.CODEHUB_SCREENSHOT) {
      await page.goto(pushed.buildUrl);
      await page.screenshot({ path: resolve(process.env.CODEHUB_SCREENSHOT), fullPage: true });
    }

    // Keyboard: the skip link comes first, and Tab reaches the Rebuild button.
    await page.goto(pushed.buildUrl);
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Skip to content');
    let reached = false;
    for (let i = 0; i < 30 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = await page.evaluate(() => document.activeElement?.textContent === 'Rebuild');
    }
    expect(reached).toBe(true);

    // Phone width: nothing wider than the screen except the log, which scrolls in its own box.
    const phone = await newPage(context);
    await phone.setViewportSize({ width: 360, height: 740 });
    for (const url of [pushed.buildUrl, pushed.commitUrl, `${server.url}/repos/${alice}/webapp`, `${server.url}/`]) {
      await phone.goto(url);
      expect(await phone.evaluate(() => document.documentElement.scrollWidth), url).toBeLessThanOrEqual(360);
    }
    await context.close();
    expect(foreign).toEqual([]);
  });

  it('cancels a running build from its page', async () => {
    const pushed = await pushSlowBuild('longjob', { sleep: 120 });
    const page = await newPage(aliceContext);
    await page.goto(pushed.buildUrl);
    // Running: its first output has arrived over the live log.
    await expect.poll(() => lineCount(page, STARTED), { timeout: 60_000, interval: 100 }).toBeGreaterThanOrEqual(1);
    expect((await server.api(`/api/builds/${pushed.id}`, aliceToken)).body.status).toBe('running');

    // Without script the page is whole as sent, and reloads itself while the build runs.
    const noScript = await aliceContext.browser()!.newContext({ javaScriptEnabled: false, storageState: await aliceContext.storageState() });
    const plain = await newPage(noScript);
    await plain.goto(pushed.buildUrl);
    expect(await lineCount(plain, STARTED)).toBe(1);
    expect(await plain.locator('noscript').innerHTML()).toContain('http-equiv="refresh" content="5"');
    expect(await plain.locator('#live').textContent()).toBe('running: without script this page reloads every 5 s');
    await noScript.close();

    await page.getByRole('button', { name: 'Cancel build' }).click();
    await page.locator('h1 .s-canceled').waitFor({ timeout: 30_000 });
    expect(page.url()).toBe(pushed.buildUrl);
    const build = (await server.api(`/api/builds/${pushed.id}`, aliceToken)).body;
    expect(build).toMatchObject({ status: 'canceled', reason: `canceled by ${alice}` });
    expect(build.finished_at).not.toBeNull();
    expect(await page.getByRole('button', { name: 'Rebuild' }).count()).toBe(1);

    // The link the CLI prints for a rebuild opens the new build's page, where it can be canceled too.
    const rebuilt = server.cli(['rebuild', String(pushed.id)], { CODEHUB_TOKEN: aliceToken });
    const link = /page: (http\S+\/builds\/(\d+))$/m.exec(rebuilt.stdout);
    expect(link, rebuilt.stdout + rebuilt.stderr).not.toBeNull();
    await page.goto(link![1]!);
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toMatch(new RegExp(`^Build #${link![2]} · longjob · . (queued|running)$`));
    await page.getByRole('button', { name: 'Cancel build' }).click();
    await page.locator('h1 .s-canceled').waitFor({ timeout: 30_000 });
    await page.close();
    expect(foreign).toEqual([]);
  });

  it("opens the whole log when a link names a line the page's tail left out", async () => {
    const repo = await WorkRepo.create({
      Dockerfile: 'FROM localhost:5000/cache/busybox:latest\nCOPY hello.txt /h\nRUN seq 1 5200\n',
      'hello.txt': `${Date.now()}\n`,
    });
    const sha = (await repo.git.revparse(['HEAD'])).trim();
    expect((await repo.push(server.gitUrl(alice, aliceToken, alice, 'longlog'), ['main'])).exitCode).toBe(0);
    const [b] = await server.waitForBuilds(sha, aliceToken);
    const page = await newPage(aliceContext);
    await page.goto(`${server.url}/builds/${b.id}`);
    expect(await page.locator('#L3').count()).toBe(0);
    expect(await page.locator('#log-hidden').textContent()).toMatch(/^Lines 1 to \d+ are not shown/);
    // Followed from elsewhere (a fresh load), and typed into this page (a hash change).
    await page.goto(`${server.url}/`);
    await page.goto(`${server.url}/builds/${b.id}#L3`);
    await page.waitForURL(`${server.url}/builds/${b.id}?full=1#L3`);
    expect(await page.locator('#L3').evaluate((e) => getComputedStyle(e).backgroundColor)).toBe('rgb(59, 46, 0)');
    await page.goto(`${server.url}/builds/${b.id}`);
    await page.evaluate(() => {
      (globalThis as unknown as { location: { hash: string } }).location.hash = '#L4';
    });
    await page.waitForURL(`${server.url}/builds/${b.id}?full=1#L4`);
    expect(await page.locator('#L4').evaluate((e) => getComputedStyle(e).backgroundColor)).toBe('rgb(59, 46, 0)');
    await page.close();
  });

  it("refuses another user's build page, and signs out", async () => {
    const { body } = await server.api<{ builds: { id: number }[] }>(`/api/builds?repo=${alice}/webapp`, aliceToken);
    const id = body.builds[0]!.id;
    const bobContext = await browser.newContext();
    const page = await newPage(bobContext);
    await page.goto(`${server.url}/`);
    await signIn(page, bobToken);
    expect(await page.getByText(`${alice}/webapp`).count()).toBe(0);

    const refused = await page.goto(`${server.url}/builds/${id}`);
    expect(refused!.status()).toBe(404);
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Not found');
    expect(await page.locator('main').textContent()).toContain(`no build #${id}`);
    expect(await page.content()).not.toContain('tick');
    expect((await page.goto(`${server.url}/repos/${alice}/webapp`))!.status()).toBe(404);
    expect((await page.goto(`${server.url}/api/builds/${id}/log`))!.status()).toBe(404);
    expect((await page.goto(`${server.url}/badge/${alice}/webapp/main.svg`))!.status()).toBe(404);

    // Signing out ends the session: the next page asks for a sign-in again.
    await page.goto(`${server.url}/`);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(/\/login$/);
    await page.goto(`${server.url}/`);
    expect(new URL(page.url()).pathname).toBe('/login');
    await bobContext.close();
    expect(foreign).toEqual([]);
  });
});
