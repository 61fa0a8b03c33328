/**
 * The code-server extension (extensions/vscode) in a real code-server, driven in Debian's Chromium: its status
 * bar item follows HEAD's build from "not pushed" through a real `git push` to running and succeeded, the log
 * command shows the RUN step's output in the Output channel, and the item says what is wrong with a refused
 * token or a folder that is no git repository.
 *
 * code-server is installed by scripts/code-server.sh when missing (about 2 minutes the first time).
 * `CODEHUB_SCREENSHOT=docs/vscode-extension.png` also saves the succeeded status bar with the log there.
 */
import { execa } from 'execa';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../helpers/browser.js';
import { buildVsix, CodeServer, runCommand, statusItem } from '../helpers/code-server.js';
import { WorkRepo } from '../helpers/git.js';
import { freePort, TestServer, uniqueName } from '../helpers/server.js';

let server: TestServer;
let cs: CodeServer;
let browser: Browser;
let owner: string;
let token: string;
let checkout: WorkRepo;
let marker: string;
/** The checkout's workbench, opened by the first test and used by the second. */
let workPage: Page;
const timings: Record<string, number> = {};

beforeAll(async () => {
  let t = Date.now();
  server = await TestServer.start();
  owner = uniqueName('vera');
  token = server.addUser(owner);
  marker = `marker-${owner}`;
  // The RUN step sleeps, so that "running" is on the status bar long enough to be seen.
  checkout = await WorkRepo.create({
    Dockerfile: `FROM localhost:5000/cache/busybox:latest\nCOPY hello.txt /hello.txt\nRUN echo ${marker} && sleep 8 && echo after-the-sleep\n`,
    'hello.txt': `${owner}\n`,
  });
  // A remote without credentials in .git/config (the push passes them in a header): pushing to it moves
  // refs/remotes/build/main, which the extension watches.
  await checkout.git.addRemote('build', `${server.url}/git/${owner}/shop.git`);
  // The extension as a workspace gets it: downloaded from the server, byte for byte the one the build packed.
  const built = readFileSync(await buildVsix());
  const res = await fetch(`${server.url}/downloads/codehub-build.vsix`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('application/vsix');
  const vsix = join(mkdtempSync(join(tmpdir(), 'chb-vsix-')), 'codehub-build.vsix');
  writeFileSync(vsix, Buffer.from(await res.arrayBuffer()));
  expect(readFileSync(vsix).equals(built)).toBe(true);
  timings.serverAndVsixMs = Date.now() - t;
  t = Date.now();
  cs = await CodeServer.start({ folder: checkout.dir, vsix: [vsix], env: { CODEHUB_URL: server.url, CODEHUB_TOKEN: token } });
  timings.codeServerStartMs = Date.now() - t;
  browser = await launchChromium();
}, 600_000);

afterAll(async () => {
  await browser?.close();
  await cs?.stop();
  await server?.stop();
  console.log('code-server test timings (ms):', JSON.stringify(timings));
});

async function openFolder(folder: string): Promise<Page> {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  await page.goto(cs.folderUrl(folder));
  return page;
}

/** Waits until the locator's text matches, failing with the text it had. */
async function waitText(item: Locator, re: RegExp, timeout: number): Promise<string> {
  const deadline = Date.now() + timeout;
  let last = '';
  while (Date.now() < deadline) {
    last = (await item.textContent({ timeout: 1_000 }).catch(() => null)) ?? '';
    if (re.test(last)) return last.trim();
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`status bar never matched ${re} within ${timeout} ms; it said ${JSON.stringify(last)}`);
}

/** The status bar item's tooltip, as a person sees it: hovering it (again, if the first hover shows none). */
async function tooltip(page: Page): Promise<string> {
  const hover = page.locator('.monaco-hover, .workbench-hover').filter({ hasText: 'codehub-build' }).last();
  for (let attempt = 1; ; attempt++) {
    await page.mouse.move(640, 300);
    await statusItem(page).hover();
    try {
      await hover.waitFor({ state: 'visible', timeout: 4_000 });
      return (await hover.textContent()) ?? '';
    } catch (e) {
      if (attempt === 3) throw e;
    }
  }
}

/** Waits for a notification toast with that text; returns its text. */
async function toast(page: Page, text: string | RegExp): Promise<string> {
  const t = page.locator('.notifications-toasts .notification-toast').filter({ hasText: text }).last();
  await t.waitFor({ state: 'visible', timeout: 20_000 });
  return (await t.textContent()) ?? '';
}

describe('the code-server extension', () => {
  it('shows HEAD as not pushed, then the pushed build running and succeeded, and its log in the Output channel', async () => {
    const sha = (await checkout.git.revparse(['HEAD'])).trim();
    const page = (workPage = await openFolder(checkout.dir));
    let t = Date.now();
    await waitText(statusItem(page), /not pushed/, 90_000);
    timings.workbenchToStatusMs = Date.now() - t;
    expect(await tooltip(page)).toContain(`HEAD ${sha.slice(0, 12)} (main) has no build on ${server.url}`);

    t = Date.now();
    const basic = Buffer.from(`${owner}:${token}`).toString('base64');
    const push = await execa('git', ['-c', `http.extraHeader=Authorization: Basic ${basic}`, 'push', 'build', 'main'], {
      cwd: checkout.dir,
      reject: false,
      all: true,
      env: { GIT_TERMINAL_PROMPT: '0' },
    });
    expect(push.exitCode, push.all).toBe(0);
    const [b] = (await server.api<{ builds: any[] }>(`/api/builds?commit=${sha}`, token)).body.builds;
    expect(b).toBeDefined();

    // The watcher on .git sees refs/remotes/build/main move: well before the 30 s poll would.
    const running = await waitText(statusItem(page), new RegExp(`build #${b.id} running`), 10_000);
    timings.pushToRunningMs = Date.now() - t;
    expect(running).toBe(`build #${b.id} running`);

    const done = await waitText(statusItem(page), new RegExp(`#${b.id} (succeeded|failed|canceled)`), 90_000);
    const shownAt = Date.now();
    timings.pushToSucceededMs = shownAt - t;
    const [finished] = await server.waitForBuilds(sha, token);
    expect(finished.status).toBe('succeeded');
    expect(done).toBe(`#${b.id} succeeded`);
    // The log stream's end event brought it, not a poll: shown within moments of the build's end.
    expect(shownAt - Date.parse(finished.finished_at)).toBeLessThan(5_000);
    expect(await tooltip(page)).toContain(`#${b.id} ${owner}/shop image shop (main): succeeded, ${finished.digest}`);

    // The log command, as a person runs it: F1, its title, Enter. The RUN step's marker shows in the channel.
    await page.keyboard.press('Escape');
    t = Date.now();
    await runCommand(page, 'codehub-build: Show Build Log');
    const output = page.locator('.part.panel');
    await output
      .locator('.view-lines')
      .filter({ hasText: `--- build #${b.id} succeeded` })
      .waitFor({ timeout: 20_000 });
    await page.keyboard.press('Escape');
    const filter = output.locator('.viewpane-filter input, input[placeholder*="Filter"]').first();
    await filter.fill(marker);
    // The step's output line (`#6 marker-…`), not only the RUN command that names it.
    // (Monaco draws spaces as no-break spaces.)
    const stepOutput = new RegExp(`^#\\d+ ${marker}$`);
    const lines = async () => (await output.locator('.view-line').allTextContents()).map((l) => l.replace(/\u00a0/g, ' '));
    // Filtering a long channel redraws it: on a loaded machine (two test files beside it) that took over 10 s.
    await expect.poll(async () => (await lines()).some((l) => stepOutput.test(l)), { timeout: 30_000 }).toBe(true);
    timings.logCommandMs = Date.now() - t;
    await filter.fill('');
    await output
      .locator('.view-lines')
      .filter({ hasText: `--- build #${b.id} succeeded` })
      .waitFor({ timeout: 10_000 });
    if (process.env.CODEHUB_SCREENSHOT) {
      // The Dockerfile beside its log, with the status bar: what a person sees after the push.
      await page.locator('.explorer-folders-view').getByText('Dockerfile', { exact: true }).click();
      await page.locator('.editor-instance .view-lines').filter({ hasText: 'sleep 8' }).waitFor({ timeout: 10_000 });
      await page.screenshot({ path: resolve(process.env.CODEHUB_SCREENSHOT) });
    }
  }, 240_000);

  it('copies the image reference, rebuilds, notices a new commit, and cancels its build from the command palette', async () => {
    const page = workPage;
    expect(page, 'the first test opened the checkout').toBeDefined();
    const sha = (await checkout.git.revparse(['HEAD'])).trim();
    const [first] = await server.waitForBuilds(sha, token);

    await runCommand(page, 'codehub-build: Copy Image Reference');
    const pinned = `${server.registry}/${owner}/shop@${first.digest}`;
    // A choice of references pinned to the digest: the repository@digest first, then each tag@digest.
    await page
      .locator('.quick-input-widget .monaco-list-row')
      .filter({ hasText: `shop:main@${first.digest}` })
      .waitFor();
    expect(await page.locator('.quick-input-widget .monaco-list-row').first().textContent()).toContain(pinned);
    await page.keyboard.press('Enter');
    await toast(page, `codehub-build: copied ${pinned}`);

    await runCommand(page, 'codehub-build: Rebuild');
    const queued = await toast(page, /build #(\d+) queued \(a rebuild of #\d+\)/);
    const rebuilt = Number(/#(\d+) queued/.exec(queued)![1]);
    expect(rebuilt).toBeGreaterThan(first.id);
    // Same commit and config: BuildKit's cache makes it quick.
    expect(await waitText(statusItem(page), new RegExp(`#${rebuilt} succeeded`), 60_000)).toBe(`#${rebuilt} succeeded`);

    // A new commit moves HEAD: the watcher notices at once.
    const t = Date.now();
    const next = await checkout.commit({ Dockerfile: 'FROM localhost:5000/cache/busybox:latest\nRUN echo long-running && sleep 60\n' }, 'slow');
    await waitText(statusItem(page), /not pushed/, 5_000);
    timings.commitToNotPushedMs = Date.now() - t;
    const basic = Buffer.from(`${owner}:${token}`).toString('base64');
    const push = await execa('git', ['-c', `http.extraHeader=Authorization: Basic ${basic}`, 'push', 'build', 'main'], {
      cwd: checkout.dir,
      reject: false,
      all: true,
    });
    expect(push.exitCode, push.all).toBe(0);
    const [slow] = (await server.api<{ builds: any[] }>(`/api/builds?commit=${next}`, token)).body.builds;
    await waitText(statusItem(page), new RegExp(`build #${slow.id} running`), 20_000);
    await runCommand(page, 'codehub-build: Cancel Build');
    expect(await waitText(statusItem(page), new RegExp(`#${slow.id} canceled`), 20_000)).toBe(`#${slow.id} canceled`);
    expect((await server.api(`/api/builds/${slow.id}`, token)).body.status).toBe('canceled');
    // Closed once looked at: an open workbench keeps drawing and polling beside the next tests.
    await page.context().close();
  }, 240_000);

  // The two workbenches whose state stays put open side by side (each in a browser context of its own): most of
  // their time is the workbench loading. The back-off test, whose tooltip changes after 5 s, runs alone.
  it.concurrent('says the token was refused, and which setting or variable to set', async () => {
    // A folder whose own settings name a wrong token: a setting wins over CODEHUB_TOKEN.
    const repo = await WorkRepo.create({ '.vscode/settings.json': JSON.stringify({ 'codehub-build.token': 'not-a-token' }), 'README.md': 'x\n' });
    const page = await openFolder(repo.dir);
    expect(await waitText(statusItem(page), /token refused/, 90_000)).toBe('codehub-build: token refused');
    const tip = await tooltip(page);
    expect(tip).toContain(`${server.url} refused the token from codehub-build.token (401)`);
    expect(tip).toContain('token refused: set codehub-build.token or CODEHUB_TOKEN');
    await page.context().close();
  }, 180_000);

  it.concurrent('says a folder is not a git repository', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'chb-notes-'));
    writeFileSync(join(folder, 'notes.txt'), 'no git here\n');
    const page = await openFolder(folder);
    expect(await waitText(statusItem(page), /not a git repository/, 90_000)).toBe('not a git repository');
    expect(await tooltip(page)).toContain(`${folder} is not a git repository`);
    await page.context().close();
  }, 180_000);

  it('says a server that does not answer is unreachable, and retries with back-off, without pop-ups', async () => {
    const closed = await freePort();
    const repo = await WorkRepo.create({ '.vscode/settings.json': JSON.stringify({ 'codehub-build.url': `http://127.0.0.1:${closed}` }), 'README.md': 'x\n' });
    const page = await openFolder(repo.dir);
    expect(await waitText(statusItem(page), /unreachable/, 90_000)).toBe('codehub-build unreachable');
    expect(await tooltip(page)).toContain(`http://127.0.0.1:${closed} does not answer (ECONNREFUSED). Trying again in 5 s.`);
    // The next try fails too, and the one after waits twice as long.
    const deadline = Date.now() + 20_000;
    while (!(await tooltip(page)).includes('Trying again in 10 s')) {
      if (Date.now() > deadline) throw new Error('no second try within 20 s');
      await new Promise((r) => setTimeout(r, 1_000));
    }
    expect(await page.locator('.notifications-toasts .notification-toast').count()).toBe(0);
    await page.context().close();
  }, 180_000);
});
