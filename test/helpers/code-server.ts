import { execa } from 'execa';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { PACKAGE_ROOT } from '../../src/paths.js';
import { freePort, sleep } from './server.js';

const SCRIPT = join(PACKAGE_ROOT, 'scripts', 'code-server.sh');

/**
 * User settings for a workbench a test drives: no welcome page, chat panel or update checks (the network is
 * closed: each would only fail, slowly) in the way of what is looked at.
 */
export const QUIET_SETTINGS = {
  'workbench.startupEditor': 'none',
  'workbench.secondarySideBar.defaultVisibility': 'hidden',
  'chat.disableAIFeatures': true,
  'telemetry.telemetryLevel': 'off',
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'workbench.enableExperiments': false,
  'update.mode': 'none',
};

/**
 * The code-server command (scripts/code-server.sh's wrapper, which runs it under its own Node 24), installing
 * it first when it is missing: about 2 minutes and 800 MB the first time on a machine.
 */
export async function codeServerBin(): Promise<string> {
  const path = await execa('bash', [SCRIPT, 'path'], { reject: false });
  if (path.exitCode === 0) return path.stdout.trim();
  const install = await execa('bash', [SCRIPT, 'install'], { reject: false, all: true });
  if (install.exitCode !== 0) throw new Error(`bash scripts/code-server.sh install failed:\n${install.all}`);
  return (await execa('bash', [SCRIPT, 'path'])).stdout.trim();
}

/** Packs the extension (scripts/build-extension.sh) and returns the .vsix. */
export async function buildVsix(): Promise<string> {
  const r = await execa('bash', [join(PACKAGE_ROOT, 'scripts', 'build-extension.sh')], { reject: false, all: true });
  if (r.exitCode !== 0) throw new Error(`scripts/build-extension.sh failed:\n${r.all}`);
  return join(PACKAGE_ROOT, 'dist', 'downloads', 'codehub-build.vsix');
}

/**
 * code-server as a workspace runs it, with everything it writes (user data, extensions, HOME and the XDG
 * folders) in a temporary folder of its own, so nothing lands in /root and runs never meet. Its own process
 * group: stop() ends it with its extension hosts, which would otherwise linger for hours.
 */
export class CodeServer {
  private output: string[] = [];

  private constructor(
    readonly url: string,
    private readonly proc: ChildProcess,
    readonly root: string,
  ) {}

  /** The environment code-server and its extension hosts run with: clean, plus `extra` (CODEHUB_URL...). */
  static env(root: string, extra: Record<string, string>): Record<string, string> {
    const dirs = { HOME: 'home', XDG_CONFIG_HOME: 'config', XDG_DATA_HOME: 'data', XDG_CACHE_HOME: 'cache', XDG_STATE_HOME: 'state', XDG_RUNTIME_DIR: 'run' };
    const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C.UTF-8' };
    for (const [k, sub] of Object.entries(dirs)) {
      env[k] = join(root, sub);
      mkdirSync(env[k]!, { recursive: true, mode: 0o700 });
    }
    return { ...env, ...extra };
  }

  /**
   * Installs the .vsix files and starts code-server on `folder` with `settings` on top of QUIET_SETTINGS as
   * the user's settings; resolves once it answers.
   */
  static async start(opts: { folder: string; vsix: string[]; env: Record<string, string>; settings?: Record<string, unknown> }): Promise<CodeServer> {
    const bin = await codeServerBin();
    const root = mkdtempSync(join(tmpdir(), 'chb-code-server-'));
    const env = CodeServer.env(root, opts.env);
    const dirs = ['--user-data-dir', join(root, 'user-data'), '--extensions-dir', join(root, 'extensions')];
    mkdirSync(join(root, 'user-data', 'User'), { recursive: true });
    writeFileSync(join(root, 'user-data', 'User', 'settings.json'), JSON.stringify({ ...QUIET_SETTINGS, ...opts.settings }, null, 2));
    for (const vsix of opts.vsix) {
      const r = await execa(bin, [...dirs, '--install-extension', vsix, '--force'], { env, extendEnv: false, reject: false, all: true });
      if (r.exitCode !== 0) throw new Error(`code-server --install-extension ${vsix} failed:\n${r.all}`);
    }
    const port = await freePort();
    const proc = spawn(
      bin,
      [
        '--bind-addr',
        `127.0.0.1:${port}`,
        '--auth',
        'none',
        '--disable-telemetry',
        '--disable-update-check',
        '--disable-workspace-trust',
        '--disable-getting-started-override',
        ...dirs,
        opts.folder,
      ],
      { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const cs = new CodeServer(`http://127.0.0.1:${port}`, proc, root);
    for (const s of [proc.stdout!, proc.stderr!]) s.on('data', (d: Buffer) => cs.output.push(d.toString()));
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      if (proc.exitCode !== null) throw new Error(`code-server exited with ${proc.exitCode}:\n${cs.log}`);
      const ok = await fetch(`${cs.url}/healthz`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) return cs;
      await sleep(100);
    }
    await cs.stop();
    throw new Error(`code-server did not answer on ${cs.url} within 60 s:\n${cs.log}`);
  }

  get log(): string {
    return this.output.join('');
  }

  /** The workbench URL for a folder. */
  folderUrl(folder: string): string {
    return `${this.url}/?folder=${encodeURIComponent(folder)}`;
  }

  /** Ends code-server and every process it started (extension hosts, file watchers, pty hosts), and removes its folders. */
  async stop(): Promise<void> {
    const p = this.proc;
    if (p.exitCode !== null || p.signalCode !== null || p.pid === undefined) return;
    const exited = new Promise((r) => p.once('exit', r));
    const group = (sig: NodeJS.Signals) => {
      try {
        process.kill(-p.pid!, sig);
      } catch {
        /* already gone */
      }
    };
    group('SIGTERM');
    if ((await Promise.race([exited.then(() => true), sleep(5_000).then(() => false)])) === false) group('SIGKILL');
    await exited;
    // Children that outlive their parent's exit by a moment (an extension host finishing its shutdown).
    await sleep(200);
    group('SIGKILL');
    rmSync(this.root, { recursive: true, force: true });
  }
}

/** The codehub-build extension's status bar item (VS Code's id for it: `<publisher>.<name>.<item id>`). */
export const statusItem = (page: Page) => page.locator('[id="codehub.codehub-build.codehub-build.status"]');

/** Runs a command from the palette by its title, as a person does: F1, type, Enter. */
export async function runCommand(page: Page, title: string): Promise<void> {
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible' });
  await input.fill(`>${title}`);
  await page.locator('.quick-input-widget .monaco-list-row').filter({ hasText: title }).first().waitFor();
  await page.keyboard.press('Enter');
}
