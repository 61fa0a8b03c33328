import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';

/**
 * One HTTP exchange for the client CLI over node:http(s) rather than fetch: a CLI is a fresh process each
 * time, and fetch's first call loads undici, ~110 ms here against ~10 ms (bench/RESULTS.md, the workspace
 * section), which git pays on every push through the credential helper.
 */
export interface Answer {
  status: number;
  statusText: string;
  ok: boolean;
  /** The body as it arrives, for streams (a followed log). */
  body: IncomingMessage;
  text(): Promise<string>;
  json(): Promise<unknown>;
}

export function send(url: string, opts: { method: string; headers: Record<string, string>; body?: Uint8Array }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const headers = { ...opts.headers, ...(opts.body ? { 'content-length': String(opts.body.byteLength) } : {}) };
    const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(u, { method: opts.method, headers }, (res) => {
      const status = res.statusCode ?? 0;
      const text = async () => {
        let s = '';
        res.setEncoding('utf8');
        for await (const chunk of res) s += chunk;
        return s;
      };
      resolve({ status, statusText: res.statusMessage ?? '', ok: status >= 200 && status < 300, body: res, text, json: async () => JSON.parse(await text()) as unknown });
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}
