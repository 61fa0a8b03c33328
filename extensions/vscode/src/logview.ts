import { type Api, ApiError, type LogEnd } from './api';
import { Backoff } from './backoff';
import type { Build } from './status';

/** The part of a VS Code OutputChannel this uses. */
export interface Channel {
  clear(): void;
  appendLine(line: string): void;
  show(preserveFocus?: boolean): void;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });

function endLine(id: number, end: LogEnd): string {
  const extra = end.status === 'succeeded' ? (end.digest ? `: ${end.digest}` : '') : end.reason ? `: ${end.reason}` : '';
  return `--- build #${id} ${end.status}${extra}`;
}

/**
 * Shows one build's log in the Output channel: the whole log so far, then each new line while the build
 * runs (SSE), then how it ended. A dropped stream resumes after the last line it showed (Last-Event-ID), so
 * nothing shows twice. Showing another build stops following this one.
 */
export class LogView {
  private current: AbortController | undefined;

  constructor(private readonly channel: Channel) {}

  async show(api: Api, build: Build): Promise<void> {
    this.current?.abort();
    const ctl = new AbortController();
    this.current = ctl;
    const ch = this.channel;
    ch.clear();
    ch.show(true);
    ch.appendLine(
      `build #${build.id} ${build.repo} image ${build.image}${build.ref_name ? ` (${build.ref_name})` : ''} at ${build.commit?.slice(0, 12) ?? 'an upload'}: ${build.status}`,
    );
    ch.appendLine(`page: ${build.web_url}`);
    let after = 0;
    const backoff = new Backoff(2_000, 30_000);
    while (!ctl.signal.aborted) {
      try {
        const end = await api.followLog(build.id, {
          after,
          signal: ctl.signal,
          onLine: (l) => {
            after = l.n;
            ch.appendLine(l.text);
          },
        });
        if (ctl.signal.aborted) return;
        if (end) {
          ch.appendLine(endLine(build.id, end));
          return;
        }
      } catch (e) {
        if (ctl.signal.aborted) return;
        // The log is gone (retention) or not ours to read: trying again will not change that.
        if (e instanceof ApiError) {
          ch.appendLine(`--- ${e.message}`);
          return;
        }
        const wait = backoff.next();
        ch.appendLine(`--- the log stream broke off (${(e as Error).message}); resuming in ${Math.round(wait / 1000)} s`);
        await sleep(wait, ctl.signal);
        continue;
      }
      await sleep(backoff.next(), ctl.signal);
    }
  }

  dispose(): void {
    this.current?.abort();
  }
}
