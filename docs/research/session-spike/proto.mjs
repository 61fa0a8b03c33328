// Hand-rolled protobuf for fsutil types.Packet / types.Stat and gRPC message framing.
export const PKT = { STAT: 0, REQ: 1, DATA: 2, FIN: 3, ERR: 4 };

function varint(n) {
  let v = BigInt(n);
  if (v < 0n) v += 1n << 64n; // int64 negative: two's complement, 10 bytes
  const out = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v) b |= 0x80;
    out.push(b);
  } while (v);
  return Buffer.from(out);
}
const key = (field, wire) => varint((field << 3) | wire);
const vfield = (f, n) => (n ? [key(f, 0), varint(n)] : []);
const bfield = (f, b) => {
  if (b === undefined || b === null) return [];
  const buf = Buffer.isBuffer(b) ? b : Buffer.from(b, 'utf8');
  return buf.length ? [key(f, 2), varint(buf.length), buf] : [];
};

/** fsutil types.Stat {1 path, 2 mode, 3 uid, 4 gid, 5 size, 6 modTime, 7 linkname, 8 devmajor, 9 devminor, 10 xattrs} */
export function encodeStat(s) {
  const parts = [
    ...bfield(1, s.path), ...vfield(2, s.mode), ...vfield(3, s.uid), ...vfield(4, s.gid),
    ...vfield(5, s.size), ...vfield(6, s.modTime), ...bfield(7, s.linkname),
    ...vfield(8, s.devmajor), ...vfield(9, s.devminor),
  ];
  for (const [k, v] of Object.entries(s.xattrs ?? {})) {
    const entry = Buffer.concat([...bfield(1, k), key(2, 2), varint(v.length), v]);
    parts.push(key(10, 2), varint(entry.length), entry);
  }
  return Buffer.concat(parts);
}

/** fsutil types.Packet {1 type, 2 stat, 3 ID, 4 data}. A STAT packet with no stat encodes to zero bytes. */
export function encodePacket(p) {
  const parts = [...vfield(1, p.type)];
  if (p.stat) { const s = encodeStat(p.stat); parts.push(key(2, 2), varint(s.length), s); }
  parts.push(...vfield(3, p.id), ...bfield(4, p.data));
  return Buffer.concat(parts);
}

export function* fields(buf) {
  let i = 0;
  const rv = () => {
    let r = 0n, shift = 0n;
    for (;;) {
      const b = buf[i++];
      if (b === undefined) throw new Error('protobuf: truncated varint');
      r |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return r;
      shift += 7n;
    }
  };
  while (i < buf.length) {
    const k = Number(rv());
    const wire = k & 7;
    if (wire === 0) yield [k >>> 3, rv()];
    else if (wire === 2) { const n = Number(rv()); yield [k >>> 3, buf.subarray(i, i + n)]; i += n; }
    else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
    else throw new Error(`protobuf: wire type ${wire}`);
  }
}

export function decodePacket(buf) {
  const p = { type: 0, id: 0, data: null };
  for (const [f, v] of fields(buf)) {
    if (f === 1) p.type = Number(v);
    else if (f === 3) p.id = Number(v);
    else if (f === 4) p.data = Buffer.from(v);
  }
  return p;
}

export function grpcFrame(msg) {
  const h = Buffer.alloc(5);
  h.writeUInt32BE(msg.length, 1);
  return Buffer.concat([h, msg]);
}

export class GrpcDeframer {
  constructor(onMessage) { this.buf = Buffer.alloc(0); this.onMessage = onMessage; }
  push(d) {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    while (this.buf.length >= 5) {
      if (this.buf[0] !== 0) throw new Error('compressed gRPC message not supported');
      const n = this.buf.readUInt32BE(1);
      if (this.buf.length < 5 + n) break;
      const msg = this.buf.subarray(5, 5 + n);
      this.buf = this.buf.subarray(5 + n);
      this.onMessage(msg);
    }
  }
}

/** moby.buildkit.v1.StatusResponse, only vertex names/errors and logs. */
export function decodeSolveStatus(buf) {
  const out = { vertexes: [], logs: [] };
  for (const [f, v] of fields(buf)) {
    if (f === 1) {
      const x = {};
      for (const [g, y] of fields(v)) {
        if (g === 3) x.name = y.toString();
        else if (g === 4) x.cached = y !== 0n;
        else if (g === 6) x.completed = true;
        else if (g === 7) x.error = y.toString();
      }
      out.vertexes.push(x);
    } else if (f === 3) {
      const x = {};
      for (const [g, y] of fields(v)) if (g === 4) x.data = Buffer.from(y);
      out.logs.push(x);
    }
  }
  return out;
}
