/**
 * Every JSON answer of the API a test sees, held to its schema: the test process's fetch is wrapped so that an
 * answer of an operation in src/api/operations.ts, as the test reads it, is checked against the schema that
 * operation names for its status (an error against the error answer); a status the operation does not declare
 * is a mismatch too.
 * A mismatch fails the test it happened in (or the file, if it came from a hook), naming the request, the
 * field and what was wrong: the fix is in src/api (the schema was wrong) or in the server (the answer was).
 *
 * Loaded by test/helpers/server.ts, so every test with a server has it; nothing in src/ knows. Only under vitest:
 * the benchmarks use the same helpers, and must neither time a checked fetch nor register a test hook.
 */
import { afterAll, afterEach } from 'vitest';
import type { z } from 'zod';
import { ErrorAnswer, HookAnswer } from '../../src/api/answers.js';
import { answerSchema, operationOf, type Operation } from '../../src/api/operations.js';

const mismatches: string[] = [];
/** How many answers were checked, by operation and status: a test can show the check was not vacuous. */
export const checkedAnswers = new Map<string, number>();

/** The forges' webhooks answer JSON too (written out in src/http/openapi.ts), with builds in it. */
const FORGE_HOOK = /^\/hooks\/(github|gitea|gitlab)$/;

interface Expected {
  where: string;
  operationId: string;
  status: number;
  schema: z.ZodType;
}

/**
 * What an answer must be: undefined when it is not the API's (a forge's or registry's fake, a page), or not
 * JSON by its operation; a status or content type the operation does not declare is a mismatch at once.
 */
function expectation(method: string, url: URL, status: number, contentType: string | null): Expected | undefined {
  if (method === 'HEAD') return undefined;
  const hook = method === 'POST' && FORGE_HOOK.test(url.pathname);
  const op = hook ? { operationId: 'forgeHook' } : url.pathname.startsWith('/api/') ? operationOf(method, url.pathname) : undefined;
  if (!op) return undefined;
  const where = `${method} ${url.pathname}${url.search} -> ${status}`;
  const expected: { schema: z.ZodType } | { undeclared: true } | { notJson: true } = !hook
    ? answerSchema(op as Operation, status)
    : { schema: status < 300 ? HookAnswer : ErrorAnswer };
  if ('undeclared' in expected) {
    mismatches.push(`${where}: status ${status} is not among ${op.operationId}'s answers in src/api/operations.ts`);
    return undefined;
  }
  if ('notJson' in expected) return undefined;
  if (!(contentType ?? '').includes('application/json')) {
    mismatches.push(`${where}: ${op.operationId} answers JSON here, but the content type is ${contentType}`);
    return undefined;
  }
  return { where, operationId: op.operationId, status, schema: expected.schema };
}

function verify(e: Expected, body: unknown): void {
  const parsed = e.schema.safeParse(body);
  const key = `${e.operationId} ${e.status}`;
  checkedAnswers.set(key, (checkedAnswers.get(key) ?? 0) + 1);
  if (!parsed.success) {
    const issues = parsed.error.issues
      .slice(0, 5)
      .map((i) => `${i.path.join('.') || '(the answer)'}: ${i.message}`)
      .join('; ');
    mismatches.push(`${e.where}: does not match ${e.operationId}'s schema for ${e.status}: ${issues}\n  answer: ${JSON.stringify(body).slice(0, 400)}`);
  }
}

function verifyText(e: Expected, text: string): void {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    mismatches.push(`${e.where}: not JSON: ${JSON.stringify(text.slice(0, 200))}`);
    return;
  }
  verify(e, body);
}

/** An answer read without fetch (node:http, as a forge's delivery is sent), checked as fetch's are. */
export function checkAnswer(method: string, url: string, status: number, contentType: string | null, text: string): void {
  if (!underVitest) return;
  const e = expectation(method, new URL(url), status, contentType);
  if (e) verifyText(e, text);
}

/**
 * A fetch answer: its status at once, its body when the test reads it (json() or text()), because reading it
 * here would hand the connection back to the pool where the test would have left it, and a test that
 * restarts the server would then meet that stale connection.
 */
function check(method: string, url: URL, res: Response): void {
  const e = expectation(method, url, res.status, res.headers.get('content-type'));
  if (!e) return;
  const readJson = res.json.bind(res);
  const readText = res.text.bind(res);
  Object.defineProperties(res, {
    json: {
      value: async () => {
        const body: unknown = await readJson();
        verify(e, body);
        return body;
      },
    },
    text: {
      value: async () => {
        const text = await readText();
        verifyText(e, text);
        return text;
      },
    },
  });
}

const underVitest = process.env.VITEST !== undefined;
const wrapped = Symbol.for('codehub-build.answer-shapes');
if (underVitest && !(globalThis.fetch as unknown as Record<symbol, boolean>)[wrapped]) {
  const realFetch = globalThis.fetch;
  const fetchChecked = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const res = await realFetch(input, init);
    const method = (init?.method ?? (input instanceof Request ? input.method : 'GET')).toUpperCase();
    check(method, new URL(input instanceof Request ? input.url : String(input)), res);
    return res;
  };
  Object.assign(fetchChecked, { [wrapped]: true });
  globalThis.fetch = fetchChecked as typeof fetch;
}

/** The mismatches seen since the last report, taken (a test of this check reads them rather than failing). */
export function takeMismatches(): string[] {
  return mismatches.splice(0);
}

const report = () => {
  if (mismatches.length === 0) return;
  const found = takeMismatches();
  throw new Error(`${found.length} API answer(s) not of their schema (src/api/answers.ts, operations.ts):\n${found.join('\n')}`);
};
if (underVitest) {
  afterEach(report);
  afterAll(report);
}
