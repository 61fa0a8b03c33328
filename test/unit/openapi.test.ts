/**
 * GET /api/openapi.json against the routes the server really mounts: the app is the one `startServer` serves
 * (every route module wired as `codehub-build serve` wires it), and its routes and the document's operations
 * must be the same set, so neither can grow without the other.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspectRoutes } from 'hono/dev';
import type { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { startServer, type Server } from '../../src/main.js';
import { OPERATIONS } from '../../src/api/operations.js';
import { openApiDocument, type OpenApiDocument, type ParameterObject, type ResponseObject, type SchemaObject } from '../../src/http/openapi.js';
import { loadSettings } from '../../src/settings.js';
import { freePort } from '../helpers/server.js';

let server: Server;
let doc: OpenApiDocument;

beforeAll(async () => {
  const port = await freePort();
  const settings = loadSettings({
    CODEHUB_DATA_DIR: mkdtempSync(join(tmpdir(), 'chb-openapi-')),
    CODEHUB_PORT: String(port),
    CODEHUB_HOST: '127.0.0.1',
    CODEHUB_GC_INTERVAL: '0',
    // Token auth (the default) mounts the registry's token realm; nothing listens on this registry, and nothing here asks it.
    CODEHUB_REGISTRY: `127.0.0.1:${await freePort()}`,
  });
  // The first start prints the admin token it makes on stdout; this test has no use for it.
  const quiet = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  try {
    server = await startServer(settings, { log: silentLogger, drivers: [] });
  } finally {
    quiet.mockRestore();
  }
  doc = openApiDocument(server.url);
});
afterAll(async () => {
  await server?.close();
});

/**
 * Mounted patterns wider than what they serve (hono's `*`), and the documented operations each stands for:
 * git's one handler serves three smart-HTTP endpoints; a badge's branch may contain `/`.
 */
const WIDER: Record<string, string[]> = {
  'ALL /git/{owner}/{repo}/*': [
    'GET /git/{owner}/{repo}.git/info/refs',
    'POST /git/{owner}/{repo}.git/git-upload-pack',
    'POST /git/{owner}/{repo}.git/git-receive-pack',
  ],
  'GET /badge/{owner}/{repo}/*': ['GET /badge/{owner}/{repo}/{branch}.svg'],
};

/** `METHOD /path/{param}` of every route handler (middleware, also app.use's ALL entries, left out). */
function mounted(app: Hono<any>): string[] {
  return inspectRoutes(app)
    .filter((r) => !r.isMiddleware)
    .flatMap((r) => {
      const key = `${r.method} ${r.path.replace(/:(\w+)/g, '{$1}')}`;
      return WIDER[key] ?? [key];
    });
}

function documented(d: OpenApiDocument): string[] {
  return Object.entries(d.paths).flatMap(([path, item]) => Object.keys(item).map((m) => `${m.toUpperCase()} ${path}`));
}

const fieldsOf = (s: SchemaObject | undefined) => Object.keys(s?.properties ?? {});

const minus = (a: string[], b: string[]) => a.filter((x) => !b.includes(x)).sort();

describe('the OpenAPI document', () => {
  it('describes every route the server mounts, and nothing else', () => {
    const routes = mounted(server.app);
    const ops = documented(doc);
    expect(minus(routes, ops), 'mounted but not documented').toEqual([]);
    expect(minus(ops, routes), 'documented but not mounted').toEqual([]);
    // Not vacuous: both sides hold the routes of every module.
    for (const r of [
      'POST /git/{owner}/{repo}.git/git-receive-pack',
      'POST /hooks/post-receive',
      'POST /api/users',
      'DELETE /api/tokens/{id}',
      'GET /api/user',
      'GET /api/openapi.json',
      'GET /healthz',
      'GET /registry/token',
      'GET /downloads/codehub-build.vsix',
      'POST /builds/{id}/cancel',
      'GET /',
    ]) {
      expect(routes, r).toContain(r);
    }
    expect(new Set(routes).size, 'a route mounted twice').toBe(routes.length);
  });

  it('gives every operation a summary, its security, path parameters matching the path, and responses', () => {
    const ids = new Set<string>();
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, o] of Object.entries(item)) {
        const where = `${method.toUpperCase()} ${path}`;
        expect(o.summary, where).toBeTruthy();
        expect(Array.isArray(o.security), where).toBe(true);
        expect(ids.has(o.operationId), `${where}: operationId ${o.operationId} twice`).toBe(false);
        ids.add(o.operationId);
        const inPath = (o.parameters ?? [])
          .filter((p: ParameterObject) => p.in === 'path')
          .map((p) => p.name)
          .sort();
        expect(inPath, where).toEqual([...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort());
        expect(
          Object.keys(o.responses).some((s) => /^[23]/.test(s)),
          `${where}: a success response`,
        ).toBe(true);
      }
    }
  });

  it("gives the API's operations the table's shapes: every JSON body and answer a schema of its fields", () => {
    const fields = (s: SchemaObject | undefined): string[] => {
      const target = s?.$ref ? doc.components.schemas[s.$ref.split('/').pop()!] : s;
      return Object.keys(target?.properties ?? {});
    };
    for (const o of OPERATIONS) {
      const documented = doc.paths[o.path]?.[o.method];
      expect(documented?.operationId, `${o.method} ${o.path}`).toBe(o.operationId);
      for (const [status, answer] of Object.entries(o.answers)) {
        if (!('json' in answer)) continue;
        const schema = (documented!.responses[status] as ResponseObject).content?.['application/json']?.schema;
        if (o.operationId !== 'openApi') expect(fields(schema).length, `${o.operationId} ${status}`).toBeGreaterThan(0);
      }
      if (o.body && 'schema' in o.body)
        expect(fields(documented!.requestBody?.content['application/json']?.schema).length, `${o.operationId}'s body`).toBeGreaterThan(0);
    }
    // The limits the schemas check are in the document: a body's field, a query's range.
    const retention = doc.paths['/api/repos/{owner}/{repo}/retention']!.put!.requestBody!.content['application/json']!.schema;
    expect(JSON.stringify(retention)).toContain('"maximum":10000');
    expect(doc.paths['/api/builds']!.get!.parameters!.find((p) => p.name === 'limit')!.schema).toMatchObject({
      type: 'integer',
      minimum: 1,
      maximum: 200,
      default: 50,
    });
  });

  it('defines the Build once, and refers to it wherever a build is answered', () => {
    const text = JSON.stringify(doc);
    expect(text.match(/"log_expired_at":\{/g)).toHaveLength(1);
    expect(fieldsOf(doc.components.schemas.Build)).toContain('forge_status');
    for (const [path, op] of [
      ['/api/builds/{id}', 'get'],
      ['/api/uploads/{id}/build', 'post'],
      ['/api/builds/{id}/rebuild', 'post'],
    ] as const) {
      const answer = Object.values(doc.paths[path]![op]!.responses).find((r) => 'content' in r && r.content?.['application/json']) as ResponseObject;
      expect(answer.content!['application/json']!.schema, path).toEqual({ $ref: '#/components/schemas/Build' });
    }
  });

  it('has no $ref that points nowhere', () => {
    const text = JSON.stringify(doc);
    for (const [, ref] of text.matchAll(/"\$ref":"#\/([^"]+)"/g)) {
      const target = ref!.split('/').reduce<any>((at, k) => at?.[k], doc);
      expect(target, ref).toBeDefined();
    }
  });

  it('is served at /api/openapi.json without a token', async () => {
    const res = await fetch(`${server.url}/api/openapi.json`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('application/json');
    expect(await res.json()).toEqual(JSON.parse(JSON.stringify(doc)));
    // and the rest of the API still asks for one
    expect((await fetch(`${server.url}/api/user`)).status).toBe(401);
  });
});
