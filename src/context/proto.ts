/**
 * The bytes of a BuildKit filesync session (session.ts): gRPC message framing, fsutil's `types.Packet` and
 * `types.Stat` (fsutil 91a3fc46842c types/wire.proto, types/stat.proto), and the health check's answer.
 * Hand-written over src/util/protobuf.ts: a DiffCopy stream carries only these two messages.
 */
import { bytes, bytesField, fields, int64, num, text, varintField } from '../util/protobuf.js';

/** fsutil Packet.PacketType. */
export const PacketType = { STAT: 0, REQ: 1, DATA: 2, FIN: 3, ERR: 4 } as const;

/** fsutil Stat, without xattrs (a context from git has none, and the receiver asks for none). */
export interface Stat {
  path: string;
  /**
   * Go os.FileMode bits (MODE_DIR, MODE_SYMLINK in tree.ts, plus permissions), a uint32. `MODE_DIR | 0o755` is
   * a negative int32 in JavaScript: encodeStat takes either; decodeStat gives the unsigned value.
   */
  mode: number;
  uid?: number;
  gid?: number;
  size?: number;
  /** Nanoseconds since the epoch: int64, beyond a double's exact range. */
  modTime?: bigint;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
}

export interface Packet {
  type: number;
  /** Absent in the STAT packet that ends the list. */
  stat?: Stat;
  /** A REQ's and its DATA's file: the position of its STAT in the list. */
  id?: number;
  data?: Buffer;
}

/** Stat {1 path, 2 mode, 3 uid, 4 gid, 5 size, 6 modTime, 7 linkname, 8 devmajor, 9 devminor}. */
export function encodeStat(s: Stat): Buffer {
  return Buffer.concat([
    ...bytesField(1, s.path),
    ...varintField(2, s.mode >>> 0),
    ...varintField(3, s.uid),
    ...varintField(4, s.gid),
    ...varintField(5, s.size),
    ...varintField(6, s.modTime),
    ...bytesField(7, s.linkname),
    ...varintField(8, s.devmajor),
    ...varintField(9, s.devminor),
  ]);
}

export function decodeStat(buf: Buffer): Stat {
  const s: Stat = { path: '', mode: 0 };
  for (const [f, v] of fields(buf)) {
    if (f === 1) s.path = text(v);
    else if (f === 2) s.mode = num(v);
    else if (f === 3) s.uid = num(v);
    else if (f === 4) s.gid = num(v);
    else if (f === 5) s.size = Number(int64(v));
    else if (f === 6) s.modTime = int64(v);
    else if (f === 7) s.linkname = text(v);
    else if (f === 8) s.devmajor = Number(int64(v));
    else if (f === 9) s.devminor = Number(int64(v));
  }
  return s;
}

/**
 * Packet {1 type, 2 stat, 3 ID, 4 data}. Every field at its default leaves nothing: the STAT packet without a
 * stat, which ends the list, is a zero-length message, as Go's encoder makes it.
 */
export function encodePacket(p: Packet): Buffer {
  return Buffer.concat([...varintField(1, p.type), ...(p.stat ? bytesField(2, encodeStat(p.stat)) : []), ...varintField(3, p.id), ...bytesField(4, p.data)]);
}

export function decodePacket(buf: Buffer): Packet {
  const p: Packet = { type: 0 };
  for (const [f, v] of fields(buf)) {
    if (f === 1) p.type = num(v);
    else if (f === 2) p.stat = decodeStat(bytes(v));
    else if (f === 3) p.id = num(v);
    else if (f === 4) p.data = Buffer.from(bytes(v)); // a copy: the view would pin the whole received chunk
  }
  return p;
}

/** grpc.health.v1.HealthCheckResponse{status: SERVING}. */
export const HEALTH_SERVING = Buffer.from([0x08, 0x01]);

/** One gRPC message on an HTTP/2 stream: a flag byte (0: not compressed), the length (uint32 BE), the message. */
export function grpcFrame(msg: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(msg.length, 1);
  return Buffer.concat([head, msg]);
}

/** BuildKit's session limit on one message (session/grpc.go); a larger length means a broken stream. */
export const MAX_MESSAGE = 16 << 20;

/** gRPC messages out of a byte stream that splits and joins them at any point. */
export class GrpcDeframer {
  private buf: Buffer = Buffer.alloc(0);

  /** Takes the next bytes; returns the messages they complete. Throws on a compressed or oversized message. */
  push(chunk: Buffer): Buffer[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: Buffer[] = [];
    while (this.buf.length >= 5) {
      // We offer no grpc-accept-encoding, so a compressed message is a peer bug, not something to decode.
      if (this.buf[0] !== 0) throw new Error('gRPC: compressed message (none was offered)');
      const n = this.buf.readUInt32BE(1);
      if (n > MAX_MESSAGE) throw new Error(`gRPC: message of ${n} bytes exceeds ${MAX_MESSAGE}`);
      if (this.buf.length < 5 + n) break;
      out.push(this.buf.subarray(5, 5 + n));
      this.buf = this.buf.subarray(5 + n);
    }
    return out;
  }

  /** Bytes held for a message not complete yet (a stream that ends with some left was cut). */
  get pending(): number {
    return this.buf.length;
  }
}

/** moby.filesync.v1.CredentialsRequest {1 Host}: the registry host BuildKit wants credentials for. */
export function decodeCredentialsRequest(buf: Buffer): { host: string } {
  let host = '';
  for (const [f, v] of fields(buf)) if (f === 1) host = text(v);
  return { host };
}

/** moby.filesync.v1.CredentialsResponse {1 Username, 2 Secret}; both empty: anonymous. */
export const encodeCredentialsResponse = (c: { username: string; secret: string }): Buffer =>
  Buffer.concat([...bytesField(1, c.username), ...bytesField(2, c.secret)]);

/** moby.buildkit.secrets.v1.GetSecretRequest {1 ID, 2 annotations}: only the id matters here. */
export function decodeSecretRequest(buf: Buffer): { id: string } {
  let id = '';
  for (const [f, v] of fields(buf)) if (f === 1) id = text(v);
  return { id };
}

/** moby.buildkit.secrets.v1.GetSecretResponse {1 data}. */
export const encodeSecretResponse = (data: Buffer): Buffer => Buffer.concat(bytesField(1, data));
