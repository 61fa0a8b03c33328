import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import type { AppError } from '../../src/errors.js';
import { RetentionRequest } from '../../src/api/requests.js';
import { readBody, readJson, readRequest, type JsonBodyOptions } from '../../src/http/body.js';

/** An app whose one route answers what `read` made of the body, or the error it threw. */
function app(read: (c: Parameters<typeof readBody>[0]) => Promise<unknown>) {
  const a = new Hono();
  a.post('/', async (c) => c.json({ got: (await read(c)) ?? null }));
  a.onError((e, c) => c.json({ status: (e as AppError).status, message: e.message, ...((e as AppError).details ? { details: (e as AppError).details } : {}) }));
  return a;
}
const post = async (a: Hono, body: string, headers: Record<string, string> = {}) => (await a.request('/', { method: 'POST', body, headers })).json();

/** A body sent in pieces, with no Content-Length: counted as it arrives. */
const chunked = (...parts: string[]) =>
  new ReadableStream<Uint8Array>({
    start(ctl) {
      for (const p of parts) ctl.enqueue(new TextEncoder().encode(p));
      ctl.close();
    },
  });
const init = { duplex: 'half' } as RequestInit;

describe('readBody', () => {
  const raw = app(async (c) => (await readBody(c, { maxBytes: 8, tooLarge: 'at most 8 bytes' })).toString());

  it('reads a body up to the limit, and none as empty', async () => {
    expect(await post(raw, '12345678')).toEqual({ got: '12345678' });
    expect(await (await raw.request('/', { method: 'POST' })).json()).toEqual({ got: '' });
  });

  it('refuses a declared length over the limit before reading, and a chunked body when it passes the limit', async () => {
    expect(await post(raw, '123456789', { 'content-length': '9' })).toEqual({ status: 413, message: 'at most 8 bytes' });
    const res = await raw.request('/', { method: 'POST', body: chunked('12345', '6789'), ...init });
    expect(await res.json()).toEqual({ status: 413, message: 'at most 8 bytes' });
    expect(await (await raw.request('/', { method: 'POST', body: chunked('1234', '5678'), ...init })).json()).toEqual({ got: '12345678' });
  });
});

describe('readJson', () => {
  const limit = { maxBytes: 64, tooLarge: 'the body is {"a": 1}' };
  const json = (opts: Partial<JsonBodyOptions>) => app((c) => readJson(c, { ...limit, notJson: (why) => `not JSON (${why})`, ...opts }));

  // [what, options, body, answer]
  const cases: [string, Partial<JsonBodyOptions>, string, unknown][] = [
    ['JSON', {}, '{"a": 1}', { got: { a: 1 } }],
    ['JSON after a byte-order mark, as Request.json() reads it', {}, '\uFEFF{"a": 1}', { got: { a: 1 } }],
    ["not JSON: the 400 with the parser's words", {}, '{a', { status: 400, message: expect.stringMatching(/^not JSON \(.+\)$/) }],
    ['empty, without a default: not JSON', {}, '', { status: 400, message: expect.stringMatching(/^not JSON/) }],
    ['empty, with a default', { empty: {} }, '  ', { got: {} }],
    ['not JSON, handed on as a value', { notJson: { value: 'bad' } }, '{a', { got: 'bad' }],
    ['over the limit', {}, JSON.stringify({ a: 'x'.repeat(64) }), { status: 413, message: 'the body is {"a": 1}' }],
  ];
  it.each(cases)('%s', async (_what, opts, body, answer) => {
    expect(await post(json(opts), body)).toEqual(answer);
  });
});

describe('readRequest', () => {
  const retention = app((c) => readRequest(c, RetentionRequest, { maxBytes: 64, tooLarge: 'too large', notJson: { value: null } }));

  it('gives the value the schema checked, or one 400 with every problem, each naming its field', async () => {
    expect(await post(retention, '{"keep": 3}')).toEqual({ got: { keep: 3 } });
    const problems = [
      'unknown field "colour": only keep and days can be set',
      "keep must be a whole number from 0 to 10000 (builds per branch), or null for the server's default; got -1",
    ];
    expect(await post(retention, '{"keep": -1, "colour": "red"}')).toEqual({ status: 400, message: problems.join('; '), details: { problems } });
    expect(await post(retention, 'nope')).toEqual({
      status: 400,
      message: 'the body must be a JSON object like {"keep": 10, "days": 30}',
      details: { problems: [expect.any(String)] },
    });
  });
});
