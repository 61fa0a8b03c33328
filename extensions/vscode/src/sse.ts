/** One Server-Sent Event: `event` is "message" unless the server named it; `id` is the last id seen so far. */
export interface SseEvent {
  event: string;
  data: string;
  id?: string;
}

/**
 * An incremental parser of a text/event-stream, fed decoded text in whatever pieces the network delivers
 * (a chunk may end inside a line, or between the \r and \n of one line end). Follows the HTML standard's
 * rules: comments (`:`) are dropped, `data` lines join with \n, an event is dispatched at a blank line and
 * only if it had data, and the id carries over to later events.
 */
export class SseParser {
  private buf = '';
  private data: string[] = [];
  private event = '';
  private lastId: string | undefined;
  private started = false;

  feed(text: string): SseEvent[] {
    this.buf += text;
    if (!this.started && this.buf.length > 0) {
      this.started = true;
      if (this.buf.charCodeAt(0) === 0xfeff) this.buf = this.buf.slice(1);
    }
    const out: SseEvent[] = [];
    let start = 0;
    for (let i = 0; i < this.buf.length; i++) {
      const c = this.buf[i];
      if (c !== '\n' && c !== '\r') continue;
      // A \r as the last character may be the first half of \r\n: wait for the next chunk to say.
      if (c === '\r' && i === this.buf.length - 1) break;
      this.line(this.buf.slice(start, i), out);
      if (c === '\r' && this.buf[i + 1] === '\n') i++;
      start = i + 1;
    }
    this.buf = this.buf.slice(start);
    return out;
  }

  /** The stream ended: a \r held back as a possible half of \r\n was a line end after all. */
  end(): SseEvent[] {
    if (!this.buf.endsWith('\r')) return [];
    const out: SseEvent[] = [];
    this.line(this.buf.slice(0, -1), out);
    this.buf = '';
    return out;
  }

  private line(line: string, out: SseEvent[]): void {
    if (line === '') {
      if (this.data.length > 0) {
        const ev: SseEvent = { event: this.event || 'message', data: this.data.join('\n') };
        if (this.lastId !== undefined) ev.id = this.lastId;
        out.push(ev);
      }
      this.data = [];
      this.event = '';
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.event = value;
    else if (field === 'id' && !value.includes('\0')) this.lastId = value;
  }
}

/**
 * Reads a response body as an event stream, calling `onEvent` for each event until the body ends (or the
 * request's signal aborts it, which throws). `onEvent` returning true stops reading early.
 */
// biome-ignore lint/suspicious/noConfusingVoidType: a callback that returns nothing keeps reading; `undefined` would refuse such callbacks
export async function readSse(body: ReadableStream<Uint8Array>, onEvent: (e: SseEvent) => boolean | void): Promise<void> {
  const parser = new SseParser();
  const decoder = new TextDecoder();
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      // An event the stream ends in the middle of is dropped, as the standard says: it may be cut short.
      const events = done ? [...parser.feed(decoder.decode()), ...parser.end()] : parser.feed(decoder.decode(value, { stream: true }));
      for (const e of events) if (onEvent(e) === true) return;
      if (done) return;
    }
  } finally {
    // Stopping early must close the connection, or the server keeps streaming to no one.
    await reader.cancel().catch(() => undefined);
  }
}
