/** The REST client the CLI's client commands use: CODEHUB_URL and CODEHUB_TOKEN, errors as plain sentences. */
export class ClientError extends Error {
  constructor(message: string, readonly status = 0, readonly code = '', readonly details?: unknown) {
    super(message);
  }
}

export interface ClientConfig {
  url: string;
  token: string;
}

export function clientConfig(env: NodeJS.ProcessEnv = process.env): ClientConfig {
  const url = env.CODEHUB_URL?.replace(/\/+$/, '');
  const token = env.CODEHUB_TOKEN;
  if (!url) throw new ClientError('CODEHUB_URL is not set: export CODEHUB_URL=http://<server>:8080');
  if (!token) throw new ClientError('CODEHUB_TOKEN is not set: export CODEHUB_TOKEN=<token from `codehub-build user add`>');
  return { url, token };
}

export async function request(cfg: ClientConfig, path: string, method = 'GET', body?: Uint8Array, contentType?: string): Promise<Response> {
  let res: Response;
  try {
    const headers: Record<string, string> = { authorization: `Bearer ${cfg.token}`, ...(contentType ? { 'content-type': contentType } : {}) };
    res = await fetch(cfg.url + path, { method, headers, ...(body ? { body } : {}) });
  } catch (e) {
    throw new ClientError(`cannot reach ${cfg.url}: ${(e as Error & { cause?: Error }).cause?.message ?? (e as Error).message}; is the server running and CODEHUB_URL right?`);
  }
  if (!res.ok) {
    const body = (await res.json().catch(() => null)) as { error?: { message?: string; code?: string; details?: unknown } } | null;
    throw new ClientError(body?.error?.message ?? `${res.status} ${res.statusText}`, res.status, body?.error?.code ?? '', body?.error?.details);
  }
  return res;
}

export async function getJson<T>(cfg: ClientConfig, path: string): Promise<T> {
  return (await (await request(cfg, path)).json()) as T;
}

export async function postJson<T>(cfg: ClientConfig, path: string): Promise<T> {
  return (await (await request(cfg, path, 'POST')).json()) as T;
}
