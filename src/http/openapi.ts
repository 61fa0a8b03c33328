import { z } from 'zod';
import * as A from '../api/answers.js';
import { answersOf, ERRORS, OPERATIONS, type Operation } from '../api/operations.js';
import { MAX_ADMIN_BODY } from './admin.js';
import { MAX_LINK_BODY } from './forges.js';
import { MAX_SETTING_BODY } from './repos.js';
import { MAX_BUILD_REQUEST_BYTES, MAX_MANIFEST_BYTES } from './uploads.js';
import {
  apiErrors,
  error,
  json,
  op,
  PUBLIC,
  RESPONSES,
  schema,
  TOKEN,
  type OpenApiDocument,
  type OperationObject,
  type ParameterObject,
  type PathItemObject,
  type Reference,
  type RequestBodyObject,
  type ResponseObject,
  type SchemaObject,
} from './openapi-parts.js';
import { writtenPaths } from './openapi-written.js';

export type { OpenApiDocument, OperationObject, ParameterObject, PathItemObject, RequestBodyObject, ResponseObject, SchemaObject } from './openapi-parts.js';

/**
 * The OpenAPI 3.1 document of every route the server mounts (GET /api/openapi.json). The API's operations are
 * generated from their table and zod schemas (src/api/operations.ts); git, the hooks, health, the registry's
 * token realm, the web pages and the downloads, whose bodies are git's, HTML or files, are written out in
 * openapi-written.ts. The document is held to the mounted routes by test/unit/openapi.test.ts: a route without
 * an operation, or an operation without a route, fails it.
 */

// ---- the API's schemas, from zod

/** The answers' shapes the document names as components (referred to wherever they appear). */
const COMPONENTS: Record<string, z.ZodType> = {
  Error: A.ErrorAnswer,
  Build: A.Build,
  BuildStep: A.BuildStep,
  BuildList: A.BuildList,
  Upstream: A.Upstream,
  Usage: A.Usage,
  Retention: A.Retention,
  Members: A.Members,
  TokenInfo: A.TokenInfo,
};
const SAFE_INT = Number.MAX_SAFE_INTEGER;

/** zod's JSON Schema, less what OpenAPI does not want inside a document and z.int()'s bounds of a safe integer. */
function clean(s: Record<string, unknown>): SchemaObject {
  const { $schema: _schema, $id: _id, ...rest } = s;
  return rest as SchemaObject;
}
const override = (ctx: { jsonSchema: Record<string, unknown> }) => {
  if (ctx.jsonSchema.minimum === -SAFE_INT) delete ctx.jsonSchema.minimum;
  if (ctx.jsonSchema.maximum === SAFE_INT) delete ctx.jsonSchema.maximum;
};

/**
 * Every answer schema of the table, the components among them named, converted together so that a component
 * inside another answer (a Build in a list) is a $ref rather than a copy.
 */
const answers = (() => {
  const registry = z.registry<{ id: string }>();
  for (const [id, s] of Object.entries(COMPONENTS)) registry.add(s, { id });
  const anonymous = new Map<z.ZodType, string>();
  const add = (s: z.ZodType) => {
    if (registry.has(s) || anonymous.has(s)) return;
    const id = `answer${anonymous.size}`;
    anonymous.set(s, id);
    registry.add(s, { id });
  };
  for (const o of OPERATIONS) for (const a of Object.values(o.answers)) if ('json' in a) add(a.json);
  add(A.HookAnswer);
  const { schemas } = z.toJSONSchema(registry, { io: 'output', uri: (id) => `#/components/schemas/${id}`, override });
  const named = Object.fromEntries(Object.keys(COMPONENTS).map((id) => [id, clean(schemas[id]!)]));
  return {
    named,
    of: (s: z.ZodType): SchemaObject => (registry.get(s)?.id && named[registry.get(s)!.id] ? schema(registry.get(s)!.id) : clean(schemas[anonymous.get(s)!]!)),
  };
})();
function answerSchema(s: z.ZodType): SchemaObject {
  return answers.of(s);
}

/** A request's schema (a body, a parameter): as the sender writes it, with defaults, before any transform. */
function requestSchema(s: z.ZodType): SchemaObject {
  return clean(z.toJSONSchema(s, { io: 'input', unrepresentable: 'any', override }) as Record<string, unknown>);
}

/** Parameters from an object's fields: their descriptions lifted out of their schemas, as OpenAPI has them. */
function parameters(where: 'path' | 'query' | 'header', fields: Record<string, z.ZodType>, required?: string[]): ParameterObject[] {
  return Object.entries(fields).map(([name, field]) => {
    const { description, ...schema } = requestSchema(field);
    return {
      name,
      in: where,
      ...(where === 'path' || required?.includes(name) ? { required: true } : {}),
      description: (description as string | undefined) ?? name,
      schema,
    };
  });
}

/** Limits the routes set on a body (src/http), told in the body's description. */
const BODY_LIMITS: Partial<Record<string, number>> = {
  addUser: MAX_ADMIN_BODY,
  createToken: MAX_ADMIN_BODY,
  setUpstream: MAX_LINK_BODY,
  setBadge: MAX_SETTING_BODY,
  setRetention: MAX_SETTING_BODY,
  shareRepo: MAX_SETTING_BODY,
  startUpload: MAX_MANIFEST_BYTES,
  buildUpload: MAX_BUILD_REQUEST_BYTES,
};

function operation(o: Operation): OperationObject {
  const query = o.query ? parameters('query', o.query.shape, (requestSchema(o.query).required as string[] | undefined) ?? []) : [];
  const params = [...parameters('path', o.params ?? {}), ...query, ...parameters('header', o.headers ?? {})];
  const limit = BODY_LIMITS[o.operationId];
  const bodyText = o.body && limit !== undefined ? (o.body.description ?? 'JSON').replace(/^JSON/, `JSON, at most ${limit} bytes`) : o.body?.description;
  const requestBody: RequestBodyObject | undefined = !o.body
    ? undefined
    : {
        required: o.body.required ?? true,
        ...(bodyText ? { description: bodyText } : {}),
        content:
          'schema' in o.body
            ? { 'application/json': { schema: requestSchema(o.body.schema) } }
            : { [o.body.binary]: { schema: { type: 'string', format: 'binary' } } },
      };
  const responses: Record<string, ResponseObject | Reference> = {};
  for (const [status, a] of Object.entries(answersOf(o))) {
    responses[status] =
      'json' in a
        ? json(a.description, answerSchema(a.json))
        : {
            description: a.description,
            content: Object.fromEntries(
              Object.entries(a.content).map(([type, kind]) => [
                type,
                { schema: kind === 'binary' ? { type: 'string', format: 'binary' } : { type: 'string' } },
              ]),
            ),
          };
  }
  Object.assign(responses, o.public ? Object.fromEntries(o.errors.map((e) => [String(ERRORS[e].status), error(e)])) : apiErrors(...o.errors));
  return op(
    {
      operationId: o.operationId,
      summary: o.summary,
      ...(o.description ? { description: o.description } : {}),
      security: o.public ? PUBLIC : TOKEN,
      ...(params.length ? { parameters: params } : {}),
      ...(requestBody ? { requestBody } : {}),
      responses,
    },
    o.tag,
  );
}

const api: Record<string, PathItemObject> = {};
for (const o of OPERATIONS) (api[o.path] ??= {})[o.method] = operation(o);

const written = writtenPaths(answerSchema(A.HookAnswer));

export function openApiDocument(publicUrl: string): OpenApiDocument {
  return {
    openapi: '3.1.0',
    info: {
      title: 'codehub-build',
      version: '1',
      description: 'git push to a container image. Errors are JSON `{"error": {"code", "message", "details"?}}` on the API, text on git and pages on the web.',
    },
    servers: [{ url: publicUrl }],
    tags: [
      { name: 'git', description: 'git smart HTTP' },
      { name: 'hooks', description: "the repos' hook reporting pushes, and the forges' push webhooks" },
      { name: 'builds', description: 'builds and their logs' },
      { name: 'repos', description: "a repo's secrets, upstream link, badge, retention and sharing (its owner's)" },
      { name: 'registry', description: 'registry usage, tags and token realm' },
      { name: 'account', description: 'the caller, and this document' },
      { name: 'admin', description: 'users and tokens (admin scope)' },
      { name: 'vulndb', description: 'the vulnerability database: its sources, and imports (admin scope)' },
      { name: 'operations', description: 'health and metrics' },
      { name: 'web', description: 'pages for people, and badges' },
      { name: 'downloads', description: 'what workspaces download' },
    ],
    paths: { ...written.gitAndHooks, ...api, ...written.rest },
    components: {
      schemas: answers.named,
      responses: RESPONSES,
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description: 'Authorization: Bearer <token> (a token from POST /api/users, POST /api/users/{name}/tokens or the CLI)',
        },
        basic: { type: 'http', scheme: 'basic', description: "user = the token's user name, password = the token (what git and docker send)" },
        session: {
          type: 'apiKey',
          in: 'cookie',
          name: 'codehub_token',
          description: 'the web sign-in cookie; taken on GET and HEAD only, and on forms with their CSRF token',
        },
      },
    },
  };
}
