/**
 * deploy/: the compose file and the Kubernetes manifests render, and what they render holds together.
 *
 * - `docker compose config` accepts deploy/compose.yaml with deploy/.env.example, and refuses it without the
 *   secrets (none is written into the file); services, health checks, volumes, networks and start order.
 * - `kubectl kustomize deploy/kubernetes` renders, and every object validates against Kubernetes' own API schemas
 *   (kubernetes-models: validators generated from the Kubernetes 1.33 OpenAPI spec, for types, formats and
 *   required fields; and TypeScript's excess-property check against the package's interfaces generated from the
 *   same spec, for unknown fields, which the JSON schemas allow). Broken objects are reported, so neither check
 *   passes vacuously.
 * - The NetworkPolicies, evaluated on the rendered objects' own labels: who reaches what.
 * - Names that must agree across objects (builders, registry host, token realm, Secrets) do.
 * - make-secrets.sh makes valid Secrets whose certificates complete a mutual TLS handshake under the names
 *   CODEHUB_BUILDERS uses; registry-mode.mjs (the gc CronJob's read-only switch) drives a fake API server.
 * Needs docker compose and kubectl (scripts/stack.sh installs them), openssl; no cluster, no Docker daemon.
 */
import { execa } from 'execa';
import { createSign, createVerify } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { connect as tlsConnect, createServer as createTlsServer } from 'node:tls';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = Record<string, any>;

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const DEPLOY = join(ROOT, 'deploy');
const K8S = join(DEPLOY, 'kubernetes');
const NS = 'codehub-build';

const parseAll = (text: string): Obj[] =>
  YAML.parseAllDocuments(text)
    .map((d) => d.toJS() as Obj)
    .filter((o) => o && typeof o === 'object');
const readYaml = (file: string): Obj => YAML.parse(readFileSync(file, 'utf8')) as Obj;

// ---------------------------------------------------------------------------------------------------------
// Validation against Kubernetes' API schemas (kubernetes-models).

/** The kubernetes-models module path of an apiVersion: `v1`, `apps/v1`, `networking.k8s.io/v1`. */
function modelPath(apiVersion: string): string {
  return apiVersion.includes('/') ? `kubernetes-models/${apiVersion}` : `kubernetes-models/${apiVersion}`;
}

/** Type, format and required-field errors of each object (the package's generated JSON-schema validators). */
async function schemaErrors(o: Obj): Promise<string[]> {
  if (typeof o.apiVersion !== 'string' || typeof o.kind !== 'string') return ['no apiVersion or kind'];
  let mod: Record<string, unknown>;
  try {
    mod = (await import(modelPath(o.apiVersion))) as Record<string, unknown>;
  } catch {
    return [`unknown apiVersion ${o.apiVersion}`];
  }
  const Model = mod[o.kind] as (new (data: Obj) => { validate(): void }) | undefined;
  if (typeof Model !== 'function') return [`unknown kind ${o.apiVersion} ${o.kind}`];
  try {
    new Model(o).validate();
    return [];
  } catch (e) {
    return [(e as Error).message];
  }
}

/**
 * Unknown fields (and wrong types) by TypeScript: each object becomes an object literal typed with the model's
 * interface, and excess-property checking reports any field the API does not define, at any depth. One program
 * for all objects (about a second); a diagnostic is attributed to the object whose statement it falls in.
 */
function typeErrors(objects: Obj[]): string[][] {
  const file = join(ROOT, 'test', 'e2e', '__deploy_manifests_typecheck__.ts');
  const lines: string[] = [];
  const starts: number[] = [];
  objects.forEach((o, i) => {
    const group = typeof o.apiVersion === 'string' ? o.apiVersion : 'v1';
    const kind = typeof o.kind === 'string' && /^[A-Za-z]+$/.test(o.kind) ? o.kind : 'Unknown';
    lines.push(`import type { I${kind} as T${i} } from '${modelPath(group)}/${kind}';`);
  });
  objects.forEach((o, i) => {
    starts.push(lines.length);
    lines.push(...`export const o${i}: T${i} = ${JSON.stringify(o, null, 1)};`.split('\n'));
  });
  const source = lines.join('\n');
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  host.getSourceFile = (name, lang, ...rest) => (name === file ? ts.createSourceFile(name, source, lang) : getSourceFile(name, lang, ...rest));
  host.fileExists = (name) => name === file || fileExists(name);
  const program = ts.createProgram([file], options, host);
  const errors: string[][] = objects.map(() => []);
  for (const d of ts.getPreEmitDiagnostics(program)) {
    if (d.file?.fileName !== file || d.start === undefined) continue;
    const line = d.file.getLineAndCharacterOfPosition(d.start).line;
    // The interfaces quote their property names: '"name"' reads as 'name'.
    const message = ts.flattenDiagnosticMessageText(d.messageText, ' ').replace(/'"([^"']+)"'/g, "'$1'");
    let index = -1;
    for (let i = 0; i < starts.length; i++) if (starts[i]! <= line) index = i;
    if (index < 0) {
      // An import line: the kind is unknown to the package.
      const m = /T(\d+)/.exec(lines[line] ?? '');
      index = m ? Number(m[1]) : 0;
    }
    errors[index]!.push(`line ${line - (starts[index] ?? 0) + 1}: ${message}`);
  }
  return errors;
}

/** Each object's errors, as `Kind/name: error` lines (empty when it validates). */
async function validateEach(objects: Obj[]): Promise<string[][]> {
  const types = typeErrors(objects);
  return Promise.all(
    objects.map(async (o, i) => {
      const name = `${o.kind}/${o.metadata?.name ?? '?'}`;
      return [...(await schemaErrors(o)), ...types[i]!].map((e) => `${name}: ${e}`);
    }),
  );
}
const validateAll = async (objects: Obj[]): Promise<string[]> => (await validateEach(objects)).flat();

// ---------------------------------------------------------------------------------------------------------
// NetworkPolicy semantics (ingress), on the rendered policies.

interface Peer {
  namespace: string;
  namespaceLabels: Record<string, string>;
  labels: Record<string, string>;
}

function matches(selector: Obj | undefined, labels: Record<string, string>): boolean {
  if (!selector) return true;
  for (const [k, v] of Object.entries((selector.matchLabels ?? {}) as Record<string, string>)) if (labels[k] !== v) return false;
  for (const e of (selector.matchExpressions ?? []) as Obj[]) {
    const has = e.key in labels;
    if (e.operator === 'In' && !(has && e.values.includes(labels[e.key]))) return false;
    if (e.operator === 'NotIn' && has && e.values.includes(labels[e.key])) return false;
    if (e.operator === 'Exists' && !has) return false;
    if (e.operator === 'DoesNotExist' && has) return false;
  }
  return true;
}

/** Whether `from` may open a TCP connection to a pod of `ns` with `labels` on `port`, under `policies`. */
function allowed(policies: Obj[], from: Peer, to: { namespace: string; labels: Record<string, string> }, port: number): boolean {
  const applying = policies.filter(
    (p) => p.metadata.namespace === to.namespace && (p.spec.policyTypes ?? ['Ingress']).includes('Ingress') && matches(p.spec.podSelector, to.labels),
  );
  if (applying.length === 0) return true;
  return applying.some((p) =>
    ((p.spec.ingress ?? []) as Obj[]).some((rule) => {
      const ports = (rule.ports ?? []) as Obj[];
      const portOk = ports.length === 0 || ports.some((x) => (x.protocol ?? 'TCP') === 'TCP' && (x.port === undefined || x.port === port));
      const peers = (rule.from ?? []) as Obj[];
      const peerOk =
        peers.length === 0 ||
        peers.some((peer) => {
          if (peer.ipBlock) return false;
          const nsOk = peer.namespaceSelector ? matches(peer.namespaceSelector, from.namespaceLabels) : from.namespace === p.metadata.namespace;
          return nsOk && matches(peer.podSelector, from.labels);
        });
      return portOk && peerOk;
    }),
  );
}

// ---------------------------------------------------------------------------------------------------------

describe('deploy/compose.yaml', () => {
  let config: Obj;
  let maintenance: Obj;
  const compose = (...args: string[]) =>
    execa('docker', ['compose', '-f', join(DEPLOY, 'compose.yaml'), ...args], {
      reject: false,
      all: true,
      // Only the env file given may supply the settings (a developer's shell might hold some).
      env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(MINIO_|REGISTRY_|CODEHUB_)/.test(k))) as NodeJS.ProcessEnv,
      extendEnv: false,
    });

  beforeAll(async () => {
    const r = await compose('--env-file', join(DEPLOY, '.env.example'), 'config');
    expect(r.exitCode, r.all).toBe(0);
    config = YAML.parse(r.stdout) as Obj;
    const m = await compose('--env-file', join(DEPLOY, '.env.example'), '--profile', 'maintenance', 'config');
    expect(m.exitCode, m.all).toBe(0);
    maintenance = YAML.parse(m.stdout) as Obj;
  });

  it('has the services, each long-running one with a health check', () => {
    const s = config.services as Obj;
    expect(Object.keys(s).sort()).toEqual(['buildkitd', 'codehub-build', 'minio', 'minio-init', 'registry', 'token-key']);
    expect(s['codehub-build'].image).toBe('localhost:5000/system/codehub-build:latest');
    expect(s['codehub-build'].healthcheck.test.join(' ')).toContain("fetch('http://127.0.0.1:8080/healthz')");
    expect(s['codehub-build'].healthcheck.test[1]).toBe('node');
    expect(s.buildkitd.healthcheck.test).toEqual(['CMD', 'buildctl', 'debug', 'workers']);
    expect(s.registry.healthcheck.test.join(' ')).toContain('http://127.0.0.1:5001/debug/health');
    expect(s.minio.healthcheck.test).toEqual(['CMD', 'mc', 'ready', 'local']);
    expect(s.buildkitd.image).toBe('moby/buildkit:v0.26.3-rootless');
    expect(s.buildkitd.security_opt).toEqual(['seccomp=unconfined', 'apparmor=unconfined']);
    expect(s.buildkitd.privileged).toBeUndefined();
    expect(s.registry.image).toBe('registry:2.8.3');
  });

  it('starts in order: MinIO, its bucket, the token certificate, the registry and buildkitd healthy, then codehub-build', () => {
    const s = config.services as Obj;
    const cond = (svc: string) => Object.fromEntries(Object.entries(s[svc].depends_on as Obj).map(([k, v]) => [k, (v as Obj).condition]));
    expect(cond('codehub-build')).toEqual({ 'token-key': 'service_completed_successfully', registry: 'service_healthy', buildkitd: 'service_healthy' });
    expect(cond('registry')).toEqual({ 'token-key': 'service_completed_successfully', 'minio-init': 'service_completed_successfully' });
    expect(cond('minio-init')).toEqual({ minio: 'service_healthy' });
  });

  it('wires codehub-build to buildkitd and to the registry with token auth', () => {
    const env = config.services['codehub-build'].environment as Obj;
    expect(env).toMatchObject({
      CODEHUB_REGISTRY_AUTH: 'token',
      CODEHUB_REGISTRY: 'registry:5000',
      CODEHUB_DATA_DIR: '/data',
      CODEHUB_PORT: '8080',
      CODEHUB_BUILDERS: 'tcp://buildkitd:1234=4',
      CODEHUB_REGISTRY_SERVICE: 'codehub-build-registry',
    });
    const reg = config.services.registry.environment as Obj;
    expect(reg.REGISTRY_AUTH_TOKEN_REALM).toBe('http://codehub-build:8080/registry/token');
    // buildkitd may push to the registry over plain HTTP, under the name images are tagged with.
    expect(config.configs['buildkitd-toml'].content).toContain('[registry."registry:5000"]\n  http = true\n  insecure = true');
    expect(config.services.buildkitd.configs).toEqual([{ source: 'buildkitd-toml', target: '/etc/buildkit/buildkitd.toml' }]);
    expect(config.services.buildkitd.command).toEqual(
      expect.arrayContaining(['--config', '/etc/buildkit/buildkitd.toml', 'tcp://0.0.0.0:1234', '--oci-worker-no-process-sandbox']),
    );
  });

  it('shares only the token certificate with the registry, read-only, and keeps every volume named', () => {
    expect(Object.keys(config.volumes as Obj).sort()).toEqual(['buildkit-state', 'codehub-data', 'minio-data', 'registry-token']);
    const mounts = (svc: string) => (config.services[svc].volumes as Obj[]).map((v) => `${v.type}:${v.source}:${v.target}${v.read_only ? ':ro' : ''}`);
    expect(mounts('codehub-build')).toEqual(['volume:codehub-data:/data']);
    expect(mounts('token-key')).toEqual(['volume:codehub-data:/data', 'volume:registry-token:/out']);
    expect(mounts('registry')).toContain('volume:registry-token:/etc/registry-token:ro');
    expect(mounts('registry').filter((m) => m.includes('codehub-data'))).toEqual([]);
    expect(mounts('buildkitd')).toEqual(['volume:buildkit-state:/home/user/.local/share/buildkit']);
    expect(mounts('minio')).toEqual(['volume:minio-data:/data']);
    // The registry reads the certificate where its config says.
    const registryConfig = readYaml(join(DEPLOY, 'registry', 'config.yml'));
    expect(registryConfig.auth.token.rootcertbundle).toBe('/etc/registry-token/registry-token.crt');
    expect(config.services['token-key'].command[0]).toContain('cp "$$d/registry-token.crt" /out/registry-token.crt');
  });

  it('keeps MinIO on an internal network of its own with the registry, and publishes only 8080 and 5000 on localhost', () => {
    const nets = (svc: string) => Object.keys((config.services[svc].networks ?? {}) as Obj).sort();
    expect(config.networks.storage.internal).toBe(true);
    expect(nets('minio')).toEqual(['storage']);
    expect(nets('minio-init')).toEqual(['storage']);
    expect(nets('registry')).toEqual(['default', 'storage']);
    expect(nets('buildkitd')).toEqual(['default']);
    expect(nets('codehub-build')).toEqual(['default']);
    expect(config.services['token-key'].network_mode).toBe('none');
    const published = Object.entries(config.services as Obj).flatMap(([name, s]) =>
      ((s as Obj).ports ?? []).map((p: Obj) => `${name} ${p.host_ip}:${p.published}->${p.target}`),
    );
    expect(published.sort()).toEqual(['codehub-build 127.0.0.1:8080->8080', 'registry 127.0.0.1:5000->5000']);
  });

  it('has a read-only twin of the registry for garbage collection, under the same network name', () => {
    const ro = maintenance.services['registry-readonly'] as Obj;
    expect(ro.command).toEqual(['/etc/docker/registry/config-readonly.yml']);
    expect(ro.networks.default.aliases).toEqual(['registry']);
    expect(ro.environment).toEqual(config.services.registry.environment);
    const readonly = readYaml(join(DEPLOY, 'registry', 'config-readonly.yml'));
    expect(readonly.storage.maintenance.readonly.enabled).toBe(true);
    const script = readFileSync(join(DEPLOY, 'registry-gc.sh'), 'utf8');
    expect(script).toContain('registry garbage-collect');
    expect(script).not.toMatch(/^[^#]*--delete-untagged/m);
  });

  it('holds no secret itself: without the env file it refuses to render', async () => {
    const empty = join(mkdtempSync(join(tmpdir(), 'deploy-env-')), 'empty.env');
    writeFileSync(empty, '');
    const r = await compose('--env-file', empty, 'config');
    expect(r.exitCode).not.toBe(0);
    expect(r.all).toMatch(/(MINIO_ROOT_USER|MINIO_ROOT_PASSWORD|REGISTRY_S3_ACCESS_KEY|REGISTRY_S3_SECRET_KEY|REGISTRY_HTTP_SECRET).*deploy\/\.env/);
    const text = readFileSync(join(DEPLOY, 'compose.yaml'), 'utf8');
    expect(text).not.toMatch(/change-me-/);
    // Every example secret is a placeholder that says so.
    const example = readFileSync(join(DEPLOY, '.env.example'), 'utf8');
    for (const key of ['MINIO_ROOT_PASSWORD', 'REGISTRY_S3_SECRET_KEY', 'REGISTRY_HTTP_SECRET']) expect(example).toMatch(new RegExp(`^${key}=change-me`, 'm'));
  });

  it('configures the registry as verified: S3 on MinIO without redirects, deletes on, token auth', () => {
    for (const file of ['config.yml', 'config-readonly.yml']) {
      const c = readYaml(join(DEPLOY, 'registry', file));
      expect(c.storage.s3).toEqual({
        region: 'us-east-1',
        regionendpoint: 'http://minio:9000',
        bucket: 'registry',
        secure: false,
        v4auth: true,
        rootdirectory: '/',
      });
      expect(c.storage.redirect.disable).toBe(true);
      expect(c.storage.delete.enabled).toBe(true);
      expect(c.auth.token).toMatchObject({ service: 'codehub-build-registry', issuer: 'codehub-build' });
      expect(c.http.debug.addr).toBe(':5001');
    }
  });
});

describe('deploy/kubernetes', () => {
  let objects: Obj[];
  const find = (kind: string, name: string): Obj => {
    const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
    if (!o) throw new Error(`no ${kind}/${name} in the rendered manifests`);
    return o;
  };
  const byPrefix = (kind: string, prefix: string): Obj => {
    const o = objects.find((x) => x.kind === kind && (x.metadata.name as string).startsWith(prefix));
    if (!o) throw new Error(`no ${kind}/${prefix}* in the rendered manifests`);
    return o;
  };
  const podSpec = (o: Obj): Obj => (o.kind === 'CronJob' ? o.spec.jobTemplate.spec.template.spec : o.spec.template.spec);
  const containersOf = (o: Obj): Obj[] => [...(podSpec(o).initContainers ?? []), ...podSpec(o).containers];

  beforeAll(async () => {
    const r = await execa('kubectl', ['kustomize', K8S], { reject: false, all: true });
    expect(r.exitCode, r.all).toBe(0);
    objects = parseAll(r.stdout);
  });

  it('renders every piece into the namespace', () => {
    const names = objects.map((o) => `${o.kind}/${o.metadata.name.replace(/-[a-z0-9]{10}$/, '-HASH')}`).sort();
    expect(names).toEqual([
      'ConfigMap/buildkitd-config-HASH',
      'ConfigMap/codehub-build-env',
      'ConfigMap/registry-config-HASH',
      'ConfigMap/registry-gc-script-HASH',
      'CronJob/registry-gc',
      'Deployment/registry',
      'Deployment/registry-readonly',
      'Job/minio-setup',
      'Namespace/codehub-build',
      'NetworkPolicy/buildkitd',
      'NetworkPolicy/codehub-build',
      'NetworkPolicy/default-deny-ingress',
      'NetworkPolicy/minio',
      'NetworkPolicy/registry',
      'Role/registry-gc',
      'RoleBinding/registry-gc',
      'Service/buildkitd',
      'Service/codehub-build',
      'Service/minio',
      'Service/registry',
      'ServiceAccount/registry-gc',
      'StatefulSet/buildkitd',
      'StatefulSet/codehub-build',
      'StatefulSet/minio',
    ]);
    for (const o of objects) if (o.kind !== 'Namespace') expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe(NS);
    // No Secret is rendered (make-secrets.sh makes them), nor the workspace example.
    expect(objects.filter((o) => o.kind === 'Secret')).toEqual([]);
  });

  it('every rendered object validates against the Kubernetes API schemas', async () => {
    expect(await validateAll(objects)).toEqual([]);
  });

  it('the validation reports broken objects (wrong type, unknown field, missing field, unknown kind)', async () => {
    const deployment = structuredClone(find('Deployment', 'registry'));
    const wrongType = structuredClone(deployment);
    wrongType.spec.replicas = 'two';
    const unknownField = structuredClone(deployment);
    unknownField.spec.template.spec.containers[0].imagePullPolicyy = 'Always';
    const missing = structuredClone(find('StatefulSet', 'buildkitd'));
    delete missing.spec.template.spec.containers[0].name;
    const policy = structuredClone(find('NetworkPolicy', 'buildkitd'));
    policy.spec.ingress[0].form = policy.spec.ingress[0].from;
    const unknownKind = { apiVersion: 'apps/v1', kind: 'Deploymint', metadata: { name: 'x' } };
    const errors = await validateEach([wrongType, unknownField, missing, policy, unknownKind, deployment, find('NetworkPolicy', 'buildkitd')]);
    expect(errors[0]!.join('\n')).toMatch(/replicas must be integer/);
    expect(errors[1]!.join('\n')).toMatch(/imagePullPolicyy.*does not exist/);
    expect(errors[2]!.join('\n')).toMatch(/must have required property name/);
    expect(errors[3]!.join('\n')).toMatch(/'form' does not exist/);
    expect(errors[4]!.join('\n')).toMatch(/unknown kind apps\/v1 Deploymint/);
    // Each error stays with its object: the same objects unbroken pass.
    expect(errors.slice(5)).toEqual([[], []]);
    expect(errors.slice(0, 5).map((e) => e.length > 0)).toEqual([true, true, true, true, true]);
  });

  it('the workspace example is valid too, and not part of the kustomization', async () => {
    const example = parseAll(readFileSync(join(K8S, 'examples', 'workspace-env.yaml'), 'utf8'));
    expect(await validateAll(example)).toEqual([]);
    expect(readYaml(join(K8S, 'kustomization.yaml')).resources.some((r: string) => r.includes('examples'))).toBe(false);
    const cm = example.find((o) => o.kind === 'ConfigMap')!;
    const env = find('ConfigMap', 'codehub-build-env').data;
    expect(cm.data).toEqual({ CODEHUB_URL: env.CODEHUB_PUBLIC_URL, REGISTRY_URL: env.CODEHUB_REGISTRY });
    const pod = example.find((o) => o.kind === 'Pod')!;
    expect(pod.metadata.labels['app.kubernetes.io/part-of']).toBe('code-hub-workspace');
    expect(pod.spec.containers[0].env[0]).toEqual({
      name: 'CODEHUB_TOKEN',
      valueFrom: { secretKeyRef: { name: 'codehub-build-token-alice', key: 'CODEHUB_TOKEN' } },
    });
  });

  describe('NetworkPolicies', () => {
    let policies: Obj[];
    let pods: Record<string, Peer>;
    const ws = (namespaceLabels: Record<string, string>, labels: Record<string, string>): Peer => ({ namespace: 'code-hub', namespaceLabels, labels });
    const WORKSPACE = ws({ 'codehub-build/workspaces': 'true' }, { 'app.kubernetes.io/part-of': 'code-hub-workspace' });
    const can = (from: Peer, to: string, port: number) => allowed(policies, from, { namespace: NS, labels: pods[to]!.labels }, port);

    beforeAll(() => {
      policies = objects.filter((o) => o.kind === 'NetworkPolicy');
      const peer = (o: Obj): Peer => ({
        namespace: NS,
        namespaceLabels: find('Namespace', NS).metadata.labels,
        labels: (o.kind === 'CronJob' ? o.spec.jobTemplate.spec.template : o.spec.template).metadata.labels,
      });
      pods = {
        'codehub-build': peer(find('StatefulSet', 'codehub-build')),
        buildkitd: peer(find('StatefulSet', 'buildkitd')),
        registry: peer(find('Deployment', 'registry')),
        'registry-readonly': peer(find('Deployment', 'registry-readonly')),
        minio: peer(find('StatefulSet', 'minio')),
        'minio-setup': peer(find('Job', 'minio-setup')),
        'registry-gc': peer(find('CronJob', 'registry-gc')),
        other: { namespace: NS, namespaceLabels: {}, labels: { app: 'something-else' } },
      };
    });

    it('deny all ingress in the namespace by default', () => {
      const deny = find('NetworkPolicy', 'default-deny-ingress');
      expect(deny.spec).toEqual({ podSelector: {}, policyTypes: ['Ingress'] });
      expect(can(pods.other!, 'minio', 9000)).toBe(false);
    });

    it('let only codehub-build reach buildkitd, on 1234 alone', () => {
      const p = find('NetworkPolicy', 'buildkitd');
      expect(p.spec.podSelector).toEqual({ matchLabels: { 'app.kubernetes.io/name': 'buildkitd' } });
      expect(p.spec.ingress).toEqual([
        { from: [{ podSelector: { matchLabels: { 'app.kubernetes.io/name': 'codehub-build' } } }], ports: [{ protocol: 'TCP', port: 1234 }] },
      ]);
      expect(can(pods['codehub-build']!, 'buildkitd', 1234)).toBe(true);
      expect(can(pods['codehub-build']!, 'buildkitd', 1235)).toBe(false);
      for (const from of ['buildkitd', 'registry', 'minio', 'registry-gc', 'other']) expect(can(pods[from]!, 'buildkitd', 1234), from).toBe(false);
      expect(can(WORKSPACE, 'buildkitd', 1234)).toBe(false);
    });

    it('let workspaces reach only codehub-build (8080) and the registry (5000)', () => {
      expect(can(WORKSPACE, 'codehub-build', 8080)).toBe(true);
      expect(can(WORKSPACE, 'registry', 5000)).toBe(true);
      expect(can(WORKSPACE, 'registry-readonly', 5000)).toBe(true);
      expect(can(WORKSPACE, 'minio', 9000)).toBe(false);
      expect(can(WORKSPACE, 'buildkitd', 1234)).toBe(false);
      expect(can(WORKSPACE, 'registry', 5001)).toBe(false);
      // The label alone, or the namespace alone, is not enough.
      expect(can(ws({}, { 'app.kubernetes.io/part-of': 'code-hub-workspace' }), 'codehub-build', 8080)).toBe(false);
      expect(can(ws({ 'codehub-build/workspaces': 'true' }, { app: 'x' }), 'codehub-build', 8080)).toBe(false);
    });

    it('let buildkitd push to the registry and ask the token realm; the registry reach MinIO', () => {
      expect(can(pods.buildkitd!, 'registry', 5000)).toBe(true);
      expect(can(pods.buildkitd!, 'codehub-build', 8080)).toBe(true);
      expect(can(pods.buildkitd!, 'minio', 9000)).toBe(false);
      expect(can(pods['codehub-build']!, 'registry', 5000)).toBe(true);
      expect(can(pods['codehub-build']!, 'minio', 9000)).toBe(false);
      expect(can(pods.registry!, 'minio', 9000)).toBe(true);
      expect(can(pods['registry-readonly']!, 'minio', 9000)).toBe(true);
      // The registry never calls the realm (clients do), so it has no way in to codehub-build.
      expect(can(pods.registry!, 'codehub-build', 8080)).toBe(false);
      expect(can(pods['minio-setup']!, 'minio', 9000)).toBe(true);
      expect(can(pods['registry-gc']!, 'registry', 5000)).toBe(true);
      expect(can(pods['registry-gc']!, 'minio', 9000)).toBe(true);
      expect(can(pods['registry-gc']!, 'codehub-build', 8080)).toBe(false);
      expect(can(pods.other!, 'codehub-build', 8080)).toBe(false);
      expect(can(pods.other!, 'registry', 5000)).toBe(false);
    });
  });

  it('names each buildkitd pod in CODEHUB_BUILDERS, over TLS with the client certificate at /certs', () => {
    const env = find('ConfigMap', 'codehub-build-env').data;
    const sts = find('StatefulSet', 'buildkitd');
    const svc = find('Service', sts.spec.serviceName);
    expect(svc.spec.clusterIP).toBe('None');
    expect(svc.spec.selector).toEqual(sts.spec.selector.matchLabels);
    const expected = Array.from({ length: sts.spec.replicas }, (_, i) => `tcp://buildkitd-${i}.${svc.metadata.name}:1234?tls=/certs=4`);
    expect(sts.spec.replicas).toBe(2);
    expect(env.CODEHUB_BUILDERS.split(',')).toEqual(expected);
    const server = find('StatefulSet', 'codehub-build');
    const main = podSpec(server).containers[0];
    const certs = main.volumeMounts.find((m: Obj) => m.mountPath === '/certs');
    expect(podSpec(server).volumes.find((v: Obj) => v.name === certs.name).secret.secretName).toBe('buildkit-client-certs');
    // buildkitd: rootless, TLS from its Secret, readiness by buildctl.
    const b = podSpec(sts).containers[0];
    expect(b.image).toBe('moby/buildkit:v0.26.3-rootless');
    expect(b.args).toEqual(
      expect.arrayContaining([
        'tcp://0.0.0.0:1234',
        '--tlscacert',
        '/certs/ca.pem',
        '--tlscert',
        '/certs/cert.pem',
        '--tlskey',
        '/certs/key.pem',
        '--oci-worker-no-process-sandbox',
      ]),
    );
    expect(b.securityContext).toMatchObject({ runAsUser: 1000, seccompProfile: { type: 'Unconfined' }, appArmorProfile: { type: 'Unconfined' } });
    expect(b.securityContext.privileged).toBeUndefined();
    expect(b.readinessProbe.exec.command).toEqual(['buildctl', 'debug', 'workers']);
    expect(podSpec(sts).volumes.find((v: Obj) => v.name === 'certs').secret.secretName).toBe('buildkit-daemon-certs');
  });

  it('agrees on the registry: its host in buildkitd.toml, the token realm, service and certificate', () => {
    const env = find('ConfigMap', 'codehub-build-env').data;
    expect(env.CODEHUB_REGISTRY_AUTH).toBe('token');
    const registrySvc = find('Service', 'registry');
    expect(env.CODEHUB_REGISTRY).toBe(`${registrySvc.metadata.name}.${NS}.svc:${registrySvc.spec.ports[0].port}`);
    const toml = byPrefix('ConfigMap', 'buildkitd-config-').data['buildkitd.toml'];
    expect(toml).toContain(`[registry."${env.CODEHUB_REGISTRY}"]\n  http = true\n  insecure = true`);
    const configs = byPrefix('ConfigMap', 'registry-config-').data;
    const web = find('Service', 'codehub-build');
    for (const file of ['config.yml', 'config-readonly.yml']) {
      const c = YAML.parse(configs[file]) as Obj;
      expect(c.auth.token).toEqual({
        realm: `http://${web.metadata.name}.${NS}.svc:${web.spec.ports[0].port}/registry/token`,
        service: env.CODEHUB_REGISTRY_SERVICE,
        issuer: 'codehub-build',
        rootcertbundle: '/etc/registry-token/registry-token.crt',
      });
      expect(c.storage.s3).toEqual({
        region: 'us-east-1',
        regionendpoint: 'http://minio:9000',
        bucket: 'registry',
        secure: false,
        v4auth: true,
        rootdirectory: '/',
      });
      expect(c.storage.redirect.disable).toBe(true);
      expect(c.storage.delete.enabled).toBe(true);
      expect(Boolean(c.storage.maintenance.readonly?.enabled)).toBe(file === 'config-readonly.yml');
    }
    // Both registry Deployments hold the certificate alone (never the signing key), where the config says.
    for (const name of ['registry', 'registry-readonly']) {
      const spec = podSpec(find('Deployment', name));
      const vol = spec.volumes.find((v: Obj) => v.secret?.secretName === 'codehub-build-registry-token');
      expect(vol.secret.items).toEqual([{ key: 'registry-token.crt', path: 'registry-token.crt' }]);
      expect(spec.containers[0].volumeMounts.find((m: Obj) => m.name === vol.name).mountPath).toBe('/etc/registry-token');
    }
    // The Service selects both; only the read-write one runs normally.
    expect(registrySvc.spec.selector).toEqual({ 'app.kubernetes.io/name': 'registry' });
    expect(find('Deployment', 'registry').spec.replicas).toBe(1);
    expect(find('Deployment', 'registry-readonly').spec.replicas).toBe(0);
    expect(podSpec(find('Deployment', 'registry-readonly')).containers[0].args).toEqual(['/etc/docker/registry/config-readonly.yml']);
  });

  it('runs codehub-build as one non-root replica on a volume, with the token pair copied in from its Secret', () => {
    const sts = find('StatefulSet', 'codehub-build');
    expect(sts.spec.replicas).toBe(1);
    expect(sts.spec.volumeClaimTemplates.map((c: Obj) => c.metadata.name)).toEqual(['data']);
    const spec = podSpec(sts);
    expect(spec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000, fsGroup: 1000 });
    const init = spec.initContainers[0];
    expect(init.args[0]).toContain('/data/secrets/$f');
    expect(spec.volumes.find((v: Obj) => v.name === 'registry-token').secret.secretName).toBe('codehub-build-registry-token');
    const main = spec.containers[0];
    expect(main.envFrom).toEqual([{ configMapRef: { name: 'codehub-build-env' } }]);
    for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) expect(main[probe].httpGet.port, probe).toBe('http');
    expect(main.ports).toEqual([{ name: 'http', containerPort: 8080 }]);
  });

  it('collects registry garbage safely: manifests first, then blobs on the read-only config, the read-write registry always restored', () => {
    const cron = find('CronJob', 'registry-gc');
    expect(cron.spec.concurrencyPolicy).toBe('Forbid');
    const spec = podSpec(cron);
    expect(spec.initContainers.map((c: Obj) => c.name)).toEqual(['delete-manifests', 'read-only', 'collect-blobs']);
    expect(spec.containers.map((c: Obj) => c.name)).toEqual(['read-write']);
    const [manifests, readOnly, blobs] = spec.initContainers as Obj[];
    expect(manifests!.args[0]).toMatch(/^dist\/src\/cli\.js gc;/);
    expect(spec.volumes.find((v: Obj) => v.name === 'data').persistentVolumeClaim.claimName).toBe('data-codehub-build-0');
    expect(spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].labelSelector.matchLabels).toEqual({
      'app.kubernetes.io/name': 'codehub-build',
    });
    expect(readOnly!.command).toEqual(['node', '/scripts/registry-mode.mjs', 'read-only']);
    expect(blobs!.args[0]).toContain('registry garbage-collect /etc/docker/registry/config-readonly.yml');
    expect(blobs!.args[0]).not.toContain('--delete-untagged');
    expect(spec.containers[0].command).toEqual(['node', '/scripts/registry-mode.mjs', 'read-write', '/work/collect-blobs.status']);
    // The script in the ConfigMap is the file in the repo.
    expect(byPrefix('ConfigMap', 'registry-gc-script-').data['registry-mode.mjs']).toBe(readFileSync(join(K8S, 'registry-gc', 'registry-mode.mjs'), 'utf8'));
    // Its ServiceAccount may read and scale the two registry Deployments and list pods, nothing more.
    expect(find('Role', 'registry-gc').rules).toEqual([
      { apiGroups: ['apps'], resources: ['deployments'], resourceNames: ['registry', 'registry-readonly'], verbs: ['get'] },
      { apiGroups: ['apps'], resources: ['deployments/scale'], resourceNames: ['registry', 'registry-readonly'], verbs: ['get', 'patch'] },
      { apiGroups: [''], resources: ['pods'], verbs: ['list'] },
    ]);
    // Only the two containers that call the API get the token.
    expect(spec.automountServiceAccountToken).toBe(false);
    const withToken = containersOf(cron)
      .filter((c) => (c.volumeMounts ?? []).some((m: Obj) => m.mountPath === '/var/run/secrets/kubernetes.io/serviceaccount'))
      .map((c) => c.name);
    expect(withToken).toEqual(['read-only', 'read-write']);
  });

  it('runs no container privileged, and all but buildkitd without privilege escalation', () => {
    for (const o of objects.filter((x) => ['StatefulSet', 'Deployment', 'Job', 'CronJob'].includes(x.kind))) {
      for (const c of containersOf(o)) {
        const where = `${o.kind}/${o.metadata.name} ${c.name}`;
        expect(c.securityContext?.privileged, where).toBeUndefined();
        if (o.metadata.name !== 'buildkitd') expect(c.securityContext?.allowPrivilegeEscalation, where).toBe(false);
        const runAsUser = c.securityContext?.runAsUser ?? podSpec(o).securityContext?.runAsUser;
        expect(runAsUser, where).toBeGreaterThan(0);
      }
      expect(podSpec(o).automountServiceAccountToken, `${o.kind}/${o.metadata.name}`).toBe(false);
    }
  });

  describe('make-secrets.sh', () => {
    let dir: string;
    let secrets: Obj[];
    beforeAll(async () => {
      dir = join(mkdtempSync(join(tmpdir(), 'deploy-secrets-')), 'out');
      const r = await execa(join(K8S, 'make-secrets.sh'), [dir], { reject: false, all: true });
      expect(r.exitCode, r.all).toBe(0);
      secrets = parseAll(readFileSync(join(dir, 'secrets.yaml'), 'utf8'));
    });
    afterAll(() => rmSync(dirname(dir), { recursive: true, force: true }));

    it('makes valid Secrets with every name and key the manifests refer to', async () => {
      expect(await validateAll(secrets)).toEqual([]);
      const made = new Set(secrets.flatMap((s) => Object.keys(s.data).map((k) => `${s.metadata.name}/${k}`)));
      const referred = new Set<string>();
      const walk = (x: unknown): void => {
        if (Array.isArray(x)) {
          for (const item of x) walk(item);
          return;
        }
        if (!x || typeof x !== 'object') return;
        const o = x as Obj;
        if (o.secretKeyRef) referred.add(`${o.secretKeyRef.name}/${o.secretKeyRef.key}`);
        if (o.secret?.secretName) {
          const items = (o.secret.items as Obj[] | undefined)?.map((i) => i.key as string);
          const keys =
            items ??
            (o.secret.secretName === 'codehub-build-registry-token' ? ['registry-token.key', 'registry-token.crt'] : ['ca.pem', 'cert.pem', 'key.pem']);
          for (const k of keys) referred.add(`${o.secret.secretName}/${k}`);
        }
        Object.values(o).forEach(walk);
      };
      walk(objects);
      expect([...referred].filter((r) => !made.has(r))).toEqual([]);
      expect(secrets.every((s) => s.metadata.namespace === NS)).toBe(true);
      // It never overwrites keys it made.
      const again = await execa(join(K8S, 'make-secrets.sh'), [dir], { reject: false, all: true });
      expect(again.exitCode).not.toBe(0);
      expect(again.all).toContain('not overwriting');
    });

    it('gives buildkitd and codehub-build certificates that complete mutual TLS under the names CODEHUB_BUILDERS uses', async () => {
      const read = (p: string) => readFileSync(join(dir, 'buildkit', p));
      const server = createTlsServer(
        { key: read('daemon/key.pem'), cert: read('daemon/cert.pem'), ca: read('daemon/ca.pem'), requestCert: true, rejectUnauthorized: true },
        (s) => s.end('ok'),
      );
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const port = (server.address() as AddressInfo).port;
      const handshake = (servername: string, withClientCert = true) =>
        new Promise<string>((res) => {
          const s = tlsConnect({
            host: '127.0.0.1',
            port,
            servername,
            ca: read('client/ca.pem'),
            ...(withClientCert ? { key: read('client/key.pem'), cert: read('client/cert.pem') } : {}),
          });
          let got = '';
          s.on('data', (d) => {
            got += String(d);
          });
          s.on('end', () => res(got));
          s.on('error', (e) => res(`error: ${e.message}`));
        });
      try {
        const hosts = find('ConfigMap', 'codehub-build-env')
          .data.CODEHUB_BUILDERS.split(',')
          .map((b: string) => new URL(b.replace(/=\d+$/, '')).hostname);
        expect(hosts).toEqual(['buildkitd-0.buildkitd', 'buildkitd-1.buildkitd']);
        for (const h of hosts) expect(await handshake(h), h).toBe('ok');
        expect(await handshake('buildkitd-2.buildkitd')).toMatch(/^error: .*altnames/);
        expect(await handshake('buildkitd-0.buildkitd', false)).not.toBe('ok');
      } finally {
        server.close();
      }
    });

    it('gives codehub-build a registry token key whose certificate verifies its signatures', () => {
      const key = readFileSync(join(dir, 'registry-token', 'registry-token.key'));
      const crt = readFileSync(join(dir, 'registry-token', 'registry-token.crt'));
      const signature = createSign('RSA-SHA256').update('header.payload').sign(key);
      expect(createVerify('RSA-SHA256').update('header.payload').verify(crt, signature)).toBe(true);
    });
  });
});

describe('registry-mode.mjs (the gc CronJob switching the registry)', () => {
  interface Dep {
    replicas: number;
    ready: number;
    generation: number;
    readyAfterPolls: number;
    polls: number;
  }
  let deps: Record<string, Dep>;
  let calls: string[];
  let neverReady: Set<string>;
  /** What the fake API server found wrong in a request; checked after each test (an expect in its handler would fail no test). */
  let wrong: string[] = [];
  let server: ReturnType<typeof createServer>;
  let base: string;
  let sa: string;

  const reset = () => {
    deps = {
      registry: { replicas: 1, ready: 1, generation: 1, readyAfterPolls: 2, polls: 0 },
      'registry-readonly': { replicas: 0, ready: 0, generation: 1, readyAfterPolls: 2, polls: 0 },
    };
    calls = [];
    neverReady = new Set();
    wrong = [];
  };
  afterEach(() => {
    expect(wrong, 'requests the fake Kubernetes API found wrong').toEqual([]);
  });

  beforeAll(async () => {
    sa = mkdtempSync(join(tmpdir(), 'deploy-sa-'));
    writeFileSync(join(sa, 'token'), 'the-token\n');
    writeFileSync(join(sa, 'namespace'), NS);
    server = createServer((req: IncomingMessage, res: ServerResponse) => {
      let body = '';
      req.on('data', (d) => {
        body += String(d);
      });
      req.on('end', () => {
        const send = (status: number, o: unknown) => {
          res.writeHead(status, { 'content-type': 'application/json' });
          res.end(JSON.stringify(o));
        };
        if (req.headers.authorization !== 'Bearer the-token') return send(401, { message: 'no token' });
        const url = new URL(req.url!, 'http://x');
        const m = /^\/apis\/apps\/v1\/namespaces\/codehub-build\/deployments\/([a-z-]+)(\/scale)?$/.exec(url.pathname);
        if (m && deps[m[1]!]) {
          const d = deps[m[1]!]!;
          if (req.method === 'PATCH' && m[2]) {
            const type = req.headers['content-type'];
            if (type !== 'application/merge-patch+json') {
              wrong.push(`PATCH ${url.pathname} with content-type ${type}`);
              return send(415, { message: `unsupported content-type ${type}` });
            }
            const replicas = (JSON.parse(body) as Obj).spec.replicas as number;
            calls.push(`scale ${m[1]} ${replicas}`);
            if (replicas !== d.replicas) Object.assign(d, { replicas, generation: d.generation + 1, polls: 0 });
            return send(200, { spec: { replicas } });
          }
          if (req.method === 'GET' && !m[2]) {
            // Pods come (or go) a couple of polls after a scale.
            if (++d.polls >= d.readyAfterPolls && !neverReady.has(m[1]!)) d.ready = d.replicas;
            return send(200, {
              metadata: { generation: d.generation },
              status: { observedGeneration: d.generation, readyReplicas: d.ready, updatedReplicas: d.ready },
            });
          }
        }
        if (req.method === 'GET' && url.pathname === '/api/v1/namespaces/codehub-build/pods') {
          const selector = url.searchParams.get('labelSelector');
          if (selector !== 'app.kubernetes.io/name=registry,app.kubernetes.io/component=read-write') {
            wrong.push(`GET pods with labelSelector ${selector}`);
            return send(400, { message: `unexpected labelSelector ${selector}` });
          }
          const d = deps.registry!;
          if (++d.polls >= d.readyAfterPolls) d.ready = d.replicas;
          calls.push(`pods ${d.ready}`);
          return send(200, { items: Array.from({ length: d.ready }, () => ({})) });
        }
        return send(404, { message: `unexpected ${req.method} ${url.pathname}` });
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => {
    server?.close();
    rmSync(sa, { recursive: true, force: true });
  });

  const run = (...args: string[]) =>
    execa('node', [join(K8S, 'registry-gc', 'registry-mode.mjs'), ...args], {
      reject: false,
      all: true,
      env: { KUBERNETES_API_URL: base, SERVICEACCOUNT_DIR: sa, POLL_MS: '10', WAIT_SECONDS: '2' },
    });
  const scales = () => calls.filter((c) => c.startsWith('scale'));

  it('read-only: the read-only twin is up before the read-write registry goes, and waits until its pods are gone', async () => {
    reset();
    const r = await run('read-only');
    expect(r.exitCode, r.all).toBe(0);
    expect(scales()).toEqual(['scale registry-readonly 1', 'scale registry 0']);
    expect(deps['registry-readonly']!.ready).toBe(1);
    expect(calls.at(-1)).toBe('pods 0');
  });

  it('read-write: the registry is back before the twin goes; a failed collection fails the Job after restoring', async () => {
    const status = join(sa, 'status');
    for (const [code, exit] of [
      ['0', 0],
      ['1', 1],
    ] as const) {
      reset();
      deps.registry = { replicas: 0, ready: 0, generation: 2, readyAfterPolls: 2, polls: 0 };
      deps['registry-readonly'] = { replicas: 1, ready: 1, generation: 2, readyAfterPolls: 2, polls: 0 };
      writeFileSync(status, `${code}\n`);
      const r = await run('read-write', status);
      expect(r.exitCode, r.all).toBe(exit);
      expect(scales()).toEqual(['scale registry 1', 'scale registry-readonly 0']);
      expect(deps.registry!.ready).toBe(1);
      if (exit) expect(r.all).toContain('the garbage collector did not succeed (exit status 1)');
    }
  });

  it('read-only that cannot finish puts the read-write registry back and fails', async () => {
    reset();
    neverReady.add('registry-readonly');
    const r = await run('read-only');
    expect(r.exitCode).toBe(1);
    expect(r.all).toContain('timed out');
    expect(scales()).toEqual(['scale registry-readonly 1', 'scale registry 1', 'scale registry-readonly 0']);
    expect(deps.registry!.replicas).toBe(1);
  });
});
