import { parseArgs } from 'node:util';
import type { PullTokenListAnswer, PullTokenMadeAnswer } from '../api/answers.js';
import { repoPathProblem } from '../names.js';
import { parseDuration } from '../units.js';
import { UsageError } from './errors.js';
import { clientConfig, getJson, request, sendJson } from './rest.js';
import { printTable } from './table.js';

const PULL_TOKEN_USAGE =
  'usage: codehub-build repo pull-token create <owner/repo> [--label L] [--expires DURATION] [--json] | repo pull-token list <owner/repo> [--json] | repo pull-token revoke <owner/repo> <id>';
const PULL_SECRET_USAGE = 'usage: codehub-build repo pull-secret <owner/repo> [--name N] [--namespace NS] [--label L] [--expires DURATION] [--json]';

/** `--expires 90d|12h|30m|10s` as the API's `expires_in_days`; undefined when not given (the server's maximum, or never). */
function expiresInDays(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const ms = parseDuration(text);
  if (!ms.ok) throw new UsageError(`--expires: ${ms.problem}`);
  if (ms.value === 0) throw new UsageError('--expires: a pull token must live a while (leave --expires out for the longest this server allows)');
  return ms.value / 86_400_000;
}

function repoArg(repo: string | undefined, usage: string): string {
  const problem = repoPathProblem(repo ?? '');
  if (problem) throw new UsageError(`${problem}\n${usage}`);
  return repo!;
}

async function makePullToken(repo: string, label: string | undefined, expires: string | undefined): Promise<PullTokenMadeAnswer> {
  const body: Record<string, unknown> = {};
  if (label !== undefined) body.label = label;
  const days = expiresInDays(expires);
  if (days !== undefined) body.expires_in_days = days;
  return sendJson<PullTokenMadeAnswer>(clientConfig(), `/api/repos/${repo}/pull-tokens`, 'POST', body);
}

/** `repo pull-token create|list|revoke`: a repo's pull tokens, deployments' registry credentials (its owner). */
export async function pullTokenCmd(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const { values, positionals } = parseArgs({
    args: rest,
    strict: true,
    allowPositionals: true,
    options: { label: { type: 'string' }, expires: { type: 'string' }, json: { type: 'boolean' } },
  });
  const repo = repoArg(positionals[0], PULL_TOKEN_USAGE);
  const path = `/api/repos/${repo}/pull-tokens`;
  if (sub === 'create' && positionals.length === 1) {
    const made = await makePullToken(repo, values.label, values.expires);
    if (values.json) {
      console.log(JSON.stringify(made, null, 2));
      return 0;
    }
    console.log(`made pull token ${made.username} of ${repo} (${made.label}), ${made.expires_at ? `expires at ${made.expires_at}` : 'never expires'}`);
    console.log(`user:     ${made.username}`);
    console.log(`token:    ${made.token}`);
    console.log(`registry: ${made.registry}`);
    console.log(`the token is shown this once; it pulls ${repo}'s images and nothing else: docker login ${made.registry} -u ${made.username} --password-stdin`);
    return 0;
  }
  if (sub === 'list' && positionals.length === 1) {
    const list = await getJson<PullTokenListAnswer>(clientConfig(), path);
    if (values.json) console.log(JSON.stringify(list, null, 2));
    else if (list.tokens.length === 0) console.log(`${repo} has no pull tokens`);
    else
      printTable([
        ['USER', 'LABEL', 'CREATED BY', 'CREATED', 'LAST USED', 'EXPIRES'],
        ...list.tokens.map((t) => [t.username, t.label, t.created_by, t.created_at, t.last_used_at ?? '-', t.expires_at ?? 'never']),
      ]);
    return 0;
  }
  const id = positionals[1]?.replace(/^pull-/, '');
  if (sub === 'revoke' && positionals.length === 2 && id && /^[0-9]+$/.test(id)) {
    // The answer is read to its end: a body left unread holds the connection, and the process with it, for seconds.
    const revoked = (await (await request(clientConfig(), `${path}/${id}`, 'DELETE')).json()) as { username: string };
    console.log(`revoked pull token ${revoked.username} of ${repo}`);
    return 0;
  }
  throw new UsageError(PULL_TOKEN_USAGE);
}

/** A DNS-1123 subdomain (a Secret's name) and label (a namespace), as Kubernetes checks them. */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const dnsSubdomainProblem = (what: string, name: string): string | null =>
  name.length <= 253 && name.split('.').every((l) => l.length <= 63 && DNS_LABEL.test(l))
    ? null
    : `${what} ${JSON.stringify(name)} is not a valid Kubernetes name (DNS-1123: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters)`;
const dnsLabelProblem = (what: string, name: string): string | null =>
  name.length <= 63 && DNS_LABEL.test(name)
    ? null
    : `${what} ${JSON.stringify(name)} is not a valid Kubernetes namespace (DNS-1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters)`;

/**
 * `repo pull-secret <owner/repo>`: makes a pull token and prints a Kubernetes Secret of type
 * kubernetes.io/dockerconfigjson holding it (YAML, or JSON with --json), for a Deployment's imagePullSecrets.
 * The names are checked before the token is made, so a bad name leaves no token behind.
 */
export async function pullSecretCmd(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: {
      name: { type: 'string' },
      namespace: { type: 'string' },
      label: { type: 'string' },
      expires: { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  if (positionals.length !== 1) throw new UsageError(PULL_SECRET_USAGE);
  const repo = repoArg(positionals[0], PULL_SECRET_USAGE);
  const name = values.name ?? `${repo.split('/')[1]}-pull`;
  const problems = [
    dnsSubdomainProblem(values.name === undefined ? 'the default Secret name (give one with --name)' : '--name', name),
    values.namespace === undefined ? null : dnsLabelProblem('--namespace', values.namespace),
  ].filter((p): p is string => p !== null);
  if (problems.length) throw new UsageError(`${problems.join('\n')}\n${PULL_SECRET_USAGE}`);
  expiresInDays(values.expires); // a bad duration is refused before anything is made
  const made = await makePullToken(repo, values.label ?? `secret ${name}`, values.expires);
  const config = {
    auths: { [made.registry]: { username: made.username, password: made.token, auth: Buffer.from(`${made.username}:${made.token}`).toString('base64') } },
  };
  const secret = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name,
      ...(values.namespace === undefined ? {} : { namespace: values.namespace }),
      // Which pull token it holds, so the token can be revoked by its id: codehub-build repo pull-token revoke.
      annotations: { 'codehub-build/pull-token': `${made.username} of ${repo}`, ...(made.expires_at ? { 'codehub-build/expires-at': made.expires_at } : {}) },
    },
    type: 'kubernetes.io/dockerconfigjson',
    data: { '.dockerconfigjson': Buffer.from(JSON.stringify(config)).toString('base64') },
  };
  process.stdout.write(values.json ? `${JSON.stringify(secret, null, 2)}\n` : toYaml(secret));
  process.stderr.write(`made pull token ${made.username} of ${repo} for Secret ${name}; apply it with kubectl apply -f -\n`);
  return 0;
}

/** Plain objects of strings as YAML, every value a JSON (so YAML double-quoted) scalar: nothing to escape by hand. */
function toYaml(value: Record<string, unknown>, indent = ''): string {
  let out = '';
  for (const [k, v] of Object.entries(value)) {
    const key = /^[A-Za-z][A-Za-z0-9_./-]*$/.test(k) ? k : JSON.stringify(k);
    if (typeof v === 'object' && v !== null) out += `${indent}${key}:\n${toYaml(v as Record<string, unknown>, `${indent}  `)}`;
    else out += `${indent}${key}: ${JSON.stringify(v)}\n`;
  }
  return out;
}
