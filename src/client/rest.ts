/** The REST client of the client commands: CODEHUB_URL and CODEHUB_TOKEN, errors as plain sentences. */
import { ClientError } from './errors.js';
import { BodyError, send, type Answer, type RequestBody } from './http.js';

export { ClientError };

export interface ClientConfig {
  url: string;
  token: string;
}

/** CODEHUB_URL without its trailing slashes, or a ClientError that says how to set it. */
export function serverUrl(env: NodeJS.ProcessEnv = process.env): string {
  const url = env.CODEHUB_URL?.replace(/\/+$/, '');
  if (!url) throw new ClientError('CODEHUB_URL is not set: export CODEHUB_URL=http://<server>:8080');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ClientError(`CODEHUB_URL ${JSON.stringify(url)} is not a URL: export CODEHUB_URL=http://<server>:8080`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    throw new ClientError(`CODEHUB_URL must start with http:// or https://; got ${JSON.stringify(url)}`);
  // A token in the URL ends up in .git/config, shell history and logs: the token belongs in CODEHUB_TOKEN.
  if (parsed.username || parsed.password) throw new ClientError('CODEHUB_URL must not carry a user name or token: put the token in CODEHUB_TOKEN');
  return url;
}

export function clientConfig(env: NodeJS.ProcessEnv = process.env): ClientConfig {
  const url = serverUrl(env);
  const token = env.CODEHUB_TOKEN;
  if (!token)
    throw new ClientError(
      'CODEHUB_TOKEN is not set: export CODEHUB_TOKEN=<your token> (a workspace is given one; an admin makes them with `codehub-build token create`)',
    );
  return { url, token };
}

/** One call to the server; `body` may be bytes or a stream of known length (a file, see StreamBody). */
export async function request(cfg: ClientConfig, path: string, method = 'GET', body?: RequestBody, contentType?: string): Promise<Answer> {
  let res: Answer;
  try {
    const headers: Record<string, string> = { authorization: `Bearer ${cfg.token}`, ...(contentType ? { 'content-type': contentType } : {}) };
    res = await send(cfg.url + path, { method, headers, ...(body ? { body } : {}) });
  } catch (e) {
    // The body's own failure (a file that changed or vanished while sent) is for the caller to explain.
    if (e instanceof BodyError) throw e;
    throw new ClientError(`cannot reach ${cfg.url}: ${(e as Error).message}; is the server running and CODEHUB_URL right?`);
  }
  if (!res.ok) {
    const body = (await res.json().catch(() => null)) as { error?: { message?: string; code?: string; details?: unknown } } | null;
    const message =
      res.status === 401
        ? `${cfg.url} refused the token in CODEHUB_TOKEN (revoked, mistyped, or for another server?)`
        : (body?.error?.message ?? `${res.status} ${res.statusText}`);
    throw new ClientError(message, res.status, body?.error?.code ?? '', body?.error?.details);
  }
  return res;
}

export async function getJson<T>(cfg: ClientConfig, path: string): Promise<T> {
  return (await (await request(cfg, path)).json()) as T;
}

export async function postJson<T>(cfg: ClientConfig, path: string): Promise<T> {
  return (await (await request(cfg, path, 'POST')).json()) as T;
}

/** PUT or POST a JSON body; the answer's JSON. */
export async function sendJson<T>(cfg: ClientConfig, path: string, method: 'PUT' | 'POST', body: unknown): Promise<T> {
  return (await (await request(cfg, path, method, Buffer.from(JSON.stringify(body)), 'application/json')).json()) as T;
}
