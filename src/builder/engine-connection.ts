/**
 * The connection to one dockerd's Engine API: its unix socket, or TCP (TLS with a client certificate for a
 * daemon on another machine), and what a failed connection means in words that name the fix.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { BuilderTls } from './tls.js';

/** Where a dockerd listens: its unix socket, or a TCP address (TLS when `tls` is given). */
export type EngineEndpoint = { socket: string } | { host: string; port: number; tls?: BuilderTls };

/** TLS alerts a daemon sends when it refuses the client's certificate (or gets none). */
const CLIENT_REFUSED = /^ERR_SSL_(SSLV3|TLSV1|TLSV13)_ALERT_/;
/** What Node says when the daemon's own certificate does not check out against the CA and address. */
const SERVER_UNTRUSTED = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
]);

/**
 * Requests to one daemon. Over TCP a keep-alive agent holds the CA, certificate and key (read once, at start),
 * so a build's several calls share one TLS handshake.
 */
export class EngineConnection {
  /** The daemon's address as `docker -H` takes it. */
  readonly address: string;
  readonly tls: boolean;
  private base: https.RequestOptions;
  private send: (o: https.RequestOptions, cb: (res: http.IncomingMessage) => void) => http.ClientRequest;

  constructor(ep: EngineEndpoint) {
    if ('socket' in ep) {
      this.address = `unix://${ep.socket}`;
      this.tls = false;
      this.base = { socketPath: ep.socket };
      this.send = http.request;
      return;
    }
    this.address = `tcp://${ep.host.includes(':') ? `[${ep.host}]` : ep.host}:${ep.port}`;
    this.tls = ep.tls !== undefined;
    const t = ep.tls;
    const agent = t
      ? new https.Agent({
          keepAlive: true,
          ca: readFileSync(t.ca),
          ...(t.cert && t.key ? { cert: readFileSync(t.cert), key: readFileSync(t.key) } : {}),
          ...(t.servername ? { servername: t.servername } : {}),
        })
      : new http.Agent({ keepAlive: true });
    this.base = { host: ep.host, port: ep.port, agent };
    this.send = t ? https.request : http.request;
  }

  request(o: http.RequestOptions, cb: (res: http.IncomingMessage) => void): http.ClientRequest {
    return this.send({ ...this.base, ...o }, cb);
  }

  /**
   * A request dockerd answers with 101 Switching Protocols (`POST /session`): resolves with the connection,
   * unix socket or TLS stream, which then belongs to the caller alone (Node takes it out of the keep-alive pool)
   * and speaks whatever was upgraded to. It comes paused, with any bytes that arrived in the same read as the
   * 101 (dockerd may send its HTTP/2 preface at once) put back, so the next reader misses nothing. Any other
   * answer rejects with dockerd's message; a connection failure with problem()'s words.
   */
  upgrade(o: http.RequestOptions): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const req = this.request(o, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          if (body.length < 8192) body += d;
        });
        res.on('end', () => {
          let message = body.trim();
          try {
            message = (JSON.parse(body) as { message?: string }).message ?? message;
          } catch {
            /* plain text */
          }
          reject(new Error(`dockerd answered ${res.statusCode} to ${o.method ?? 'GET'} ${o.path?.split('?')[0]} instead of upgrading: ${message}`));
        });
      });
      req.on('upgrade', (_res, socket: Socket, head: Buffer) => {
        // The session's gRPC calls are many small request/answer exchanges: with Nagle's algorithm each waited on a
        // delayed ACK over TCP, ~100 ms per DiffCopy call (three a build) to the TLS builder. A no-op on a unix socket.
        socket.setNoDelay(true);
        socket.pause();
        if (head.length) socket.unshift(head);
        resolve(socket);
      });
      req.on('error', (e: NodeJS.ErrnoException) => reject(e.name === 'AbortError' ? e : new Error(this.problem(e))));
      req.end();
    });
  }

  /** Why a request did not get an answer, in words that point at the fix. */
  problem(e: NodeJS.ErrnoException): string {
    const code = e.code ?? '';
    if (code === 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED') {
      return `dockerd at ${this.address} requires a client certificate (TLS alert "certificate required"): give cert= and key=, or tls=DIR`;
    }
    if (CLIENT_REFUSED.test(code)) {
      const alert = /alert ([^:]+)/.exec(e.message)?.[1] ?? code;
      return `dockerd at ${this.address} refused this client's TLS certificate (TLS alert "${alert}"): the client certificate must be signed by the CA the daemon trusts (its --tlscacert)`;
    }
    if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return `the TLS certificate of dockerd at ${this.address} does not name the host connected to (${e.message})`;
    if (SERVER_UNTRUSTED.has(code))
      return `the TLS certificate of dockerd at ${this.address} is not trusted (${code}: ${e.message}): ca= must be the CA that signed it`;
    if (this.tls && (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'EPROTO'))
      return `dockerd at ${this.address} does not answer TLS (${code}): is it started with --tlsverify?`;
    if (this.tls && code === 'ECONNRESET')
      return `dockerd at ${this.address} dropped the TLS connection (ECONNRESET): does it accept this client's certificate?`;
    return `cannot reach dockerd at ${this.address} (${code || e.message})${this.address.startsWith('unix:') ? ': is the Docker engine running?' : ''}`;
  }
}
