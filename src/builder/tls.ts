/**
 * TLS files of a networked builder, from the query of its CODEHUB_BUILDERS entry: `?tls=DIR` (DIR/ca.pem,
 * DIR/cert.pem, DIR/key.pem: the layout of DOCKER_CERT_PATH and of BuildKit's create-certs client folder) or
 * `?ca=PATH&cert=PATH&key=PATH`, plus `servername=NAME`. Checked when the server starts, so that a typo or a
 * missing file is reported there rather than at the first build. Only paths are kept: the files' contents
 * are read by whoever connects, and never printed.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';

export interface BuilderTls {
  /** The CA that signed the builder's certificate. */
  ca: string;
  /** The client certificate and its key, for a builder that verifies its clients (both or neither). */
  cert?: string;
  key?: string;
  /** The name the builder's certificate is checked against, when it is not the address's host. */
  servername?: string;
  /** The folder of `tls=DIR`, whose files are already named as DOCKER_CERT_PATH wants them. */
  dir?: string;
}

const PARAMS = ['tls', 'ca', 'cert', 'key', 'servername'] as const;

/**
 * Reads an entry's query (the text after `?`). Throws an Error saying what is wrong; the caller names the
 * entry. Paths must be absolute (buildx refuses relative ones, and the server's working folder is no
 * meaningful base) and name readable files.
 */
export function parseTlsQuery(query: string): BuilderTls {
  const got = new Map<string, string>();
  for (const part of query.split('&')) {
    const i = part.indexOf('=');
    const k = i < 0 ? part : part.slice(0, i);
    const v = i < 0 ? '' : part.slice(i + 1);
    if (!(PARAMS as readonly string[]).includes(k)) throw new Error(`has an unknown parameter ${JSON.stringify(k)} (known: ${PARAMS.join(', ')})`);
    if (got.has(k)) throw new Error(`gives ${k}= twice`);
    if (!v) throw new Error(`gives ${k}= no value`);
    got.set(k, v);
  }
  const servername = got.get('servername');
  let tls: BuilderTls;
  const dir = got.get('tls');
  if (dir !== undefined) {
    if (got.has('ca') || got.has('cert') || got.has('key')) throw new Error('gives both tls=DIR and ca=/cert=/key=: use one form');
    if (!isAbsolute(dir)) throw new Error(`tls=${dir}: the folder must be an absolute path`);
    tls = { ca: join(dir, 'ca.pem'), cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem'), dir };
  } else {
    const [ca, cert, key] = [got.get('ca'), got.get('cert'), got.get('key')];
    if (cert && !key) throw new Error("gives cert= without key= (the client certificate's private key)");
    if (key && !cert) throw new Error('gives key= without cert= (the client certificate)');
    if (!ca)
      throw new Error(
        cert
          ? "gives a client certificate but no ca= (the CA that signed the builder's certificate)"
          : 'gives servername= without certificates (tls=DIR, or ca= with cert= and key=)',
      );
    tls = { ca, ...(cert && key ? { cert, key } : {}) };
  }
  for (const [label, path] of [
    ['ca', tls.ca],
    ['cert', tls.cert],
    ['key', tls.key],
  ] as const)
    if (path !== undefined) checkFile(label, path);
  return servername ? { ...tls, servername } : tls;
}

function checkFile(label: string, path: string): void {
  if (!isAbsolute(path)) throw new Error(`${label} file ${path}: the path must be absolute`);
  try {
    if (!statSync(path).isFile()) throw new Error(`${label} file ${path} is not a file`);
    accessSync(path, constants.R_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new Error(`${label} file ${path} does not exist`);
    if (code) throw new Error(`${label} file ${path} cannot be read (${code})`);
    throw e;
  }
}
