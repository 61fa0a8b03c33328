/**
 * The filesync session's bytes (src/context/proto.ts): fsutil Packet/Stat round trips, the encodings Go's
 * encoder makes for the cases the receiver checks (the empty STAT, negative int64), and gRPC framing over a
 * byte stream cut at any point.
 */
import { describe, expect, it } from 'vitest';
import {
  decodePacket,
  decodeStat,
  encodePacket,
  encodeStat,
  GrpcDeframer,
  grpcFrame,
  HEALTH_SERVING,
  MAX_MESSAGE,
  PacketType,
  type Stat,
} from '../../src/context/proto.js';
import { headerSafe } from '../../src/context/session.js';
import { MODE_DIR, MODE_SYMLINK } from '../../src/context/tree.js';
import { varint } from '../../src/util/protobuf.js';

describe('fsutil Stat and Packet', () => {
  const file: Stat = { path: 'app/main.go', mode: 0o644, uid: 1000, gid: 1000, size: 5 * 1024 * 1024, modTime: 1_764_000_000_123_456_789n };

  it("round-trips a Stat, with an mtime past a double's exact range", () => {
    expect(decodeStat(encodeStat(file))).toEqual(file);
    const dir: Stat = { path: 'app', mode: (MODE_DIR | 0o755) >>> 0, modTime: 1n };
    expect(decodeStat(encodeStat(dir))).toEqual(dir);
    // `MODE_DIR | 0o755` is a negative int32 in JavaScript: it must encode as the same uint32
    expect(encodeStat({ ...dir, mode: MODE_DIR | 0o755 })).toEqual(encodeStat(dir));
    const link: Stat = { path: 'latest', mode: MODE_SYMLINK | 0o777, linkname: 'app/main.go', modTime: 42n, devmajor: 8, devminor: 1 };
    expect(decodeStat(encodeStat(link))).toEqual(link);
  });

  it("writes a directory's mode (bit 31) as a uint32 varint and a negative int64 as 10 bytes", () => {
    // field 2, varint 0x800001ed: 5 bytes, as Go writes a uint32 with the top bit set
    expect(encodeStat({ path: '', mode: MODE_DIR | 0o755 })).toEqual(Buffer.from([0x10, 0xed, 0x83, 0x80, 0x80, 0x08]));
    const before1970: Stat = { path: 'old', mode: 0o644, modTime: -1n };
    const enc = encodeStat(before1970);
    expect(enc.subarray(enc.length - 11)).toEqual(Buffer.concat([Buffer.from([0x30]), varint(-1n)]));
    expect(varint(-1n).length).toBe(10);
    expect(decodeStat(enc)).toEqual(before1970);
  });

  it('round-trips each packet type', () => {
    const packets = [
      { type: PacketType.STAT, stat: file },
      { type: PacketType.REQ, id: 7 },
      { type: PacketType.DATA, id: 7, data: Buffer.from('hello\n') },
      { type: PacketType.DATA, id: 7 },
      { type: PacketType.FIN },
      { type: PacketType.ERR, data: Buffer.from('no space left') },
    ];
    for (const p of packets) expect(decodePacket(encodePacket(p))).toEqual(p);
  });

  it('encodes the STAT packet that ends the list as a zero-length message', () => {
    expect(encodePacket({ type: PacketType.STAT })).toHaveLength(0);
    expect(grpcFrame(encodePacket({ type: PacketType.STAT }))).toEqual(Buffer.from([0, 0, 0, 0, 0]));
    expect(decodePacket(Buffer.alloc(0))).toEqual({ type: PacketType.STAT });
  });

  it('answers the health check with SERVING', () => {
    expect(HEALTH_SERVING).toEqual(Buffer.from([0x08, 0x01]));
  });
});

describe('gRPC framing', () => {
  const messages = [Buffer.from('a'), Buffer.alloc(0), Buffer.alloc(70_000, 7), encodePacket({ type: PacketType.REQ, id: 300 })];
  const stream = Buffer.concat(messages.map(grpcFrame));
  // Compared as hex: a deep equal of 70 KB buffers element by element takes seconds.
  const hex = (bs: Buffer[]) => bs.map((b) => b.toString('hex'));

  it('frames a message behind a flag byte and its big-endian length', () => {
    expect(grpcFrame(Buffer.from('hi'))).toEqual(Buffer.from([0, 0, 0, 0, 2, 0x68, 0x69]));
  });

  it('deframes a stream cut at every point, and byte by byte', () => {
    for (let cut = 0; cut <= stream.length; cut += cut < 20 ? 1 : 4999) {
      const d = new GrpcDeframer();
      const got = [...d.push(stream.subarray(0, cut)), ...d.push(stream.subarray(cut))];
      expect(hex(got)).toEqual(hex(messages));
      expect(d.pending).toBe(0);
    }
    const small = [Buffer.from('abc'), Buffer.alloc(0), Buffer.alloc(300, 1)];
    const bytes = Buffer.concat(small.map(grpcFrame));
    const d = new GrpcDeframer();
    const got: Buffer[] = [];
    for (let i = 0; i < bytes.length; i++) got.push(...d.push(bytes.subarray(i, i + 1)));
    expect(got).toEqual(small);
  });

  it('holds back an incomplete message and refuses compressed or oversized ones', () => {
    const d = new GrpcDeframer();
    expect(d.push(grpcFrame(Buffer.from('abc')).subarray(0, 6))).toEqual([]);
    expect(d.pending).toBe(6);
    expect(() => new GrpcDeframer().push(Buffer.from([1, 0, 0, 0, 0]))).toThrow(/compressed/);
    const big = Buffer.alloc(5);
    big.writeUInt32BE(MAX_MESSAGE + 1, 1);
    expect(() => new GrpcDeframer().push(big)).toThrow(/exceeds/);
  });
});

describe('the session shared key as a header value', () => {
  it('leaves printable ASCII keys as they are and encodes anything else, one way', () => {
    expect(headerSafe('local:alice/shop:.:Dockerfile#0')).toBe('local:alice/shop:.:Dockerfile#0');
    expect(headerSafe('local:upload:alice:项目:Dockerfile#0')).toBe('local:upload:alice:%E9%A1%B9%E7%9B%AE:Dockerfile#0');
    // Distinct keys stay distinct: a literal `%E9` is not the character it would encode.
    expect(headerSafe('a%E9')).not.toBe(headerSafe('aé'));
    expect(headerSafe('x\ny')).toBe('x%0Ay');
    expect(() => new Headers({ k: headerSafe('dossier été\u0007') })).not.toThrow();
  });
});
