import type { IncomingMessage, ServerResponse } from 'node:http';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';

/**
 * Refusing a push in git's own protocol rather than with an HTTP error: the pusher sees the reason as
 * `remote:` lines and each ref as `! [remote rejected] main -> main (<reason>)`, exactly as for a refusal by
 * a hook, and nothing of the push is stored (its pack is read and dropped, never written).
 */

/** A pkt-line: four hex digits of the whole length, then the payload. */
export function pkt(payload: string | Buffer): Buffer {
  const b = Buffer.from(payload);
  return Buffer.concat([Buffer.from((b.length + 4).toString(16).padStart(4, '0')), b]);
}
const FLUSH = Buffer.from('0000');

/** The commands of a receive-pack request: the refs it updates and the capabilities it asked for. */
export interface PushCommands {
  refs: string[];
  capabilities: string[];
}

/**
 * Reads the command list at the head of a receive-pack request body (`<old> <new> <ref>\0<caps>` pkt-lines up
 * to a flush) from the chunks it is given, as they pass by; ignores everything after (the pack).
 */
export class PushCommandReader {
  readonly commands: PushCommands = { refs: [], capabilities: [] };
  private buf = Buffer.alloc(0);
  private done = false;

  push(chunk: Buffer): void {
    if (this.done) return;
    this.buf = Buffer.concat([this.buf, chunk]);
    while (!this.done && this.buf.length >= 4) {
      const len = Number.parseInt(this.buf.subarray(0, 4).toString('latin1'), 16);
      if (!Number.isFinite(len) || len < 4) {
        this.done = true;
        break;
      } // the flush (0000), or not a pkt-line
      if (this.buf.length < len) break;
      const [command = '', caps] = this.buf.subarray(4, len).toString('utf8').replace(/\n$/, '').split('\0');
      this.buf = this.buf.subarray(len);
      const ref = command.split(' ')[2];
      if (ref) this.commands.refs.push(ref);
      if (caps !== undefined) this.commands.capabilities = caps.split(' ').filter(Boolean);
    }
    if (this.done || this.buf.length > 1 << 20) {
      this.done = true;
      this.buf = Buffer.alloc(0);
    }
  }
}

/**
 * Reads a receive-pack request's commands, then drains the rest (the pack) without keeping it. Resolves once
 * the whole body is read, so the answer comes when git expects it.
 */
export function readPushCommands(incoming: IncomingMessage, encoding: string | undefined, maxBytes: number): Promise<PushCommands> {
  const body: Readable = encoding === 'gzip' ? incoming.pipe(createGunzip()) : incoming;
  const reader = new PushCommandReader();
  let read = 0;
  return new Promise((resolve) => {
    body.on('data', (chunk: Buffer) => {
      reader.push(chunk);
      // Dropped as it comes, but not without end: past the push limit the answer goes now (and the connection with it).
      if ((read += chunk.length) > maxBytes) resolve(reader.commands);
    });
    const done = () => resolve(reader.commands);
    body.on('end', done);
    body.on('error', done);
    incoming.on('close', done);
  });
}

/**
 * Answers a receive-pack request with every ref refused for `reason` and `lines` shown as `remote:` lines
 * (through side band 2 when the client asked for a side band, which git always does).
 */
export function writePushRefusal(outgoing: ServerResponse, commands: PushCommands, reason: string, lines: string[]): void {
  const status = Buffer.concat([pkt('unpack ok\n'), ...commands.refs.map((r) => pkt(`ng ${r} ${reason}\n`)), FLUSH]);
  const sideBand = commands.capabilities.includes('side-band-64k') || commands.capabilities.includes('side-band');
  const band = (n: number, data: Buffer) => pkt(Buffer.concat([Buffer.from([n]), data]));
  // Side band 1 carries the report in pieces that fit a side-band (not -64k) packet.
  const pieces: Buffer[] = [];
  for (let i = 0; i < status.length; i += 995) pieces.push(band(1, status.subarray(i, i + 995)));
  const body = sideBand ? Buffer.concat([...lines.map((l) => band(2, Buffer.from(`${l}\n`))), ...pieces, FLUSH]) : status;
  outgoing.writeHead(200, {
    'content-type': 'application/x-git-receive-pack-result',
    'cache-control': 'no-cache, max-age=0, must-revalidate',
    'content-length': String(body.length),
  });
  outgoing.end(body);
}

/**
 * The answer to `info/refs?service=git-receive-pack` for a repo that cannot be made now: git prints
 * `fatal: remote error: <message>` and sends nothing.
 */
export function writeAdvertisedError(outgoing: ServerResponse, message: string): void {
  const body = Buffer.concat([pkt('# service=git-receive-pack\n'), FLUSH, pkt(`ERR ${message}\n`)]);
  outgoing.writeHead(200, {
    'content-type': 'application/x-git-receive-pack-advertisement',
    'cache-control': 'no-cache, max-age=0, must-revalidate',
    'content-length': String(body.length),
  });
  outgoing.end(body);
}
