// Switches the registry between read-write and read-only for the registry-gc CronJob (registry-gc.yaml), through
// the Kubernetes API as the pod's ServiceAccount; Node 20+ (fetch), no dependencies.
//
//   node registry-mode.mjs read-only              registry-readonly up and ready, then registry down and its pods gone
//   node registry-mode.mjs read-write [STATUS]    registry up and ready, then registry-readonly down; exits 1 if the
//                                                 file STATUS (the garbage collector's exit status) is not 0
//
// Environment: RW_DEPLOYMENT, RO_DEPLOYMENT, RW_REPLICAS, RW_POD_SELECTOR (the read-write pods' labels),
// WAIT_SECONDS (600), POLL_MS (2000); KUBERNETES_SERVICE_HOST/PORT, or KUBERNETES_API_URL; the token, CA and
// namespace under SERVICEACCOUNT_DIR (the CA reaches fetch as NODE_EXTRA_CA_CERTS).
import { readFileSync } from 'node:fs';

const env = process.env;
const saDir = env.SERVICEACCOUNT_DIR || '/var/run/secrets/kubernetes.io/serviceaccount';
const rw = env.RW_DEPLOYMENT || 'registry';
const ro = env.RO_DEPLOYMENT || 'registry-readonly';
const rwReplicas = Number(env.RW_REPLICAS || '1');
const rwPods = env.RW_POD_SELECTOR || 'app.kubernetes.io/name=registry,app.kubernetes.io/component=read-write';
const waitMs = Number(env.WAIT_SECONDS || '600') * 1000;
const pollMs = Number(env.POLL_MS || '2000');

const host = env.KUBERNETES_SERVICE_HOST ?? '';
const api = env.KUBERNETES_API_URL || `https://${host.includes(':') ? `[${host}]` : host}:${env.KUBERNETES_SERVICE_PORT || '443'}`;
const namespace = readFileSync(`${saDir}/namespace`, 'utf8').trim();
const say = (msg) => console.log(`registry-mode: ${msg}`);

async function call(method, path, body) {
  // The projected token is rotated on disk: read it for every call.
  const token = readFileSync(`${saDir}/token`, 'utf8').trim();
  const res = await fetch(api + path, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      accept: 'application/json',
      ...(body ? { 'content-type': 'application/merge-patch+json' } : {}),
    },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

const deployment = (name) => `/apis/apps/v1/namespaces/${namespace}/deployments/${name}`;

async function scale(name, replicas) {
  await call('PATCH', `${deployment(name)}/scale`, { spec: { replicas } });
  say(`scaled deployment/${name} to ${replicas}`);
}

async function until(what, check) {
  const deadline = Date.now() + waitMs;
  for (;;) {
    if (await check()) return say(what);
    if (Date.now() > deadline) throw new Error(`timed out after ${waitMs / 1000}s waiting until ${what}`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

async function ready(name, replicas) {
  const d = await call('GET', deployment(name));
  const s = d.status ?? {};
  return (s.observedGeneration ?? 0) >= (d.metadata?.generation ?? 0)
    && (s.readyReplicas ?? 0) >= replicas && (s.updatedReplicas ?? 0) >= replicas;
}

async function podsGone(selector) {
  const list = await call('GET', `/api/v1/namespaces/${namespace}/pods?labelSelector=${encodeURIComponent(selector)}`);
  return list.items.length === 0;
}

async function readWrite() {
  await scale(rw, rwReplicas);
  await until(`deployment/${rw} is ready (read-write)`, () => ready(rw, rwReplicas));
  await scale(ro, 0);
}

async function readOnly() {
  await scale(ro, 1);
  await until(`deployment/${ro} is ready (read-only)`, () => ready(ro, 1));
  await scale(rw, 0);
  // Terminating pods still serve their open connections: wait until none is left.
  await until(`no pod of deployment/${rw} is left`, () => podsGone(rwPods));
}

const [mode, statusFile] = process.argv.slice(2);
try {
  if (mode === 'read-only') {
    try {
      await readOnly();
    } catch (e) {
      say(`${e.message}; restoring the read-write registry`);
      await readWrite();
      throw e;
    }
  } else if (mode === 'read-write') {
    await readWrite();
    if (statusFile) {
      let status;
      try {
        status = readFileSync(statusFile, 'utf8').trim();
      } catch {
        status = 'missing';
      }
      if (status !== '0') throw new Error(`the garbage collector did not succeed (exit status ${status}); see its log (container collect-blobs)`);
      say('garbage collection succeeded');
    }
  } else {
    throw new Error('usage: registry-mode.mjs read-only | read-write [STATUS_FILE]');
  }
} catch (e) {
  console.error(`registry-mode: ${e.message}`);
  process.exitCode = 1;
}
