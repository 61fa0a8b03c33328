import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { pipeline, Transform, type Readable } from 'node:stream';

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

/**
 * A body streamed from elsewhere (a file on disk) whose length is known before it is sent: it goes out with a
 * content-length, chunk by chunk, and is never held whole in memory (a context's files may be gigabytes).
 */
export interface StreamBody {
  stream: Readable;
  /** The bytes the stream will give: sent as content-length, and checked as it flows. */
  length: number;
  /** Called with each chunk's size as it is handed to the connection (progress). */
  onProgress?: (bytes: number) => void;
}

export type RequestBody = Uint8Array | StreamBody;

/**
 * The request's own body failed: its stream could not be read, or gave more or fewer bytes than announced (a
 * file that changed while it was sent). Not the server's fault nor the network's, so callers tell it apart.
 */
export class BodyError extends Error {}

export function send(url: string, opts: { method: string; headers: Record<string, string>; body?: RequestBody }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const body = opts.body;
    const length = body === undefined ? undefined : body instanceof Uint8Array ? body.byteLength : body.length;
    const headers = { ...opts.headers, ...(length !== undefined ? { 'content-length': String(length) } : {}) };
    // Set when the body failed: the request's own error (the socket destroyed because of it) then says why.
    let bodyFailed: BodyError | undefined;
    const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(u, { method: opts.method, headers }, (res) => {
      const status = res.statusCode ?? 0;
      const text = async () => {
        let s = '';
        res.setEncoding('utf8');
        for await (const chunk of res) s += chunk;
        return s;
      };
      resolve({
        status,
        statusText: res.statusMessage ?? '',
        ok: status >= 200 && status < 300,
        body: res,
        text,
        json: async () => JSON.parse(await text()) as unknown,
      });
    });
    req.on('error', (e) => reject(bodyFailed ?? e));
    if (body === undefined || body instanceof Uint8Array) {
      req.end(body);
      return;
    }
    body.stream.once('error', (e) => {
      bodyFailed ??= new BodyError(`the body could not be read: ${e.message}`, { cause: e });
    });
    const counter = countBytes(body.length, body.onProgress);
    counter.once('error', (e) => {
      bodyFailed ??= e instanceof BodyError ? e : new BodyError(e.message, { cause: e });
    });
    // pipeline destroys every stream on a failure: the file is closed and the half-sent request aborted.
    pipeline(body.stream, counter, req, (e) => {
      if (e) reject(bodyFailed ?? e);
    });
  });
}

/**
 * Passes bytes through, failing as soon as they exceed `length` or end short of it: a request whose body does
 * not match its content-length would otherwise be cut off by Node (too long) or leave the server waiting (too short).
 */
function countBytes(length: number, onProgress?: (bytes: number) => void): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen += chunk.length;
      if (seen > length) return done(new BodyError(`the body is longer than the ${length} bytes announced`));
      onProgress?.(chunk.length);
      done(null, chunk);
    },
    flush(done) {
      done(seen === length ? null : new BodyError(`the body ended after ${seen} of the ${length} bytes announced`));
    },
  });
}
