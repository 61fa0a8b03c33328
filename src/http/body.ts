import type { Context } from 'hono';
import type { z } from 'zod';
import { parseRequest } from '../api/requests.js';
import { BadRequestError, PayloadTooLargeError } from '../errors.js';
import { checked } from './outcome.js';

export interface BodyLimit {
  /** Bytes the body may have. */
  maxBytes: number;
  /** The 413's message: what the body is, so a client that sent too much knows what to send instead. */
  tooLarge: string;
}

export interface JsonBodyOptions extends BodyLimit {
  /**
   * A body that does not parse: the 400's message (given the parser's own words), or `{ value }` to hand that
   * value to the route's check instead, whose message then says what the body should be.
   */
  notJson: ((parserMessage: string) => string) | { value: unknown };
  /** What an empty body stands for, where every field has a default; without it an empty body is not JSON. */
  empty?: unknown;
}

/**
 * A request's body, at most `maxBytes` (else a 413 saying `tooLarge`). Read in the handler, after the caller's
 * rights are checked, so a caller without them learns nothing about what it sent. A declared Content-Length
 * over the limit is refused before a byte is read; a chunked body is counted as it arrives.
 */
export async function readBody(c: Context, limit: BodyLimit): Promise<Buffer> {
  const req = c.req.raw;
  if (!req.body) return Buffer.alloc(0);
  const declared = req.headers.get('content-length');
  if (declared !== null && !req.headers.has('transfer-encoding') && Number.parseInt(declared, 10) > limit.maxBytes)
    throw new PayloadTooLargeError(limit.tooLarge);
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = req.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit.maxBytes) {
      void reader.cancel().catch(() => {});
      throw new PayloadTooLargeError(limit.tooLarge);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, size);
}

/** A request's JSON body within its limit: `readBody`, then parsed, a body that does not parse answered as `opts.notJson` says. */
export async function readJson(c: Context, opts: JsonBodyOptions): Promise<unknown> {
  // As Request.json() reads it: UTF-8, a leading byte-order mark dropped.
  const text = new TextDecoder().decode(await readBody(c, opts));
  if (opts.empty !== undefined && text.trim() === '') return opts.empty;
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    if (typeof opts.notJson !== 'function') return opts.notJson.value;
    throw new BadRequestError(opts.notJson((e as Error).message));
  }
}

/**
 * A request's JSON body within its limit, checked against its schema (src/api/requests.ts): the value, or one
 * 400 with every problem, each naming its field (the list in `details.problems`).
 */
export async function readRequest<S extends z.ZodType>(c: Context, schema: S, opts: JsonBodyOptions): Promise<z.output<S>> {
  return checked(parseRequest(schema, await readJson(c, opts)));
}
