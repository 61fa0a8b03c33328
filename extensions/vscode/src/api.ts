import type { LogEndAnswer } from '../../../src/api/answers';
import { readSse } from './sse';
import type { Build } from './status';

/** The server answered with an error (`{ "error": { "code", "message" } }`). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/** No answer from the server (refused, reset, timed out, or a proxy in front saying the server is gone). */
export class UnreachableError extends Error {}

/** A log stream's final `end` event. */
export type LogEnd = LogEndAnswer;

export interface FollowOptions {
  /** Lines up to this number were seen already (the SSE id): resume after it. */
  after?: number;
  signal: AbortSignal;
  onLine: (line: { n: number; text: string }) => void;
}

const REQUEST_TIMEOUT_MS = 15_000;

/** Why a fetch failed, in a few words: undici hides the system error in `cause`. */
function networkReason(e: unknown): string {
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  if (cause?.code) return cause.code;
  if ((e as Error).name === 'TimeoutError') return `no answer within ${REQUEST_TIMEOUT_MS / 1000} s`;
  return cause?.message ?? (e as Error).message;
}

/** The codehub-build REST API, as a workspace reaches it with its token (Node's global fetch, nothing else). */
export class Api {
  constructor(
    readonly baseUrl: string,
    private readonly token: string,
    private readonly fetchImpl: typeof fetch = fetch,
  ) {}

  /** Every build of a commit (newest first; at most 200, more than one commit ever has). */
  async builds(commit: string): Promise<Build[]> {
    const body = await this.json<{ builds: Build[] }>('GET', `/api/builds?commit=${encodeURIComponent(commit)}&limit=200`);
    return body.builds;
  }

  build(id: number): Promise<Build> {
    return this.json('GET', `/api/builds/${id}`);
  }

  cancel(id: number): Promise<Build> {
    return this.json('POST', `/api/builds/${id}/cancel`);
  }

  rebuild(id: number): Promise<Build> {
    return this.json('POST', `/api/builds/${id}/rebuild`);
  }

  /**
   * Streams a build's log (Server-Sent Events: one event per line, then `end`) until the build ends. Resolves
   * with the end event, or null when the stream closed without one (the server went away mid-build).
   */
  async followLog(id: number, opts: FollowOptions): Promise<LogEnd | null> {
    const headers: Record<string, string> = { accept: 'text/event-stream' };
    if (opts.after) headers['last-event-id'] = String(opts.after);
    const res = await this.send('GET', `/api/builds/${id}/log`, headers, opts.signal);
    if (!res.body) return null;
    let end: LogEnd | null = null;
    await readSse(res.body, (e) => {
      if (e.event === 'end') {
        end = JSON.parse(e.data) as LogEnd;
        return true;
      }
      if (e.event === 'message') opts.onLine({ n: Number(e.id ?? 0), text: e.data });
      return false;
    });
    return end;
  }

  private async json<T>(method: string, path: string): Promise<T> {
    const res = await this.send(method, path, { accept: 'application/json' }, AbortSignal.timeout(REQUEST_TIMEOUT_MS));
    try {
      return (await res.json()) as T;
    } catch (e) {
      throw new UnreachableError(`${this.baseUrl} sent an answer that is not JSON (${networkReason(e)}): is that the codehub-build server?`);
    }
  }

  /** One request; throws UnreachableError when nothing answered, ApiError for an error status. */
  private async send(method: string, path: string, headers: Record<string, string>, signal: AbortSignal): Promise<Response> {
    let res: Response;
    try {
      res = await this.fetchImpl(this.baseUrl + path, {
        method,
        signal,
        headers: { ...headers, authorization: `Bearer ${this.token}`, 'user-agent': 'codehub-build-vscode' },
      });
    } catch (e) {
      if ((e as Error).name === 'AbortError') throw e;
      throw new UnreachableError(networkReason(e));
    }
    if (res.ok) return res;
    const text = await res.text().catch(() => '');
    if (res.status === 502 || res.status === 503 || res.status === 504) throw new UnreachableError(`HTTP ${res.status} from ${this.baseUrl}`);
    let code = `http_${res.status}`;
    let message = text.slice(0, 300) || res.statusText;
    try {
      const err = (JSON.parse(text) as { error?: { code?: string; message?: string } }).error;
      if (err?.code) code = err.code;
      if (err?.message) message = err.message;
    } catch {
      /* not the API's JSON error: keep the text */
    }
    const retryAfter = Number(res.headers.get('retry-after'));
    throw new ApiError(res.status, code, message, Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : undefined);
  }
}
