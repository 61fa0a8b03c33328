/**
 * A BuildKit session of our own to dockerd, serving a build context (a ContextTree) through filesync, so a build
 * started with `POST /build?version=2&session=<id>&remote=client-session` and an empty body reads its Dockerfile
 * and context from us, and under a stable shared key only the files that changed since the last build with that
 * key (docs/research/build-context.md, docs/research/session-spike).
 *
 * `POST /session` upgrades the Engine API connection to h2c; from then on dockerd is the HTTP/2 client and we
 * are the gRPC server: the health check (dockerd drops a session that fails it twice, 5 s apart) and
 * `moby.filesync.v1.FileSync/DiffCopy`, the sender side of fsutil's diff copy; `Auth/Credentials` (the build's
 * own registry credential, for cache imports from a registry with token auth) and `Secrets/GetSecret` when
 * given. Anything else is UNIMPLEMENTED, which BuildKit takes as "this session has none" (no ssh, no token
 * authority: it then asks Credentials).
 */
import { randomUUID } from 'node:crypto';
import type { RequestOptions } from 'node:http';
import http2 from 'node:http2';
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { TLSSocket } from 'node:tls';
import { MODE_DIR, MODE_SYMLINK, type ContextTree, type TreeEntry, type TreeFilter } from './tree.js';
import {
  decodeCredentialsRequest,
  decodePacket,
  decodeSecretRequest,
  encodeCredentialsResponse,
  encodePacket,
  encodeSecretResponse,
  GrpcDeframer,
  grpcFrame,
  HEALTH_SERVING,
  PacketType,
  type Packet,
} from './proto.js';

/** The Engine API version the session is opened with (as dockerd.ts's builds: 1.41 has /session and /build v2). */
const API = '/v1.41';
const HEALTH = '/grpc.health.v1.Health/Check';
const DIFF_COPY = '/moby.filesync.v1.FileSync/DiffCopy';
const CREDENTIALS = '/moby.filesync.v1.Auth/Credentials';
const GET_SECRET = '/moby.buildkit.secrets.v1.Secrets/GetSecret';
/** fsutil's sender chunk (send.go): the receiver takes any size, this keeps each write small. */
const CHUNK = 32 * 1024;
/** How long close() lets streams still open finish before it cuts the connection. */
const CLOSE_GRACE_MS = 1000;

/** gRPC status codes used here. */
const GRPC = { OK: 0, UNKNOWN: 2, INVALID_ARGUMENT: 3, NOT_FOUND: 5, UNIMPLEMENTED: 12, INTERNAL: 13 } as const;

/** What one DiffCopy call did: dockerd makes one per directory it reads (`dockerfile`, `context` twice). */
export interface DiffCopyStats {
  /** The call's dir-name: `dockerfile` or `context`. */
  dirName: string;
  /** The followpaths the receiver gave (what COPY/ADD name; the Dockerfile's names for `dockerfile`). */
  followPaths: string[];
  /** Entries listed (STAT packets, the closing empty one not counted). */
  entries: number;
  /** Paths of the files the receiver asked for, in the order asked. */
  requested: string[];
  /** File content sent, in bytes (DATA payloads). */
  bytesSent: number;
  /** The receiver's FIN was answered: the call completed. */
  finished: boolean;
  /** Why the call failed or was cut short, when it was. */
  problem?: string;
  /** The tree's own refusal (the user's error: a bad .dockerignore, a submodule the pusher may not read). */
  refusal?: string;
}

export interface Session {
  /** The session id to pass as `/build?session=`. */
  readonly id: string;
  /** One record per DiffCopy call, in the order dockerd made them; updated while they run. */
  readonly stats: DiffCopyStats[];
  /** Ends the session: open streams get a moment to finish, then the connection is closed. Idempotent. */
  close(): Promise<void>;
}

export interface SessionOptions {
  /** BuildKit keeps the context it received under (dir-name, shared key): the same key later sends only changes. */
  sharedKey: string;
  /** A name for the session in dockerd's logs. */
  name: string;
  /** The build context to serve; absent, DiffCopy is refused (the context then goes as /build's body). */
  tree?: ContextTree;
  /**
   * The credential for a registry host BuildKit pulls from (cache imports, base images), or null for none
   * (anonymous). Called per host; never logged.
   */
  credentials?: (host: string) => { username: string; secret: string } | null;
  /** Secret values by id, for `RUN --mount=type=secret`; an id not here is NOT_FOUND, which BuildKit reports. */
  secrets?: Record<string, string>;
  /** Failures worth a log line: a read that failed, a broken stream, the connection dropped by dockerd. */
  onProblem?: (msg: string) => void;
  /** Aborting closes the session at once (and fails openSession if it is still opening). */
  signal?: AbortSignal;
}

/** What the session needs of EngineConnection: the upgraded connection of one request. */
export interface SessionConnection {
  upgrade(o: RequestOptions): Promise<Socket>;
}

export async function openSession(conn: SessionConnection, opts: SessionOptions): Promise<Session> {
  opts.signal?.throwIfAborted();
  const id = randomUUID();
  const socket = await conn.upgrade({
    method: 'POST',
    path: `${API}/session`,
    signal: opts.signal,
    headers: {
      Upgrade: 'h2c',
      Connection: 'Upgrade',
      'Content-Length': '0',
      'X-Docker-Expose-Session-Uuid': id,
      'X-Docker-Expose-Session-Name': opts.name,
      'X-Docker-Expose-Session-Sharedkey': headerSafe(opts.sharedKey),
      // One header line per method (an array is sent so): BuildKit calls only what is listed here.
      'X-Docker-Expose-Session-Grpc-Method': [
        HEALTH,
        ...(opts.tree ? [DIFF_COPY] : []),
        ...(opts.credentials ? [CREDENTIALS] : []),
        ...(opts.secrets ? [GET_SECRET] : []),
      ],
    },
  });
  const problem = (msg: string) => opts.onProblem?.(msg);
  const stats: DiffCopyStats[] = [];
  // After the 101 dockerd dials us: we take the server side of HTTP/2 over the same connection. Over TLS it goes
  // through a plain Duplex, so that http2 reads and writes the TLS stream as any JS stream does instead of taking
  // over its native handle: handed a TLSSocket that has carried HTTP/1 (Node 20.20, TLS 1.3), about every other
  // session aborted the process ("Assertion failed: is_write_in_progress()" in Http2Session::OnStreamAfterWrite,
  // or "!current_write_" in TLSWrap::DoWrite: a write of the old owner completing under the new one).
  const h2 = http2.performServerHandshake(socket instanceof TLSSocket ? Duplex.from({ readable: socket, writable: socket }) : socket);
  let closing = false;
  const closed = new Promise<void>((resolve) => h2.once('close', resolve));
  h2.on('error', (e) => {
    if (!closing) problem(`session ${id}: ${e.message}`);
  });
  h2.on('close', () => {
    socket.destroy(); // a TLS stream may be only half closed after the session's end()
    if (!closing) problem(`session ${id}: dockerd closed the connection`);
  });
  // Node passes the header lines as received as a fourth argument (@types/node leaves it out): only they keep
  // a repeated metadata key's values apart.
  const onStream = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, _flags: number, rawHeaders?: string[]) => {
    stream.on('error', () => {
      /* reported where it matters: the DiffCopy call's stats, or not at all (health) */
    });
    const path = headers[':path'];
    if (path === HEALTH) {
      stream.resume(); // the request (an empty HealthCheckRequest) says nothing
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': String(GRPC.OK) }));
      stream.end(grpcFrame(HEALTH_SERVING));
    } else if (path === DIFF_COPY && opts.tree) {
      void diffCopy(stream, rawHeaders ?? [], opts.tree, stats, problem);
    } else if (path === CREDENTIALS && opts.credentials) {
      const answer = opts.credentials;
      unary(stream, (req) => ({ message: encodeCredentialsResponse(answer(decodeCredentialsRequest(req).host) ?? { username: '', secret: '' }) }));
    } else if (path === GET_SECRET && opts.secrets) {
      const secrets = opts.secrets;
      unary(stream, (req) => {
        const { id } = decodeSecretRequest(req);
        // Own keys only: an id such as `constructor` must not find the object's prototype.
        return Object.hasOwn(secrets, id)
          ? { message: encodeSecretResponse(Buffer.from(secrets[id]!, 'utf8')) }
          : { code: GRPC.NOT_FOUND, text: `secret ${id} is not set for this build` };
      });
    } else {
      stream.respond(
        {
          ':status': 200,
          'content-type': 'application/grpc',
          'grpc-status': String(GRPC.UNIMPLEMENTED),
          'grpc-message': grpcMessage(`${path} is not served by this session`),
        },
        { endStream: true },
      );
    }
  };
  h2.on('stream', onStream);

  const close = async (): Promise<void> => {
    if (!closing) {
      closing = true;
      opts.signal?.removeEventListener('abort', onAbort);
      if (!h2.closed && !h2.destroyed) h2.close(); // GOAWAY; waits for open streams
      const timer = setTimeout(() => h2.destroy(), CLOSE_GRACE_MS);
      await closed;
      clearTimeout(timer);
    }
    await closed;
    if (!socket.closed) {
      socket.destroy();
      await new Promise<void>((resolve) => socket.once('close', () => resolve()));
    }
  };
  const onAbort = () => {
    closing = true; // no grace: the caller gave up
    // Not in this tick: Node 20's http2 feeds the bytes that came with the 101 to the session on the next tick,
    // and a session destroyed before that crashes the process (`this[kHandle].receive` of undefined).
    setImmediate(() => {
      h2.destroy();
      socket.destroy();
      void close();
    });
  };
  // The same race, for a caller that aborts the moment this resolves: the session takes its first bytes first.
  await new Promise<void>((resolve) => setImmediate(resolve));
  if (opts.signal?.aborted) onAbort();
  else opts.signal?.addEventListener('abort', onAbort, { once: true });
  return { id, stats, close };
}

/**
 * A unary call: the one request message in, one answer (a message, or an error status) out. A request that is
 * not one whole message is INVALID_ARGUMENT.
 */
function unary(stream: http2.ServerHttp2Stream, answer: (req: Buffer) => { message: Buffer } | { code: number; text: string }): void {
  const deframer = new GrpcDeframer();
  const messages: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => {
    try {
      messages.push(...deframer.push(chunk));
    } catch {
      /* reported below: the call ends without one whole message */
    }
  });
  stream.on('end', () => {
    if (stream.destroyed || stream.closed) return;
    const result =
      messages.length === 1 && deframer.pending === 0 ? answer(messages[0]!) : { code: GRPC.INVALID_ARGUMENT, text: 'expected exactly one request message' };
    if ('code' in result) {
      stream.respond(
        { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': String(result.code), 'grpc-message': grpcMessage(result.text) },
        { endStream: true },
      );
      return;
    }
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': String(GRPC.OK) }));
    stream.end(grpcFrame(result.message));
  });
}

/** gRPC's percent-encoding of grpc-message: bytes outside printable ASCII, and `%`. */
function grpcMessage(msg: string): string {
  let out = '';
  for (const b of Buffer.from(msg, 'utf8'))
    out += b >= 0x20 && b <= 0x7e && b !== 0x25 ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  return out;
}

/**
 * The call's gRPC metadata. Keys arrive lowercase and a repeated value as several header lines, which only
 * rawHeaders keeps apart; values BuildKit had to escape come with `<key>-encoded: 1` (filesync.go
 * encodeOpts/decodeOpts: url.QueryEscape).
 */
function metadata(rawHeaders: string[]): (key: string) => string[] {
  const md = new Map<string, string[]>();
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const k = rawHeaders[i]!.toLowerCase();
    const list = md.get(k) ?? [];
    list.push(rawHeaders[i + 1]!);
    md.set(k, list);
  }
  const decode = (s: string): string => {
    try {
      return decodeURIComponent(s.replace(/\+/g, ' '));
    } catch {
      return s;
    }
  };
  return (key) => {
    const values = md.get(key) ?? [];
    const encoded = /^(1|t|true)$/i.test(md.get(`${key}-encoded`)?.[0] ?? '');
    return encoded ? values.map(decode) : values;
  };
}

const isRegular = (e: TreeEntry): boolean => (e.mode & (MODE_DIR | MODE_SYMLINK)) === 0;

/**
 * The sender side of fsutil's diff copy (send.go): every entry as a STAT, then an empty STAT; each REQ (the
 * STAT's position) answered with the file in DATA chunks and an empty DATA; the receiver's FIN with FIN; then
 * grpc-status 0 in the trailers. REQs may come while STATs are still going out; all writes are whole frames.
 */
async function diffCopy(
  stream: http2.ServerHttp2Stream,
  rawHeaders: string[],
  tree: ContextTree,
  all: DiffCopyStats[],
  problem: (msg: string) => void,
): Promise<void> {
  const md = metadata(rawHeaders);
  const dirName = md('dir-name')[0] ?? '';
  const filter: TreeFilter = { includePatterns: md('include-patterns'), excludePatterns: md('exclude-patterns'), followPaths: md('followpaths') };
  const st: DiffCopyStats = { dirName, followPaths: filter.followPaths, entries: 0, requested: [], bytesSent: 0, finished: false };
  all.push(st);

  let responded = false;
  let trailers: Record<string, string> = { 'grpc-status': String(GRPC.OK) };
  /** Ends the call with an error status (once), in the headers or, once data has gone out, in the trailers. */
  const fail = (code: number, msg: string) => {
    st.problem ??= msg;
    if (stream.destroyed || stream.closed || trailers['grpc-status'] !== String(GRPC.OK)) return;
    trailers = { 'grpc-status': String(code), 'grpc-message': grpcMessage(msg) };
    if (!responded) stream.respond({ ':status': 200, 'content-type': 'application/grpc', ...trailers }, { endStream: true });
    else if (!stream.writableEnded) stream.end();
  };
  stream.on('close', () => {
    if (!st.finished) st.problem ??= 'the receiver closed the stream before it finished';
  });

  // The daemon reads the Dockerfile (`dockerfile`) and the context (`context`) from the same tree: the frontend
  // takes the Dockerfile from the context folder here, the followpaths say which file.
  if (dirName !== 'context' && dirName !== 'dockerfile') {
    fail(GRPC.NOT_FOUND, `no access allowed to dir "${dirName}"`);
    return;
  }
  let entries: TreeEntry[];
  try {
    const listed = await tree.entries(filter);
    if (!listed.ok) {
      st.refusal = listed.problem;
      fail(GRPC.INVALID_ARGUMENT, listed.problem);
      return;
    }
    entries = listed.entries;
  } catch (e) {
    const msg = `listing the build context failed: ${(e as Error).message}`;
    problem(msg);
    fail(GRPC.INTERNAL, msg);
    return;
  }
  if (stream.destroyed || stream.closed) return;
  stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
  responded = true;
  stream.on('wantTrailers', () => stream.sendTrailers(trailers));

  const send = async (p: Packet): Promise<void> => {
    if (stream.destroyed || stream.writableEnded) throw new Error('the stream is closed');
    if (stream.write(grpcFrame(encodePacket(p)))) return;
    // HTTP/2 flow control: the receiver reads as it writes files to disk; a large file must wait for it.
    await new Promise<void>((resolve, reject) => {
      const done = () => {
        stream.off('close', gone);
        resolve();
      };
      const gone = () => {
        stream.off('drain', done);
        reject(new Error('the stream closed while sending'));
      };
      stream.once('drain', done);
      stream.once('close', gone);
    });
  };
  /** Answers in arrival order, one at a time, so a file's chunks never interleave with another's. */
  let work = Promise.resolve();
  const then = (step: () => Promise<void>) => {
    work = work.then(step).catch((e: Error) => {
      if (stream.destroyed || stream.closed) return; // the receiver went away: nothing to tell it
      problem(`DiffCopy ${dirName}: ${e.message}`);
      fail(GRPC.INTERNAL, e.message);
    });
  };

  const deframer = new GrpcDeframer();
  stream.on('data', (chunk: Buffer) => {
    let messages: Buffer[];
    try {
      messages = deframer.push(chunk);
    } catch (e) {
      fail(GRPC.INTERNAL, (e as Error).message);
      return;
    }
    for (const m of messages) {
      const p = decodePacket(m);
      if (p.type === PacketType.REQ) {
        const id = p.id ?? 0;
        const e = entries[id];
        then(async () => {
          if (!e || !isRegular(e)) throw new Error(`the receiver asked for entry ${id}, which is not a regular file`);
          st.requested.push(e.path);
          const pieces: AsyncIterable<Buffer> | Buffer[] = tree.open ? await tree.open(e.path) : [await tree.read(e.path)];
          for await (const content of pieces) {
            for (let o = 0; o < content.length; o += CHUNK) {
              const data = content.subarray(o, o + CHUNK);
              await send({ type: PacketType.DATA, id, data });
              st.bytesSent += data.length;
            }
          }
          await send({ type: PacketType.DATA, id }); // an empty DATA ends the file
        });
      } else if (p.type === PacketType.FIN) {
        then(async () => {
          await send({ type: PacketType.FIN });
          st.finished = true;
          stream.end(); // then wantTrailers: grpc-status 0
        });
      } else if (p.type === PacketType.ERR) {
        then(async () => fail(GRPC.UNKNOWN, `error from receiver: ${p.data?.toString('utf8') ?? ''}`));
      } else {
        then(async () => fail(GRPC.INTERNAL, `unexpected packet type ${p.type} from the receiver`));
      }
    }
  });

  try {
    for (const e of entries) {
      await send({ type: PacketType.STAT, stat: { path: e.path, mode: e.mode, size: e.size, modTime: e.mtimeNs, linkname: e.linkname } });
      st.entries++;
    }
    await send({ type: PacketType.STAT }); // no stat: the end of the list
  } catch (e) {
    if (!stream.destroyed && !stream.closed) fail(GRPC.INTERNAL, (e as Error).message);
  }
}

/**
 * A key as an HTTP header value: characters beyond printable ASCII (a folder named `项目`, a control character)
 * would make Node refuse the request; they are percent-encoded, the same key always the same way, and a key of
 * printable ASCII alone (every repo's) unchanged, so BuildKit's snapshots kept under it stay found.
 */
export function headerSafe(key: string): string {
  return key.replace(/[^\x20-\x7e]|%/gu, (c) => encodeURIComponent(c));
}
