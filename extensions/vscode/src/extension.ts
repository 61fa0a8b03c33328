import * as vscode from 'vscode';
import { ApiError, UnreachableError } from './api';
import { LogView } from './logview';
import { Monitor } from './monitor';
import { resolveSettings } from './settings';
import { ACTIVE, headline, pinnedReferences, view, type Build, type State } from './status';

/**
 * The codehub-build status of HEAD in the status bar (the first workspace folder's), and commands on its
 * builds. All state lives in the Monitor; this file wires it to VS Code.
 */
export function activate(context: vscode.ExtensionContext): void {
  const channel = vscode.window.createOutputChannel('codehub-build');
  const logs = new LogView(channel);
  const item = vscode.window.createStatusBarItem('codehub-build.status', vscode.StatusBarAlignment.Left, 10);
  item.name = 'codehub-build';
  item.command = 'codehub-build.showLog';

  const render = (state: State) => {
    const v = view(state);
    if (v.hidden) return item.hide();
    item.text = v.text;
    item.tooltip = v.tooltip;
    item.accessibilityInformation = { label: `codehub-build: ${v.text.replace(/\$\([^)]*\)\s*/g, '')}` };
    item.backgroundColor =
      v.tone === 'error'
        ? new vscode.ThemeColor('statusBarItem.errorBackground')
        : v.tone === 'warning'
          ? new vscode.ThemeColor('statusBarItem.warningBackground')
          : undefined;
    item.show();
  };

  const start = (): Monitor => {
    const config = vscode.workspace.getConfiguration('codehub-build');
    const settings = resolveSettings({ url: config.get<string>('url'), token: config.get<string>('token') }, process.env);
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
    const m = new Monitor({ folder: folder?.scheme === 'file' ? folder.fsPath : undefined, settings, onState: render });
    m.start();
    return m;
  };
  let monitor = start();
  const restart = () => {
    monitor.dispose();
    monitor = start();
  };

  context.subscriptions.push(
    channel,
    item,
    {
      dispose: () => {
        monitor.dispose();
        logs.dispose();
      },
    },
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('codehub-build')) restart();
    }),
    vscode.workspace.onDidChangeWorkspaceFolders(restart),
    // Trusting the folder lets its own settings for the URL and token count (restrictedConfigurations).
    vscode.workspace.onDidGrantWorkspaceTrust(restart),
    vscode.commands.registerCommand('codehub-build.refresh', () => monitor.refresh()),
    vscode.commands.registerCommand('codehub-build.showLog', async () => {
      const b = await pick(monitor, 'Show the log of which build?', () => true, 'prefer-headline');
      if (b) void logs.show(monitor.api!, b);
    }),
    vscode.commands.registerCommand('codehub-build.rebuild', () =>
      act(
        monitor,
        'Rebuild which build?',
        () => true,
        async (b) => {
          const next = await monitor.api!.rebuild(b.id);
          void monitor.refresh();
          const answer = await vscode.window.showInformationMessage(`codehub-build: build #${next.id} queued (a rebuild of #${b.id}).`, 'Show Log');
          if (answer) void logs.show(monitor.api!, next);
        },
      ),
    ),
    vscode.commands.registerCommand('codehub-build.cancel', () =>
      act(
        monitor,
        'Cancel which build?',
        (b) => ACTIVE.has(b.status),
        async (b) => {
          await monitor.api!.cancel(b.id);
          void monitor.refresh();
          void vscode.window.showInformationMessage(`codehub-build: build #${b.id} canceled.`);
        },
      ),
    ),
    vscode.commands.registerCommand('codehub-build.copyImageReference', () =>
      act(
        monitor,
        'Copy the image of which build?',
        (b) => b.status === 'succeeded' && !!b.digest,
        async (b) => {
          const refs = pinnedReferences(b);
          const ref =
            refs.length === 1 ? refs[0] : await vscode.window.showQuickPick(refs, { title: 'codehub-build: copy which reference (pinned to the digest)?' });
          if (!ref) return;
          await vscode.env.clipboard.writeText(ref);
          void vscode.window.showInformationMessage(`codehub-build: copied ${ref}`);
        },
      ),
    ),
    vscode.commands.registerCommand('codehub-build.openBuildPage', () =>
      act(
        monitor,
        'Open the page of which build?',
        () => true,
        async (b) => {
          await vscode.env.openExternal(vscode.Uri.parse(b.web_url));
        },
      ),
    ),
  );
}

export function deactivate(): void {
  // Everything is in context.subscriptions.
}

/** Runs `fn` on a build of HEAD the user picks (among those `fits`), reporting API errors as one message. */
async function act(monitor: Monitor, title: string, fits: (b: Build) => boolean, fn: (b: Build) => Promise<void>): Promise<void> {
  const b = await pick(monitor, title, fits);
  if (!b) return;
  try {
    await fn(b);
  } catch (e) {
    const why = e instanceof ApiError || e instanceof UnreachableError ? e.message : String(e);
    void vscode.window.showErrorMessage(`codehub-build: ${why}`);
  }
}

/**
 * A build of HEAD, freshly looked up: the only one that fits, or the user's choice among several. When there
 * is none, says why (the status bar's own explanation) and offers the settings where that is the fix.
 */
async function pick(monitor: Monitor, title: string, fits: (b: Build) => boolean, prefer?: 'prefer-headline'): Promise<Build | undefined> {
  await monitor.refresh();
  const state = monitor.state;
  if (state.kind !== 'builds') {
    const v = view(state);
    const message = v.tooltip.replace(/^codehub-build: /, '') || 'open a folder first';
    if (state.kind === 'unconfigured' || state.kind === 'token-refused') {
      const answer = await vscode.window.showWarningMessage(`codehub-build: ${message}`, 'Open Settings');
      if (answer) void vscode.commands.executeCommand('workbench.action.openSettings', 'codehub-build');
    } else {
      void vscode.window.showInformationMessage(`codehub-build: ${message}`);
    }
    return undefined;
  }
  const candidates = state.builds.filter(fits);
  if (candidates.length === 0) {
    void vscode.window.showInformationMessage(
      `codehub-build: none of the builds of HEAD ${state.sha.slice(0, 12)} fits (${state.builds.map((b) => `#${b.id} ${b.status}`).join(', ')}).`,
    );
    return undefined;
  }
  if (candidates.length === 1) return candidates[0];
  const first = prefer ? headline(candidates) : undefined;
  const items = candidates.map((b) => ({
    label: `#${b.id} ${b.status}`,
    description: `${b.repo} image ${b.image}${b.ref_name ? ` (${b.ref_name})` : ''}`,
    build: b,
  }));
  if (first) items.sort((a, b) => Number(b.build === first) - Number(a.build === first));
  return (await vscode.window.showQuickPick(items, { title: `codehub-build: ${title}` }))?.build;
}
