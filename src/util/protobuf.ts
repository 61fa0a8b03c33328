/**
 * Just enough protobuf wire format for the few BuildKit messages this server reads and writes by hand
 * (SolveStatus from dockerd's build stream, fsutil's Packet and Stat on a session): a reader that yields
 * (field, value) pairs and writers for varint and length-delimited fields. Hand-written rather than a
 * protobuf library because each message needs a handful of fields and no schema files need to travel.
 */

/** A decoded field: varints as bigint (int64 and uint64 both fit), length-delimited ones as a view of the buffer. */
export type Field = [number, bigint | Buffer];

/** The fields of one message in wire order; fixed32/fixed64 are skipped (none of the messages read use them). */
export function* fields(buf: Buffer): Generator<Field> {
  let i = 0;
  const varint = (): bigint => {
    let r = 0n;
    let shift = 0n;
    for (;;) {
      if (i >= buf.length) throw new Error('protobuf: truncated varint');
      const b = buf[i++]!;
      r |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return r;
      shift += 7n;
    }
  };
  while (i < buf.length) {
    const key = Number(varint());
    const wire = key & 7;
    if (wire === 0) yield [key >>> 3, varint()];
    else if (wire === 2) {
      const n = Number(varint());
      if (i + n > buf.length) throw new Error('protobuf: truncated field');
      yield [key >>> 3, buf.subarray(i, i + n)];
      i += n;
    } else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
    else throw new Error(`protobuf: unsupported wire type ${wire}`);
  }
}

/** Field values as the messages use them; a field of the other wire type reads as empty. */
export const text = (v: bigint | Buffer): string => (Buffer.isBuffer(v) ? v.toString('utf8') : '');
export const bytes = (v: bigint | Buffer): Buffer => (Buffer.isBuffer(v) ? v : Buffer.alloc(0));
export const num = (v: bigint | Buffer): number => (typeof v === 'bigint' ? Number(v) : 0);
/** An int64 field: negative values travel as their 64-bit two's complement. */
export const int64 = (v: bigint | Buffer): bigint => (typeof v === 'bigint' ? BigInt.asIntN(64, v) : 0n);

/** A varint; a negative number is written as int64 does (10 bytes of two's complement). */
export function varint(n: number | bigint): Buffer {
  let v = BigInt.asUintN(64, BigInt(n));
  const out: number[] = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v) b |= 0x80;
    out.push(b);
  } while (v);
  return Buffer.from(out);
}

/** A varint field, or nothing for zero (proto3 leaves default values out). */
export const varintField = (field: number, n: number | bigint | undefined): Buffer[] => (n ? [varint((field << 3) | 0), varint(n)] : []);

/** A length-delimited field (string, bytes or an embedded message), or nothing when empty. */
export function bytesField(field: number, b: string | Buffer | undefined): Buffer[] {
  if (b === undefined) return [];
  const buf = typeof b === 'string' ? Buffer.from(b, 'utf8') : b;
  return buf.length ? [varint((field << 3) | 2), varint(buf.length), buf] : [];
}
