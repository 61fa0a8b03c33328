/**
 * The answer schemas (src/api/answers.ts) against the views that build the answers, the operation table's
 * lookup, and the e2e suite's check of every answer (test/helpers/answer-shapes.ts) catching a wrong one.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as A from '../../src/api/answers.js';
import { answerSchema, OPERATIONS, operationOf } from '../../src/api/operations.js';
import { buildView } from '../../src/http/views.js';
import type { Build, CommitStatusRow } from '../../src/store/schema.js';
import { takeMismatches } from '../helpers/answer-shapes.js';

const row: Build = {
  id: 7,
  source: 'push',
  repoId: 1,
  repo: 'alice/shop',
  owner: 'alice',
  ref: 'refs/heads/main',
  refType: 'branch',
  refName: 'main',
  commitSha: 'a'.repeat(40),
  uploadId: null,
  uploadFolder: null,
  contextBytes: null,
  image: 'shop',
  config: { args: { TOKEN: 'hunter22hunter22' } },
  imageRefs: ['localhost:5000/alice/shop:main'],
  digest: null,
  status: 'failed',
  reason: 'RUN exited with 1',
  reasonCode: 'user',
  pusher: 'alice',
  queuedAt: '2026-01-01T00:00:00.000Z',
  startedAt: '2026-01-01T00:00:01.000Z',
  finishedAt: '2026-01-01T00:00:09.000Z',
  attempts: 1,
  notBefore: null,
  builder: 'local',
  builderIdentity: null,
  steps: [{ n: 1, name: '[1/2] FROM alpine', cached: true }],
  logExpiredAt: null,
  scan: null,
  insight: null,
  platforms: null,
};
const status: CommitStatusRow = {
  buildId: 7,
  repoId: 1,
  sha: 'a'.repeat(40),
  ref: 'main',
  context: 'codehub-build/shop',
  state: 'failure',
  description: 'failed',
  deliveredState: null,
  attempts: 2,
  error: 'connect ECONNREFUSED',
  nextAttemptAt: '2026-01-01T00:01:00.000Z',
  gaveUp: false,
  updatedAt: '2026-01-01T00:00:09.000Z',
};

describe('the Build answer', () => {
  it('is what buildView makes, for a push with its forge status and for an upload', () => {
    expect(A.Build.safeParse(buildView(row, 'http://x', status)).error).toBeUndefined();
    const upload: Build = {
      ...row,
      source: 'upload',
      repoId: null,
      ref: null,
      refType: null,
      refName: null,
      commitSha: null,
      uploadId: 'u',
      uploadFolder: 'shop',
      contextBytes: 12,
    };
    const view = buildView(upload, 'http://x');
    expect(A.Build.safeParse(view).error).toBeUndefined();
    expect(view.upload).toEqual({ folder: 'shop', bytes: 12 });
  });

  it("lists a multi-platform image's platforms with their manifests, and none for one platform", () => {
    const index = 'sha256:' + '1'.repeat(64);
    const amd = 'sha256:' + 'a'.repeat(64);
    const arm = 'sha256:' + 'b'.repeat(64);
    const multi = buildView(
      {
        ...row,
        status: 'succeeded',
        digest: index,
        platforms: [
          { platform: 'linux/amd64', digest: amd },
          { platform: 'linux/arm64', digest: arm },
        ],
      },
      'http://x',
    );
    expect(A.Build.safeParse(multi).error).toBeUndefined();
    expect(multi.digest).toBe(index);
    expect(multi.platforms).toEqual([
      { platform: 'linux/amd64', digest: amd },
      { platform: 'linux/arm64', digest: arm },
    ]);
    expect(buildView({ ...row, digest: amd }, 'http://x').platforms).toEqual([]);
    expect(A.Build.safeParse({ ...multi, platforms: [{ platform: 'linux/arm64' }] }).success).toBe(false);
  });

  it('refuses a field it does not name, and a missing one', () => {
    expect(A.Build.safeParse({ ...buildView(row, 'http://x'), extra: 1 }).success).toBe(false);
    const { digest: _digest, ...missing } = buildView(row, 'http://x');
    expect(A.Build.safeParse(missing).success).toBe(false);
  });
});

describe('the operation table', () => {
  it('finds the operation of a request by method and path', () => {
    expect(operationOf('GET', '/api/builds/12')?.operationId).toBe('getBuild');
    expect(operationOf('GET', '/api/builds/12/log')?.operationId).toBe('getBuildLog');
    expect(operationOf('delete', '/api/images/alice/shop/tags/v1.2')?.operationId).toBe('removeTag');
    expect(operationOf('GET', '/api/v1/repos/a/b')).toBeUndefined();
  });

  it('names a schema for every status an operation declares, the error answer for its errors', () => {
    const get = operationOf('GET', '/api/builds/1')!;
    expect(answerSchema(get, 200)).toEqual({ schema: A.Build });
    expect(answerSchema(get, 404)).toEqual({ schema: A.ErrorAnswer });
    expect(answerSchema(get, 401)).toEqual({ schema: A.ErrorAnswer });
    expect(answerSchema(get, 418)).toEqual({ undeclared: true });
    expect(answerSchema(operationOf('GET', '/api/builds/1/log')!, 200)).toEqual({ notJson: true });
    for (const o of OPERATIONS) expect(Object.keys(o.answers).length, o.operationId).toBeGreaterThan(0);
  });
});

describe("the e2e suite's check of every answer", () => {
  let server: Server;
  let url: string;
  let answer: unknown;
  beforeAll(async () => {
    server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer)));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('lets an answer of its schema through', async () => {
    answer = { name: 'alice', scopes: ['read'] };
    expect(await (await fetch(`${url}/api/user`)).json()).toEqual(answer);
    expect(takeMismatches()).toEqual([]);
  });

  it('names the request and the field of an answer that is not', async () => {
    answer = { name: 'alice', scopes: ['read', 'sudo'], admin: true };
    const res = await fetch(`${url}/api/user`);
    expect(takeMismatches(), 'checked as it is read, not before').toEqual([]);
    await res.text();
    const found = takeMismatches();
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(/^GET \/api\/user -> 200: does not match whoAmI's schema for 200: scopes\.1: .*; \(the answer\): Unrecognized key: "admin"/);
  });

  it('leaves what is not an API operation alone', async () => {
    answer = { anything: true };
    await fetch(`${url}/api/v1/repos/a/b`);
    await fetch(`${url}/healthz`);
    expect(takeMismatches()).toEqual([]);
  });
});
