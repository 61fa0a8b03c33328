/**
 * BuildKit's progress as dockerd's Engine API sends it: `{"id":"moby.buildkit.trace","aux":"<base64>"}`
 * lines whose payload is a protobuf `moby.buildkit.v1.StatusResponse` (buildkit api/services/control/
 * control.proto). Decoded here into the same shape buildx's `--progress=rawjson` prints, so one renderer
 * (progress.ts) serves both. Only the fields the log and the steps need are read; unknown ones are skipped.
 */
import type { SolveStatus } from './progress.js';
import { bytes, fields, num, text } from '../util/protobuf.js';

/** google.protobuf.Timestamp {1 seconds, 2 nanos} as an ISO string. */
function time(v: bigint | Buffer): string {
  let s = 0;
  let ns = 0;
  for (const [f, x] of fields(bytes(v))) {
    if (f === 1) s = num(x);
    else if (f === 2) ns = num(x);
  }
  return new Date(s * 1000 + Math.floor(ns / 1e6)).toISOString();
}

/** StatusResponse {1 vertexes, 2 statuses, 3 logs, 4 warnings}. */
export function decodeSolveStatus(buf: Buffer): SolveStatus {
  const out: Required<SolveStatus> = { vertexes: [], statuses: [], logs: [], warnings: [] };
  for (const [f, v] of fields(buf)) {
    const b = bytes(v);
    if (f === 1) {
      // Vertex {1 digest, 2 inputs, 3 name, 4 cached, 5 started, 6 completed, 7 error}
      const x: NonNullable<SolveStatus['vertexes']>[number] = { digest: '' };
      for (const [g, y] of fields(b)) {
        if (g === 1) x.digest = text(y);
        else if (g === 3) x.name = text(y);
        else if (g === 4) x.cached = num(y) !== 0;
        else if (g === 5) x.started = time(y);
        else if (g === 6) x.completed = time(y);
        else if (g === 7) x.error = text(y);
      }
      out.vertexes.push(x);
    } else if (f === 2) {
      // VertexStatus {1 ID, 2 vertex, 3 name, 4 current, 5 total, 6 timestamp, 7 started, 8 completed}
      const x: { id: string; vertex: string; completed?: string } = { id: '', vertex: '' };
      for (const [g, y] of fields(b)) {
        if (g === 1) x.id = text(y);
        else if (g === 2) x.vertex = text(y);
        else if (g === 8) x.completed = time(y);
      }
      out.statuses.push(x);
    } else if (f === 3) {
      // VertexLog {1 vertex, 2 timestamp, 3 stream, 4 msg}
      const x: { vertex: string; data: Buffer } = { vertex: '', data: Buffer.alloc(0) };
      for (const [g, y] of fields(b)) {
        if (g === 1) x.vertex = text(y);
        else if (g === 4) x.data = bytes(y);
      }
      out.logs.push(x);
    } else if (f === 4) {
      // VertexWarning {1 vertex, 2 level, 3 short, 4 detail, 5 url}
      for (const [g, y] of fields(b)) if (g === 3) out.warnings.push({ short: bytes(y) });
    }
  }
  return out;
}
