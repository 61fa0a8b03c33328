import { ERRORS, type ErrorName } from '../api/operations.js';
import { MAX_NAME_LENGTH, NAME_RE } from '../names.js';

/**
 * The part of OpenAPI 3.1 the document uses (src/http/openapi.ts makes it), and the building blocks of the
 * operations written out by hand (openapi-written.ts).
 */

/** A JSON Schema (2020-12, as OpenAPI 3.1 takes it): the keywords written here by hand; zod writes the rest. */
export interface SchemaObject {
  type?: JsonType | JsonType[];
  $ref?: string;
  description?: string;
  properties?: Record<string, SchemaObject>;
  required?: string[];
  additionalProperties?: boolean | SchemaObject;
  items?: SchemaObject;
  enum?: readonly (string | number | boolean | null)[];
  format?: string;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  maxLength?: number;
  minItems?: number;
  default?: unknown;
  examples?: unknown[];
  [keyword: string]: unknown;
}
export type JsonType = 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean' | 'null';

export interface Reference {
  $ref: string;
}

export interface ParameterObject {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  required?: boolean;
  description: string;
  schema: SchemaObject;
  explode?: boolean;
}

export interface MediaTypeObject {
  schema: SchemaObject;
}

export interface RequestBodyObject {
  description?: string;
  required: boolean;
  content: Record<string, MediaTypeObject>;
}

export interface ResponseObject {
  description: string;
  headers?: Record<string, { description: string; schema: SchemaObject }>;
  content?: Record<string, MediaTypeObject>;
}

/** Each requirement is one way in; `{}` among them makes the credential optional, `[]` means none is asked. */
export type SecurityRequirement = Partial<Record<SecurityScheme, []>>;
export type SecurityScheme = 'bearer' | 'basic' | 'session';

export interface OperationObject {
  operationId: string;
  summary: string;
  description?: string;
  tags: Tag[];
  parameters?: ParameterObject[];
  requestBody?: RequestBodyObject;
  responses: Record<string, ResponseObject | Reference>;
  /** Always stated, so a public route says it is public rather than inheriting a default. */
  security: SecurityRequirement[];
}

export type Method = 'get' | 'put' | 'post' | 'delete';
export type PathItemObject = Partial<Record<Method, OperationObject>>;

export interface OpenApiDocument {
  openapi: '3.1.0';
  info: { title: string; version: string; description: string };
  servers: { url: string }[];
  tags: { name: Tag; description: string }[];
  paths: Record<string, PathItemObject>;
  components: {
    schemas: Record<string, SchemaObject>;
    responses: Record<string, ResponseObject>;
    securitySchemes: Record<SecurityScheme, { type: 'http' | 'apiKey'; scheme?: string; in?: 'cookie'; name?: string; description: string }>;
  };
}

export type Tag = 'git' | 'hooks' | 'builds' | 'repos' | 'registry' | 'account' | 'admin' | 'vulndb' | 'operations' | 'web' | 'downloads';

// ---- building blocks

export const schema = (name: string): SchemaObject => ({ $ref: `#/components/schemas/${name}` });
export const error = (name: ErrorName): Reference => ({ $ref: `#/components/responses/${name}` });
export const str = (description: string, more: SchemaObject = {}): SchemaObject => ({ type: 'string', description, ...more });
export const int = (description: string, more: SchemaObject = {}): SchemaObject => ({ type: 'integer', description, ...more });
export const arrayOf = (items: SchemaObject, description?: string): SchemaObject => ({ type: 'array', items, ...(description ? { description } : {}) });
/** An object whose listed properties are all required (the API never leaves a field out; it sends null). */
export const object = (properties: Record<string, SchemaObject>, description?: string): SchemaObject => ({
  type: 'object',
  properties,
  required: Object.keys(properties),
  additionalProperties: false,
  ...(description ? { description } : {}),
});

export const json = (description: string, body: SchemaObject): ResponseObject => ({ description, content: { 'application/json': { schema: body } } });
export const text = (description: string, type = 'text/plain; charset=utf-8'): ResponseObject => ({
  description,
  content: { [type]: { schema: { type: 'string' } } },
});
export const jsonBody = (body: SchemaObject, required = true): RequestBodyObject => ({ required, content: { 'application/json': { schema: body } } });
export const formBody = (fields: Record<string, SchemaObject>, required: string[]): RequestBodyObject => ({
  required: true,
  content: { 'application/x-www-form-urlencoded': { schema: { type: 'object', properties: fields, required } } },
});

export const inPath = (name: string, description: string, more: SchemaObject = {}): ParameterObject => ({
  name,
  in: 'path',
  required: true,
  description,
  schema: { type: 'string', ...more },
});
export const inQuery = (name: string, description: string, s: SchemaObject = { type: 'string' }): ParameterObject => ({
  name,
  in: 'query',
  description,
  schema: s,
});

export const NAME = { pattern: NAME_RE.source, maxLength: MAX_NAME_LENGTH };
export const owner = inPath('owner', "the repo's owner (a user name)", NAME);
export const repo = inPath('repo', 'the repo name', NAME);
export const buildId = inPath('id', 'the build id', { pattern: '^[0-9]+$' });
export const repoParams = [owner, repo];

/** The credentials of the API and git: a token as bearer, or basic auth with the token's user name and the token. */
export const TOKEN: SecurityRequirement[] = [{ bearer: [] }, { basic: [] }];
export const BASIC: SecurityRequirement[] = [{ basic: [] }];
export const PUBLIC: SecurityRequirement[] = [];
/** A page: the web sign-in cookie, or (GET and HEAD) a token as on the API. */
export const PAGE: SecurityRequirement[] = [{ session: [] }, ...TOKEN];
/** A form posted from a page: the sign-in cookie and the page's CSRF token, nothing else. */
export const FORM: SecurityRequirement[] = [{ session: [] }];

/** The errors every API route may answer (sign-in and its rate limit), plus `more`. */
export const apiErrors = (...more: ErrorName[]): Record<string, Reference> =>
  Object.fromEntries((['Unauthorized', 'TooManyRequests', ...more] as ErrorName[]).map((e) => [String(ERRORS[e].status), error(e)]));

/** A page: HTML, a redirect to sign in, and errors as pages with the same status. */
export const pageResponses = (what: string): Record<string, ResponseObject> => ({
  200: text(what, 'text/html; charset=utf-8'),
  303: { description: 'not signed in: to /login?next=<this page>' },
  default: text('an error, as a page saying what went wrong (400, 403, 404, 409, 413, 429)', 'text/html; charset=utf-8'),
});

export const op = (o: Omit<OperationObject, 'tags'>, tag: Tag): OperationObject => ({ ...o, tags: [tag] });

/** Every error answer, by name: its status, meaning and the error body. */
export const RESPONSES: Record<string, ResponseObject> = Object.fromEntries(
  (Object.entries(ERRORS) as [ErrorName, { status: number; description: string }][]).map(([name, { status, description }]) => {
    const r = json(`${status}: ${description}`, schema('Error'));
    if (name === 'Unauthorized')
      r.headers = { 'WWW-Authenticate': { description: 'Basic realm="codehub-build", charset="UTF-8"', schema: { type: 'string' } } };
    if (name === 'TooManyRequests') r.headers = { 'Retry-After': { description: 'seconds until the minute is over', schema: { type: 'integer' } } };
    return [name, r];
  }),
);
